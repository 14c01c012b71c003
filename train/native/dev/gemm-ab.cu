// Dev A/B of cuBLASLt's algorithm choice (not part of the addon): every GEMM of a steel-1b and a qwen2-dense-1b training
// step (micro-batch 8 x 2048, as Model::run, denseBackward, linear and SoftMoe issue them: transposes, M, N, K, leading
// dimensions, output type, bias, beta, strided batches, lm_head's chunk rows) through cublaslt.cuh's own descriptors,
// on random bf16 data. Per GEMM: the heuristic's first offer (what the addon runs) against each of
// its first GEMM_PICK_OFFERS offers with the addon's 64 MB workspace (and, for information, the offers with no workspace
// and with 256 MB), ms (median of 5 CUDA-event-timed loops) and TFLOP/s; the fastest is confirmed against the first in
// 4 alternating pairs, checked bit-identical run to run (same inputs, same output twice) and compared with the first's
// output. Then the per-step totals (each GEMM weighted by how often a benchmark step runs it) for three ways of chunking
// lm_head (kChunking), first offers against "picked" (a GEMM's fastest offer where it beat the first by >= 1% in all 4
// pairs and ran bit-identical twice). Session 9 compiled those picks into the addon as a table: the step did not get
// faster (bench/results/gpu.md), so the addon takes the first offer and this tool only measures.
// Build + run on a Hopper host (repo root; or SECTIONS=gemmab in run-gpu-checks.sh, before the addon's build):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/gemm-ab train/native/dev/gemm-ab.cu -lcublasLt
//   /tmp/gemm-ab
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>
#include "../adamw.cuh"
#include "../cublaslt.cuh"

// an algorithm's configuration: id, tile, stages, split-K, reduction scheme, CTA swizzling, custom option, inner shape,
// cluster shape
struct GemmAlgoCfg {
  int v[9];
  bool operator==(const GemmAlgoCfg& o) const { return memcmp(v, o.v, sizeof v) == 0; }
};
static GemmAlgoCfg gemmAlgoCfg(const cublasLtMatmulAlgo_t& a) {
  GemmAlgoCfg c{};
  int32_t id = 0, splitk = 0;
  uint32_t tile = 0, stages = 0, red = 0, swz = 0, custom = 0;
  uint16_t inner = 0, cluster = 0;
  size_t w;
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof splitk, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof red, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz, sizeof swz, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom, sizeof custom, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, &inner, sizeof inner, &w));
  CKL(cublasLtMatmulAlgoConfigGetAttribute(&a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof cluster, &w));
  c.v[0] = id, c.v[1] = (int)tile, c.v[2] = (int)stages, c.v[3] = splitk, c.v[4] = (int)red, c.v[5] = (int)swz;
  c.v[6] = (int)custom, c.v[7] = inner, c.v[8] = cluster;
  return c;
}
#define GEMM_PICK_OFFERS 32  // how many of the heuristic's offers are timed

// random normal bf16 (adamw.cuh's init, cast in pieces through an fp32 scratch of sn floats)
static void fillNormal(bf16* p, long n, uint64_t seed, float* scratch, long sn) {
  for (long o = 0; o < n; o += sn) {
    const long m = std::min(sn, n - o);
    init_normal_k<<<8192, 256>>>(scratch, m, seed + (uint64_t)o, 1.f);
    cast_f2b_k<<<nblk(m), 256>>>(scratch, p + o, m);
  }
  CK(cudaGetLastError());
}
// words that differ; sum of squared differences and of squares (as floats of the output type)
__global__ void cmp_k(const void* a, const void* b, long n, bool f32, unsigned long long* diff, double* acc) {
  double s = 0, r = 0;
  unsigned long long d = 0;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    float x, y;
    if (f32) {
      x = ((const float*)a)[i], y = ((const float*)b)[i];
      d += __float_as_uint(x) != __float_as_uint(y);
    } else {
      const bf16 u = ((const bf16*)a)[i], v = ((const bf16*)b)[i];
      x = __bfloat162float(u), y = __bfloat162float(v);
      d += *(const uint16_t*)&u != *(const uint16_t*)&v;
    }
    s += (double)(x - y) * (x - y), r += (double)y * y;
  }
  atomicAdd(diff, d);
  atomicAdd(acc, s);
  atomicAdd(acc + 1, r);
}

