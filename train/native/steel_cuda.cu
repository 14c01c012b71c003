// Steel CUDA backend: N-API addon (plain C API) driving a bf16 Qwen2 / Steel-LLM (Soft-MoE v3) trainer on one GPU.
// fp32 master weights + bf16 shadow copies, fp32 AdamW moments and gradients, cuBLASLt GEMMs (fp32 accumulate).
#include <node_api.h>
#include <cublasLt.h>
#include <dlfcn.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>
#include "kernels.cuh"
#if !defined(STEEL_NO_ATTN3) && __has_include("attn3.cuh")
#include "attn3.cuh"
#define STEEL_HAVE_ATTN3 1
#endif

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
#define CKL(x)                                                                                             \
  do {                                                                                                     \
    cublasStatus_t s_ = (x);                                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                       \
      throw std::runtime_error(strf("cuBLASLt error %d (%s) at %s:%d: %s", (int)s_, cublasLtGetStatusName(s_), \
                                    __FILE__, __LINE__, #x));                                              \
  } while (0)
#define KCHECK(name) CK_launch(name, __LINE__)
static void CK_launch(const char* name, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(strf("CUDA kernel %s launch failed (line %d): %s", name, line, cudaGetErrorString(e)));
}
static inline unsigned nblk(long n, int t = 256) { return (unsigned)((n + t - 1) / t); }

static size_t g_allocBytes = 0;  // bytes cudaMalloc'ed by live models (comparable to torch.cuda.max_memory_allocated)

// ============================================================================ cuBLASLt wrapper (row-major semantics)
struct GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
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
    for (auto& kv : cache) {
      cublasLtMatrixLayoutDestroy(kv.second.a);
      cublasLtMatrixLayoutDestroy(kv.second.b);
      cublasLtMatrixLayoutDestroy(kv.second.c);
      cublasLtMatmulDescDestroy(kv.second.op);
    }
    if (ws) { cudaFree(ws); g_allocBytes -= wsSize; }
    if (h) cublasLtDestroy(h);
  }
  static uint32_t align(const void* p) {
    uintptr_t v = (uintptr_t)p;
    uint32_t a = 256;
    while (a > 1 && (v % a)) a >>= 1;
    return a;
  }
  // C[M,N] (row-major, ldc) = alpha * op(A)[M,K] op(B)[K,N] + beta * C; A,B bf16; C bf16 or fp32; bias (bf16) per column
  void run(bool tA, bool tB, int M, int N, int K, const bf16* A, int lda, const bf16* B, int ldb, void* C, int ldc,
           bool cF32, float alpha, float beta, const bf16* bias = nullptr, int batch = 1, long long sA = 0, long long sB = 0,
           long long sC = 0) {
    uint32_t aA = align(A), aB = align(B), aC = align(C);
    std::string key = strf("%d%d %d %d %d %d %d %d %d %d %d %lld %lld %lld %u %u %u %d", tA, tB, M, N, K, lda, ldb, ldc,
                           (int)cF32, bias != nullptr, batch, sA, sB, sC, aA, aB, aC, beta != 0.f);
    auto it = cache.find(key);
    if (it == cache.end()) {
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
      cublasLtMatmulPreference_t pref;
      CKL(cublasLtMatmulPreferenceCreate(&pref));
      CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsSize, sizeof wsSize));
      CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aB, sizeof aB));
      CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &aA, sizeof aA));
      CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &aC, sizeof aC));
      CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &aC, sizeof aC));
      cublasLtMatmulHeuristicResult_t res[1];
      int n = 0;
      cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(h, p.op, p.a, p.b, p.c, p.c, pref, 1, res, &n);
      cublasLtMatmulPreferenceDestroy(pref);
      if (st != CUBLAS_STATUS_SUCCESS || n == 0)
        throw std::runtime_error(strf("cuBLASLt: no algorithm for GEMM %s (status %d)", key.c_str(), (int)st));
      p.algo = res[0].algo;
      it = cache.emplace(key, p).first;
    }
    GemmPlan& p = it->second;
    if (bias) CKL(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    CKL(cublasLtMatmul(h, p.op, &alpha, B, p.a, A, p.b, &beta, C, p.c, C, p.c, &p.algo, ws, wsSize, 0));
  }
};

// attention v2 launchers (NDT_SWITCH: kernels.cuh)
static void attnFwd2(dim3 grid, const bf16* qkv, bf16* out, float* lse, int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2) {
  NDT_SWITCH(hd, (attn_fwd2_k<N_><<<grid, 128>>>(qkv, out, lse, T, H, Hk, hd, ldq, koff, voff, sl2)));
}
static void attnBwd2(dim3 gq, dim3 gk, const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int T,
                     int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale) {
  NDT_SWITCH(hd, (attn_bwd_dq2_k<N_><<<gq, 128>>>(qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale)));
  NDT_SWITCH(hd, (attn_bwd_dkdv2_k<N_><<<gk, 128>>>(qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale)));
}


