// Attention: causal, GQA, head_dim a multiple of 8 up to 64, any T; deterministic (no atomics, every reduction in a
// fixed order). The forward on FlashAttention-3's structure (a TMA producer warpgroup, an mbarrier ring of K/V tiles,
// consumer warpgroups on wgmma with setmaxnreg), saving the base-2 log-sum-exp per row; the backward = one dQ kernel
// per query block (the same TMA / mbarrier / warpgroup structure; it also
// computes delta = rowsum(dO*O) for its rows) + one dK/dV kernel per key block (FlashAttention-2 style on mma.sync,
// tile.cuh, reading that delta), both recomputing P from the saved log-sum-exp.
// dK/dV (mma.sync):
//  - every warp owns 32 key rows (two 16-row m-tiles), so each Q/dO B fragment that ldmatrix reads from shared memory
//    feeds two mma instead of one (half the shared-memory traffic per mma);
//  - 128-row blocks (4 warps) over 128 key rows; 64-row query tiles stream through double-buffered shared memory
//    (cp.async); a warp skips the (sub-)tiles that lie entirely above the causal diagonal for its own 32 rows, and
//    masks element-wise only where the diagonal crosses its rows;
//  - 16-query sub-tiles keep S and dP in registers next to the accumulators and the register-resident K/V fragments;
//  - head_dim with an odd number of 8-wide tiles (56): the trailing half k-step of Q.K^T and dO.V^T uses m16n8k8, so
//    the zero padding columns are never multiplied;
//  - longest blocks first: the grid's slow axis walks from the longest query block (forward, dQ) or from key block 0
//    (dK/dV) down, across all heads.
// Softmax in base 2 with the pre-scaled log2(e)·scale (sl2) folded into one FMA per element.
// RoPE's backward (given its tables) is applied in the dQ and dK/dV epilogues, which also write the q/k/v bias gradient's
// column partials per 64 rows (attn_rope_ld / attn_rope_apply, attn_sum_g; rope.cuh has the forward).
// A wgmma dK/dV candidate is in dev/attn-wg-bwd.cuh (not faster at hd 56 with 32 heads; see train/native/README.md).
// Checks: gpu-check `attn` (every kernel vs float64 on the GPU) and emu/attention-emu.test.ts (every kernel on the CPU,
// wgmma included).
#pragma once
#include "tile.cuh"
#ifndef ATTN_EMU
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#endif

// ---- tiling (host-callable too, for emulation)
template <bool B>
struct attn_bool { static constexpr bool value = B; };
__host__ __device__ __forceinline__ int attn_cdiv(int a, int b) { return (a + b - 1) / b; }
// dK/dV: a warp's 32 key rows [k0, k0+32) against a query sub-tile [q0, q0+n) (keys <= queries are needed): some pair
// with key <= query exists / some pair with key > query exists
__host__ __device__ __forceinline__ bool attn_qk_any(int q0, int n, int k0) { return q0 + n - 1 >= k0; }
__host__ __device__ __forceinline__ bool attn_qk_mask(int q0, int k0) { return q0 < k0 + 31; }

#define ATTN_DKV_SMEM (4 * 128 * ALDS * 2 + 4 * 64 * 4)        // K, V (128 rows each), Q[2], dO[2], lse[2], delta[2]
#define ATTN_DKV_SMEM_ROPE(NDT) (ATTN_DKV_SMEM + 2 * 128 * (NDT) * 16)  // + RoPE's cos / sin rows of the 128 keys

#ifndef ATTN_EMU  // ATTN_EMU: compiled on the host by the lane-level emulator (emu/)
#define ATTN_DYN_SMEM(name) extern __shared__ __align__(16) bf16 name[]
#define ATTN_WG_SMEM(name) extern __shared__ __align__(1024) unsigned char name[]  // aligned to 1 KB in the kernel
// 2^x as the bare MUFU.EX2: exp2f compiles to ex2.approx.f32, whose denormal-result handling adds 3 instructions per
// call; here results below 2^-126 flush to 0 (no effect on bf16 P / fp32 sums of values <= 256)
__device__ __forceinline__ float attn_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ void attn_ld2f(const float* p, float& a, float& b) {
  const float2 v = *reinterpret_cast<const float2*>(p);  // global (dQ) or shared (dK/dV) tables
  a = v.x;
  b = v.y;
}
#else
static inline float attn_ex2(float x) { return exp2f(x); }
static inline void attn_ld2f(const float* p, float& a, float& b) { a = p[0]; b = p[1]; }
#endif
// the bf16 value pack2 rounds lo / hi to (low / high half of the packed word)
__device__ __forceinline__ float attn_lo(uint32_t u) { return __uint_as_float(u << 16); }
__device__ __forceinline__ float attn_hi(uint32_t u) { return __uint_as_float(u & 0xffff0000u); }

