// Soft-MoE (Steel-LLM's FFN, "From Sparse to Soft Mixtures of Experts"): per sequence b, slots s = e*np + j of the ne
// experts. Router logits Lg = xhat . phihat (xhat = x/||x||, phihat = scale * phi/||phi col||); dispatch weights D =
// softmax over the sequence's tokens per slot, combine weights C = softmax over slots per token; slot inputs X_s =
// sum_t D x_t (bf16 copy for the expert GEMMs), each expert a SwiGLU MLP with a SwiGLU output stage (swiglu.cuh), run
// as strided-batched GEMMs over the experts; output xout = xmid + sum_s C Ys. fp32 router and softmaxes (as the reference
// keeps them), deterministic split reductions over tokens. In training the passes over the [B*T, d] activations are
// merged with the RMSNorms around the layer (session 10): the norm before it also runs the router (normRouter), the norm
// after it (the next layer's first, or the final norm) is fused with the combine forward and, backward, also takes token
// backward 1's dC (normBackward), and token backward 2 runs the backward of the norm before it; each with the unfused
// kernels' sums in the same order (bit-identical; dev/moe-ab.cu checks them). Limits: S = ne*np <= MAXS, d % 4 == 0,
// 2*S*d floats (+ 32*KH float4 per thread of token backward 2's 512) of shared memory per block.
// Checks: gpu-check `cpu` (phi, scale and every expert weight against the CPU backend), `torch` (phi against fp32).
#pragma once
#include <type_traits>
#include "common.cuh"
#include "cublaslt.cuh"
#include "rmsnorm.cuh"
#include "swiglu.cuh"
#include "tile.cuh"

#define MAXS 16  // max Soft-MoE slots (numExperts * slotsPerExpert)
// phi [d, S] (row j holds the S slots' entries, contiguous); phihatT [S][d] (slot-major, as the token kernels stage it)
// = scale * phi / max(||phi[:, s]||, 1e-12), for up to MOE_PHI_LAYERS layers in one launch (a block per layer: the
// layers' router weights are ready before the forward pass, so the training forward normalises them all at its start,
// off the layers' critical path). A block of 1024 threads: each thread sums its rows j = tid, tid + 1024, ... for every
// slot (coalesced rows), then the warps and the 32 warp sums in fixed order (a warp per slot walking d with strided loads
// was latency bound: ~60 us per call)
#define MOE_PHI_LAYERS 32
struct MoePhiArgs {
  const float* phi[MOE_PHI_LAYERS];
  const float* scale[MOE_PHI_LAYERS];
  float* phihatT[MOE_PHI_LAYERS];
  float* phinorm[MOE_PHI_LAYERS];
};
__global__ void __launch_bounds__(1024) moe_phi_k(const MoePhiArgs args, int d, int S) {
  __shared__ float red[32][MAXS];
  __shared__ float nrm[MAXS];
  const float* __restrict__ phi = args.phi[blockIdx.x];
  float* __restrict__ phihatT = args.phihatT[blockIdx.x];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  float ss[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) ss[s] = 0.f;
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) { const float v = phi[(long)j * S + s]; ss[s] += v * v; }
#pragma unroll
  for (int s = 0; s < MAXS; s++)
    if (s < S) { const float v = warp_sum(ss[s]); if (lane == 0) red[w][s] = v; }
  __syncthreads();
  if ((int)threadIdx.x < S) {
    float t = 0.f;
    for (int i = 0; i < 32; i++) t += red[i][threadIdx.x];
    const float nr = fmaxf(sqrtf(t), 1e-12f);
    nrm[threadIdx.x] = nr;
    args.phinorm[blockIdx.x][threadIdx.x] = nr;
  }
  __syncthreads();
  const float sc = args.scale[blockIdx.x][0];
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) phihatT[(long)s * d + j] = sc * phi[(long)j * S + s] / nrm[s];
}
// block per (b, s): D[:, s] = softmax over the T tokens of sequence b (the loops unrolled: a thread's loads of a pass in
// flight together, not one L2 round trip per token)
__global__ void moe_dispatch_k(const float* __restrict__ Lg, float* __restrict__ D, int T, int S) {
  __shared__ float sh[32];
  int b = blockIdx.x / S, s = blockIdx.x % S;
  const float* L = Lg + (long)b * T * S + s;
  float mx = -INFINITY;
#pragma unroll 8
  for (int t = threadIdx.x; t < T; t += blockDim.x) mx = fmaxf(mx, L[(long)t * S]);
  mx = warp_max(mx);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) mx = fmaxf(mx, sh[i]);
  float sm = 0.f;
#pragma unroll 8
  for (int t = threadIdx.x; t < T; t += blockDim.x) sm += __expf(L[(long)t * S] - mx);
  sm = block_sum(sm, sh);
