// Steel CUDA kernels: attention (FlashAttention-2 style, mma.sync bf16, head_dim <= 64), RMSNorm, RoPE, Soft-MoE,
// SwiGLU, embedding, chunked cross-entropy, reductions, AdamW. Included by steel_cuda.cu.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <cooperative_groups.h>

typedef __nv_bfloat16 bf16;

#define MAXS 16  // max Soft-MoE slots (numExperts * slotsPerExpert)

__device__ __forceinline__ float b2f(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 f2b(float x) { return __float2bfloat16(x); }
__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ float ld(const bf16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// block-wide sum (blockDim.x multiple of 32, <= 1024); result broadcast to all threads
__device__ float block_sum(float v, float* sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  float r = 0.f;
  for (int i = 0; i < nw; i++) r += sh[i];  // fixed order: deterministic
  return r;
}

// ============================================================================ attention
#define ALDS 72  // smem row stride (bf16) for 64-wide tiles: conflict-free 32-bit fragment loads

__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// A fragment (16x16, row-major source s[row][k])
__device__ __forceinline__ void ldA(uint32_t* a, const bf16* s, int row0, int k0, int g, int t) {
  a[0] = *reinterpret_cast<const uint32_t*>(s + (row0 + g) * ALDS + k0 + 2 * t);
  a[1] = *reinterpret_cast<const uint32_t*>(s + (row0 + g + 8) * ALDS + k0 + 2 * t);
  a[2] = *reinterpret_cast<const uint32_t*>(s + (row0 + g) * ALDS + k0 + 2 * t + 8);
  a[3] = *reinterpret_cast<const uint32_t*>(s + (row0 + g + 8) * ALDS + k0 + 2 * t + 8);
}
// B fragment (16x8) with B[k][n] = s[n][k]
__device__ __forceinline__ void ldB(uint32_t* b, const bf16* s, int n0, int k0, int g, int t) {
  b[0] = *reinterpret_cast<const uint32_t*>(s + (n0 + g) * ALDS + k0 + 2 * t);
  b[1] = *reinterpret_cast<const uint32_t*>(s + (n0 + g) * ALDS + k0 + 2 * t + 8);
}
// load 64 rows x 64 cols (nch valid 16-byte chunks per row, rest zero) from global rows [row0, row0+64) (< T valid)
__device__ __forceinline__ void ld_tile(bf16* s, const bf16* gp, long ldg, int row0, int T, int nch) {
  for (int i = threadIdx.x; i < 64 * 8; i += blockDim.x) {
    int r = i >> 3, c = i & 7, gr = row0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (gr < T && c < nch) v = *reinterpret_cast<const uint4*>(gp + (long)gr * ldg + c * 8);
    *reinterpret_cast<uint4*>(s + r * ALDS + c * 8) = v;
  }
}
// transposed: s[col][row]
__device__ __forceinline__ void ld_tile_T(bf16* s, const bf16* gp, long ldg, int row0, int T, int nch) {
  for (int i = threadIdx.x; i < 64 * 8; i += blockDim.x) {
    int r = i & 63, c = i >> 6, gr = row0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (gr < T && c < nch) v = *reinterpret_cast<const uint4*>(gp + (long)gr * ldg + c * 8);
    const bf16* e = reinterpret_cast<const bf16*>(&v);
#pragma unroll
    for (int j = 0; j < 8; j++) s[(c * 8 + j) * ALDS + r] = e[j];
  }
}

// qkv: [B, T, ldq] bf16 with q at column h*hd, k at koff + hk*hd, v at voff + hk*hd (RoPE already applied)
// out: [B, T, H*hd]; lse: [B*H, T] (log2 domain: p = exp2(s*sl2 - lse))
__global__ void __launch_bounds__(128) attn_fwd_k(const bf16* __restrict__ qkv, bf16* __restrict__ out,
                                                  float* __restrict__ lse, int T, int H, int Hk, int hd, int ldq,
                                                  int koff, int voff, float sl2) {
  __shared__ __align__(16) bf16 sQ[64 * ALDS];
  __shared__ __align__(16) bf16 sK[64 * ALDS];
  __shared__ __align__(16) bf16 sVt[64 * ALDS];
  const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int nch = hd >> 3;
  const bf16* Qg = qkv + (long)b * T * ldq + h * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  ld_tile(sQ, Qg, ldq, qt * 64, T, nch);
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  uint32_t qa[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) ldA(qa[ks], sQ, warp * 16, ks * 16, g, t);
  float o[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  const int qr0 = qt * 64 + warp * 16 + g, qr1 = qr0 + 8;
  for (int kt = 0; kt <= qt; kt++) {
    __syncthreads();
    ld_tile(sK, Kg, ldq, kt * 64, T, nch);
    ld_tile_T(sVt, Vg, ldq, kt * 64, T, nch);
    __syncthreads();
    float s[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        uint32_t bb[2];
        ldB(bb, sK, nt * 8, ks * 16, g, t);
        mma16816(s[nt], qa[ks], bb);
      }
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float v = s[nt][i] * sl2;
        if (kt == qt) {
          int key = kt * 64 + nt * 8 + 2 * t + (i & 1);
          if (key > (i < 2 ? qr0 : qr1)) v = -INFINITY;
        }
        s[nt][i] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float a0 = exp2f(m0 - mx0), a1 = exp2f(m1 - mx1);
    m0 = mx0;
    m1 = mx1;
    l0 *= a0;
    l1 *= a1;
#pragma unroll
    for (int i = 0; i < 8; i++) {
      o[i][0] *= a0; o[i][1] *= a0; o[i][2] *= a1; o[i][3] *= a1;
    }
    uint32_t pa[4][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      float p0 = exp2f(s[nt][0] - m0), p1 = exp2f(s[nt][1] - m0), p2 = exp2f(s[nt][2] - m1), p3 = exp2f(s[nt][3] - m1);
      l0 += p0 + p1;
      l1 += p2 + p3;
      if (nt & 1) { pa[nt >> 1][2] = pack2(p0, p1); pa[nt >> 1][3] = pack2(p2, p3); }
      else { pa[nt >> 1][0] = pack2(p0, p1); pa[nt >> 1][1] = pack2(p2, p3); }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int dt = 0; dt < 8; dt++) {
        uint32_t bb[2];
        ldB(bb, sVt, dt * 8, ks * 16, g, t);
        mma16816(o[dt], pa[ks], bb);
      }
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float i0 = 1.f / l0, i1 = 1.f / l1;
  const int ldo = H * hd;
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (qr0 < T) *reinterpret_cast<uint32_t*>(out + ((long)b * T + qr0) * ldo + h * hd + col) = pack2(o[dt][0] * i0, o[dt][1] * i0);
      if (qr1 < T) *reinterpret_cast<uint32_t*>(out + ((long)b * T + qr1) * ldo + h * hd + col) = pack2(o[dt][2] * i1, o[dt][3] * i1);
    }
  }
  if (t == 0) {
    if (qr0 < T) lse[(long)bh * T + qr0] = m0 + log2f(l0);
    if (qr1 < T) lse[(long)bh * T + qr1] = m1 + log2f(l1);
  }
}

// delta[bh, t] = sum_d dO * O
__global__ void attn_delta_k(const bf16* __restrict__ dO, const bf16* __restrict__ O, float* __restrict__ delta, int B,
                             int T, int H, int hd) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long)B * T * H) return;
  int h = i % H;
  long bt = i / H;
  int b = bt / T, tt = bt % T;
  const bf16* a = dO + bt * H * hd + h * hd;
  const bf16* c = O + bt * H * hd + h * hd;
  float s = 0.f;
  for (int j = 0; j < hd; j++) s += b2f(a[j]) * b2f(c[j]);
  delta[((long)b * H + h) * T + tt] = s;
}

// dQ for one q tile of one head; dO: [B,T,H*hd]; writes dq into dqkv (q columns)
__global__ void __launch_bounds__(128) attn_bwd_dq_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO,
                                                     const float* __restrict__ lse, const float* __restrict__ delta,
                                                     bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                                                     int koff, int voff, float sl2, float scale) {
  __shared__ __align__(16) bf16 sA[64 * ALDS];   // Q, then K
  __shared__ __align__(16) bf16 sB[64 * ALDS];   // dO, then V
  __shared__ __align__(16) bf16 sKt[64 * ALDS];
  const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int nch = hd >> 3, ldo = H * hd;
  const bf16* Qg = qkv + (long)b * T * ldq + h * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  const bf16* dOg = dO + (long)b * T * ldo + h * hd;
  ld_tile(sA, Qg, ldq, qt * 64, T, nch);
  ld_tile(sB, dOg, ldo, qt * 64, T, nch);
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  uint32_t qa[4][4], da[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) { ldA(qa[ks], sA, warp * 16, ks * 16, g, t); ldA(da[ks], sB, warp * 16, ks * 16, g, t); }
  const int qr0 = qt * 64 + warp * 16 + g, qr1 = qr0 + 8;
  const float L0 = qr0 < T ? lse[(long)bh * T + qr0] : INFINITY, L1 = qr1 < T ? lse[(long)bh * T + qr1] : INFINITY;
  const float D0 = qr0 < T ? delta[(long)bh * T + qr0] : 0.f, D1 = qr1 < T ? delta[(long)bh * T + qr1] : 0.f;
  float dq[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
  for (int kt = 0; kt <= qt; kt++) {
    __syncthreads();
    ld_tile(sA, Kg, ldq, kt * 64, T, nch);
    ld_tile_T(sKt, Kg, ldq, kt * 64, T, nch);
    ld_tile(sB, Vg, ldq, kt * 64, T, nch);
    __syncthreads();
    float s[8][4], dp[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) { s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f; dp[i][0] = dp[i][1] = dp[i][2] = dp[i][3] = 0.f; }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        uint32_t bb[2];
        ldB(bb, sA, nt * 8, ks * 16, g, t);
        mma16816(s[nt], qa[ks], bb);
        ldB(bb, sB, nt * 8, ks * 16, g, t);
        mma16816(dp[nt], da[ks], bb);
      }
    uint32_t dsa[4][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      float ds[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float p = exp2f(s[nt][i] * sl2 - (i < 2 ? L0 : L1));
        if (kt == qt) {
          int key = kt * 64 + nt * 8 + 2 * t + (i & 1);
          if (key > (i < 2 ? qr0 : qr1)) p = 0.f;
        }
        ds[i] = p * (dp[nt][i] - (i < 2 ? D0 : D1));
      }
      if (nt & 1) { dsa[nt >> 1][2] = pack2(ds[0], ds[1]); dsa[nt >> 1][3] = pack2(ds[2], ds[3]); }
      else { dsa[nt >> 1][0] = pack2(ds[0], ds[1]); dsa[nt >> 1][1] = pack2(ds[2], ds[3]); }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int dt = 0; dt < 8; dt++) {
        uint32_t bb[2];
        ldB(bb, sKt, dt * 8, ks * 16, g, t);
        mma16816(dq[dt], dsa[ks], bb);
      }
  }
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (qr0 < T) *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + qr0) * ldq + h * hd + col) = pack2(dq[dt][0] * scale, dq[dt][1] * scale);
      if (qr1 < T) *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + qr1) * ldq + h * hd + col) = pack2(dq[dt][2] * scale, dq[dt][3] * scale);
    }
  }
}

