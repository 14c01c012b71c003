// Shared pieces of every kernel header (train/native/*.cuh) and of the addon: the bf16 type and conversions, warp and
// block reductions, vector loads/stores, the fixed-order column reduction, casts; on the host the error checks
// (CUDA calls, kernel launches), device allocation accounting and the per-phase profiler.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>

typedef __nv_bfloat16 bf16;

// The stream every kernel, cuBLASLt call and device-side copy of the addon is issued on: the legacy default stream,
// except while the Decoder captures a decode step into a CUDA graph (a capture needs a stream of its own).
static cudaStream_t g_stream = 0;

// ---------------------------------------------------------------- host: errors, launches, allocations, profiling
static std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}
#define CK(x)                                                                                                   \
  do {                                                                                                          \
    cudaError_t e_ = (x);                                                                                       \
    if (e_ != cudaSuccess)                                                                                      \
      throw std::runtime_error(strf("CUDA error %s (%s) at %s:%d: %s", cudaGetErrorName(e_), cudaGetErrorString(e_), \
                                    __FILE__, __LINE__, #x));                                                   \
  } while (0)
// after every launch: a bad configuration becomes an exception naming the kernel
#define KCHECK(name) CK_launch(name, __FILE__, __LINE__)
static void CK_launch(const char* name, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(strf("CUDA kernel %s launch failed (%s:%d): %s", name, file, line, cudaGetErrorString(e)));
}
static inline unsigned nblk(long n, int t = 256) { return (unsigned)((n + t - 1) / t); }

static size_t g_allocBytes = 0;  // bytes cudaMalloc'ed by live models (comparable to torch.cuda.max_memory_allocated)
static void* devAlloc(size_t bytes) {
  void* p = nullptr;
  CK(cudaMalloc(&p, bytes));
  g_allocBytes += bytes;
  return p;
}
static void devFree(void* p, size_t bytes) {
  if (!p) return;
  cudaFree(p);
  g_allocBytes -= bytes;
}

// optional per-phase timing: mark(name) synchronises and books the time since the previous mark under name
struct Prof {
  bool on = false;
  std::map<std::string, double> ms;
  std::chrono::steady_clock::time_point t;
  void start() {
    if (!on) return;
    CK(cudaDeviceSynchronize());
    t = std::chrono::steady_clock::now();
  }
  void mark(const char* name) {
    if (!on) return;
    CK(cudaDeviceSynchronize());
    auto now = std::chrono::steady_clock::now();
    ms[name] += std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
  }
};

// ---------------------------------------------------------------- device helpers
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
// 4 bf16 <-> float4 (8-byte accesses)
__device__ __forceinline__ float4 ld_bf16x4(const bf16* p) {
  uint2 u = *reinterpret_cast<const uint2*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
  float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
__device__ __forceinline__ void st_bf16x4(bf16* p, float4 v) {
  __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
  *reinterpret_cast<uint2*>(p) = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
}
__device__ __forceinline__ float4 bf16r4(float4 v) {  // round to bf16 and back
  float2 a = __bfloat1622float2(__floats2bfloat162_rn(v.x, v.y)), b = __bfloat1622float2(__floats2bfloat162_rn(v.z, v.w));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ void add4(float4& a, float4 b) { a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w; }
// 8 bf16 <-> 8 floats (16-byte accesses)
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
__global__ void cast_f2b_k(const float* __restrict__ a, bf16* __restrict__ b, long n) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) b[i] = f2b(a[i]);
}
__global__ void cast_b2f_k(const bf16* __restrict__ a, float* __restrict__ b, long n) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) b[i] = b2f(a[i]);
}
// out[j] += sum_p part[p*n + j]: 32 columns per block, 8 row lanes each summing p = ty, ty+8, ... in order, then the
// 8 lane sums in order (fixed order: deterministic)
__global__ void __launch_bounds__(256) colreduce_k(const float* __restrict__ part, int np, int n, float* __restrict__ out) {
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
