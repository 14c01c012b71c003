// RoPE (rotate-half, fp32 cos/sin tables [T, hd/2]) in place on the q and k columns of the fused [q|k|v] bf16 rows.
// The backward is no pass of its own: the attention backward kernels apply the inverse rotation to dq / dk in their
// epilogues and write the q/k/v bias gradient's per-64-row column partials (attention.cuh, attn_rope_bwd; colreduce_k
// sums them in a fixed order). Limit: hd % 8 == 0.
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