// dK, dV for one key tile of one kv head (sums over the q heads of its group)
__global__ void __launch_bounds__(128) attn_bwd_dkdv_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO,
                                                       const float* __restrict__ lse, const float* __restrict__ delta,
                                                       bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                                                       int koff, int voff, float sl2, float scale) {
  __shared__ __align__(16) bf16 sQ[64 * ALDS];   // K first
  __shared__ __align__(16) bf16 sdO[64 * ALDS];  // V first
  __shared__ __align__(16) bf16 sQt[64 * ALDS];
  __shared__ __align__(16) bf16 sdOt[64 * ALDS];
  __shared__ float sL[64], sD[64];
  const int nKT = gridDim.x, kt = blockIdx.x, bk = blockIdx.y, b = bk / Hk, hk = bk % Hk, G = H / Hk;
  const int nch = hd >> 3, ldo = H * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  ld_tile(sQ, Kg, ldq, kt * 64, T, nch);
  ld_tile(sdO, Vg, ldq, kt * 64, T, nch);
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  uint32_t ka[4][4], va[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) { ldA(ka[ks], sQ, warp * 16, ks * 16, g, t); ldA(va[ks], sdO, warp * 16, ks * 16, g, t); }
  const int kr0 = kt * 64 + warp * 16 + g, kr1 = kr0 + 8;
  float dk[8][4], dv[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) { dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f; dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f; }
  for (int j = 0; j < G; j++) {
    const int h = hk * G + j;
    const long bh = (long)b * H + h;
    const bf16* Qg = qkv + (long)b * T * ldq + h * hd;
    const bf16* dOg = dO + (long)b * T * ldo + h * hd;
    for (int qt = kt; qt < nKT; qt++) {
      __syncthreads();
      ld_tile(sQ, Qg, ldq, qt * 64, T, nch);
      ld_tile_T(sQt, Qg, ldq, qt * 64, T, nch);
      ld_tile(sdO, dOg, ldo, qt * 64, T, nch);
      ld_tile_T(sdOt, dOg, ldo, qt * 64, T, nch);
      for (int i = threadIdx.x; i < 64; i += blockDim.x) {
        int q = qt * 64 + i;
        sL[i] = q < T ? lse[bh * T + q] : INFINITY;
        sD[i] = q < T ? delta[bh * T + q] : 0.f;
      }
      __syncthreads();
      float st[8][4], dpt[8][4];
#pragma unroll
      for (int i = 0; i < 8; i++) { st[i][0] = st[i][1] = st[i][2] = st[i][3] = 0.f; dpt[i][0] = dpt[i][1] = dpt[i][2] = dpt[i][3] = 0.f; }
#pragma unroll
      for (int ks = 0; ks < 4; ks++)
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
          uint32_t bb[2];
          ldB(bb, sQ, nt * 8, ks * 16, g, t);
          mma16816(st[nt], ka[ks], bb);
          ldB(bb, sdO, nt * 8, ks * 16, g, t);
          mma16816(dpt[nt], va[ks], bb);
        }
      uint32_t pta[4][4], dsa[4][4];
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        float p[4], ds[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
          int ql = nt * 8 + 2 * t + (i & 1);
          float pv = exp2f(st[nt][i] * sl2 - sL[ql]);
          if (qt == kt && qt * 64 + ql < (i < 2 ? kr0 : kr1)) pv = 0.f;
          p[i] = pv;
          ds[i] = pv * (dpt[nt][i] - sD[ql]);
        }
        if (nt & 1) {
          pta[nt >> 1][2] = pack2(p[0], p[1]); pta[nt >> 1][3] = pack2(p[2], p[3]);
          dsa[nt >> 1][2] = pack2(ds[0], ds[1]); dsa[nt >> 1][3] = pack2(ds[2], ds[3]);
        } else {
          pta[nt >> 1][0] = pack2(p[0], p[1]); pta[nt >> 1][1] = pack2(p[2], p[3]);
          dsa[nt >> 1][0] = pack2(ds[0], ds[1]); dsa[nt >> 1][1] = pack2(ds[2], ds[3]);
        }
      }
#pragma unroll
      for (int ks = 0; ks < 4; ks++)
#pragma unroll
        for (int dt = 0; dt < 8; dt++) {
          uint32_t bb[2];
          ldB(bb, sdOt, dt * 8, ks * 16, g, t);
          mma16816(dv[dt], pta[ks], bb);
          ldB(bb, sQt, dt * 8, ks * 16, g, t);
          mma16816(dk[dt], dsa[ks], bb);
        }
    }
  }
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (kr0 < T) {
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr0) * ldq + koff + hk * hd + col) = pack2(dk[dt][0] * scale, dk[dt][1] * scale);
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr0) * ldq + voff + hk * hd + col) = pack2(dv[dt][0], dv[dt][1]);
      }
      if (kr1 < T) {
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr1) * ldq + koff + hk * hd + col) = pack2(dk[dt][2] * scale, dk[dt][3] * scale);
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr1) * ldq + voff + hk * hd + col) = pack2(dv[dt][2], dv[dt][3]);
      }
    }
  }
}

// ============================================================================ RoPE (in place on q and k columns)
// heads 0..H-1 are q (column h*hd), H..H+Hk-1 are k (koff + (h-H)*hd); cos/sin [T, hd/2]
__global__ void rope_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn, int N, int T,
                       int H, int Hk, int hd, int ldq, int koff, int inverse) {
  const int half = hd >> 1;
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  long total = (long)N * (H + Hk) * half;
  if (i >= total) return;
  int p = i % half;
  long r = i / half;
  int hh = r % (H + Hk);
  long row = r / (H + Hk);
  int tt = row % T;
  bf16* base = x + row * ldq + (hh < H ? hh * hd : koff + (hh - H) * hd);
  float x1 = b2f(base[p]), x2 = b2f(base[p + half]);
  float c = cs[tt * half + p], s = sn[tt * half + p];
  if (inverse) s = -s;
  base[p] = f2b(x1 * c - x2 * s);
  base[p + half] = f2b(x2 * c + x1 * s);
}

// ============================================================================ RMSNorm
// xout = xin + delta (when delta); y = bf16(w * x * rstd); one block per row
__global__ void rmsnorm_fwd_k(const float* __restrict__ xin, const bf16* __restrict__ delta, float* __restrict__ xout,
                              const float* __restrict__ w, bf16* __restrict__ y, float* __restrict__ rstd, int d, float eps) {
  __shared__ float sh[32];
  long row = blockIdx.x;
  const float* xi = xin + row * d;
  float ss = 0.f;
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    float v = xi[j];
    if (delta) { v += b2f(delta[row * d + j]); xout[row * d + j] = v; }
    ss += v * v;
  }
  ss = block_sum(ss, sh);
  float r = rsqrtf(ss / d + eps);
  const float* xs = delta ? xout + row * d : xi;
  for (int j = threadIdx.x; j < d; j += blockDim.x) y[row * d + j] = f2b(w[j] * (xs[j] * r));
  if (threadIdx.x == 0) rstd[row] = r;
}

#define RMS_KMAX 32  // d <= 32 * 256
// dres (=|+=) dx; dw partials per block [gridDim.x, d]
__global__ void __launch_bounds__(256) rmsnorm_bwd_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                     const float* __restrict__ w, const float* __restrict__ rstd,
                                                     float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                     int N, int d, int rowsPer, bf16* __restrict__ dresb) {
  __shared__ float sh[32];
  float acc[RMS_KMAX];
#pragma unroll
  for (int k = 0; k < RMS_KMAX; k++) acc[k] = 0.f;
  int r0 = blockIdx.x * rowsPer, r1 = min(N, r0 + rowsPer);
  for (int row = r0; row < r1; row++) {
    const float* dyr = dy + (long)row * d;
    const float* xr = x + (long)row * d;
    float r = rstd[row];
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < RMS_KMAX; k++) {
      int j = threadIdx.x + k * 256;
      if (j < d) {
        float gy = dyr[j];
        dot += gy * w[j] * xr[j];
        acc[k] += gy * xr[j] * r;
      }
    }
    dot = block_sum(dot, sh);
    float c = r * r * r * dot / d;
#pragma unroll
    for (int k = 0; k < RMS_KMAX; k++) {
      int j = threadIdx.x + k * 256;
      if (j < d) {
        float v = r * dyr[j] * w[j] - xr[j] * c;
        long o = (long)row * d + j;
        v = accumulate ? dres[o] + v : v;
        dres[o] = v;
        if (dresb) dresb[o] = f2b(v);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < RMS_KMAX; k++) {
    int j = threadIdx.x + k * 256;
    if (j < d) dwpart[(long)blockIdx.x * d + j] = acc[k];
  }
}

// out[j] += sum_p part[p*n + j] (fixed order)
__global__ void colreduce_k(const float* __restrict__ part, int np, int n, float* __restrict__ out) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  float s = 0.f;
  for (int p = 0; p < np; p++) s += part[(long)p * n + j];
  out[j] += s;
}
// part[blk, j] = sum over rows of block of in[row*ld + j] (bf16)
__global__ void colsum_bf16_k(const bf16* __restrict__ in, int N, int n, int ld, int rowsPer, float* __restrict__ part) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  int r0 = blockIdx.y * rowsPer, r1 = min(N, r0 + rowsPer);
  float s = 0.f;
  for (int r = r0; r < r1; r++) s += b2f(in[(long)r * ld + j]);
  part[(long)blockIdx.y * n + j] = s;
}

// ============================================================================ elementwise
__global__ void cast_f2b_k(const float* __restrict__ a, bf16* __restrict__ b, long n) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) b[i] = f2b(a[i]);
}
__global__ void cast_b2f_k(const bf16* __restrict__ a, float* __restrict__ b, long n) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) b[i] = b2f(a[i]);
}
// h[r, i] = silu(gu[r, i]) * gu[r, W + i]; rows R, width W; output bf16 or float
template <typename TO>
__global__ void swiglu_fwd_k(const bf16* __restrict__ gu, TO* __restrict__ h, long R, int W) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * W) return;
  long r = i / W;
  int c = i % W;
  float a = b2f(gu[r * 2 * W + c]), u = b2f(gu[r * 2 * W + W + c]);
  float v = silu(a) * u;
  if constexpr (sizeof(TO) == 4) h[i] = v; else h[i] = f2b(v);
}
// dgu from dh (fp32 [R, W]) and saved gu
__global__ void swiglu_bwd_k(const bf16* __restrict__ gu, const float* __restrict__ dh, bf16* __restrict__ dgu, long R, int W) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * W) return;
  long r = i / W;
  int c = i % W;
  float a = b2f(gu[r * 2 * W + c]), u = b2f(gu[r * 2 * W + W + c]);
  float sg = 1.f / (1.f + __expf(-a));
  float g = dh[i];
  dgu[r * 2 * W + c] = f2b(g * u * sg * (1.f + a * (1.f - sg)));
  dgu[r * 2 * W + W + c] = f2b(g * a * sg);
}

// ============================================================================ embedding
__global__ void embed_fwd_k(const int* __restrict__ tok, const float* __restrict__ E, float* __restrict__ x, long N, int d) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * d) return;
  long r = i / d;
  int j = i % d;
  x[i] = E[(long)tok[r] * d + j];
}
// one block per unique token; positions sorted: pos[off[u] .. off[u+1])
__global__ void embed_bwd_k(const int* __restrict__ ids, const int* __restrict__ off, const int* __restrict__ pos,
                            const float* __restrict__ dx, float* __restrict__ dE, int d) {
  int u = blockIdx.x;
  int id = ids[u], a = off[u], b = off[u + 1];
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    float s = 0.f;
    for (int k = a; k < b; k++) s += dx[(long)pos[k] * d + j];
    dE[(long)id * d + j] += s;
  }
}

// ============================================================================ cross-entropy over one chunk of rows
// logits bf16 [rows, V] (overwritten by dlogits when backward); loss per row (0 for ignored)
__global__ void __launch_bounds__(1024) ce_k(bf16* __restrict__ logits, const int* __restrict__ tgt,
                                             float* __restrict__ lossrow, int V, int ignore, float gscale, int backward) {
  __shared__ float shm[32], shs[32];
  long row = blockIdx.x;
  bf16* lr = logits + row * V;
  float m = -INFINITY, s = 0.f;
  const bool vec = (V % 8) == 0;
  if (vec) {
    for (int c = threadIdx.x; c < V / 8; c += blockDim.x) {
      uint4 u = reinterpret_cast<const uint4*>(lr)[c];
      const bf16* e = reinterpret_cast<const bf16*>(&u);
      float mx = m;
#pragma unroll
      for (int k = 0; k < 8; k++) mx = fmaxf(mx, b2f(e[k]));
      s *= __expf(m - mx);
#pragma unroll
      for (int k = 0; k < 8; k++) s += __expf(b2f(e[k]) - mx);
      m = mx;
    }
  } else {
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
      float v = b2f(lr[j]);
      float mx = fmaxf(m, v);
      s = s * __expf(m - mx) + __expf(v - mx);
      m = mx;
    }
  }
  // combine (m, s) over the block
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    float mx = fmaxf(m, m2);
    s = (m == -INFINITY ? 0.f : s * __expf(m - mx)) + (m2 == -INFINITY ? 0.f : s2 * __expf(m2 - mx));
    m = mx;
  }
  if (lane == 0) { shm[w] = m; shs[w] = s; }
  __syncthreads();
  float M = -INFINITY;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) M = fmaxf(M, shm[i]);
  float S = 0.f;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) S += shm[i] == -INFINITY ? 0.f : shs[i] * __expf(shm[i] - M);
  const float lse = M + __logf(S);
  const int tg = tgt[row];
  const bool ign = tg == ignore;
  __syncthreads();
  if (threadIdx.x == 0) lossrow[row] = ign ? 0.f : lse - b2f(lr[tg]);
  __syncthreads();
  if (!backward) return;
  if (vec) {
    for (int c = threadIdx.x; c < V / 8; c += blockDim.x) {
      uint4 u = reinterpret_cast<const uint4*>(lr)[c];
      bf16* e = reinterpret_cast<bf16*>(&u);
#pragma unroll
      for (int k = 0; k < 8; k++) {
        int j = c * 8 + k;
        float gv = ign ? 0.f : (__expf(b2f(e[k]) - lse) - (j == tg ? 1.f : 0.f)) * gscale;
        e[k] = f2b(gv);
      }
      reinterpret_cast<uint4*>(lr)[c] = u;
    }
  } else {
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
      float v = b2f(lr[j]);
      lr[j] = f2b(ign ? 0.f : (__expf(v - lse) - (j == tg ? 1.f : 0.f)) * gscale);
    }
  }
}
// Cross-entropy v2 (sm_90, V % 8 == 0): a row split over a cluster of CL CTAs (512 threads each); each CTA keeps its
// part (ceil(V/8/CL) 16-byte chunks: 74 KB for the Qwen vocabulary at CL = 4, so 2-3 CTAs per SM) in shared memory,
// so the logits are read from global memory once and dlogits written once (v1 read each row twice: 3 passes). The
// (max, sum) partials of the CL CTAs are combined through distributed shared memory in rank order, the same in every
// CTA of the cluster (deterministic). Per element the same expressions as v1.
template <int CL>
__global__ void __launch_bounds__(512, 3) ce2_k(bf16* __restrict__ logits, const int* __restrict__ tgt,
                                               float* __restrict__ lossrow, int V, int ignore, float gscale, int backward) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  cg::cluster_group cl = cg::this_cluster();
  extern __shared__ uint4 sr[];
  __shared__ float shm[16], shs[16], red[2], lseS[1];
  const int rank = (int)cl.block_rank();
  const long row = blockIdx.x / CL;
  const int V8 = V >> 3, q8 = (V8 + CL - 1) / CL, c0 = min(V8, rank * q8), n8 = min(V8, c0 + q8) - c0;
  uint4* g = reinterpret_cast<uint4*>(logits + row * V) + c0;
  float m = -INFINITY, s = 0.f;
  for (int cb = threadIdx.x; cb < n8; cb += 4 * 512) {
    uint4 u[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (cb + k * 512 < n8) u[k] = g[cb + k * 512];
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (cb + k * 512 < n8) {
        sr[cb + k * 512] = u[k];
        const bf16* e = reinterpret_cast<const bf16*>(&u[k]);
        float mx = m;
#pragma unroll
        for (int t = 0; t < 8; t++) mx = fmaxf(mx, b2f(e[t]));
        s *= __expf(m - mx);
#pragma unroll
        for (int t = 0; t < 8; t++) s += __expf(b2f(e[t]) - mx);
        m = mx;
      }
  }
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    float mx = fmaxf(m, m2);
    s = (m == -INFINITY ? 0.f : s * __expf(m - mx)) + (m2 == -INFINITY ? 0.f : s2 * __expf(m2 - mx));
    m = mx;
  }
  if (lane == 0) { shm[w] = m; shs[w] = s; }
  __syncthreads();
  if (threadIdx.x == 0) {
    float M = -INFINITY;
    for (int i = 0; i < 16; i++) M = fmaxf(M, shm[i]);
    float S = 0.f;
    for (int i = 0; i < 16; i++) S += shm[i] == -INFINITY ? 0.f : shs[i] * __expf(shm[i] - M);
    red[0] = M;
    red[1] = S;
  }
  cl.sync();  // every CTA's partial is in its shared memory
  const int tg = tgt[row];
  const bool ign = tg == ignore;
  if (threadIdx.x == 0) {
    float pm[CL], ps[CL], M = -INFINITY, S = 0.f;
#pragma unroll
    for (int r = 0; r < CL; r++) {
      const float* rr = cl.map_shared_rank(red, r);
      pm[r] = rr[0];
      ps[r] = rr[1];
      M = fmaxf(M, pm[r]);
    }
#pragma unroll
    for (int r = 0; r < CL; r++) S += pm[r] == -INFINITY ? 0.f : ps[r] * __expf(pm[r] - M);
    const float lse = M + __logf(S);
    lseS[0] = lse;
    if (ign) { if (rank == 0) lossrow[row] = 0.f; }
    else if ((tg >> 3) >= c0 && (tg >> 3) < c0 + n8) lossrow[row] = lse - b2f(reinterpret_cast<const bf16*>(sr)[tg - 8 * c0]);
  }
  cl.sync();  // no CTA leaves while another reads its partial; lseS visible to the block
  if (!backward) return;
  const float lse = lseS[0];
  for (int c = threadIdx.x; c < n8; c += 512) {
    uint4 u = sr[c];
    bf16* e = reinterpret_cast<bf16*>(&u);
#pragma unroll
    for (int k = 0; k < 8; k++) {
      int j = (c0 + c) * 8 + k;
      float gv = ign ? 0.f : (__expf(b2f(e[k]) - lse) - (j == tg ? 1.f : 0.f)) * gscale;
      e[k] = f2b(gv);
    }
    g[c] = u;
  }
