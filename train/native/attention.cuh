// Attention: causal, GQA, head_dim a multiple of 8 up to 64, any T; deterministic (no atomics, every reduction in a
// fixed order). All three kernels on FlashAttention-3's structure (a TMA producer warpgroup, an mbarrier ring of tiles,
// consumer warpgroups on wgmma with setmaxnreg): the forward saves the base-2 log-sum-exp per row; the backward = one dQ
// kernel per query block (it also computes delta = rowsum(dO*O) for its rows) + one dK/dV kernel per key block (reading
// that delta), both recomputing P from the saved log-sum-exp. The forward and dQ walk the grid's slow axis from the
// longest query block down; dK/dV from key block 0 (the longest) up.
// Softmax in base 2 with the pre-scaled log2(e)·scale (sl2) folded into one FMA per element.
// RoPE's backward (given its tables) is applied in the dQ and dK/dV epilogues, which also write the q/k/v bias gradient's
// column partials per 64 rows (attn_rope_ld / attn_rope_apply, attn_sum_g; rope.cuh has the forward).
// An earlier wgmma dK/dV candidate is in dev/attn-wg-bwd.cuh (not faster; see train/native/README.md); the mma.sync
// (FlashAttention-2 style) kernels this file had before are in git history.
// Checks: gpu-check `attn` (every kernel vs float64 on the GPU) and emu/attention-emu.test.ts (every kernel on the CPU).
#pragma once
#include "tile.cuh"
#ifndef ATTN_EMU
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#endif

// ---- tiling (host-callable too, for emulation)
__host__ __device__ __forceinline__ int attn_cdiv(int a, int b) { return (a + b - 1) / b; }

