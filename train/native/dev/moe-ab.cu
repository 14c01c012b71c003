// Dev A/B of the Soft-MoE layer (softmoe.cuh; not part of the addon): one layer's forward and backward on steel-1b's
// shape (B 8, T 2048, d 1792, 6 experts x 1 slot, I 448) with random weights and inputs, timed with CUDA events (whole
// forward, whole backward: median of 20) and per phase (the addon's synchronising profile marks, median of 20), and its
// outputs dumped so that two builds (old and new softmoe.cuh) can be compared tensor by tensor.
// Then (CAND lines) the candidate kernels of dev/moe-cand.cuh against the production kernels they would replace, on the
// same inputs: each pair timed with CUDA events (median of 20) and its outputs compared bit for bit.
// Build against a tree's softmoe.cuh and run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/moe-ab train/native/dev/moe-ab.cu -lcublasLt
//   /tmp/moe-ab run OUT.bin [B T]          time and dump
//   /tmp/moe-ab cmp A.bin B.bin            max |a - b| / max |b| per tensor, and whether bit-identical
// (`SECTIONS=moeab train/native/run-gpu-checks.sh` does this, and with OLD_TREE the dumps of two trees' builds.)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include "../rmsnorm.cuh"
#include "moe-cand.cuh"

__global__ void rnd_k(float* p, long n, uint32_t seed, float scale, float offset) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = offset + scale * ((x >> 8) * (1.f / 16777216.f) - 0.5f);
  }
}
static float* rnd(long n, uint32_t seed, float scale, float offset = 0.f) {
  float* p = (float*)devAlloc(n * 4);
  rnd_k<<<1024, 256>>>(p, n, seed, scale, offset);
  return p;
}
static bf16* tob(const float* p, long n) {
  bf16* b = (bf16*)devAlloc(n * 2);
  cast_f2b_k<<<nblk(n), 256>>>(p, b, n);
  return b;
}
struct Dump {
  std::vector<std::pair<std::string, std::vector<float>>> t;
  void add(const char* name, const float* d, long n) {
    std::vector<float> h(n);
    CK(cudaMemcpy(h.data(), d, n * 4, cudaMemcpyDeviceToHost));
    t.push_back({name, std::move(h)});
  }
  void save(const char* path) {
    FILE* f = fopen(path, "wb");
    for (auto& [name, v] : t) {
      char nm[32] = {};
      strncpy(nm, name.c_str(), 31);
      long n = (long)v.size();
      fwrite(nm, 1, 32, f), fwrite(&n, 8, 1, f), fwrite(v.data(), 4, n, f);
    }
    fclose(f);
  }
  static Dump load(const char* path) {
    Dump d;
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    char nm[32];
    long n;
    while (fread(nm, 1, 32, f) == 32 && fread(&n, 8, 1, f) == 1) {
      std::vector<float> v(n);
      if (fread(v.data(), 4, n, f) != (size_t)n) break;
      d.t.push_back({nm, std::move(v)});
    }
    fclose(f);
    return d;
  }
};
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// the candidates of dev/moe-cand.cuh against the production kernels, on the layer's inputs (own output buffers)
static void candidates(SoftMoe& moe, const MoeAct& a, const MoeScratch& s, const float* xmid, const float* dR, int B, int T) {
  const int d = moe.d, S = moe.S, np = moe.np;
  const long N = (long)B * T;
  const float eps = 1e-6f;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  auto timeIt = [&](auto f) {
    std::vector<double> t;
    for (int it = 0; it < 23; it++) {
      CK(cudaEventRecord(e0, g_stream));
      f();
      CK(cudaEventRecord(e1, g_stream));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      if (it >= 3) t.push_back(ms);
    }
    return median(t);
  };
  bool all = true;
  auto same = [&](const void* x, const void* y, size_t bytes) {
    std::vector<char> hx(bytes), hy(bytes);
    CK(cudaMemcpy(hx.data(), x, bytes, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hy.data(), y, bytes, cudaMemcpyDeviceToHost));
    const bool r = !memcmp(hx.data(), hy.data(), bytes);
    all &= r;
    return r;
  };
  auto F = [](long n) { return (float*)devAlloc(n * 4); };
  // 1. phi of 18 layers (steel-1b's count), random per layer: 18 launches of moe_phi_k against one of moe_phi_all_k
  const int L = 18;
  const long nphi = (long)d * S;
  float* phis = rnd(L * nphi, 21, 0.1f);
  float* scales = rnd(L, 22, 0.5f, 1.f);
  float *hatP = F(L * nphi), *nrmP = F(L * S), *hatC = F(L * nphi), *nrmC = F(L * S);
  MoePhiArgs args{};
  for (int l = 0; l < L; l++)
    args.phi[l] = phis + l * nphi, args.scale[l] = scales + l, args.phihatT[l] = hatC + l * nphi, args.phinorm[l] = nrmC + l * S;
  const double tpP = timeIt([&] {
    for (int l = 0; l < L; l++) moe_phi_k<<<1, 1024, 0, g_stream>>>(phis + l * nphi, scales + l, hatP + l * nphi, nrmP + l * S, d, S);
  });
  const double tpC = timeIt([&] { moe_phi_all_k<<<L, 1024, 0, g_stream>>>(args, d, S); });
  KCHECK("moe_phi_all");
  const bool phiSame = same(hatP, hatC, L * nphi * 4) & same(nrmP, nrmC, L * S * 4);
  printf("CAND phi of %d layers: production %d launches of moe_phi_k %.4f ms, candidate moe_phi_all_k (1 launch) %.4f ms; %s\n", L,
         L, tpP, tpC, phiSame ? "bit-identical" : "DIFFERS");
  // 2. combine + the next RMSNorm: moe_combine_k then rmsnormForward against moe_combine_norm_k
  float* nw = rnd(d, 23, 0.5f, 1.f);
  float *xoP = F(N * d), *xoC = F(N * d), *rP = F(N), *rC = F(N);
  bf16 *yP = (bf16*)devAlloc(N * d * 2), *yC = (bf16*)devAlloc(N * d * 2);
  const dim3 tg((T + 63) / 64, B);
  auto combP = [&] {
    moe.withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      moe_combine_k<K><<<tg, 256, moe.smem / 2, g_stream>>>(xmid, a.C, a.Ys, xoP, B, T, d, S, np);
    });
  };
  auto normP = [&] { rmsnormForward(xoP, nullptr, nullptr, nw, yP, rP, N, d, eps); };
  moe.withSM([&](auto k) {
    constexpr int K = decltype(k)::value;
    CK(cudaFuncSetAttribute(moe_combine_norm_k<K, 14>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moe.smem));
    CK(cudaFuncSetAttribute(moe_tok_bwd1_r2_k<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moe.smem));
  });
  auto combC = [&] {
    moe.withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      moe_combine_norm_k<K, 14><<<tg, 256, moe.smem / 2, g_stream>>>(xmid, a.C, a.Ys, xoC, nw, yC, rC, eps, B, T, d, S, np);
    });
  };
  const double tcP = timeIt(combP), tnP = timeIt(normP), tbP = timeIt([&] { combP(); normP(); }), tbC = timeIt(combC);
  KCHECK("moe_combine_norm");
  const bool xs = same(xoP, xoC, N * d * 4), ys = same(yP, yC, N * d * 2), rs = same(rP, rC, N * 4);
  printf("CAND combine + RMSNorm: production moe_combine_k %.4f + rmsnormForward %.4f = %.4f ms (back to back), candidate "
         "moe_combine_norm_k %.4f ms; xout %s, y %s, rstd %s\n",
         tcP, tnP, tbP, tbC, xs ? "bit-identical" : "DIFFERS", ys ? "bit-identical" : "DIFFERS", rs ? "bit-identical" : "DIFFERS");
  // 3. token backward 1: moe_tok_bwd1_k against moe_tok_bwd1_r2_k
  float *lcP = F(N * S), *ddP = F(N * S), *lcC = F(N * S), *ddC = F(N * S);
  const double ttP = timeIt([&] {
    moe.withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      moe_tok_bwd1_k<K><<<tg, 256, moe.smem, g_stream>>>(a.xn2, a.rinv, dR, a.Ys, s.dXs, a.C, lcP, ddP, B, T, d, S, np);
    });
  });
  const double ttC = timeIt([&] {
    moe.withSM([&](auto k) {
      constexpr int K = decltype(k)::value;
      moe_tok_bwd1_r2_k<K><<<tg, 256, moe.smem, g_stream>>>(a.xn2, a.rinv, dR, a.Ys, s.dXs, a.C, lcC, ddC, B, T, d, S, np);
    });
  });
  KCHECK("moe_tok_bwd1_r2");
  const bool ts = same(lcP, lcC, N * S * 4) & same(ddP, ddC, N * S * 4);
  printf("CAND token backward 1: production moe_tok_bwd1_k %.4f ms, candidate moe_tok_bwd1_r2_k %.4f ms; dLC and dD %s\n", ttP,
         ttC, ts ? "bit-identical" : "DIFFER");
  // bytes: combine reads xmid, writes xout (+ the norm's read of xout and bf16 y); tok1 reads dY (fp32) and x (bf16)
  printf("CAND bytes per call: combine + norm %.0f MB apart, %.0f MB fused; tok1 %.0f MB\n", 14.0 * N * d / 1e6, 10.0 * N * d / 1e6,
         6.0 * N * d / 1e6);
  printf("CAND %s\n", all ? "ALL BIT-IDENTICAL" : "SOME DIFFER");
}

