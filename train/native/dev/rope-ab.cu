// Dev A/B of RoPE's forward (rope.cuh; not part of the addon): the production kernel against the one it replaced
// (session 9: a thread per 4 pairs of a head, 8-byte accesses; kept here), in place on the q and k columns of random
// [q|k|v] bf16 rows, on steel-1b's shape (B 8, T 2048, H 32, hd 56), GQA (H 32 / 8) and two small odd shapes; timed with
// CUDA events (median of 20, ms per call and GB/s of q/k bytes read and written) and the outputs compared bit for bit.
// `SECTIONS=ropeab train/native/run-gpu-checks.sh` builds and runs it, or:
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/rope-ab train/native/dev/rope-ab.cu
//   /tmp/rope-ab
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>
#include "../rope.cuh"

// the replaced kernel (main before session 9), launched as it was: grid (N / 4, units / 64), 64 threads
template <int RP>
__global__ void __launch_bounds__(64) rope_fwd_old_k(bf16* __restrict__ x, const float* __restrict__ cs, const float* __restrict__ sn,
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

__global__ void rnd_bf16_k(bf16* p, long n, uint32_t seed) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = f2b(4.f * ((x >> 8) * (1.f / 16777216.f) - 0.5f));
  }
}
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main() {
  struct Shape { int B, T, H, Hk, hd; };
  const Shape shapes[] = {{8, 2048, 32, 32, 56}, {8, 2048, 32, 8, 56}, {3, 77, 4, 2, 64}, {2, 100, 4, 1, 8}};
  bool allSame = true;
  for (const Shape& sh : shapes) {
    const long N = (long)sh.B * sh.T;
    const int qd = sh.H * sh.hd, kd = sh.Hk * sh.hd, ldq = qd + 2 * kd;
    float* cosT = (float*)devAlloc((size_t)sh.T * sh.hd / 2 * 4);
    float* sinT = (float*)devAlloc((size_t)sh.T * sh.hd / 2 * 4);
    ropeTables(cosT, sinT, sh.T, sh.hd, 1e6);
    bf16* x0 = (bf16*)devAlloc((size_t)N * ldq * 2);
    bf16* xa = (bf16*)devAlloc((size_t)N * ldq * 2);
    bf16* xb = (bf16*)devAlloc((size_t)N * ldq * 2);
    rnd_bf16_k<<<1024, 256>>>(x0, N * ldq, 11);
    auto runOld = [&](bf16* x) {
      rope_fwd_old_k<4><<<dim3(nblk(N, 4), nblk((long)(sh.H + sh.Hk) * (sh.hd / 8), 64)), 64>>>(x, cosT, sinT, (int)N, sh.T, sh.H,
                                                                                           sh.Hk, sh.hd, ldq, qd);
      KCHECK("rope_fwd_old");
    };
    auto runNew = [&](bf16* x) { ropeForward(x, cosT, sinT, N, sh.T, sh.H, sh.Hk, sh.hd, ldq, qd); };
    CK(cudaMemcpy(xa, x0, (size_t)N * ldq * 2, cudaMemcpyDeviceToDevice));
    CK(cudaMemcpy(xb, x0, (size_t)N * ldq * 2, cudaMemcpyDeviceToDevice));
    runOld(xa);
    runNew(xb);
    std::vector<uint16_t> ha((size_t)N * ldq), hb((size_t)N * ldq), h0((size_t)N * ldq);
    CK(cudaMemcpy(ha.data(), xa, ha.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hb.data(), xb, hb.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(h0.data(), x0, h0.size() * 2, cudaMemcpyDeviceToHost));
    const bool same = ha == hb;
    long qkChanged = 0, vChanged = 0;  // the q/k columns must have moved (but at position 0), v not
    for (long r = 0; r < N; r++)
      for (int c = 0; c < ldq; c++)
        if (ha[r * ldq + c] != h0[r * ldq + c]) (c < qd + kd ? qkChanged : vChanged)++;
    allSame &= same;
    std::vector<double> to, tn;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int it = 0; it < 46; it++) {  // old and new alternating, in place (the values keep rotating: same bytes)
      const bool isOld = it % 2 == 0;
      CK(cudaEventRecord(e0));
      if (isOld) runOld(xa);
      else runNew(xb);
      CK(cudaEventRecord(e1));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      if (it >= 6) (isOld ? to : tn).push_back(ms);
    }
    const double gb = 2.0 * N * (qd + kd) * 2 / 1e9;  // q and k read and written
    printf("ROPE B %d T %d H %d Hk %d hd %d: old %.4f ms (%.0f GB/s), new %.4f ms (%.0f GB/s); outputs %s (q/k values changed %ld "
           "of %ld, v changed %ld)\n",
           sh.B, sh.T, sh.H, sh.Hk, sh.hd, median(to), gb / median(to) * 1e3, median(tn), gb / median(tn) * 1e3,
           same ? "bit-identical" : "DIFFER", qkChanged, N * (qd + kd), vChanged);
    devFree(cosT, 0), devFree(sinT, 0), devFree(x0, 0), devFree(xa, 0), devFree(xb, 0);
  }
  printf("ROPE %s\n", allSame ? "ALL BIT-IDENTICAL" : "SOME DIFFER");
  return 0;
}