// ---- RoPE's backward in the backward kernels' epilogues (rope.cuh has the forward): the inverse rotate-half rotation at
// position tt of one row of a thread's accumulator fragment, x[j][e] = column 8j + 2t + e (j < NDT, hd = 8 NDT); the pairs
// are (i, i + hd/2) with cs / sn the fp32 tables [T][hd/2]: x_i c + x_{i+h} s, x_{i+h} c - x_i s. When hd/2 is a multiple
// of 8 a column's partner is in the same thread (NDT/2 tiles away); else (hd/2 = 8M + 4) in lane ^ 2 (t ^ 2), M or M + 1
// tiles away. attn_rope_ld loads the row's table entries (issued early, so their latency hides behind other work),
// attn_rope_apply rotates; every lane of the warp must call it (the shuffle).
template <int NDT>
__device__ __forceinline__ int attn_clampj(int j) { return j < 0 ? 0 : j >= NDT ? NDT - 1 : j; }
template <int NDT>
__device__ __forceinline__ bool attn_rope_first(int j, int t) {  // column 8j + 2t is in the first half
  return (NDT & 1) ? (t < 2 ? j <= NDT / 2 : j < NDT / 2) : j < NDT / 2;
}
template <int NDT>
__device__ __forceinline__ void attn_rope_ld(const float* cs, const float* sn, int tt, int t, float (&c)[NDT][2],
                                             float (&s)[NDT][2]) {
  constexpr int HALF = NDT * 4;
#pragma unroll
  for (int j = 0; j < NDT; j++) {
    const int col = 8 * j + 2 * t, ci = attn_rope_first<NDT>(j, t) ? col : col - HALF;
    attn_ld2f(cs + (long)tt * HALF + ci, c[j][0], c[j][1]);
    attn_ld2f(sn + (long)tt * HALF + ci, s[j][0], s[j][1]);
  }
}
template <int NDT>
__device__ __forceinline__ void attn_rope_apply(float (&x)[NDT][2], const float (&c)[NDT][2], const float (&s)[NDT][2], int t) {
  constexpr int M = NDT / 2;
  constexpr bool ODD = (NDT & 1) != 0;
  float y[NDT][2];
#pragma unroll
  for (int j = 0; j < NDT; j++)
#pragma unroll
    for (int e = 0; e < 2; e++) y[j][e] = ODD ? __shfl_xor_sync(0xffffffffu, x[j][e], 2) : x[j][e];
  const bool lo = t < 2;
  float r[NDT][2];
#pragma unroll
  for (int j = 0; j < NDT; j++) {
    const bool first = attn_rope_first<NDT>(j, t);
#pragma unroll
    for (int e = 0; e < 2; e++) {
      float pa;
      if (!ODD) pa = first ? y[attn_clampj<NDT>(j + M)][e] : y[attn_clampj<NDT>(j - M)][e];
      else
        pa = lo ? (j <= M ? y[attn_clampj<NDT>(j + M)][e] : y[attn_clampj<NDT>(j - M - 1)][e])
                : (j < M ? y[attn_clampj<NDT>(j + M + 1)][e] : y[attn_clampj<NDT>(j - M)][e]);
      r[j][e] = first ? x[j][e] * c[j][e] + pa * s[j][e] : x[j][e] * c[j][e] - pa * s[j][e];
    }
  }
#pragma unroll
  for (int j = 0; j < NDT; j++) x[j][0] = r[j][0], x[j][1] = r[j][1];
}
// sum over the 8 row groups g of a warp (lanes t, t + 4, ..., fixed order)
__device__ __forceinline__ float attn_sum_g(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 4);
  v += __shfl_xor_sync(0xffffffffu, v, 8);
  v += __shfl_xor_sync(0xffffffffu, v, 16);
  return v;
}

