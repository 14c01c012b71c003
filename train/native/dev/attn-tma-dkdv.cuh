// Dev candidate, not in the addon: dK/dV on the forward's and dQ's structure (issue 16, session 8). A producer warpgroup
// loads the block's K and V rows (NC x 64) with the bulk tensor copy, then streams the (query head, 64-query tile) pairs
// of the block's group through an NS-stage ring: Q and dO tiles by the copy engine, the tile's lse and delta rows by the
// producer warp's lanes (plain loads and shared stores, published by the mbarrier arrive); NC consumer warpgroups own 64
// key rows each and keep the wgmma candidate's in-warpgroup pipeline (attn-wg-bwd.cuh: S^T = K Q^T and dP^T = V dO^T
// from shared memory, P^T / dS^T in registers, dV += P^T dO and dK += dS^T Q) and attn_bwd_dkdv_k's epilogue (RoPE's
// backward on dk given the tables, the k / v bias partials per 64 rows). Same outputs as attn_bwd_dkdv_k (attn-ab.cu).
#pragma once
#include "../attention.cuh"

#define ATTN_TDKV_SMEM(NC, NS) (1024 + (NC) * 2 * 64 * 128 + (NS) * (2 * 64 * 128 + 2 * 64 * 4) + 1024)
template <int HDN, int NC, int NS, int MINB>
__global__ void __launch_bounds__(128 * (NC + 1), MINB)
    attn_bwd_dkdv_tma_k(const __grid_constant__ CUtensorMap mq, const __grid_constant__ CUtensorMap mo,
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
  reg_alloc<(attn_fwd_cap(128 * (NC + 1), MINB) + (attn_fwd_cap(128 * (NC + 1), MINB) - 40) / NC) / 8 * 8 < 240
                ? (attn_fwd_cap(128 * (NC + 1), MINB) + (attn_fwd_cap(128 * (NC + 1), MINB) - 40) / NC) / 8 * 8
                : 240>();
  const int wg = wgi - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int k0 = kb * BM + wg * 64, kr = k0 + warp * 16 + g;  // this thread's key rows kr, kr + 8
  const uint64_t dKd = wg_desc(sK + wg * 4096), dVd = wg_desc(sV + wg * 4096);
  float dk[NO], dv[NO], st[32], dpt[32];
#pragma unroll
  for (int i = 0; i < NO; i++) dk[i] = dv[i] = 0.f;
  uint32_t pta[4][4], dsa[4][4];
  auto issue_sdp = [&](int it) {
    const int s = it % NS;
    mbar_wait(full + s, (it / NS) & 1);
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
  auto dscores = [&](int it) {  // S^T, dP^T complete -> P^T in st, dS^T in dpt (fp32); columns are queries
    wg_reg_fence<32>(st);
    wg_reg_fence<32>(dpt);
    const int s = it % NS, qt = qt0 + it % nq;
    const float* Lb = sL + s * 64;
    const float* Db = sD + s * 64;
    const bool msk = qt * 64 < k0 + 63;  // the diagonal crosses the rows (queries past T: lse +inf)
#pragma unroll
    for (int jn = 0; jn < 8; jn++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int ql = 8 * jn + 2 * t + c, q = qt * 64 + ql;
        const float Lq = Lb[ql], Dq = Db[ql];
#pragma unroll
        for (int hh = 0; hh < 2; hh++) {
          const int i = 4 * jn + 2 * hh + c;
          float p = attn_ex2(fmaf(st[i], sl2, -Lq));
          if (msk && q < kr + 8 * hh) p = 0.f;
          st[i] = p;
          dpt[i] = p * (dpt[i] - Dq);
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
  wg_fence();
  issue_sdp(0);
  wg_wait<0>();
  dscores(0);
  pack();
  for (int it = 1; it < total; it++) {
    wg_fence();
    issue_sdp(it);
    issue_dkdv(it - 1);
    wg_wait<1>();
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
  // epilogue (as attn_bwd_dkdv_k's): dk scaled (with cs, RoPE's backward applied) and dv to bf16; with part, the column
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
#ifndef ATTN_EMU
template <int NC, int NS, int MINB>
static void attnDkdvTma(const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int B, int T, int H,
                        int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale, const float* cs = nullptr,
                        const float* sn = nullptr, float* part = nullptr) {
  const CUtensorMap mq = attnQkvMap(qkv, B, T, hd, ldq, 64), mo = attnQkvMap(dO, B, T, hd, H * hd, 64);
  NDT_SWITCH(hd, ({
    static bool attrSet = false;
    if (!attrSet) {
      CK(cudaFuncSetAttribute(attn_bwd_dkdv_tma_k<N_ * 8, NC, NS, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_TDKV_SMEM(NC, NS)));
      attrSet = true;
    }
    attn_bwd_dkdv_tma_k<N_ * 8, NC, NS, MINB><<<dim3(B * Hk, attn_cdiv(T, 64 * NC)), 128 * (NC + 1), ATTN_TDKV_SMEM(NC, NS)>>>(
        mq, mo, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale, cs, sn, part);
  }));
  KCHECK("attn_bwd_dkdv_tma");
}
#endif  // ATTN_EMU
