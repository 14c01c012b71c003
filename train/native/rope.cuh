// RoPE (rotate-half, fp32 cos/sin tables [T, hd/2]) in place on the q and k columns of the fused [q|k|v] bf16 rows.
// The backward applies the inverse rotation to dq/dk in the same pass that sums every column of d[q|k|v] into the
// q/k/v bias gradient (per-block partials, then colreduce_k: fixed order). Limit: hd % 8 == 0.
// Checks: gpu-check `cpu` (q/k/v weights and biases against the CPU backend) and `torch`.
#pragma once
#include <cmath>
#include <vector>
#include "common.cuh"

// forward (in place on the q and k columns of the [q|k|v] rows): a thread owns 4 adjacent pair positions p..p+3
// (8-byte accesses at columns p and p + hd/2) of one q/k head (unit u < U1 = (H+Hk)*hd/8, blockIdx.y*64 + threadIdx.x)
// for RP consecutive rows (blockIdx.x*RP ..), all RP rows' loads issued before any store; 32-bit index math.
template <int RP>
__global__ void __launch_bounds__(64) rope_fwd_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn,
                                              int N, int T, int H, int Hk, int hd, int ldq, int koff) {
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
      const float4 sk = s[k];
      const float4 oa = make_float4(a[k].x * c[k].x - b[k].x * sk.x, a[k].y * c[k].y - b[k].y * sk.y,
                                    a[k].z * c[k].z - b[k].z * sk.z, a[k].w * c[k].w - b[k].w * sk.w);
      const float4 ob = make_float4(b[k].x * c[k].x + a[k].x * sk.x, b[k].y * c[k].y + a[k].y * sk.y,
                                    b[k].z * c[k].z + a[k].z * sk.z, b[k].w * c[k].w + a[k].w * sk.w);
      bf16* base = x + (size_t)(r0 + k) * ldq + c0;
      st_bf16x4(base, oa);
      st_bf16x4(base + half, ob);
    }
}
__global__ void __launch_bounds__(128) rope_bwd_bias_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn,
                                               int N, int T, int H, int Hk, int hd, int ldq, int koff, int rowsPer,
                                               float* __restrict__ part) {
  const int hp4 = hd >> 3, half = hd >> 1, U1 = (H + Hk) * hp4, U = U1 + ((Hk * hd) >> 2);
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
          s.x = -s.x; s.y = -s.y; s.z = -s.z; s.w = -s.w;  // the inverse rotation
          const float4 oa = make_float4(a[k].x * c.x - b[k].x * s.x, a[k].y * c.y - b[k].y * s.y, a[k].z * c.z - b[k].z * s.z,
                                        a[k].w * c.w - b[k].w * s.w);
          const float4 ob = make_float4(b[k].x * c.x + a[k].x * s.x, b[k].y * c.y + a[k].y * s.y, b[k].z * c.z + a[k].z * s.z,
                                        b[k].w * c.w + a[k].w * s.w);
          bf16* base = x + (long)(rb + k) * ldq + c0;
          st_bf16x4(base, oa);
          st_bf16x4(base + half, ob);
          add4(s0, bf16r4(oa));
          add4(s1, bf16r4(ob));
        }
    }
    *reinterpret_cast<float4*>(part + (long)blockIdx.y * ldq + c0) = s0;
    *reinterpret_cast<float4*>(part + (long)blockIdx.y * ldq + c0 + half) = s1;
  } else {
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

// cos/sin tables [T, hd/2] for positions 0..T-1 (host, double precision, then fp32)
static void ropeTables(float* cosT, float* sinT, int T, int hd, double theta) {
  const int h = hd / 2;
  std::vector<float> cs((size_t)T * h), sn((size_t)T * h);
  for (int i = 0; i < h; i++) {
    double inv = 1.0 / std::pow(theta, (2.0 * i) / hd);
    for (int t = 0; t < T; t++) {
      double a = t * inv;
      cs[(size_t)t * h + i] = (float)std::cos(a);
      sn[(size_t)t * h + i] = (float)std::sin(a);
    }
  }
  CK(cudaMemcpy(cosT, cs.data(), cs.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(sinT, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice));
}
// x: N rows of ldq bf16, q heads at column 0, k heads at koff
static void ropeForward(bf16* x, const float* cosT, const float* sinT, long N, int T, int H, int Hk, int hd, int ldq, int koff) {
  rope_fwd_k<4><<<dim3(nblk(N, 4), nblk((long)(H + Hk) * (hd / 8), 64)), 64, 0, g_stream>>>(x, cosT, sinT, (int)N, T, H, Hk, hd, ldq, koff);
  KCHECK("rope_fwd");
}
// inverse rotation of dq/dk in place, and gb (ldq floats) += column sums of the whole d[q|k|v] row; part: scratch of
// ceil(N / 64) * ldq floats
static void ropeBackwardBias(bf16* dx, const float* cosT, const float* sinT, long N, int T, int H, int Hk, int hd, int ldq,
                             int koff, float* part, float* gb) {
  const int rowsPer = 64;
  const int nb = (int)((N + rowsPer - 1) / rowsPer);
  rope_bwd_bias_k<<<dim3(nblk((long)(H + Hk) * (hd / 8) + Hk * hd / 4, 128), nb), 128, 0, g_stream>>>(dx, cosT, sinT, (int)N, T, H, Hk, hd,
                                                                                       ldq, koff, rowsPer, part);
  KCHECK("rope_bwd_bias");
  colreduce_k<<<nblk(ldq, 32), 256, 0, g_stream>>>(part, nb, ldq, gb);
  KCHECK("colreduce");
}