// attention by kernel version: 1 = first kernels, 2 = ldmatrix + cp.async (v2), 3 = attn3.cuh when built with it
static bool attnVersionOk(int ver) {
#ifdef STEEL_HAVE_ATTN3
  if (ver == 3) return true;
#endif
  return ver == 1 || ver == 2;
}
static void attnForward(int ver, const bf16* qkv, bf16* out, float* lse, int B, int T, int H, int Hk, int hd, int ldq, int koff,
                        int voff, float sl2) {
  const int nQT = (T + 63) / 64;
  if (ver == 1) attn_fwd_k<<<dim3(nQT, B * H), 128>>>(qkv, out, lse, T, H, Hk, hd, ldq, koff, voff, sl2);
#ifdef STEEL_HAVE_ATTN3
  else if (ver == 3) attnFwd3(qkv, out, lse, B, T, H, Hk, hd, ldq, koff, voff, sl2);
#endif
  else if (ver == 2) attnFwd2(dim3(nQT, B * H), qkv, out, lse, T, H, Hk, hd, ldq, koff, voff, sl2);
  else throw std::runtime_error(strf("cuda backend: attention kernel version %d is not built (STEEL_CUDA_ATTN)", ver));
}
// delta must already hold rowsum(dO * O) (attn_delta_k)
static void attnBackward(int ver, const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int B, int T,
                         int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale) {
  const int nQT = (T + 63) / 64;
  if (ver == 1) {
    attn_bwd_dq_k<<<dim3(nQT, B * H), 128>>>(qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
    attn_bwd_dkdv_k<<<dim3(nQT, B * Hk), 128>>>(qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
  }
#ifdef STEEL_HAVE_ATTN3
  else if (ver == 3) attnBwd3(qkv, dO, lse, delta, dqkv, B, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
#endif
  else if (ver == 2) attnBwd2(dim3(nQT, B * H), dim3(nQT, B * Hk), qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
  else throw std::runtime_error(strf("cuda backend: attention kernel version %d is not built (STEEL_CUDA_ATTN)", ver));
}

// ============================================================================ NCCL (loaded at run time)
// The addon does not link NCCL: it is dlopen'ed on the first multi-GPU use, so a single-GPU build and run need no NCCL
// at all, and the build needs no NCCL headers. The few declarations below follow NCCL's stable C ABI (nccl.h, 2.x).
typedef struct ncclComm* ncclComm_t;
struct ncclUniqueIdT { char internal[128]; };
typedef int ncclResult_t;  // ncclSuccess = 0
enum { NCCL_FLOAT32 = 7, NCCL_SUM = 0, NCCL_IN_PROGRESS = 7 };
struct NcclLib {
  void* so = nullptr;
  std::string path;
  ncclResult_t (*getVersion)(int*) = nullptr;
  ncclResult_t (*getUniqueId)(ncclUniqueIdT*) = nullptr;
  ncclResult_t (*commInitRank)(ncclComm_t*, int, ncclUniqueIdT, int) = nullptr;
  ncclResult_t (*allReduce)(const void*, void*, size_t, int, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*commDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*commAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*asyncError)(ncclComm_t, ncclResult_t*) = nullptr;
  const char* (*errStr)(ncclResult_t) = nullptr;
};
static NcclLib g_nccl;
// candidates: '\n'-separated library paths to try first; then the loader's default search for libnccl.so.2
static NcclLib& ncclLoad(const std::string& candidates) {
  if (g_nccl.so) return g_nccl;
  // NVLink multicast (NVLS) stays off unless the user set it explicitly (the lent GPU hosts require it off)
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  std::vector<std::string> tries;
  size_t i = 0;
  while (i <= candidates.size()) {
    size_t j = candidates.find('\n', i);
    if (j == std::string::npos) j = candidates.size();
    if (j > i) tries.push_back(candidates.substr(i, j - i));
    i = j + 1;
  }
  tries.push_back("libnccl.so.2");
  tries.push_back("libnccl.so");
  std::string errs;
  for (auto& t : tries) {
    void* so = dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!so) { const char* e = dlerror(); errs += "\n  " + t + ": " + (e ? e : "not found"); continue; }
    NcclLib L;
    L.so = so;
    L.path = t;
    bool ok = true;
    auto sym = [&](const char* n) { void* f = dlsym(so, n); if (!f) { ok = false; errs += "\n  " + t + ": no symbol " + n; } return f; };
    L.getVersion = (decltype(L.getVersion))sym("ncclGetVersion");
    L.getUniqueId = (decltype(L.getUniqueId))sym("ncclGetUniqueId");
    L.commInitRank = (decltype(L.commInitRank))sym("ncclCommInitRank");
    L.allReduce = (decltype(L.allReduce))sym("ncclAllReduce");
    L.commDestroy = (decltype(L.commDestroy))sym("ncclCommDestroy");
    L.commAbort = (decltype(L.commAbort))sym("ncclCommAbort");
    L.asyncError = (decltype(L.asyncError))sym("ncclCommGetAsyncError");
    L.errStr = (decltype(L.errStr))sym("ncclGetErrorString");
    if (!ok) { dlclose(so); continue; }
    g_nccl = L;
    return g_nccl;
  }
  throw std::runtime_error("cuda backend: multi-GPU training needs NCCL (libnccl.so.2), which could not be loaded; set "
                           "STEEL_NCCL_LIB to its path (e.g. .../site-packages/nvidia/nccl/lib/libnccl.so.2). Tried:" + errs);
}
#define CKN(x)                                                                                                  \
  do {                                                                                                          \
    ncclResult_t r_ = (x);                                                                                      \
    if (r_ != 0 && r_ != NCCL_IN_PROGRESS)                                                                      \
      throw std::runtime_error(strf("NCCL error %d (%s) at %s:%d: %s", (int)r_, g_nccl.errStr ? g_nccl.errStr(r_) : "?", \
                                    __FILE__, __LINE__, #x));                                                   \
  } while (0)

// ============================================================================ model
struct Cfg {
  int V, d, L, H, Hk, hd, I, ne, np;
  bool steel;
  double theta, eps, initStd;
  int pad;
};
struct Param {
  std::string name;
  std::vector<long> shape;
  long off, size;
  int init;  // 0 normal, 1 ones, 2 zeros, 3 phi
};
struct LayerP {
  long ln1, qkvw, qkvb, ow, ln2;
  long phi, scale, eguw, egdw;  // steel: expert gate_up|up stacked [ne][2I, d]; gate_down|down stacked [ne][2d, I]
  long guw, dw;                 // dense: gate|up [2I, d]; down [d, I]
};
struct LayerA {  // saved activations
  float *xin, *xmid, *r1, *r2, *lse;
  bf16 *xn1, *qkv, *att, *xn2;
  // steel
  float *rinv, *Lg, *D, *C, *slots, *Ys, *phihat, *phinorm;
  bf16 *slotsb, *gu1, *h1, *gd2;
  // dense
  bf16 *gu, *hm;
};

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
class Arena {
 public:
  char* base = nullptr;
  size_t cap = 0, used = 0;
  void reset(size_t bytes) {
    if (base) devFree(base, cap);
    base = nullptr;
    base = (char*)devAlloc(bytes);
    cap = bytes;
    used = 0;
  }
  template <typename T>
  T* get(size_t n) {
    size_t bytes = (n * sizeof(T) + 255) & ~(size_t)255;
    if (used + bytes > cap) throw std::runtime_error("internal: activation arena overflow");
    T* p = (T*)(base + used);
    used += bytes;
    return p;
  }
  ~Arena() {
    if (base) devFree(base, cap);
  }
};

class Model {
 public:
  Cfg c;
  int S = 0, qd = 0, kd = 0, ldq = 0;
  std::vector<Param> params;
  std::map<std::string, int> byName;
  std::vector<LayerP> lp;
  long embOff = 0, normOff = 0, lmOff = 0, total = 0;
  float *P = nullptr, *G = nullptr, *M1 = nullptr, *M2 = nullptr;
  bf16* PB = nullptr;  // bf16 shadow, valid for offsets >= pbOff
  bf16* PBbase = nullptr;
  long pbOff = 0;
  long step = 0;
  Gemm gemm;
  // activations
  Arena arena;
  int capB = 0, capT = 0;
  std::vector<LayerA> la;
  float *resid = nullptr;
  bf16* xnS = nullptr;  // xin of layer L (final)
  float *rf = nullptr, *ropeC = nullptr, *ropeS = nullptr;
  bf16 *xf = nullptr, *logits = nullptr, *dRb = nullptr, *datt = nullptr, *dqkv = nullptr, *dgu = nullptr;
  float *dR = nullptr, *dxn = nullptr, *delta = nullptr, *lossrow = nullptr, *part = nullptr, *dh = nullptr;
  float *dYs = nullptr, *dXs = nullptr, *dC = nullptr, *dD = nullptr, *dL = nullptr, *dph = nullptr, *mpart = nullptr;
  int *tokIn = nullptr, *tokTgt = nullptr, *eIds = nullptr, *eOff = nullptr, *ePos = nullptr;
  double* dsum = nullptr;
  float* normOut = nullptr;
  int chunkRows = 0;
  size_t partCap = 0, mpartCap = 0;
  int TS = 32;  // token splits for Soft-MoE reductions
  std::string devName;
  // optional per-phase timing (synchronises at every mark; for profiling only)
  bool prof = false;
  bool attnV1 = getenv("STEEL_CUDA_ATTN_V1") != nullptr;  // the first (simpler, slower) attention kernels
  bool rmsV1 = getenv("STEEL_CUDA_RMS_V1") != nullptr;
  // STEEL_CUDA_FUSE_V1=1: the previous RMSNorm / RoPE / Soft-MoE / SwiGLU / embedding-backward kernels and passes
  bool fuseV1 = getenv("STEEL_CUDA_FUSE_V1") != nullptr;
  size_t ce2Smem = 0;  // > 0: cross-entropy v2 (ce2_k<4>) is used, with this much dynamic shared memory per CTA
  int moeSM = 16;  // compile-time slot bound of the v3 Soft-MoE token kernels (4, 8 or 16 >= S)
  bool moeS = false;  // Soft-MoE token kernels with smem-cached slot matrices (set in the constructor when they fit)
  size_t moeSmem = 0;
  float* phihatT = nullptr;
  std::map<std::string, double> profMs;
  // attention kernels: STEEL_CUDA_ATTN=1|2|3 (default 3 when built with attn3.cuh, else 2; STEEL_CUDA_ATTN_V1 = 1)
  int attnVer = attnV1 ? 1 : getenv("STEEL_CUDA_ATTN") ? atoi(getenv("STEEL_CUDA_ATTN")) : attnVersionOk(3) ? 3 : 2;

  // ---------------------------------------------------------------- data parallelism (NCCL)
  // Gradients are summed over the ranks in buckets: final norm + lm_head, then each layer from the last to the first,
  // then the embedding, i.e. in the order the backward pass finishes them. During the backward pass of a rank's last
  // micro-batch of a step (overlapNext), each bucket's all-reduce is launched on its own stream as soon as its
  // gradients are complete, so communication overlaps the rest of the backward pass. A rank that had no micro-batch
  // (or whose last one had no targets) launches the same buckets in the same order from allReduceGrads.
  ncclComm_t comm = nullptr;
  int rank = 0, world = 1;
  cudaStream_t cs = nullptr;
  cudaEvent_t cev = nullptr;
  bool overlapNext = false;
  int bucketsIssued = 0;
  std::vector<std::pair<long, long>> buckets;  // [offset, count) in launch order
  void ncclSetup(const ncclUniqueIdT& id, int r, int w) {
    if (comm) throw std::runtime_error("cuda backend: NCCL is already set up for this model");
    if (!cs) CK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
    if (!cev) CK(cudaEventCreateWithFlags(&cev, cudaEventDisableTiming));
    CK(cudaDeviceSynchronize());
    CKN(g_nccl.commInitRank(&comm, w, id, r));
    rank = r;
    world = w;
    buckets.clear();
    buckets.push_back({normOff, total - normOff});
    for (int l = c.L - 1; l >= 0; l--) buckets.push_back({lp[l].ln1, (l + 1 < c.L ? lp[l + 1].ln1 : normOff) - lp[l].ln1});
    buckets.push_back({0, c.L > 0 ? lp[0].ln1 : normOff});
    bucketsIssued = 0;
  }
  void issueBucket() {  // the next bucket's all-reduce, after everything queued so far on the compute stream
    auto& b = buckets[bucketsIssued++];
    CK(cudaEventRecord(cev, 0));
    CK(cudaStreamWaitEvent(cs, cev, 0));
    CKN(g_nccl.allReduce(G + b.first, G + b.first, (size_t)b.second, NCCL_FLOAT32, NCCL_SUM, comm, cs));
  }
  void overlapBucket() {
    if (comm && overlapNext && bucketsIssued < (int)buckets.size()) issueBucket();
  }
  void checkNoReduceInFlight(const char* what) {
    if (bucketsIssued > 0)
      throw std::runtime_error(strf("cuda backend: %s while the gradient all-reduce of this step is in flight (call allReduceGrads first)", what));
  }
  void ncclAbort() {
    if (comm) g_nccl.commAbort(comm);
    comm = nullptr;
  }
  // launches whatever buckets are left, then waits for all of them (polling, so that a dead peer ends in an error
  // after timeoutS seconds instead of a hang)
  void allReduceGrads(double timeoutS) {
    if (!comm) throw std::runtime_error("cuda backend: allReduceGrads before NCCL was set up (ncclInit)");
    while (bucketsIssued < (int)buckets.size()) issueBucket();
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t e = cudaStreamQuery(cs);
      if (e == cudaSuccess) break;
      if (e != cudaErrorNotReady) CK(e);
      ncclResult_t ae = 0;
      g_nccl.asyncError(comm, &ae);
      if (ae != 0 && ae != NCCL_IN_PROGRESS) {
        std::string msg = strf("NCCL failed during the gradient all-reduce (rank %d of %d): %s", rank, world, g_nccl.errStr(ae));
        ncclAbort();
        throw std::runtime_error(msg);
      }
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeoutS) {
        ncclAbort();
        throw std::runtime_error(strf("NCCL gradient all-reduce did not finish within %.0f s (rank %d of %d): another rank "
                                      "stopped or hangs (STEEL_DIST_TIMEOUT sets the limit)", timeoutS, rank, world));
      }
      usleep(50);
    }
    bucketsIssued = 0;
    overlapNext = false;
  }
  std::chrono::steady_clock::time_point profT;
  void mark(const char* name) {
    if (!prof) return;
    CK(cudaDeviceSynchronize());
    auto now = std::chrono::steady_clock::now();
    profMs[name] += std::chrono::duration<double, std::milli>(now - profT).count();
    profT = now;
  }

  explicit Model(const Cfg& cfg) : c(cfg) {
    if (c.hd % 8 != 0 || c.hd > 64) throw std::runtime_error(strf("cuda backend: headDim must be a multiple of 8 and <= 64 (got %d)", c.hd));
    if (c.H % c.Hk) throw std::runtime_error("cuda backend: numHeads must be a multiple of numKvHeads");
    if (c.d > RMS_KMAX * 256) throw std::runtime_error("cuda backend: hiddenSize too large");
    S = c.steel ? c.ne * c.np : 0;
    if (S > MAXS) throw std::runtime_error(strf("cuda backend: at most %d Soft-MoE slots (got %d)", MAXS, S));
    qd = c.H * c.hd;
    kd = c.Hk * c.hd;
    ldq = qd + 2 * kd;
    if (ldq % 8) throw std::runtime_error("cuda backend: q+k+v width must be a multiple of 8");
    int dev;
    CK(cudaGetDevice(&dev));
    cudaDeviceProp pr;
    CK(cudaGetDeviceProperties(&pr, dev));
    devName = pr.name;
    {  // cross-entropy v2: a row over a cluster of 4 CTAs, each part in shared memory (needs a build for sm_90+)
      cudaFuncAttributes fa;
      const size_t smem = (size_t)((c.V / 8 + 3) / 4) * 16;
      if (!fuseV1 && pr.major >= 9 && c.V % 8 == 0 && cudaFuncGetAttributes(&fa, ce2_k<4>) == cudaSuccess && fa.binaryVersion >= 90 &&
          smem + fa.sharedSizeBytes <= (size_t)pr.sharedMemPerBlockOptin) {
        CK(cudaFuncSetAttribute(ce2_k<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        ce2Smem = smem;
      }
      cudaGetLastError();
    }
    if (!attnVersionOk(attnVer)) throw std::runtime_error(strf("cuda backend: STEEL_CUDA_ATTN=%d: no such attention kernel version in this build", attnVer));
    layout();
    size_t bytes = (size_t)total * 4;
    P = (float*)devAlloc(bytes);
    G = (float*)devAlloc(bytes);
    M1 = (float*)devAlloc(bytes);
    M2 = (float*)devAlloc(bytes);
    // bf16 shadow copies only from the first parameter after the embedding (the embedding is gathered in fp32)
    pbOff = params.size() > 1 ? params[1].off : 0;
    PBbase = (bf16*)devAlloc((size_t)(total - pbOff) * 2);
    PB = PBbase - pbOff;
    CK(cudaMemset(P, 0, bytes));
    CK(cudaMemset(G, 0, bytes));
    CK(cudaMemset(M1, 0, bytes));
    CK(cudaMemset(M2, 0, bytes));
    CK(cudaMemset(PBbase, 0, (size_t)(total - pbOff) * 2));
    dsum = (double*)devAlloc(4096 * sizeof(double));
    normOut = (float*)devAlloc(16);
    gemm.init();
    if (c.steel && c.d % 4 == 0 && !getenv("STEEL_CUDA_MOE_V1")) {
      moeSmem = (size_t)2 * S * c.d * sizeof(float);
      int maxOptin = 0;
      CK(cudaDeviceGetAttribute(&maxOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
      if (moeSmem <= (size_t)maxOptin) {
        CK(cudaFuncSetAttribute(moe_tok_bwd1s_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
        CK(cudaFuncSetAttribute(moe_tok_bwd2s_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
        CK(cudaFuncSetAttribute(moe_combine_s_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
        CK(cudaFuncSetAttribute(moe_logits2_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
        moeSM = S <= 4 ? 4 : S <= 8 ? 8 : 16;
        if (moeSM == 4) moeFuncAttrs<4>();
        else if (moeSM == 8) moeFuncAttrs<8>();
        else moeFuncAttrs<16>();
        phihatT = (float*)devAlloc((size_t)S * c.d * sizeof(float));
        moeS = true;
      }
    }
  }
  template <int SM>
  void moeFuncAttrs() {
    CK(cudaFuncSetAttribute(moe_tok_bwd1f_k<SM>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
    CK(cudaFuncSetAttribute(moe_tok_bwd2f_k<SM>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
    CK(cudaFuncSetAttribute(moe_combine_f_k<SM>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
    CK(cudaFuncSetAttribute(moe_logits3_k<SM>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)moeSmem));
  }
  ~Model() {
    if (comm) {
      if (cudaStreamSynchronize(cs) == cudaSuccess) g_nccl.commDestroy(comm);
      else g_nccl.commAbort(comm);
      comm = nullptr;
    }
    if (cs) cudaStreamDestroy(cs);
    if (cev) cudaEventDestroy(cev);
    size_t bytes = (size_t)total * 4;
    devFree(phihatT, (size_t)S * c.d * sizeof(float));
    devFree(P, bytes); devFree(G, bytes); devFree(M1, bytes); devFree(M2, bytes);
    devFree(PBbase, (size_t)(total - pbOff) * 2);
    devFree(dsum, 4096 * sizeof(double)); devFree(normOut, 16);
    devFree(tmpF, tmpFcap * 4);
    if (hEmb) cudaFreeHost(hEmb);
  }

  long cursor = 0;
  void alignCursor() { cursor = (cursor + 127) & ~127L; }
  long add(const std::string& name, std::vector<long> shape, int init, bool newGroup = true) {
    if (newGroup) alignCursor();
    long n = 1;
    for (long s : shape) n *= s;
    Param p{name, shape, cursor, n, init};
    byName[name] = (int)params.size();
    params.push_back(p);
    long o = cursor;
    cursor += n;
    return o;
  }
  void layout() {
    const long d = c.d, I = c.I;
    embOff = add("model.embed_tokens.weight", {c.V, d}, 0);
    lp.resize(c.L);
    for (int l = 0; l < c.L; l++) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      LayerP& L = lp[l];
      L.ln1 = add(p + "input_layernorm.weight", {d}, 1);
      L.qkvw = add(p + "self_attn.q_proj.weight", {qd, d}, 0);
      add(p + "self_attn.k_proj.weight", {kd, d}, 0, false);
      add(p + "self_attn.v_proj.weight", {kd, d}, 0, false);
      L.qkvb = add(p + "self_attn.q_proj.bias", {qd}, 2);
      add(p + "self_attn.k_proj.bias", {kd}, 2, false);
      add(p + "self_attn.v_proj.bias", {kd}, 2, false);
      L.ow = add(p + "self_attn.o_proj.weight", {d, qd}, 0);
      L.ln2 = add(p + "post_attention_layernorm.weight", {d}, 1);
      if (!c.steel) {
        L.guw = add(p + "mlp.gate_proj.weight", {I, d}, 0);
        add(p + "mlp.up_proj.weight", {I, d}, 0, false);
        L.dw = add(p + "mlp.down_proj.weight", {d, I}, 0);
      } else {
        L.phi = add(p + "mlp.phi", {d, c.ne, c.np}, 3);
        L.scale = add(p + "mlp.scale", {1}, 1);
        for (int e = 0; e < c.ne; e++) {
          std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          long o = add(x + "gate_up_proj.weight", {I, d}, 0, e == 0);
          if (e == 0) L.eguw = o;
          add(x + "up_proj.weight", {I, d}, 0, false);
        }
        for (int e = 0; e < c.ne; e++) {
          std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          long o = add(x + "gate_down_proj.weight", {d, I}, 0, e == 0);
          if (e == 0) L.egdw = o;
          add(x + "down_proj.weight", {d, I}, 0, false);
        }
      }
    }
    normOff = add("model.norm.weight", {d}, 1);
    lmOff = add("lm_head.weight", {c.V, d}, 0);
    alignCursor();
    total = cursor;
  }
  const Param& param(const std::string& name) {
    auto it = byName.find(name);
    if (it == byName.end()) throw std::runtime_error("cuda backend: no parameter named \"" + name + "\"");
    return params[it->second];
  }
  void refreshBf16(long off, long n) {
    if (off < pbOff) { n -= pbOff - off; off = pbOff; }
    if (n <= 0) return;
    cast_f2b_k<<<nblk(n), 256>>>(P + off, PB + off, n);
    KCHECK("cast_f2b");
  }
  void initParams(uint64_t seed) {
    for (size_t i = 0; i < params.size(); i++) {
      const Param& p = params[i];
      if (p.init == 1) fill_k<<<std::min(nblk(p.size), 4096u), 256>>>(P + p.off, p.size, 1.f);
      else if (p.init == 2) fill_k<<<std::min(nblk(p.size), 4096u), 256>>>(P + p.off, p.size, 0.f);
      else {
        float std = p.init == 3 ? (float)(1.0 / std::sqrt((double)c.d)) : (float)c.initStd;
        init_normal_k<<<std::min(nblk(p.size), 8192u), 256>>>(P + p.off, p.size, seed * 0x100000001B3ULL + i * 0x9E3779B97F4A7C15ULL, std);
      }
      KCHECK("init");
    }
    refreshBf16(0, total);
    CK(cudaMemset(M1, 0, (size_t)total * 4));
    CK(cudaMemset(M2, 0, (size_t)total * 4));
    step = 0;
    CK(cudaDeviceSynchronize());
  }

  // ---------------------------------------------------------------- activation buffers
  void ensure(int B, int T) {
    if (B <= capB && T <= capT && (long)B * T <= (long)capB * capT) return;
    B = std::max(B, capB);
    T = std::max(T, capT);
    la.assign(c.L, LayerA{});
    for (int pass = 0; pass < 2; pass++) {
      if (pass == 1) arena.reset(arena.used + (1 << 20));
      arena.used = 0;
      if (pass == 0) arena.cap = SIZE_MAX;  // sizing pass (pointers unused)
      const long N = (long)B * T, d = c.d;
      const long R = (long)B * c.np;
      for (int l = 0; l < c.L; l++) {
        LayerA& a = la[l];
        a.xin = arena.get<float>(N * d);
        a.xmid = arena.get<float>(N * d);
        a.r1 = arena.get<float>(N);
        a.r2 = arena.get<float>(N);
        a.lse = arena.get<float>((long)B * c.H * T);
        a.xn1 = nullptr;  // shared scratch (xnS), recomputed in the backward pass
        a.qkv = arena.get<bf16>(N * ldq);
        a.att = arena.get<bf16>(N * qd);
        a.xn2 = arena.get<bf16>(N * d);
        if (c.steel) {
          a.rinv = arena.get<float>(N);
          a.Lg = arena.get<float>(N * S);
          a.D = arena.get<float>(N * S);
          a.C = arena.get<float>(N * S);
          a.slots = arena.get<float>((long)B * S * d);
          a.slotsb = arena.get<bf16>((long)B * S * d);
          a.Ys = arena.get<float>((long)B * S * d);
          a.phihat = arena.get<float>(d * S);
          a.phinorm = arena.get<float>(S);
          a.gu1 = arena.get<bf16>((long)c.ne * R * 2 * c.I);
          a.h1 = arena.get<bf16>((long)c.ne * R * c.I);
          a.gd2 = arena.get<bf16>((long)c.ne * R * 2 * d);
        } else {
          a.gu = arena.get<bf16>(N * 2 * c.I);
          a.hm = arena.get<bf16>(N * c.I);
        }
      }
      xnS = arena.get<bf16>(N * d);
      for (auto& a : la) a.xn1 = xnS;
      resid = arena.get<float>(N * d);
      rf = arena.get<float>(N);
      xf = arena.get<bf16>(N * d);
      ropeC = arena.get<float>((long)T * c.hd / 2);
      ropeS = arena.get<float>((long)T * c.hd / 2);
      {
        long cr = (1200L << 20) / 2 / c.V;  // ~1.2 GB of bf16 logits: 4,096 rows for the Qwen vocabulary
        if (cr >= 256) cr = cr / 256 * 256;
        chunkRows = (int)std::max(1L, std::min(N, cr));
      }
      logits = arena.get<bf16>((long)chunkRows * c.V);
      lossrow = arena.get<float>(N);
      dR = arena.get<float>(N * d);
      dRb = arena.get<bf16>(N * d);
      dxn = arena.get<float>(N * d);
      datt = arena.get<bf16>(N * qd);
      dqkv = arena.get<bf16>(N * ldq);
      delta = arena.get<float>((long)B * c.H * T);
      long rowsPer = 64;
      partCap = (size_t)((N + rowsPer - 1) / rowsPer) * 8 * std::max<long>(d, ldq);
      part = arena.get<float>(partCap);
      if (c.steel) {
        dYs = arena.get<float>((long)B * S * d);
        dXs = arena.get<float>((long)B * S * d);
        dh = arena.get<float>((long)c.ne * R * c.I);
        dgu = arena.get<bf16>((long)c.ne * R * 2 * std::max<long>(c.I, d));
        dC = arena.get<float>(N * S);
        dD = arena.get<float>(N * S);
        dL = arena.get<float>(N * S);
        dph = arena.get<float>(d * S);
        mpartCap = (size_t)TS * B * S * d;
        mpart = arena.get<float>(mpartCap);
      } else {
        dh = arena.get<float>(N * c.I);
        dgu = arena.get<bf16>(N * 2 * c.I);
      }
      tokIn = arena.get<int>(N);
      tokTgt = arena.get<int>(N);
      eIds = arena.get<int>(N);
      eOff = arena.get<int>(N + 1);
      ePos = arena.get<int>(N);
    }
    CK(cudaMemset(arena.base, 0, arena.cap));
    capB = B;
    capT = T;
    ropeT = 0;
  }
  int ropeT = 0;
  void ropeTables(int T) {
    if (ropeT == T) return;
    int h = c.hd / 2;
    std::vector<float> cs((size_t)T * h), sn((size_t)T * h);
    for (int i = 0; i < h; i++) {
      double inv = 1.0 / std::pow(c.theta, (2.0 * i) / c.hd);
      for (int t = 0; t < T; t++) {
        double a = t * inv;
        cs[(size_t)t * h + i] = (float)std::cos(a);
        sn[(size_t)t * h + i] = (float)std::sin(a);
      }
    }
    CK(cudaMemcpy(ropeC, cs.data(), cs.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(ropeS, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice));
    ropeT = T;
  }

  // ---------------------------------------------------------------- helpers
  void linear(const bf16* X, long M, int K, long wOff, int Nout, bf16* Y, const bf16* bias = nullptr) {
    gemm.run(false, true, (int)M, Nout, K, X, K, PB + wOff, K, Y, Nout, false, 1.f, 0.f, bias);
  }
  void rope(bf16* x, long N, int T, int inverse) {
    if (!fuseV1) {  // hd % 8 == 0 always (checked in the constructor); rows in grid.x (no 65535 limit)
      rope4_k<4><<<dim3(nblk(N, 4), nblk((long)(c.H + c.Hk) * (c.hd / 8), 64)), 64>>>(x, ropeC, ropeS, (int)N, T, c.H, c.Hk,
                                                                                     c.hd, ldq, qd, inverse);
    } else if ((c.hd / 2) % 2 == 0) rope2_k<<<nblk(N * (c.H + c.Hk) * (c.hd / 4)), 256>>>(x, ropeC, ropeS, (int)N, T, c.H, c.Hk, c.hd, ldq, qd, inverse);
    else rope_k<<<nblk(N * (c.H + c.Hk) * (c.hd / 2)), 256>>>(x, ropeC, ropeS, (int)N, T, c.H, c.Hk, c.hd, ldq, qd, inverse);
  }
  // dres (=|+=) dx; also writes bf16(dres) into dresb when given (the next consumer is a bf16 GEMM)
  void rmsBwd(const float* dy, const float* x, long wOff, const float* rstd, float* dres, bool acc, long N, bf16* dresb = nullptr) {
    const int rowsPer = 64;
    int nb = (int)((N + rowsPer - 1) / rowsPer);
    if (!fuseV1 && !rmsV1 && c.d % 4 == 0 && c.d <= 128 * 14) {
      if (c.d <= 128 * 4) rmsnorm_bwd4_k<4><<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      else rmsnorm_bwd4_k<14><<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      KCHECK("rmsnorm_bwd4");
      colreduce2_k<<<nblk(c.d, 32), 256>>>(part, nb, c.d, G + wOff);
      KCHECK("colreduce2");
      return;
    }
    if (!rmsV1 && c.d % 4 == 0 && c.d <= 2048) {
      if (c.d <= 128 * 4) rmsnorm_bwd3_k<4><<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      else if (c.d <= 128 * 14) rmsnorm_bwd3_k<14><<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      else rmsnorm_bwd2_k<<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      KCHECK("rmsnorm_bwd2");
      nb *= 8;
    } else {
      rmsnorm_bwd_k<<<nb, 256>>>(dy, x, P + wOff, rstd, dres, acc ? 1 : 0, part, (int)N, c.d, rowsPer, dresb);
      KCHECK("rmsnorm_bwd");
    }
    colreduce_k<<<nblk(c.d), 256>>>(part, nb, c.d, G + wOff);
    KCHECK("colreduce");
  }
  // backward RoPE on the q/k columns of dqkv and the bias gradient (column sums of dqkv) into gb
  void ropeBwdBias(bf16* dq, long N, int T, float* gb) {
    if (fuseV1) {
      rope(dq, N, T, 1);
      KCHECK("rope_bwd");
      colsumBf16(dq, N, ldq, ldq, gb);
      return;
    }
    const int rowsPer = 64;
    const int nb = (int)((N + rowsPer - 1) / rowsPer);
    rope3_k<true><<<dim3(nblk((long)(c.H + c.Hk) * (c.hd / 8) + kd / 4, 128), nb), 128>>>(dq, ropeC, ropeS, (int)N, T, c.H, c.Hk,
                                                                                        c.hd, ldq, qd, 1, rowsPer, part);
    KCHECK("rope_bwd_bias");
    colreduce2_k<<<nblk(ldq, 32), 256>>>(part, nb, ldq, gb);
    KCHECK("colreduce2");
  }
  // y = RMSNorm(xin [+ delta]) (xout = xin + delta when delta)
  void rmsFwd(const float* xin, const bf16* delta, float* xout, long wOff, bf16* y, float* rstd, long N) {
    const int d4 = c.d / 4;
    if (!fuseV1 && c.d % 4 == 0 && d4 <= 32 * 16) {
      const unsigned nb = nblk(N, 8);
      if (d4 <= 32 * 4) rmsnorm_fwd2_k<4><<<nb, 256>>>(xin, delta, xout, P + wOff, y, rstd, (int)N, c.d, (float)c.eps);
      else if (d4 <= 32 * 8) rmsnorm_fwd2_k<8><<<nb, 256>>>(xin, delta, xout, P + wOff, y, rstd, (int)N, c.d, (float)c.eps);
      else if (d4 <= 32 * 14) rmsnorm_fwd2_k<14><<<nb, 256>>>(xin, delta, xout, P + wOff, y, rstd, (int)N, c.d, (float)c.eps);
      else rmsnorm_fwd2_k<16><<<nb, 256>>>(xin, delta, xout, P + wOff, y, rstd, (int)N, c.d, (float)c.eps);
    } else {
      rmsnorm_fwd_k<<<N, 256>>>(xin, delta, xout, P + wOff, y, rstd, c.d, (float)c.eps);
    }
    KCHECK("rmsnorm_fwd");
  }
  void colsumBf16(const bf16* in, long N, int n, int ld, float* out) {
    const int rowsPer = 64;
    int nb = (int)((N + rowsPer - 1) / rowsPer);
    colsum_bf16_k<<<dim3(nblk(n), nb), 256>>>(in, (int)N, n, ld, rowsPer, part);
    KCHECK("colsum");
    colreduce_k<<<nblk(n), 256>>>(part, nb, n, out);
    KCHECK("colreduce");
  }
  template <typename TI>
  void wreduce(const TI* X, const float* W, const float* rs, int B, int T, int mode, float* out, bf16* outb) {
    int tPer = (T + TS - 1) / TS;
    if (!fuseV1 && moeS && tPer * S <= 4096) {
      moe_wreduce3_k<TI><<<dim3(nblk(c.d / 4), B, TS), 256>>>(X, W, rs, mpart, B, T, c.d, S, tPer);
      KCHECK("moe_wreduce3");
    } else if (moeS && tPer * S <= 4096) {
      moe_wreduce2_k<TI><<<dim3(nblk(c.d / 4), B, TS), 256>>>(X, W, rs, mpart, B, T, c.d, S, tPer);
      KCHECK("moe_wreduce2");
    } else {
      moe_wreduce_k<TI><<<dim3(nblk(c.d), B, TS), 256>>>(X, W, rs, mpart, B, T, c.d, S, tPer);
      KCHECK("moe_wreduce");
    }
    long n = mode == 0 ? (long)B * S * c.d : (long)S * c.d;
    if (!fuseV1) {
      if (mode == 0) moe_wreduce_fin2_k<<<nblk(n), 256>>>(mpart, TS, B, S, c.d, c.np, mode, out, outb);
      else moe_wreduce_fin2_k<<<dim3(nblk(c.d, 32), S), 256>>>(mpart, TS, B, S, c.d, c.np, mode, out, outb);
    } else {
      moe_wreduce_fin_k<<<nblk(n), 256>>>(mpart, TS, B, S, c.d, c.np, mode, out, outb);
    }
    KCHECK("moe_wreduce_fin");
  }

  // ---------------------------------------------------------------- forward / backward
  // tokens: B x (T+1) when withTargets, else B x T. Returns summed loss (host), count of targets.
  double run(const int* tokens, int B, int T, bool withTargets, bool backward, float gradScale, float* logitsOut) {
    const long N = (long)B * T, d = c.d;
    if (backward) checkNoReduceInFlight("forwardBackward");
    ensure(B, T);
    ropeTables(T);
    std::vector<int> in(N), tg(N, c.pad);
    long count = 0;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        int x = withTargets ? tokens[(long)b * (T + 1) + t] : tokens[(long)b * T + t];
        if (x < 0 || x >= c.V) throw std::runtime_error(strf("input token %d at [%d,%d] outside the vocabulary (size %d)", x, b, t, c.V));
        in[(long)b * T + t] = x;
        if (withTargets) {
          int y = tokens[(long)b * (T + 1) + t + 1];
          if (y < 0 || y >= c.V) throw std::runtime_error(strf("target token %d at [%d,%d] outside the vocabulary (size %d)", y, b, t + 1, c.V));
          tg[(long)b * T + t] = y;
          if (y != c.pad) count++;
        }
      }
    CK(cudaMemcpy(tokIn, in.data(), N * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(tokTgt, tg.data(), N * 4, cudaMemcpyHostToDevice));
    if (prof) { CK(cudaDeviceSynchronize()); profT = std::chrono::steady_clock::now(); }
    const float scale = 1.f / std::sqrt((float)c.hd), sl2 = scale * 1.4426950408889634f;
    // ---- forward
    embed_fwd_k<<<nblk(N * d), 256>>>(tokIn, P + embOff, la[0].xin, N, c.d);
    KCHECK("embed_fwd");
    mark("embed_fwd");
    const float* pend = nullptr;  // dense, fused path: this layer's input is pend + dRb (the FFN output), added here
    for (int l = 0; l < c.L; l++) {
      LayerA& a = la[l];
      LayerP& w = lp[l];
      rmsFwd(pend ? pend : a.xin, pend ? dRb : nullptr, pend ? a.xin : nullptr, w.ln1, a.xn1, a.r1, N);
      pend = nullptr;
      mark("rmsnorm_fwd");
      linear(a.xn1, N, c.d, w.qkvw, ldq, a.qkv, PB + w.qkvb);
      mark("gemm_qkv_fwd");
      rope(a.qkv, N, T, 0);
      KCHECK("rope");
      mark("rope");
      attnForward(attnVer, a.qkv, a.att, a.lse, B, T, c.H, c.Hk, c.hd, ldq, qd, qd + kd, sl2);
      KCHECK("attn_fwd");
      mark("attn_fwd");
      linear(a.att, N, qd, w.ow, c.d, dRb /*tmp o_proj out*/);
      mark("gemm_o_fwd");
      rmsFwd(a.xin, dRb, a.xmid, w.ln2, a.xn2, a.r2, N);
      mark("rmsnorm_fwd");
      float* xout = l + 1 < c.L ? la[l + 1].xin : resid;
      if (!c.steel) {
        linear(a.xn2, N, c.d, w.guw, 2 * c.I, a.gu);
        if (!fuseV1 && c.I % 8 == 0) swiglu_fwd3_k<<<nblk(N * c.I / 8), 256>>>(a.gu, a.hm, N, c.I);
        else if (c.I % 2 == 0) swiglu_fwd2_k<<<nblk(N * c.I / 2), 256>>>(a.gu, a.hm, N, c.I);
        else swiglu_fwd_k<bf16><<<nblk(N * c.I), 256>>>(a.gu, a.hm, N, c.I);
        KCHECK("swiglu");
        linear(a.hm, N, c.I, w.dw, c.d, dRb);
        // xout = xmid + y  (reuse rmsnorm-free add through combine of 0 slots is not available: use a tiny add)
        if (fuseV1) addResid(a.xmid, dRb, xout, N * d);
        else pend = a.xmid;  // xout = xmid + dRb is formed by the next RMSNorm (next layer's ln1 or the final norm)
      } else {
        moeFwd(l, B, T, xout);
      }
      mark("ffn_fwd");
    }
    rmsFwd(pend ? pend : resid, pend ? dRb : nullptr, pend ? resid : nullptr, normOff, xf, rf, N);
    mark("rmsnorm_fwd");
    // fused path: group the embedding-backward positions on the host while the GPU runs the forward pass (profile():
    // its own phase, not overlapped there)
    embReady = false;
    if (backward && !fuseV1) {
      embedGroups(in, N);
      embReady = true;
      mark("embed_prep");
    }
    // ---- lm_head + cross-entropy (chunked), with its backward
    const float gs = count > 0 ? gradScale / (float)count : 0.f;
    for (long r0 = 0; r0 < N; r0 += chunkRows) {
      long rows = std::min<long>(chunkRows, N - r0);
      gemm.run(false, true, (int)rows, c.V, c.d, xf + r0 * d, c.d, PB + lmOff, c.d, logits, c.V, false, 1.f, 0.f);
      mark("gemm_lm_fwd");
      if (logitsOut) {
        cast_b2f_k<<<nblk(rows * c.V), 256>>>(logits, normOutBuf(rows * c.V), rows * c.V);
        KCHECK("cast");
        CK(cudaMemcpy(logitsOut + r0 * c.V, tmpF, rows * c.V * 4, cudaMemcpyDeviceToHost));
      }
      if (!withTargets) continue;
      if (ce2Smem) {
        cudaLaunchConfig_t lc = {};
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = 4;
        at[0].val.clusterDim.y = 1;
        at[0].val.clusterDim.z = 1;
        lc.gridDim = dim3((unsigned)(rows * 4));
        lc.blockDim = dim3(512);
        lc.dynamicSmemBytes = ce2Smem;
        lc.stream = 0;
        lc.attrs = at;
        lc.numAttrs = 1;
        CK(cudaLaunchKernelEx(&lc, ce2_k<4>, logits, (const int*)(tokTgt + r0), lossrow + r0, c.V, c.pad, gs,
                              backward && count > 0 ? 1 : 0));
      } else {
        ce_k<<<rows, 1024>>>(logits, tokTgt + r0, lossrow + r0, c.V, c.pad, gs, backward && count > 0 ? 1 : 0);
      }
      KCHECK("cross_entropy");
      mark("cross_entropy");
      if (backward && count > 0) {
        // dxf rows (fp32) = dlogits . W ; dW += dlogits^T . xf
        gemm.run(false, false, (int)rows, c.d, c.V, logits, c.V, PB + lmOff, c.d, dxn + r0 * d, c.d, true, 1.f, 0.f);
        gemm.run(true, false, c.V, c.d, (int)rows, logits, c.V, xf + r0 * d, c.d, G + lmOff, c.d, true, 1.f, 1.f);
        mark("gemm_lm_bwd");
      }
    }
    double lossSum = 0;
    if (withTargets) {
      sum_k<<<1, 1024>>>(lossrow, N, dsum);
      KCHECK("sum");
      CK(cudaMemcpy(&lossSum, dsum, sizeof(double), cudaMemcpyDeviceToHost));
    }
    lastCount = count;
    if (!backward || count == 0) {
      overlapNext = false;  // allReduceGrads launches the buckets
      CK(cudaStreamSynchronize(0));
      return lossSum;
    }
    // ---- backward
    rmsBwd(dxn, resid, normOff, rf, dR, false, N, c.steel ? nullptr : dRb);
    mark("rmsnorm_bwd");
    overlapBucket();  // final norm + lm_head
    for (int l = c.L - 1; l >= 0; l--) {
      LayerA& a = la[l];
      LayerP& w = lp[l];
      // FFN branch: dR is the gradient of xout (= xmid + ffn(xn2))
      if (!c.steel) {
        // dRb = bf16(dR) was written by the RMSNorm backward that produced dR
        if (c.I % 2 == 0) {  // dh in bf16 (as PyTorch autocast has it)
          gemm.run(false, false, (int)N, c.I, c.d, dRb, c.d, PB + w.dw, c.I, (bf16*)dh, c.I, false, 1.f, 0.f);
          gemm.run(true, false, c.d, c.I, (int)N, dRb, c.d, a.hm, c.I, G + w.dw, c.I, true, 1.f, 1.f);
          if (!fuseV1 && c.I % 8 == 0) swiglu_bwd3b_k<<<nblk(N * c.I / 8), 256>>>(a.gu, (const bf16*)dh, dgu, N, c.I);
          else swiglu_bwd2b_k<<<nblk(N * c.I / 2), 256>>>(a.gu, (const bf16*)dh, dgu, N, c.I);
        } else {
          gemm.run(false, false, (int)N, c.I, c.d, dRb, c.d, PB + w.dw, c.I, dh, c.I, true, 1.f, 0.f);
          gemm.run(true, false, c.d, c.I, (int)N, dRb, c.d, a.hm, c.I, G + w.dw, c.I, true, 1.f, 1.f);
          swiglu_bwd_k<<<nblk(N * c.I), 256>>>(a.gu, dh, dgu, N, c.I);
        }
        KCHECK("swiglu_bwd");
        gemm.run(false, false, (int)N, c.d, 2 * c.I, dgu, 2 * c.I, PB + w.guw, c.d, dxn, c.d, true, 1.f, 0.f);
        gemm.run(true, false, 2 * c.I, c.d, (int)N, dgu, 2 * c.I, a.xn2, c.d, G + w.guw, c.d, true, 1.f, 1.f);
      } else {
        moeBwd(l, B, T);
      }
      mark("ffn_bwd");
      rmsBwd(dxn, a.xmid, w.ln2, a.r2, dR, true, N, dRb);  // dRb = bf16(dR) for the o_proj backward
      mark("rmsnorm_bwd");
      // attention branch
      gemm.run(false, false, (int)N, qd, c.d, dRb, c.d, PB + w.ow, qd, datt, qd, false, 1.f, 0.f);
      gemm.run(true, false, c.d, qd, (int)N, dRb, c.d, a.att, qd, G + w.ow, qd, true, 1.f, 1.f);
      mark("gemm_o_bwd");
      attn_delta_k<<<nblk(N * c.H), 256>>>(datt, a.att, delta, B, T, c.H, c.hd);
      KCHECK("attn_delta");
      attnBackward(attnVer, a.qkv, datt, a.lse, delta, dqkv, B, T, c.H, c.Hk, c.hd, ldq, qd, qd + kd, sl2, scale);
      KCHECK("attn_bwd");
      mark("attn_bwd");
      ropeBwdBias(dqkv, N, T, G + w.qkvb);
      mark("rope_bwd_bias");
      gemm.run(false, false, (int)N, c.d, ldq, dqkv, ldq, PB + w.qkvw, c.d, dxn, c.d, true, 1.f, 0.f);
      rmsFwd(a.xin, nullptr, nullptr, w.ln1, a.xn1, a.r1, N);  // recompute xn1 (same kernel as the forward: identical)
      gemm.run(true, false, ldq, c.d, (int)N, dqkv, ldq, a.xn1, c.d, G + w.qkvw, c.d, true, 1.f, 1.f);
      mark("gemm_qkv_bwd");
      rmsBwd(dxn, a.xin, w.ln1, a.r1, dR, true, N, c.steel ? nullptr : dRb);  // dense: the next FFN backward's input
      mark("rmsnorm_bwd");
      overlapBucket();  // layer l
    }
    // embedding backward: deterministic (positions grouped per token id, fixed order)
    {
      if (fuseV1 || !embReady) embedGroups(in, N);
      embed_bwd_k<<<(unsigned)embU, 256>>>(eIds, eOff, ePos, dR, G + embOff, c.d);
      KCHECK("embed_bwd");
    }
    mark("embed_bwd");
    overlapBucket();  // embedding
    overlapNext = false;
    CK(cudaStreamSynchronize(0));  // not the NCCL stream: allReduceGrads waits for that one
    return lossSum;
  }
  // embedding-backward grouping (positions per token id, in order) on the host, copied to eIds/eOff/ePos. The fused
  // path runs it while the GPU computes the forward pass and copies from pinned memory without blocking.
  int* hEmb = nullptr;
  long hEmbCap = 0;
  long embU = 0;
  bool embReady = false;
  void embedGroups(const std::vector<int>& in, long N) {
    std::vector<int> cnt(c.V + 1, 0);
    for (long i = 0; i < N; i++) cnt[in[i] + 1]++;
    std::vector<int> ids, off(1, 0), pos(N), start(c.V + 1, 0);
    for (int v = 0; v < c.V; v++) start[v + 1] = start[v] + cnt[v + 1];
    std::vector<int> fillp(start.begin(), start.end() - 1);
    for (long i = 0; i < N; i++) pos[fillp[in[i]]++] = (int)i;
    for (int v = 0; v < c.V; v++)
      if (cnt[v + 1]) { ids.push_back(v); off.push_back(start[v + 1]); }
    embU = (long)ids.size();
    if (fuseV1) {
      CK(cudaMemcpy(eIds, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(eOff, off.data(), off.size() * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(ePos, pos.data(), N * 4, cudaMemcpyHostToDevice));
      return;
    }
    // pinned staging [ids | off | pos]; the previous run's copies finished (run() ends with a stream synchronise)
    const long need = embU + (embU + 1) + N;
    if (need > hEmbCap) {
      if (hEmb) CK(cudaFreeHost(hEmb));
      hEmb = nullptr;
      CK(cudaMallocHost(&hEmb, (size_t)(3 * N + 1) * sizeof(int)));
      hEmbCap = 3 * N + 1;
    }
    int* hi = hEmb;
    int* ho = hi + embU;
    int* hp = ho + embU + 1;
    std::copy(ids.begin(), ids.end(), hi);
    std::copy(off.begin(), off.end(), ho);
    std::copy(pos.begin(), pos.end(), hp);
    CK(cudaMemcpyAsync(eIds, hi, embU * 4, cudaMemcpyHostToDevice, 0));
    CK(cudaMemcpyAsync(eOff, ho, (embU + 1) * 4, cudaMemcpyHostToDevice, 0));
    CK(cudaMemcpyAsync(ePos, hp, N * 4, cudaMemcpyHostToDevice, 0));
  }
  long lastCount = 0;
  float* tmpF = nullptr;
  size_t tmpFcap = 0;
  float* normOutBuf(long n) {
    if ((size_t)n > tmpFcap) {
      devFree(tmpF, tmpFcap * 4);
      tmpF = (float*)devAlloc(n * 4);
      tmpFcap = n;
    }
    return tmpF;
  }
  void addResid(const float* a, const bf16* b, float* out, long n);

  void moeFwd(int l, int B, int T, float* xout) {
    LayerA& a = la[l];
    LayerP& w = lp[l];
    const long N = (long)B * T, R = (long)B * c.np;
    moe_phi_k<<<1, 32 * S>>>(P + w.phi, P + w.scale, a.phihat, a.phinorm, c.d, S);
    KCHECK("moe_phi");
    if (moeS) {
      transpose_dS_k<<<nblk((long)c.d * S), 256>>>(a.phihat, phihatT, c.d, S);
      KCHECK("transpose");
      const unsigned nb = (unsigned)((N + 63) / 64);
      if (fuseV1) moe_logits2_k<<<nb, 256, moeSmem / 2>>>(a.xn2, phihatT, a.rinv, a.Lg, a.C, N, c.d, S);
      else if (moeSM == 4) moe_logits3_k<4><<<nb, 256, moeSmem / 2>>>(a.xn2, phihatT, a.rinv, a.Lg, a.C, N, c.d, S);
      else if (moeSM == 8) moe_logits3_k<8><<<nb, 256, moeSmem / 2>>>(a.xn2, phihatT, a.rinv, a.Lg, a.C, N, c.d, S);
      else moe_logits3_k<16><<<nb, 256, moeSmem / 2>>>(a.xn2, phihatT, a.rinv, a.Lg, a.C, N, c.d, S);
    } else {
      moe_logits_k<<<nblk(N * 32), 256>>>(a.xn2, a.phihat, a.rinv, a.Lg, a.C, N, c.d, S);
    }
    KCHECK("moe_logits");
    moe_dispatch_k<<<B * S, 256>>>(a.Lg, a.D, T, S);
    KCHECK("moe_dispatch");
    mark("moe_f_router");
    wreduce<bf16>(a.xn2, a.D, a.rinv, B, T, 0, a.slots, a.slotsb);
    mark("moe_f_slots");
    // experts, batched over ne: [R, d] -> [R, 2I] -> [R, I] -> [R, 2d] -> Ys [R, d]
    gemm.run(false, true, (int)R, 2 * c.I, c.d, a.slotsb, c.d, PB + w.eguw, c.d, a.gu1, 2 * c.I, false, 1.f, 0.f, nullptr,
             c.ne, R * c.d, 2L * c.I * c.d, R * 2 * c.I);
    swiglu_fwd_k<bf16><<<nblk((long)c.ne * R * c.I), 256>>>(a.gu1, a.h1, c.ne * R, c.I);
    KCHECK("swiglu1");
    gemm.run(false, true, (int)R, 2 * c.d, c.I, a.h1, c.I, PB + w.egdw, c.I, a.gd2, 2 * c.d, false, 1.f, 0.f, nullptr,
             c.ne, R * c.I, 2L * c.d * c.I, R * 2 * c.d);
    swiglu_fwd_k<float><<<nblk((long)c.ne * R * c.d), 256>>>(a.gd2, a.Ys, c.ne * R, c.d);
    KCHECK("swiglu2");
    mark("moe_f_experts");
    const dim3 tg((T + 63) / 64, B);
    if (moeS && !fuseV1) {
      if (moeSM == 4) moe_combine_f_k<4><<<tg, 256, moeSmem / 2>>>(a.xmid, a.C, a.Ys, xout, B, T, c.d, S, c.np);
      else if (moeSM == 8) moe_combine_f_k<8><<<tg, 256, moeSmem / 2>>>(a.xmid, a.C, a.Ys, xout, B, T, c.d, S, c.np);
      else moe_combine_f_k<16><<<tg, 256, moeSmem / 2>>>(a.xmid, a.C, a.Ys, xout, B, T, c.d, S, c.np);
    } else if (moeS) moe_combine_s_k<<<tg, 256, moeSmem / 2>>>(a.xmid, a.C, a.Ys, xout, B, T, c.d, S, c.np);
    else moe_combine_k<<<nblk(N * c.d), 256>>>(a.xmid, a.C, a.Ys, xout, B, T, c.d, S, c.np);
    KCHECK("moe_combine");
    mark("moe_f_combine");
  }
  // dR: gradient of xout; writes dxn = gradient of xn2 (fp32)
  void moeBwd(int l, int B, int T) {
    LayerA& a = la[l];
    LayerP& w = lp[l];
    const long N = (long)B * T, R = (long)B * c.np;
    wreduce<float>(dR, a.C, nullptr, B, T, 0, dYs, nullptr);
    mark("moe_b_dYs");
    swiglu_bwd_k<<<nblk((long)c.ne * R * c.d), 256>>>(a.gd2, dYs, dgu, c.ne * R, c.d);
    KCHECK("swiglu_bwd2");
    // dh [R, I] = dgd [R, 2d] . Wgd [2d, I]; dWgd += dgd^T . h
    gemm.run(false, false, (int)R, c.I, 2 * c.d, dgu, 2 * c.d, PB + w.egdw, c.I, dh, c.I, true, 1.f, 0.f, nullptr, c.ne,
             R * 2 * c.d, 2L * c.d * c.I, R * c.I);
    gemm.run(true, false, 2 * c.d, c.I, (int)R, dgu, 2 * c.d, a.h1, c.I, G + w.egdw, c.I, true, 1.f, 1.f, nullptr, c.ne,
             R * 2 * c.d, R * c.I, 2L * c.d * c.I);
    swiglu_bwd_k<<<nblk((long)c.ne * R * c.I), 256>>>(a.gu1, dh, dgu, c.ne * R, c.I);
    KCHECK("swiglu_bwd1");
    gemm.run(false, false, (int)R, c.d, 2 * c.I, dgu, 2 * c.I, PB + w.eguw, c.d, dXs, c.d, true, 1.f, 0.f, nullptr, c.ne,
             R * 2 * c.I, 2L * c.I * c.d, R * c.d);
    gemm.run(true, false, 2 * c.I, c.d, (int)R, dgu, 2 * c.I, a.slotsb, c.d, G + w.eguw, c.d, true, 1.f, 1.f, nullptr, c.ne,
             R * 2 * c.I, R * c.d, 2L * c.I * c.d);
    mark("moe_b_experts");
    const dim3 tg((T + 63) / 64, B);
    if (moeS && !fuseV1) {
      if (moeSM == 4) moe_tok_bwd1f_k<4><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, dR, a.Ys, dXs, a.C, dC, dD, B, T, c.d, S, c.np);
      else if (moeSM == 8) moe_tok_bwd1f_k<8><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, dR, a.Ys, dXs, a.C, dC, dD, B, T, c.d, S, c.np);
      else moe_tok_bwd1f_k<16><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, dR, a.Ys, dXs, a.C, dC, dD, B, T, c.d, S, c.np);
    } else if (moeS) moe_tok_bwd1s_k<<<tg, 256, moeSmem>>>(a.xn2, a.rinv, dR, a.Ys, dXs, a.C, dC, dD, B, T, c.d, S, c.np);
    else moe_tok_bwd1_k<<<nblk(N * 32), 256>>>(a.xn2, a.rinv, dR, a.Ys, dXs, a.C, dC, dD, B, T, c.d, S, c.np);
    KCHECK("moe_tok_bwd1");
    mark("moe_b_tok1");
    moe_dispatch_bwd_k<<<B * S, 256>>>(a.D, dD, dC, dL, T, S);
    KCHECK("moe_dispatch_bwd");
    if (moeS) {
      transpose_dS_k<<<nblk((long)c.d * S), 256>>>(a.phihat, phihatT, c.d, S);
      KCHECK("transpose");
      if (fuseV1) moe_tok_bwd2s_k<<<tg, 256, moeSmem>>>(a.xn2, a.rinv, a.D, dL, phihatT, dXs, dxn, B, T, c.d, S, c.np);
      else if (moeSM == 4) moe_tok_bwd2f_k<4><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, a.D, dL, dD, a.Lg, phihatT, dXs, dxn, B, T, c.d, S, c.np);
      else if (moeSM == 8) moe_tok_bwd2f_k<8><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, a.D, dL, dD, a.Lg, phihatT, dXs, dxn, B, T, c.d, S, c.np);
      else moe_tok_bwd2f_k<16><<<tg, 256, moeSmem>>>(a.xn2, a.rinv, a.D, dL, dD, a.Lg, phihatT, dXs, dxn, B, T, c.d, S, c.np);
    } else {
      moe_tok_bwd2_k<<<nblk(N * 32), 256>>>(a.xn2, a.rinv, a.D, dL, a.phihat, dXs, dxn, B, T, c.d, S, c.np);
    }
    KCHECK("moe_tok_bwd2");
    mark("moe_b_tok2");
    wreduce<bf16>(a.xn2, dL, a.rinv, B, T, 1, dph, nullptr);
    moe_phi_bwd_k<<<1, 32 * S>>>(P + w.phi, P + w.scale, a.phinorm, dph, G + w.phi, G + w.scale, c.d, S);
    KCHECK("moe_phi_bwd");
    mark("moe_b_dphi");
  }

  float adamw(float lr, float b1, float b2, float eps, float wd, float clip) {
    const int nb = 1024;
    if (prof) { CK(cudaDeviceSynchronize()); profT = std::chrono::steady_clock::now(); }
    sumsq4_k<<<nb, 256>>>((const float4*)G, total / 4, dsum);
    KCHECK("sumsq");
    norm_fin_k<<<1, 32>>>(dsum, nb, clip, normOut);
    KCHECK("norm_fin");
    step++;
    double bc1 = 1 - std::pow((double)b1, (double)step), bc2 = 1 - std::pow((double)b2, (double)step);
    if (pbOff > 0)
      adamw4_k<<<2048, 256>>>((float4*)P, (const float4*)G, (float4*)M1, (float4*)M2, nullptr, pbOff / 4, lr, b1, b2, eps, wd,
                              (float)(lr / bc1), (float)std::sqrt(bc2), normOut);
    adamw4_k<<<8192, 256>>>((float4*)(P + pbOff), (const float4*)(G + pbOff), (float4*)(M1 + pbOff), (float4*)(M2 + pbOff),
                            (uint2*)(PB + pbOff), (total - pbOff) / 4, lr, b1, b2, eps, wd, (float)(lr / bc1), (float)std::sqrt(bc2), normOut);
    KCHECK("adamw");
    mark("adamw");
    float nrm;
    CK(cudaMemcpy(&nrm, normOut, 4, cudaMemcpyDeviceToHost));
    return nrm;
  }
};

__global__ void add_resid_k(const float* __restrict__ a, const bf16* __restrict__ b, float* __restrict__ o, long n) {
  long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) o[i] = a[i] + b2f(b[i]);
}
void Model::addResid(const float* a, const bf16* b, float* out, long n) {
  add_resid_k<<<nblk(n), 256>>>(a, b, out, n);
  KCHECK("add_resid");
}

// ============================================================================ attention test entry (per-kernel parity)
// q [B,T,H*hd], k,v [B,T,Hk*hd], dout [B,T,H*hd] (fp32 host) -> o, dq, dk, dv (fp32 host)
static void attnTest(const float* q, const float* k, const float* v, const float* dout, int B, int T, int H, int Hk, int hd,
                     float* o, float* dq, float* dk, float* dv, int ver) {
  const long N = (long)B * T;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  std::vector<bf16> hq(N * ldq), hdo(N * qd);
  for (long r = 0; r < N; r++) {
    for (int j = 0; j < qd; j++) hq[r * ldq + j] = __float2bfloat16(q[r * qd + j]);
    for (int j = 0; j < kd; j++) hq[r * ldq + qd + j] = __float2bfloat16(k[r * kd + j]);
    for (int j = 0; j < kd; j++) hq[r * ldq + qd + kd + j] = __float2bfloat16(v[r * kd + j]);
    for (int j = 0; j < qd; j++) hdo[r * qd + j] = __float2bfloat16(dout[r * qd + j]);
  }
  bf16 *dQKV, *dO, *dOut, *dG;
  float *lse, *delta;
  CK(cudaMalloc(&dQKV, N * ldq * 2));
  CK(cudaMalloc(&dG, N * ldq * 2));
  CK(cudaMalloc(&dO, N * qd * 2));
  CK(cudaMalloc(&dOut, N * qd * 2));
  CK(cudaMalloc(&lse, (long)B * H * T * 4));
  CK(cudaMalloc(&delta, (long)B * H * T * 4));
  CK(cudaMemcpy(dQKV, hq.data(), N * ldq * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dO, hdo.data(), N * qd * 2, cudaMemcpyHostToDevice));
  CK(cudaMemset(dOut, 0xff, N * qd * 2));  // poison: every output element must be written
  CK(cudaMemset(dG, 0xff, N * ldq * 2));
  const float scale = 1.f / std::sqrt((float)hd), sl2 = scale * 1.4426950408889634f;
  attnForward(ver, dQKV, dOut, lse, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2);
  KCHECK("attn_fwd");
  attn_delta_k<<<nblk(N * H), 256>>>(dO, dOut, delta, B, T, H, hd);
  KCHECK("attn_delta");
  attnBackward(ver, dQKV, dO, lse, delta, dG, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2, scale);
  KCHECK("attn_bwd");
  CK(cudaDeviceSynchronize());
  std::vector<bf16> ho(N * qd), hg(N * ldq);
  CK(cudaMemcpy(ho.data(), dOut, N * qd * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(hg.data(), dG, N * ldq * 2, cudaMemcpyDeviceToHost));
  for (long r = 0; r < N; r++) {
    for (int j = 0; j < qd; j++) o[r * qd + j] = __bfloat162float(ho[r * qd + j]);
    for (int j = 0; j < qd; j++) dq[r * qd + j] = __bfloat162float(hg[r * ldq + j]);
    for (int j = 0; j < kd; j++) dk[r * kd + j] = __bfloat162float(hg[r * ldq + qd + j]);
    for (int j = 0; j < kd; j++) dv[r * kd + j] = __bfloat162float(hg[r * ldq + qd + kd + j]);
  }
  cudaFree(dQKV); cudaFree(dG); cudaFree(dO); cudaFree(dOut); cudaFree(lse); cudaFree(delta);
}

// mean milliseconds per call of the attention forward and of delta + backward (kernels only, device buffers filled
// with N(0, 1) values, dO likewise), for the timing table of gpu-check
static void attnTime(int B, int T, int H, int Hk, int hd, int ver, int iters, double* fwdMs, double* bwdMs) {
  const long N = (long)B * T;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  std::vector<void*> bufs;
  auto alloc = [&](size_t bytes) { void* p; CK(cudaMalloc(&p, bytes)); bufs.push_back(p); return p; };
  bf16 *qkv = (bf16*)alloc(N * ldq * 2), *dG = (bf16*)alloc(N * ldq * 2), *dO = (bf16*)alloc(N * qd * 2), *out = (bf16*)alloc(N * qd * 2);
  float *lse = (float*)alloc((size_t)B * H * T * 4), *delta = (float*)alloc((size_t)B * H * T * 4), *tmp = (float*)alloc(N * ldq * 4);
  init_normal_k<<<4096, 256>>>(tmp, N * ldq, 12345, 1.f);
  cast_f2b_k<<<nblk(N * ldq), 256>>>(tmp, qkv, N * ldq);
  init_normal_k<<<4096, 256>>>(tmp, N * qd, 678, 1.f);
  cast_f2b_k<<<nblk(N * qd), 256>>>(tmp, dO, N * qd);
  KCHECK("attnTime init");
  const float scale = 1.f / std::sqrt((float)hd), sl2 = scale * 1.4426950408889634f;
  cudaEvent_t e0, e1, e2;
  CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1)); CK(cudaEventCreate(&e2));
  auto fwd = [&]() { attnForward(ver, qkv, out, lse, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2); };
  auto bwd = [&]() {
    attn_delta_k<<<nblk(N * H), 256>>>(dO, out, delta, B, T, H, hd);
    attnBackward(ver, qkv, dO, lse, delta, dG, B, T, H, Hk, hd, ldq, qd, qd + kd, sl2, scale);
  };
  fwd(); bwd();  // warm-up
  KCHECK("attnTime warm-up");
  CK(cudaEventRecord(e0));
  for (int i = 0; i < iters; i++) fwd();
  CK(cudaEventRecord(e1));
  for (int i = 0; i < iters; i++) bwd();
  CK(cudaEventRecord(e2));
  KCHECK("attnTime");
  CK(cudaEventSynchronize(e2));
  float a, b;
  CK(cudaEventElapsedTime(&a, e0, e1));
  CK(cudaEventElapsedTime(&b, e1, e2));
  *fwdMs = a / iters;
  *bwdMs = b / iters;
  cudaEventDestroy(e0); cudaEventDestroy(e1); cudaEventDestroy(e2);
  for (void* p : bufs) cudaFree(p);
}

// ============================================================================ N-API glue
#define NC(x)                                                             \
  do {                                                                    \
    if ((x) != napi_ok) throw std::runtime_error("N-API call failed: " #x); \
  } while (0)

static void getArgs(napi_env env, napi_callback_info info, size_t n, napi_value* args) {
  size_t argc = n;
  NC(napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  if (argc < n) throw std::runtime_error(strf("expected %zu arguments, got %zu", n, argc));
}
static std::set<Model*> g_live;
static Model* getModel(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw std::runtime_error("expected a model handle");
  if (!g_live.count((Model*)p)) throw std::runtime_error("cuda backend: model already disposed");
  return (Model*)p;
}
static double getNum(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw std::runtime_error(strf("%s must be a number", what));
  return d;
}
static double propNum(napi_env env, napi_value o, const char* name) {
  napi_value v;
  NC(napi_get_named_property(env, o, name, &v));
  return getNum(env, v, name);
}
static std::string getStr(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) throw std::runtime_error("expected a string");
  std::string s(n, '\0');
  NC(napi_get_value_string_utf8(env, v, &s[0], n + 1, &n));
  return s;
}
template <typename T>
static T* getTyped(napi_env env, napi_value v, napi_typedarray_type want, size_t* len, const char* what) {
  bool is;
  NC(napi_is_typedarray(env, v, &is));
  if (!is) throw std::runtime_error(strf("%s must be a typed array", what));
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t off;
  NC(napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off));
  if (type != want) throw std::runtime_error(strf("%s has the wrong element type", what));
  return (T*)data;
}
static napi_value newF32(napi_env env, size_t n, float** data) {
  napi_value ab, arr;
  void* d;
  NC(napi_create_arraybuffer(env, n * 4, &d, &ab));
  NC(napi_create_typedarray(env, napi_float32_array, n, ab, 0, &arr));
  *data = (float*)d;
  return arr;
}
static napi_value num(napi_env env, double d) {
  napi_value v;
  NC(napi_create_double(env, d, &v));
  return v;
}
#define WRAP(fn)                                                          \
  static napi_value fn(napi_env env, napi_callback_info info) {          \
    try {                                                                 \
      return fn##_impl(env, info);                                        \
    } catch (const std::exception& e) {                                   \
      napi_throw_error(env, "ESTEELCUDA", e.what());                      \
      return nullptr;                                                     \
    }                                                                     \
  }

static napi_value create_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Cfg c;
  c.V = (int)propNum(env, a[0], "vocabSize");
  c.d = (int)propNum(env, a[0], "hiddenSize");
  c.L = (int)propNum(env, a[0], "numLayers");
  c.H = (int)propNum(env, a[0], "numHeads");
  c.Hk = (int)propNum(env, a[0], "numKvHeads");
  c.hd = (int)propNum(env, a[0], "headDim");
  c.I = (int)propNum(env, a[0], "intermediateSize");
  c.ne = (int)propNum(env, a[0], "numExperts");
  c.np = (int)propNum(env, a[0], "slotsPerExpert");
  c.theta = propNum(env, a[0], "ropeTheta");
  c.eps = propNum(env, a[0], "rmsNormEps");
  c.initStd = propNum(env, a[0], "initStd");
  c.pad = (int)propNum(env, a[0], "padId");
  napi_value kind;
  NC(napi_get_named_property(env, a[0], "kind", &kind));
  c.steel = getStr(env, kind) == "steel";
  Model* m = new Model(c);
  g_live.insert(m);
  napi_value ext;
  NC(napi_create_external(env, m, [](napi_env, void* p, void*) { if (g_live.erase((Model*)p)) delete (Model*)p; }, nullptr, &ext));
  return ext;
}
WRAP(create)

static napi_value params_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  napi_value arr;
  NC(napi_create_array_with_length(env, m->params.size(), &arr));
  for (size_t i = 0; i < m->params.size(); i++) {
    const Param& p = m->params[i];
    napi_value o, name, shape;
    NC(napi_create_object(env, &o));
    NC(napi_create_string_utf8(env, p.name.c_str(), p.name.size(), &name));
    NC(napi_create_array_with_length(env, p.shape.size(), &shape));
    for (size_t k = 0; k < p.shape.size(); k++) NC(napi_set_element(env, shape, k, num(env, (double)p.shape[k])));
    NC(napi_set_named_property(env, o, "name", name));
    NC(napi_set_named_property(env, o, "shape", shape));
    NC(napi_set_named_property(env, o, "size", num(env, (double)p.size)));
    NC(napi_set_element(env, arr, i, o));
  }
  return arr;
}
WRAP(params)

static napi_value init_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  getModel(env, a[0])->initParams((uint64_t)getNum(env, a[1], "seed"));
  return nullptr;
}
WRAP(init)

// which: 0 param, 1 grad, 2 m, 3 v
static float* bufOf(Model* m, int which) { return which == 0 ? m->P : which == 1 ? m->G : which == 2 ? m->M1 : m->M2; }
static napi_value get_impl(napi_env env, napi_callback_info info) {
  napi_value a[3];
  getArgs(env, info, 3, a);
  Model* m = getModel(env, a[0]);
  int which = (int)getNum(env, a[1], "which");
  const Param& p = m->param(getStr(env, a[2]));
  float* out;
  napi_value arr = newF32(env, p.size, &out);
  CK(cudaMemcpy(out, bufOf(m, which) + p.off, p.size * 4, cudaMemcpyDeviceToHost));
  return arr;
}
WRAP(get)
static napi_value set_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Model* m = getModel(env, a[0]);
  int which = (int)getNum(env, a[1], "which");
  const Param& p = m->param(getStr(env, a[2]));
  size_t len;
  float* data = getTyped<float>(env, a[3], napi_float32_array, &len, "value");
  if ((long)len != p.size) throw std::runtime_error(strf("cuda backend: %s expects %ld values, got %zu", p.name.c_str(), p.size, len));
  CK(cudaMemcpy(bufOf(m, which) + p.off, data, p.size * 4, cudaMemcpyHostToDevice));
  if (which == 0) m->refreshBf16(p.off, p.size);
  CK(cudaDeviceSynchronize());
  return nullptr;
}
WRAP(set)
static napi_value zeroGrad_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  m->checkNoReduceInFlight("zeroGrad");
  CK(cudaMemset(m->G, 0, (size_t)m->total * 4));
  return nullptr;
}
WRAP(zeroGrad)
static napi_value stepCount_impl(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  NC(napi_get_cb_info(env, info, &argc, a, nullptr, nullptr));
  Model* m = getModel(env, a[0]);
  if (argc >= 2) {
    napi_valuetype t;
    NC(napi_typeof(env, a[1], &t));
    if (t == napi_number) m->step = (long)getNum(env, a[1], "step");
  }
  return num(env, (double)m->step);
}
WRAP(stepCount)

// forwardBackward(h, tokens Int32Array B*(T+1), B, T, gradScale, backward) -> mean loss
static napi_value fb_impl(napi_env env, napi_callback_info info) {
  napi_value a[6];
  getArgs(env, info, 6, a);
  Model* m = getModel(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int B = (int)getNum(env, a[2], "B"), T = (int)getNum(env, a[3], "T");
  if (B <= 0 || T <= 0 || (long)len != (long)B * (T + 1)) throw std::runtime_error(strf("forwardBackward: expected %dx%d tokens, got %zu", B, T + 1, len));
  float gs = (float)getNum(env, a[4], "gradScale");
  bool bw;
  NC(napi_get_value_bool(env, a[5], &bw));
  double s = m->run(tok, B, T, true, bw, gs, nullptr);
  return num(env, m->lastCount ? s / m->lastCount : 0.0);
}
WRAP(fb)
// forward(h, tokens B*T, B, T) -> Float32Array logits
static napi_value fwd_impl(napi_env env, napi_callback_info info) {
  napi_value a[4];
  getArgs(env, info, 4, a);
  Model* m = getModel(env, a[0]);
  size_t len;
  int* tok = getTyped<int>(env, a[1], napi_int32_array, &len, "tokens");
  int B = (int)getNum(env, a[2], "B"), T = (int)getNum(env, a[3], "T");
  if (B <= 0 || T <= 0 || (long)len != (long)B * T) throw std::runtime_error(strf("forward: expected %dx%d tokens, got %zu", B, T, len));
  float* out;
  napi_value arr = newF32(env, (size_t)B * T * m->c.V, &out);
  m->run(tok, B, T, false, false, 1.f, out);
  return arr;
}
WRAP(fwd)
// step(h, lr, b1, b2, eps, wd, clip) -> grad norm
static napi_value step_impl(napi_env env, napi_callback_info info) {
  napi_value a[7];
  getArgs(env, info, 7, a);
  Model* m = getModel(env, a[0]);
  float r = m->adamw((float)getNum(env, a[1], "lr"), (float)getNum(env, a[2], "beta1"), (float)getNum(env, a[3], "beta2"),
                     (float)getNum(env, a[4], "eps"), (float)getNum(env, a[5], "weightDecay"), (float)getNum(env, a[6], "gradClip"));
  return num(env, r);
}
WRAP(step)
static napi_value info_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  size_t fr, tot;
  CK(cudaMemGetInfo(&fr, &tot));
  napi_value o, dn;
  NC(napi_create_object(env, &o));
  NC(napi_create_string_utf8(env, m->devName.c_str(), m->devName.size(), &dn));
  NC(napi_set_named_property(env, o, "device", dn));
  NC(napi_set_named_property(env, o, "memUsed", num(env, (double)(tot - fr))));
  NC(napi_set_named_property(env, o, "memTotal", num(env, (double)tot)));
  NC(napi_set_named_property(env, o, "paramFloats", num(env, (double)m->total)));
  NC(napi_set_named_property(env, o, "activationBytes", num(env, (double)m->arena.cap)));
  NC(napi_set_named_property(env, o, "allocatedBytes", num(env, (double)g_allocBytes)));
  NC(napi_set_named_property(env, o, "gemmPlans", num(env, (double)m->gemm.cache.size())));
  return o;
}
WRAP(info)
static napi_value profile_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  Model* m = getModel(env, a[0]);
  bool en;
  NC(napi_get_value_bool(env, a[1], &en));
  napi_value o;
  NC(napi_create_object(env, &o));
  for (auto& kv : m->profMs) NC(napi_set_named_property(env, o, kv.first.c_str(), num(env, kv.second)));
  m->profMs.clear();
  m->prof = en;
  return o;
}
WRAP(profile)
static napi_value destroy_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  g_live.erase(m);
  delete m;
  return nullptr;
}
WRAP(destroy)
static napi_value sync_impl(napi_env env, napi_callback_info info) {
  CK(cudaDeviceSynchronize());
  return nullptr;
}
WRAP(sync)
// attnTest(q, k, v, dout, B, T, H, Hk, hd) -> {o, dq, dk, dv}
static napi_value attnTest_impl(napi_env env, napi_callback_info info) {
  napi_value a[10];
  getArgs(env, info, 10, a);
  int ver = (int)getNum(env, a[9], "version");
  size_t lq, lk, lv, lo;
  float* q = getTyped<float>(env, a[0], napi_float32_array, &lq, "q");
  float* k = getTyped<float>(env, a[1], napi_float32_array, &lk, "k");
  float* v = getTyped<float>(env, a[2], napi_float32_array, &lv, "v");
  float* dout = getTyped<float>(env, a[3], napi_float32_array, &lo, "dout");
  int B = (int)getNum(env, a[4], "B"), T = (int)getNum(env, a[5], "T"), H = (int)getNum(env, a[6], "H"),
      Hk = (int)getNum(env, a[7], "Hk"), hd = (int)getNum(env, a[8], "hd");
  size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * Hk * hd;
  if (lq != nq || lo != nq || lk != nk || lv != nk) throw std::runtime_error("attnTest: wrong input sizes");
  if (hd % 8 || hd > 64 || H % Hk) throw std::runtime_error("attnTest: unsupported shape");
  if (!attnVersionOk(ver)) throw std::runtime_error(strf("attnTest: attention kernel version %d is not built", ver));
  float *o, *dq, *dk, *dv;
  napi_value ro = newF32(env, nq, &o), rdq = newF32(env, nq, &dq), rdk = newF32(env, nk, &dk), rdv = newF32(env, nk, &dv);
  attnTest(q, k, v, dout, B, T, H, Hk, hd, o, dq, dk, dv, ver);
  napi_value res;
  NC(napi_create_object(env, &res));
  NC(napi_set_named_property(env, res, "o", ro));
  NC(napi_set_named_property(env, res, "dq", rdq));
  NC(napi_set_named_property(env, res, "dk", rdk));
  NC(napi_set_named_property(env, res, "dv", rdv));
  return res;
}
WRAP(attnTest)

// attnTime(B, T, H, Hk, hd, version, iters) -> {fwdMs, bwdMs}
static napi_value attnTime_impl(napi_env env, napi_callback_info info) {
  napi_value a[7];
  getArgs(env, info, 7, a);
  int B = (int)getNum(env, a[0], "B"), T = (int)getNum(env, a[1], "T"), H = (int)getNum(env, a[2], "H"),
      Hk = (int)getNum(env, a[3], "Hk"), hd = (int)getNum(env, a[4], "hd"), ver = (int)getNum(env, a[5], "version"),
      iters = (int)getNum(env, a[6], "iters");
  if (B <= 0 || T <= 0 || H <= 0 || Hk <= 0 || hd % 8 || hd > 64 || H % Hk || iters <= 0) throw std::runtime_error("attnTime: unsupported shape");
  if (!attnVersionOk(ver)) throw std::runtime_error(strf("attnTime: attention kernel version %d is not built", ver));
  double f, b;
  attnTime(B, T, H, Hk, hd, ver, iters, &f, &b);
  napi_value o;
  NC(napi_create_object(env, &o));
  NC(napi_set_named_property(env, o, "fwdMs", num(env, f)));
  NC(napi_set_named_property(env, o, "bwdMs", num(env, b)));
  return o;
}
WRAP(attnTime)
// setDevice(i): the CUDA device for the models created after it (call before create)
static napi_value setDevice_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  int n = 0, d = (int)getNum(env, a[0], "device");
  CK(cudaGetDeviceCount(&n));
  if (d < 0 || d >= n) throw std::runtime_error(strf("cuda backend: device %d does not exist (%d visible)", d, n));
  CK(cudaSetDevice(d));
  return nullptr;
}
WRAP(setDevice)
static napi_value deviceCount_impl(napi_env env, napi_callback_info info) {
  int n = 0;
  CK(cudaGetDeviceCount(&n));
  return num(env, n);
}
WRAP(deviceCount)
// ncclId(libCandidates) -> Uint8Array(128): a new NCCL unique id (rank 0 makes it, the others receive it over TCP)
static napi_value ncclId_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  NcclLib& L = ncclLoad(getStr(env, a[0]));
  ncclUniqueIdT id;
  CKN(L.getUniqueId(&id));
  napi_value ab, arr;
  void* d;
  NC(napi_create_arraybuffer(env, sizeof id, &d, &ab));
  memcpy(d, &id, sizeof id);
  NC(napi_create_typedarray(env, napi_uint8_array, sizeof id, ab, 0, &arr));
  return arr;
}
WRAP(ncclId)
// ncclInit(h, id Uint8Array(128), rank, world, libCandidates) -> {version, library}; blocks until every rank has joined
static napi_value ncclInit_impl(napi_env env, napi_callback_info info) {
  napi_value a[5];
  getArgs(env, info, 5, a);
  Model* m = getModel(env, a[0]);
  size_t len;
  uint8_t* idb = getTyped<uint8_t>(env, a[1], napi_uint8_array, &len, "id");
  if (len != sizeof(ncclUniqueIdT)) throw std::runtime_error(strf("ncclInit: the id must have %zu bytes (got %zu)", sizeof(ncclUniqueIdT), len));
  int r = (int)getNum(env, a[2], "rank"), w = (int)getNum(env, a[3], "world");
  if (w < 1 || r < 0 || r >= w) throw std::runtime_error(strf("ncclInit: bad rank %d of world %d", r, w));
  NcclLib& L = ncclLoad(getStr(env, a[4]));
  ncclUniqueIdT id;
  memcpy(&id, idb, sizeof id);
  m->ncclSetup(id, r, w);
  int ver = 0;
  L.getVersion(&ver);
  napi_value o, lib;
  NC(napi_create_object(env, &o));
  NC(napi_set_named_property(env, o, "version", num(env, ver)));
  NC(napi_create_string_utf8(env, L.path.c_str(), L.path.size(), &lib));
  NC(napi_set_named_property(env, o, "library", lib));
  return o;
}
WRAP(ncclInit)
// ncclOverlap(h): the next forwardBackward is this rank's last of the step: launch the all-reduce buckets during it
static napi_value ncclOverlap_impl(napi_env env, napi_callback_info info) {
  napi_value a[1];
  getArgs(env, info, 1, a);
  Model* m = getModel(env, a[0]);
  if (!m->comm) throw std::runtime_error("ncclOverlap before ncclInit");
  m->checkNoReduceInFlight("ncclOverlap");
  m->overlapNext = true;
  return nullptr;
}
WRAP(ncclOverlap)
// allReduceGrads(h, timeoutS): sums the gradients over all ranks (in place), returns when done
static napi_value allReduceGrads_impl(napi_env env, napi_callback_info info) {
  napi_value a[2];
  getArgs(env, info, 2, a);
  Model* m = getModel(env, a[0]);
  m->allReduceGrads(getNum(env, a[1], "timeoutS"));
  return nullptr;
}
WRAP(allReduceGrads)

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", 0, create, 0, 0, 0, napi_default_jsproperty, 0},
      {"params", 0, params, 0, 0, 0, napi_default_jsproperty, 0},
      {"init", 0, init, 0, 0, 0, napi_default_jsproperty, 0},
      {"get", 0, get, 0, 0, 0, napi_default_jsproperty, 0},
      {"set", 0, set, 0, 0, 0, napi_default_jsproperty, 0},
      {"zeroGrad", 0, zeroGrad, 0, 0, 0, napi_default_jsproperty, 0},
      {"stepCount", 0, stepCount, 0, 0, 0, napi_default_jsproperty, 0},
      {"forwardBackward", 0, fb, 0, 0, 0, napi_default_jsproperty, 0},
      {"forward", 0, fwd, 0, 0, 0, napi_default_jsproperty, 0},
      {"step", 0, step, 0, 0, 0, napi_default_jsproperty, 0},
      {"info", 0, info, 0, 0, 0, napi_default_jsproperty, 0},
      {"sync", 0, sync, 0, 0, 0, napi_default_jsproperty, 0},
      {"destroy", 0, destroy, 0, 0, 0, napi_default_jsproperty, 0},
      {"profile", 0, profile, 0, 0, 0, napi_default_jsproperty, 0},
      {"attnTest", 0, attnTest, 0, 0, 0, napi_default_jsproperty, 0},
      {"attnTime", 0, attnTime, 0, 0, 0, napi_default_jsproperty, 0},
      {"setDevice", 0, setDevice, 0, 0, 0, napi_default_jsproperty, 0},
      {"deviceCount", 0, deviceCount, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclId", 0, ncclId, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclInit", 0, ncclInit, 0, 0, 0, napi_default_jsproperty, 0},
      {"ncclOverlap", 0, ncclOverlap, 0, 0, 0, napi_default_jsproperty, 0},
      {"allReduceGrads", 0, allReduceGrads, 0, 0, 0, napi_default_jsproperty, 0},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
