// NCCL data parallelism. The addon does not link NCCL: it is dlopen'ed on the first multi-GPU use, so a single-GPU build
// and run need no NCCL at all, and the build needs no NCCL headers. The few declarations below follow NCCL's stable C
// ABI (nccl.h, 2.x). GradReducer sums the gradients over the ranks in buckets, launched on their own stream as the
// backward pass completes them.
// Checks: scripts/gpu/multi-gpu.sh (2-GPU loss traces and resume; needs a multi-GPU host), CPU tests of the contract.
#pragma once
#include <dlfcn.h>
#include <unistd.h>
#include <chrono>
#include <string>
#include <utility>
#include <vector>
#include "common.cuh"

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


// Gradients are summed over the ranks in buckets [offset, count) of the flat fp32 gradient buffer, given in the order the
// backward pass finishes them (final norm + lm_head, each layer from the last to the first, the embedding). During the
// backward pass of a rank's last micro-batch of a step (overlapNext), each bucket's all-reduce is launched on its own
// stream as soon as its gradients are complete, so communication overlaps the rest of the backward pass. A rank that
// had no micro-batch (or whose last one had no targets) launches the same buckets in the same order from allReduce.
struct GradReducer {
  ncclComm_t comm = nullptr;
  int rank = 0, world = 1;
  cudaStream_t cs = nullptr;
  cudaEvent_t cev = nullptr;
  bool overlapNext = false;
  int bucketsIssued = 0;
  std::vector<std::pair<long, long>> buckets;  // [offset, count) in launch order
  void setup(const ncclUniqueIdT& id, int r, int w, std::vector<std::pair<long, long>> b) {
    if (comm) throw std::runtime_error("cuda backend: NCCL is already set up for this model");
    if (!cs) CK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
    if (!cev) CK(cudaEventCreateWithFlags(&cev, cudaEventDisableTiming));
    CK(cudaDeviceSynchronize());
    CKN(g_nccl.commInitRank(&comm, w, id, r));
    rank = r;
    world = w;
    buckets = std::move(b);
    bucketsIssued = 0;
  }
  void issueBucket(float* G) {  // the next bucket's all-reduce, after everything queued so far on the compute stream
    auto& b = buckets[bucketsIssued++];
    CK(cudaEventRecord(cev, 0));
    CK(cudaStreamWaitEvent(cs, cev, 0));
    CKN(g_nccl.allReduce(G + b.first, G + b.first, (size_t)b.second, NCCL_FLOAT32, NCCL_SUM, comm, cs));
  }
  // called by the backward pass after each bucket's last gradient write
  void overlapBucket(float* G) {
    if (comm && overlapNext && bucketsIssued < (int)buckets.size()) issueBucket(G);
  }
  void checkNoReduceInFlight(const char* what) {
    if (bucketsIssued > 0)
      throw std::runtime_error(strf("cuda backend: %s while the gradient all-reduce of this step is in flight (call allReduceGrads first)", what));
  }
  void abort() {
    if (comm) g_nccl.commAbort(comm);
    comm = nullptr;
  }
  // launches whatever buckets are left, then waits for all of them (polling, so that a dead peer ends in an error
  // after timeoutS seconds instead of a hang)
  void allReduce(float* G, double timeoutS) {
    if (!comm) throw std::runtime_error("cuda backend: allReduceGrads before NCCL was set up (ncclInit)");
    while (bucketsIssued < (int)buckets.size()) issueBucket(G);
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t e = cudaStreamQuery(cs);
      if (e == cudaSuccess) break;
      if (e != cudaErrorNotReady) CK(e);
      ncclResult_t ae = 0;
      g_nccl.asyncError(comm, &ae);
      if (ae != 0 && ae != NCCL_IN_PROGRESS) {
        std::string msg = strf("NCCL failed during the gradient all-reduce (rank %d of %d): %s", rank, world, g_nccl.errStr(ae));
        abort();
        throw std::runtime_error(msg);
      }
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeoutS) {
        abort();
        throw std::runtime_error(strf("NCCL gradient all-reduce did not finish within %.0f s (rank %d of %d): another rank "
                                      "stopped or hangs (STEEL_DIST_TIMEOUT sets the limit)", timeoutS, rank, world));
      }
      usleep(50);
    }
    bucketsIssued = 0;
    overlapNext = false;
  }
  void shutdown() {  // before the gradient buffer is freed
    if (comm) {
      if (cudaStreamSynchronize(cs) == cudaSuccess) g_nccl.commDestroy(comm);
      else g_nccl.commAbort(comm);
      comm = nullptr;
    }
    if (cs) cudaStreamDestroy(cs);
    if (cev) cudaEventDestroy(cev);
    cs = nullptr;
    cev = nullptr;
  }
  ~GradReducer() { shutdown(); }
};
