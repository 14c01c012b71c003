// Dev A/B of the RMSNorm backward (not part of the addon): the production rmsnormBackward (rmsnorm.cuh: a warp per row,
// the row and the weights in registers, 255 registers = 8 warps per SM, the residual gradient read after the row's dot
// product) against a candidate with a pair of warps per row (half a row per warp: dy, x and the residual gradient of
// the row all loaded at once), the weights and per-warp weight-gradient sums in shared memory (2 blocks of 8 warps per
// SM). Same inputs; prints the candidate's distance from the production outputs (dres, its bf16 copy, the weight
// gradient) and both timings with the bytes moved per second (CUDA events, mean of 20 launches after one warm-up).
// Build + run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/rms-ab train/native/dev/rmsnorm-ab.cu && /tmp/rms-ab
#include <cmath>
#include <cstring>
#include <vector>
#include "../rmsnorm.cuh"

__device__ __forceinline__ void named_bar(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
template <int KH>
__global__ void __launch_bounds__(256, 2) rmsnorm_bwd2_k(const float* __restrict__ dy, const float* __restrict__ x,
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
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const float4 a = ya[k], xx = xa[k], ww = sw[c0 + 32 * k];
      dot += a.x * ww.x * xx.x + a.y * ww.y * xx.y + a.z * ww.z * xx.z + a.w * ww.w * xx.w;
      float4 s = sacc[warp][32 * k + lane];
      s.x += a.x * xx.x * r; s.y += a.y * xx.y * r; s.z += a.z * xx.z * r; s.w += a.w * xx.w * r;
      sacc[warp][32 * k + lane] = s;
    }
    dot = warp_sum(dot);
    if (lane == 0) sdot[pair][it & 1][half] = dot;
    named_bar(1 + pair, 64);
    dot = sdot[pair][it & 1][0] + sdot[pair][it & 1][1];
    const float c = r * r * r * dot / d;
#pragma unroll
    for (int k = 0; k < KH; k++) {
      const int j = c0 + 32 * k;
      if (j < d4) {
        const float4 a = ya[k], xx = xa[k], ww = sw[j], p = pa[k];
        float4 v = make_float4(r * a.x * ww.x - xx.x * c, r * a.y * ww.y - xx.y * c, r * a.z * ww.z - xx.z * c, r * a.w * ww.w - xx.w * c);
        v.x += p.x; v.y += p.y; v.z += p.z; v.w += p.w;
        o4[j] = v;
        if (dresb) st_bf16x4(dresb + (long)row * d + 4 * j, v);
      }
    }
  }
  __syncthreads();
  float4* p4 = reinterpret_cast<float4*>(dwpart + (long)blockIdx.x * d);
  for (int i = threadIdx.x; i < d4; i += 256) {  // float4 column i: half h, slot j of warps 2p + h, summed over p in order
    const int h = i / (32 * KH), j = i % (32 * KH);
    float4 s = sacc[h][j];
#pragma unroll
    for (int p = 1; p < 4; p++) add4(s, sacc[2 * p + h][j]);
    p4[i] = s;
  }
}
static void rmsnormBackward2(const float* dy, const float* x, const float* w, const float* rstd, float* dres, bool acc, long N,
                             int d, bf16* dresb, float* part, float* gw) {
  const int rowsPer = 64;
  const int nb = (int)((N + rowsPer - 1) / rowsPer);
  if (d <= 128 * 4) rmsnorm_bwd2_k<2><<<nb, 256>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  else rmsnorm_bwd2_k<7><<<nb, 256>>>(dy, x, w, rstd, dres, acc ? 1 : 0, part, (int)N, d, rowsPer, dresb);
  KCHECK("rmsnorm_bwd2");
  colreduce_k<<<nblk(d, 32), 256>>>(part, nb, d, gw);
  KCHECK("colreduce");
}

