// RMSNorm (Qwen2: y = w * x / sqrt(mean(x^2) + eps)), forward fused with the residual add, backward fused with the
// residual-gradient accumulation and the bf16 copy the next GEMM reads. fp32 in, bf16 out. Deterministic: the weight
// gradient is reduced in a fixed order (per-block partials, then colreduce_k). Limits: d % 4 == 0, d <= RMS_MAX_D.
// Checks: gpu-check `cpu` (every norm weight's gradient and the loss/logits against the CPU backend).
#pragma once
#include "common.cuh"

#define RMS_MAX_D (128 * 14)  // the backward keeps 14 float4 per lane of the row in registers

// forward: warp per row, float4, the row kept in registers (d % 4 == 0, d <= 128*KP); x = xin (+ delta, then also
// written to xout), y = bf16(w * (x * rstd)), rstd per row
template <int KP>
__global__ void __launch_bounds__(256) rmsnorm_fwd_k(const float* __restrict__ xin, const bf16* __restrict__ delta,
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
// backward: warp per row, the row in registers; dres (= or +=) dx, and bf16(dres) into dresb when given; the weight
// gradient's per-block partials (the 8 warps summed in order through shared memory) go to dwpart [gridDim.x, d]
template <int KP>
__global__ void __launch_bounds__(256) rmsnorm_bwd_k(const float* __restrict__ dy, const float* __restrict__ x,
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

// y = RMSNorm(xin [+ delta]) * w; xout = xin + delta when delta is given
static void rmsnormForward(const float* xin, const bf16* delta, float* xout, const float* w, bf16* y, float* rstd, long N,
                           int d, float eps) {
  const int d4 = d / 4;
  const unsigned nb = nblk(N, 8);
  if (d4 <= 32 * 4) rmsnorm_fwd_k<4><<<nb, 256>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  else if (d4 <= 32 * 8) rmsnorm_fwd_k<8><<<nb, 256>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  else rmsnorm_fwd_k<14><<<nb, 256>>>(xin, delta, xout, w, y, rstd, (int)N, d, eps);
  KCHECK("rmsnorm_fwd");
}
// dres (= or += when acc) dx for dy = d loss / d y; gw += d loss / d w; bf16(dres) into dresb when given.
// part: scratch of ceil(N / 64) * d floats
static void rmsnormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dres, bool acc, long N,
                            int d, bf16* dresb, float* part, float* gw) {
  const int rowsPer = 64;
  const int nb = (int)((N + rowsPer - 1) / rowsPer);
  if (d <= 128 * 4) rmsnorm_bwd_k<4><<<nb, 256>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  else rmsnorm_bwd_k<14><<<nb, 256>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  KCHECK("rmsnorm_bwd");
  colreduce_k<<<nblk(d, 32), 256>>>(part, nb, d, gw);
  KCHECK("colreduce");
}
