// cuBLASLt wrapper with row-major semantics: C[M,N] = alpha * op(A) op(B) + beta * C, bf16 inputs, fp32 accumulate, bf16 or
// fp32 output, optional bf16 bias epilogue, strided batches. One heuristic query per (shape, transposes, types,
// alignment, batch), cached with its descriptors: the same call always runs the same algorithm (deterministic).
// Algorithm: the heuristic's first offer (dev/gemm-ab.cu times its other offers per GEMM of the steps; in session 9 the
// fastest ones, compiled in as a table, did not make the step faster, so there is no table).
// Checks: every GEMM of the model is covered by gpu-check `cpu` / `torch` (no separate kernel check).
#pragma once
#include <cublasLt.h>
#include <map>
#include <string>
#include <vector>
#include "common.cuh"

#define CKL(x)                                                                                             \
  do {                                                                                                     \
    cublasStatus_t s_ = (x);                                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                       \
      throw std::runtime_error(strf("cuBLASLt error %d (%s) at %s:%d: %s", (int)s_, cublasLtGetStatusName(s_), \
                                    __FILE__, __LINE__, #x));                                              \
  } while (0)

struct GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
  void destroy() {
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatmulDescDestroy(op);
  }
};
class Gemm {
 public:
  cublasLtHandle_t h = nullptr;
  void* ws = nullptr;
  size_t wsSize = 64ull << 20;
  std::map<std::string, GemmPlan> cache;
  void init() {
    CKL(cublasLtCreate(&h));
    CK(cudaMalloc(&ws, wsSize));
    g_allocBytes += wsSize;
  }
  ~Gemm() {
    for (auto& kv : cache) kv.second.destroy();
    if (ws) { cudaFree(ws); g_allocBytes -= wsSize; }
    if (h) cublasLtDestroy(h);
  }
  static uint32_t align(const void* p) {
    uintptr_t v = (uintptr_t)p;
    uint32_t a = 256;
    while (a > 1 && (v % a)) a >>= 1;
    return a;
  }
  // a GEMM's key (the plan cache's key adds the pointers' alignments)
  static std::string key(bool tA, bool tB, int M, int N, int K, int lda, int ldb, int ldc, bool cF32, bool bias, int batch,
                         long long sA, long long sB, long long sC, float beta) {
    return strf("%d%d %d %d %d %d %d %d %d %d %d %lld %lld %lld %d", tA, tB, M, N, K, lda, ldb, ldc, (int)cF32, bias, batch,
                sA, sB, sC, beta != 0.f);
  }
  // descriptors of C[M,N] = op(A) op(B) (+ bias) as cuBLASLt's column-major D^T = op(B)^T op(A)^T
  static GemmPlan describe(bool tA, bool tB, int M, int N, int K, int lda, int ldb, int ldc, bool cF32, bool bias, int batch,
                           long long sA, long long sB, long long sC) {
    GemmPlan p;
    CKL(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = tB ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tA ? CUBLAS_OP_T : CUBLAS_OP_N;
    CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
    if (bias) {
      cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
      cudaDataType_t bt = CUDA_R_16BF;
      CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
    }
    // cublas A := our B (m = N, k = K); cublas B := our A (k = K, n = M)
    CKL(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, tB ? K : N, tB ? N : K, ldb));
    CKL(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, tA ? M : K, tA ? K : M, lda));
    CKL(cublasLtMatrixLayoutCreate(&p.c, cF32 ? CUDA_R_32F : CUDA_R_16BF, N, M, ldc));
    if (batch > 1) {
      CKL(cublasLtMatrixLayoutSetAttribute(p.a, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
      CKL(cublasLtMatrixLayoutSetAttribute(p.b, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
      CKL(cublasLtMatrixLayoutSetAttribute(p.c, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
      CKL(cublasLtMatrixLayoutSetAttribute(p.a, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sB, sizeof sB));
      CKL(cublasLtMatrixLayoutSetAttribute(p.b, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sA, sizeof sA));
      CKL(cublasLtMatrixLayoutSetAttribute(p.c, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sC, sizeof sC));
    }
    return p;
  }
  // the heuristic's first n offers for plan p (alignments of our A, B, C in bytes)
  std::vector<cublasLtMatmulHeuristicResult_t> offers(const GemmPlan& p, uint32_t aA, uint32_t aB, uint32_t aC, size_t wsBytes,
                                                      int n) const {
    cublasLtMatmulPreference_t pref;
    CKL(cublasLtMatmulPreferenceCreate(&pref));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsBytes, sizeof wsBytes));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aB, sizeof aB));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &aA, sizeof aA));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &aC, sizeof aC));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &aC, sizeof aC));
    std::vector<cublasLtMatmulHeuristicResult_t> res(n);
    int got = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(h, p.op, p.a, p.b, p.c, p.c, pref, n, res.data(), &got);
    cublasLtMatmulPreferenceDestroy(pref);
    res.resize(st == CUBLAS_STATUS_SUCCESS ? got : 0);
    return res;
  }
  // C[M,N] (row-major, ldc) = alpha * op(A)[M,K] op(B)[K,N] + beta * C; A,B bf16; C bf16 or fp32; bias (bf16) per column
  void run(bool tA, bool tB, int M, int N, int K, const bf16* A, int lda, const bf16* B, int ldb, void* C, int ldc,
           bool cF32, float alpha, float beta, const bf16* bias = nullptr, int batch = 1, long long sA = 0, long long sB = 0,
           long long sC = 0) {
    uint32_t aA = align(A), aB = align(B), aC = align(C);
    const std::string k = key(tA, tB, M, N, K, lda, ldb, ldc, cF32, bias != nullptr, batch, sA, sB, sC, beta);
    const std::string ck = strf("%s %u %u %u", k.c_str(), aA, aB, aC);
    auto it = cache.find(ck);
    if (it == cache.end()) {
      GemmPlan p = describe(tA, tB, M, N, K, lda, ldb, ldc, cF32, bias != nullptr, batch, sA, sB, sC);
      const auto res = offers(p, aA, aB, aC, wsSize, 1);
      if (res.empty()) {
        p.destroy();
        throw std::runtime_error(strf("cuBLASLt: no algorithm for GEMM %s", ck.c_str()));
      }
      p.algo = res[0].algo;
      it = cache.emplace(ck, p).first;
    }
    GemmPlan& p = it->second;
    if (bias) CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    CKL(cublasLtMatmul(h, p.op, &alpha, B, p.a, A, p.b, &beta, C, p.c, C, p.c, &p.algo, ws, wsSize, g_stream));
  }
};
