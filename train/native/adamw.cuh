// Optimizer and initialisation over the flat fp32 parameter / gradient / moment buffers: global gradient norm (fp64
// partials, fixed order) with the clip coefficient computed on the device, PyTorch AdamW (decoupled weight decay, bias
// correction) that also refreshes the bf16 shadow copy the GEMMs read, and the deterministic hash-RNG normal init.
// Checks: gpu-check `cpu` (grad norm and 6 AdamW steps against the CPU backend).
#pragma once
#include <cmath>
#include "common.cuh"

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

// grad norm (before clipping) into normOut[0], clip coefficient into normOut[1]; then AdamW over [0, n) (n % 4 == 0);
// the bf16 shadow pb is written for offsets >= pbOff (pbOff % 4 == 0). partial: 1024 doubles.
static void adamwStep(float* P, const float* G, float* M1, float* M2, bf16* pb, long n, long pbOff, long step, float lr, float b1,
                      float b2, float eps, float wd, float clip, double* partial, float* normOut) {
  const int nb = 1024;
  sumsq4_k<<<nb, 256, 0, g_stream>>>((const float4*)G, n / 4, partial);
  KCHECK("sumsq");
  norm_fin_k<<<1, 32, 0, g_stream>>>(partial, nb, clip, normOut);
  KCHECK("norm_fin");
  const double bc1 = 1 - std::pow((double)b1, (double)step), bc2 = 1 - std::pow((double)b2, (double)step);
  const float stepSize = (float)(lr / bc1), bc2s = (float)std::sqrt(bc2);
  if (pbOff > 0)
    adamw4_k<<<2048, 256, 0, g_stream>>>((float4*)P, (const float4*)G, (float4*)M1, (float4*)M2, nullptr, pbOff / 4, lr, b1, b2, eps, wd,
                            stepSize, bc2s, normOut);
  adamw4_k<<<8192, 256, 0, g_stream>>>((float4*)(P + pbOff), (const float4*)(G + pbOff), (float4*)(M1 + pbOff), (float4*)(M2 + pbOff),
                          (uint2*)(pb + pbOff), (n - pbOff) / 4, lr, b1, b2, eps, wd, stepSize, bc2s, normOut);
  KCHECK("adamw");
}