#pragma unroll 8
  for (int t = threadIdx.x; t < T; t += blockDim.x) D[((long)b * T + t) * S + s] = __expf(L[(long)t * S] - mx) / sm;
}
// block per (b, s): dL = dLC + D (dD - sum_t D dD)
__global__ void moe_dispatch_bwd_k(const float* __restrict__ D, const float* __restrict__ dD, const float* __restrict__ dLC,
                                   float* __restrict__ dL, int T, int S) {
  __shared__ float sh[32];
  int b = blockIdx.x / S, s = blockIdx.x % S;
  float acc = 0.f;
#pragma unroll 8
  for (int t = threadIdx.x; t < T; t += blockDim.x) { long o = ((long)b * T + t) * S + s; acc += D[o] * dD[o]; }
  acc = block_sum(acc, sh);
#pragma unroll 8
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    long o = ((long)b * T + t) * S + s;
    dL[o] = dLC[o] + D[o] * (dD[o] - acc);
  }
}
// gradients of phi and scale from dphihat [d, S] (u = phi / nr): dscale = sum_s sum_j g u, gphi += (sc g - u sc (g . u))
// / nr; one block of 1024 threads, the same row-wise layout and fixed-order reductions as moe_phi_k
__global__ void __launch_bounds__(1024) moe_phi_bwd_k(const float* __restrict__ phi, const float* __restrict__ scale,
                                                      const float* __restrict__ phinorm, const float* __restrict__ dph,
                                                      float* __restrict__ gphi, float* __restrict__ gscale, int d, int S) {
  __shared__ float red[32][MAXS];
  __shared__ float dots[MAXS];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  float nr[MAXS], ds[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) { nr[s] = s < S ? phinorm[s] : 1.f; ds[s] = 0.f; }
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) ds[s] += dph[(long)j * S + s] * (phi[(long)j * S + s] / nr[s]);
#pragma unroll
  for (int s = 0; s < MAXS; s++)
    if (s < S) { const float v = warp_sum(ds[s]); if (lane == 0) red[w][s] = v; }
  __syncthreads();
  if ((int)threadIdx.x < S) {
    float t = 0.f;
    for (int i = 0; i < 32; i++) t += red[i][threadIdx.x];
    dots[threadIdx.x] = t;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int i = 0; i < S; i++) t += dots[i];
    gscale[0] += t;
  }
  const float sc = scale[0];
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) {
        const float u = phi[(long)j * S + s] / nr[s];
        gphi[(long)j * S + s] += (sc * dph[(long)j * S + s] - u * (sc * dots[s])) / nr[s];
      }
}
// slot rows in expert-major order: row(b, s=e*np+jj) = (e*B + b)*np + jj
__device__ __forceinline__ long slot_row(int b, int s, int B, int np) { return ((long)(s / np) * B + b) * np + (s % np); }
// S rows of d floats into shared memory sm[s*d ..]: the slot rows of sequence b of M (slot-major), or the rows s of an
// [S][d] matrix M; 16-byte cp.async copies, every one in flight at once (a block's staging costs one memory latency, not
// one per row and column step); moe_stage_wait() then makes them visible
__device__ __forceinline__ void moe_stage_rows(float* sm, const float* M, bool slotRows, int b, int B, int d, int S, int np) {
  const int d4 = d >> 2;
  for (int i = threadIdx.x; i < S * d4; i += blockDim.x) {
    const int s = i / d4, j = i - s * d4;
    const float* src = M + (slotRows ? slot_row(b, s, B, np) : (long)s) * d + 4 * j;
    cp_async16(reinterpret_cast<bf16*>(sm + (long)s * d + 4 * j), reinterpret_cast<const bf16*>(src), true);
  }
}
__device__ __forceinline__ void moe_stage_wait() {
  cp_commit();
  cp_wait<0>();
  __syncthreads();
}
// sm[0..S*d) = A rows of sequence b (slot-major), sm[S*d..2*S*d) = Bm rows (or Bt [S][d] when bIsT)
__device__ __forceinline__ void moe_stage(float* sm, const float* A, const float* Bm, bool bIsT, int b, int B, int d, int S, int np) {
  moe_stage_rows(sm, A, true, b, B, d, S, np);
  moe_stage_rows(sm + (long)S * d, Bm, !bIsT, b, B, d, S, np);
  moe_stage_wait();
}
// V consecutive elements of a row as one load (16 bytes for bf16 x 8; 8 or 32 bytes otherwise), unpacked to floats
// later, so that a thread issues all its rows' loads before it waits for any of them
template <typename TI, int V> struct RawV;
template <> struct RawV<bf16, 8> {
  uint4 u;
  __device__ __forceinline__ void load(const bf16* p) { u = *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ void get(float* f) const { unpack8(u, f); }
};
template <> struct RawV<bf16, 4> {
  uint2 u;
  __device__ __forceinline__ void load(const bf16* p) { u = *reinterpret_cast<const uint2*>(p); }
  __device__ __forceinline__ void get(float* f) const {
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
    const float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
    f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
  }
};
template <> struct RawV<float, 8> {
  float4 a, b;
  __device__ __forceinline__ void load(const float* p) { a = reinterpret_cast<const float4*>(p)[0]; b = reinterpret_cast<const float4*>(p)[1]; }
  __device__ __forceinline__ void get(float* f) const { f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w; }
};
template <> struct RawV<float, 4> {
  float4 a;
  __device__ __forceinline__ void load(const float* p) { a = *reinterpret_cast<const float4*>(p); }
  __device__ __forceinline__ void get(float* f) const { f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w; }
};
// the router's sums over one chunk c of V columns for R rows (f[k]: row k's values there), phihat^T [S][d] in shared
// memory sm: ss[k] += the squares, acc[k][s] += f . phihat[:, s], each column by column
template <int SM, int V, int R>
__device__ __forceinline__ void moe_router_acc(const float (&f)[R][V], const float* sm, int c, int d, int S, float (&ss)[R],
                                               float (&acc)[R][SM]) {
#pragma unroll
  for (int k = 0; k < R; k++)
#pragma unroll
    for (int v = 0; v < V; v++) ss[k] += f[k][v] * f[k][v];
#pragma unroll
  for (int s = 0; s < SM; s++)
    if (s < S) {
      float p[V];
#pragma unroll
      for (int v = 0; v < V; v += 4) {
        const float4 q = reinterpret_cast<const float4*>(sm + (long)s * d + (long)c * V)[v / 4];
        p[v] = q.x, p[v + 1] = q.y, p[v + 2] = q.z, p[v + 3] = q.w;
      }
#pragma unroll
      for (int k = 0; k < R; k++)
#pragma unroll
        for (int v = 0; v < V; v++) acc[k][s] += f[k][v] * p[v];
    }
}
// the router's per-row epilogue (the lane's sums of x^2 and x . phihat[:, s] in ss and acc): rinv, Lg and C by lane 0
template <int SM>
__device__ __forceinline__ void moe_router_out(float ss, float* acc, long row, int S, int lane, float* __restrict__ rinv,
                                               float* __restrict__ Lg, float* __restrict__ C) {
  const float sk = warp_sum(ss);
  const float nr = fmaxf(sqrtf(sk), 1e-12f);
  float mx = -INFINITY;
#pragma unroll
  for (int s = 0; s < SM; s++) if (s < S) { acc[s] = warp_sum(acc[s]) / nr; mx = fmaxf(mx, acc[s]); }
  float sum = 0.f;
#pragma unroll
  for (int s = 0; s < SM; s++) if (s < S) sum += __expf(acc[s] - mx);
  if (lane == 0) {
    rinv[row] = 1.f / nr;
#pragma unroll
    for (int s = 0; s < SM; s++) if (s < S) { Lg[row * S + s] = acc[s]; C[row * S + s] = __expf(acc[s] - mx) / sum; }
  }
}
// router: per row rinv = 1/max(||x||, 1e-12), Lg = xhat . phihat, C = softmax over slots; phihat^T [S][d] in shared
// memory, 64 rows per block, 4 rows per warp at once, V columns per lane (16-byte loads of x when d % 8 == 0), the loads
// of U column steps issued before any is used (each lane's sums still taken step by step, in column order)
template <int SM, int V>
__global__ void __launch_bounds__(256, SM <= 6 ? 2 : 1) moe_logits_k(const bf16* __restrict__ x, const float* __restrict__ phihatT,
                                                     float* __restrict__ rinv, float* __restrict__ Lg, float* __restrict__ C,
                                                     long N, int d, int S) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  moe_stage_rows(sm, phihatT, false, 0, 1, d, S, 1);
  moe_stage_wait();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = d / V;
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
    constexpr int U = SM <= 6 ? 2 : 1;
    for (int c0 = lane; c0 < nc; c0 += 32 * U) {
      RawV<bf16, V> r[U][4];
#pragma unroll
      for (int u = 0; u < U; u++)
        if (c0 + 32 * u < nc)
#pragma unroll
          for (int k = 0; k < 4; k++)
            if (k < nv) r[u][k].load(x + (row0 + k) * d + (long)(c0 + 32 * u) * V);
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int c = c0 + 32 * u;
        if (c >= nc) break;
        float f[4][V];
#pragma unroll
        for (int k = 0; k < 4; k++) {
          if (k < nv) r[u][k].get(f[k]);
          else {
#pragma unroll
            for (int v = 0; v < V; v++) f[k][v] = 0.f;
          }
        }
        moe_router_acc<SM, V, 4>(f, sm, c, d, S, ss, acc);
      }
    }
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (k >= nv) break;
      moe_router_out<SM>(ss[k], acc[k], row0 + k, S, lane, rinv, Lg, C);
    }
  }
}
// the RMSNorm before the Soft-MoE fused with the router: x = xin (+ delta, then also written to xout), y = bf16(w * (x *
// rstd)) and rstd exactly as rmsnorm_fwd_k<KP, 1> computes them (lane owns the float4 columns k*32 + lane, the squares
// summed in k order, then warp_sum), then the router on y exactly as moe_logits_k<SM, V> (lane owns the V-column chunks
// c = lane + 32 i, each accumulator summed chunk by chunk, column by column; the same epilogue), the row's y handed from
// one layout to the other through shared memory: bit-identical to rmsnormForward (where it runs a warp per row) followed
// by moe_logits_k, without the router's read of y (59 MB per layer at steel-1b) and its launch. 64 rows per block, a
// warp per row (rows warp, warp + 8, ...), phihat^T in shared memory, the first row's loads issued before the staging
// wait; 2 blocks (16 warps) per SM, whose loads overlap each other's router sums.
template <int SM, int KP, int V>
__global__ void __launch_bounds__(256, 2) moe_norm_router_k(const float* __restrict__ xin, const bf16* __restrict__ delta,
                                                          float* __restrict__ xout, const float* __restrict__ w,
                                                          bf16* __restrict__ y, float* __restrict__ rstd, float eps,
                                                          const float* __restrict__ phihatT, float* __restrict__ rinv,
                                                          float* __restrict__ Lg, float* __restrict__ C, long N, int d, int S) {
  extern __shared__ float4 smem4[];  // [S][d] phihat^T, then a row of d bf16 per warp
  float* sm = reinterpret_cast<float*>(smem4);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2, nc = d / V;
  bf16* sy = reinterpret_cast<bf16*>(sm + (long)S * d) + (long)warp * d;
  moe_stage_rows(sm, phihatT, false, 0, 1, d, S, 1);
  const long rEnd = min(N, (long)blockIdx.x * 64 + 64);
  long row = (long)blockIdx.x * 64 + warp;
  float4 v[KP];
  auto load = [&](long rr) {
    const float4* x4 = reinterpret_cast<const float4*>(xin + rr * d);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (j < d4) {
        v[k] = x4[j];
        if (delta) {
          const float4 dl = ld_bf16x4(delta + rr * d + 4 * j);
          v[k].x += dl.x; v[k].y += dl.y; v[k].z += dl.z; v[k].w += dl.w;
        }
      }
    }
  };
  if (row < rEnd) load(row);
  moe_stage_wait();
  const float4* w4 = reinterpret_cast<const float4*>(w);
  for (; row < rEnd; row += 8) {
    if (row != (long)blockIdx.x * 64 + warp) load(row);
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      if (j < d4 && delta) reinterpret_cast<float4*>(xout + row * d)[j] = v[k];
      ss += dot4(v[k], v[k]);
    }
    ss = warp_sum(ss);
    const float r = rsqrtf(ss / d + eps);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      if (j < d4) {
        const float4 ww = w4[j];
        const float4 o = make_float4(ww.x * (v[k].x * r), ww.y * (v[k].y * r), ww.z * (v[k].z * r), ww.w * (v[k].w * r));
        st_bf16x4(y + row * d + 4 * j, o);
        st_bf16x4(sy + 4 * j, o);
      }
    }
    if (lane == 0) rstd[row] = r;
    __syncwarp();
    float acc[1][SM], sq[1] = {0.f};
