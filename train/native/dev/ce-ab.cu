// Dev A/B of the step's two tail passes (not part of the addon): the cross-entropy over one steel-1b lm_head chunk
// (crossentropy.cuh: 4,096 rows x 151,936 bf16 logits, random targets, weights 1 with every 16th row 0) and the
// optimizer (adamw.cuh: gradient norm + clip + AdamW over 1.12e9 fp32 parameters, the bf16 shadow past the embedding's
// 272M), timed with CUDA events (median of 20 / 12), their outputs dumped so that two builds (old and new headers) can
// be compared: dlogits (bf16, whole chunk), lossrow, logp (the forward-only launch's too), a 1,001-column case with
// padding and zero weights; the grad norm and clip coefficient, 64-bit hashes of every bit of P, m, v and the bf16
// shadow after 2 steps, and every 4,096th element of P, m, v. Where the header exposes the kernel's shape (CE_TUNABLE:
// ce_k<CL, NT>) it also times other shapes alternating with the production one, each checked against it.
// `SECTIONS=ceab [OLD_TREE=DIR] train/native/run-gpu-checks.sh` builds and runs it (copying this file into the old tree).
// Build against a tree's headers and run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/ce-ab train/native/dev/ce-ab.cu
//   /tmp/ce-ab run OUT.bin [ce]         time and dump (ce: the cross-entropy only)
//   /tmp/ce-ab cmp A.bin B.bin          max |a - b| / max |b| per tensor, and whether bit-identical
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <vector>
#include "../adamw.cuh"
#include "../crossentropy.cuh"

__global__ void rnd_k(float* p, long n, uint32_t seed, float scale, float offset) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed ^ (uint32_t)(i >> 32) * 0x9e3779b9u;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = offset + scale * ((x >> 8) * (1.f / 16777216.f) - 0.5f);
  }
}
// logits: the sum of 3 uniforms (a bell shape, sd ~ 2.9) plus a few large ones (every 997th column + 8)
__global__ void logits_k(bf16* p, long rows, int ldl, int V, uint32_t seed) {
  const long n = rows * ldl;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const int j = (int)(i % ldl);
    float s = 0.f;
    for (int k = 0; k < 3; k++) {
      uint32_t x = (uint32_t)i * 2654435761u ^ (seed + 77u * k) ^ (uint32_t)(i >> 32) * 0x9e3779b9u;
      x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
      s += 10.f * ((x >> 8) * (1.f / 16777216.f) - 0.5f);
    }
    if (j % 997 == 5) s += 8.f;
    p[i] = j < V ? f2b(s) : f2b(0.f);
  }
}
__global__ void tgt_k(int* t, float* w, long rows, int V) {
  for (long r = blockIdx.x * (long)blockDim.x + threadIdx.x; r < rows; r += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)r * 2246822519u + 12345u;
    x ^= x >> 15; x *= 0x2c1b3c6d; x ^= x >> 12;
    t[r] = r % 7 == 3 ? V - 1 - (int)(r % 3) : (int)(x % (uint32_t)V);  // some targets in the last columns
    w[r] = r % 16 == 9 ? 0.f : (r % 5 == 2 ? 0.5f : 1.f);
  }
}
// bits of a buffer -> one 64-bit hash (position-dependent; blocks' partial hashes summed with wraparound)
__global__ void hash_k(const uint32_t* p, long n, unsigned long long* out) {
  unsigned long long h = 0;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    unsigned long long x = ((unsigned long long)p[i] << 32 | (unsigned long long)(i & 0xffffffff)) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ULL; x ^= x >> 32;
    h += x;
  }
  atomicAdd(out, h);
}
// how many bf16 elements differ, and max |a - b| (as float bits: non-negative floats order like ints)
__global__ void diff_k(const bf16* a, const bf16* b, long n, unsigned long long* cnt, unsigned* mx) {
  unsigned long long c = 0;
  float m = 0.f;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const unsigned short x = __bfloat16_as_ushort(a[i]), y = __bfloat16_as_ushort(b[i]);
    if (x != y) c++, m = fmaxf(m, fabsf(b2f(a[i]) - b2f(b[i])));
  }
  atomicAdd(cnt, c);
  atomicMax(mx, __float_as_uint(m));
}