#endif
}
// sum of n values in fixed order (single block)
__global__ void sum_k(const float* __restrict__ a, long n, double* __restrict__ out) {
  __shared__ double sh[1024];
  double s = 0;
  for (long i = threadIdx.x; i < n; i += blockDim.x) s += a[i];
  sh[threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0;
    for (int i = 0; i < (int)blockDim.x; i++) t += sh[i];
    *out = t;
  }
}

// ============================================================================ Soft-MoE
// phi [d, S]; phihat = s * phi / max(||phi col||, 1e-12); block of 32*S threads
__global__ void moe_phi_k(const float* __restrict__ phi, const float* __restrict__ scale, float* __restrict__ phihat,
                          float* __restrict__ phinorm, int d, int S) {
  int s = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (s >= S) return;
  float ss = 0.f;
  for (int j = lane; j < d; j += 32) { float v = phi[(long)j * S + s]; ss += v * v; }
  ss = warp_sum(ss);
  float nr = fmaxf(sqrtf(ss), 1e-12f);
  for (int j = lane; j < d; j += 32) phihat[(long)j * S + s] = scale[0] * phi[(long)j * S + s] / nr;
  if (lane == 0) phinorm[s] = nr;
}
// warp per row: rinv = 1/max(||x||,1e-12); L = xhat . phihat; C = softmax over slots
__global__ void moe_logits_k(const bf16* __restrict__ x, const float* __restrict__ phihat, float* __restrict__ rinv,
                             float* __restrict__ Lg, float* __restrict__ C, long N, int d, int S) {
  long row = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= N) return;
  float acc[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) acc[s] = 0.f;
  float ss = 0.f;
  for (int j = lane; j < d; j += 32) {
    float v = b2f(x[row * d + j]);
    ss += v * v;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) acc[s] += v * phihat[(long)j * S + s];
  }
  ss = warp_sum(ss);
  float nr = fmaxf(sqrtf(ss), 1e-12f);
  float mx = -INFINITY;
#pragma unroll
  for (int s = 0; s < MAXS; s++) if (s < S) { acc[s] = warp_sum(acc[s]) / nr; mx = fmaxf(mx, acc[s]); }
  float sum = 0.f;
#pragma unroll
  for (int s = 0; s < MAXS; s++) if (s < S) sum += __expf(acc[s] - mx);
  if (lane == 0) {
    rinv[row] = 1.f / nr;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) { Lg[row * S + s] = acc[s]; C[row * S + s] = __expf(acc[s] - mx) / sum; }
  }
}
// block per (b, s): D[:, s] = softmax over the T tokens of sequence b
__global__ void moe_dispatch_k(const float* __restrict__ Lg, float* __restrict__ D, int T, int S) {
  __shared__ float sh[32];
  int b = blockIdx.x / S, s = blockIdx.x % S;
  const float* L = Lg + (long)b * T * S + s;
  float mx = -INFINITY;
  for (int t = threadIdx.x; t < T; t += blockDim.x) mx = fmaxf(mx, L[(long)t * S]);
  mx = warp_max(mx);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) mx = fmaxf(mx, sh[i]);
  float sm = 0.f;
  for (int t = threadIdx.x; t < T; t += blockDim.x) sm += __expf(L[(long)t * S] - mx);
  sm = block_sum(sm, sh);
  for (int t = threadIdx.x; t < T; t += blockDim.x) D[((long)b * T + t) * S + s] = __expf(L[(long)t * S] - mx) / sm;
}
// part[sp][b][s][j] = sum_{t in split} W[b,t,s] * rs[b,t] * X[b,t,j]
template <typename TI>
__global__ void moe_wreduce_k(const TI* __restrict__ X, const float* __restrict__ W, const float* __restrict__ rs,
                              float* __restrict__ part, int B, int T, int d, int S, int tPer) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y, sp = blockIdx.z;
  if (j >= d) return;
  float acc[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) acc[s] = 0.f;
  int t0 = sp * tPer, t1 = min(T, t0 + tPer);
  for (int t = t0; t < t1; t++) {
    long r = (long)b * T + t;
    float xv = ld(X + r * d + j);
    if (rs) xv *= rs[r];
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) acc[s] += W[r * S + s] * xv;
  }
#pragma unroll
  for (int s = 0; s < MAXS; s++) if (s < S) part[(((long)sp * B + b) * S + s) * d + j] = acc[s];
}
// slot rows in expert-major order: row(b, s=e*np+jj) = (e*B + b)*np + jj
__device__ __forceinline__ long slot_row(int b, int s, int B, int np) { return ((long)(s / np) * B + b) * np + (s % np); }
// mode 0: out[slot_row(b,s), j] (+ bf16 copy); mode 1: out[j*S + s] = sum over b too
__global__ void moe_wreduce_fin_k(const float* __restrict__ part, int nsp, int B, int S, int d, int np, int mode,
                                  float* __restrict__ out, bf16* __restrict__ outb) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (mode == 0) {
    if (i >= (long)B * S * d) return;
    int j = i % d;
    long bs = i / d;
    int s = bs % S, b = bs / S;
    float acc = 0.f;
    for (int p = 0; p < nsp; p++) acc += part[(((long)p * B + b) * S + s) * d + j];
    long o = slot_row(b, s, B, np) * d + j;
    out[o] = acc;
    if (outb) outb[o] = f2b(acc);
  } else {
    if (i >= (long)S * d) return;
    int s = i % S, j = i / S;
    float acc = 0.f;
    for (int b = 0; b < B; b++)
      for (int p = 0; p < nsp; p++) acc += part[(((long)p * B + b) * S + s) * d + j];
    out[(long)j * S + s] = acc;
  }
}
// xout = xmid + sum_s C[r,s] * Ys[slot_row(b,s)]
__global__ void moe_combine_k(const float* __restrict__ xmid, const float* __restrict__ C, const float* __restrict__ Ys,
                              float* __restrict__ xout, int B, int T, int d, int S, int np) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long)B * T * d) return;
  long r = i / d;
  int j = i % d, b = r / T;
  float acc = 0.f;
  for (int s = 0; s < S; s++) acc += C[r * S + s] * Ys[slot_row(b, s, B, np) * d + j];
  xout[i] = xmid[i] + acc;
}
// warp per row: dC = dY . Ys[s]; dD = rinv * x . dXs[s]; dLC = C (dC - sum C dC)
__global__ void moe_tok_bwd1_k(const bf16* __restrict__ x, const float* __restrict__ rinv, const float* __restrict__ dY,
                               const float* __restrict__ Ys, const float* __restrict__ dXs, const float* __restrict__ C,
                               float* __restrict__ dLC, float* __restrict__ dD, int B, int T, int d, int S, int np) {
  long row = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= (long)B * T) return;
  int b = row / T;
  float ac[MAXS], ad[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) ac[s] = ad[s] = 0.f;
  for (int j = lane; j < d; j += 32) {
    float gy = dY[row * d + j], xv = b2f(x[row * d + j]);
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) {
      long sr = slot_row(b, s, B, np) * d + j;
      ac[s] += gy * Ys[sr];
      ad[s] += xv * dXs[sr];
    }
  }
  float ri = rinv[row], dot = 0.f;
#pragma unroll
  for (int s = 0; s < MAXS; s++) if (s < S) { ac[s] = warp_sum(ac[s]); ad[s] = warp_sum(ad[s]) * ri; dot += C[row * S + s] * ac[s]; }
  if (lane == 0) {
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) { dLC[row * S + s] = C[row * S + s] * (ac[s] - dot); dD[row * S + s] = ad[s]; }
  }
}
// block per (b, s): dL = dLC + D (dD - sum_t D dD)
__global__ void moe_dispatch_bwd_k(const float* __restrict__ D, const float* __restrict__ dD, const float* __restrict__ dLC,
                                   float* __restrict__ dL, int T, int S) {
  __shared__ float sh[32];
  int b = blockIdx.x / S, s = blockIdx.x % S;
  float acc = 0.f;
  for (int t = threadIdx.x; t < T; t += blockDim.x) { long o = ((long)b * T + t) * S + s; acc += D[o] * dD[o]; }
  acc = block_sum(acc, sh);
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    long o = ((long)b * T + t) * S + s;
    dL[o] = dLC[o] + D[o] * (dD[o] - acc);
  }
}
// warp per row: dxhat = sum_s D dXs[s] + sum_s dL phihat[:, s]; dx = rinv (dxhat - xhat (xhat . dxhat))
__global__ void moe_tok_bwd2_k(const bf16* __restrict__ x, const float* __restrict__ rinv, const float* __restrict__ D,
                               const float* __restrict__ dL, const float* __restrict__ phihat, const float* __restrict__ dXs,
                               float* __restrict__ dx, int B, int T, int d, int S, int np) {
  long row = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= (long)B * T) return;
  int b = row / T;
  float ri = rinv[row];
  float Dr[MAXS], Lr[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) if (s < S) { Dr[s] = D[row * S + s]; Lr[s] = dL[row * S + s]; }
  float dot = 0.f;
  for (int j = lane; j < d; j += 32) {
    float g = 0.f;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) g += Dr[s] * dXs[slot_row(b, s, B, np) * d + j] + Lr[s] * phihat[(long)j * S + s];
    dot += g * b2f(x[row * d + j]) * ri;
  }
  dot = warp_sum(dot);
  for (int j = lane; j < d; j += 32) {
    float g = 0.f;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) g += Dr[s] * dXs[slot_row(b, s, B, np) * d + j] + Lr[s] * phihat[(long)j * S + s];
    dx[row * d + j] = ri * (g - b2f(x[row * d + j]) * ri * dot);
  }
}
// gradients of phi and scale from dphihat [d, S]; block 32*S threads
__global__ void moe_phi_bwd_k(const float* __restrict__ phi, const float* __restrict__ scale, const float* __restrict__ phinorm,
                              const float* __restrict__ dph, float* __restrict__ gphi, float* __restrict__ gscale, int d, int S) {
  __shared__ float sds[32];
  int s = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (s < S) {
    float nr = phinorm[s], sc = scale[0], ds = 0.f, dotu = 0.f;
    for (int j = lane; j < d; j += 32) {
      float u = phi[(long)j * S + s] / nr, g = dph[(long)j * S + s];
      ds += g * u;
      dotu += sc * g * u;
    }
    ds = warp_sum(ds);
    dotu = warp_sum(dotu);
    for (int j = lane; j < d; j += 32) {
      float u = phi[(long)j * S + s] / nr;
      gphi[(long)j * S + s] += (sc * dph[(long)j * S + s] - u * dotu) / nr;
    }
    if (lane == 0) sds[s] = ds;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int i = 0; i < S; i++) t += sds[i];
    gscale[0] += t;
  }
}