#pragma unroll
    for (int s = 0; s < SM; s++) acc[0][s] = 0.f;
    for (int c = lane; c < nc; c += 32) {
      RawV<bf16, V> rv;
      rv.load(sy + c * V);
      float f[1][V];
      rv.get(f[0]);
      moe_router_acc<SM, V, 1>(f, sm, c, d, S, sq, acc);
    }
    moe_router_out<SM>(sq[0], acc[0], row, S, lane, rinv, Lg, C);
    __syncwarp();  // the row's y read before the next row's is written
  }
}
// weighted token reduction: part[sp][b][s][j] = sum over the tokens t of split sp of W[b,t,s] * rs[b,t] * X[b,t,j].
// A thread owns V columns (one 16- or 32-byte load per token) and sums its split's tokens in order, U tokens' loads in
// flight (128 bytes per thread) before any is used; the split's weights in shared memory; SM = S or a bound on it. Blocks
// of whole warps spanning the row (224 threads for d 1792), 2 per SM: the B x splits blocks run in one wave. (The old
// kernel: 4 columns per thread, 32 bytes in flight, 16 predicated slots per token: 1-2 TB/s.)
template <typename TI, int V, int SM>
__global__ void __launch_bounds__(256, 2) moe_wreduce_k(const TI* __restrict__ X, const float* __restrict__ W,
                                                         const float* __restrict__ rs, float* __restrict__ part, int B, int T,
                                                         int d, int S, int tPer) {
  constexpr int U = (int)(128 / (V * sizeof(TI))) < 8 ? (int)(128 / (V * sizeof(TI))) : 8;
  __shared__ float sw[4096];
  const int b = blockIdx.y, sp = blockIdx.z;
  const int t0 = sp * tPer, nt = max(0, min(T, t0 + tPer) - t0);
  for (int i = threadIdx.x; i < nt * S; i += blockDim.x) {
    const int tt = i / S;
    const long r = (long)b * T + t0 + tt;
    sw[i] = W[r * S + (i - tt * S)] * (rs ? rs[r] : 1.f);
  }
  __syncthreads();
  const int j = (blockIdx.x * blockDim.x + threadIdx.x) * V;
  if (j >= d) return;
  float acc[SM][V];
#pragma unroll
  for (int s = 0; s < SM; s++)
#pragma unroll
    for (int v = 0; v < V; v++) acc[s][v] = 0.f;
  const TI* xp = X + ((long)b * T + t0) * d + j;
  int t = 0;
  for (; t + U <= nt; t += U) {
    RawV<TI, V> r[U];
#pragma unroll
    for (int k = 0; k < U; k++) r[k].load(xp + (long)(t + k) * d);
#pragma unroll
    for (int k = 0; k < U; k++) {
      float f[V];
      r[k].get(f);
      const float* wr = sw + (t + k) * S;
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float w = wr[s];
#pragma unroll
          for (int v = 0; v < V; v++) acc[s][v] += w * f[v];
        }
    }
  }
  for (; t < nt; t++) {
    RawV<TI, V> r;
    r.load(xp + (long)t * d);
    float f[V];
    r.get(f);
    const float* wr = sw + t * S;
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S) {
        const float w = wr[s];
#pragma unroll
        for (int v = 0; v < V; v++) acc[s][v] += w * f[v];
      }
  }
  float* o = part + (((long)sp * B + b) * S) * d + j;
#pragma unroll
  for (int s = 0; s < SM; s++)
    if (s < S)