// ============================================================================ forward (TMA + wgmma, sm_90a; emulated)
// FlashAttention-3's structure. grid (B*H, ceil(T/(64 NC))), 128 (NC + 1) threads, ATTN_FWD_SMEM(NC, BN, NS), MINB blocks
// per SM (production: NC 2, BN 64, NS 4, MINB 2; other shapes are timed in dev/attn-ab.cu):
//  - warp specialisation: warpgroup 0 is the producer (one thread issues every load; setmaxnreg hands its registers to
//    the consumers), warpgroups 1 .. NC are consumers, consumer w owning the 64 query rows qb*64*NC + 64w .. +63 (S and O
//    in its accumulators);
//  - loads by the tensor-memory accelerator (tma_load4, one instruction per tile) through two tensor maps of qkv viewed
//    as [B][T][H + 2 Hk][hd] (attnQkvMap; boxes of 64 rows for Q, BN rows for K / V): the tile lands in the 128-byte
//    swizzle of WG_SWZ, the columns past hd and the rows past T zero-filled by the copy engine;
//  - an NS-stage ring of BN-key K / V tiles on mbarriers: full barriers (K and V apart, so S_j starts before V_j has
//    landed) carry the transaction bytes, empty barriers count the consumer warps done with a stage (after its P V);
//    no block barrier in the main loop;
//  - each consumer walks the key tiles up to its own diagonal (the tiles above it: it waits for their load and releases
//    them, so the ring's phases stay in step) with the in-warpgroup pipeline: iteration j issues S_j = Q K_j^T (both
//    operands in shared memory, K-major) and P_{j-1} V_{j-1} (P from registers, V MN-major) back to back, waits for S_j
//    only, runs the softmax of S_j while the tensor cores do P_{j-1} V_{j-1}, then waits for that, rescales O, packs P_j.
// Head dim: Q/K columns past hd are zero (the QK^T k16 steps read 64 columns), P V uses n = HDN = hd exactly. Softmax in
// base 2 with the lazy maximum (rescale only when the row max grows by > 8).
// Measured (H200, 2026-12-04, dev/attn-ab.cu, B8 T2048 H32 hd56) against the cp.async forward it replaced (2 warpgroups,
// every thread loading, a block barrier per 64-key tile): 0.538 / 0.543 -> 0.405 / 0.404 ms, bit-identical output.
// consumer registers after setmaxnreg: the launch cap (65536 / threads per SM, multiple of 8) plus the producer's
// released share (it keeps 24), multiple of 8, at most 240
__host__ __device__ constexpr int attn_fwd_cap(int threads, int minb) { return (65536 / (threads * minb) / 8 * 8) > 255 ? 248 : (65536 / (threads * minb) / 8 * 8); }
__host__ __device__ constexpr int attn_fwd_creg(int nc, int minb) {
  return (attn_fwd_cap(128 * (nc + 1), minb) + (attn_fwd_cap(128 * (nc + 1), minb) - 24) / nc) / 8 * 8 > 240
             ? 240
             : (attn_fwd_cap(128 * (nc + 1), minb) + (attn_fwd_cap(128 * (nc + 1), minb) - 24) / nc) / 8 * 8;
}
#define ATTN_FWD_SMEM(NC, BN, NS) (1024 + (NC) * 64 * 128 + 2 * (NS) * (BN) * 128 + 1024)  // Q, K[NS], V[NS], barriers
template <int HDN, int NC = 2, int BN = 64, int NS = 4, int MINB = 2>
__global__ void __launch_bounds__(128 * (NC + 1), MINB)
    attn_fwd_k(const __grid_constant__ CUtensorMap mapQ, const __grid_constant__ CUtensorMap mapKV, bf16* __restrict__ out,
              float* __restrict__ lse, int T, int H, int Hk, int hd, float sl2) {
  constexpr int BM = 64 * NC, NO = HDN / 2, KS = (HDN + 15) / 16, NSC = BN / 2;  // NSC: S accumulators per thread
  ATTN_WG_SMEM(attn_wg_raw);
  bf16* sQ = reinterpret_cast<bf16*>(((uintptr_t)attn_wg_raw + 1023) & ~(uintptr_t)1023);  // BM rows
  bf16* sK = sQ + BM * 64;                                                                   // [NS][BN rows]
  bf16* sV = sK + NS * BN * 64;                                                              // [NS][BN rows]
  uint64_t* bar = reinterpret_cast<uint64_t*>(sV + NS * BN * 64);  // Q, fullK[NS], fullV[NS], empty[NS]
  uint64_t *barQ = bar, *fullK = bar + 1, *fullV = bar + 1 + NS, *empty = bar + 1 + 2 * NS;
  const int qb = gridDim.y - 1 - blockIdx.y, bh = blockIdx.x, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int tid = threadIdx.x, wgi = tid >> 7;
  const int last = min((qb * BM + BM - 1) / BN, (T - 1) / BN);  // the block's last key tile
  if (tid == 0) {
    mbar_init(barQ, 1);
    for (int s = 0; s < NS; s++) mbar_init(fullK + s, 1), mbar_init(fullV + s, 1), mbar_init(empty + s, 4 * NC);
    mbar_fence_init();
  }
  __syncthreads();
  if (wgi == 0) {  // producer
    reg_dealloc<24>();
    if (tid == 0) {
      mbar_expect_tx(barQ, BM * 128);
#pragma unroll
      for (int i = 0; i < NC; i++) tma_load4(sQ + i * 64 * 64, &mapQ, barQ, 0, h, qb * BM + i * 64, b);
      for (int j = 0; j <= last; j++) {
        const int s = j % NS;
        if (j >= NS) mbar_wait(empty + s, ((j / NS) & 1) ^ 1);
        mbar_expect_tx(fullK + s, BN * 128);
        tma_load4(sK + s * BN * 64, &mapKV, fullK + s, 0, H + hk, j * BN, b);
        mbar_expect_tx(fullV + s, BN * 128);
        tma_load4(sV + s * BN * 64, &mapKV, fullV + s, 0, H + Hk + hk, j * BN, b);
      }
    }
    return;
  }
  reg_alloc<attn_fwd_creg(NC, MINB)>();
  const int wg = wgi - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int q0 = qb * BM + wg * 64;   // this warpgroup's first query
  const int qr = q0 + warp * 16 + g;  // this thread's rows qr, qr + 8
  const int mylast = min(last, (q0 + 63) / BN);
  const uint64_t dQ = wg_desc(sQ + wg * 64 * 64);
  float o[NO], s[NSC];
#pragma unroll
  for (int i = 0; i < NO; i++) o[i] = 0.f;
  float mr[2] = {-INFINITY, -INFINITY}, lr[2] = {0.f, 0.f};
  uint32_t pa[BN / 16][4];
  auto issue_s = [&](int j) {
    mbar_wait(fullK + j % NS, (j / NS) & 1);
    const uint64_t dK = wg_desc(sK + (j % NS) * BN * 64);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss<BN>(s, dQ + 2 * kk, dK + 2 * kk, kk);
    wg_commit();
  };
  auto issue_pv = [&](int j) {
    mbar_wait(fullV + j % NS, (j / NS) & 1);
    const uint64_t dV = wg_desc(sV + (j % NS) * BN * 64);
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) wg_rs<HDN>(o, pa[kk], dV + kk * (2048 >> 4), 1);
    wg_commit();
  };
  auto release = [&](int j) {  // this warp's reads of stage j % NS are done
    if (lane == 0) mbar_arrive(empty + j % NS);
  };
  auto softmax = [&](int j, float* al) {
    wg_reg_fence<NSC>(s);
    if (j * BN + BN - 1 > q0) {
#pragma unroll
      for (int jn = 0; jn < BN / 8; jn++)
#pragma unroll
        for (int i = 0; i < 4; i++)
          if (j * BN + 8 * jn + 2 * t + (i & 1) > qr + 8 * (i >> 1)) s[4 * jn + i] = -INFINITY;
    }
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      float mx = -INFINITY;
#pragma unroll
      for (int jn = 0; jn < BN / 8; jn++) mx = fmaxf(mx, fmaxf(s[4 * jn + 2 * hh], s[4 * jn + 2 * hh + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mo = mr[hh], mx2 = mx * sl2;
      const bool u = mx2 > mo + 8.f;
      const float mn = u ? mx2 : mo;
      al[hh] = u ? attn_ex2(mo - mn) : 1.f;
      mr[hh] = mn;
      float ls = 0.f;
#pragma unroll
      for (int jn = 0; jn < BN / 8; jn++) {
        s[4 * jn + 2 * hh] = attn_ex2(fmaf(s[4 * jn + 2 * hh], sl2, -mn));
        s[4 * jn + 2 * hh + 1] = attn_ex2(fmaf(s[4 * jn + 2 * hh + 1], sl2, -mn));
        ls += s[4 * jn + 2 * hh] + s[4 * jn + 2 * hh + 1];
      }
      lr[hh] = fmaf(lr[hh], al[hh], ls);
    }
  };
  auto pack_p = [&]() {
#pragma unroll
    for (int jn = 0; jn < BN / 8; jn++)
#pragma unroll
      for (int hh = 0; hh < 2; hh++) pa[jn >> 1][(jn & 1) * 2 + hh] = pack2(s[4 * jn + 2 * hh], s[4 * jn + 2 * hh + 1]);
  };
  mbar_wait(barQ, 0);
  float al[2];
  wg_fence();
  issue_s(0);
  wg_wait<0>();
  softmax(0, al);
  pack_p();
  for (int j = 1; j <= mylast; j++) {
    wg_fence();
    issue_s(j);
    issue_pv(j - 1);
    wg_wait<1>();
    softmax(j, al);
    wg_wait<0>();
    release(j - 1);
    wg_reg_fence<NO>(o);
#pragma unroll
    for (int i = 0; i < NO; i++) o[i] *= al[(i >> 1) & 1];
    pack_p();
  }
  wg_fence();
  issue_pv(mylast);
  wg_wait<0>();
  release(mylast);
  for (int j = mylast + 1; j <= last; j++) {  // tiles above this warpgroup's rows: released once loaded
    mbar_wait(fullK + j % NS, (j / NS) & 1);
    mbar_wait(fullV + j % NS, (j / NS) & 1);
    release(j);
  }
  wg_reg_fence<NO>(o);
  const int ldo = H * hd;
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    float l = lr[hh];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float il = 1.f / l;
    const int q = qr + 8 * hh;
    if (q < T) {
      bf16* op = out + ((long)b * T + q) * ldo + h * hd + 2 * t;
#pragma unroll
      for (int jn = 0; jn < HDN / 8; jn++)
        *reinterpret_cast<uint32_t*>(op + jn * 8) = pack2(o[4 * jn + 2 * hh] * il, o[4 * jn + 2 * hh + 1] * il);
      if (t == 0) lse[(long)bh * T + q] = mr[hh] + log2f(l);
    }
  }
}

