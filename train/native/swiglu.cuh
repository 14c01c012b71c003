// SwiGLU h = silu(a) * u over the two halves [a | u] of a row of width 2W (bf16): the dense MLP (gate|up) and both
// stages of a Steel Soft-MoE expert (its gate_up|up projection, and the SENet-like gate_down|down projection whose
// SwiGLU output Ys is the expert's fp32 result).
// Checks: gpu-check `cpu` (expert and MLP weights against the CPU backend) and `torch`.
#pragma once
#include "common.cuh"

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
// the same with 8 columns per thread and 16-byte accesses (W % 8 == 0), bf16 out
__global__ void swiglu_fwd8_k(const bf16* __restrict__ gu, bf16* __restrict__ h, long R, int W) {
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
// backward with bf16 dh (PyTorch autocast keeps it in bf16), 8 columns per thread (W % 8 == 0)
__global__ void swiglu_bwd8_k(const bf16* __restrict__ gu, const bf16* __restrict__ dh, bf16* __restrict__ dgu, long R, int W) {
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

// dense MLP: h = swiglu(gu) for R rows (bf16 out)
static void swigluForward(const bf16* gu, bf16* h, long R, int W) {
  if (W % 8 == 0) swiglu_fwd8_k<<<nblk(R * W / 8), 256, 0, g_stream>>>(gu, h, R, W);
  else swiglu_fwd_k<bf16><<<nblk(R * W), 256, 0, g_stream>>>(gu, h, R, W);
  KCHECK("swiglu_fwd");
}
