// Dev candidate, not in the addon: the dQ kernel (attention.cuh's attn_bwd_dq_k, delta and the RoPE / bias epilogue
// included) on the forward's structure: a producer warpgroup loads each consumer's Q and dO tiles and the 64-key K / V
// tiles with the bulk tensor copy into an NS-stage mbarrier ring (one full barrier per stage for K and V, empty barriers
// counted by the consumer warps once the stage's dQ product is done), setmaxnreg hands the producer's registers to NC
// consumer warpgroups of 64 query rows each, which keep attn_bwd_dq_k's in-warpgroup pipeline (S_j, dP_j and
// dS_{j-1} K_{j-1} issued back to back). Same outputs as attn_bwd_dq_k (timed against it in attn-ab.cu).
#pragma once
#include "../attention.cuh"

#define ATTN_TDQ_SMEM(NC, NS) (1024 + (NC) * 2 * 64 * 128 + (NS) * 2 * 64 * 128 + 1024)  // Q, dO per consumer; K, V ring
// grid (B*H, ceil(T/(64 NC))), 128 (NC + 1) threads; mq: qkv map (64-row boxes), mo: dO map (64-row boxes)
template <int HDN, int NC, int NS, int MINB>
__global__ void __launch_bounds__(128 * (NC + 1), MINB)
    attn_bwd_dq_tma_k(const __grid_constant__ CUtensorMap mq, const __grid_constant__ CUtensorMap mo, const bf16* __restrict__ O,
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
#ifndef ATTN_EMU
template <int NC, int NS, int MINB>
static void attnDqTma(const bf16* qkv, const bf16* O, const bf16* dO, const float* lse, float* delta, bf16* dqkv, int B, int T,
                      int H, int Hk, int hd, int ldq, float sl2, float scale, const float* cs, const float* sn, float* part) {
  const CUtensorMap mq = attnQkvMap(qkv, B, T, hd, ldq, 64), mo = attnQkvMap(dO, B, T, hd, H * hd, 64);
  NDT_SWITCH(hd, ({
    static bool attrSet = false;
    if (!attrSet) {
      CK(cudaFuncSetAttribute(attn_bwd_dq_tma_k<N_ * 8, NC, NS, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_TDQ_SMEM(NC, NS)));
      attrSet = true;
    }
    attn_bwd_dq_tma_k<N_ * 8, NC, NS, MINB><<<dim3(B * H, attn_cdiv(T, 64 * NC)), 128 * (NC + 1), ATTN_TDQ_SMEM(NC, NS)>>>(
        mq, mo, O, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, sl2, scale, cs, sn, part);
  }));
  KCHECK("attn_bwd_dq_tma");
}
#endif  // ATTN_EMU