// ============================================================================ optimizer
__global__ void sumsq_k(const float* __restrict__ g, long n, double* __restrict__ part) {
  __shared__ double sh[256];
  double s = 0;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) { double v = g[i]; s += v * v; }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int o = 128; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}
// out[0] = norm, out[1] = clip coefficient
__global__ void norm_fin_k(const double* __restrict__ part, int np, float clip, float* __restrict__ out) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double s = 0;
  for (int i = 0; i < np; i++) s += part[i];
  float nrm = (float)sqrt(s);
  out[0] = nrm;
  float c = clip > 0 ? clip / (nrm + 1e-6f) : 1.f;
  out[1] = c < 1.f ? c : 1.f;
}
__global__ void adamw_k(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                        bf16* __restrict__ pb, long n, float lr, float b1, float b2, float eps, float wd, float stepSize,
                        float bc2s, const float* __restrict__ coef) {
  const float c = coef[1], decay = 1.f - lr * wd;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    float gi = g[i] * c;
    float pi = p[i] * decay;
    float mi = b1 * m[i] + (1.f - b1) * gi;
    float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    pi -= stepSize * mi / (sqrtf(vi) / bc2s + eps);
    p[i] = pi; m[i] = mi; v[i] = vi; pb[i] = f2b(pi);
  }
}
// deterministic normal init: counter-based hash + Box-Muller
__device__ __forceinline__ uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
__global__ void init_normal_k(float* __restrict__ p, long n, uint64_t seed, float std) {
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint64_t r = splitmix(seed ^ splitmix((uint64_t)i));
    float u1 = ((r >> 40) + 1) * (1.0f / 16777217.0f), u2 = ((r & 0xffffff)) * (1.0f / 16777216.0f);
    p[i] = std * sqrtf(-2.f * __logf(u1)) * __cosf(6.2831853f * u2);
  }
}
__global__ void fill_k(float* __restrict__ p, long n, float v) {
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) p[i] = v;
}

// ============================================================================ attention v2: ldmatrix + cp.async double buffering
// launchers specialise the kernels on the number of 8-wide head-dim tiles (hd = 56 -> 7: the padding tile is skipped)
#define NDT_SWITCH(hd, CALL)            \
  switch (((hd) + 7) / 8) {             \
    case 1: { constexpr int N_ = 1; CALL; break; } \
    case 2: { constexpr int N_ = 2; CALL; break; } \
    case 3: { constexpr int N_ = 3; CALL; break; } \
    case 4: { constexpr int N_ = 4; CALL; break; } \
    case 5: { constexpr int N_ = 5; CALL; break; } \
    case 6: { constexpr int N_ = 6; CALL; break; } \
    case 7: { constexpr int N_ = 7; CALL; break; } \
    default: { constexpr int N_ = 8; CALL; break; } \
  }

__device__ __forceinline__ void cp_async16(bf16* s, const bf16* g, bool valid) {
  uint32_t sa = (uint32_t)__cvta_generic_to_shared(s);
  int sz = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(g), "r"(sz));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
__device__ __forceinline__ void ld_tile_async(bf16* s, const bf16* gp, long ldg, int row0, int T, int nch) {
  for (int i = threadIdx.x; i < 512; i += blockDim.x) {
    int r = i >> 3, c = i & 7, gr = row0 + r;
    bool v = gr < T && c < nch;
    cp_async16(s + r * ALDS + c * 8, v ? gp + (long)gr * ldg + c * 8 : gp, v);
  }
}
__device__ __forceinline__ void ldsm4(uint32_t* r, const bf16* p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
__device__ __forceinline__ void ldsm4t(uint32_t* r, const bf16* p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
// A fragment 16x16 at (row0, k0) of row-major s
__device__ __forceinline__ void ldA2(uint32_t* a, const bf16* s, int row0, int k0, int lane) {
  ldsm4(a, s + (row0 + (lane & 15)) * ALDS + k0 + (lane >> 4) * 8);
}
// B fragments for n-tiles n0 and n0+8 (k0..k0+15) when B[k][n] = s[n][k]: b[0..1] tile n0, b[2..3] tile n0+8
__device__ __forceinline__ void ldBn(uint32_t* b, const bf16* s, int n0, int k0, int lane) {
  ldsm4(b, s + (n0 + (lane & 7) + (lane >> 4) * 8) * ALDS + k0 + ((lane >> 3) & 1) * 8);
}
// same when B[k][n] = s[k][n] (k-major storage), via ldmatrix.trans
__device__ __forceinline__ void ldBk(uint32_t* b, const bf16* s, int n0, int k0, int lane) {
  ldsm4t(b, s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ALDS + n0 + (lane >> 4) * 8);
}

template <int NDT>
__global__ void __launch_bounds__(128) attn_fwd2_k(const bf16* __restrict__ qkv, bf16* __restrict__ out,
                                                   float* __restrict__ lse, int T, int H, int Hk, int hd, int ldq,
                                                   int koff, int voff, float sl2) {
  __shared__ __align__(16) bf16 sQ[64 * ALDS];
  __shared__ __align__(16) bf16 sK[2][64 * ALDS];
  __shared__ __align__(16) bf16 sV[2][64 * ALDS];
  const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int nch = hd >> 3;
  const bf16* Qg = qkv + (long)b * T * ldq + h * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  ld_tile_async(sQ, Qg, ldq, qt * 64, T, nch);
  ld_tile_async(sK[0], Kg, ldq, 0, T, nch);
  ld_tile_async(sV[0], Vg, ldq, 0, T, nch);
  cp_commit();
  cp_wait<0>();
  __syncthreads();
  uint32_t qa[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) ldA2(qa[ks], sQ, warp * 16, ks * 16, lane);
  float o[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  const int qr0 = qt * 64 + warp * 16 + g, qr1 = qr0 + 8;
  for (int kt = 0; kt <= qt; kt++) {
    const int buf = kt & 1;
    if (kt < qt) {
      ld_tile_async(sK[buf ^ 1], Kg, ldq, (kt + 1) * 64, T, nch);
      ld_tile_async(sV[buf ^ 1], Vg, ldq, (kt + 1) * 64, T, nch);
    }
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    float s[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bb[4];
        ldBn(bb, sK[buf], np * 16, ks * 16, lane);
        mma16816(s[2 * np], qa[ks], bb);
        mma16816(s[2 * np + 1], qa[ks], bb + 2);
      }
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float v = s[nt][i] * sl2;
        if (kt == qt) {
          int key = kt * 64 + nt * 8 + 2 * t + (i & 1);
          if (key > (i < 2 ? qr0 : qr1)) v = -INFINITY;
        }
        s[nt][i] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float a0 = exp2f(m0 - mx0), a1 = exp2f(m1 - mx1);
    m0 = mx0;
    m1 = mx1;
    l0 *= a0;
    l1 *= a1;
#pragma unroll
    for (int i = 0; i < 8; i++) { o[i][0] *= a0; o[i][1] *= a0; o[i][2] *= a1; o[i][3] *= a1; }
    uint32_t pa[4][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      float p0 = exp2f(s[nt][0] - m0), p1 = exp2f(s[nt][1] - m0), p2 = exp2f(s[nt][2] - m1), p3 = exp2f(s[nt][3] - m1);
      l0 += p0 + p1;
      l1 += p2 + p3;
      if (nt & 1) { pa[nt >> 1][2] = pack2(p0, p1); pa[nt >> 1][3] = pack2(p2, p3); }
      else { pa[nt >> 1][0] = pack2(p0, p1); pa[nt >> 1][1] = pack2(p2, p3); }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int dp = 0; dp < 4; dp++) {
        uint32_t bb[4];
        if (2 * dp >= NDT) continue;
        ldBk(bb, sV[buf], dp * 16, ks * 16, lane);
        mma16816(o[2 * dp], pa[ks], bb);
        if (2 * dp + 1 < NDT) mma16816(o[2 * dp + 1], pa[ks], bb + 2);
      }
    __syncthreads();
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float i0 = 1.f / l0, i1 = 1.f / l1;
  const int ldo = H * hd;
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (qr0 < T) *reinterpret_cast<uint32_t*>(out + ((long)b * T + qr0) * ldo + h * hd + col) = pack2(o[dt][0] * i0, o[dt][1] * i0);
      if (qr1 < T) *reinterpret_cast<uint32_t*>(out + ((long)b * T + qr1) * ldo + h * hd + col) = pack2(o[dt][2] * i1, o[dt][3] * i1);
    }
  }
  if (t == 0) {
    if (qr0 < T) lse[(long)bh * T + qr0] = m0 + log2f(l0);
    if (qr1 < T) lse[(long)bh * T + qr1] = m1 + log2f(l1);
  }
}

template <int NDT>
__global__ void __launch_bounds__(128) attn_bwd_dq2_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO,
                                                      const float* __restrict__ lse, const float* __restrict__ delta,
                                                      bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                                                      int koff, int voff, float sl2, float scale) {
  __shared__ __align__(16) bf16 sK[2][64 * ALDS];
  __shared__ __align__(16) bf16 sV[2][64 * ALDS];
  const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int nch = hd >> 3, ldo = H * hd;
  const bf16* Qg = qkv + (long)b * T * ldq + h * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  const bf16* dOg = dO + (long)b * T * ldo + h * hd;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  ld_tile_async(sK[1], Qg, ldq, qt * 64, T, nch);
  ld_tile_async(sV[1], dOg, ldo, qt * 64, T, nch);
  ld_tile_async(sK[0], Kg, ldq, 0, T, nch);
  ld_tile_async(sV[0], Vg, ldq, 0, T, nch);
  cp_commit();
  cp_wait<0>();
  __syncthreads();
  uint32_t qa[4][4], da[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) { ldA2(qa[ks], sK[1], warp * 16, ks * 16, lane); ldA2(da[ks], sV[1], warp * 16, ks * 16, lane); }
  __syncthreads();
  const int qr0 = qt * 64 + warp * 16 + g, qr1 = qr0 + 8;
  const float L0 = qr0 < T ? lse[(long)bh * T + qr0] : INFINITY, L1 = qr1 < T ? lse[(long)bh * T + qr1] : INFINITY;
  const float D0 = qr0 < T ? delta[(long)bh * T + qr0] : 0.f, D1 = qr1 < T ? delta[(long)bh * T + qr1] : 0.f;
  float dq[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
  for (int kt = 0; kt <= qt; kt++) {
    const int buf = kt & 1;
    if (kt < qt) {
      ld_tile_async(sK[buf ^ 1], Kg, ldq, (kt + 1) * 64, T, nch);
      ld_tile_async(sV[buf ^ 1], Vg, ldq, (kt + 1) * 64, T, nch);
    }
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    float s[8][4], dp[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) { s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f; dp[i][0] = dp[i][1] = dp[i][2] = dp[i][3] = 0.f; }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bb[4];
        ldBn(bb, sK[buf], np * 16, ks * 16, lane);
        mma16816(s[2 * np], qa[ks], bb);
        mma16816(s[2 * np + 1], qa[ks], bb + 2);
        ldBn(bb, sV[buf], np * 16, ks * 16, lane);
        mma16816(dp[2 * np], da[ks], bb);
        mma16816(dp[2 * np + 1], da[ks], bb + 2);
      }
    uint32_t dsa[4][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      float ds[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float p = exp2f(s[nt][i] * sl2 - (i < 2 ? L0 : L1));
        if (kt == qt) {
          int key = kt * 64 + nt * 8 + 2 * t + (i & 1);
          if (key > (i < 2 ? qr0 : qr1)) p = 0.f;
        }
        ds[i] = p * (dp[nt][i] - (i < 2 ? D0 : D1));
      }
      if (nt & 1) { dsa[nt >> 1][2] = pack2(ds[0], ds[1]); dsa[nt >> 1][3] = pack2(ds[2], ds[3]); }
      else { dsa[nt >> 1][0] = pack2(ds[0], ds[1]); dsa[nt >> 1][1] = pack2(ds[2], ds[3]); }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int dp2 = 0; dp2 < 4; dp2++) {
        uint32_t bb[4];
        if (2 * dp2 >= NDT) continue;
        ldBk(bb, sK[buf], dp2 * 16, ks * 16, lane);
        mma16816(dq[2 * dp2], dsa[ks], bb);
        if (2 * dp2 + 1 < NDT) mma16816(dq[2 * dp2 + 1], dsa[ks], bb + 2);
      }
    __syncthreads();
  }
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (qr0 < T) *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + qr0) * ldq + h * hd + col) = pack2(dq[dt][0] * scale, dq[dt][1] * scale);
      if (qr1 < T) *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + qr1) * ldq + h * hd + col) = pack2(dq[dt][2] * scale, dq[dt][3] * scale);
    }
  }
}

