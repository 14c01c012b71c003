// Cross-entropy over the vocabulary, one chunk of rows at a time (the lm_head GEMM writes bf16 logits for the chunk;
// no fp32 logits for 151,936 classes), with per-token loss weights and per-token target log-probabilities.
//  - row r: lse = log sum_j exp(x_j); lossrow[r] = w_r * (lse - x_tgt) (0 where w_r = 0); logp[r] = x_tgt - lse;
//  - backward (in place over the logits): dlogits_j = gscale * w_r * (softmax_j - [j = tgt]), so one kernel serves
//    pretraining (w = 1, 0 on padding), masked SFT (w = the loss mask) and DPO (w = a per-sequence coefficient times
//    the mask, gscale = 1);
//  - a row is split over a cluster of CL CTAs (NT = 512 threads each, sm_90); each CTA keeps its part (ceil(ldl/8/CL)
//    16-byte chunks: 74 KB for the Qwen vocabulary at CL = 4, so 3 CTAs per SM) in shared memory, so the logits are
//    read from global memory once and dlogits written once. One thread puts the whole part in flight at once with the
//    1-D bulk copy (TMA), in pieces of NT chunks on an mbarrier each; a thread's k-th chunk is in piece k, so it starts
//    on piece 0 while the rest land. The (max, sum) partials of the CL CTAs are combined through distributed shared
//    memory in rank order, the same in every CTA of the cluster (deterministic);
//  - any V: rows are ldl = V rounded up to 8 apart (16-byte aligned); the padding columns count as -inf and get 0.
// Checks: gpu-check `cpu` (loss, logits, weighted loss and log-probs, all gradients against the CPU backend), `torch`;
// speed and bit-identity against another tree's kernel: dev/ce-ab.cu (`SECTIONS=ceab`).
#pragma once
#include <cooperative_groups.h>
#include "common.cuh"
#include "tile.cuh"  // mbarriers, the 1-D bulk copy

