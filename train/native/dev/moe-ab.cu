// Dev A/B of the Soft-MoE layer (softmoe.cuh; not part of the addon): one layer's forward and backward on steel-1b's
// shape (B 8, T 2048, d 1792, 6 experts x 1 slot, I 448) with random weights and inputs, timed with CUDA events (whole
// forward, whole backward: median of 20) and per phase (the addon's synchronising profile marks, median of 20), and its
// outputs dumped so that two builds (old and new softmoe.cuh) can be compared tensor by tensor. The combine is run with
// the next RMSNorm fused in (session 9); its y and rstd are compared bit for bit with rmsnormForward on xout (the MOE
// fused line, which also times rmsnormForward alone: an old build's combine phase + that = the unfused pair). The
// backward's token backward 2 runs with the preceding RMSNorm's backward fused in (session 10); its dres, bf16 dres and
// weight gradient are compared bit for bit with the unfused pair, ref_tok2_k (below) + rmsnormBackward, which also
// gives the dump its dxn (comparable with an older build's) and times each alone (the MOE unfused line: an old build's
// backward + rmsnormBackward alone = the old pair). The RMSNorm before the layer fused with the router (normRouter,
// session 10) is checked bit for bit against rmsnormForward + router() on other random inputs and timed against them
// (the layer's forward itself runs the router alone on the random xn2, as older builds did).
// `SECTIONS=moeab [OLD_TREE=DIR] train/native/run-gpu-checks.sh` builds and runs it (and the old tree's, and cmp).
// Build against a tree's softmoe.cuh and run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/moe-ab train/native/dev/moe-ab.cu -lcublasLt
//   /tmp/moe-ab run OUT.bin [B T]          time and dump
//   /tmp/moe-ab cmp A.bin B.bin            max |a - b| / max |b| per tensor, and whether bit-identical
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
#include "../rmsnorm.cuh"
#include "../softmoe.cuh"

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
// the token backward 1 that the addon ran before session 10 moved its dC / dLC into the norm backward above the layer
// (softmoe.cuh's moe_norm_bwd_k) and left it dD alone (moe_tok_bwd1_k): the reference both are checked against, and
// the dLC the layer's backward takes here (from the random dR, as older builds computed it).
// token backward 1: dC = dY . Ys[s], dD = rinv * x . dXs[s], dLC = C (dC - sum C dC). Token kernels keep the sequence's
// slot matrices in shared memory (2*S*d floats), 64 rows of one sequence per block. SM = compile-time bound on S (4, 6,
// 8, 16). Here each warp takes R = 2 rows at once and issues the loads of U = 4 column steps (192 bytes per lane) before
// it uses any: 16 memory round trips per warp instead of the 28 of 4 rows x 1 step (4 rows x 2*S accumulators left no
// registers for more loads and spilled), for twice the shared-memory reads; each lane still sums its columns in
// increasing order, so the sums are the same. The rows' C and rinv are loaded by the lanes at the group's start and
// handed out by shuffles after the sums (no global load latency in the epilogue).
template <int SM>
__global__ void __launch_bounds__(256, SM <= 8 ? 2 : 1) ref_tok1_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                          const float* __restrict__ dY, const float* __restrict__ Ys,
                                                          const float* __restrict__ dXs, const float* __restrict__ C,
                                                          float* __restrict__ dLC, float* __restrict__ dD, int B, int T,
                                                          int d, int S, int np) {
  constexpr int R = 2, U = 4, V = 4, NCV = (R * SM + 31) / 32;
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = d / V;
  moe_stage(sm, Ys, dXs, false, b, B, d, S, np);
  const float* sY = sm;
  const float* sX = sm + (long)S * d;
  for (int g = 0; g < 8 / R; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * R;
    if (t0 >= T) break;
    const int nv = min(R, T - t0);
    const long row0 = (long)b * T + t0;
    float cv[NCV];  // lane q holds C[row0 * S + q] (the group's R rows are contiguous), and rinv[row0 + lane] for lane < nv
#pragma unroll
    for (int i = 0; i < NCV; i++) cv[i] = 32 * i + lane < nv * S ? C[row0 * S + 32 * i + lane] : 0.f;
    const float rv = lane < nv ? rinv[row0 + lane] : 0.f;
    float ac[R][SM], ad[R][SM];
#pragma unroll
    for (int k = 0; k < R; k++)
#pragma unroll
      for (int s = 0; s < SM; s++) ac[k][s] = ad[k][s] = 0.f;
    for (int c0 = lane; c0 < nc; c0 += 32 * U) {
      RawV<float, V> ry[U][R];
      RawV<bf16, V> rx[U][R];
#pragma unroll
      for (int u = 0; u < U; u++)
        if (c0 + 32 * u < nc)
#pragma unroll
          for (int k = 0; k < R; k++)
            if (k < nv) {
              ry[u][k].load(dY + (row0 + k) * d + (long)(c0 + 32 * u) * V);
              rx[u][k].load(x + (row0 + k) * d + (long)(c0 + 32 * u) * V);
            }
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int c = c0 + 32 * u;
        if (c >= nc) break;
        float gy[R][V], xv[R][V];
#pragma unroll
        for (int k = 0; k < R; k++) {
          if (k < nv) {
            ry[u][k].get(gy[k]);
            rx[u][k].get(xv[k]);
          } else {
#pragma unroll
            for (int v = 0; v < V; v++) gy[k][v] = xv[k][v] = 0.f;
          }
        }
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            float ys[V], xs[V];
#pragma unroll
            for (int v = 0; v < V; v += 4) {
              const float4 a = *reinterpret_cast<const float4*>(sY + (long)s * d + (long)c * V + v);
              const float4 e = *reinterpret_cast<const float4*>(sX + (long)s * d + (long)c * V + v);
              ys[v] = a.x, ys[v + 1] = a.y, ys[v + 2] = a.z, ys[v + 3] = a.w;
              xs[v] = e.x, xs[v + 1] = e.y, xs[v + 2] = e.z, xs[v + 3] = e.w;
            }
#pragma unroll
            for (int k = 0; k < R; k++)
#pragma unroll
              for (int v = 0; v < V; v++) { ac[k][s] += gy[k][v] * ys[v]; ad[k][s] += xv[k][v] * xs[v]; }
          }
      }
    }