int main(int argc, char** argv) {
  if (argc >= 4 && !strcmp(argv[1], "cmp")) {
    Dump a = Dump::load(argv[2]), b = Dump::load(argv[3]);
    bool allSame = true;
    for (size_t i = 0; i < a.t.size() && i < b.t.size(); i++) {
      const auto& x = a.t[i].second;
      const auto& y = b.t[i].second;
      double mx = 0, md = 0;
      bool same = x.size() == y.size() && !memcmp(x.data(), y.data(), x.size() * 4);
      for (size_t j = 0; j < x.size() && j < y.size(); j++) mx = std::max(mx, (double)std::fabs(y[j])), md = std::max(md, (double)std::fabs(x[j] - y[j]));
      allSame &= same;
      printf("CMP %-10s n %9zu  max|a-b|/max|b| %.3e  %s\n", a.t[i].first.c_str(), x.size(), mx > 0 ? md / mx : md,
             same ? "bit-identical" : "differs");
    }
    printf("CMP %s\n", allSame ? "ALL BIT-IDENTICAL" : "SOME DIFFER");
    return 0;
  }
  if (argc < 3) { fprintf(stderr, "usage: moe-ab run OUT.bin [B T] | cmp A.bin B.bin\n"); return 2; }
  const int B = argc > 3 ? atoi(argv[3]) : 8, T = argc > 4 ? atoi(argv[4]) : 2048;
  const int d = 1792, I = 448, ne = 6, np = 1, S = ne * np;
  const long N = (long)B * T, R = (long)B * np;
  SoftMoe moe;
  moe.setup(d, I, ne, np);
  Gemm gemm;
  gemm.init();
  // parameters: phi [d, S], scale, eguw [ne][2I][d], egdw [ne][2d][I]
  const long nphi = (long)d * S, neg = (long)ne * 2 * I * d;
  MoeW w{0, nphi, nphi + 1, nphi + 1 + neg};
  const long nP = nphi + 1 + 2 * neg;
  float* P = rnd(nP, 1, 0.1f);
  rnd_k<<<1, 1>>>(P + nphi, 1, 7, 0.f, 1.f);  // scale = 1
  bf16* PB = tob(P, nP);
  float* G = (float*)devAlloc(nP * 4);
  CK(cudaMemset(G, 0, nP * 4));
  MoeAct a{};
  float* xf = rnd(N * d, 2, 4.f);
  a.xn2 = tob(xf, N * d);
  auto F = [](long n) { return (float*)devAlloc(n * 4); };
  auto Bf = [](long n) { return (bf16*)devAlloc(n * 2); };
  a.rinv = F(N), a.Lg = F(N * S), a.D = F(N * S), a.C = F(N * S), a.slots = F(R * S / np * d), a.Ys = F(B * S * d);
  a.phihat = F(d * S), a.phinorm = F(S), a.slotsb = Bf(B * S * d), a.gu1 = Bf(ne * R * 2 * I), a.h1 = Bf(ne * R * I),
  a.gd2 = Bf(ne * R * 2 * d);
  MoeScratch s{};
  s.dYs = F(B * S * d), s.dXs = F(B * S * d), s.dh = F(ne * R * I), s.dC = F(N * S), s.dD = F(N * S), s.dL = F(N * S),
  s.dph = F(d * S), s.mpart = F(moe.mpartFloats(B, T)), s.dgu = Bf(ne * R * 2 * std::max(I, d));
  float* xmid = rnd(N * d, 3, 2.f);
  float* dR = rnd(N * d, 4, 1e-3f);
  float* xout = F(N * d);
  float* dxn = F(N * d);
  Prof off, on;
  on.on = true;
  cudaEvent_t e0, e1, e2;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaEventCreate(&e2));
  std::vector<double> tf, tb;
  for (int it = 0; it < 23; it++) {
    CK(cudaMemset(G, 0, nP * 4));
    CK(cudaEventRecord(e0, g_stream));
    moe.forward(gemm, P, PB, w, a, xmid, xout, B, T, s.mpart, off);
    CK(cudaEventRecord(e1, g_stream));
    moe.backward(gemm, P, PB, G, w, a, dR, dxn, B, T, s, off, 1.f);
    CK(cudaEventRecord(e2, g_stream));
    CK(cudaEventSynchronize(e2));
    float f, b2;
    CK(cudaEventElapsedTime(&f, e0, e1));
    CK(cudaEventElapsedTime(&b2, e1, e2));
    if (it >= 3) tf.push_back(f), tb.push_back(b2);
  }
  std::map<std::string, std::vector<double>> ph;
  for (int it = 0; it < 20; it++) {
    on.ms.clear();
    CK(cudaMemset(G, 0, nP * 4));
    on.start();
    moe.forward(gemm, P, PB, w, a, xmid, xout, B, T, s.mpart, on);
    moe.backward(gemm, P, PB, G, w, a, dR, dxn, B, T, s, on, 1.f);
    for (auto& [k, v] : on.ms) ph[k].push_back(v);
  }
  printf("MOE B %d T %d d %d S %d: forward %.4f ms, backward %.4f ms, total %.4f ms per layer (events, median of 20)\n", B, T,
         d, S, median(tf), median(tb), median(tf) + median(tb));
  for (auto& [k, v] : ph) printf("MOE phase %-14s %.4f ms (synchronising marks, median of 20)\n", k.c_str(), median(v));
  candidates(moe, a, s, xmid, dR, B, T);
  Dump dump;
  dump.add("rinv", a.rinv, N), dump.add("Lg", a.Lg, N * S), dump.add("D", a.D, N * S), dump.add("C", a.C, N * S);
  dump.add("slots", a.slots, B * S * d), dump.add("Ys", a.Ys, B * S * d), dump.add("xout", xout, N * d);
  dump.add("dYs", s.dYs, B * S * d), dump.add("dXs", s.dXs, B * S * d), dump.add("dL", s.dL, N * S), dump.add("dxn", dxn, N * d);
  dump.add("gphi", G, nphi), dump.add("gscale", G + nphi, 1), dump.add("geguw", G + w.eguw, neg), dump.add("gegdw", G + w.egdw, neg);
  dump.save(argv[2]);
  printf("MOE dumped %s\n", argv[2]);
  return 0;
}