template <int NDT>
__global__ void __launch_bounds__(128) attn_bwd_dkdv2_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO,
                                                        const float* __restrict__ lse, const float* __restrict__ delta,
                                                        bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                                                        int koff, int voff, float sl2, float scale) {
  __shared__ __align__(16) bf16 sQ[2][64 * ALDS];
  __shared__ __align__(16) bf16 sdO[2][64 * ALDS];
  __shared__ float sL[2][64], sD[2][64];
  const int nKT = gridDim.x, kt = blockIdx.x, bk = blockIdx.y, b = bk / Hk, hk = bk % Hk, G = H / Hk;
  const int nch = hd >> 3, ldo = H * hd;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  ld_tile_async(sQ[1], Kg, ldq, kt * 64, T, nch);
  ld_tile_async(sdO[1], Vg, ldq, kt * 64, T, nch);
  cp_commit();
  cp_wait<0>();
  __syncthreads();
  uint32_t ka[4][4], va[4][4];
#pragma unroll
  for (int ks = 0; ks < 4; ks++) { ldA2(ka[ks], sQ[1], warp * 16, ks * 16, lane); ldA2(va[ks], sdO[1], warp * 16, ks * 16, lane); }
  __syncthreads();
  const int kr0 = kt * 64 + warp * 16 + g, kr1 = kr0 + 8;
  float dk[8][4], dv[8][4];
#pragma unroll
  for (int i = 0; i < 8; i++) { dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f; dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f; }
  const int nq = nKT - kt, total = G * nq;
  // stage iteration `it` (head j = it / nq, q tile kt + it % nq) into buffer `bf`
  auto stage = [&](int it, int bf) {
    const int h = hk * G + it / nq, qt = kt + it % nq;
    const long bh = (long)b * H + h;
    ld_tile_async(sQ[bf], qkv + (long)b * T * ldq + h * hd, ldq, qt * 64, T, nch);
    ld_tile_async(sdO[bf], dO + (long)b * T * ldo + h * hd, ldo, qt * 64, T, nch);
    for (int i = threadIdx.x; i < 64; i += blockDim.x) {
      int q = qt * 64 + i;
      sL[bf][i] = q < T ? lse[bh * T + q] : INFINITY;
      sD[bf][i] = q < T ? delta[bh * T + q] : 0.f;
    }
  };
  stage(0, 0);
  cp_commit();
  for (int it = 0; it < total; it++) {
    const int buf = it & 1, qt = kt + it % nq;
    if (it + 1 < total) stage(it + 1, buf ^ 1);
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    float st[8][4], dpt[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) { st[i][0] = st[i][1] = st[i][2] = st[i][3] = 0.f; dpt[i][0] = dpt[i][1] = dpt[i][2] = dpt[i][3] = 0.f; }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t bb[4];
        ldBn(bb, sQ[buf], np * 16, ks * 16, lane);
        mma16816(st[2 * np], ka[ks], bb);
        mma16816(st[2 * np + 1], ka[ks], bb + 2);
        ldBn(bb, sdO[buf], np * 16, ks * 16, lane);
        mma16816(dpt[2 * np], va[ks], bb);
        mma16816(dpt[2 * np + 1], va[ks], bb + 2);
      }
    uint32_t pta[4][4], dsa[4][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      float p[4], ds[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        int ql = nt * 8 + 2 * t + (i & 1);
        float pv = exp2f(st[nt][i] * sl2 - sL[buf][ql]);
        if (qt == kt && qt * 64 + ql < (i < 2 ? kr0 : kr1)) pv = 0.f;
        p[i] = pv;
        ds[i] = pv * (dpt[nt][i] - sD[buf][ql]);
      }
      if (nt & 1) {
        pta[nt >> 1][2] = pack2(p[0], p[1]); pta[nt >> 1][3] = pack2(p[2], p[3]);
        dsa[nt >> 1][2] = pack2(ds[0], ds[1]); dsa[nt >> 1][3] = pack2(ds[2], ds[3]);
      } else {
        pta[nt >> 1][0] = pack2(p[0], p[1]); pta[nt >> 1][1] = pack2(p[2], p[3]);
        dsa[nt >> 1][0] = pack2(ds[0], ds[1]); dsa[nt >> 1][1] = pack2(ds[2], ds[3]);
      }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
      for (int dp2 = 0; dp2 < 4; dp2++) {
        uint32_t bb[4];
        if (2 * dp2 >= NDT) continue;
        ldBk(bb, sdO[buf], dp2 * 16, ks * 16, lane);
        mma16816(dv[2 * dp2], pta[ks], bb);
        if (2 * dp2 + 1 < NDT) mma16816(dv[2 * dp2 + 1], pta[ks], bb + 2);
        ldBk(bb, sQ[buf], dp2 * 16, ks * 16, lane);
        mma16816(dk[2 * dp2], dsa[ks], bb);
        if (2 * dp2 + 1 < NDT) mma16816(dk[2 * dp2 + 1], dsa[ks], bb + 2);
      }
    __syncthreads();
  }
#pragma unroll
  for (int dt = 0; dt < 8; dt++) {
    int col = dt * 8 + 2 * t;
    if (col < hd) {
      if (kr0 < T) {
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr0) * ldq + koff + hk * hd + col) = pack2(dk[dt][0] * scale, dk[dt][1] * scale);
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr0) * ldq + voff + hk * hd + col) = pack2(dv[dt][0], dv[dt][1]);
      }
      if (kr1 < T) {
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr1) * ldq + koff + hk * hd + col) = pack2(dk[dt][2] * scale, dk[dt][3] * scale);
        *reinterpret_cast<uint32_t*>(dqkv + ((long)b * T + kr1) * ldq + voff + hk * hd + col) = pack2(dv[dt][2], dv[dt][3]);
      }
    }
  }
}

// RMSNorm backward, warp per row with float4 accesses (d % 4 == 0, d <= 2048); dw partials per warp [gridDim.x*8, d]
__global__ void __launch_bounds__(256) rmsnorm_bwd2_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                      const float* __restrict__ w, const float* __restrict__ rstd,
                                                      float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                      int N, int d, int rowsPer, bf16* __restrict__ dresb) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  float4 acc[16];
#pragma unroll
  for (int k = 0; k < 16; k++) acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
  const float4* w4 = reinterpret_cast<const float4*>(w);
  const int r0 = blockIdx.x * rowsPer, r1 = min(N, r0 + rowsPer);
  for (int row = r0 + warp; row < r1; row += 8) {
    const float4* dy4 = reinterpret_cast<const float4*>(dy + (long)row * d);
    const float4* x4 = reinterpret_cast<const float4*>(x + (long)row * d);
    const float r = rstd[row];
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < 16; k++) {
      int j = lane + 32 * k;
      if (j < d4) {
        float4 a = dy4[j], xx = x4[j], ww = w4[j];
        dot += a.x * ww.x * xx.x + a.y * ww.y * xx.y + a.z * ww.z * xx.z + a.w * ww.w * xx.w;
        acc[k].x += a.x * xx.x * r; acc[k].y += a.y * xx.y * r; acc[k].z += a.z * xx.z * r; acc[k].w += a.w * xx.w * r;
      }
    }
    dot = warp_sum(dot);
    const float c = r * r * r * dot / d;
    float4* o4 = reinterpret_cast<float4*>(dres + (long)row * d);
#pragma unroll
    for (int k = 0; k < 16; k++) {
      int j = lane + 32 * k;
      if (j < d4) {
        float4 a = dy4[j], xx = x4[j], ww = w4[j];
        float4 v = make_float4(r * a.x * ww.x - xx.x * c, r * a.y * ww.y - xx.y * c, r * a.z * ww.z - xx.z * c, r * a.w * ww.w - xx.w * c);
        if (accumulate) { float4 p = o4[j]; v.x += p.x; v.y += p.y; v.z += p.z; v.w += p.w; }
        o4[j] = v;
        if (dresb) {
          __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
          reinterpret_cast<uint2*>(dresb + (long)row * d)[j] = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
        }
      }
    }
  }
  float4* p4 = reinterpret_cast<float4*>(dwpart + ((long)blockIdx.x * 8 + warp) * d);
#pragma unroll
  for (int k = 0; k < 16; k++) {
    int j = lane + 32 * k;
    if (j < d4) p4[j] = acc[k];
  }
}

// ============================================================================ Soft-MoE v2: per-sequence slot matrices cached in shared memory
// (dynamic smem of 2*S*d floats; blocks of 256 threads = 8 warps handle 64 rows of one sequence; d % 4 == 0)
__device__ __forceinline__ float4 ld_bf16x4(const bf16* p) {
  uint2 u = *reinterpret_cast<const uint2*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
  float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
// sm[0..S*d) = A rows of sequence b (slot-major), sm[S*d..2*S*d) = Bm rows (or Bt [S][d] when bIsT)
__device__ __forceinline__ void moe_stage(float* sm, const float* A, const float* Bm, bool bIsT, int b, int B, int d, int S, int np) {
  for (int s = 0; s < S; s++) {
    const float* ra = A + slot_row(b, s, B, np) * d;
    const float* rb = bIsT ? Bm + (long)s * d : Bm + slot_row(b, s, B, np) * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) { sm[s * d + j] = ra[j]; sm[S * d + s * d + j] = rb[j]; }
  }
  __syncthreads();
}
__global__ void __launch_bounds__(256) moe_tok_bwd1s_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                       const float* __restrict__ dY, const float* __restrict__ Ys,
                                                       const float* __restrict__ dXs, const float* __restrict__ C,
                                                       float* __restrict__ dLC, float* __restrict__ dD, int B, int T, int d,
                                                       int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage(sm, Ys, dXs, false, b, B, d, S, np);
  const float4* sY = reinterpret_cast<const float4*>(sm);
  const float4* sX = reinterpret_cast<const float4*>(sm + S * d);
  for (int t = blockIdx.x * 64 + warp; t < min(T, blockIdx.x * 64 + 64); t += 8) {
    const long row = (long)b * T + t;
    float ac[MAXS], ad[MAXS];
#pragma unroll
    for (int s = 0; s < MAXS; s++) ac[s] = ad[s] = 0.f;
    const float4* gy4 = reinterpret_cast<const float4*>(dY + row * d);
    for (int j = lane; j < d4; j += 32) {
      float4 gy = gy4[j], xv = ld_bf16x4(x + row * d + 4 * j);
#pragma unroll
      for (int s = 0; s < MAXS; s++)
        if (s < S) { ac[s] += dot4(gy, sY[s * d4 + j]); ad[s] += dot4(xv, sX[s * d4 + j]); }
    }
    float ri = rinv[row], dot = 0.f;
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) { ac[s] = warp_sum(ac[s]); ad[s] = warp_sum(ad[s]) * ri; dot += C[row * S + s] * ac[s]; }
    if (lane == 0) {
#pragma unroll
      for (int s = 0; s < MAXS; s++)
        if (s < S) { dLC[row * S + s] = C[row * S + s] * (ac[s] - dot); dD[row * S + s] = ad[s]; }
    }
  }
}
__global__ void __launch_bounds__(256) moe_tok_bwd2s_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                       const float* __restrict__ D, const float* __restrict__ dL,
                                                       const float* __restrict__ phihatT, const float* __restrict__ dXs,
                                                       float* __restrict__ dx, int B, int T, int d, int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage(sm, dXs, phihatT, true, b, B, d, S, np);
  const float4* sX = reinterpret_cast<const float4*>(sm);
  const float4* sP = reinterpret_cast<const float4*>(sm + S * d);
  for (int t = blockIdx.x * 64 + warp; t < min(T, blockIdx.x * 64 + 64); t += 8) {
    const long row = (long)b * T + t;
    const float ri = rinv[row];
    float Dr[MAXS], Lr[MAXS];
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) { Dr[s] = D[row * S + s]; Lr[s] = dL[row * S + s]; }
    float dot = 0.f;
    for (int j = lane; j < d4; j += 32) {
      float4 g = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int s = 0; s < MAXS; s++)
        if (s < S) {
          float4 a = sX[s * d4 + j], p = sP[s * d4 + j];
          g.x += Dr[s] * a.x + Lr[s] * p.x; g.y += Dr[s] * a.y + Lr[s] * p.y;
          g.z += Dr[s] * a.z + Lr[s] * p.z; g.w += Dr[s] * a.w + Lr[s] * p.w;
        }
      dot += dot4(g, ld_bf16x4(x + row * d + 4 * j)) * ri;
    }
    dot = warp_sum(dot);
    float4* o4 = reinterpret_cast<float4*>(dx + row * d);
    for (int j = lane; j < d4; j += 32) {
      float4 g = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int s = 0; s < MAXS; s++)
        if (s < S) {
          float4 a = sX[s * d4 + j], p = sP[s * d4 + j];
          g.x += Dr[s] * a.x + Lr[s] * p.x; g.y += Dr[s] * a.y + Lr[s] * p.y;
          g.z += Dr[s] * a.z + Lr[s] * p.z; g.w += Dr[s] * a.w + Lr[s] * p.w;
        }
      float4 xv = ld_bf16x4(x + row * d + 4 * j);
      const float c = ri * dot;
      o4[j] = make_float4(ri * (g.x - xv.x * c), ri * (g.y - xv.y * c), ri * (g.z - xv.z * c), ri * (g.w - xv.w * c));
    }
  }
}
// xout = xmid + sum_s C[r,s] Ys[slot(b,s)]  (smem: S*d floats)
__global__ void __launch_bounds__(256) moe_combine_s_k(const float* __restrict__ xmid, const float* __restrict__ C,
                                                       const float* __restrict__ Ys, float* __restrict__ xout, int B, int T,
                                                       int d, int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  for (int s = 0; s < S; s++) {
    const float* ra = Ys + slot_row(b, s, B, np) * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) sm[s * d + j] = ra[j];
  }
  __syncthreads();
  const float4* sY = reinterpret_cast<const float4*>(sm);
  for (int t = blockIdx.x * 64 + warp; t < min(T, blockIdx.x * 64 + 64); t += 8) {
    const long row = (long)b * T + t;
    float Cr[MAXS];
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) Cr[s] = C[row * S + s];
    const float4* xm = reinterpret_cast<const float4*>(xmid + row * d);
    float4* xo = reinterpret_cast<float4*>(xout + row * d);
    for (int j = lane; j < d4; j += 32) {
      float4 acc = xm[j];
#pragma unroll
      for (int s = 0; s < MAXS; s++)
        if (s < S) {
          float4 y = sY[s * d4 + j];
          acc.x += Cr[s] * y.x; acc.y += Cr[s] * y.y; acc.z += Cr[s] * y.z; acc.w += Cr[s] * y.w;
        }
      xo[j] = acc;
    }
  }
}
__global__ void transpose_dS_k(const float* __restrict__ a, float* __restrict__ at, int d, int S) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= d * S) return;
  int j = i / S, s = i % S;
  at[(long)s * d + j] = a[i];
}
// wreduce v2: 4 columns per thread, the split's weights staged in smem (d % 4 == 0, tPer*S <= 4096)
template <typename TI>
__global__ void __launch_bounds__(256) moe_wreduce2_k(const TI* __restrict__ X, const float* __restrict__ W,
                                                      const float* __restrict__ rs, float* __restrict__ part, int B, int T,
                                                      int d, int S, int tPer) {
  __shared__ float sw[4096];
  const int b = blockIdx.y, sp = blockIdx.z, j4 = blockIdx.x * blockDim.x + threadIdx.x;
  const int t0 = sp * tPer, t1 = min(T, t0 + tPer);
  for (int i = threadIdx.x; i < (t1 - t0) * S; i += blockDim.x) {
    int tt = i / S;
    long r = (long)b * T + t0 + tt;
    sw[i] = W[r * S + (i % S)] * (rs ? rs[r] : 1.f);
  }
  __syncthreads();
  if (4 * j4 >= d) return;
  float4 acc[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) acc[s] = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int t = t0; t < t1; t++) {
    long r = (long)b * T + t;
    float4 xv;
    if constexpr (sizeof(TI) == 2) xv = ld_bf16x4(reinterpret_cast<const bf16*>(X) + r * d + 4 * j4);
    else xv = reinterpret_cast<const float4*>(reinterpret_cast<const float*>(X) + r * d)[j4];
    const float* wr = sw + (t - t0) * S;
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) { float w = wr[s]; acc[s].x += w * xv.x; acc[s].y += w * xv.y; acc[s].z += w * xv.z; acc[s].w += w * xv.w; }
  }