struct Dump {
  struct T { std::string name; char type; std::vector<char> d; };
  std::vector<T> t;
  void add(const char* name, const void* dev, long n, char type) {  // type 'f' fp32, 'h' bf16, 'u' uint64
    const size_t es = type == 'h' ? 2 : type == 'u' ? 8 : 4;
    T x{name, type, std::vector<char>(n * es)};
    CK(cudaMemcpy(x.d.data(), dev, n * es, cudaMemcpyDefault));
    t.push_back(std::move(x));
  }
  void save(const char* path) {
    FILE* f = fopen(path, "wb");
    for (auto& x : t) {
      char nm[32] = {};
      strncpy(nm, x.name.c_str(), 31);
      long n = (long)x.d.size();
      fwrite(nm, 1, 32, f), fwrite(&x.type, 1, 1, f), fwrite(&n, 8, 1, f), fwrite(x.d.data(), 1, n, f);
    }
    fclose(f);
  }
  static Dump load(const char* path) {
    Dump d;
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    char nm[32], ty;
    long n;
    while (fread(nm, 1, 32, f) == 32 && fread(&ty, 1, 1, f) == 1 && fread(&n, 8, 1, f) == 1) {
      T x{nm, ty, std::vector<char>(n)};
      if (fread(x.d.data(), 1, n, f) != (size_t)n) break;
      d.t.push_back(std::move(x));
    }
    fclose(f);
    return d;
  }
};
static float hval(const Dump::T& x, size_t i) {
  if (x.type == 'h') {
    uint32_t u = (uint32_t)reinterpret_cast<const uint16_t*>(x.d.data())[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  return reinterpret_cast<const float*>(x.d.data())[i];
}
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
static cudaEvent_t ev0, ev1;
static double timeIt(const std::function<void()>& f) {  // ms of f's launches (events on g_stream)
  CK(cudaEventRecord(ev0, g_stream));
  f();
  CK(cudaEventRecord(ev1, g_stream));
  CK(cudaEventSynchronize(ev1));
  float ms;
  CK(cudaEventElapsedTime(&ms, ev0, ev1));
  return ms;
}

int main(int argc, char** argv) {
  if (argc >= 4 && !strcmp(argv[1], "cmp")) {
    Dump a = Dump::load(argv[2]), b = Dump::load(argv[3]);
    bool allSame = a.t.size() == b.t.size();
    for (size_t i = 0; i < a.t.size() && i < b.t.size(); i++) {
      const auto& x = a.t[i];
      const auto& y = b.t[i];
      const bool same = x.d.size() == y.d.size() && !memcmp(x.d.data(), y.d.data(), x.d.size());
      allSame &= same;
      if (x.type == 'u') {
        printf("CMP %-12s %s\n", x.name.c_str(), same ? "bit-identical (hash)" : "differs (hash)");
        continue;
      }
      const size_t es = x.type == 'h' ? 2 : 4, n = std::min(x.d.size(), y.d.size()) / es;
      double mx = 0, md = 0;
      size_t nd = 0;
      for (size_t j = 0; j < n; j++) {
        const float u = hval(x, j), v = hval(y, j);
        mx = std::max(mx, (double)std::fabs(v));
        if (memcmp(&x.d[j * es], &y.d[j * es], es)) nd++, md = std::max(md, (double)std::fabs(u - v));
      }
      printf("CMP %-12s n %10zu  differing %10zu  max|a-b| %.3e  max|a-b|/max|b| %.3e  %s\n", x.name.c_str(), n, nd, md,
             mx > 0 ? md / mx : md, same ? "bit-identical" : "differs");
    }
    printf("CMP %s\n", allSame ? "ALL BIT-IDENTICAL" : "SOME DIFFER");
    return 0;
  }
  if (argc < 3) { fprintf(stderr, "usage: ce-ab run OUT.bin [ce] | cmp A.bin B.bin\n"); return 2; }
  const bool optimizer = !(argc > 3 && !strcmp(argv[3], "ce"));
  CK(cudaEventCreate(&ev0));
  CK(cudaEventCreate(&ev1));
  Dump D;
  // ---------------------------------------------------------------- cross-entropy
  {
    const long rows = 4096;
    const int V = 151936, ldl = (V + 7) / 8 * 8;
    const long n = rows * ldl;
    const float gs = 1.f / 16384.f;  // gradScale / count of a 8 x 2048 micro-batch
    bf16* L0 = (bf16*)devAlloc(n * 2);
    bf16* L = (bf16*)devAlloc(n * 2);
    int* tgt = (int*)devAlloc(rows * 4);
    float* wt = (float*)devAlloc(rows * 4);
    float* lossrow = (float*)devAlloc(rows * 4);
    float* logp = (float*)devAlloc(rows * 4);
    logits_k<<<2048, 256>>>(L0, rows, ldl, V, 1);
    tgt_k<<<16, 256>>>(tgt, wt, rows, V);
    KCHECK("init");
    ceSetup(ldl);
    auto reset = [&] { CK(cudaMemcpyAsync(L, L0, n * 2, cudaMemcpyDeviceToDevice, g_stream)); };
    // outputs of the production kernel: forward only, then forward + backward
    CK(cudaMemset(lossrow, 0xff, rows * 4));
    CK(cudaMemset(logp, 0xff, rows * 4));
    reset();
    crossEntropy(L, ldl, tgt, wt, lossrow, logp, rows, V, gs, false);
    D.add("ce_lossrow_f", lossrow, rows, 'f');
    D.add("ce_logp_f", logp, rows, 'f');
    CK(cudaMemset(lossrow, 0xff, rows * 4));
    CK(cudaMemset(logp, 0xff, rows * 4));
    reset();
    crossEntropy(L, ldl, tgt, wt, lossrow, logp, rows, V, gs, true);
    CK(cudaDeviceSynchronize());
    D.add("ce_lossrow", lossrow, rows, 'f');
    D.add("ce_logp", logp, rows, 'f');
    D.add("ce_dlogits", L, n, 'h');
    const double bytes = 2.0 * n * 2;  // logits read once, dlogits written once
    std::vector<std::pair<std::string, std::function<void()>>> cands;
    cands.push_back({"production", [&] { crossEntropy(L, ldl, tgt, wt, lossrow, logp, rows, V, gs, true); }});
#ifdef CE_TUNABLE
    bf16* Lp = (bf16*)devAlloc(n * 2);  // the production kernel's dlogits, for the candidates' check
    CK(cudaMemcpy(Lp, L, n * 2, cudaMemcpyDeviceToDevice));
    std::vector<float> lrP(rows);
    CK(cudaMemcpy(lrP.data(), lossrow, rows * 4, cudaMemcpyDeviceToHost));
#define CE_CAND(CL, NT)                                                                                        \
  ceSetupT<CL, NT>(ldl);                                                                                       \
  cands.push_back({"ce_k<" #CL "," #NT ">", [&] { crossEntropyT<CL, NT>(L, ldl, tgt, wt, lossrow, logp, rows, V, gs, true); }});
    CE_CAND(4, 256)  // other shapes (another summation order): 256 threads, 3 CTAs per SM
    CE_CAND(2, 512)  // 2 CTAs per row: 148 KB each, 1 CTA per SM
    CE_CAND(8, 256)  // 8 CTAs per row: 37 KB each, 5 CTAs per SM
    CE_CAND(8, 512)  // 4 CTAs per SM
#undef CE_CAND
    unsigned long long* cnt = (unsigned long long*)devAlloc(16);
    unsigned* mxd = (unsigned*)devAlloc(4);
    for (size_t c = 1; c < cands.size(); c++) {  // each candidate's outputs against the production kernel's
      reset();
      cands[c].second();
      CK(cudaMemset(cnt, 0, 16));
      CK(cudaMemset(mxd, 0, 4));
      diff_k<<<1024, 256>>>(L, Lp, n, cnt, mxd);
      KCHECK("diff");
      unsigned long long nd;
      unsigned mb;
      std::vector<float> lr(rows);
      CK(cudaMemcpy(&nd, cnt, 8, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(&mb, mxd, 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(lr.data(), lossrow, rows * 4, cudaMemcpyDeviceToHost));
      float mbf;
      memcpy(&mbf, &mb, 4);
      double ml = 0, mrel = 0;
      for (long r = 0; r < rows; r++) {
        ml = std::max(ml, (double)std::fabs(lr[r] - lrP[r]));
        if (lrP[r] != 0.f) mrel = std::max(mrel, (double)std::fabs(lr[r] - lrP[r]) / std::fabs(lrP[r]));
      }
      printf("CE check %-18s dlogits: %llu of %ld differ from production (max |d| %.3e); lossrow max |d| %.3e (rel %.3e)\n",
             cands[c].first.c_str(), nd, n, (double)mbf, ml, mrel);
    }
#endif
    std::vector<std::vector<double>> ms(cands.size());
    for (int rep = 0; rep < 23; rep++)  // alternating; the first 3 are warm-up
      for (size_t c = 0; c < cands.size(); c++) {
        reset();
        const double t = timeIt(cands[c].second);
        if (rep >= 3) ms[c].push_back(t);
      }
    for (size_t c = 0; c < cands.size(); c++) {
      const double t = median(ms[c]);
      printf("CE %-20s rows %ld V %d: %.4f ms (min %.4f), %.0f GB/s (events, median of 20)\n", cands[c].first.c_str(), rows, V,
             t, *std::min_element(ms[c].begin(), ms[c].end()), bytes / t * 1e-6);
    }
    // a small case with padding columns, zero weights and targets in the last columns
    {
      const long r2 = 64;
      const int V2 = 1001, l2 = (V2 + 7) / 8 * 8;
      logits_k<<<64, 256>>>(L, r2, l2, V2, 5);
      tgt_k<<<1, 64>>>(tgt, wt, r2, V2);
      crossEntropy(L, l2, tgt, wt, lossrow, logp, r2, V2, 0.25f, true);
      CK(cudaDeviceSynchronize());
      D.add("ce_small_dl", L, r2 * l2, 'h');
      D.add("ce_small_lr", lossrow, r2, 'f');
      D.add("ce_small_lp", logp, r2, 'f');
    }
    devFree(L0, n * 2);
    devFree(L, n * 2);
#ifdef CE_TUNABLE
    devFree(Lp, n * 2);
#endif
  }
  // ---------------------------------------------------------------- optimizer
  if (optimizer) {
    const long n = 1120000000, pbOff = 151936L * 1792;  // steel-1b: ~1.12e9 parameters, the embedding without a shadow
    float* P = (float*)devAlloc(n * 4);
    float* G = (float*)devAlloc(n * 4);
    float* M1 = (float*)devAlloc(n * 4);
    float* M2 = (float*)devAlloc(n * 4);
    bf16* pb = (bf16*)devAlloc(n * 2);
    double* partial = (double*)devAlloc(1024 * 8);
    float* normOut = (float*)devAlloc(8);
    unsigned long long* h = (unsigned long long*)devAlloc(8 * 4);
    rnd_k<<<4096, 256>>>(P, n, 11, 0.1f, 0.f);
    rnd_k<<<4096, 256>>>(G, n, 12, 2e-3f, 0.f);
    rnd_k<<<4096, 256>>>(M1, n, 13, 2e-4f, 0.f);
    rnd_k<<<4096, 256>>>(M2, n, 14, 1e-7f, 1e-7f);
    CK(cudaMemset(pb, 0, n * 2));
    KCHECK("init");
    const float lr = 3e-4f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, clip = 1.f;
    for (long st = 10; st < 12; st++) adamwStep(P, G, M1, M2, pb, n, pbOff, st, lr, b1, b2, eps, wd, clip, partial, normOut);
    CK(cudaMemset(h, 0, 32));
    hash_k<<<1024, 256>>>((const uint32_t*)P, n, h);
    hash_k<<<1024, 256>>>((const uint32_t*)M1, n, h + 1);
    hash_k<<<1024, 256>>>((const uint32_t*)M2, n, h + 2);
    hash_k<<<1024, 256>>>((const uint32_t*)pb, n / 2, h + 3);
    KCHECK("hash");
    CK(cudaDeviceSynchronize());
    float no[2];
    CK(cudaMemcpy(no, normOut, 8, cudaMemcpyDeviceToHost));
    printf("ADAMW n %ld: grad norm %.9g, clip coefficient %.9g\n", n, no[0], no[1]);
    D.add("adamw_norm", normOut, 2, 'f');
    D.add("adamw_hashes", h, 4, 'u');
    {
      const long ns = n / 4096;
      float* smp = (float*)devAlloc(ns * 4 * 3);
      for (int b = 0; b < 3; b++)
        CK(cudaMemcpy2D(smp + b * ns, 4, (b == 0 ? P : b == 1 ? M1 : M2), 4096 * 4, 4, ns, cudaMemcpyDeviceToDevice));
      D.add("adamw_P_smp", smp, ns, 'f');
      D.add("adamw_m_smp", smp + ns, ns, 'f');
      D.add("adamw_v_smp", smp + 2 * ns, ns, 'f');
      devFree(smp, ns * 4 * 3);
    }
    // timings: the whole step as the addon runs it, and a plain copy (the card's ceiling for this read/write mix)
    const double bytesStep = n * 32.0 + (n - pbOff) * 2.0;
    std::vector<std::tuple<std::string, double, std::function<void()>>> vs;
    long st = 12;
    vs.push_back({"adamwStep", bytesStep,
                  [&] { adamwStep(P, G, M1, M2, pb, n, pbOff, st++, lr, b1, b2, eps, wd, clip, partial, normOut); }});
    vs.push_back({"copy (D2D, 4.48 GB)", n * 8.0, [&] { CK(cudaMemcpyAsync(M1, P, n * 4, cudaMemcpyDeviceToDevice, g_stream)); }});
    std::vector<std::vector<double>> ms(vs.size());
    for (int rep = 0; rep < 14; rep++)
      for (size_t v = 0; v < vs.size(); v++) {
        const double t = timeIt(std::get<2>(vs[v]));
        if (rep >= 2) ms[v].push_back(t);
      }
    for (size_t v = 0; v < vs.size(); v++) {
      const double t = median(ms[v]);
      printf("ADAMW %-22s %.4f ms (min %.4f), %.0f GB/s (events, median of 12)\n", std::get<0>(vs[v]).c_str(), t,
             *std::min_element(ms[v].begin(), ms[v].end()), std::get<1>(vs[v]) / t * 1e-6);
    }
  }
  D.save(argv[2]);
  printf("DONE\n");
  return 0;
}