#define CE_CL 4    // CTAs per row (cluster size)
#define CE_NT 512  // threads per CTA
#define CE_TUNABLE 1  // ce_k<CL, NT> and crossEntropyT: dev/ce-ab.cu times other shapes
// the padding columns of a row's last chunk (j0 = its first column; at least one real column precedes them) -> -inf
__device__ __forceinline__ void ce_pad(uint4& u, int j0, int V) {
  if (j0 + 8 > V) {
    bf16* e = reinterpret_cast<bf16*>(&u);
#pragma unroll
    for (int t = 0; t < 8; t++)
      if (j0 + t >= V) e[t] = __ushort_as_bfloat16((unsigned short)0xff80);
  }
}
// Per thread the online (max, sum) over its chunks in order, then the backward from shared memory (16-byte stores).
template <int CL, int NT>
__global__ void __launch_bounds__(NT, 1536 / NT) ce_k(bf16* __restrict__ logits, int ldl, const int* __restrict__ tgt,
                                                     const float* __restrict__ wt, float* __restrict__ lossrow,
                                                     float* __restrict__ logp, int V, float gscale, int backward) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  constexpr int NW = NT / 32;
  cg::cluster_group cl = cg::this_cluster();
  // all of it dynamic (ceSmem): a static __shared__ array would be padded to 1 KB in the addon (attention.cuh's 1-KB
  // aligned extern array aligns every kernel's dynamic area), and 3 CTAs per SM would no longer fit
  extern __shared__ uint4 sr[];
  const int rank = (int)cl.block_rank();
  const long row = blockIdx.x / CL;
  const int V8 = ldl >> 3, q8 = (V8 + CL - 1) / CL, c0 = min(V8, rank * q8), n8 = min(V8, c0 + q8) - c0;
  uint4* g = reinterpret_cast<uint4*>(logits + row * ldl) + c0;
  uint64_t* bar = reinterpret_cast<uint64_t*>(sr + q8);  // mbarrier k: chunks [k NT, (k + 1) NT) landed
  float* shm = reinterpret_cast<float*>(bar + (q8 + NT - 1) / NT);  // per warp: max, sum; the CTA's (max, sum); lse
  float *shs = shm + NW, *red = shs + NW, *lseS = red + 2;
  if (threadIdx.x == 0) {
    for (int k = 0; k * NT < n8; k++) mbar_init(&bar[k], 1);
    mbar_fence_init();
  }
  __syncthreads();
  if (threadIdx.x == 0)  // the CTA's whole part in flight at once, in pieces of NT chunks (a thread's k-th chunk is in piece k)
    for (int k = 0; k * NT < n8; k++) {
      const uint32_t bytes = (uint32_t)min(NT, n8 - k * NT) * 16u;
      mbar_expect_tx(&bar[k], bytes);
      bulk_load(sr + k * NT, g + k * NT, bytes, &bar[k]);
    }
  float m = -INFINITY, s = 0.f;
  for (int k = 0, cb = threadIdx.x; cb < n8; k++, cb += NT) {
    mbar_wait(&bar[k], 0);
    uint4 u = sr[cb];
    ce_pad(u, (c0 + cb) * 8, V);
    const bf16* e = reinterpret_cast<const bf16*>(&u);
    float mx = m;
#pragma unroll
    for (int t = 0; t < 8; t++) mx = fmaxf(mx, b2f(e[t]));
    s *= __expf(m - mx);
#pragma unroll
    for (int t = 0; t < 8; t++) s += __expf(b2f(e[t]) - mx);
    m = mx;
  }
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    float mx = fmaxf(m, m2);
    s = (m == -INFINITY ? 0.f : s * __expf(m - mx)) + (m2 == -INFINITY ? 0.f : s2 * __expf(m2 - mx));
    m = mx;
  }
  if (lane == 0) { shm[w] = m; shs[w] = s; }
  __syncthreads();
  if (threadIdx.x == 0) {
    float M = -INFINITY;
    for (int i = 0; i < NW; i++) M = fmaxf(M, shm[i]);
    float S = 0.f;
    for (int i = 0; i < NW; i++) S += shm[i] == -INFINITY ? 0.f : shs[i] * __expf(shm[i] - M);
    red[0] = M;
    red[1] = S;
  }
  cl.sync();  // every CTA's partial is in its shared memory
  const int tg = tgt[row];
  const float wr = wt[row];
  if (threadIdx.x == 0) {
    float pm[CL], ps[CL], M = -INFINITY, S = 0.f;
#pragma unroll
    for (int r = 0; r < CL; r++) {
      const float* rr = cl.map_shared_rank(red, r);
      pm[r] = rr[0];
      ps[r] = rr[1];
      M = fmaxf(M, pm[r]);
    }
#pragma unroll
    for (int r = 0; r < CL; r++) S += pm[r] == -INFINITY ? 0.f : ps[r] * __expf(pm[r] - M);
    const float lse = M + __logf(S);
    lseS[0] = lse;
    if ((tg >> 3) >= c0 && (tg >> 3) < c0 + n8) {  // this CTA holds the target logit
      const float lp = b2f(reinterpret_cast<const bf16*>(sr)[tg - 8 * c0]) - lse;
      lossrow[row] = wr == 0.f ? 0.f : -wr * lp;
      if (logp) logp[row] = lp;
    }
  }
  cl.sync();  // no CTA leaves while another reads its partial; lseS visible to the block
  if (!backward) return;
  const float lse = lseS[0], gs = gscale * wr;
  for (int c = threadIdx.x; c < n8; c += NT) {
    uint4 u = sr[c];
    bf16* e = reinterpret_cast<bf16*>(&u);
    const int j0 = (c0 + c) * 8;
    if (wr != 0.f && j0 + 8 <= V && (tg >> 3) != c0 + c) {  // no target, no padding: softmax_j * gs
#pragma unroll
      for (int k = 0; k < 8; k++) e[k] = f2b(__expf(b2f(e[k]) - lse) * gs);
    } else {
#pragma unroll
      for (int k = 0; k < 8; k++) {
        const int j = j0 + k;
        const float p = __expf(b2f(e[k]) - lse);
        e[k] = f2b(wr == 0.f || j >= V ? 0.f : (p - (j == tg ? 1.f : 0.f)) * gs);
      }
    }
    g[c] = u;
  }