#pragma unroll
  for (int s = 0; s < MAXS; s++)
    if (s < S) reinterpret_cast<float4*>(part + (((long)sp * B + b) * S + s) * d)[j4] = acc[s];
}
// RoPE v2: two adjacent pairs per thread (half = hd/2 even), bf16x2 accesses
__global__ void rope2_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn, int N, int T,
                        int H, int Hk, int hd, int ldq, int koff, int inverse) {
  const int half = hd >> 1, hp = half >> 1;
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  long total = (long)N * (H + Hk) * hp;
  if (i >= total) return;
  int p = (int)(i % hp) * 2;
  long r = i / hp;
  int hh = r % (H + Hk);
  long row = r / (H + Hk);
  int tt = row % T;
  bf16* base = x + row * ldq + (hh < H ? hh * hd : koff + (hh - H) * hd);
  float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(base + p));
  float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(base + p + half));
  float2 c = *reinterpret_cast<const float2*>(cs + tt * half + p), s = *reinterpret_cast<const float2*>(sn + tt * half + p);
  if (inverse) { s.x = -s.x; s.y = -s.y; }
  *reinterpret_cast<__nv_bfloat162*>(base + p) = __floats2bfloat162_rn(a.x * c.x - b.x * s.x, a.y * c.y - b.y * s.y);
  *reinterpret_cast<__nv_bfloat162*>(base + p + half) = __floats2bfloat162_rn(b.x * c.x + a.x * s.x, b.y * c.y + a.y * s.y);
}
// RMSNorm backward v3: the row kept in registers (KP float4 per lane: d <= 128*KP), one pass over global memory
template <int KP>
__global__ void __launch_bounds__(256) rmsnorm_bwd3_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                      const float* __restrict__ w, const float* __restrict__ rstd,
                                                      float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                      int N, int d, int rowsPer, bf16* __restrict__ dresb) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  float4 acc[KP], wv[KP];
  const float4* w4 = reinterpret_cast<const float4*>(w);
#pragma unroll
  for (int k = 0; k < KP; k++) {
    acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    int j = lane + 32 * k;
    wv[k] = j < d4 ? w4[j] : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  const int r0 = blockIdx.x * rowsPer, r1 = min(N, r0 + rowsPer);
  for (int row = r0 + warp; row < r1; row += 8) {
    const float4* dy4 = reinterpret_cast<const float4*>(dy + (long)row * d);
    const float4* x4 = reinterpret_cast<const float4*>(x + (long)row * d);
    float4* o4 = reinterpret_cast<float4*>(dres + (long)row * d);
    float4 ya[KP], xa[KP];
    const float r = rstd[row];
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < KP; k++) {
      int j = lane + 32 * k;
      if (j < d4) { ya[k] = dy4[j]; xa[k] = x4[j]; }
      else { ya[k] = make_float4(0.f, 0.f, 0.f, 0.f); xa[k] = ya[k]; }
      float4 a = ya[k], xx = xa[k], ww = wv[k];
      dot += a.x * ww.x * xx.x + a.y * ww.y * xx.y + a.z * ww.z * xx.z + a.w * ww.w * xx.w;
      acc[k].x += a.x * xx.x * r; acc[k].y += a.y * xx.y * r; acc[k].z += a.z * xx.z * r; acc[k].w += a.w * xx.w * r;
    }
    dot = warp_sum(dot);
    const float c = r * r * r * dot / d;
#pragma unroll
    for (int k = 0; k < KP; k++) {
      int j = lane + 32 * k;
      if (j < d4) {
        float4 a = ya[k], xx = xa[k], ww = wv[k];
        float4 v = make_float4(r * a.x * ww.x - xx.x * c, r * a.y * ww.y - xx.y * c, r * a.z * ww.z - xx.z * c, r * a.w * ww.w - xx.w * c);
        if (accumulate) { float4 p = o4[j]; v.x += p.x; v.y += p.y; v.z += p.z; v.w += p.w; }
        o4[j] = v;
        if (dresb) {
          __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
          reinterpret_cast<uint2*>(dresb + (long)row * d)[j] = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
        }
      }
    }
  }
  float4* p4 = reinterpret_cast<float4*>(dwpart + ((long)blockIdx.x * 8 + warp) * d);
#pragma unroll
  for (int k = 0; k < KP; k++) {
    int j = lane + 32 * k;
    if (j < d4) p4[j] = acc[k];
  }
}
// router v2: phihatT [S][d] in smem (S*d floats dynamic), warp per row, bf16x4 loads
__global__ void __launch_bounds__(256) moe_logits2_k(const bf16* __restrict__ x, const float* __restrict__ phihatT,
                                                     float* __restrict__ rinv, float* __restrict__ Lg, float* __restrict__ C,
                                                     long N, int d, int S) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  for (int i = threadIdx.x; i < S * d; i += blockDim.x) sm[i] = phihatT[i];
  __syncthreads();
  const float4* sP = reinterpret_cast<const float4*>(sm);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  for (long row = (long)blockIdx.x * 64 + warp; row < min(N, (long)blockIdx.x * 64 + 64); row += 8) {
    float acc[MAXS];
#pragma unroll
    for (int s = 0; s < MAXS; s++) acc[s] = 0.f;
    float ss = 0.f;
    for (int j = lane; j < d4; j += 32) {
      float4 v = ld_bf16x4(x + row * d + 4 * j);
      ss += dot4(v, v);
#pragma unroll
      for (int s = 0; s < MAXS; s++) if (s < S) acc[s] += dot4(v, sP[s * d4 + j]);
    }
    ss = warp_sum(ss);
    float nr = fmaxf(sqrtf(ss), 1e-12f);
    float mx = -INFINITY;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) { acc[s] = warp_sum(acc[s]) / nr; mx = fmaxf(mx, acc[s]); }
    float sum = 0.f;
#pragma unroll
    for (int s = 0; s < MAXS; s++) if (s < S) sum += __expf(acc[s] - mx);
    if (lane == 0) {
      rinv[row] = 1.f / nr;
#pragma unroll
      for (int s = 0; s < MAXS; s++) if (s < S) { Lg[row * S + s] = acc[s]; C[row * S + s] = __expf(acc[s] - mx) / sum; }
    }
  }
}

__global__ void sumsq4_k(const float4* __restrict__ g, long n4, double* __restrict__ part) {
  __shared__ double sh[256];
  double s = 0;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x) {
    float4 v = g[i];
    s += (double)(v.x * v.x + v.y * v.y) + (double)(v.z * v.z + v.w * v.w);
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int o = 128; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}
__global__ void adamw4_k(float4* __restrict__ p, const float4* __restrict__ g, float4* __restrict__ m, float4* __restrict__ v,
                         uint2* __restrict__ pb, long n4, float lr, float b1, float b2, float eps, float wd, float stepSize,
                         float bc2s, const float* __restrict__ coef) {
  const float c = coef[1], decay = 1.f - lr * wd;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x) {
    float4 gi = g[i], pi = p[i], mi = m[i], vi = v[i];
    float* gp = &gi.x; float* pp = &pi.x; float* mp = &mi.x; float* vp = &vi.x;
#pragma unroll
    for (int k = 0; k < 4; k++) {
      float gg = gp[k] * c;
      float pk = pp[k] * decay;
      mp[k] = b1 * mp[k] + (1.f - b1) * gg;
      vp[k] = b2 * vp[k] + (1.f - b2) * gg * gg;
      pp[k] = pk - stepSize * mp[k] / (sqrtf(vp[k]) / bc2s + eps);
    }
    p[i] = pi; m[i] = mi; v[i] = vi;
    if (!pb) continue;
    __nv_bfloat162 lo = __floats2bfloat162_rn(pi.x, pi.y), hi = __floats2bfloat162_rn(pi.z, pi.w);
    pb[i] = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
  }
}
// SwiGLU on column pairs (W even): h = silu(g) * u, bf16x2 accesses
__global__ void swiglu_fwd2_k(const bf16* __restrict__ gu, bf16* __restrict__ h, long R, int W) {
  const int W2 = W >> 1;
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * W2) return;
  long r = i / W2;
  int c = (int)(i - r * W2) * 2;
  float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + c));
  float2 u = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + W + c));
  *reinterpret_cast<__nv_bfloat162*>(h + r * W + c) = __floats2bfloat162_rn(silu(a.x) * u.x, silu(a.y) * u.y);
}
__global__ void swiglu_bwd2_k(const bf16* __restrict__ gu, const float* __restrict__ dh, bf16* __restrict__ dgu, long R, int W) {
  const int W2 = W >> 1;
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * W2) return;
  long r = i / W2;
  int c = (int)(i - r * W2) * 2;
  float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + c));
  float2 u = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + W + c));
  float2 g = *reinterpret_cast<const float2*>(dh + r * W + c);
  float s0 = 1.f / (1.f + __expf(-a.x)), s1 = 1.f / (1.f + __expf(-a.y));
  *reinterpret_cast<__nv_bfloat162*>(dgu + r * 2 * W + c) =
      __floats2bfloat162_rn(g.x * u.x * s0 * (1.f + a.x * (1.f - s0)), g.y * u.y * s1 * (1.f + a.y * (1.f - s1)));
  *reinterpret_cast<__nv_bfloat162*>(dgu + r * 2 * W + W + c) = __floats2bfloat162_rn(g.x * a.x * s0, g.y * a.y * s1);
}

// SwiGLU backward with a bf16 dh (dense kind)
__global__ void swiglu_bwd2b_k(const bf16* __restrict__ gu, const bf16* __restrict__ dh, bf16* __restrict__ dgu, long R, int W) {
  const int W2 = W >> 1;
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * W2) return;
  long r = i / W2;
  int c = (int)(i - r * W2) * 2;
  float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + c));
  float2 u = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(gu + r * 2 * W + W + c));
  float2 g = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(dh + r * W + c));
  float s0 = 1.f / (1.f + __expf(-a.x)), s1 = 1.f / (1.f + __expf(-a.y));
  *reinterpret_cast<__nv_bfloat162*>(dgu + r * 2 * W + c) =
      __floats2bfloat162_rn(g.x * u.x * s0 * (1.f + a.x * (1.f - s0)), g.y * u.y * s1 * (1.f + a.y * (1.f - s1)));
  *reinterpret_cast<__nv_bfloat162*>(dgu + r * 2 * W + W + c) = __floats2bfloat162_rn(g.x * a.x * s0, g.y * a.y * s1);
}