#ifndef ATTN_EMU  // ATTN_EMU: compiled on the host by the lane-level emulator (emu/)
#define ATTN_WG_SMEM(name) extern __shared__ __align__(1024) unsigned char name[]  // aligned to 1 KB in the kernel
// 2^x as the bare MUFU.EX2: exp2f compiles to ex2.approx.f32, whose denormal-result handling adds 3 instructions per
// call; here results below 2^-126 flush to 0 (no effect on bf16 P / fp32 sums of values <= 256)
__device__ __forceinline__ float attn_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ void attn_ld2f(const float* p, float& a, float& b) {
  const float2 v = *reinterpret_cast<const float2*>(p);  // the global tables
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
// released share (it keeps `keep`: 24, or 40 in dK/dV, whose producer lanes run a loop), multiple of 8, at most 240
__host__ __device__ constexpr int attn_fwd_cap(int threads, int minb) { return (65536 / (threads * minb) / 8 * 8) > 255 ? 248 : (65536 / (threads * minb) / 8 * 8); }
__host__ __device__ constexpr int attn_fwd_creg(int nc, int minb, int keep = 24) {
  return (attn_fwd_cap(128 * (nc + 1), minb) + (attn_fwd_cap(128 * (nc + 1), minb) - keep) / nc) / 8 * 8 > 240
             ? 240
             : (attn_fwd_cap(128 * (nc + 1), minb) + (attn_fwd_cap(128 * (nc + 1), minb) - keep) / nc) / 8 * 8;
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
  // the mbarrier waits come before each wgmma.fence: a wait (a loop) between the fence and a wgmma makes ptxas insert
  // a warpgroup arrive in a divergent path and serialise every wgmma of the kernel (C7520). Measured (H200, 2026-12-05,
  // dev/attn-ab.cu against the waits inside the issue): B8 T2048 H32 hd56 0.4631 -> 0.4339 ms, bit-identical
  auto wait_k = [&](int j) { mbar_wait(fullK + j % NS, (j / NS) & 1); };
  auto wait_v = [&](int j) { mbar_wait(fullV + j % NS, (j / NS) & 1); };
  auto issue_s = [&](int j) {
    const uint64_t dK = wg_desc(sK + (j % NS) * BN * 64);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss<BN>(s, dQ + 2 * kk, dK + 2 * kk, kk);
    wg_commit();
  };
  auto issue_pv = [&](int j) {
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
  wait_k(0);
  wg_fence();
  issue_s(0);
  wg_wait<0>();
  softmax(0, al);
  pack_p();
  for (int j = 1; j <= mylast; j++) {
    wait_k(j);
    wait_v(j - 1);
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
  wait_v(mylast);
  wg_fence();
  issue_pv(mylast);
  wg_wait<0>();
  release(mylast);
  for (int j = mylast + 1; j <= last; j++) {  // tiles above this warpgroup's rows: released once loaded
    wait_k(j);
    wait_v(j);
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
// ============================================================================ backward: dK, dV (TMA + wgmma, sm_90a; emulated)
// The forward's and dQ's structure. grid (B*Hk, ceil(T/(64 NC))), 128 (NC + 1) threads, ATTN_DKV_SMEM(NC, NS), MINB
// blocks per SM (production: NC 2, NS 4, 1 block per SM). Warpgroup 0 is the producer: its thread 0 loads the block's K
// and V rows (64 per consumer) with the bulk tensor copy (mq: 64-row boxes), then streams the (query head, 64-query
// tile) pairs of the block's GQA group, from the block's diagonal on, through an NS-stage ring: the Q and dO tiles by the
// copy engine (mq, mo), the tile's lse and delta rows by the producer warp's lanes (plain loads and shared stores; rows
// past T get lse +inf, so p = 0, and delta 0), published by the stage's full-barrier arrive; empty barriers count the
// consumer warps done with a stage. Warpgroups 1 .. NC are consumers of 64 key rows each (dK and dV in their
// accumulators): per stage S^T = K Q^T and dP^T = V dO^T (both operands in shared memory), P^T and dS^T = P^T (dP^T -
// delta) in registers (P recomputed from the saved log-sum-exp, masked where the diagonal crosses the rows), dV += P^T dO
// and dK += dS^T Q (A from registers, dO / Q MN-major); iteration it issues S^T, dP^T of stage it and the dV / dK
// products of stage it - 1 back to back and computes P^T, dS^T while the tensor cores do the products. Epilogue: dk
// scaled (with cs, RoPE's backward, the tables' rows loaded while the last product runs) and dv to bf16; with part, the
// column sums of the bf16 dk and dv over each consumer's 64 rows (the k / v bias gradients' partials).
// Measured (H200, 2026-12-04, dev/attn-ab.cu, B8 T2048 H32 hd56, without RoPE / partials) against the mma.sync dK/dV
// kernel it replaced (FlashAttention-2 style, 4 warps of 32 key rows, cp.async double buffer): 0.916 / 0.946 -> 0.755 /
// 0.743 ms, bit-identical (dk, dv; the epilogue is that kernel's, emulator-checked).
#define ATTN_DKV_SMEM(NC, NS) (1024 + (NC) * 2 * 64 * 128 + (NS) * (2 * 64 * 128 + 2 * 64 * 4) + 1024)  // K, V; Q, dO, lse, delta ring
template <int HDN, int NC = 2, int NS = 4, int MINB = 1>
__global__ void __launch_bounds__(128 * (NC + 1), MINB)
    attn_bwd_dkdv_k(const __grid_constant__ CUtensorMap mq, const __grid_constant__ CUtensorMap mo,
                        const float* __restrict__ lse, const float* __restrict__ delta, bf16* __restrict__ dqkv, int T, int H,
                        int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale, const float* __restrict__ cs,
                        const float* __restrict__ sn, float* __restrict__ part) {
  constexpr int BM = 64 * NC, NO = HDN / 2, KS = (HDN + 15) / 16, NDT = HDN / 8;
  ATTN_WG_SMEM(attn_wg_raw);
  bf16* sK = reinterpret_cast<bf16*>(((uintptr_t)attn_wg_raw + 1023) & ~(uintptr_t)1023);  // BM rows
  bf16* sV = sK + BM * 64;                                                                   // BM rows
  bf16* sQ = sV + BM * 64;                                                                   // [NS][64 rows]
  bf16* sO = sQ + NS * 4096;                                                                 // [NS][64 rows] (dO)
  float* sL = reinterpret_cast<float*>(sO + NS * 4096);                                      // [NS][64]
  float* sD = sL + NS * 64;                                                                  // [NS][64]
  uint64_t* bar = reinterpret_cast<uint64_t*>(sD + NS * 64);  // K/V, full[NS], empty[NS]
  uint64_t *barKV = bar, *full = bar + 1, *empty = bar + 1 + NS;
  __shared__ float sred[NC][4][2][64];  // per consumer warp: column sums of its bf16 dk, dv rows
  const int kb = blockIdx.y, bk = blockIdx.x, b = bk / Hk, hk = bk % Hk, G = H / Hk;
  const int tid = threadIdx.x, wgi = tid >> 7;
  const int qt0 = kb * NC, nq = attn_cdiv(T, 64) - qt0, total = G * nq;
  if (tid == 0) {
    mbar_init(barKV, 1);
    for (int s = 0; s < NS; s++) mbar_init(full + s, 1), mbar_init(empty + s, 4 * NC);
    mbar_fence_init();
  }
  __syncthreads();
  if (wgi == 0) {  // producer: warp 0
    reg_dealloc<40>();  // the lanes' loop needs more than 24
    if (tid < 32) {
      if (tid == 0) {
        mbar_expect_tx(barKV, 2 * BM * 128);
#pragma unroll
        for (int i = 0; i < NC; i++) {
          tma_load4(sK + i * 4096, &mq, barKV, 0, H + hk, kb * BM + i * 64, b);
          tma_load4(sV + i * 4096, &mq, barKV, 0, H + Hk + hk, kb * BM + i * 64, b);
        }
      }
      for (int it = 0; it < total; it++) {
        const int s = it % NS, h = hk * G + it / nq, qt = qt0 + it % nq;
        if (it >= NS) mbar_wait(empty + s, ((it / NS) & 1) ^ 1);
        const long o = ((long)b * H + h) * T + qt * 64;
#pragma unroll
        for (int u = 0; u < 2; u++) {  // rows past T: lse +inf (p = 0), delta 0
          const int r = tid + 32 * u, q = qt * 64 + r;
          sL[s * 64 + r] = q < T ? lse[o + r] : INFINITY;
          sD[s * 64 + r] = q < T ? delta[o + r] : 0.f;
        }
        __syncwarp();
        if (tid == 0) {
          mbar_expect_tx(full + s, 2 * 64 * 128);  // its arrive releases the lanes' stores above
          tma_load4(sQ + s * 4096, &mq, full + s, 0, h, qt * 64, b);
          tma_load4(sO + s * 4096, &mo, full + s, 0, h, qt * 64, b);
        }
      }
    }
    return;
  }
  reg_alloc<attn_fwd_creg(NC, MINB, 40)>();
  const int wg = wgi - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int k0 = kb * BM + wg * 64, kr = k0 + warp * 16 + g;  // this thread's key rows kr, kr + 8
  const uint64_t dKd = wg_desc(sK + wg * 4096), dVd = wg_desc(sV + wg * 4096);
  float dk[NO], dv[NO], st[32], dpt[32];
#pragma unroll
  for (int i = 0; i < NO; i++) dk[i] = dv[i] = 0.f;
  uint32_t pta[4][4], dsa[4][4];
  // the stage's mbarrier wait comes before the wgmma.fence (see the forward; here -0.9% at steel-1b's shape, and P and
  // dS in two passes; the same change made the dQ kernel 7% slower, so dQ keeps its wait inside issue_sdp)
  auto wait_full = [&](int it) { mbar_wait(full + it % NS, (it / NS) & 1); };
  auto issue_sdp = [&](int it) {
    const int s = it % NS;
    const uint64_t dQ = wg_desc(sQ + s * 4096), dOt = wg_desc(sO + s * 4096);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(st, dKd + 2 * kk, dQ + 2 * kk, kk);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(dpt, dVd + 2 * kk, dOt + 2 * kk, kk);
    wg_commit();
  };
  auto issue_dkdv = [&](int it) {
    const int s = it % NS;
    const uint64_t dQ = wg_desc(sQ + s * 4096), dOt = wg_desc(sO + s * 4096);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_rs<HDN>(dv, pta[kk], dOt + kk * (2048 >> 4), 1);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_rs<HDN>(dk, dsa[kk], dQ + kk * (2048 >> 4), 1);
    wg_commit();
  };
  auto release = [&](int it) {
    if (lane == 0) mbar_arrive(empty + it % NS);
  };
  auto probs = [&](int it) {  // S^T complete -> P^T in st (fp32); columns are queries
    wg_reg_fence<32>(st);
    const int qt = qt0 + it % nq;
    const float* Lb = sL + (it % NS) * 64;
    const bool msk = qt * 64 < k0 + 63;  // the diagonal crosses the rows (queries past T: lse +inf)
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int ql = 8 * jn + 2 * t + c, q = qt * 64 + ql;
        const float Lq = Lb[ql];
#pragma unroll
        for (int hh = 0; hh < 2; hh++) {
          const int i = 4 * jn + 2 * hh + c;
          float p = attn_ex2(fmaf(st[i], sl2, -Lq));
          if (msk && q < kr + 8 * hh) p = 0.f;
          st[i] = p;
        }
      }
  };
  auto dscores = [&](int it) {  // P^T in st, dP^T complete -> dS^T in dpt (fp32)
    wg_reg_fence<32>(dpt);
    const float* Db = sD + (it % NS) * 64;
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const float Dq = Db[8 * jn + 2 * t + c];
#pragma unroll
        for (int hh = 0; hh < 2; hh++) {
          const int i = 4 * jn + 2 * hh + c;
          dpt[i] = st[i] * (dpt[i] - Dq);
        }
      }
  };
  auto pack = [&]() {
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int hh = 0; hh < 2; hh++) {
        pta[jn >> 1][(jn & 1) * 2 + hh] = pack2(st[4 * jn + 2 * hh], st[4 * jn + 2 * hh + 1]);
        dsa[jn >> 1][(jn & 1) * 2 + hh] = pack2(dpt[4 * jn + 2 * hh], dpt[4 * jn + 2 * hh + 1]);
      }
  };
  mbar_wait(barKV, 0);
  wait_full(0);
  wg_fence();
  issue_sdp(0);
  wg_wait<0>();
  probs(0);
  dscores(0);
  pack();
  for (int it = 1; it < total; it++) {
    wait_full(it);
    wg_fence();
    issue_sdp(it);
    issue_dkdv(it - 1);
    wg_wait<1>();
    probs(it);
    dscores(it);
    wg_wait<0>();
    release(it - 1);
    wg_reg_fence<NO>(dk);
    wg_reg_fence<NO>(dv);
    pack();
  }
  wg_fence();
  issue_dkdv(total - 1);
  float rc[2][NDT][2], rsn[2][NDT][2];  // RoPE's table entries of rows kr, kr + 8, loaded while the last product runs
  if (cs)
#pragma unroll
    for (int hh = 0; hh < 2; hh++) attn_rope_ld<NDT>(cs, sn, min(kr + 8 * hh, T - 1), t, rc[hh], rsn[hh]);
  wg_wait<0>();
  release(total - 1);
  wg_reg_fence<NO>(dk);
  wg_reg_fence<NO>(dv);
  // epilogue: dk scaled (with cs, RoPE's backward applied) and dv to bf16; with part, the column
  // sums of the bf16 dk and dv over this warpgroup's 64 rows (part row b * ceil(T/64) + k0 / 64)
  float csk[NDT][2], csv[NDT][2];  // column sums of the bf16 dk, dv of rows kr, kr + 8
#pragma unroll
  for (int jn = 0; jn < NDT; jn++) csk[jn][0] = csk[jn][1] = csv[jn][0] = csv[jn][1] = 0.f;
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    const int k = kr + 8 * hh;
    float x[NDT][2];
#pragma unroll
    for (int jn = 0; jn < NDT; jn++) x[jn][0] = dk[4 * jn + 2 * hh] * scale, x[jn][1] = dk[4 * jn + 2 * hh + 1] * scale;
    if (cs) attn_rope_apply<NDT>(x, rc[hh], rsn[hh], t);
    bf16* pk = dqkv + ((long)b * T + k) * ldq + koff + hk * hd + 2 * t;
    bf16* pv = dqkv + ((long)b * T + k) * ldq + voff + hk * hd + 2 * t;
#pragma unroll
    for (int jn = 0; jn < NDT; jn++) {
      const uint32_t uk = pack2(x[jn][0], x[jn][1]), uv = pack2(dv[4 * jn + 2 * hh], dv[4 * jn + 2 * hh + 1]);
      if (k < T) {
        *reinterpret_cast<uint32_t*>(pk + jn * 8) = uk;
        *reinterpret_cast<uint32_t*>(pv + jn * 8) = uv;
        csk[jn][0] += attn_lo(uk), csk[jn][1] += attn_hi(uk), csv[jn][0] += attn_lo(uv), csv[jn][1] += attn_hi(uv);
      }
    }
  }
  if (part) {
#pragma unroll
    for (int jn = 0; jn < NDT; jn++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const float a = attn_sum_g(csk[jn][e]), c = attn_sum_g(csv[jn][e]);
        if (g == 0) sred[wg][warp][0][8 * jn + 2 * t + e] = a, sred[wg][warp][1][8 * jn + 2 * t + e] = c;
      }
    wg_bar(1 + wg);  // this warpgroup's 4 warps (the producer has left)
    const int i = tid & 127, wv = i >= 64, col = i & 63;
    if (col < hd && k0 < T)
      part[((long)b * attn_cdiv(T, 64) + (k0 >> 6)) * ldq + (wv ? voff : koff) + hk * hd + col] =
          ((sred[wg][0][wv][col] + sred[wg][1][wv][col]) + sred[wg][2][wv][col]) + sred[wg][3][wv][col];
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
// the dK/dV kernel (reads the delta the dQ kernel wrote); NC / NS / MINB: attn_bwd_dkdv_k's shape (dev/attn-ab.cu times others)
template <int NDT, int NC = 2, int NS = 4, int MINB = 1>
static void attnBackwardDkdv(const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int B, int T,
                             int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale, const float* cs,
                             const float* sn, float* part) {
  static bool attrSet = false;  // one per instantiation
  if (!attrSet) {
    CK(cudaFuncSetAttribute(attn_bwd_dkdv_k<NDT * 8, NC, NS, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_DKV_SMEM(NC, NS)));
    attrSet = true;
  }
  const CUtensorMap mq = attnQkvMap(qkv, B, T, hd, ldq, 64), mo = attnQkvMap(dO, B, T, hd, H * hd, 64);
  attn_bwd_dkdv_k<NDT * 8, NC, NS, MINB><<<dim3(B * Hk, attn_cdiv(T, 64 * NC)), 128 * (NC + 1), ATTN_DKV_SMEM(NC, NS), g_stream>>>(
      mq, mo, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale, cs, sn, part);
  KCHECK("attn_bwd_dkdv");
}
template <int NDT>
static void attnBackwardT(const bf16* qkv, const bf16* O, const bf16* dO, const float* lse, float* delta, bf16* dqkv, int B,
                          int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale, const float* cs,
                          const float* sn, float* part) {
  attnBackwardDq<NDT>(qkv, O, dO, lse, delta, dqkv, B, T, H, Hk, hd, ldq, sl2, scale, cs, sn, part);
  attnBackwardDkdv<NDT>(qkv, dO, lse, delta, dqkv, B, T, H, Hk, hd, ldq, koff, voff, sl2, scale, cs, sn, part);
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
