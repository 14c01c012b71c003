// RoPE (rotate-half, fp32 cos/sin tables [T, hd/2]) in place on the q and k columns of the fused [q|k|v] bf16 rows.
// The backward is no pass of its own: the attention backward kernels apply the inverse rotation to dq / dk in their
// epilogues and write the q/k/v bias gradient's per-64-row column partials (attention.cuh, attn_rope_bwd; colreduce_k
// sums them in a fixed order). Limit: hd % 8 == 0.
// Checks: gpu-check `cpu` (q/k/v weights and biases against the CPU backend) and `torch`.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>
#include "common.cuh"

// forward (in place on the q and k columns of the [q|k|v] rows), through shared memory: a block of 256 threads takes rp
// consecutive rows; their q and k heads are read into shared memory with 16-byte loads (consecutive threads,
// consecutive 16 bytes: one contiguous run per row when koff = H*hd; up to 8 loads per thread issued before any is
// stored), the rows' cos/sin table rows beside them; then each thread rotates 8 columns of a head (two groups of 4
// adjacent columns, each wholly in the first or the second half: its partners hd/2 away, read from shared memory) and
// writes them back with one 16-byte store. The products are the old kernel's (a c - b s and b c + a s per pair, fp32
// from bf16, rounded once), so the output is bit-identical to it. (The old kernel: a thread per 4 pairs of a head, 8-byte
// accesses at columns p and p + hd/2, the table read per row and thread: ~1.7 ms per steel-1b step for 1.06 ms of bytes.)
// Needs hd % 8 == 0 and ldq, koff multiples of 8 (16-byte aligned rows and heads).
#define ROPE_PER 8  // 16-byte chunks per thread and pass
__global__ void __launch_bounds__(256) rope_fwd_k(bf16* __restrict__ x, const float* __restrict__ cs,
                                                  const float* __restrict__ sn, int N, int T, int H, int Hk, int hd, int ldq,
                                                  int koff, int rp) {
  extern __shared__ uint4 rsm[];  // rp rows of U8 chunks (8 bf16 each), then rp x half cos, rp x half sin
  const int h8 = hd >> 3, half = hd >> 1, U8 = (H + Hk) * h8;
  const int r0 = blockIdx.x * rp, nr = min(rp, N - r0), total = nr * U8;
  float* tc = reinterpret_cast<float*>(rsm + (size_t)rp * U8);
  float* ts = tc + rp * half;
  auto col = [&](int u) {  // column of chunk u of a row
    const int hh = u / h8;
    return (hh < H ? hh * hd : koff + (hh - H) * hd) + (u - hh * h8) * 8;
  };
  for (int base = 0; base < total; base += 256 * ROPE_PER) {
    uint4 v[ROPE_PER];
#pragma unroll
    for (int k = 0; k < ROPE_PER; k++) {
      const int i = base + k * 256 + threadIdx.x;
      if (i < total) {
        const int r = i / U8;
        v[k] = *reinterpret_cast<const uint4*>(x + (size_t)(r0 + r) * ldq + col(i - r * U8));
      }
    }
#pragma unroll
    for (int k = 0; k < ROPE_PER; k++) {
      const int i = base + k * 256 + threadIdx.x;
      if (i < total) rsm[i] = v[k];
    }
  }
  for (int i = threadIdx.x; i < nr * half; i += 256) {
    const int r = i / half, p = i - r * half, tt = (r0 + r) % T;
    tc[i] = cs[tt * half + p];
    ts[i] = sn[tt * half + p];
  }
  __syncthreads();
  const bf16* sb = reinterpret_cast<const bf16*>(rsm);
  for (int i = threadIdx.x; i < total; i += 256) {
    const int r = i / U8, u = i - r * U8, hh = u / h8, w = (u - hh * h8) * 8;
    const bf16* hb = sb + ((size_t)r * U8 + (size_t)hh * h8) * 8;  // the head's hd values
    float own[8], o[8];
    unpack8(rsm[i], own);
#pragma unroll
    for (int g = 0; g < 2; g++) {
      const int q0 = w + 4 * g;
      const bool first = q0 < half;
      const int p0 = first ? q0 : q0 - half;  // the pairs' index
      const float4 ot = ld_bf16x4(hb + (first ? q0 + half : p0));
      const float4 c = *reinterpret_cast<const float4*>(tc + r * half + p0);
      const float4 s = *reinterpret_cast<const float4*>(ts + r * half + p0);
      const float* e = own + 4 * g;
      if (first) {  // a = own, b = its partner: a c - b s
        o[4 * g] = e[0] * c.x - ot.x * s.x, o[4 * g + 1] = e[1] * c.y - ot.y * s.y;
        o[4 * g + 2] = e[2] * c.z - ot.z * s.z, o[4 * g + 3] = e[3] * c.w - ot.w * s.w;
      } else {  // b = own, a = its partner: b c + a s
        o[4 * g] = e[0] * c.x + ot.x * s.x, o[4 * g + 1] = e[1] * c.y + ot.y * s.y;
        o[4 * g + 2] = e[2] * c.z + ot.z * s.z, o[4 * g + 3] = e[3] * c.w + ot.w * s.w;
      }
    }
    *reinterpret_cast<uint4*>(x + (size_t)(r0 + r) * ldq + col(u)) = pack8(o);
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
  const size_t row = (size_t)(H + Hk) * hd * 2 + (size_t)hd * 4;  // a row's shared memory: q|k heads, cos and sin
  const int rp = (int)std::max<size_t>(1, std::min<size_t>(4, (40 << 10) / row));
  rope_fwd_k<<<nblk(N, rp), 256, rp * row, g_stream>>>(x, cosT, sinT, (int)N, T, H, Hk, hd, ldq, koff, rp);
  KCHECK("rope_fwd");
}