#endif
}
// sum of n values in fixed order (single block)
__global__ void sum_k(const float* __restrict__ a, long n, double* __restrict__ out) {
  __shared__ double sh[1024];
  double s = 0;
  for (long i = threadIdx.x; i < n; i += blockDim.x) s += a[i];
  sh[threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0;
    for (int i = 0; i < (int)blockDim.x; i++) t += sh[i];
    *out = t;
  }
}
// out[b] = sum_t w[b, t] * logp[b, t] over the positions with w != 0, in fixed order (a block of 256 per sequence)
__global__ void seq_logp_k(const float* __restrict__ logp, const float* __restrict__ wt, int T, double* __restrict__ out) {
  __shared__ double sh[256];
  const long b = blockIdx.x;
  double s = 0;
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    const float w = wt[b * T + t];
    if (w != 0.f) s += (double)w * (double)logp[b * T + t];
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double a = 0;
    for (int i = 0; i < (int)blockDim.x; i++) a += sh[i];
    out[b] = a;
  }
}

// the dynamic shared memory per CTA: its part of a row, one mbarrier per NT chunks, the reductions' floats
template <int CL, int NT>
static size_t ceSmem(int ldl) {
  const size_t q8 = (size_t)(ldl / 8 + CL - 1) / CL;
  return q8 * 16 + (q8 + NT - 1) / NT * 8 + (2 * (NT / 32) + 3) * 4;
}
// checks that the kernel fits this device (a build for sm_90+, its part of a row in shared memory) and raises its
// dynamic shared-memory limit; throws a clear error otherwise
template <int CL, int NT>
static void ceSetupT(int ldl) {
  int dev;
  CK(cudaGetDevice(&dev));
  cudaDeviceProp pr;
  CK(cudaGetDeviceProperties(&pr, dev));
  cudaFuncAttributes fa;
  CK(cudaFuncGetAttributes(&fa, ce_k<CL, NT>));
  const size_t smem = ceSmem<CL, NT>(ldl);
  if (pr.major < 9 || fa.binaryVersion < 90)
    throw std::runtime_error(strf("cuda backend: the cross-entropy kernel needs a Hopper GPU and an sm_90 build (device %s, sm_%d%d, "
                                  "kernel built for sm_%d)", pr.name, pr.major, pr.minor, fa.binaryVersion));
  if (smem + fa.sharedSizeBytes > (size_t)pr.sharedMemPerBlockOptin)
    throw std::runtime_error(strf("cuda backend: vocabulary of %d too large for the cross-entropy kernel (%zu bytes of shared "
                                  "memory per CTA, %zu available)", ldl, smem, (size_t)pr.sharedMemPerBlockOptin));
  CK(cudaFuncSetAttribute(ce_k<CL, NT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}
template <int CL, int NT>
static void crossEntropyT(bf16* logits, int ldl, const int* tgt, const float* wt, float* lossrow, float* logp, long rows, int V,
                          float gscale, bool backward) {
  cudaLaunchConfig_t lc = {};
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = CL;
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = 1;
  lc.gridDim = dim3((unsigned)(rows * CL));
  lc.blockDim = dim3(NT);
  lc.dynamicSmemBytes = ceSmem<CL, NT>(ldl);
  lc.stream = g_stream;
  lc.attrs = at;
  lc.numAttrs = 1;
  CK(cudaLaunchKernelEx(&lc, ce_k<CL, NT>, logits, ldl, tgt, wt, lossrow, logp, V, gscale, backward ? 1 : 0));
  KCHECK("cross_entropy");
}
// the production kernel
static void ceSetup(int ldl) { ceSetupT<CE_CL, CE_NT>(ldl); }
static void crossEntropy(bf16* logits, int ldl, const int* tgt, const float* wt, float* lossrow, float* logp, long rows, int V,
                         float gscale, bool backward) {
  crossEntropyT<CE_CL, CE_NT>(logits, ldl, tgt, wt, lossrow, logp, rows, V, gscale, backward);
}