#pragma unroll
      for (int v = 0; v < V; v += 4)
        *reinterpret_cast<float4*>(o + (long)s * d + v) = make_float4(acc[s][v], acc[s][v + 1], acc[s][v + 2], acc[s][v + 3]);
}
// wreduce finish. mode 0: out[slot_row(b,s), j] = sum_p part[p][b][s][j] (+ bf16 copy), loads of 8 splits in flight. mode 1 (dphi, out[j*S + s] = sum over b and p): block per (s, 32 columns), 8 lanes each summing
// the terms q = b*nsp + p with q = ty, ty+8, ... in order, then the 8 lane sums in order.
__global__ void __launch_bounds__(256) moe_wreduce_fin_k(const float* __restrict__ part, int nsp, int B, int S, int d, int np,
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
// combine, fused with the RMSNorm that follows it (the next layer's first norm, or the final norm): x = xmid +
// sum_s C[r,s] Ys[slot_row(b,s)] -> xout, and when nw (that norm's weights) is given, y = bf16(nw * (x * rstd)) with
// rstd = 1/sqrt(mean(x^2) + eps) per row, exactly as rmsnorm_fwd_k<KP> computes them from xout (lane owns the float4
// columns k*32 + lane, the squares summed in k order, then warp_sum): bit-identical to the combine followed by
// rmsnormForward, without the norm's read of xout (117 MB per layer at steel-1b). A warp per row, the row's KP float4
// of xmid loaded at once (224 bytes per lane in flight at d 1792, the first row's issued before the staging wait) and
// kept in registers for the norm; the sequence's Ys rows in shared memory, 64 rows per block. The xout sums are the old
// combine's (xmid, then + C Ys in slot order).
template <int SM, int KP>
__global__ void __launch_bounds__(256, 2) moe_combine_k(const float* __restrict__ xmid, const float* __restrict__ C,
                                                          const float* __restrict__ Ys, float* __restrict__ xout,
                                                          const float* __restrict__ nw, bf16* __restrict__ y,
                                                          float* __restrict__ rstd, float eps, int B, int T, int d, int S,
                                                          int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage_rows(sm, Ys, true, b, B, d, S, np);
  const float4* sY = reinterpret_cast<const float4*>(sm);
  const int tEnd = min(T, (int)blockIdx.x * 64 + 64);
  int t = blockIdx.x * 64 + warp;
  float4 v[KP];
  float cl = 0.f;
  auto load = [&](int tt) {
    const long row = (long)b * T + tt;
    const float4* x4 = reinterpret_cast<const float4*>(xmid + row * d);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      v[k] = j < d4 ? x4[j] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    cl = lane < S ? C[row * S + lane] : 0.f;
  };
  if (t < tEnd) load(t);
  moe_stage_wait();
  for (; t < tEnd; t += 8) {
    const long row = (long)b * T + t;
    float cs[SM];
#pragma unroll
    for (int s = 0; s < SM; s++) cs[s] = __shfl_sync(0xffffffffu, cl, s);
    float4* o4 = reinterpret_cast<float4*>(xout + row * d);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      if (j < d4) {
        float4 acc = v[k];
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            const float4 yy = sY[s * d4 + j];
            acc.x += cs[s] * yy.x; acc.y += cs[s] * yy.y; acc.z += cs[s] * yy.z; acc.w += cs[s] * yy.w;
          }
        v[k] = acc;
        o4[j] = acc;
      }
    }
    if (nw) {
      float ss = 0.f;
#pragma unroll
      for (int k = 0; k < KP; k++) ss += dot4(v[k], v[k]);
      ss = warp_sum(ss);
      const float r = rsqrtf(ss / d + eps);
      const float4* w4 = reinterpret_cast<const float4*>(nw);
#pragma unroll
      for (int k = 0; k < KP; k++) {
        const int j = k * 32 + lane;
        if (j < d4) {
          const float4 ww = w4[j];
          st_bf16x4(y + row * d + 4 * j, make_float4(ww.x * (v[k].x * r), ww.y * (v[k].y * r), ww.z * (v[k].z * r), ww.w * (v[k].w * r)));
        }
      }
      if (lane == 0) rstd[row] = r;
    }
    if (t + 8 < tEnd) load(t + 8);
  }
}
// token backward 1: dD = rinv * x . dXs[s] (dC = dY . Ys[s] and dLC come from the norm backward above the layer,
// moe_norm_bwd_k, from the dY it writes). The sequence's dXs rows in shared memory, 64 rows of one sequence per block;
// each warp takes R = 4 rows at once (2 for more than 8 slots) and issues the loads of U = 4 column steps (128 bytes per
// lane) before it uses any; each lane sums its float4 columns c = lane + 32 m in increasing m, then warp_sum (as the
// kernel that also took dC did).
template <int SM>
__global__ void __launch_bounds__(256, 2) moe_tok_bwd1_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                          const float* __restrict__ dXs, float* __restrict__ dD, int B, int T,
                                                          int d, int S, int np) {
  constexpr int R = SM <= 8 ? 4 : 2, U = 4, V = 4;
  extern __shared__ float4 smem4[];
  const float* sX = reinterpret_cast<const float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = d / V;
  moe_stage_rows(reinterpret_cast<float*>(smem4), dXs, true, b, B, d, S, np);
  moe_stage_wait();
  for (int g = 0; g < 8 / R; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * R;
    if (t0 >= T) break;
    const int nv = min(R, T - t0);
    const long row0 = (long)b * T + t0;
    const float rv = lane < nv ? rinv[row0 + lane] : 0.f;
    float ad[R][SM];
#pragma unroll
    for (int k = 0; k < R; k++)
#pragma unroll
      for (int s = 0; s < SM; s++) ad[k][s] = 0.f;
    for (int c0 = lane; c0 < nc; c0 += 32 * U) {
      RawV<bf16, V> rx[U][R];
#pragma unroll
      for (int u = 0; u < U; u++)
        if (c0 + 32 * u < nc)
#pragma unroll
          for (int k = 0; k < R; k++)
            if (k < nv) rx[u][k].load(x + (row0 + k) * d + (long)(c0 + 32 * u) * V);
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int c = c0 + 32 * u;
        if (c >= nc) break;
        float xv[R][V];
#pragma unroll
        for (int k = 0; k < R; k++) {
          if (k < nv) rx[u][k].get(xv[k]);
          else {
#pragma unroll
            for (int v = 0; v < V; v++) xv[k][v] = 0.f;
          }
        }
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            const float4 e = *reinterpret_cast<const float4*>(sX + (long)s * d + (long)c * V);
            const float xs[V] = {e.x, e.y, e.z, e.w};
#pragma unroll
            for (int k = 0; k < R; k++)
#pragma unroll
              for (int v = 0; v < V; v++) ad[k][s] += xv[k][v] * xs[v];
          }
      }
    }
