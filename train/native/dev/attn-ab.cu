// Dev A/B of the attention kernels (not part of the addon): the production kernels (attention.cuh) against the wgmma
// dK/dV candidate of session 6 (attn-wg-bwd.cuh) and the other shapes of the forward, dQ and dK/dV kernels (consumer
// warpgroups, key tile, ring stages, blocks per SM) on the same random inputs: each candidate's distance from the production output (forward: o,
// lse; backward: dk, dv separately, dq must be untouched) and per-kernel timings with TFLOP/s (CUDA events, mean of
// 10-20 launches).
// TFLOP/s count the causal half of the score matrix: forward 2 GEMMs, dQ 3, dK/dV 4 (as done: S and dP are recomputed
// in both). The timed shapes also time the backward kernels as the training step runs them: with RoPE's tables (its
// backward in the epilogues) and with the q/k/v bias partials.
// With -DATTN_OLD='"FILE"', FILE another tree's attention.cuh (e.g. main's) without its #include / #pragma lines and
// with every identifier that starts with `attn` renamed to `oattn` (run-gpu-checks.sh's attnab makes it with sed from
// OLD_TREE), it also runs the old-vs-new A/B (`abGroups`): on steel-1b's shapes the forward, the dQ kernel and the dK/dV kernel
// of both trees and this tree's other variants of each (RoPE's tables and the bias partials as in the step), every
// output compared bit for bit with this tree's production kernel, then all timed in alternating rounds (CUDA events,
// median and min of the rounds, ratio against the old kernel).
// Build + run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/attn-ab train/native/dev/attn-ab.cu && /tmp/attn-ab
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>
#include "../common.cuh"
#include "../rope.cuh"
#include "attn-wg-bwd.cuh"
#ifdef ATTN_OLD
#include ATTN_OLD
#endif

__global__ void fill_k(bf16* p, long n, uint32_t seed) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    uint32_t y = x * 747796405u + 2891336453u;
    y ^= y >> 13; y *= 0x9e3779b1; y ^= y >> 16;
    float u1 = ((x >> 8) + 1) * (1.f / 16777217.f), u2 = (y >> 8) * (1.f / 16777216.f);
    p[i] = __float2bfloat16(sqrtf(-2.f * logf(u1)) * cospif(2.f * u2));
  }
}
static double relerr(const std::vector<bf16>& a, const std::vector<bf16>& b, double* maxabs) {
  double n = 0, d = 0, m = 0;
  for (size_t i = 0; i < a.size(); i++) {
    double x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
    n += (x - y) * (x - y), d += y * y, m = std::max(m, std::fabs(x - y));
  }
  *maxabs = m;
  return std::sqrt(n / std::max(d, 1e-30));
}
template <class F>
static double timeit(F f, int iters) {
  cudaEvent_t a, b;
  cudaEventCreate(&a); cudaEventCreate(&b);
  f();
  cudaEventRecord(a);
  for (int i = 0; i < iters; i++) f();
  cudaEventRecord(b);
  CK(cudaEventSynchronize(b));
  float ms;
  cudaEventElapsedTime(&ms, a, b);
  return ms / iters;
}
// One A/B group: variants writing their own output buffers (each set to 0xff before the launch that is compared), the
// first the reference of the bit comparison; then `rounds` alternating rounds of `iters` launches each.
struct AbOut { void* p; size_t bytes; };
struct AbVar { std::string name; std::function<void()> f; std::vector<AbOut> outs; };
static bool abGroup(const char* title, double flop, const std::vector<AbVar>& vs, int rounds, int iters, int base) {
  bool ok = true;
  std::vector<std::vector<unsigned char>> ref;
  for (size_t v = 0; v < vs.size(); v++) {
    vs[v].f();  // first launch: raises the shared-memory limit of the instantiation
    for (const AbOut& o : vs[v].outs) CK(cudaMemset(o.p, 0xff, o.bytes));
    vs[v].f();
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::string cmp;
    for (size_t k = 0; k < vs[v].outs.size(); k++) {
      std::vector<unsigned char> h(vs[v].outs[k].bytes);
      CK(cudaMemcpy(h.data(), vs[v].outs[k].p, h.size(), cudaMemcpyDeviceToHost));
      if (v == 0) { ref.push_back(std::move(h)); continue; }
      long diff = 0;
      for (size_t i = 0; i < h.size(); i += 4) diff += memcmp(&h[i], &ref[k][i], std::min<size_t>(4, h.size() - i)) != 0;
      cmp += diff ? " out" + std::to_string(k) + " DIFFERS (" + std::to_string(diff) + " words)" : "";
      ok &= diff == 0;
    }
    if (v) printf("%s: %s vs %s: %s\n", title, vs[v].name.c_str(), vs[0].name.c_str(), cmp.empty() ? "bit-identical" : cmp.c_str());
  }
  std::vector<std::vector<double>> ms(vs.size());
  for (int r = 0; r < rounds; r++)
    for (size_t v = 0; v < vs.size(); v++) {
      const size_t w = (r & 1) ? vs.size() - 1 - v : v;  // the order reversed every other round
      ms[w].push_back(timeit(vs[w].f, iters));
    }
  std::vector<double> med(vs.size());
  for (size_t v = 0; v < vs.size(); v++) {
    std::vector<double> m = ms[v];
    std::sort(m.begin(), m.end());
    med[v] = m.size() % 2 ? m[m.size() / 2] : 0.5 * (m[m.size() / 2 - 1] + m[m.size() / 2]);
  }
  for (size_t v = 0; v < vs.size(); v++) {
    std::string all;
    for (double x : ms[v]) all += strf(" %.4f", x);
    printf("AB %s | %-28s median %.4f ms min %.4f (%.0f TFLOP/s) x%.3f of %s | rounds%s\n", title, vs[v].name.c_str(), med[v],
           *std::min_element(ms[v].begin(), ms[v].end()), flop / med[v] / 1e9, med[v] / med[base], vs[base].name.c_str(), all.c_str());
  }
  return ok;
}