// ============================================================================ backward: dQ (TMA + wgmma, sm_90a; emulated)
// The forward's structure. grid (B*H, ceil(T/(64 NC))), 128 (NC + 1) threads, ATTN_DQ_SMEM(NC, NS), MINB blocks per SM
// (production: NC 3, NS 4, 1 block per SM, the consumers compiled at 128 registers): warpgroup 0 is the producer (one
// thread loads each consumer's Q and dO tiles (mq, mo: 64-row boxes) and the 64-key K / V tiles with the bulk tensor
// copy into an NS-stage ring, one full barrier per stage for K and V, empty barriers counted by the consumer warps once
// the stage's dQ product is done), warpgroups 1 .. NC are consumers of 64 query rows each (the tiles above a consumer's
// diagonal: it waits for their load and releases them). A consumer first computes delta = rowsum(dO * O) for its rows
// (16-byte loads, fmaf in column order), kept in registers and written to `delta` for the dK/dV kernel; then per key
// tile j: S = Q K_j^T and dP = dO V_j^T (both operands from shared memory), dS = P (dP - delta) in registers (P
// recomputed from the saved log-sum-exp), dQ += dS K_j (dS from registers, K_j MN-major); iteration j issues S_j, dP_j
// and dS_{j-1} K_{j-1} back to back and computes dS_j while the tensor cores do the dQ product. Measured (H200,
// 2026-12-04, dev/attn-ab.cu, B8 T2048 H32 hd56, with RoPE's tables and the bias partials) against the cp.async dQ
// kernel it replaced (one warpgroup per block, 3 blocks per SM, a block barrier per tile): 0.701 / 0.707 -> 0.506 /
// 0.517 ms, bit-identical (dq, delta, the partials).
#define ATTN_DQ_SMEM(NC, NS) (1024 + (NC) * 2 * 64 * 128 + (NS) * 2 * 64 * 128 + 1024)  // Q, dO per consumer; K, V ring
template <int HDN, int NC = 3, int NS = 4, int MINB = 1>
__global__ void __launch_bounds__(128 * (NC + 1), MINB)
    attn_bwd_dq_k(const __grid_constant__ CUtensorMap mq, const __grid_constant__ CUtensorMap mo, const bf16* __restrict__ O,
                      const bf16* __restrict__ dO, const float* __restrict__ lse, float* __restrict__ delta,
                      bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq, float sl2, float scale,
                      const float* __restrict__ cs, const float* __restrict__ sn, float* __restrict__ part) {
  constexpr int BM = 64 * NC, NO = HDN / 2, KS = (HDN + 15) / 16, NDT = HDN / 8;
  ATTN_WG_SMEM(attn_wg_raw);
  bf16* sQ = reinterpret_cast<bf16*>(((uintptr_t)attn_wg_raw + 1023) & ~(uintptr_t)1023);  // [NC][64 rows]
  bf16* sO = sQ + NC * 64 * 64;                                                              // [NC][64 rows] (dO)
  bf16* sK = sO + NC * 64 * 64;                                                              // [NS][64 rows]
  bf16* sV = sK + NS * 64 * 64;                                                              // [NS][64 rows]
  uint64_t* bar = reinterpret_cast<uint64_t*>(sV + NS * 64 * 64);  // Q/dO, full[NS], empty[NS]
  uint64_t *barQ = bar, *full = bar + 1, *empty = bar + 1 + NS;
  __shared__ float sred[NC][4][64];
  const int qb = gridDim.y - 1 - blockIdx.y, bh = blockIdx.x, b = bh / H, h = bh % H, hk = h / (H / Hk);
  const int tid = threadIdx.x, wgi = tid >> 7, ldo = H * hd;
  const int last = min((qb * BM + BM - 1) >> 6, (T - 1) >> 6);
  if (tid == 0) {
    mbar_init(barQ, 1);
    for (int s = 0; s < NS; s++) mbar_init(full + s, 1), mbar_init(empty + s, 4 * NC);
    mbar_fence_init();
  }
  __syncthreads();
  if (wgi == 0) {  // producer
    reg_dealloc<24>();
    if (tid == 0) {
      mbar_expect_tx(barQ, NC * 2 * 64 * 128);
#pragma unroll
      for (int i = 0; i < NC; i++) {
        tma_load4(sQ + i * 4096, &mq, barQ, 0, h, qb * BM + i * 64, b);
        tma_load4(sO + i * 4096, &mo, barQ, 0, h, qb * BM + i * 64, b);
      }
      for (int j = 0; j <= last; j++) {
        const int s = j % NS;
        if (j >= NS) mbar_wait(empty + s, ((j / NS) & 1) ^ 1);
        mbar_expect_tx(full + s, 2 * 64 * 128);
        tma_load4(sK + s * 4096, &mq, full + s, 0, H + hk, j * 64, b);
        tma_load4(sV + s * 4096, &mq, full + s, 0, H + Hk + hk, j * 64, b);
      }
    }
    return;
  }
  reg_alloc<attn_fwd_creg(NC, MINB)>();
  const int wg = wgi - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int q0 = qb * BM + wg * 64, qr = q0 + warp * 16 + g;  // this thread's rows qr, qr + 8
  const int mylast = min(last, q0 >> 6);
  float L[2], D[2];
  {  // lanes t = 0, 1 of each row quad: delta of rows qr, qr + 8
    const int q = qr + 8 * (t & 1);
    float dl = 0.f;
    if (t < 2 && q < T) {
      const uint4* a = reinterpret_cast<const uint4*>(dO + ((long)b * T + q) * ldo + h * hd);
      const uint4* c = reinterpret_cast<const uint4*>(O + ((long)b * T + q) * ldo + h * hd);
      uint4 ua[HDN / 8], uc[HDN / 8];
#pragma unroll
      for (int j = 0; j < HDN / 8; j++) ua[j] = __ldg(a + j), uc[j] = __ldg(c + j);
#pragma unroll
      for (int j = 0; j < HDN / 8; j++) {
        float x[8], y[8];
        unpack8(ua[j], x);
        unpack8(uc[j], y);
#pragma unroll
        for (int k = 0; k < 8; k++) dl = fmaf(x[k], y[k], dl);
      }
      delta[(long)bh * T + q] = dl;
    }
    D[0] = __shfl_sync(0xffffffffu, dl, lane & ~3);
    D[1] = __shfl_sync(0xffffffffu, dl, (lane & ~3) | 1);
  }
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    const int q = qr + 8 * hh;
    L[hh] = q < T ? lse[(long)bh * T + q] : INFINITY;  // p = 0 for rows past T
  }
  const uint64_t dQd = wg_desc(sQ + wg * 4096), dOd = wg_desc(sO + wg * 4096);
  float dq[NO], s[32], dp[32];