#pragma unroll
    for (int k = 0; k < R; k++) {
      if (k >= nv) break;
      const long row = row0 + k;
      const float ri = __shfl_sync(0xffffffffu, rv, k);
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          ad[k][s] = warp_sum(ad[k][s]) * ri;
          if (lane == 0) dD[row * S + s] = ad[k][s];
        }
    }
  }
}
// the backward of the RMSNorm above a Soft-MoE layer (the next layer's first norm, or the final norm), whose input is the
// layer's output: rmsnorm_bwd_k<KH>'s arithmetic and layout (a pair of warps per row, warp 2p+h owning the float4
// columns h*32*KH + lane + 32k, pair p taking rows p, p+4, ... of the block's 64; dres = or += dx; the weight gradient's
// per-64-row partials), then, from the row of dres it wrote (the gradient of the layer's output, dY), the layer's token
// backward 1 dC = dY . Ys[s] and dLC = C (dC - sum_s C dC), summed as the token kernel did: lane L over the float4
// columns L + 32 m in increasing m, which half 0 of the pair holds for m < KH and half 1 for m >= KH (half 1 continues
// half 0's sums, handed over through shared memory), then warp_sum and the epilogue in half 1. Saves token backward 1's
// read of dY (117 MB per layer at steel-1b). A block per sequence and 64-row tile (the norm kernel's blocks when
// T % 64 == 0: dres and the partials bit-identical to rmsnormBackward's; other T: a partial per tile); the sequence's Ys
// rows in shared memory; dres loaded after the pair's dot (fewer registers held across it); 2 blocks per SM.
template <int SM, int KH>
__global__ void __launch_bounds__(256, 2) moe_norm_bwd_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                          const float* __restrict__ w, const float* __restrict__ rstd,
                                                          float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                          const float* __restrict__ Ys, const float* __restrict__ C,
                                                          float* __restrict__ dLC, int B, int T, int d, int S, int np) {
  extern __shared__ float4 smem4[];      // the sequence's Ys rows [S][d4]
  __shared__ float4 sw[64 * KH];         // the weights, float4 columns
  __shared__ float4 sacc[8][32 * KH];    // per-warp weight-gradient sums (warp 2p+h: half h of the columns)
  __shared__ float sdot[4][2][2];        // [pair][row parity][half]
  __shared__ float shand[4][SM][32];     // half 0's dC sums per pair, slot and lane
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, pair = warp >> 1, half = warp & 1, d4 = d >> 2;
  moe_stage_rows(reinterpret_cast<float*>(smem4), Ys, true, b, B, d, S, np);
  for (int i = threadIdx.x; i < 64 * KH; i += 256)
    sw[i] = i < d4 ? reinterpret_cast<const float4*>(w)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int k = 0; k < KH; k++) sacc[warp][32 * k + lane] = make_float4(0.f, 0.f, 0.f, 0.f);
  moe_stage_wait();
  const float4* sY = smem4;
  const int c0 = half * 32 * KH + lane;  // this lane's float4 columns c0 + 32k
  const int t1 = min(T, (int)blockIdx.x * 64 + 64);
  int it = 0;
  for (int t = blockIdx.x * 64 + pair; t < t1; t += 4, it++) {
    const long row = (long)b * T + t;
    const float4* dy4 = reinterpret_cast<const float4*>(dy + row * d);
    const float4* x4 = reinterpret_cast<const float4*>(x + row * d);
    float4* o4 = reinterpret_cast<float4*>(dres + row * d);
    float4 ya[KH], xa[KH];
    const float r = rstd[row];
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      ya[k] = xa[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (j < d4) {
        ya[k] = dy4[j];
        xa[k] = x4[j];
      }
    }
    const float c = rms_bwd_row<KH>(ya, xa, sw, &sacc[warp][lane], r, sdot, pair, half, it, lane, c0, d);
    float4 vo[KH];
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      vo[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (j < d4) {
        vo[k] = rms_bwd_dx(ya[k], xa[k], sw[j], accumulate ? o4[j] : make_float4(0.f, 0.f, 0.f, 0.f), r, c);
        o4[j] = vo[k];
      }
    }
    // dC: half 0's sums over m < KH, handed to half 1, which continues over m >= KH
    float ac[SM];
#pragma unroll
    for (int s = 0; s < SM; s++) ac[s] = 0.f;
    if (half == 1) named_bar(1 + pair, 64);
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S) {
        if (half == 1) ac[s] = shand[pair][s][lane];
#pragma unroll
        for (int k = 0; k < KH; k++)
          if (c0 + 32 * k < d4) {
            const float4 yy = sY[s * d4 + c0 + 32 * k], v = vo[k];
            ac[s] += v.x * yy.x; ac[s] += v.y * yy.y; ac[s] += v.z * yy.z; ac[s] += v.w * yy.w;
          }
        if (half == 0) shand[pair][s][lane] = ac[s];
      }
    if (half == 0) {
      named_bar(1 + pair, 64);
      continue;
    }
    float cdot = 0.f;
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S) { ac[s] = warp_sum(ac[s]); cdot += C[row * S + s] * ac[s]; }
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S && lane == 0) dLC[row * S + s] = C[row * S + s] * (ac[s] - cdot);
  }
  __syncthreads();
  rms_bwd_partial<KH>(&sacc[0][0], reinterpret_cast<float4*>(dwpart + ((long)blockIdx.y * gridDim.x + blockIdx.x) * d), d4,
                      threadIdx.x, 256);
}
// token backward 2 fused with the RMSNorm backward that follows it in the backward pass (the layer's second norm, whose
// output is this layer's input x): per row dxn = rinv (g - xhat (xhat . g)) with g = sum_s D dXs[s] + dL phihat[:, s] and
// xhat . g = sum_s D dD + dL Lg (dD = xhat . dXs[s] from moe_tok_bwd1_k, Lg = xhat . phihat[:, s] from the forward
// router), each element's g summed in slot order as the unfused token kernel did; then that norm's backward on dxn with
// rmsnorm_bwd_k<KH>'s arithmetic (dres += dx, bf16(dres) into dresb, the weight gradient's per-64-row partials into
// dwpart), without writing dxn and reading it back (234 MB per layer at steel-1b). A block of 16 warps takes two 64-row
// tiles of one sequence, sharing the staged dXs and phihat rows (shared memory; the staging overlaps the norm weights'
// load); in each tile a pair of warps per row (warp 2p+h owns the float4 columns h*32*KH + lane + 32k), pair p taking
// rows p, p+4, ... and summing the weight gradient in shared memory, the 4 pairs summed in order at the end: the norm
// kernel's rows per block and per pair when T % 64 == 0, so dres, dresb and the partials are bit-identical to token
// backward 2 followed by rmsnormBackward (other T: a partial per sequence and 64-row tile; colreduce_k sums them in order).
template <int SM, int KH>
__global__ void __launch_bounds__(512, 1) moe_tok_bwd2_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                          const float* __restrict__ D, const float* __restrict__ dL,
                                                          const float* __restrict__ dD, const float* __restrict__ Lg,
                                                          const float* __restrict__ phihatT, const float* __restrict__ dXs,
                                                          const float* __restrict__ xn, const float* __restrict__ nw,
                                                          const float* __restrict__ nrstd, float* __restrict__ dres,
                                                          float* __restrict__ dwpart, bf16* __restrict__ dresb, int B, int T,
                                                          int d, int S, int np) {
  extern __shared__ float4 smem4[];  // [S * d4] dXs rows, [S * d4] phihat rows, [16][32 * KH] per-warp weight-gradient sums
  __shared__ float4 sw[64 * KH];     // the norm's weights, float4 columns
  __shared__ float sdot[8][2][2];    // [pair][row parity][half]
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, pair = warp >> 1, half = warp & 1, d4 = d >> 2;
  const int tile = 2 * blockIdx.x + (pair >> 2), ntile = (T + 63) / 64;
  float* sm = reinterpret_cast<float*>(smem4);
  moe_stage_rows(sm, dXs, true, b, B, d, S, np);
  moe_stage_rows(sm + (long)S * d, phihatT, false, b, B, d, S, np);
  for (int i = threadIdx.x; i < 64 * KH; i += blockDim.x)
    sw[i] = i < d4 ? reinterpret_cast<const float4*>(nw)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
  const float4* sX = smem4;
  const float4* sP = smem4 + (long)S * d4;
  float4* sacc = smem4 + 2L * S * d4;
  const int c0 = half * 32 * KH + lane;  // this lane's float4 columns c0 + 32k
#pragma unroll
  for (int k = 0; k < KH; k++) sacc[warp * 32 * KH + 32 * k + lane] = make_float4(0.f, 0.f, 0.f, 0.f);
  moe_stage_wait();
  const int t1 = min(T, tile * 64 + 64);
  int it = 0;
  for (int t = tile * 64 + (pair & 3); t < t1; t += 4, it++) {
    const long row = (long)b * T + t;
    const float4* xn4 = reinterpret_cast<const float4*>(xn + row * d);
    float4 xa[KH];
    uint2 xb[KH];
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      xa[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      xb[k] = make_uint2(0u, 0u);
      if (j < d4) {
        xa[k] = xn4[j];
        xb[k] = *reinterpret_cast<const uint2*>(x + row * d + 4 * j);
      }
    }
    const float ri = rinv[row], r = nrstd[row];
    float dot = 0.f;
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S) dot += D[row * S + s] * dD[row * S + s] + dL[row * S + s] * Lg[row * S + s];
    const float cq = ri * dot;
    // dxn for this lane's columns (zero where j >= d4, as the norm kernel's padded loads)
    float4 ya[KH];
#pragma unroll
    for (int k = 0; k < KH; k++) ya[k] = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int s = 0; s < SM; s++)
      if (s < S) {
        const float dr = D[row * S + s], lr = dL[row * S + s];
#pragma unroll
        for (int k = 0; k < KH; k++) {
          const int j = c0 + 32 * k;
          if (j < d4) {
            const float4 a = sX[s * d4 + j], p = sP[s * d4 + j];
            ya[k].x += dr * a.x + lr * p.x; ya[k].y += dr * a.y + lr * p.y;
            ya[k].z += dr * a.z + lr * p.z; ya[k].w += dr * a.w + lr * p.w;
          }
        }
      }