#ifdef ATTN_OLD
// The old tree's forward, dQ and dK/dV kernels against this tree's and its variants at head_dim 8 NDT (56: steel-1b), with
// RoPE's tables and the bias partials as in the step; qkv / o / dO / lse: the inputs (o, lse from this tree's forward).
template <int NDT>
static bool abGroups(int B, int T, int H, int Hk, const bf16* qkv, const bf16* o, const bf16* dO, const float* lse,
                     const float* cs, const float* sn) {
  constexpr int hd = NDT * 8;
  const long N = (long)B * T, nl = (long)B * H * T, np = (long)B * attn_cdiv(T, 64) * (H + 2 * Hk) * hd;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  const float scale = 1.f / std::sqrt((float)hd), sl2 = scale * 1.4426950408889634f;
  const double fl = (double)B * H * T * T * hd;
  std::vector<void*> bufs;
  auto alloc = [&](size_t bytes) { void* p; CK(cudaMalloc(&p, bytes)); bufs.push_back(p); return p; };
  bool ok = true;
  char title[64];
  {  // forward: o, lse
    std::vector<AbVar> vs;
    auto add = [&](const char* name, auto launch) {
      bf16* ob = (bf16*)alloc(N * qd * 2);
      float* lb = (float*)alloc(nl * 4);
      vs.push_back({name, [=]() { launch(ob, lb); }, {{ob, (size_t)N * qd * 2}, {lb, (size_t)nl * 4}}});
    };
    add("old", [=](bf16* ob, float* lb) { oattnForward(qkv, ob, lb, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2); });
    add("new", [=](bf16* ob, float* lb) { attnForward(qkv, ob, lb, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2); });
    snprintf(title, sizeof title, "fwd H%d/%d hd%d", H, Hk, hd);
    ok &= abGroup(title, 2 * fl, vs, 9, 30, 0);
  }
  float* delta = (float*)alloc(nl * 4);
  {  // dQ: the dq columns, delta, the q partials
    std::vector<AbVar> vs;
    auto add = [&](const char* name, auto launch) {
      bf16* gb = (bf16*)alloc(N * ldq * 2);
      float* db = (float*)alloc(nl * 4);
      float* pb = (float*)alloc(np * 4);
      vs.push_back({name, [=]() { launch(gb, db, pb); }, {{gb, (size_t)N * ldq * 2}, {db, (size_t)nl * 4}, {pb, (size_t)np * 4}}});
    };
#define DQARGS qkv, o, dO, lse, db, gb, B, T, H, Hk, hd, ldq, sl2, scale, cs, sn, pb
    add("old", [=](bf16* gb, float* db, float* pb) { oattnBackwardDq<NDT>(DQARGS); });
    add("new", [=](bf16* gb, float* db, float* pb) { attnBackwardDq<NDT>(DQARGS); });
#undef DQARGS
    snprintf(title, sizeof title, "dQ H%d/%d hd%d", H, Hk, hd);
    ok &= abGroup(title, 3 * fl, vs, 9, 30, 0);
    vs[1].f();  // this tree's delta for the dK/dV kernels
    CK(cudaMemcpy(delta, vs[1].outs[1].p, nl * 4, cudaMemcpyDeviceToDevice));
  }
  {  // dK/dV: the dk, dv columns, the k / v partials
    std::vector<AbVar> vs;
    auto add = [&](const char* name, auto launch) {
      bf16* gb = (bf16*)alloc(N * ldq * 2);
      float* pb = (float*)alloc(np * 4);
      vs.push_back({name, [=]() { launch(gb, pb); }, {{gb, (size_t)N * ldq * 2}, {pb, (size_t)np * 4}}});
    };
#define KVARGS qkv, dO, lse, delta, gb, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2, scale, cs, sn, pb
    add("old", [=](bf16* gb, float* pb) { oattnBackwardDkdv<NDT>(KVARGS); });
    add("new", [=](bf16* gb, float* pb) { attnBackwardDkdv<NDT>(KVARGS); });
    add("new nc1 2/SM", [=](bf16* gb, float* pb) { attnBackwardDkdv<NDT, 1, 4, 2>(KVARGS); });
#undef KVARGS
    snprintf(title, sizeof title, "dKdV H%d/%d hd%d", H, Hk, hd);
    ok &= abGroup(title, 4 * fl, vs, 9, 30, 0);
  }
  for (void* p : bufs) cudaFree(p);
  return ok;
}
#endif