struct Shape {
  std::string name;
  bool tA, tB;
  int M, N, K, lda, ldb, ldc;
  bool f32, bias;
  float beta;
  int batch;
  long long sA, sB, sC;
  int nSteel, nDense;  // calls per benchmark step (one micro-batch of 8 x 2048, zeroGrad before it)
  int lm[3];           // lm_head GEMMs: calls per step in each way of chunking it (kChunking); -1: not lm_head
};
static const char* const kChunking[3] = {
    "lm_head in chunks of 4,096 rows (the addon)",
    "4,096-row chunks in halves (lm_head and dx GEMMs per 2,048 rows, dW per 4,096: the cross-entropy overlap)",
    "chunks of 8,192 rows (+1.2 GB)"};
static std::vector<Shape> shapes() {
  const int L = 18, d = 1792, qd = 32 * 56, ldq = qd + 2 * 32 * 56, V = 151936, ldl = (V + 7) / 8 * 8, N = 8 * 2048;
  const int I = 448, ne = 6, R = 8, Id = 3584;
  std::vector<Shape> v;
  auto add = [&](const char* nm, bool tA, bool tB, int M, int Nn, int K, int lda, int ldb, int ldc, bool f32, bool bias,
                 float beta, int ns, int nd, int batch = 1, long long sA = 0, long long sB = 0, long long sC = 0) {
    v.push_back({nm, tA, tB, M, Nn, K, lda, ldb, ldc, f32, bias, beta, batch, sA, sB, sC, ns, nd, {-1, -1, -1}});
  };
  // forward
  add("qkv fwd (+bias)", false, true, N, ldq, d, d, d, ldq, false, true, 0.f, L, L);
  add("o fwd", false, true, N, d, qd, qd, qd, d, false, false, 0.f, L, L);
  add("moe fwd gate_up x6", false, true, R, 2 * I, d, d, d, 2 * I, false, false, 0.f, L, 0, ne, (long long)R * d, 2LL * I * d, (long long)R * 2 * I);
  add("moe fwd down x6", false, true, R, 2 * d, I, I, I, 2 * d, false, false, 0.f, L, 0, ne, (long long)R * I, 2LL * d * I, (long long)R * 2 * d);
  add("mlp fwd gate_up", false, true, N, 2 * Id, d, d, d, 2 * Id, false, false, 0.f, 0, L);
  add("mlp fwd down", false, true, N, d, Id, Id, Id, d, false, false, 0.f, 0, L);
  // backward (weight gradients: beta 0 after zeroGrad, as in the benchmark step; beta 1 under gradient accumulation)
  for (float b : {0.f, 1.f}) {
    const bool g = b == 0.f;  // the benchmark step's weight gradients
    if (g) {
      add("moe bwd dh x6", false, false, R, I, 2 * d, 2 * d, I, I, true, false, 0.f, L, 0, ne, (long long)R * 2 * d, 2LL * d * I, (long long)R * I);
      add("moe bwd dX x6", false, false, R, d, 2 * I, 2 * I, d, d, true, false, 0.f, L, 0, ne, (long long)R * 2 * I, 2LL * I * d, (long long)R * d);
      add("mlp bwd dh", false, false, N, Id, d, d, Id, Id, false, false, 0.f, 0, L);
      add("mlp bwd dxn", false, false, N, d, 2 * Id, 2 * Id, d, d, true, false, 0.f, 0, L);
      add("o bwd dx", false, false, N, qd, d, d, qd, qd, false, false, 0.f, L, L);
      add("qkv bwd dx", false, false, N, d, ldq, ldq, d, d, true, false, 0.f, L, L);
    }
    const int ns = g ? L : 0;
    add(g ? "moe bwd dW down x6 b0" : "moe bwd dW down x6 b1", true, false, 2 * d, I, R, 2 * d, I, I, true, false, b, ns, 0, ne, (long long)R * 2 * d, (long long)R * I, 2LL * d * I);
    add(g ? "moe bwd dW gate_up x6 b0" : "moe bwd dW gate_up x6 b1", true, false, 2 * I, d, R, 2 * I, d, d, true, false, b, ns, 0, ne, (long long)R * 2 * I, (long long)R * d, 2LL * I * d);
    add(g ? "mlp bwd dW down b0" : "mlp bwd dW down b1", true, false, d, Id, N, d, Id, Id, true, false, b, 0, ns);
    add(g ? "mlp bwd dW gate_up b0" : "mlp bwd dW gate_up b1", true, false, 2 * Id, d, N, 2 * Id, d, d, true, false, b, 0, ns);
    add(g ? "o bwd dW b0" : "o bwd dW b1", true, false, d, qd, N, d, qd, qd, true, false, b, ns, ns);
    add(g ? "qkv bwd dW b0" : "qkv bwd dW b1", true, false, ldq, d, N, ldq, d, d, true, false, b, ns, ns);
  }
  // lm_head per chunk of rows: calls per step in each way of chunking it
  auto lmAdd = [&](const char* nm, bool tA, int M, int Nn, int K, int lda, int ldc, bool f32, float beta, int c0, int c1, int c2) {
    v.push_back({strf(nm, tA ? K : M), tA, !tA && !f32, M, Nn, K, lda, d, ldc, f32, false, beta, 1, 0, 0, 0, 0, 0, {c0, c1, c2}});
  };
  for (int c : {4096, 2048, 8192}) {
    const int k = N / c, i = c == 4096 ? 0 : c == 2048 ? 1 : 2;
    lmAdd("lm fwd (%d rows)", false, c, V, d, d, ldl, false, 0.f, i == 0 ? k : 0, i == 1 ? k : 0, i == 2 ? k : 0);
    lmAdd("lm bwd dx (%d rows)", false, c, d, V, ldl, d, true, 0.f, i == 0 ? k : 0, i == 1 ? k : 0, i == 2 ? k : 0);
    if (c == 2048) continue;  // dW per 4,096 rows also in halves
    lmAdd("lm bwd dW b0 (%d rows)", true, V, d, c, ldl, d, true, 0.f, i == 0, i == 0, i == 2);
    lmAdd("lm bwd dW b1 (%d rows)", true, V, d, c, ldl, d, true, 1.f, i == 0 ? k - 1 : 0, i == 0 ? k - 1 : 0, i == 2 ? k - 1 : 0);
  }
  return v;
}