// ============================================================================ fused / vectorised v2 (STEEL_CUDA_FUSE_V1=1 selects the kernels above)
__device__ __forceinline__ void st_bf16x4(bf16* p, float4 v) {
  __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
  *reinterpret_cast<uint2*>(p) = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
}
// out[j] += sum_p part[p*n + j]: 32 columns per block, 8 row lanes each summing p = ty, ty+8, ... in order, then the
// 8 lane sums in order (fixed order: deterministic)
__global__ void __launch_bounds__(256) colreduce2_k(const float* __restrict__ part, int np, int n, float* __restrict__ out) {
  __shared__ float sh[8][33];
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5, j = blockIdx.x * 32 + tx;
  float s = 0.f;
  if (j < n) {
#pragma unroll 8
    for (int p = ty; p < np; p += 8) s += part[(long)p * n + j];
  }
  sh[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < n) {
    float t = sh[0][tx];
#pragma unroll
    for (int k = 1; k < 8; k++) t += sh[k][tx];
    out[j] += t;
  }
}
// RMSNorm backward v4 = v3 (row in registers) with the 8 warps' weight-gradient partials summed in the block (warp 0..7
// in order, through shared memory): dwpart is [gridDim.x, d] (8x fewer partials for colreduce2_k)
template <int KP>
__global__ void __launch_bounds__(256) rmsnorm_bwd4_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                      const float* __restrict__ w, const float* __restrict__ rstd,
                                                      float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                      int N, int d, int rowsPer, bf16* __restrict__ dresb) {
  __shared__ float4 red4[KP * 32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  float4 acc[KP], wv[KP];
  const float4* w4 = reinterpret_cast<const float4*>(w);
#pragma unroll
  for (int k = 0; k < KP; k++) {
    acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    int j = lane + 32 * k;
    wv[k] = j < d4 ? w4[j] : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  const int r0 = blockIdx.x * rowsPer, r1 = min(N, r0 + rowsPer);
  for (int row = r0 + warp; row < r1; row += 8) {
    const float4* dy4 = reinterpret_cast<const float4*>(dy + (long)row * d);
    const float4* x4 = reinterpret_cast<const float4*>(x + (long)row * d);
    float4* o4 = reinterpret_cast<float4*>(dres + (long)row * d);
    float4 ya[KP], xa[KP];
    const float r = rstd[row];
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < KP; k++) {
      int j = lane + 32 * k;
      if (j < d4) { ya[k] = dy4[j]; xa[k] = x4[j]; }
      else { ya[k] = make_float4(0.f, 0.f, 0.f, 0.f); xa[k] = ya[k]; }
      float4 a = ya[k], xx = xa[k], ww = wv[k];
      dot += a.x * ww.x * xx.x + a.y * ww.y * xx.y + a.z * ww.z * xx.z + a.w * ww.w * xx.w;
      acc[k].x += a.x * xx.x * r; acc[k].y += a.y * xx.y * r; acc[k].z += a.z * xx.z * r; acc[k].w += a.w * xx.w * r;
    }
    dot = warp_sum(dot);
    const float c = r * r * r * dot / d;
#pragma unroll
    for (int k = 0; k < KP; k++) {
      int j = lane + 32 * k;
      if (j < d4) {
        float4 a = ya[k], xx = xa[k], ww = wv[k];
        float4 v = make_float4(r * a.x * ww.x - xx.x * c, r * a.y * ww.y - xx.y * c, r * a.z * ww.z - xx.z * c, r * a.w * ww.w - xx.w * c);
        if (accumulate) { float4 p = o4[j]; v.x += p.x; v.y += p.y; v.z += p.z; v.w += p.w; }
        o4[j] = v;
        if (dresb) st_bf16x4(dresb + (long)row * d + 4 * j, v);
      }
    }
  }
  for (int wi = 0; wi < 8; wi++) {
    if (warp == wi) {
#pragma unroll
      for (int k = 0; k < KP; k++) {
        float4 a = acc[k];
        if (wi > 0) { float4 p = red4[k * 32 + lane]; a.x = p.x + a.x; a.y = p.y + a.y; a.z = p.z + a.z; a.w = p.w + a.w; }
        red4[k * 32 + lane] = a;
      }
    }
    __syncthreads();
  }
  float4* p4 = reinterpret_cast<float4*>(dwpart + (long)blockIdx.x * d);
  for (int i = threadIdx.x; i < d4; i += blockDim.x) p4[i] = red4[i];  // red4[k*32 + lane] holds float4 column lane + 32k
}
// RoPE v3 (hd % 8 == 0): a thread owns 4 adjacent pair positions p..p+3 of one q/k head (units u < U1 = (H+Hk)*hd/8;
// 8-byte accesses at columns p and p + hd/2) and walks rowsPer rows, 4 rows' loads in flight. SUM (backward): also the
// bias gradient partials part[blockIdx.y, col] = sum over the block's rows (in order) of the bf16 values written, for
// every column of the [q|k|v] row (units U1.. cover the v columns, 4 each, read only).
__device__ __forceinline__ float4 bf16r4(float4 v) {  // round to bf16 and back
  float2 a = __bfloat1622float2(__floats2bfloat162_rn(v.x, v.y)), b = __bfloat1622float2(__floats2bfloat162_rn(v.z, v.w));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ void add4(float4& a, float4 b) { a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w; }
template <bool SUM>
__global__ void __launch_bounds__(128) rope3_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn,
                                               int N, int T, int H, int Hk, int hd, int ldq, int koff, int inverse, int rowsPer,
                                               float* __restrict__ part) {
  const int hp4 = hd >> 3, half = hd >> 1, U1 = (H + Hk) * hp4, U = SUM ? U1 + ((Hk * hd) >> 2) : U1;
  const int u = blockIdx.x * blockDim.x + threadIdx.x;
  if (u >= U) return;
  const int r0 = blockIdx.y * rowsPer, r1 = min(N, r0 + rowsPer);
  float4 s0 = make_float4(0.f, 0.f, 0.f, 0.f), s1 = s0;
  if (u < U1) {
    const int hh = u / hp4, p = (u - hh * hp4) * 4;
    const int c0 = (hh < H ? hh * hd : koff + (hh - H) * hd) + p;
    for (int rb = r0; rb < r1; rb += 4) {
      float4 a[4], b[4];
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (rb + k < r1) {
          const bf16* base = x + (long)(rb + k) * ldq + c0;
          a[k] = ld_bf16x4(base);
          b[k] = ld_bf16x4(base + half);
        }
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (rb + k < r1) {
          const int tt = (rb + k) % T;
          const float4 c = *reinterpret_cast<const float4*>(cs + tt * half + p);
          float4 s = *reinterpret_cast<const float4*>(sn + tt * half + p);
          if (inverse) { s.x = -s.x; s.y = -s.y; s.z = -s.z; s.w = -s.w; }
          const float4 oa = make_float4(a[k].x * c.x - b[k].x * s.x, a[k].y * c.y - b[k].y * s.y, a[k].z * c.z - b[k].z * s.z,
                                        a[k].w * c.w - b[k].w * s.w);
          const float4 ob = make_float4(b[k].x * c.x + a[k].x * s.x, b[k].y * c.y + a[k].y * s.y, b[k].z * c.z + a[k].z * s.z,
                                        b[k].w * c.w + a[k].w * s.w);
          bf16* base = x + (long)(rb + k) * ldq + c0;
          st_bf16x4(base, oa);
          st_bf16x4(base + half, ob);
          if (SUM) { add4(s0, bf16r4(oa)); add4(s1, bf16r4(ob)); }
        }
    }
    if (SUM) {
      *reinterpret_cast<float4*>(part + (long)blockIdx.y * ldq + c0) = s0;
      *reinterpret_cast<float4*>(part + (long)blockIdx.y * ldq + c0 + half) = s1;
    }
  } else if (SUM) {
    const int c0 = koff + Hk * hd + (u - U1) * 4;
    for (int rb = r0; rb < r1; rb += 4) {
      float4 a[4];
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (rb + k < r1) a[k] = ld_bf16x4(x + (long)(rb + k) * ldq + c0);
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (rb + k < r1) add4(s0, a[k]);
    }
    *reinterpret_cast<float4*>(part + (long)blockIdx.y * ldq + c0) = s0;
  }
}
// RoPE v4 (forward; hd % 8 == 0): the parallelism of v2 with the access width of v3 and 32-bit index math. A thread
// owns 4 adjacent pair positions p..p+3 (8-byte accesses at columns p and p + hd/2) of one q/k head (unit u < U1 =
// (H+Hk)*hd/8, blockIdx.y*64 + threadIdx.x) for RP consecutive rows (blockIdx.x*RP ..), all RP rows' loads issued
// before any store (no loop-carried latency: v3 walked 64 rows per thread, 4 at a time, and left ~2/3 of the SM's
// thread slots empty). Same arithmetic per element as v1-v3 (bit-identical output).
template <int RP>
__global__ void __launch_bounds__(64) rope4_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn,
                                              int N, int T, int H, int Hk, int hd, int ldq, int koff, int inverse) {
  const int hp4 = hd >> 3, half = hd >> 1, U1 = (H + Hk) * hp4;
  const int u = blockIdx.y * 64 + threadIdx.x;
  if (u >= U1) return;
  const int hh = u / hp4, p = (u - hh * hp4) * 4;
  const int c0 = (hh < H ? hh * hd : koff + (hh - H) * hd) + p;
  const int r0 = blockIdx.x * RP;
  float4 a[RP], b[RP], c[RP], s[RP];
#pragma unroll
  for (int k = 0; k < RP; k++)
    if (r0 + k < N) {
      const bf16* base = x + (size_t)(r0 + k) * ldq + c0;
      a[k] = ld_bf16x4(base);
      b[k] = ld_bf16x4(base + half);
      const int tt = (r0 + k) % T;
      c[k] = __ldg(reinterpret_cast<const float4*>(cs + tt * half + p));
      s[k] = __ldg(reinterpret_cast<const float4*>(sn + tt * half + p));
    }
#pragma unroll
  for (int k = 0; k < RP; k++)
    if (r0 + k < N) {
      float4 sk = s[k];
      if (inverse) { sk.x = -sk.x; sk.y = -sk.y; sk.z = -sk.z; sk.w = -sk.w; }
      const float4 oa = make_float4(a[k].x * c[k].x - b[k].x * sk.x, a[k].y * c[k].y - b[k].y * sk.y,
                                    a[k].z * c[k].z - b[k].z * sk.z, a[k].w * c[k].w - b[k].w * sk.w);
      const float4 ob = make_float4(b[k].x * c[k].x + a[k].x * sk.x, b[k].y * c[k].y + a[k].y * sk.y,
                                    b[k].z * c[k].z + a[k].z * sk.z, b[k].w * c[k].w + a[k].w * sk.w);
      bf16* base = x + (size_t)(r0 + k) * ldq + c0;
      st_bf16x4(base, oa);
      st_bf16x4(base + half, ob);
    }
}
// Soft-MoE weighted token reduction v3 = v2 with 4 tokens' loads in flight (same summation order as v2)
template <typename TI>
__global__ void __launch_bounds__(256) moe_wreduce3_k(const TI* __restrict__ X, const float* __restrict__ W,
                                                      const float* __restrict__ rs, float* __restrict__ part, int B, int T,
                                                      int d, int S, int tPer) {
  __shared__ float sw[4096];
  const int b = blockIdx.y, sp = blockIdx.z, j4 = blockIdx.x * blockDim.x + threadIdx.x;
  const int t0 = sp * tPer, t1 = min(T, t0 + tPer);
  for (int i = threadIdx.x; i < (t1 - t0) * S; i += blockDim.x) {
    int tt = i / S;
    long r = (long)b * T + t0 + tt;
    sw[i] = W[r * S + (i % S)] * (rs ? rs[r] : 1.f);
  }
  __syncthreads();
  if (4 * j4 >= d) return;
  float4 acc[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) acc[s] = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int tb = t0; tb < t1; tb += 4) {
    float4 xv[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (tb + k < t1) {
        long r = (long)b * T + tb + k;
        if constexpr (sizeof(TI) == 2) xv[k] = ld_bf16x4(reinterpret_cast<const bf16*>(X) + r * d + 4 * j4);
        else xv[k] = reinterpret_cast<const float4*>(reinterpret_cast<const float*>(X) + r * d)[j4];
      }
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (tb + k < t1) {
        const float* wr = sw + (tb + k - t0) * S;
#pragma unroll
        for (int s = 0; s < MAXS; s++)
          if (s < S) { float w = wr[s]; acc[s].x += w * xv[k].x; acc[s].y += w * xv[k].y; acc[s].z += w * xv[k].z; acc[s].w += w * xv[k].w; }
      }
  }
#pragma unroll
  for (int s = 0; s < MAXS; s++)
    if (s < S) reinterpret_cast<float4*>(part + (((long)sp * B + b) * S + s) * d)[j4] = acc[s];
}
// wreduce finish v2. mode 0: out[slot_row(b,s), j] = sum_p part[p][b][s][j] (+ bf16 copy), loads of 8 splits in flight
// (same order as v1). mode 1 (dphi, out[j*S + s] = sum over b and p): block per (s, 32 columns), 8 lanes each summing
// the terms q = b*nsp + p with q = ty, ty+8, ... in order, then the 8 lane sums in order.
__global__ void __launch_bounds__(256) moe_wreduce_fin2_k(const float* __restrict__ part, int nsp, int B, int S, int d, int np,
                                                          int mode, float* __restrict__ out, bf16* __restrict__ outb) {
  if (mode == 0) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)B * S * d) return;
    int j = i % d;
    long bs = i / d;
    int s = bs % S, b = bs / S;
    float acc = 0.f;