int main() {
  struct S { int B, T, H, Hk, hd; bool time; };
  const S shapes[] = {{2, 200, 4, 2, 56, false}, {1, 256, 2, 2, 64, false}, {2, 77, 4, 4, 8, false},
                      {1, 1100, 4, 1, 56, false}, {8, 2048, 32, 32, 56, true}, {8, 2048, 32, 8, 56, true},
                      {8, 2048, 16, 16, 64, true}};
  bool ok = true;
  for (const S& s : shapes) {
    const long N = (long)s.B * s.T;
    const int qd = s.H * s.hd, kd = s.Hk * s.hd, ldq = qd + 2 * kd;
    bf16 *qkv, *o0, *dO, *g0, *g1;
    float *l0, *dl;
    CK(cudaMalloc(&qkv, N * ldq * 2)); CK(cudaMalloc(&o0, N * qd * 2)); CK(cudaMalloc(&dO, N * qd * 2));
    CK(cudaMalloc(&g0, N * ldq * 2)); CK(cudaMalloc(&g1, N * ldq * 2));
    CK(cudaMalloc(&l0, (long)s.B * s.H * s.T * 4)); CK(cudaMalloc(&dl, (long)s.B * s.H * s.T * 4));
    fill_k<<<1024, 256>>>(qkv, N * ldq, 1234u + s.T);
    fill_k<<<1024, 256>>>(dO, N * qd, 999u + s.T);
    const float scale = 1.f / std::sqrt((float)s.hd), sl2 = scale * 1.4426950408889634f;
    const double fl = (double)s.B * s.H * s.T * s.T * s.hd;  // one causal GEMM: 2 * (T*T/2) * hd per head
    auto fwd = [&]() { attnForward(qkv, o0, l0, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2); };
    auto bwd = [&]() { attnBackward(qkv, o0, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale); };
    // candidates: (warpgroups per block, blocks per SM, K/V in registers)
    struct C { const char* name; std::function<void()> f; };
    const std::vector<C> cands = {
        {"wg1 kvreg qpb2", [&]() { attnBackwardDKDVWG<1, 2, true, 2>(qkv, dO, l0, dl, g1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale); }},
        {"dkdv nc2 ns2", [&]() { NDT_SWITCH(s.hd, (attnBackwardDkdv<N_, 2, 2, 1>(qkv, dO, l0, dl, g1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale, nullptr, nullptr, nullptr))); }},
        {"dkdv nc1 ns4 2/SM", [&]() { NDT_SWITCH(s.hd, (attnBackwardDkdv<N_, 1, 4, 2>(qkv, dO, l0, dl, g1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale, nullptr, nullptr, nullptr))); }},
    };
    // forward variants of attn_fwd_k (consumer warpgroups, key tile, ring stages, blocks per SM) against its production shape
    bf16* o1;
    float* l1;
    CK(cudaMalloc(&o1, N * qd * 2)); CK(cudaMalloc(&l1, (long)s.B * s.H * s.T * 4));
    const std::vector<C> fcands = {
        {"nc2 bn64 ns2 2/SM", [&]() { attnForward<2, 64, 2, 2>(qkv, o1, l1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2); }},
        {"nc1 bn64 ns2 4/SM", [&]() { attnForward<1, 64, 2, 4>(qkv, o1, l1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2); }},
        {"nc1 bn64 ns3 3/SM", [&]() { attnForward<1, 64, 3, 3>(qkv, o1, l1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2); }},
        {"nc3 bn128 ns3 1/SM", [&]() { attnForward<3, 128, 3, 1>(qkv, o1, l1, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2); }},
    };
    fwd();
    CK(cudaDeviceSynchronize());
    {
      std::vector<bf16> oa(N * qd), ob(N * qd);
      std::vector<float> la((long)s.B * s.H * s.T), lb(la.size());
      CK(cudaMemcpy(oa.data(), o0, N * qd * 2, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(la.data(), l0, la.size() * 4, cudaMemcpyDeviceToHost));
      for (const C& c : fcands) {
        CK(cudaMemset(o1, 0xff, N * qd * 2));
        CK(cudaMemset(l1, 0xff, la.size() * 4));
        c.f();
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(ob.data(), o1, N * qd * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(lb.data(), l1, la.size() * 4, cudaMemcpyDeviceToHost));
        double ma, e = relerr(ob, oa, &ma), lm = 0;
        long same = 0;
        for (long i = 0; i < N * qd; i++) same += reinterpret_cast<const uint16_t&>(ob[i]) == reinterpret_cast<const uint16_t&>(oa[i]);
        for (size_t i = 0; i < la.size(); i++) lm = std::max(lm, (double)std::fabs(lb[i] - la[i]));
        const bool good = e < 1e-2 && std::isfinite(e) && lm < 1e-3;
        ok &= good;
        printf("B%d T%d H%d/%d hd%d: fwd candidate %s vs production: o %.2e (max %.2e%s) lse max %.2e%s\n", s.B, s.T, s.H,
               s.Hk, s.hd, c.name, e, ma, same == N * qd ? ", bit-identical" : "", lm, good ? "" : " FAIL");
      }
    }
    // dQ variants of attn_bwd_dq_k (consumer warpgroups, ring stages, blocks per SM) against its production shape, with
    // RoPE's tables and the bias partials as in the step: dq columns, delta and the q partials compared
    float *cs, *sn, *pa, *pb, *dl1;
    const int nq64 = attn_cdiv(s.T, 64);
    CK(cudaMalloc(&cs, (long)s.T * s.hd / 2 * 4)); CK(cudaMalloc(&sn, (long)s.T * s.hd / 2 * 4));
    CK(cudaMalloc(&pa, (long)s.B * nq64 * ldq * 4)); CK(cudaMalloc(&pb, (long)s.B * nq64 * ldq * 4));
    CK(cudaMalloc(&dl1, (long)s.B * s.H * s.T * 4));
    ropeTables(cs, sn, s.T, s.hd, 1e4);
    auto dqProd = [&](float* pt) {
      NDT_SWITCH(s.hd, (attnBackwardDq<N_>(qkv, o0, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, sl2, scale, cs, sn, pt)));
    };
    const std::vector<C> qcands = {
        {"dq nc2 ns4 1/SM", [&]() { NDT_SWITCH(s.hd, (attnBackwardDq<N_, 2, 4, 1>(qkv, o0, dO, l0, dl1, g1, s.B, s.T, s.H, s.Hk, s.hd, ldq, sl2, scale, cs, sn, pb))); }},
        {"dq nc3 ns2 1/SM", [&]() { NDT_SWITCH(s.hd, (attnBackwardDq<N_, 3, 2, 1>(qkv, o0, dO, l0, dl1, g1, s.B, s.T, s.H, s.Hk, s.hd, ldq, sl2, scale, cs, sn, pb))); }},
    };
    {
      fwd();
      bwd();  // the first launch of each backward instantiation raises its shared-memory limit
      CK(cudaMemset(g0, 0xff, N * ldq * 2));
      CK(cudaMemset(pa, 0xff, (long)s.B * nq64 * ldq * 4));
      dqProd(pa);
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
      const long nl = (long)s.B * s.H * s.T, np = (long)s.B * nq64 * ldq;
      std::vector<bf16> ga(N * ldq), gb(N * ldq);
      std::vector<float> da(nl), db(nl), qa(np), qb_(np);
      CK(cudaMemcpy(ga.data(), g0, N * ldq * 2, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(da.data(), dl, nl * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(qa.data(), pa, np * 4, cudaMemcpyDeviceToHost));
      for (const C& c : qcands) {
        CK(cudaMemset(g1, 0xff, N * ldq * 2)); CK(cudaMemset(pb, 0xff, np * 4)); CK(cudaMemset(dl1, 0xff, nl * 4));
        c.f();
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(gb.data(), g1, N * ldq * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(db.data(), dl1, nl * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(qb_.data(), pb, np * 4, cudaMemcpyDeviceToHost));
        long same = 0, n = 0, dsame = 0, psame = 0, pn = 0;
        std::vector<bf16> x, y;
        for (long r = 0; r < N; r++)
          for (int cc = 0; cc < qd; cc++) {
            x.push_back(gb[r * ldq + cc]), y.push_back(ga[r * ldq + cc]);
            same += reinterpret_cast<const uint16_t&>(gb[r * ldq + cc]) == reinterpret_cast<const uint16_t&>(ga[r * ldq + cc]), n++;
          }
        for (long i = 0; i < nl; i++) dsame += memcmp(&da[i], &db[i], 4) == 0;
        for (long r = 0; r < (long)s.B * nq64; r++)
          for (int cc = 0; cc < qd; cc++) psame += memcmp(&qa[r * ldq + cc], &qb_[r * ldq + cc], 4) == 0, pn++;
        double ma, e = relerr(x, y, &ma);
        const bool good = e < 1e-2 && std::isfinite(e) && dsame == nl && psame == pn;
        ok &= good;
        printf("B%d T%d H%d/%d hd%d: dQ candidate %s vs production: dq %.2e (max %.2e%s) delta %s, q partials %s%s\n", s.B, s.T,
               s.H, s.Hk, s.hd, c.name, e, ma, same == n ? ", bit-identical" : "", dsame == nl ? "bit-identical" : "DIFFER",
               psame == pn ? "bit-identical" : "DIFFER", good ? "" : " FAIL");
      }
    }
    CK(cudaMemset(g0, 0xff, N * ldq * 2));
    fwd();
    bwd();  // leaves delta in dl (the dQ kernel writes it)
    CK(cudaDeviceSynchronize());
    std::vector<bf16> ga(N * ldq), gb(N * ldq);
    CK(cudaMemcpy(ga.data(), g0, N * ldq * 2, cudaMemcpyDeviceToHost));
    const int lo[3] = {0, qd, qd + kd}, hi[3] = {qd, qd + kd, ldq};
    const char* nm[3] = {"dq", "dk", "dv"};
    for (const C& c : cands) {
      CK(cudaMemset(g1, 0xff, N * ldq * 2));
      c.f();  // dk, dv only: g1's dq columns stay 0xffff (NaN)
      CK(cudaDeviceSynchronize());
      CK(cudaMemcpy(gb.data(), g1, N * ldq * 2, cudaMemcpyDeviceToHost));
      printf("B%d T%d H%d/%d hd%d: candidate %s vs production:", s.B, s.T, s.H, s.Hk, s.hd, c.name);
      for (int p = 1; p < 3; p++) {
        std::vector<bf16> x, y;
        long same = 0, n = 0;
        for (long r = 0; r < N; r++)
          for (int cc = lo[p]; cc < hi[p]; cc++) {
            x.push_back(gb[r * ldq + cc]), y.push_back(ga[r * ldq + cc]);
            same += gb[r * ldq + cc] == ga[r * ldq + cc], n++;
          }
        double ma, e = relerr(x, y, &ma);
        const bool good = e < 1e-2 && std::isfinite(e);
        ok &= good;
        printf(" %s %.2e (max %.2e%s)%s", nm[p], e, ma, same == n ? ", bit-identical" : "", good ? "" : " FAIL");
      }
      printf("\n");
    }
    if (s.time) {
      auto oq = [&]() {
        NDT_SWITCH(s.hd, (attnBackwardDq<N_>(qkv, o0, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, sl2, scale, nullptr, nullptr, nullptr)));
      };
      auto okv = [&]() {
        NDT_SWITCH(s.hd, (attnBackwardDkdv<N_>(qkv, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale, nullptr, nullptr, nullptr)));
      };
      // the step's configuration: RoPE's backward in the epilogues (tables), with / without the bias partials
      float *cs, *sn, *part;
      CK(cudaMalloc(&cs, (long)s.T * s.hd / 2 * 4)); CK(cudaMalloc(&sn, (long)s.T * s.hd / 2 * 4));
      CK(cudaMalloc(&part, (long)s.B * attn_cdiv(s.T, 64) * ldq * 4));
      ropeTables(cs, sn, s.T, s.hd, 1e4);
      auto oqR = [&](float* pt) {
        NDT_SWITCH(s.hd, (attnBackwardDq<N_>(qkv, o0, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, sl2, scale, cs, sn, pt)));
      };
      auto okvR = [&](float* pt) {
        NDT_SWITCH(s.hd, (attnBackwardDkdv<N_>(qkv, dO, l0, dl, g0, s.B, s.T, s.H, s.Hk, s.hd, ldq, qd, qd + kd, sl2, scale, cs, sn, pt)));
      };
      auto T_ = [](double f, double ms) { return f / ms / 1e9; };
      for (int rep = 0; rep < 2; rep++) {
        const double a = timeit(oq, 10), b = timeit([&]() { oqR(nullptr); }, 10), c = timeit([&]() { oqR(part); }, 10);
        const double d = timeit(okv, 10), e = timeit([&]() { okvR(nullptr); }, 10), f = timeit([&]() { okvR(part); }, 10);
        printf("  RoPE epilogue: dQ %.3f | + RoPE %.3f | + bias partials %.3f ms; dK/dV %.3f | + RoPE %.3f | + bias partials %.3f ms\n",
               a, b, c, d, e, f);
      }
      cudaFree(cs); cudaFree(sn); cudaFree(part);
      for (int rep = 0; rep < 2; rep++) {  // production and candidates alternating, twice
        const double tf = timeit(fwd, 20), tb = timeit(bwd, 10), tq = timeit(oq, 10), tkv = timeit(okv, 10);
        printf("  production: fwd %.3f ms (%.0f TFLOP/s) | bwd %.3f ms (%.0f, 5 GEMMs) = dQ with delta %.3f (%.0f) + dK/dV %.3f (%.0f)\n",
               tf, T_(2 * fl, tf), tb, T_(5 * fl, tb), tq, T_(3 * fl, tq), tkv, T_(4 * fl, tkv));
        for (const C& c : fcands) {
          const double w = timeit(c.f, 20);
          printf("  candidate %s: fwd %.3f ms (%.0f)\n", c.name, w, T_(2 * fl, w));
        }
        const double tq2 = timeit([&]() { dqProd(pa); }, 10);
        printf("  production dQ with RoPE and partials: %.3f ms (%.0f)\n", tq2, T_(3 * fl, tq2));
        for (const C& c : qcands) {
          const double w = timeit(c.f, 10);
          printf("  candidate %s: dQ with RoPE and partials %.3f ms (%.0f)\n", c.name, w, T_(3 * fl, w));
        }
        for (const C& c : cands) {
          const double w = timeit(c.f, 10);
          printf("  candidate %s: dK/dV %.3f ms (%.0f)\n", c.name, w, T_(4 * fl, w));
        }
      }
    }
#ifdef ATTN_OLD
    if (s.time && s.hd == 56) ok &= abGroups<7>(s.B, s.T, s.H, s.Hk, qkv, o0, dO, l0, cs, sn);
    if (s.time && s.hd == 64) ok &= abGroups<8>(s.B, s.T, s.H, s.Hk, qkv, o0, dO, l0, cs, sn);
#endif
    cudaFree(o1); cudaFree(l1); cudaFree(cs); cudaFree(sn); cudaFree(pa); cudaFree(pb); cudaFree(dl1); cudaFree(qkv); cudaFree(o0); cudaFree(dO); cudaFree(g0); cudaFree(g1); cudaFree(l0); cudaFree(dl);
  }
  printf(ok ? "ALL OK\n" : "SOME FAILED\n");
  return ok ? 0 : 1;
}
