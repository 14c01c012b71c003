// RMSNorm (Qwen2: y = w * x / sqrt(mean(x^2) + eps)), forward fused with the residual add, backward fused with the
// residual-gradient accumulation and the bf16 copy the next GEMM reads. fp32 in, bf16 out. Deterministic: the weight
// gradient is reduced in a fixed order (per-block partials, then colreduce_k). Limits: d % 4 == 0, d <= RMS_MAX_D.
// softmoe.cuh fuses the forward and backward around a Soft-MoE layer into its token kernels with this file's row
// arithmetic (rmsnorm_fwd_k's expressions; the backward's rms_bwd_* helpers).
// Checks: gpu-check `cpu` (every norm weight's gradient and the loss/logits against the CPU backend).
#pragma once
#include "common.cuh"

#define RMS_MAX_D (128 * 14)  // the forward keeps 14 float4 per lane of the row in registers, the backward 7 per half row

// forward: WPR warps per row (8 / WPR rows per block of 8 warps; warp h of a row owns the float4 columns
// (h*KP + k)*32 + lane, k < KP), the row kept in registers (d % 4 == 0, d <= 128*KP*WPR); x = xin (+ delta, then also
// written to xout), y = bf16(w * (x * rstd)), rstd per row. WPR = 1 for many rows; 8 (a block per row) when the warps
// of one warp per row would not fill the card (decode steps: 64 rows).
template <int KP, int WPR = 1>
__global__ void __launch_bounds__(256) rmsnorm_fwd_k(const float* __restrict__ xin, const bf16* __restrict__ delta,
                                                      float* __restrict__ xout, const float* __restrict__ w, bf16* __restrict__ y,
                                                      float* __restrict__ rstd, int N, int d, float eps) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2, h = warp % WPR;
  const long row = (long)blockIdx.x * (8 / WPR) + warp / WPR;
  __shared__ float part[8];
  if (WPR == 1 && row >= N) return;
  const bool live = row < N;  // WPR > 1: every warp reaches the barrier below
  const float4* x4 = reinterpret_cast<const float4*>(xin + row * d);
  float4 v[KP];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = (h * KP + k) * 32 + lane;
    v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (live && j < d4) {
      v[k] = x4[j];
      if (delta) {
        const float4 dl = ld_bf16x4(delta + row * d + 4 * j);
        v[k].x += dl.x; v[k].y += dl.y; v[k].z += dl.z; v[k].w += dl.w;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = (h * KP + k) * 32 + lane;
    if (live && j < d4 && delta) reinterpret_cast<float4*>(xout + row * d)[j] = v[k];
    ss += dot4(v[k], v[k]);
  }
  ss = warp_sum(ss);
  if (WPR > 1) {  // the row's warps' sums in warp order
    if (lane == 0) part[warp] = ss;
    __syncthreads();
    ss = 0.f;
    for (int i = 0; i < WPR; i++) ss += part[warp - h + i];
    if (!live) return;
  }
  const float r = rsqrtf(ss / d + eps);
  const float4* w4 = reinterpret_cast<const float4*>(w);
#pragma unroll
  for (int k = 0; k < KP; k++) {
    const int j = (h * KP + k) * 32 + lane;
    if (j < d4) {
      const float4 ww = w4[j];
      st_bf16x4(y + row * d + 4 * j, make_float4(ww.x * (v[k].x * r), ww.y * (v[k].y * r), ww.z * (v[k].z * r), ww.w * (v[k].w * r)));
    }
  }
  if (lane == 0 && h == 0) rstd[row] = r;
}
// backward: a pair of warps per row (warp 2p+h owns the float4 columns h*32*KH + lane + 32k, k < KH), 4 pairs per block
// walking rows r0 + p, r0 + p + 4, ... of the block's rowsPer rows; a row's dy, x (and dres when accumulating) loaded all
// at once into registers, the two halves of its dot product met through shared memory (a named barrier per pair, summed
// in a fixed order); the weights and the per-warp weight-gradient sums in shared memory (128 registers: 2 blocks of 8
// warps per SM); dres (= or +=) dx, and bf16(dres) into dresb when given; the per-block weight-gradient partials (the 4
// pairs summed in order) go to dwpart [gridDim.x, d]. Measured against the warp-per-row kernel it replaced (dev A/B,
// H200, N 16384 d 1792): see train/native/README.md.
__device__ __forceinline__ void named_bar(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
// the backward's row arithmetic, shared with the Soft-MoE kernels that fuse it (softmoe.cuh): half h of the pair's warps
// owns the float4 columns c0 + 32k (c0 = h*32*KH + lane); ya / xa the lane's dy and x, sw the weights, sa the lane's
// weight-gradient sums (sa[32k]) in shared memory, += dy x r. Returns c = r^3 (sum over the row of dy w x) / d, the
// halves' warp sums met through sdot[pair][row parity][half] at named barrier 1 + pair.
template <int KH>
__device__ __forceinline__ float rms_bwd_row(const float4 (&ya)[KH], const float4 (&xa)[KH], const float4* sw, float4* sa, float r,
                                             float (*sdot)[2][2], int pair, int half, int it, int lane, int c0, int d) {
  float dot = 0.f;
#pragma unroll
  for (int k = 0; k < KH; k++) {
    const float4 a = ya[k], xx = xa[k], ww = sw[c0 + 32 * k];
    dot += a.x * ww.x * xx.x + a.y * ww.y * xx.y + a.z * ww.z * xx.z + a.w * ww.w * xx.w;
    float4 s = sa[32 * k];
    s.x += a.x * xx.x * r; s.y += a.y * xx.y * r; s.z += a.z * xx.z * r; s.w += a.w * xx.w * r;
    sa[32 * k] = s;
  }
  dot = warp_sum(dot);
  if (lane == 0) sdot[pair][it & 1][half] = dot;
  named_bar(1 + pair, 64);
  dot = sdot[pair][it & 1][0] + sdot[pair][it & 1][1];
  return r * r * r * dot / d;
}
// dx of one float4 column (dy a, x xx, weights ww), + p (the gradient it accumulates into)
__device__ __forceinline__ float4 rms_bwd_dx(float4 a, float4 xx, float4 ww, float4 p, float r, float c) {
  float4 v = make_float4(r * a.x * ww.x - xx.x * c, r * a.y * ww.y - xx.y * c, r * a.z * ww.z - xx.z * c, r * a.w * ww.w - xx.w * c);
  v.x += p.x; v.y += p.y; v.z += p.z; v.w += p.w;
  return v;
}
// a block's weight-gradient partial p4 [d4] from its 8 warps' sums sacc [8][32 * KH]: float4 column i (half h, slot j of
// warps 2p + h) summed over the pairs p in order; threads tid, tid + nt, ...
template <int KH>
__device__ __forceinline__ void rms_bwd_partial(const float4* sacc, float4* p4, int d4, int tid, int nt) {
  for (int i = tid; i < d4; i += nt) {
    const int h = i / (32 * KH), j = i % (32 * KH);
    float4 s = sacc[h * 32 * KH + j];
#pragma unroll
    for (int p = 1; p < 4; p++) add4(s, sacc[(2 * p + h) * 32 * KH + j]);
    p4[i] = s;
  }
}
template <int KH>
__global__ void __launch_bounds__(256, 2) rmsnorm_bwd_k(const float* __restrict__ dy, const float* __restrict__ x,
                                                          const float* __restrict__ w, const float* __restrict__ rstd,
                                                          float* __restrict__ dres, int accumulate, float* __restrict__ dwpart,
                                                          int N, int d, int rowsPer, bf16* __restrict__ dresb) {
  __shared__ float4 sw[64 * KH];       // the weights, float4 columns
  __shared__ float4 sacc[8][32 * KH];  // per-warp weight-gradient sums (warp 2p+h: half h of the columns)
  __shared__ float sdot[4][2][2];      // [pair][row parity][half]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, pair = warp >> 1, half = warp & 1, d4 = d >> 2;
  for (int i = threadIdx.x; i < 64 * KH; i += 256)
    sw[i] = i < d4 ? reinterpret_cast<const float4*>(w)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int k = 0; k < KH; k++) sacc[warp][32 * k + lane] = make_float4(0.f, 0.f, 0.f, 0.f);
  __syncthreads();
  const int c0 = half * 32 * KH + lane;  // this lane's float4 columns c0 + 32k
  const int r0 = blockIdx.x * rowsPer, r1 = min(N, r0 + rowsPer);
  int it = 0;
  for (int row = r0 + pair; row < r1; row += 4, it++) {
    const float4* dy4 = reinterpret_cast<const float4*>(dy + (long)row * d);
    const float4* x4 = reinterpret_cast<const float4*>(x + (long)row * d);
    float4* o4 = reinterpret_cast<float4*>(dres + (long)row * d);
    float4 ya[KH], xa[KH], pa[KH];
    const float r = rstd[row];
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      ya[k] = xa[k] = pa[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (j < d4) {
        ya[k] = dy4[j];
        xa[k] = x4[j];
        if (accumulate) pa[k] = o4[j];
      }
    }
    const float c = rms_bwd_row<KH>(ya, xa, sw, &sacc[warp][lane], r, sdot, pair, half, it, lane, c0, d);
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      if (j < d4) {
        const float4 v = rms_bwd_dx(ya[k], xa[k], sw[j], pa[k], r, c);
        o4[j] = v;
        if (dresb) st_bf16x4(dresb + (long)row * d + 4 * j, v);
      }
    }
  }
  __syncthreads();
  rms_bwd_partial<KH>(&sacc[0][0], reinterpret_cast<float4*>(dwpart + (long)blockIdx.x * d), d4, threadIdx.x, 256);
}
// dres (= or += when acc) dx for dy = d loss / d y; gw += d loss / d w; bf16(dres) into dresb when given.
// part: scratch of ceil(N / 64) * d floats
static void rmsnormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dres, bool acc, long N,
                            int d, bf16* dresb, float* part, float* gw) {
  const int rowsPer = 64;
  const int nb = (int)((N + rowsPer - 1) / rowsPer);
  if (d <= 128 * 4) rmsnorm_bwd_k<2><<<nb, 256, 0, g_stream>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  else rmsnorm_bwd_k<7><<<nb, 256, 0, g_stream>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  KCHECK("rmsnorm_bwd");
  colreduce_k<<<nblk(d, 32), 256, 0, g_stream>>>(part, nb, d, gw);
  KCHECK("colreduce");
}
// whether rmsnormForward runs N rows of width d a warp per row (rmsnorm_fwd_k<KP, 1>, KP = 4, 8 or 14 by width), the
// arithmetic that softmoe.cuh's fused combine + norm reproduces; false: few rows, a block per row
static bool rmsnormWarpPerRow(long N, int d) {
  static int sms = 0;
  if (!sms) CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  return !((long)nblk(N, 8) < sms && d / 4 <= 256 * 2);
}
// y = RMSNorm(xin [+ delta]) * w; xout = xin + delta when delta is given
static void rmsnormForward(const float* xin, const bf16* delta, float* xout, const float* w, bf16* y, float* rstd, long N,
                           int d, float eps) {
  const int d4 = d / 4;
  const unsigned nb = nblk(N, 8);
  if (!rmsnormWarpPerRow(N, d)) {  // few rows: a block per row
    if (d4 <= 256) rmsnorm_fwd_k<1, 8><<<(unsigned)N, 256, 0, g_stream>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
    else rmsnorm_fwd_k<2, 8><<<(unsigned)N, 256, 0, g_stream>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  } else if (d4 <= 32 * 4) rmsnorm_fwd_k<4><<<nb, 256, 0, g_stream>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  else if (d4 <= 32 * 8) rmsnorm_fwd_k<8><<<nb, 256, 0, g_stream>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  else rmsnorm_fwd_k<14><<<nb, 256, 0, g_stream>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  KCHECK("rmsnorm_fwd");
}