__global__ void fillr_k(float* p, long n, uint32_t seed, float lo, float span) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 16; h *= 0x7feb352d; h ^= h >> 15; h *= 0x846ca68b; h ^= h >> 16;
    p[i] = lo + span * (h >> 8) * (1.f / 16777216.f);
  }
}
template <class T>
static std::vector<T> get(const T* p, long n) {
  std::vector<T> v(n);
  CK(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}
static double rel(const std::vector<float>& a, const std::vector<float>& b) {
  double n = 0, s = 0;
  for (size_t i = 0; i < a.size(); i++) n += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), s += (double)b[i] * b[i];
  return std::sqrt(n / std::max(s, 1e-300));
}
int main() {
  struct S { long N; int d; bool acc, bf; bool time; };
  const S shapes[] = {{77, 64, true, true, false},      {100, 1792, false, false, false}, {300, 1792, true, true, false},
                      {16384, 1792, true, false, true}, {16384, 1792, true, true, true},  {16384, 1792, false, false, true}};
  bool ok = true;
  for (const S& s : shapes) {
    const long n = s.N * s.d, nb = (s.N + 63) / 64;
    float *dy, *x, *w, *rs, *r0, *r1, *part, *g0, *g1;
    bf16 *b0, *b1;
    CK(cudaMalloc(&dy, n * 4)); CK(cudaMalloc(&x, n * 4)); CK(cudaMalloc(&w, s.d * 4)); CK(cudaMalloc(&rs, s.N * 4));
    CK(cudaMalloc(&r0, n * 4)); CK(cudaMalloc(&r1, n * 4)); CK(cudaMalloc(&part, nb * s.d * 4));
    CK(cudaMalloc(&g0, s.d * 4)); CK(cudaMalloc(&g1, s.d * 4)); CK(cudaMalloc(&b0, n * 2)); CK(cudaMalloc(&b1, n * 2));
    fillr_k<<<1024, 256>>>(dy, n, 1u, -1e-3f, 2e-3f);
    fillr_k<<<1024, 256>>>(x, n, 2u, -2.f, 4.f);
    fillr_k<<<64, 256>>>(w, s.d, 3u, 0.5f, 1.f);
    fillr_k<<<64, 256>>>(rs, s.N, 4u, 0.5f, 1.f);
    fillr_k<<<1024, 256>>>(r0, n, 5u, -1e-2f, 2e-2f);
    CK(cudaMemcpy(r1, r0, n * 4, cudaMemcpyDeviceToDevice));
    CK(cudaMemset(g0, 0, s.d * 4)); CK(cudaMemset(g1, 0, s.d * 4));
    rmsnormBackward(dy, x, w, rs, r0, s.acc, s.N, s.d, s.bf ? b0 : nullptr, part, g0);
    rmsnormBackward2(dy, x, w, rs, r1, s.acc, s.N, s.d, s.bf ? b1 : nullptr, part, g1);
    CK(cudaDeviceSynchronize());
    const double er = rel(get(r1, n), get(r0, n)), eg = rel(get(g1, (long)s.d), get(g0, (long)s.d));
    long bdiff = 0;
    if (s.bf) {
      auto x0 = get(b0, n), x1 = get(b1, n);
      for (long i = 0; i < n; i++) bdiff += memcmp(&x0[i], &x1[i], 2) != 0;  // differ in the last bit at most where dres does
    }
    const bool good = er < 1e-5 && eg < 1e-5 && std::isfinite(er) && std::isfinite(eg);
    ok &= good;
    printf("N%ld d%d acc%d bf16 %d: candidate vs production: dres %.2e, gw %.2e, bf16 copies differing %ld%s\n", s.N, s.d,
           (int)s.acc, (int)s.bf, er, eg, bdiff, good ? "" : " FAIL");
    if (s.time) {
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0); cudaEventCreate(&e1);
      auto tm = [&](auto f) {
        f();
        cudaEventRecord(e0);
        for (int i = 0; i < 20; i++) f();
        cudaEventRecord(e1);
        CK(cudaEventSynchronize(e1));
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        return ms / 20;
      };
      const double t0 = tm([&]() { rmsnormBackward(dy, x, w, rs, r0, s.acc, s.N, s.d, s.bf ? b0 : nullptr, part, g0); });
      const double t1 = tm([&]() { rmsnormBackward2(dy, x, w, rs, r1, s.acc, s.N, s.d, s.bf ? b1 : nullptr, part, g1); });
      const double bytes = (double)n * (12 + (s.acc ? 4 : 0) + (s.bf ? 2 : 0));
      printf("  production %.4f ms (%.2f TB/s) | candidate %.4f ms (%.2f TB/s)\n", t0, bytes / t0 / 1e9, t1, bytes / t1 / 1e9);
    }
    cudaFree(dy); cudaFree(x); cudaFree(w); cudaFree(rs); cudaFree(r0); cudaFree(r1); cudaFree(part); cudaFree(g0);
    cudaFree(g1); cudaFree(b0); cudaFree(b1);
  }
  printf(ok ? "ALL OK\n" : "SOME FAILED\n");
  return ok ? 0 : 1;
}
