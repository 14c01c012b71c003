// Dev candidate, not in the addon: the dK/dV attention backward on wgmma (the forward's tiles, swizzled shared memory
// and intra-warpgroup pipeline). Bit-identical to the production mma.sync dK/dV kernel on every shape of attn-ab.cu, but
// slower on the production shape (H200, B8 T2048 H32 hd56: 1.010 against 0.925 ms): it needs 218 registers (S^T, dP^T,
// dK, dV accumulators and the bf16 P^T / dS^T fragments the async wgmma still reads), i.e. 2 blocks of 4 warps per SM.
// Its dQ sibling became the production dQ kernel (attention.cuh). Next attempt: split the accumulators (FlashAttention-3:
// a producer warp + setmaxnreg, or 2 consumer warpgroups each owning part of the head dim). See train/native/README.md.
#pragma once
#include "../attention.cuh"

// ============================================================================ dK/dV on wgmma (sm_90a)
// Deterministic (no atomics): one dK/dV kernel per key block, recomputing P from the saved log-sum-exp.
__device__ __forceinline__ void cp_async4(float* s, const float* g, bool valid) {
  uint32_t sa = (uint32_t)__cvta_generic_to_shared(s);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(sa), "l"(g), "r"(valid ? 4 : 0));
}
#define ATTN_WG_DKV_SMEM(NWG) (1024 + 2 * (NWG) * 64 * 128 + 6 * 64 * 128 + 3 * 2 * 64 * 4)
// dK, dV: grid (B*Hk, ceil(T/(64*NWG))); warpgroup w owns key rows kb*64*NWG + 64w .. +63; the block walks the G query
// heads of its group and, per head, the 64-query tiles from the diagonal on (a 3-stage ring of Q, dO, lse, delta).
// S^T = K Q_i^T and dP^T = V dO_i^T (shared x shared), P^T and dS^T in registers, dV += P^T dO_i and dK += dS^T Q_i
// (dO_i, Q_i MN-major).
template <int HDN, int NWG, int MINB = (NWG == 2 ? 1 : 2)>
__global__ void __launch_bounds__(128 * NWG, MINB)
    attn_bwd_dkdv_wg_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO, const float* __restrict__ lse,
                       const float* __restrict__ delta, bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                       int koff, int voff, float sl2, float scale) {
  constexpr int BM = 64 * NWG, NT = 128 * NWG, NO = HDN / 2, KS = (HDN + 15) / 16;
  extern __shared__ __align__(1024) unsigned char attn_wg_raw[];
  bf16* sK = reinterpret_cast<bf16*>(((uintptr_t)attn_wg_raw + 1023) & ~(uintptr_t)1023);  // BM rows
  bf16* sV = sK + BM * 64;                                                                   // BM rows
  bf16* sQ = sV + BM * 64;                                                                   // [3][64 rows]
  bf16* sO = sQ + 3 * 64 * 64;                                                               // [3][64 rows] (dO)
  float* sL = reinterpret_cast<float*>(sO + 3 * 64 * 64);                                    // [3][64]
  float* sD = sL + 3 * 64;                                                                   // [3][64]
  const int kb = blockIdx.y, bk = blockIdx.x, b = bk / Hk, hk = bk % Hk, G = H / Hk;
  const int nch = hd >> 3, tid = threadIdx.x, ldo = H * hd;
  const int wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int k0 = kb * BM + wg * 64, kr = k0 + warp * 16 + g;  // this thread's key rows kr, kr + 8
  const int qt0 = kb * NWG, nq = attn_cdiv(T, 64) - qt0, total = G * nq;
  ld_wtile_async<BM, NT>(sK, qkv + (long)b * T * ldq + koff + hk * hd, ldq, kb * BM, T, nch, tid);
  ld_wtile_async<BM, NT>(sV, qkv + (long)b * T * ldq + voff + hk * hd, ldq, kb * BM, T, nch, tid);
  // iteration it: query head hk*G + it / nq, query tile qt0 + it % nq
  auto stage = [&](int it, int bf) {
    const int h = hk * G + it / nq, qt = qt0 + it % nq;
    ld_wtile_async<64, NT>(sQ + bf * 4096, qkv + (long)b * T * ldq + h * hd, ldq, qt * 64, T, nch, tid);
    ld_wtile_async<64, NT>(sO + bf * 4096, dO + (long)b * T * ldo + h * hd, ldo, qt * 64, T, nch, tid);
    if (tid < 128) {
      const int r = tid & 63, q = qt * 64 + r;
      const long o = ((long)b * H + h) * T + q;
      if (tid < 64) cp_async4(sL + bf * 64 + r, lse + (q < T ? o : 0), q < T);
      else cp_async4(sD + bf * 64 + r, delta + (q < T ? o : 0), q < T);
    }
  };
  stage(0, 0);
  cp_commit();
  const uint64_t dKd = wg_desc(sK + wg * 4096), dVd = wg_desc(sV + wg * 4096);
  float dk[NO], dv[NO], st[32], dpt[32];
#pragma unroll
  for (int i = 0; i < NO; i++) dk[i] = dv[i] = 0.f;
  uint32_t pta[4][4], dsa[4][4];
  auto next_tile = [&](int it) {
    cp_wait<0>();
    fence_async_smem();
    __syncthreads();
    if (it + 1 < total) {
      stage(it + 1, (it + 1) % 3);
      cp_commit();
    }
  };
  auto issue_sdp = [&](int it) {
    const int bf = it % 3;
    const uint64_t dQ = wg_desc(sQ + bf * 4096), dOt = wg_desc(sO + bf * 4096);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(st, dKd + 2 * kk, dQ + 2 * kk, kk);
#pragma unroll
    for (int kk = 0; kk < KS; kk++) wg_ss_n64(dpt, dVd + 2 * kk, dOt + 2 * kk, kk);
    wg_commit();
  };
  auto issue_dkdv = [&](int it) {
    const int bf = it % 3;
    const uint64_t dQ = wg_desc(sQ + bf * 4096), dOt = wg_desc(sO + bf * 4096);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_rs<HDN>(dv, pta[kk], dOt + kk * (2048 >> 4), 1);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_rs<HDN>(dk, dsa[kk], dQ + kk * (2048 >> 4), 1);
    wg_commit();
  };
  // S^T, dP^T complete -> P^T in st, dS^T in dpt (fp32); columns are queries
  auto dscores = [&](int it) {
    wg_reg_fence<32>(st);
    wg_reg_fence<32>(dpt);
    const int bf = it % 3, qt = qt0 + it % nq;
    const float* Lb = sL + bf * 64;
    const float* Db = sD + bf * 64;
    const bool msk = qt * 64 < k0 + 63 || qt * 64 + 64 > T;  // the diagonal crosses the rows, or queries past T
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
          if (msk && (q < kr + 8 * hh || q >= T)) p = 0.f;
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
  next_tile(0);
  wg_fence();
  issue_sdp(0);
  wg_wait<0>();
  dscores(0);
  pack();
  for (int it = 1; it < total; it++) {
    next_tile(it);
    wg_fence();
    issue_sdp(it);
    issue_dkdv(it - 1);
    wg_wait<1>();
    dscores(it);
    wg_wait<0>();
    wg_reg_fence<NO>(dk);
    wg_reg_fence<NO>(dv);
    pack();
  }
  wg_fence();
  issue_dkdv(total - 1);
  wg_wait<0>();
  wg_reg_fence<NO>(dk);
  wg_reg_fence<NO>(dv);
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    const int k = kr + 8 * hh;
    if (k < T) {
      bf16* pk = dqkv + ((long)b * T + k) * ldq + koff + hk * hd + 2 * t;
      bf16* pv = dqkv + ((long)b * T + k) * ldq + voff + hk * hd + 2 * t;
#pragma unroll
      for (int jn = 0; jn < HDN / 8; jn++) {
        *reinterpret_cast<uint32_t*>(pk + jn * 8) = pack2(dk[4 * jn + 2 * hh] * scale, dk[4 * jn + 2 * hh + 1] * scale);
        *reinterpret_cast<uint32_t*>(pv + jn * 8) = pack2(dv[4 * jn + 2 * hh], dv[4 * jn + 2 * hh + 1]);
      }
    }
  }
}


// the wgmma dK/dV (NK warpgroups per block); delta must be computed
template <int NK, int MINB = (NK == 2 ? 1 : 2)>
static void attnBackwardDKDVWG(const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int B,
                               int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale) {
  NDT_SWITCH(hd, ({
    static bool attrSet = false;
    if (!attrSet) {
      CK(cudaFuncSetAttribute(attn_bwd_dkdv_wg_k<N_ * 8, NK, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_WG_DKV_SMEM(NK)));
      attrSet = true;
    }
    attn_bwd_dkdv_wg_k<N_ * 8, NK, MINB><<<dim3(B * Hk, attn_cdiv(T, 64 * NK)), 128 * NK, ATTN_WG_DKV_SMEM(NK)>>>(
        qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
    KCHECK("attn_bwd_dkdv_wg");
  }));
}