#pragma unroll
  for (int i = 0; i < NO; i++) dq[i] = 0.f;
  uint32_t dsa[4][4];
  auto issue_sdp = [&](int j) {
    mbar_wait(full + j % NS, (j / NS) & 1);
    const uint64_t dK = wg_desc(sK + (j % NS) * 4096), dV = wg_desc(sV + (j % NS) * 4096);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(s, dQd + 2 * kk, dK + 2 * kk, kk);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(dp, dOd + 2 * kk, dV + 2 * kk, kk);
    wg_commit();
  };
  auto issue_dq = [&](int j) {
    const uint64_t dK = wg_desc(sK + (j % NS) * 4096);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_rs<HDN>(dq, dsa[kk], dK + kk * (2048 >> 4), 1);
    wg_commit();
  };
  auto release = [&](int j) {
    if (lane == 0) mbar_arrive(empty + j % NS);
  };
  auto dscores = [&](int j) {  // S_j, dP_j complete -> dS_j (fp32, in s)
    wg_reg_fence<32>(s);
    wg_reg_fence<32>(dp);
    const bool msk = j * 64 + 63 > q0;
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int hh = i >> 1;
        float p = attn_ex2(fmaf(s[4 * jn + i], sl2, -L[hh]));
        if (msk && j * 64 + 8 * jn + 2 * t + (i & 1) > qr + 8 * hh) p = 0.f;
        s[4 * jn + i] = p * (dp[4 * jn + i] - D[hh]);
      }
  };
  auto pack_ds = [&]() {
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int hh = 0; hh < 2; hh++) dsa[jn >> 1][(jn & 1) * 2 + hh] = pack2(s[4 * jn + 2 * hh], s[4 * jn + 2 * hh + 1]);
  };
  mbar_wait(barQ, 0);
  wg_fence();
  issue_sdp(0);
  wg_wait<0>();
  dscores(0);
  pack_ds();
  for (int j = 1; j <= mylast; j++) {
    wg_fence();
    issue_sdp(j);
    issue_dq(j - 1);
    wg_wait<1>();
    dscores(j);
    wg_wait<0>();
    release(j - 1);
    wg_reg_fence<NO>(dq);
    pack_ds();
  }
  wg_fence();
  issue_dq(mylast);
  float rc[2][NDT][2], rsn[2][NDT][2];
  if (cs)
#pragma unroll
    for (int hh = 0; hh < 2; hh++) attn_rope_ld<NDT>(cs, sn, min(qr + 8 * hh, T - 1), t, rc[hh], rsn[hh]);
  wg_wait<0>();
  release(mylast);
  for (int j = mylast + 1; j <= last; j++) {  // tiles above this warpgroup's rows: released once loaded
    mbar_wait(full + j % NS, (j / NS) & 1);
    release(j);
  }
  wg_reg_fence<NO>(dq);
  float bs[NDT][2];
#pragma unroll
  for (int jn = 0; jn < NDT; jn++) bs[jn][0] = bs[jn][1] = 0.f;
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    const int q = qr + 8 * hh;
    float x[NDT][2];
#pragma unroll
    for (int jn = 0; jn < NDT; jn++) x[jn][0] = dq[4 * jn + 2 * hh] * scale, x[jn][1] = dq[4 * jn + 2 * hh + 1] * scale;
    if (cs) attn_rope_apply<NDT>(x, rc[hh], rsn[hh], t);
    bf16* p = dqkv + ((long)b * T + q) * ldq + h * hd + 2 * t;