#pragma unroll 8
    for (int p = 0; p < nsp; p++) acc += part[(((long)p * B + b) * S + s) * d + j];
    long o = slot_row(b, s, B, np) * d + j;
    out[o] = acc;
    if (outb) outb[o] = f2b(acc);
  } else {
    __shared__ float sh[8][33];
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5, s = blockIdx.y, j = blockIdx.x * 32 + tx;
    float acc = 0.f;
    if (j < d) {
#pragma unroll 8
      for (int q = ty; q < B * nsp; q += 8) {
        const int b = q / nsp, p = q - b * nsp;
        acc += part[(((long)p * B + b) * S + s) * d + j];
      }
    }
    sh[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < d) {
      float t = sh[0][tx];
#pragma unroll
      for (int k = 1; k < 8; k++) t += sh[k][tx];
      out[(long)j * S + s] = t;
    }
  }
}
// Soft-MoE token kernels v3: as v2 (per-sequence slot matrices in shared memory, 64 rows of one sequence per block, 8
// rows per warp) but each warp handles 4 rows at once, so every shared-memory float4 is read once for 4 rows (v2 was
// shared-memory bound: 2*S floats per output element). SM = compile-time bound on S (4, 8, 16).
template <int SM>
__global__ void __launch_bounds__(256) moe_tok_bwd1f_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                       const float* __restrict__ dY, const float* __restrict__ Ys,
                                                       const float* __restrict__ dXs, const float* __restrict__ C,
                                                       float* __restrict__ dLC, float* __restrict__ dD, int B, int T, int d,
                                                       int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage(sm, Ys, dXs, false, b, B, d, S, np);
  const float4* sY = reinterpret_cast<const float4*>(sm);
  const float4* sX = reinterpret_cast<const float4*>(sm + S * d);
  for (int g = 0; g < 2; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * 4;
    if (t0 >= T) break;
    const int nv = min(4, T - t0);
    const long row0 = (long)b * T + t0;
    float ac[4][SM], ad[4][SM];
#pragma unroll
    for (int k = 0; k < 4; k++)
#pragma unroll
      for (int s = 0; s < SM; s++) ac[k][s] = ad[k][s] = 0.f;
    for (int j = lane; j < d4; j += 32) {
      float4 gy[4], xv[4];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        if (k < nv) {
          gy[k] = reinterpret_cast<const float4*>(dY + (row0 + k) * d)[j];
          xv[k] = ld_bf16x4(x + (row0 + k) * d + 4 * j);
        } else {
          gy[k] = make_float4(0.f, 0.f, 0.f, 0.f);
          xv[k] = gy[k];
        }
      }
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float4 ys = sY[s * d4 + j], xs = sX[s * d4 + j];
#pragma unroll
          for (int k = 0; k < 4; k++) { ac[k][s] += dot4(gy[k], ys); ad[k][s] += dot4(xv[k], xs); }
        }
    }
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (k >= nv) break;
      const long row = row0 + k;
      float ri = rinv[row], dot = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) { ac[k][s] = warp_sum(ac[k][s]); ad[k][s] = warp_sum(ad[k][s]) * ri; dot += C[row * S + s] * ac[k][s]; }
      if (lane == 0) {
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) { dLC[row * S + s] = C[row * S + s] * (ac[k][s] - dot); dD[row * S + s] = ad[k][s]; }
      }
    }
  }
}
// dx = rinv (g - xhat (xhat . g)) with g = sum_s D dXs[s] + dL phihat[:, s]; one pass: xhat . g = sum_s D dD + dL Lg
// (dD = xhat . dXs[s] from moe_tok_bwd1*, Lg = xhat . phihat[:, s] from the forward router)
template <int SM>
__global__ void __launch_bounds__(256) moe_tok_bwd2f_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                       const float* __restrict__ D, const float* __restrict__ dL,
                                                       const float* __restrict__ dD, const float* __restrict__ Lg,
                                                       const float* __restrict__ phihatT, const float* __restrict__ dXs,
                                                       float* __restrict__ dx, int B, int T, int d, int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage(sm, dXs, phihatT, true, b, B, d, S, np);
  const float4* sX = reinterpret_cast<const float4*>(sm);
  const float4* sP = reinterpret_cast<const float4*>(sm + S * d);
  for (int g = 0; g < 2; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * 4;
    if (t0 >= T) break;
    const int nv = min(4, T - t0);
    const long row0 = (long)b * T + t0;
    float Dr[4][SM], Lr[4][SM], ri[4], cc[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      float dot = 0.f;
      ri[k] = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++) Dr[k][s] = Lr[k][s] = 0.f;
      if (k < nv) {
        const long row = row0 + k;
        ri[k] = rinv[row];
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            Dr[k][s] = D[row * S + s];
            Lr[k][s] = dL[row * S + s];
            dot += Dr[k][s] * dD[row * S + s] + Lr[k][s] * Lg[row * S + s];
          }
      }
      cc[k] = ri[k] * dot;
    }
    for (int j = lane; j < d4; j += 32) {
      float4 xv[4], gg[4];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        xv[k] = k < nv ? ld_bf16x4(x + (row0 + k) * d + 4 * j) : make_float4(0.f, 0.f, 0.f, 0.f);
        gg[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float4 a = sX[s * d4 + j], p = sP[s * d4 + j];
#pragma unroll
          for (int k = 0; k < 4; k++) {
            gg[k].x += Dr[k][s] * a.x + Lr[k][s] * p.x; gg[k].y += Dr[k][s] * a.y + Lr[k][s] * p.y;
            gg[k].z += Dr[k][s] * a.z + Lr[k][s] * p.z; gg[k].w += Dr[k][s] * a.w + Lr[k][s] * p.w;
          }
        }
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (k < nv) {
          const float c = cc[k], r = ri[k];
          reinterpret_cast<float4*>(dx + (row0 + k) * d)[j] =
              make_float4(r * (gg[k].x - xv[k].x * c), r * (gg[k].y - xv[k].y * c), r * (gg[k].z - xv[k].z * c), r * (gg[k].w - xv[k].w * c));
        }
    }
  }
}
// xout = xmid + sum_s C[r,s] Ys[slot(b,s)] (same arithmetic as moe_combine_s_k, 4 rows per warp at once)
template <int SM>
__global__ void __launch_bounds__(256) moe_combine_f_k(const float* __restrict__ xmid, const float* __restrict__ C,
                                                       const float* __restrict__ Ys, float* __restrict__ xout, int B, int T,
                                                       int d, int S, int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  for (int s = 0; s < S; s++) {
    const float* ra = Ys + slot_row(b, s, B, np) * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) sm[s * d + j] = ra[j];
  }
  __syncthreads();
  const float4* sY = reinterpret_cast<const float4*>(sm);
  for (int g = 0; g < 2; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * 4;
    if (t0 >= T) break;
    const int nv = min(4, T - t0);
    const long row0 = (long)b * T + t0;
    float Cr[4][SM];
#pragma unroll
    for (int k = 0; k < 4; k++)
#pragma unroll
      for (int s = 0; s < SM; s++) Cr[k][s] = (k < nv && s < S) ? C[(row0 + k) * S + s] : 0.f;
    for (int j = lane; j < d4; j += 32) {
      float4 acc[4];
#pragma unroll
      for (int k = 0; k < 4; k++) acc[k] = k < nv ? reinterpret_cast<const float4*>(xmid + (row0 + k) * d)[j] : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float4 y = sY[s * d4 + j];
#pragma unroll
          for (int k = 0; k < 4; k++) { acc[k].x += Cr[k][s] * y.x; acc[k].y += Cr[k][s] * y.y; acc[k].z += Cr[k][s] * y.z; acc[k].w += Cr[k][s] * y.w; }
        }
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (k < nv) reinterpret_cast<float4*>(xout + (row0 + k) * d)[j] = acc[k];
    }
  }
}
// router v3: as moe_logits2_k (same arithmetic per row), 4 rows per warp at once
template <int SM>
__global__ void __launch_bounds__(256) moe_logits3_k(const bf16* __restrict__ x, const float* __restrict__ phihatT,
                                                     float* __restrict__ rinv, float* __restrict__ Lg, float* __restrict__ C,
                                                     long N, int d, int S) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  for (int i = threadIdx.x; i < S * d; i += blockDim.x) sm[i] = phihatT[i];
  __syncthreads();
  const float4* sP = reinterpret_cast<const float4*>(sm);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  for (int g = 0; g < 2; g++) {
    const long row0 = (long)blockIdx.x * 64 + warp * 8 + g * 4;
    if (row0 >= N) break;
    const int nv = (int)min(4L, N - row0);
    float acc[4][SM], ss[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      ss[k] = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++) acc[k][s] = 0.f;
    }
    for (int j = lane; j < d4; j += 32) {
      float4 v[4];
#pragma unroll
      for (int k = 0; k < 4; k++) v[k] = k < nv ? ld_bf16x4(x + (row0 + k) * d + 4 * j) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int k = 0; k < 4; k++) ss[k] += dot4(v[k], v[k]);
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float4 p = sP[s * d4 + j];
#pragma unroll
          for (int k = 0; k < 4; k++) acc[k][s] += dot4(v[k], p);
        }
    }
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (k >= nv) break;
      const long row = row0 + k;
      float sk = warp_sum(ss[k]);
      float nr = fmaxf(sqrtf(sk), 1e-12f);
      float mx = -INFINITY;
#pragma unroll
      for (int s = 0; s < SM; s++) if (s < S) { acc[k][s] = warp_sum(acc[k][s]) / nr; mx = fmaxf(mx, acc[k][s]); }
      float sum = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++) if (s < S) sum += __expf(acc[k][s] - mx);
      if (lane == 0) {
        rinv[row] = 1.f / nr;
#pragma unroll
        for (int s = 0; s < SM; s++) if (s < S) { Lg[row * S + s] = acc[k][s]; C[row * S + s] = __expf(acc[k][s] - mx) / sum; }
      }
    }
  }
}
// RMSNorm forward v2: warp per row, float4, the row kept in registers (d % 4 == 0, d <= 128*KP); same arithmetic per
// element as rmsnorm_fwd_k (xout = xin + delta when delta; y = bf16(w * (x * rstd)))
template <int KP>
__global__ void __launch_bounds__(256) rmsnorm_fwd2_k(const float* __restrict__ xin, const bf16* __restrict__ delta,
                                                      float* __restrict__ xout, const float* __restrict__ w, bf16* __restrict__ y,
                                                      float* __restrict__ rstd, int N, int d, float eps) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  const long row = (long)blockIdx.x * 8 + warp;
  if (row >= N) return;
  const float4* x4 = reinterpret_cast<const float4*>(xin + row * d);
  float4 v[KP];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = lane + 32 * k;
    v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (j < d4) {
      v[k] = x4[j];
      if (delta) {
        const float4 dl = ld_bf16x4(delta + row * d + 4 * j);
        v[k].x += dl.x; v[k].y += dl.y; v[k].z += dl.z; v[k].w += dl.w;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = lane + 32 * k;
    if (j < d4 && delta) reinterpret_cast<float4*>(xout + row * d)[j] = v[k];
    ss += dot4(v[k], v[k]);
  }
  ss = warp_sum(ss);
  const float r = rsqrtf(ss / d + eps);
  const float4* w4 = reinterpret_cast<const float4*>(w);
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = lane + 32 * k;
    if (j < d4) {
      const float4 ww = w4[j];
      st_bf16x4(y + row * d + 4 * j, make_float4(ww.x * (v[k].x * r), ww.y * (v[k].y * r), ww.z * (v[k].z * r), ww.w * (v[k].w * r)));
    }
  }
  if (lane == 0) rstd[row] = r;
}
// SwiGLU v3 (W % 8 == 0): 8 columns per thread, 16-byte accesses; same arithmetic as swiglu_fwd2_k / swiglu_bwd2b_k
__device__ __forceinline__ void unpack8(uint4 u, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; i++) { float2 t = __bfloat1622float2(h[i]); f[2 * i] = t.x; f[2 * i + 1] = t.y; }
}
__device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 u;
  uint32_t* p = reinterpret_cast<uint32_t*>(&u);
#pragma unroll
  for (int i = 0; i < 4; i++) { __nv_bfloat162 t = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]); p[i] = *reinterpret_cast<uint32_t*>(&t); }
  return u;
}
__global__ void swiglu_fwd3_k(const bf16* __restrict__ gu, bf16* __restrict__ h, long R, int W) {
  const int W8 = W >> 3;
  const long n = R * W8;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const long r = i / W8;
    const int c = (int)(i - r * W8) * 8;
    float a[8], u[8], o[8];
    unpack8(*reinterpret_cast<const uint4*>(gu + r * 2 * W + c), a);
    unpack8(*reinterpret_cast<const uint4*>(gu + r * 2 * W + W + c), u);
#pragma unroll
    for (int k = 0; k < 8; k++) o[k] = silu(a[k]) * u[k];
    *reinterpret_cast<uint4*>(h + r * W + c) = pack8(o);
  }
}
__global__ void swiglu_bwd3b_k(const bf16* __restrict__ gu, const bf16* __restrict__ dh, bf16* __restrict__ dgu, long R, int W) {
  const int W8 = W >> 3;
  const long n = R * W8;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const long r = i / W8;
    const int c = (int)(i - r * W8) * 8;
    float a[8], u[8], g[8], da[8], du[8];
    unpack8(*reinterpret_cast<const uint4*>(gu + r * 2 * W + c), a);
    unpack8(*reinterpret_cast<const uint4*>(gu + r * 2 * W + W + c), u);
    unpack8(*reinterpret_cast<const uint4*>(dh + r * W + c), g);
#pragma unroll
    for (int k = 0; k < 8; k++) {
      const float s = 1.f / (1.f + __expf(-a[k]));
      da[k] = g[k] * u[k] * s * (1.f + a[k] * (1.f - s));
      du[k] = g[k] * a[k] * s;
    }
    *reinterpret_cast<uint4*>(dgu + r * 2 * W + c) = pack8(da);
    *reinterpret_cast<uint4*>(dgu + r * 2 * W + W + c) = pack8(du);
  }
}