static std::string cfgStr(const GemmAlgoCfg& c) {
  return strf("id %d tile %d st %d sk %d red %d swz %d opt %d in %d cl %d", c.v[0], c.v[1], c.v[2], c.v[3], c.v[4], c.v[5],
              c.v[6], c.v[7], c.v[8]);
}

int main() {
  cudaDeviceProp pr;
  CK(cudaGetDeviceProperties(&pr, 0));
  printf("gemm-ab: %s, %d SMs, cuBLASLt %zu, CUDA runtime %d\n", pr.name, pr.multiProcessorCount, cublasLtGetVersion(),
         CUDART_VERSION);
  Gemm g;
  g.init();
  const size_t big = 256ull << 20;
  void* wsBig;
  CK(cudaMalloc(&wsBig, big));
  const size_t maxBytes = 2600ull << 20;  // the largest operand: 8,192 x 151,936 bf16 logits (2.49 GB)
  bf16 *A, *B, *bias;
  char *C, *C0, *C1;
  CK(cudaMalloc(&A, maxBytes)); CK(cudaMalloc(&B, maxBytes)); CK(cudaMalloc(&bias, 1 << 20));
  CK(cudaMalloc(&C, maxBytes)); CK(cudaMalloc(&C0, maxBytes)); CK(cudaMalloc(&C1, maxBytes));
  float* scratch = (float*)C;  // C is written by every GEMM below
  const long sn = (long)(maxBytes / 4);
  fillNormal(A, maxBytes / 2, 11, scratch, sn);
  fillNormal(B, maxBytes / 2, 22, scratch, sn);
  fillNormal(bias, (1 << 20) / 2, 33, scratch, sn);
  fillNormal((bf16*)C0, maxBytes / 2, 44, scratch, sn);  // beta-1 GEMMs start from these (finite) values
  unsigned long long* dDiff;
  double* dAcc;
  CK(cudaMalloc(&dDiff, 8)); CK(cudaMalloc(&dAcc, 16));
  CK(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));

  double totFirst[3][2] = {}, totPick[3][2] = {}, totBest[3][2] = {};
  for (const Shape& s : shapes()) {
    GemmPlan p = Gemm::describe(s.tA, s.tB, s.M, s.N, s.K, s.lda, s.ldb, s.ldc, s.f32, s.bias, s.batch, s.sA, s.sB, s.sC);
    const size_t cBytes = (size_t)(s.batch > 1 ? s.sC * s.batch : (long long)s.M * s.ldc) * (s.f32 ? 4 : 2);
    const long cElems = (long)(cBytes / (s.f32 ? 4 : 2));
    const double flop = 2.0 * s.M * s.N * s.K * s.batch;
    const bf16* bp = s.bias ? bias : nullptr;
    if (bp) CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
    const auto one = g.offers(p, 256, 256, 256, g.wsSize, 1);
    const auto r64 = g.offers(p, 256, 256, 256, g.wsSize, GEMM_PICK_OFFERS);
    const auto r0 = g.offers(p, 256, 256, 256, 0, GEMM_PICK_OFFERS);
    const auto r256 = g.offers(p, 256, 256, 256, big, GEMM_PICK_OFFERS);
    if (one.empty() || r64.empty()) { printf("%-26s no algorithm\n", s.name.c_str()); continue; }
    struct Cand { cublasLtMatmulHeuristicResult_t r; GemmAlgoCfg c; bool prod; double ms; };
    std::vector<Cand> cands;
    auto addC = [&](const std::vector<cublasLtMatmulHeuristicResult_t>& rs, bool prod) {
      for (const auto& r : rs) {
        const GemmAlgoCfg c = gemmAlgoCfg(r.algo);
        bool dup = false;
        for (const Cand& x : cands) dup |= x.c == c;
        if (!dup) cands.push_back({r, c, prod, 0});
      }
    };
    addC(r64, true);
    addC(r0, false);
    addC(r256, false);
    const bool sameFirst = gemmAlgoCfg(one[0].algo) == cands[0].c;
    const float alpha = 1.f;
    auto launch = [&](const Cand& c) {
      void* ws = c.r.workspaceSize <= g.wsSize ? g.ws : wsBig;
      return cublasLtMatmul(g.h, p.op, &alpha, B, p.a, A, p.b, &s.beta, C, p.c, C, p.c, &c.r.algo, ws,
                            c.r.workspaceSize <= g.wsSize ? g.wsSize : big, 0);
    };
    auto timeC = [&](const Cand& c, int iters) {
      CK(cudaEventRecord(e0));
      for (int i = 0; i < iters; i++) launch(c);
      CK(cudaEventRecord(e1));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      return (double)ms / iters;
    };
    auto median = [&](const Cand& c, int iters) {
      std::vector<double> t;
      for (int r = 0; r < 5; r++) t.push_back(timeC(c, iters));
      std::sort(t.begin(), t.end());
      return t[2];
    };
    // iterations per timed loop: about 3 ms, from the first offer's time
    if (s.beta != 0.f) CK(cudaMemcpy(C, C0, cBytes, cudaMemcpyDeviceToDevice));
    if (launch(cands[0]) != CUBLAS_STATUS_SUCCESS) { printf("%-26s first offer fails\n", s.name.c_str()); continue; }
    const double est = timeC(cands[0], 3);
    const int iters = std::max(2, std::min(200, (int)std::ceil(3.0 / std::max(est, 1e-3))));
    for (Cand& c : cands) {
      if (launch(c) != CUBLAS_STATUS_SUCCESS) { CK(cudaGetLastError()); c.ms = INFINITY; continue; }
      c.ms = median(c, iters);
    }
    int bi = 0, bp2 = 0;  // fastest overall; fastest the addon can pick (64 MB offers)
    for (int i = 0; i < (int)cands.size(); i++) {
      if (cands[i].ms < cands[bi].ms) bi = i;
      if (cands[i].prod && cands[i].ms < cands[bp2].ms) bp2 = i;
    }
    // confirm the addon's candidate: 4 alternating pairs against the first offer
    int wins = 0;
    std::string pairs;
    double pr4[4];
    for (int r = 0; r < 4; r++) {
      const double a = median(cands[0], iters), b = median(cands[bp2], iters);
      pr4[r] = b / a;
      wins += bp2 != 0 && b < 0.99 * a;
      pairs += strf(" %.3f/%.3f", a, b);
    }
    std::sort(pr4, pr4 + 4);
    pairs += strf(" (ratio %.3f-%.3f)", pr4[0], pr4[3]);
    const bool take = bp2 != 0 && wins == 4;
    // determinism of the candidate and its distance from the first offer's output (same inputs and C start)
    auto runFrom = [&](const Cand& c) {  // output in C
      CK(cudaMemcpy(C, C0, cBytes, cudaMemcpyDeviceToDevice));
      launch(c);
    };
    auto cmp = [&](const char* x, const char* y, double* rel) {
      CK(cudaMemset(dDiff, 0, 8)); CK(cudaMemset(dAcc, 0, 16));
      cmp_k<<<2048, 256>>>(x, y, cElems, s.f32, dDiff, dAcc);
      unsigned long long d;
      double acc[2];
      CK(cudaMemcpy(&d, dDiff, 8, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(acc, dAcc, 16, cudaMemcpyDeviceToHost));
      *rel = std::sqrt(acc[0] / std::max(acc[1], 1e-300));
      return d;
    };
    const Cand& pc = cands[bp2];
    double rel, rel2;
    runFrom(cands[0]);
    CK(cudaMemcpy(C1, C, cBytes, cudaMemcpyDeviceToDevice));
    runFrom(pc);
    const unsigned long long dFirst = cmp(C, C1, &rel);
    CK(cudaMemcpy(C1, C, cBytes, cudaMemcpyDeviceToDevice));
    runFrom(pc);
    const unsigned long long dRun = cmp(C, C1, &rel2);
    CK(cudaDeviceSynchronize());
    const double f = cands[0].ms, b = pc.ms, chosen = take ? b : f;
    for (int c = 0; c < 3; c++)
      for (int k = 0; k < 2; k++) {
        const int n = s.lm[c] >= 0 ? s.lm[c] : k ? s.nDense : s.nSteel;
        totFirst[c][k] += n * f, totPick[c][k] += n * chosen, totBest[c][k] += n * std::min(f, cands[bi].ms);
      }
    printf("%-26s x%2d/%2d %5zu offers%s | first %.4f ms %4.0f TFLOP/s | best(64MB) #%d %.4f ms %4.0f TFLOP/s [%s] ws %zu MB | pairs%s | %s | run-to-run %s, vs first %.1e (%llu differ)\n",
           s.name.c_str(), s.lm[0] >= 0 ? std::max(s.lm[0], std::max(s.lm[1], s.lm[2])) : s.nSteel, s.lm[0] >= 0 ? std::max(s.lm[0], std::max(s.lm[1], s.lm[2])) : s.nDense, cands.size(), sameFirst ? "" : " (first of 1 != first of 32!)", f,
           flop / f / 1e9, bp2, b, flop / b / 1e9, cfgStr(pc.c).c_str(), pc.r.workspaceSize >> 20, pairs.c_str(),
           take ? "PICK" : "keep first", dRun == 0 ? "identical" : "DIFFER", rel, dFirst);
    if (bi != bp2)
      printf("%-26s   fastest of all offers (ws %zu MB; not among the first %d with 64 MB): %.4f ms [%s]\n", "", cands[bi].r.workspaceSize >> 20,
             GEMM_PICK_OFFERS, cands[bi].ms, cfgStr(cands[bi].c).c_str());
    printf("%-26s   first of ws 0: %s, of 256 MB: %s\n", "", r0.empty() ? "-" : cfgStr(gemmAlgoCfg(r0[0].algo)).c_str(),
           r256.empty() ? "-" : cfgStr(gemmAlgoCfg(r256[0].algo)).c_str());
    p.destroy();
  }
  for (int c = 0; c < 3; c++)
    printf("GEMMs per step, %s (ms, each GEMM x its calls in a benchmark step): steel-1b first offer "
           "%.2f -> picked %.2f (fastest of all offers %.2f); qwen2-dense-1b first %.2f -> picked %.2f (fastest %.2f)\n",
           kChunking[c], totFirst[c][0], totPick[c][0], totBest[c][0], totFirst[c][1], totPick[c][1], totBest[c][1]);
  return 0;
}