#pragma unroll
    for (int jn = 0; jn < NDT; jn++) {
      const uint32_t u = pack2(x[jn][0], x[jn][1]);
      if (q < T) *reinterpret_cast<uint32_t*>(p + jn * 8) = u;
      if (q < T) bs[jn][0] += attn_lo(u), bs[jn][1] += attn_hi(u);
    }
  }
  if (part) {
#pragma unroll
    for (int jn = 0; jn < NDT; jn++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const float v = attn_sum_g(bs[jn][e]);
        if (g == 0) sred[wg][warp][8 * jn + 2 * t + e] = v;
      }
    wg_bar(1 + wg);  // this warpgroup's 4 warps (the producer has left)
    const int i = tid & 127;
    if (i < hd && q0 < T)
      part[((long)b * attn_cdiv(T, 64) + (q0 >> 6)) * ldq + h * hd + i] =
          ((sred[wg][0][i] + sred[wg][1][i]) + sred[wg][2][i]) + sred[wg][3][i];
  }
}
// ============================================================================ backward: dK, dV
// grid (B*Hk, ceil(T/128)), 128 threads, ATTN_DKV_SMEM dynamic shared memory; warp w owns key rows kb*128 + w*32 .. +31;
// the block walks the G query heads of its group and, per head, the 64-row query tiles from the diagonal on
// (16-query sub-tiles inside). K/V fragments stay in registers when they fit (head_dim <= 56), else are re-read.
template <int NDT>
__global__ void __launch_bounds__(128) attn_bwd_dkdv_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO,
                                                        const float* __restrict__ lse, const float* __restrict__ delta,
                                                        bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                                                        int koff, int voff, float sl2, float scale, const float* __restrict__ cs,
                                                        const float* __restrict__ sn, float* __restrict__ part) {
  constexpr int KF = NDT / 2, NKS = (NDT + 1) / 2;
  constexpr bool K8 = (NDT & 1) != 0, KREG = NDT <= 7;
  ATTN_DYN_SMEM(attn_dkv_smem);
  bf16* sKs = attn_dkv_smem;           // 128 rows
  bf16* sVs = sKs + 128 * ALDS;      // 128 rows
  bf16* sQ = sVs + 128 * ALDS;       // [2][64 rows]
  bf16* sO = sQ + 128 * ALDS;        // [2][64 rows]
  float* sL = reinterpret_cast<float*>(sO + 128 * ALDS);  // [2][64]
  float* sD = sL + 128;                                     // [2][64]
  const int kb = blockIdx.y, bk = blockIdx.x, b = bk / Hk, hk = bk % Hk, G = H / Hk;
  const int nch = hd >> 3, ldo = H * hd, tid = threadIdx.x;
  const bf16* Kg = qkv + (long)b * T * ldq + koff + hk * hd;
  const bf16* Vg = qkv + (long)b * T * ldq + voff + hk * hd;
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int qt0 = 2 * kb, nq = attn_cdiv(T, 64) - qt0, total = G * nq;
  ld_tile_async(sKs, Kg, ldq, kb * 128, T, nch);
  ld_tile_async(sKs + 64 * ALDS, Kg, ldq, kb * 128 + 64, T, nch);
  ld_tile_async(sVs, Vg, ldq, kb * 128, T, nch);
  ld_tile_async(sVs + 64 * ALDS, Vg, ldq, kb * 128 + 64, T, nch);
  // iteration it: query head hk*G + it / nq, query tile qt0 + it % nq
  auto stage = [&](int it, int bf) {
    const int h = hk * G + it / nq, qt = qt0 + it % nq;
    ld_tile_async(sQ + bf * 64 * ALDS, qkv + (long)b * T * ldq + h * hd, ldq, qt * 64, T, nch);
    ld_tile_async(sO + bf * 64 * ALDS, dO + (long)b * T * ldo + h * hd, ldo, qt * 64, T, nch);
  };
  // lse / delta of iteration it for row tid (tid < 64); rows past T get p = 0 through lse = +inf
  auto ldLD = [&](int it, float& l, float& d) {
    const int h = hk * G + it / nq, q = (qt0 + it % nq) * 64 + tid;
    const long bh = (long)b * H + h;
    l = q < T ? lse[bh * T + q] : INFINITY;
    d = q < T ? delta[bh * T + q] : 0.f;
  };
  stage(0, 0);
  // RoPE's table rows of the block's keys (cos, then sin: 128 rows of hd/2 floats each), for the epilogue
  float* sCs = sD + 128;
  if (cs)
    for (int i = tid; i < 2 * 128 * NDT; i += 128) {
      const int tb = i / (128 * NDT), r = (i / NDT) % 128, c4 = i % NDT, tt = min(kb * 128 + r, T - 1);
      cp_async16(reinterpret_cast<bf16*>(sCs + (tb * 128 + r) * NDT * 4 + c4 * 4),
                 reinterpret_cast<const bf16*>((tb ? sn : cs) + (long)tt * NDT * 4 + c4 * 4), true);
    }
  cp_commit();
  if (tid < 64) {
    float l, d;
    ldLD(0, l, d);
    sL[tid] = l;
    sD[tid] = d;
  }
  cp_wait<0>();
  __syncthreads();
  const int k0w = kb * 128 + warp * 32;
  uint32_t ka[2][NKS][4], va[2][NKS][4];
  auto loadKV = [&]() {
#pragma unroll
    for (int m = 0; m < 2; m++)
#pragma unroll
      for (int ks = 0; ks < NKS; ks++) {
        ldA2(ka[m][ks], sKs, warp * 32 + m * 16, ks * 16, lane);
        ldA2(va[m][ks], sVs, warp * 32 + m * 16, ks * 16, lane);
      }
  };
  if (KREG) loadKV();
  float dk[2][NDT][4], dv[2][NDT][4];
#pragma unroll
  for (int m = 0; m < 2; m++)
#pragma unroll
    for (int i = 0; i < NDT; i++)
      dk[m][i][0] = dk[m][i][1] = dk[m][i][2] = dk[m][i][3] = dv[m][i][0] = dv[m][i][1] = dv[m][i][2] = dv[m][i][3] = 0.f;
  for (int it = 0; it < total; it++) {
    const int buf = it & 1, qt = qt0 + it % nq;
    const bool more = it + 1 < total;
    float nL = 0.f, nD = 0.f;
    if (more) {
      stage(it + 1, buf ^ 1);
      if (tid < 64) ldLD(it + 1, nL, nD);  // stored after this iteration's work: the load latency is hidden
    }
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    const bf16* qs_ = sQ + buf * 64 * ALDS;
    const bf16* os_ = sO + buf * 64 * ALDS;
    const float* Lb = sL + buf * 64;
    const float* Db = sD + buf * 64;
#pragma unroll 1
    for (int c = 0; c < 4; c++) {  // 16-query sub-tiles (not unrolled: no spills at 255 registers for hd 56)
      const int qc0 = qt * 64 + c * 16;
      if (!attn_qk_any(qc0, 16, k0w)) continue;  // warp-uniform: every query of the sub-tile precedes every key
      // the sub-tile body, compiled twice: with the causal mask (diagonal sub-tiles only) and without
      auto subtile = [&](auto mskc) {
        constexpr bool MSK = decltype(mskc)::value;
        if (!KREG) loadKV();
        float st[2][2][4], dpt[2][2][4];
#pragma unroll
        for (int m = 0; m < 2; m++)
#pragma unroll
          for (int i = 0; i < 2; i++)
            st[m][i][0] = st[m][i][1] = st[m][i][2] = st[m][i][3] = dpt[m][i][0] = dpt[m][i][1] = dpt[m][i][2] = dpt[m][i][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KF; ks++) {
          uint32_t bb[4];
          ldBn(bb, qs_, c * 16, ks * 16, lane);
#pragma unroll
          for (int m = 0; m < 2; m++) {
            mma16816(st[m][0], ka[m][ks], bb);
            mma16816(st[m][1], ka[m][ks], bb + 2);
          }
          ldBn(bb, os_, c * 16, ks * 16, lane);
#pragma unroll
          for (int m = 0; m < 2; m++) {
            mma16816(dpt[m][0], va[m][ks], bb);
            mma16816(dpt[m][1], va[m][ks], bb + 2);
          }
        }
        if (K8) {  // matrices 0,1: Q rows 0-7 / 8-15, matrices 2,3: dO rows 0-7 / 8-15, head_dim columns KF*16..+7
          uint32_t bb[4];
          ldsm4(bb, (lane < 16 ? qs_ : os_) + (c * 16 + (lane & 15)) * ALDS + KF * 16);
#pragma unroll
          for (int m = 0; m < 2; m++) {
            mma16808(st[m][0], ka[m][KF], bb[0]);
            mma16808(st[m][1], ka[m][KF], bb[1]);
            mma16808(dpt[m][0], va[m][KF], bb[2]);
            mma16808(dpt[m][1], va[m][KF], bb[3]);
          }
        }
        uint32_t pta[2][4], dsa[2][4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++)
#pragma unroll
          for (int j = 0; j < 2; j++) {
            const int ql = c * 16 + nt * 8 + 2 * t + j;
            const float Lq = Lb[ql], Dq = Db[ql];
#pragma unroll
            for (int m = 0; m < 2; m++)
#pragma unroll
              for (int hh = 0; hh < 2; hh++) {
                float p = attn_ex2(fmaf(st[m][nt][2 * hh + j], sl2, -Lq));
                if (MSK && qt * 64 + ql < k0w + m * 16 + g + hh * 8) p = 0.f;
                st[m][nt][2 * hh + j] = p;
                dpt[m][nt][2 * hh + j] = p * (dpt[m][nt][2 * hh + j] - Dq);
              }
          }
#pragma unroll
        for (int m = 0; m < 2; m++)
#pragma unroll
          for (int nt = 0; nt < 2; nt++)
#pragma unroll
            for (int hh = 0; hh < 2; hh++) {
              pta[m][nt * 2 + hh] = pack2(st[m][nt][2 * hh], st[m][nt][2 * hh + 1]);
              dsa[m][nt * 2 + hh] = pack2(dpt[m][nt][2 * hh], dpt[m][nt][2 * hh + 1]);
            }
#pragma unroll
        for (int dp2 = 0; dp2 < 4; dp2++) {
          if (2 * dp2 >= NDT) continue;
          uint32_t bb[4];
          ldBk(bb, os_, dp2 * 16, c * 16, lane);
#pragma unroll
          for (int m = 0; m < 2; m++) {
            mma16816(dv[m][2 * dp2], pta[m], bb);
            if (2 * dp2 + 1 < NDT) mma16816(dv[m][2 * dp2 + 1], pta[m], bb + 2);
          }
          ldBk(bb, qs_, dp2 * 16, c * 16, lane);
#pragma unroll
          for (int m = 0; m < 2; m++) {
            mma16816(dk[m][2 * dp2], dsa[m], bb);
            if (2 * dp2 + 1 < NDT) mma16816(dk[m][2 * dp2 + 1], dsa[m], bb + 2);
          }
        }
      };
      if (attn_qk_mask(qc0, k0w)) subtile(attn_bool<true>{});
      else subtile(attn_bool<false>{});
    }
    if (more && tid < 64) {
      sL[(buf ^ 1) * 64 + tid] = nL;  // buffer buf^1 was last read in iteration it-1 (a barrier ago)
      sD[(buf ^ 1) * 64 + tid] = nD;
    }
    __syncthreads();
  }
  // epilogue: dk (scaled; with cs, RoPE's backward applied) and dv to bf16; with part, the column sums of the bf16 dk and
  // dv over each 64-row half of the block (the k / v bias gradients' partials: part rows b * ceil(T/64) + 2 kb, + 1).
  // The sums go per 16-row m-tile through the warp (fixed order) into sred, so no per-thread sums stay live
  __shared__ float sred[4][2][64];  // per warp: column sums of dk, dv over its 32 rows
  auto colsum = [&](const uint32_t (&u)[NDT], bool in0, const uint32_t (&u1)[NDT], bool in1, int wv, int m) {
#pragma unroll
    for (int dt = 0; dt < NDT; dt++) {
      const float v0 = attn_sum_g((in0 ? attn_lo(u[dt]) : 0.f) + (in1 ? attn_lo(u1[dt]) : 0.f));
      const float v1 = attn_sum_g((in0 ? attn_hi(u[dt]) : 0.f) + (in1 ? attn_hi(u1[dt]) : 0.f));
      if (g == 0) {
        float* d = &sred[warp][wv][8 * dt + 2 * t];
        d[0] = m ? d[0] + v0 : v0;
        d[1] = m ? d[1] + v1 : v1;
      }
    }
  };
#pragma unroll
  for (int m = 0; m < 2; m++) {
    uint32_t uv[2][NDT], uk[2][NDT];
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      const int k = k0w + m * 16 + g + hh * 8;
      float x[NDT][2];
#pragma unroll
      for (int dt = 0; dt < NDT; dt++) x[dt][0] = dk[m][dt][2 * hh] * scale, x[dt][1] = dk[m][dt][2 * hh + 1] * scale;
      if (cs) {
        float c[NDT][2], sv[NDT][2];
        attn_rope_ld<NDT>(sCs, sCs + 128 * NDT * 4, k - kb * 128, t, c, sv);
        attn_rope_apply<NDT>(x, c, sv, t);
      }
      bf16* pk = dqkv + ((long)b * T + k) * ldq + koff + hk * hd + 2 * t;
      bf16* pv = dqkv + ((long)b * T + k) * ldq + voff + hk * hd + 2 * t;
#pragma unroll
      for (int dt = 0; dt < NDT; dt++) {
        uk[hh][dt] = pack2(x[dt][0], x[dt][1]);
        uv[hh][dt] = pack2(dv[m][dt][2 * hh], dv[m][dt][2 * hh + 1]);
        if (k < T) {
          *reinterpret_cast<uint32_t*>(pk + dt * 8) = uk[hh][dt];
          *reinterpret_cast<uint32_t*>(pv + dt * 8) = uv[hh][dt];
        }
      }
    }
    if (part) {
      const int k = k0w + m * 16 + g;
      colsum(uk[0], k < T, uk[1], k + 8 < T, 0, m);
      colsum(uv[0], k < T, uv[1], k + 8 < T, 1, m);
    }
  }
  if (part) {
    __syncthreads();
    const int nbT = attn_cdiv(T, 64);
    if (tid < 2 * hd) {
      const int wv = tid >= hd, col = tid - wv * hd;
#pragma unroll
      for (int j = 0; j < 2; j++)
        if (2 * kb + j < nbT)
          part[((long)b * nbT + 2 * kb + j) * ldq + (wv ? voff : koff) + hk * hd + col] =
              sred[2 * j][wv][col] + sred[2 * j + 1][wv][col];
    }
  }
}