#pragma unroll
    for (int k = 0; k < KH; k++)
      if (c0 + 32 * k < d4) {
        const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&xb[k]);
        const float2 xl = __bfloat1622float2(h2[0]), xh = __bfloat1622float2(h2[1]);
        const float4 g = ya[k];
        ya[k] = make_float4(ri * (g.x - xl.x * cq), ri * (g.y - xl.y * cq), ri * (g.z - xh.x * cq), ri * (g.w - xh.y * cq));
      }
    // the norm's backward on the row (rmsnorm_bwd_k's arithmetic)
    const float c = rms_bwd_row<KH>(ya, xa, sw, sacc + warp * 32 * KH + lane, r, sdot, pair, half, it, lane, c0, d);
    float4* o4 = reinterpret_cast<float4*>(dres + row * d);
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      if (j < d4) {
        const float4 v = rms_bwd_dx(ya[k], xa[k], sw[j], o4[j], r, c);
        o4[j] = v;
        st_bf16x4(dresb + row * d + 4 * j, v);
      }
    }
  }
  __syncthreads();
  if (tile >= ntile) return;  // (whole half-blocks: the barrier above was the last)
  rms_bwd_partial<KH>(sacc + (pair >> 2) * 8 * 32 * KH, reinterpret_cast<float4*>(dwpart + ((long)b * ntile + tile) * d), d4,
                      threadIdx.x & 255, 256);  // this tile's 8 warps
}
// host side: the launch configuration and the forward / backward of one layer
struct MoeW {  // offsets into the flat parameter buffers
  long phi, scale, eguw, egdw;
};
struct MoeAct {  // saved activations of one layer
  const bf16* xn2;  // the normalised input [N, d] (bf16)
  float *rinv, *Lg, *D, *C, *slots, *Ys, *phihat, *phinorm;
  bf16 *slotsb, *gu1, *h1, *gd2;
};
struct MoeNormBwd {  // the backward of the RMSNorm whose output is the layer's input (SoftMoe::backward)
  const float *x, *w, *rstd;  // the norm's input, weights and 1 / rms per row
  float* dres;                // += the gradient of x
  bf16* dresb;                // = bf16(dres)
  float *part, *gw;           // weight-gradient partials (scratch), += the weight gradient
};
struct MoeScratch {  // shared by all layers (backward)
  float *dYs, *dXs, *dh, *dC, *dD, *dL, *dph, *mpart;
  bf16* dgu;
};
struct SoftMoe {
  int d = 0, I = 0, ne = 0, np = 0, S = 0, SM = 16, V = 4;
  size_t smem = 0;
  void setup(int d_, int I_, int ne_, int np_) {
    d = d_, I = I_, ne = ne_, np = np_, S = ne * np;
    if (S > MAXS) throw std::runtime_error(strf("cuda backend: at most %d Soft-MoE slots (got %d)", MAXS, S));
    if (d % 4) throw std::runtime_error(strf("cuda backend: Soft-MoE needs hiddenSize %% 4 == 0 (got %d)", d));
    if (d > 128 * 14) throw std::runtime_error(strf("cuda backend: Soft-MoE needs hiddenSize <= %d (got %d)", 128 * 14, d));
    smem = (size_t)2 * S * d * sizeof(float);
    int dev, maxOptin = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&maxOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    const int kh = d <= 128 * 4 ? 2 : 7;  // token backward 2 + norm: its dynamic and static shared memory
    const size_t need = tok2Smem(kh) + (size_t)64 * kh * sizeof(float4) + 8 * 2 * 2 * sizeof(float);
    if (need > (size_t)maxOptin)
      throw std::runtime_error(strf("cuda backend: Soft-MoE with %d slots of width %d needs %zu bytes of shared memory per block "
                                    "(%d available)", S, d, need, maxOptin));
    SM = S <= 4 ? 4 : S <= 6 ? 6 : S <= 8 ? 8 : 16;  // the kernels' slot loops unrolled to SM (Steel: 6 experts x 1 slot)
    V = d % 8 == 0 ? 8 : 4;                          // columns per thread of the router and the token reductions
    withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      CK(cudaFuncSetAttribute(moe_tok_bwd1_k<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem / 2));
      CK(cudaFuncSetAttribute(moe_norm_bwd_k<K, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem / 2));
      CK(cudaFuncSetAttribute(moe_norm_bwd_k<K, 7>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem / 2));
      CK(cudaFuncSetAttribute(moe_tok_bwd2_k<K, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)tok2Smem(2)));
      CK(cudaFuncSetAttribute(moe_tok_bwd2_k<K, 7>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)tok2Smem(7)));
      CK(cudaFuncSetAttribute(moe_combine_k<K, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      CK(cudaFuncSetAttribute(moe_combine_k<K, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      CK(cudaFuncSetAttribute(moe_combine_k<K, 14>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      CK(cudaFuncSetAttribute(moe_logits_k<K, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      CK(cudaFuncSetAttribute(moe_logits_k<K, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      withNorm([&](auto kp, auto v) {
        CK(cudaFuncSetAttribute(moe_norm_router_k<K, decltype(kp)::value, decltype(v)::value>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize, (int)normRouterSmem()));
      });
    });
  }
  // norm + router: phihat^T and a bf16 row per warp
  size_t normRouterSmem() const { return smem / 2 + (size_t)8 * d * sizeof(bf16); }
  // f(integral_constant KP, integral_constant V): the norm + router kernel's row width (rmsnormForward's KP float4 per
  // lane) and the router's columns per lane
  template <class F>
  void withNorm(F f) const {
    const int d4 = d / 4;
    auto byKP = [&](auto v) {
      if (d4 <= 32 * 4) f(std::integral_constant<int, 4>(), v);
      else if (d4 <= 32 * 8) f(std::integral_constant<int, 8>(), v);
      else f(std::integral_constant<int, 14>(), v);
    };
    if (V == 8) byKP(std::integral_constant<int, 8>());
    else byKP(std::integral_constant<int, 4>());
  }
  // token backward 2 + norm: the staged rows and the 16 warps' weight-gradient sums (KH float4 per lane)
  size_t tok2Smem(int kh) const { return smem + (size_t)512 * kh * sizeof(float4); }
  // f(std::integral_constant<int, SM>): the launches, instantiated for each bound
  template <class F>
  void withSM(F f) const {
    if (SM == 4) f(std::integral_constant<int, 4>());
    else if (SM == 6) f(std::integral_constant<int, 6>());
    else if (SM == 8) f(std::integral_constant<int, 8>());
    else f(std::integral_constant<int, 16>());
  }
  // token splits of the reductions for sequences of T tokens (the weights of a split fit the 4,096-float buffer); at most
  // T (a decoding step has T = 1: one split instead of 31 empty ones written and re-read)
  static int splits(int T, int S) { return std::min(T, std::max(32, (T + 4096 / S - 1) / (4096 / S))); }
  size_t mpartFloats(int B, int T) const { return (size_t)splits(T, S) * B * S * d; }
  // part -> out (mode 0: slot rows [B*S, d] + bf16 copy; mode 1: dphi [d, S])
  template <typename TI>
  void wreduce(const TI* X, const float* W, const float* rs, int B, int T, int mode, float* out, bf16* outb, float* mpart) {
    const int ts = splits(T, S), tPer = (T + ts - 1) / ts;
    const int v = V == 8 && SM <= 8 ? 8 : 4, chunks = d / v, gx = (chunks + 255) / 256;
    const int bd = ((chunks + gx - 1) / gx + 31) / 32 * 32;
    const dim3 grid(gx, B, ts);
    withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (K <= 8) {  // 8 columns x 16 slots would not fit the registers
        if (V == 8) {
          moe_wreduce_k<TI, 8, K><<<grid, bd, 0, g_stream>>>(X, W, rs, mpart, B, T, d, S, tPer);
          return;
        }
      }
      moe_wreduce_k<TI, 4, K><<<grid, bd, 0, g_stream>>>(X, W, rs, mpart, B, T, d, S, tPer);
    });
    KCHECK("moe_wreduce");
    if (mode == 0) moe_wreduce_fin_k<<<nblk((long)B * S * d), 256, 0, g_stream>>>(mpart, ts, B, S, d, np, mode, out, outb);
    else moe_wreduce_fin_k<<<dim3(nblk(d, 32), S), 256, 0, g_stream>>>(mpart, ts, B, S, d, np, mode, out, outb);
    KCHECK("moe_wreduce_fin");
  }
  // the router weights phihat (and the norms phinorm) of n layers, from their phi and scale: before forward()
  void phi(const float* P, const MoeW* const* w, MoeAct* const* a, int n) {
    for (int l0 = 0; l0 < n; l0 += MOE_PHI_LAYERS) {
      const int m = std::min(n - l0, MOE_PHI_LAYERS);
      MoePhiArgs args{};
      for (int i = 0; i < m; i++) {
        args.phi[i] = P + w[l0 + i]->phi;
        args.scale[i] = P + w[l0 + i]->scale;
        args.phihatT[i] = a[l0 + i]->phihat;
        args.phinorm[i] = a[l0 + i]->phinorm;
      }
      moe_phi_k<<<m, 1024, 0, g_stream>>>(args, d, S);
      KCHECK("moe_phi");
    }
  }
  // the router (a.rinv, a.Lg, a.C) on a.xn2 (N rows), with a.phihat from phi()
  void router(MoeAct& a, long N) {
    const unsigned nb = (unsigned)((N + 63) / 64);
    withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      if (V == 8) moe_logits_k<K, 8><<<nb, 256, smem / 2, g_stream>>>(a.xn2, a.phihat, a.rinv, a.Lg, a.C, N, d, S);
      else moe_logits_k<K, 4><<<nb, 256, smem / 2, g_stream>>>(a.xn2, a.phihat, a.rinv, a.Lg, a.C, N, d, S);
    });
    KCHECK("moe_logits");
  }
  // the RMSNorm before the layer (rmsnormForward(xin, delta, xout, w, y, rstd, N, d, eps)'s outputs, bit-identical where
  // rmsnormWarpPerRow(N, d); y: the layer's input a.xn2) and the router on y, in one pass; forward(..., routed = true)
  // then skips the router
  void normRouter(const float* xin, const bf16* delta, float* xout, const float* w, bf16* y, float* rstd, float eps, MoeAct& a,
                  long N) {
    const unsigned nb = (unsigned)((N + 63) / 64);
    withSM([&](auto k) {
      withNorm([&](auto kp, auto v) {
        moe_norm_router_k<decltype(k)::value, decltype(kp)::value, decltype(v)::value><<<nb, 256, normRouterSmem(), g_stream>>>(
            xin, delta, xout, w, y, rstd, eps, a.phihat, a.rinv, a.Lg, a.C, N, d, S);
      });
    });
    KCHECK("moe_norm_router");
  }
  // xout = xmid + SoftMoE(xn2), with a.phihat from phi() and, when routed, the router's outputs from normRouter(); P / PB: fp32 / bf16 parameters. nw (optional): the weights of the RMSNorm that follows
  // (rmsnormForward's, with the same KP); then ny = bf16(RMSNorm(xout) * nw) and nrstd are written too, bit-identical
  // to rmsnormForward(xout, nullptr, nullptr, nw, ny, nrstd, B * T, d, eps) on B * T rows
  void forward(Gemm& gemm, const float* P, const bf16* PB, const MoeW& w, MoeAct& a, const float* xmid, float* xout, int B,
               int T, float* mpart, Prof& prof, bool routed, const float* nw = nullptr, bf16* ny = nullptr,
               float* nrstd = nullptr, float eps = 0.f) {
    const long N = (long)B * T, R = (long)B * np;
    if (!routed) router(a, N);
    moe_dispatch_k<<<B * S, 256, 0, g_stream>>>(a.Lg, a.D, T, S);
    KCHECK("moe_dispatch");
    prof.mark("moe_f_router");
    wreduce<bf16>(a.xn2, a.D, a.rinv, B, T, 0, a.slots, a.slotsb, mpart);
    prof.mark("moe_f_slots");
    // experts, batched over ne: [R, d] -> [R, 2I] -> [R, I] -> [R, 2d] -> Ys [R, d]
    gemm.run(false, true, (int)R, 2 * I, d, a.slotsb, d, PB + w.eguw, d, a.gu1, 2 * I, false, 1.f, 0.f, nullptr, ne, R * d,
             2L * I * d, R * 2 * I);
    swiglu_fwd_k<bf16><<<nblk((long)ne * R * I), 256, 0, g_stream>>>(a.gu1, a.h1, ne * R, I);
    KCHECK("swiglu1");
    gemm.run(false, true, (int)R, 2 * d, I, a.h1, I, PB + w.egdw, I, a.gd2, 2 * d, false, 1.f, 0.f, nullptr, ne, R * I,
             2L * d * I, R * 2 * d);
    swiglu_fwd_k<float><<<nblk((long)ne * R * d), 256, 0, g_stream>>>(a.gd2, a.Ys, ne * R, d);
    KCHECK("swiglu2");
    prof.mark("moe_f_experts");
    const dim3 tg((T + 63) / 64, B);
    const int d4 = d / 4;  // rmsnormForward's row widths (KP float4 per lane)
    withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      if (d4 <= 32 * 4) moe_combine_k<K, 4><<<tg, 256, smem / 2, g_stream>>>(xmid, a.C, a.Ys, xout, nw, ny, nrstd, eps, B, T, d, S, np);
      else if (d4 <= 32 * 8) moe_combine_k<K, 8><<<tg, 256, smem / 2, g_stream>>>(xmid, a.C, a.Ys, xout, nw, ny, nrstd, eps, B, T, d, S, np);
      else moe_combine_k<K, 14><<<tg, 256, smem / 2, g_stream>>>(xmid, a.C, a.Ys, xout, nw, ny, nrstd, eps, B, T, d, S, np);
    });
    KCHECK("moe_combine");
    prof.mark("moe_f_combine");
  }
  // the backward of the RMSNorm whose input is the layer's output (the next layer's first norm, or the final norm) with
  // the layer's token backward 1 dC / dLC from the gradient it writes (into s.dC): rmsnormBackward(dy, x, w, rstd, dres,
  // acc, B * T, d, nullptr, part, gw)'s results (bit-identical when T % 64 == 0); part: B * ceil(T / 64) * d floats.
  // Before backward() of the layer below (a: its activations)
  void normBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dres, bool acc, float* part,
                    float* gw, const MoeAct& a, MoeScratch& s, int B, int T) {
    const dim3 tg((T + 63) / 64, B);
    withSM([&](auto k) {  // rmsnormBackward's row widths (KH float4 per lane of a warp pair)
      constexpr int K = decltype(k)::value;
      if (d <= 128 * 4)
        moe_norm_bwd_k<K, 2><<<tg, 256, smem / 2, g_stream>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, a.Ys, a.C, s.dC, B, T, d, S, np);
      else
        moe_norm_bwd_k<K, 7><<<tg, 256, smem / 2, g_stream>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, a.Ys, a.C, s.dC, B, T, d, S, np);
    });
    KCHECK("moe_norm_bwd");
    colreduce_k<<<nblk(d, 32), 256, 0, g_stream>>>(part, B * ((T + 63) / 64), d, gw);
    KCHECK("colreduce");
  }
  // dR: gradient of xout (s.dC already holds dLC from normBackward()); the gradient of xn2 goes straight into the backward
  // of the RMSNorm that produced xn2 (n), fused into token backward 2: n.dres += its dx, n.dresb = bf16(n.dres), n.gw +=
  // its weight gradient (n.part: scratch of B * ceil(T / 64) * d floats); gradients accumulate into G
  void backward(Gemm& gemm, const float* P, const bf16* PB, float* G, const MoeW& w, const MoeAct& a, const float* dR,
                const MoeNormBwd& n, int B, int T, MoeScratch& s, Prof& prof, float gb) {  // gb: beta of the expert weight gradients' GEMMs
    const long R = (long)B * np;
    wreduce<float>(dR, a.C, nullptr, B, T, 0, s.dYs, nullptr, s.mpart);
    prof.mark("moe_b_dYs");
    swiglu_bwd_k<<<nblk((long)ne * R * d), 256, 0, g_stream>>>(a.gd2, s.dYs, s.dgu, ne * R, d);
    KCHECK("swiglu_bwd2");
    // dh [R, I] = dgd [R, 2d] . Wgd [2d, I]; dWgd += dgd^T . h
    gemm.run(false, false, (int)R, I, 2 * d, s.dgu, 2 * d, PB + w.egdw, I, s.dh, I, true, 1.f, 0.f, nullptr, ne, R * 2 * d,
             2L * d * I, R * I);
    gemm.run(true, false, 2 * d, I, (int)R, s.dgu, 2 * d, a.h1, I, G + w.egdw, I, true, 1.f, gb, nullptr, ne, R * 2 * d, R * I,
             2L * d * I);
    swiglu_bwd_k<<<nblk((long)ne * R * I), 256, 0, g_stream>>>(a.gu1, s.dh, s.dgu, ne * R, I);
    KCHECK("swiglu_bwd1");
    gemm.run(false, false, (int)R, d, 2 * I, s.dgu, 2 * I, PB + w.eguw, d, s.dXs, d, true, 1.f, 0.f, nullptr, ne, R * 2 * I,
             2L * I * d, R * d);
    gemm.run(true, false, 2 * I, d, (int)R, s.dgu, 2 * I, a.slotsb, d, G + w.eguw, d, true, 1.f, gb, nullptr, ne, R * 2 * I,
             R * d, 2L * I * d);
    prof.mark("moe_b_experts");
    const dim3 tg((T + 63) / 64, B);
    withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      moe_tok_bwd1_k<K><<<tg, 256, smem / 2, g_stream>>>(a.xn2, a.rinv, s.dXs, s.dD, B, T, d, S, np);
    });
    KCHECK("moe_tok_bwd1");
    prof.mark("moe_b_tok1");
    moe_dispatch_bwd_k<<<B * S, 256, 0, g_stream>>>(a.D, s.dD, s.dC, s.dL, T, S);
    KCHECK("moe_dispatch_bwd");
    withSM([&](auto k) {  // rmsnormBackward's row widths (KH float4 per lane of a warp pair)
      constexpr int K = decltype(k)::value;
      const dim3 tg2((T + 127) / 128, B);
      if (d <= 128 * 4)
        moe_tok_bwd2_k<K, 2><<<tg2, 512, tok2Smem(2), g_stream>>>(a.xn2, a.rinv, a.D, s.dL, s.dD, a.Lg, a.phihat, s.dXs, n.x, n.w,
                                                                 n.rstd, n.dres, n.part, n.dresb, B, T, d, S, np);
      else
        moe_tok_bwd2_k<K, 7><<<tg2, 512, tok2Smem(7), g_stream>>>(a.xn2, a.rinv, a.D, s.dL, s.dD, a.Lg, a.phihat, s.dXs, n.x, n.w,
                                                                 n.rstd, n.dres, n.part, n.dresb, B, T, d, S, np);
    });
    KCHECK("moe_tok_bwd2");
    colreduce_k<<<nblk(d, 32), 256, 0, g_stream>>>(n.part, B * ((T + 63) / 64), d, n.gw);
    KCHECK("colreduce");
    prof.mark("moe_b_tok2_norm");
    wreduce<bf16>(a.xn2, s.dL, a.rinv, B, T, 1, s.dph, nullptr, s.mpart);
    moe_phi_bwd_k<<<1, 1024, 0, g_stream>>>(P + w.phi, P + w.scale, a.phinorm, s.dph, G + w.phi, G + w.scale, d, S);
    KCHECK("moe_phi_bwd");
    prof.mark("moe_b_dphi");
  }
};
