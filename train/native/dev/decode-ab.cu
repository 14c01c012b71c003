// Dev timings of one decode step's pieces (not part of the addon): qwen2-dense-1b's shapes at batch 64 (d 1792, 32
// heads of 56, MLP 3584, vocabulary 151,936, 18 layers), context 640 of a 768-token session. Every piece is timed as 18
// back-to-back calls (one per layer, each layer with its own weights / cache, so nothing stays in L2) captured in a
// CUDA graph and replayed (CUDA events, mean of 20 replays): ms per decode step without launch overhead. Also the decode
// attention at other splits (keys per block) and rows in flight per octet (U), and a plain read of the same bytes.
// Build + run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/decode-ab train/native/dev/decode-ab.cu -lcublasLt \
//     && /tmp/decode-ab
#include <cmath>
#include <functional>
#include <vector>
#include "../common.cuh"
#include "../cublaslt.cuh"
#include "../rmsnorm.cuh"
#include "../swiglu.cuh"
#include "../decode.cuh"

__global__ void fillb_k(bf16* p, long n, uint32_t seed, float sc) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = __float2bfloat16(((x >> 8) * (1.f / 16777216.f) - 0.5f) * sc);
  }
}
__global__ void fillf_k(float* p, long n, float v) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) p[i] = v;
}
__global__ void read_k(const uint4* __restrict__ p, long n, int* sink) {
  uint32_t acc = 0;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const uint4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *sink = 1;
}
// ms per replay of f() captured in a graph
static double graphMs(const std::function<void()>& f, int reps = 20) {
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  f();  // plans, first-touch
  CK(cudaDeviceSynchronize());
  g_stream = s;
  cudaGraph_t g;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  f();
  CK(cudaStreamEndCapture(s, &g));
  g_stream = 0;
  cudaGraphExec_t ge;
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));
  cudaEvent_t a, b;
  cudaEventCreate(&a); cudaEventCreate(&b);
  CK(cudaEventRecord(a, s));
  for (int i = 0; i < reps; i++) CK(cudaGraphLaunch(ge, s));
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  float ms;
  cudaEventElapsedTime(&ms, a, b);
  cudaGraphExecDestroy(ge); cudaGraphDestroy(g); cudaStreamDestroy(s);
  return ms / reps;
}
int main() {
  const int L = 18, B = 64, d = 1792, H = 32, Hk = 32, hd = 56, I = 3584, V = 151936, maxLen = 768, pos = 639;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  const float sl2 = 1.f / std::sqrt((float)hd) * 1.4426950408889634f;
  Gemm gemm;
  gemm.init();
  auto balloc = [](long n, uint32_t seed, float sc) { bf16* p; CK(cudaMalloc(&p, n * 2)); fillb_k<<<2048, 256>>>(p, n, seed, sc); return p; };
  auto falloc = [](long n, float v) { float* p; CK(cudaMalloc(&p, n * 4)); fillf_k<<<1024, 256>>>(p, n, v); return p; };
  const long cacheL = (long)B * Hk * maxLen * hd;
  bf16 *Kc = balloc(cacheL * L, 1, 2.f), *Vc = balloc(cacheL * L, 2, 2.f);
  bf16 *Wqkv = balloc((long)L * ldq * d, 3, 0.05f), *bqkv = balloc((long)L * ldq, 4, 0.1f), *Wo = balloc((long)L * d * qd, 5, 0.05f);
  bf16 *Wgu = balloc((long)L * 2 * I * d, 6, 0.05f), *Wd = balloc((long)L * d * I, 7, 0.05f), *Wh = balloc((long)V * d, 8, 0.05f);
  bf16 *xn = balloc((long)B * d, 9, 1.f), *qkv = balloc((long)B * ldq, 10, 1.f), *att = balloc((long)B * qd, 11, 1.f);
  bf16 *o = balloc((long)B * d, 12, 1.f), *gu = balloc((long)B * 2 * I, 13, 1.f), *hm = balloc((long)B * I, 14, 1.f);
  bf16* logits = balloc((long)B * V, 15, 1.f);
  float *x = falloc((long)B * d, 0.5f), *xmid = falloc((long)B * d, 0.5f), *w = falloc(d, 1.f), *r = falloc(B, 0.f);
  float *cs = falloc((long)maxLen * hd / 2, 1.f), *sn = falloc((long)maxLen * hd / 2, 0.f);
  float* part = falloc((long)B * H * (hd + 2) * 12, 0.f);
  int *dpos, *ids, *sink;
  CK(cudaMalloc(&dpos, B * 4)); CK(cudaMalloc(&ids, B * 4)); CK(cudaMalloc(&sink, 4));
  { std::vector<int> hp(B, pos); CK(cudaMemcpy(dpos, hp.data(), B * 4, cudaMemcpyHostToDevice)); }  // one position per sequence
  const double kvBytes = 2.0 * B * Hk * (pos + 1) * hd * 2;  // K and V read per layer
  auto attn = [&](int l) {
    decodeAttention(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, (size_t)B * H * (hd + 2) * 12, dpos, B, 1, maxLen, H, Hk,
                    hd, sl2);
  };
  struct Piece { const char* name; std::function<void(int)> f; double bytes; };
  const std::vector<Piece> pieces = {
      {"rmsnorm x2", [&](int l) { rmsnormForward(x, o, xmid, w, xn, r, B, d, 1e-6f); rmsnormForward(xmid, o, x, w, xn, r, B, d, 1e-6f); }, 0},
      {"gemm qkv+bias", [&](int l) { gemm.run(false, true, B, ldq, d, xn, d, Wqkv + (long)l * ldq * d, d, qkv, ldq, false, 1.f, 0.f, bqkv + (long)l * ldq); }, 2.0 * ldq * d},
      {"rope+kv store", [&](int l) { ropeKvStore(qkv, ldq, qd, qd + kd, cs, sn, Kc + l * cacheL, Vc + l * cacheL, dpos, B, 1, H, Hk, hd, maxLen); }, 0},
      {"decode attention", [&](int l) { attn(l); }, kvBytes},
      {"gemm o", [&](int l) { gemm.run(false, true, B, d, qd, att, qd, Wo + (long)l * d * qd, qd, o, d, false, 1.f, 0.f); }, 2.0 * d * qd},
      {"gemm gate|up", [&](int l) { gemm.run(false, true, B, 2 * I, d, xn, d, Wgu + (long)l * 2 * I * d, d, gu, 2 * I, false, 1.f, 0.f); }, 2.0 * 2 * I * d},
      {"swiglu", [&](int l) { swigluForward(gu, hm, B, I); }, 0},
      {"gemm down", [&](int l) { gemm.run(false, true, B, d, I, hm, I, Wd + (long)l * d * I, I, o, d, false, 1.f, 0.f); }, 2.0 * d * I},
  };
  double sum = 0;
  printf("piece                      ms/step (18 layers)   GB/s\n");
  for (const Piece& p : pieces) {
    const double ms = graphMs([&]() { for (int l = 0; l < L; l++) p.f(l); });
    sum += ms;
    printf("%-26s %8.3f            %s\n", p.name, ms, p.bytes > 0 ? strf("%.0f", p.bytes * L / ms / 1e6).c_str() : "-");
  }
  const double hms = graphMs([&]() {
    gemm.run(false, true, B, V, d, xn, d, Wh, d, logits, V, false, 1.f, 0.f);
    argmaxRows(logits, V, V, B, ids, nullptr, nullptr, 0);
  });
  sum += hms;
  printf("%-26s %8.3f            %.0f\n", "lm_head + argmax", hms, 2.0 * V * d / hms / 1e6);
  const double step = graphMs([&]() {
    for (int l = 0; l < L; l++)
      for (const Piece& p : pieces) p.f(l);
    gemm.run(false, true, B, V, d, xn, d, Wh, d, logits, V, false, 1.f, 0.f);
    argmaxRows(logits, V, V, B, ids, nullptr, nullptr, 0);
  });
  printf("sum of pieces %.3f ms; the whole step in one graph %.3f ms\n", sum, step);
  // decode attention variants: keys per split, rows in flight per octet
  const double rd = graphMs([&]() { for (int l = 0; l < L; l++) read_k<<<132 * 16, 256, 0, g_stream>>>((const uint4*)(Kc + l * cacheL), cacheL / 8, sink); });
  printf("plain read of 18 K caches (%.0f MB each): %.3f ms, %.0f GB/s\n", cacheL * 2 / 1e6, rd, cacheL * 2.0 * L / rd / 1e6);
  for (int ks : {128, 256, 768})
    for (int U : {1, 2, 4}) {
      const int ns = (maxLen + ks - 1) / ks;
      const double ms = graphMs([&]() {
        for (int l = 0; l < L; l++) {
          const dim3 grid(ns, B, Hk);
          if (U == 1) decode_attn_k<1, 1><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (U == 2) decode_attn_k<1, 2><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (U == 4) decode_attn_k<1, 4><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (ns > 1) decode_combine_k<<<nblk(B * H * hd), 256, 0, g_stream>>>(part, att, dpos, 1, H, hd, ks, ns, B * H * hd);
        }
      });
      printf("attention ks %3d (%d splits) U %d: %.3f ms/step, %.0f GB/s\n", ks, ns, U, ms, kvBytes * L / ms / 1e6);
    }
  // the skinny GEMMs: every algorithm cuBLASLt's heuristic offers (up to 16), each timed as 18 calls in a graph
  struct GS { const char* name; int N, K; const bf16* W; const bf16* X; bf16* Y; long wstride; };
  const std::vector<GS> gs = {{"qkv", ldq, d, Wqkv, xn, qkv, (long)ldq * d}, {"o", d, qd, Wo, att, o, (long)d * qd},
                              {"gate|up", 2 * I, d, Wgu, xn, gu, 2L * I * d}, {"down", d, I, Wd, hm, o, (long)d * I}};
  for (const GS& g : gs) {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    CKL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = CUBLAS_OP_T, opB = CUBLAS_OP_N;
    CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
    CKL(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, g.K, g.N, g.K));
    CKL(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, g.K, B, g.K));
    CKL(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, g.N, B, g.N));
    cublasLtMatmulPreference_t pref;
    CKL(cublasLtMatmulPreferenceCreate(&pref));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &gemm.wsSize, sizeof gemm.wsSize));
    cublasLtMatmulHeuristicResult_t res[16];
    int nres = 0;
    CKL(cublasLtMatmulAlgoGetHeuristic(gemm.h, op, la, lb, lc, lc, pref, 16, res, &nres));
    printf("gemm %s (M %d N %d K %d): %d algorithms:", g.name, B, g.N, g.K, nres);
    const float one = 1.f, zero = 0.f;
    for (int i = 0; i < nres; i++) {
      const double ms = graphMs([&]() {
        for (int l = 0; l < L; l++)
          CKL(cublasLtMatmul(gemm.h, op, &one, g.W + l * g.wstride, la, g.X, lb, &zero, g.Y, lc, g.Y, lc, &res[i].algo, gemm.ws,
                             gemm.wsSize, g_stream));
      });
      printf(" %.3f", ms);
    }
    printf(" ms/step (%.0f MB of weights per step)\n", 2.0 * g.N * g.K * L / 1e6);
    cublasLtMatmulPreferenceDestroy(pref);
  }
  CK(cudaDeviceSynchronize());
  printf("done\n");
  return 0;
}