#pragma unroll
    for (int k = 0; k < R; k++) {
      if (k >= nv) break;
      const long row = row0 + k;
      const float ri = __shfl_sync(0xffffffffu, rv, k);
      // C[row, s] from lane (k S + s) % 32 of cv[(k S + s) / 32] (the index is uniform over the warp)
      auto crs = [&](int s) { const int q = k * S + s; return __shfl_sync(0xffffffffu, NCV == 1 || q < 32 ? cv[0] : cv[NCV - 1], q & 31); };
      float dot = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) { ac[k][s] = warp_sum(ac[k][s]); ad[k][s] = warp_sum(ad[k][s]) * ri; dot += crs(s) * ac[k][s]; }
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float cs = crs(s);
          if (lane == 0) { dLC[row * S + s] = cs * (ac[k][s] - dot); dD[row * S + s] = ad[k][s]; }
        }
    }
  }
}
// the token backward 2 that the addon ran before session 10 fused it with the RMSNorm backward (softmoe.cuh's
// moe_tok_bwd2_k): the reference the fused kernel is checked against bit for bit (with rmsnormBackward after it).
// dx = rinv (g - xhat (xhat . g)) with g = sum_s D dXs[s] + dL phihat[:, s]; one pass: xhat . g = sum_s D dD + dL Lg
// (dD = xhat . dXs[s] from moe_tok_bwd1*, Lg = xhat . phihat[:, s] from the forward router). The group's D and dL in
// shared memory (a float4 of the 4 rows per slot, read as broadcasts), which leaves the registers for V columns per
// lane (16-byte loads of x when d % 8 == 0)
template <int SM, int V>
__global__ void __launch_bounds__(256, 2) ref_tok2_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                          const float* __restrict__ D, const float* __restrict__ dL,
                                                          const float* __restrict__ dD, const float* __restrict__ Lg,
                                                          const float* __restrict__ phihatT, const float* __restrict__ dXs,
                                                          float* __restrict__ dx, int B, int T, int d, int S, int np) {
  extern __shared__ float4 smem4[];
  __shared__ float4 sDL[8][SM][2];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = d / V;
  moe_stage(sm, dXs, phihatT, true, b, B, d, S, np);
  const float* sX = sm;
  const float* sP = sm + (long)S * d;
  for (int g = 0; g < 2; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * 4;
    if (t0 >= T) break;
    const int nv = min(4, T - t0);
    const long row0 = (long)b * T + t0;
    __syncwarp();  // the previous group's reads of sDL are done
    if (lane < SM) {
      float dv[4], lv[4];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const bool ok = k < nv && lane < S;
        dv[k] = ok ? D[(row0 + k) * S + lane] : 0.f;
        lv[k] = ok ? dL[(row0 + k) * S + lane] : 0.f;
      }
      sDL[warp][lane][0] = make_float4(dv[0], dv[1], dv[2], dv[3]);
      sDL[warp][lane][1] = make_float4(lv[0], lv[1], lv[2], lv[3]);
    }
    float ri[4], cc[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      float dot = 0.f;
      ri[k] = 0.f;
      if (k < nv) {
        const long row = row0 + k;
        ri[k] = rinv[row];
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) dot += D[row * S + s] * dD[row * S + s] + dL[row * S + s] * Lg[row * S + s];
      }
      cc[k] = ri[k] * dot;
    }
    __syncwarp();
    for (int c = lane; c < nc; c += 32) {
      RawV<bf16, V> r[4];
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (k < nv) r[k].load(x + (row0 + k) * d + (long)c * V);
      float gg[4][V];
#pragma unroll
      for (int k = 0; k < 4; k++)
#pragma unroll
        for (int v = 0; v < V; v++) gg[k][v] = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float4 dv = sDL[warp][s][0], lv = sDL[warp][s][1];
          const float dr[4] = {dv.x, dv.y, dv.z, dv.w}, lr[4] = {lv.x, lv.y, lv.z, lv.w};
#pragma unroll
          for (int v = 0; v < V; v += 4) {
            const float4 a = *reinterpret_cast<const float4*>(sX + (long)s * d + (long)c * V + v);
            const float4 p = *reinterpret_cast<const float4*>(sP + (long)s * d + (long)c * V + v);
#pragma unroll
            for (int k = 0; k < 4; k++) {
              gg[k][v] += dr[k] * a.x + lr[k] * p.x; gg[k][v + 1] += dr[k] * a.y + lr[k] * p.y;
              gg[k][v + 2] += dr[k] * a.z + lr[k] * p.z; gg[k][v + 3] += dr[k] * a.w + lr[k] * p.w;
            }
          }
        }
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (k < nv) {
          float xv[V];
          r[k].get(xv);
          const float cq = cc[k], rq = ri[k];
          float* o = dx + (row0 + k) * d + (long)c * V;
#pragma unroll
          for (int v = 0; v < V; v += 4)
            *reinterpret_cast<float4*>(o + v) = make_float4(rq * (gg[k][v] - xv[v] * cq), rq * (gg[k][v + 1] - xv[v + 1] * cq),
                                                            rq * (gg[k][v + 2] - xv[v + 2] * cq), rq * (gg[k][v + 3] - xv[v + 3] * cq));
        }
    }
  }
}
static bool same(const void* p, const void* q, size_t n) {  // two device buffers, byte for byte
  std::vector<char> h1(n), h2(n);
  CK(cudaMemcpy(h1.data(), p, n, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(h2.data(), q, n, cudaMemcpyDeviceToHost));
  return !memcmp(h1.data(), h2.data(), n);
}
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
// steps timed with CUDA events, 23 rounds (pre() first in each, untimed): each step's median over the last 20 rounds
static std::vector<double> timeSteps(const std::function<void()>& pre, const std::vector<std::function<void()>>& steps) {
  std::vector<cudaEvent_t> ev(steps.size() + 1);
  for (auto& e : ev) CK(cudaEventCreate(&e));
  std::vector<std::vector<double>> t(steps.size());
  for (int it = 0; it < 23; it++) {
    if (pre) pre();
    CK(cudaEventRecord(ev[0], g_stream));
    for (size_t i = 0; i < steps.size(); i++) {
      steps[i]();
      CK(cudaEventRecord(ev[i + 1], g_stream));
    }
    CK(cudaEventSynchronize(ev.back()));
    for (size_t i = 0; i < steps.size() && it >= 3; i++) {
      float f;
      CK(cudaEventElapsedTime(&f, ev[i], ev[i + 1]));
      t[i].push_back(f);
    }
  }
  for (auto& e : ev) CK(cudaEventDestroy(e));
  std::vector<double> m;
  for (auto& v : t) m.push_back(median(v));
  return m;
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
  // the RMSNorm before the Soft-MoE (its backward fused into token backward 2): input, weights, 1 / rms, dres (= dR's
  // values before each backward: the addon accumulates into the gradient it reads), bf16 copy, partials, weight gradient
  float* xn = rnd(N * d, 6, 2.f);
  float* nw2 = rnd(d, 8, 0.5f, 1.f);
  float* nr2s = rnd(N, 9, 0.4f, 1.f);
  float* dres = F(N * d);
  bf16* dresb = Bf(N * d);
  const long npart = (long)B * ((T + 63) / 64);
  float* part = F(npart * d);
  float* gw = F(d);
  float* dres2 = F(N * d);
  bf16* dresb2 = Bf(N * d);
  float* gw2 = F(d);
  const MoeNormBwd nb{xn, nw2, nr2s, dres, dresb, part, gw};
  // the layer's dLC (s.dC) from the random dR, by the old token backward 1 (its dD output into dDref, unused here): in
  // the addon the norm backward above the layer writes it (normBackward, checked below)
  float* dDref = F(N * S);
  CK(cudaFuncSetAttribute(ref_tok1_k<6>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moe.smem));
  auto refDLC = [&]() {
    ref_tok1_k<6><<<dim3((T + 63) / 64, B), 256, moe.smem, g_stream>>>(a.xn2, a.rinv, dR, a.Ys, s.dXs, a.C, s.dC, dDref, B, T, d, S, np);
    KCHECK("ref_tok1");
  };
  auto reset = [&]() {
    CK(cudaMemsetAsync(G, 0, nP * 4, g_stream));
    CK(cudaMemsetAsync(gw, 0, d * 4, g_stream));
    CK(cudaMemcpyAsync(dres, dR, N * d * 4, cudaMemcpyDeviceToDevice, g_stream));
  };
  // the RMSNorm after the combine (fused into it): weights around 1, outputs, and rmsnormForward's for the check
  float* nw = rnd(d, 5, 0.5f, 1.f);
  bf16* ny = Bf(N * d);
  float* nr = F(N);
  bf16* ny2 = Bf(N * d);
  float* nr2 = F(N);
  const MoeW* wp = &w;
  MoeAct* ap = &a;
  Prof off, on;
  on.on = true;
  auto fwd = [&](Prof& pr) {
    moe.phi(P, &wp, &ap, 1);
    pr.mark("moe_f_router");
    moe.forward(gemm, P, PB, w, a, xmid, xout, B, T, s.mpart, pr, false, nw, ny, nr, 1e-6f);
  };
  // forward, the layer's dLC (untimed in the backward's figure), backward
  const std::vector<double> tl = timeSteps(reset, {[&] { fwd(off); }, refDLC,
                                                   [&] { moe.backward(gemm, P, PB, G, w, a, dR, nb, B, T, s, off, 1.f); }});
  const double tf = tl[0], tb = tl[2];
  std::map<std::string, std::vector<double>> ph;
  for (int it = 0; it < 20; it++) {
    on.ms.clear();
    reset();
    on.start();
    fwd(on);
    refDLC();
    on.mark("ref_tok1 (dLC, not in the backward)");
    moe.backward(gemm, P, PB, G, w, a, dR, nb, B, T, s, on, 1.f);
    for (auto& [k, v] : on.ms) ph[k].push_back(v);
  }
  {  // rmsnormForward alone on xout: what the fused combine saves against combine + norm
    const double tn = timeSteps(nullptr, {[&] { rmsnormForward(xout, nullptr, nullptr, nw, ny2, nr2, N, d, 1e-6f); }})[0];
    const bool ok = same(ny, ny2, N * d * 2) && same(nr, nr2, N * 4);
    printf("MOE fused combine + norm against rmsnormForward on xout: %s; rmsnormForward alone %.4f ms (events, median of 20)\n",
           ok ? "bit-identical" : "DIFFERS", tn);
  }
  {  // the unfused pair on the last backward's scratch (dXs, dL, dD: unchanged after token backward 2): ref_tok2_k writes
     // dxn, rmsnormBackward accumulates it into dres2 (= dR before), as the addon did before the fusion
    CK(cudaFuncSetAttribute(ref_tok2_k<6, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moe.smem));
    const dim3 tg((T + 63) / 64, B);
    const std::vector<double> t = timeSteps(
        [&] {
          CK(cudaMemsetAsync(gw2, 0, d * 4, g_stream));
          CK(cudaMemcpyAsync(dres2, dR, N * d * 4, cudaMemcpyDeviceToDevice, g_stream));
        },
        {[&] {
           ref_tok2_k<6, 8><<<tg, 256, moe.smem, g_stream>>>(a.xn2, a.rinv, a.D, s.dL, s.dD, a.Lg, a.phihat, s.dXs, dxn, B, T, d, S, np);
           KCHECK("ref_tok2");
         },
         [&] { rmsnormBackward(dxn, xn, nw2, nr2s, dres2, true, N, d, dresb2, part, gw2); }});
    const bool s1 = same(dres, dres2, N * d * 4), s2 = same(dresb, dresb2, N * d * 2), s3 = same(gw, gw2, d * 4);
    printf("MOE fused token backward 2 + norm backward against ref_tok2_k + rmsnormBackward: dres %s, dresb %s, weight "
           "gradient %s; unfused: token backward 2 %.4f ms + rmsnormBackward %.4f ms (events, median of 20)\n",
           s1 ? "bit-identical" : "DIFFERS", s2 ? "bit-identical" : "DIFFERS", s3 ? "bit-identical" : "DIFFERS", t[0], t[1]);
  }
  {  // the norm before the layer fused with the router (normRouter) against rmsnormForward + router() (the layer's
     // forward above runs the router alone on its random xn2, as older builds did, for the tensor-by-tensor comparison)
    float* xin = rnd(N * d, 10, 4.f);
    bf16* dl = tob(rnd(N * d, 11, 2.f), N * d);
    MoeAct r1 = a, r2 = a;
    float *xo1 = F(N * d), *xo2 = F(N * d), *rs1 = F(N), *rs2 = F(N);
    bf16 *y1 = Bf(N * d), *y2 = Bf(N * d);
    r1.xn2 = y1, r2.xn2 = y2;
    r1.rinv = F(N), r1.Lg = F(N * S), r1.C = F(N * S), r2.rinv = F(N), r2.Lg = F(N * S), r2.C = F(N * S);
    const std::vector<double> t = timeSteps(nullptr, {[&] { moe.normRouter(xin, dl, xo1, nw2, y1, rs1, 1e-6f, r1, N); },
                                                      [&] { rmsnormForward(xin, dl, xo2, nw2, y2, rs2, N, d, 1e-6f); },
                                                      [&] { moe.router(r2, N); }});
    const bool ok = same(xo1, xo2, N * d * 4) && same(y1, y2, N * d * 2) && same(rs1, rs2, N * 4) &&
                    same(r1.rinv, r2.rinv, N * 4) && same(r1.Lg, r2.Lg, N * S * 4) && same(r1.C, r2.C, N * S * 4);
    printf("MOE fused norm + router against rmsnormForward + router: xout, y, rstd, rinv, Lg, C %s; fused %.4f ms, unfused "
           "rmsnormForward %.4f + router %.4f ms (events, median of 20)\n", ok ? "bit-identical" : "DIFFER", t[0], t[1], t[2]);
  }
  {  // the norm backward above the layer with dC / dLC (normBackward) against rmsnormBackward + the old token backward 1
     // on its output, and dD of the new token backward 1 (the last backward's) against the old one's
    refDLC();
    const bool sd = same(s.dD, dDref, N * S * 4);
    float* dy = rnd(N * d, 12, 1e-3f);
    float* xa = rnd(N * d, 13, 2.f);
    float *r1 = F(N * d), *r2 = F(N * d), *g1 = F(d), *g2 = F(d), *dlc2 = F(N * S);
    MoeScratch s2 = s;
    s2.dC = F(N * S);
    const dim3 tg((T + 63) / 64, B);
    const std::vector<double> t = timeSteps(
        [&] {
          CK(cudaMemsetAsync(g1, 0, d * 4, g_stream));
          CK(cudaMemsetAsync(g2, 0, d * 4, g_stream));
          CK(cudaMemcpyAsync(r1, dR, N * d * 4, cudaMemcpyDeviceToDevice, g_stream));
          CK(cudaMemcpyAsync(r2, dR, N * d * 4, cudaMemcpyDeviceToDevice, g_stream));
        },
        {[&] { moe.normBackward(dy, xa, nw2, nr2s, r1, true, part, g1, a, s2, B, T); },
         [&] { rmsnormBackward(dy, xa, nw2, nr2s, r2, true, N, d, nullptr, part, g2); },
         [&] {
           ref_tok1_k<6><<<tg, 256, moe.smem, g_stream>>>(a.xn2, a.rinv, r2, a.Ys, s.dXs, a.C, dlc2, dDref, B, T, d, S, np);
           KCHECK("ref_tok1");
         },
         [&] {
           moe_tok_bwd1_k<6><<<tg, 256, moe.smem / 2, g_stream>>>(a.xn2, a.rinv, s.dXs, s2.dD, B, T, d, S, np);
           KCHECK("tok1");
         }});
    const bool ok = same(r1, r2, N * d * 4) && same(g1, g2, d * 4) && same(s2.dC, dlc2, N * S * 4);
    printf("MOE norm backward + dC against rmsnormBackward + old token backward 1: dres, weight gradient, dLC %s; token "
           "backward 1 (dD only) against the old: dD %s; fused %.4f ms, rmsnormBackward %.4f, old token backward 1 %.4f, "
           "new token backward 1 %.4f ms (events, median of 20)\n", ok ? "bit-identical" : "DIFFER", sd ? "bit-identical" : "DIFFERS",
           t[0], t[1], t[2], t[3]);
  }
  printf("MOE B %d T %d d %d S %d: forward %.4f ms, backward %.4f ms, total %.4f ms per layer (events, median of 20)\n", B, T,
         d, S, tf, tb, tf + tb);
  for (auto& [k, v] : ph) printf("MOE phase %-14s %.4f ms (synchronising marks, median of 20)\n", k.c_str(), median(v));
  Dump dump;
  dump.add("rinv", a.rinv, N), dump.add("Lg", a.Lg, N * S), dump.add("D", a.D, N * S), dump.add("C", a.C, N * S);
  dump.add("slots", a.slots, B * S * d), dump.add("Ys", a.Ys, B * S * d), dump.add("xout", xout, N * d);
  dump.add("dYs", s.dYs, B * S * d), dump.add("dXs", s.dXs, B * S * d), dump.add("dL", s.dL, N * S), dump.add("dxn", dxn, N * d);
  dump.add("gphi", G, nphi), dump.add("gscale", G + nphi, 1), dump.add("geguw", G + w.eguw, neg), dump.add("gegdw", G + w.egdw, neg);
  dump.add("rstd", nr, N);
  dump.add("dres", dres, N * d), dump.add("gw", gw, d);
  dump.save(argv[2]);
  printf("MOE dumped %s\n", argv[2]);
  return 0;
}