// ============================================================================ launchers (g_stream, no sync)
#ifndef ATTN_EMU
// qkv [B*T, ldq] (q heads at column 0, then the k heads, then the v heads; or dO [B*T, H*hd]) as the 4-D tensor
// [B][T][ldq/hd][hd] for the copy engine: boxes of 64 columns (past hd: zero fill) x 1 head x `rows` rows x 1 batch, 128-byte swizzle
static CUtensorMap attnQkvMap(const bf16* qkv, int B, int T, int hd, int ldq, int rows) {
  static PFN_cuTensorMapEncodeTiled_v12000 enc = nullptr;
  if (!enc) {
    cudaDriverEntryPointQueryResult q;
    CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&enc), 12000, cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess || !enc) throw std::runtime_error("cuTensorMapEncodeTiled not found in the CUDA driver");
  }
  CUtensorMap m;
  const cuuint64_t dims[4] = {(cuuint64_t)hd, (cuuint64_t)(ldq / hd), (cuuint64_t)T, (cuuint64_t)B};
  const cuuint64_t strides[3] = {(cuuint64_t)hd * 2, (cuuint64_t)ldq * 2, (cuuint64_t)T * ldq * 2};
  const cuuint32_t box[4] = {64, 1, (cuuint32_t)rows, 1}, es[4] = {1, 1, 1, 1};
  const CUresult r = enc(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<bf16*>(qkv), dims, strides, box, es,
                         CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                         CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw std::runtime_error("cuTensorMapEncodeTiled failed (" + std::to_string((int)r) + ")");
  return m;
}
// the dQ kernel (it also writes delta); NC / NS / MINB: attn_bwd_dq_k's shape (dev/attn-ab.cu times others)
template <int NDT, int NC = 3, int NS = 4, int MINB = 1>
static void attnBackwardDq(const bf16* qkv, const bf16* O, const bf16* dO, const float* lse, float* delta, bf16* dqkv, int B,
                           int T, int H, int Hk, int hd, int ldq, float sl2, float scale, const float* cs, const float* sn,
                           float* part) {
  static bool attrSet = false;  // one per instantiation
  if (!attrSet) {
    CK(cudaFuncSetAttribute(attn_bwd_dq_k<NDT * 8, NC, NS, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_DQ_SMEM(NC, NS)));
    attrSet = true;
  }
  const CUtensorMap mq = attnQkvMap(qkv, B, T, hd, ldq, 64), mo = attnQkvMap(dO, B, T, hd, H * hd, 64);
  attn_bwd_dq_k<NDT * 8, NC, NS, MINB><<<dim3(B * H, attn_cdiv(T, 64 * NC)), 128 * (NC + 1), ATTN_DQ_SMEM(NC, NS), g_stream>>>(
      mq, mo, O, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, sl2, scale, cs, sn, part);
  KCHECK("attn_bwd_dq");
}
template <int NDT>
static void attnBackwardT(const bf16* qkv, const bf16* O, const bf16* dO, const float* lse, float* delta, bf16* dqkv, int B,
                          int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale, const float* cs,
                          const float* sn, float* part) {
  static bool attrSet = false;  // one per instantiation
  if (!attrSet) {
    CK(cudaFuncSetAttribute(attn_bwd_dkdv_k<NDT>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_DKV_SMEM_ROPE(NDT)));
    attrSet = true;
  }
  attnBackwardDq<NDT>(qkv, O, dO, lse, delta, dqkv, B, T, H, Hk, hd, ldq, sl2, scale, cs, sn, part);
  attn_bwd_dkdv_k<NDT><<<dim3(B * Hk, attn_cdiv(T, 128)), 128, cs ? ATTN_DKV_SMEM_ROPE(NDT) : ATTN_DKV_SMEM, g_stream>>>(qkv, dO, lse, delta, dqkv, T, H, Hk, hd,
                                                                                  ldq, koff, voff, sl2, scale, cs, sn, part);
  KCHECK("attn_bwd_dkdv");
}
// qkv [B*T, ldq] bf16 with q at column 0, k at koff = H*hd, v at voff = (H+Hk)*hd (RoPE applied); out [B*T, H*hd];
// lse [B, H, T] (base 2). NC / BN / NS / MINB: attn_fwd_k's shape (dev/attn-ab.cu times others)
template <int NC = 2, int BN = 64, int NS = 4, int MINB = 2>
static void attnForward(const bf16* qkv, bf16* out, float* lse, int B, int T, int H, int Hk, int hd, int ldq, int koff,
                        int voff, float sl2) {
  if (koff != H * hd || voff != (H + Hk) * hd || ldq != (H + 2 * Hk) * hd)
    throw std::runtime_error("attnForward: q, k, v must be adjacent head blocks of qkv");
  const dim3 grid(B * H, attn_cdiv(T, 64 * NC));
  const CUtensorMap mq = attnQkvMap(qkv, B, T, hd, ldq, 64), mkv = attnQkvMap(qkv, B, T, hd, ldq, BN);
  NDT_SWITCH(hd, ({
    static bool attrSet = false;  // one per instantiation
    if (!attrSet) {
      CK(cudaFuncSetAttribute(attn_fwd_k<N_ * 8, NC, BN, NS, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              ATTN_FWD_SMEM(NC, BN, NS)));
      attrSet = true;
    }
    attn_fwd_k<N_ * 8, NC, BN, NS, MINB><<<grid, 128 * (NC + 1), ATTN_FWD_SMEM(NC, BN, NS), g_stream>>>(mq, mkv, out, lse, T, H, Hk, hd, sl2);
  }));
  KCHECK("attn_fwd");
}
// dO and the forward's out/lse -> dqkv (every q/k/v column written); delta: scratch [B, H, T] (rowsum(dO * out), written
// by the dQ kernel, read by the dK/dV kernel). cs / sn (RoPE's cos / sin tables [T][hd/2], or null): dq and dk come out
// through RoPE's backward (the gradients of the q / k columns before the rotation). part (null, or B * ceil(T/64) rows of
// ldq floats): every column of row b * ceil(T/64) + i gets the sum of the bf16 d[q|k|v] over the sequence's rows
// 64 i .. 64 i + 63 (the q/k/v bias gradient's partials; colreduce_k sums them in order).
static void attnBackward(const bf16* qkv, const bf16* out, const bf16* dO, const float* lse, float* delta, bf16* dqkv, int B,
                         int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale,
                         const float* cs = nullptr, const float* sn = nullptr, float* part = nullptr) {
  if (koff != H * hd || voff != (H + Hk) * hd || ldq != (H + 2 * Hk) * hd)
    throw std::runtime_error("attnBackward: q, k, v must be adjacent head blocks of qkv");
  NDT_SWITCH(hd, (attnBackwardT<N_>(qkv, out, dO, lse, delta, dqkv, B, T, H, Hk, hd, ldq, koff, voff, sl2, scale, cs, sn, part)));
}
#endif  // ATTN_EMU
