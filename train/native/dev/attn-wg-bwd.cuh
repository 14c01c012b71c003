// Dev candidate, not in the addon: the dK/dV attention backward on wgmma (the forward's tiles, swizzled shared memory
// and intra-warpgroup pipeline), bit-identical to the production mma.sync dK/dV kernel on every shape of attn-ab.cu.
// Variants (template arguments): NWG warpgroups per block (1: 64 key rows, 2 blocks per SM; 2: 128 key rows, the
// accumulators split over 2 consumer warpgroups, 1 block per SM), KR (K and V as register A fragments: S^T and dP^T
// read only Q / dO from shared memory), QPB (64-query tiles per block barrier). Best measured (H200, 2026-12-04,
// attn-ab, B8 T2048 hd56): NWG 1 + KR + QPB 2, 254 registers: H32 (MHA, steel-1b) 0.908 / 0.962 ms against the
// mma.sync kernel's 0.901 / 0.924 (not faster), H32/8 0.829 / 0.843 against 0.858 / 0.864, hd 64 0.460 against 0.534.
// TL (the padding-free k8 tail on mma.sync) is slower still: 0.989 against 0.961 in one command.
// What stands in its way at hd 56 is structural: S^T and dP^T contract over the head dim padded to 64 (wgmma has no
// k8), every thread issues cp.async and the block meets at a barrier, and 2 warpgroups per block move in lockstep
// (NWG 2 is slower in every variant). Its successor on a TMA producer warpgroup and mbarriers is the production attn_bwd_dkdv_k (attention.cuh).
// Its dQ sibling became the production dQ kernel (attention.cuh), since session 8 on TMA as well.
#pragma once
#include "../attention.cuh"

// ============================================================================ dK/dV on wgmma (sm_90a)
// Deterministic (no atomics): one dK/dV kernel per key block, recomputing P from the saved log-sum-exp.
__device__ __forceinline__ void cp_async4(float* s, const float* g, bool valid) {
  uint32_t sa = (uint32_t)__cvta_generic_to_shared(s);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(sa), "l"(g), "r"(valid ? 4 : 0));
}
// D (64 x 64) (+)= A (64 x 16, registers) * B (16 x 64, K-major shared: 64 rows of 16, as wg_ss_n64's B)
__device__ __forceinline__ void wg_rs_kb_n64(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
// A fragment 16x16 at (row0, k0) of a swizzled wgmma tile (ldmatrix with the per-lane swizzled row addresses)
__device__ __forceinline__ void ldA_swz(uint32_t* a, const bf16* s, int row0, int k0, int lane) {
  ldsm4(a, s + WG_SWZ(row0 + (lane & 15), (k0 >> 3) + (lane >> 4)));
}
#define ATTN_WG_DKV_NSL(QPB) ((QPB) == 1 ? 3 : 5)  // ring slots: tiles it-1 .. it+2*QPB-1 live at once
#define ATTN_WG_DKV_SMEM(NWG, QPB) (1024 + 2 * (NWG) * 64 * 128 + ATTN_WG_DKV_NSL(QPB) * (2 * 64 * 128 + 2 * 64 * 4))
// dK, dV: grid (B*Hk, ceil(T/(64*NWG))); warpgroup w owns key rows kb*64*NWG + 64w .. +63; the block walks the G query
// heads of its group and, per head, the 64-query tiles from the diagonal on (a 3-stage ring of Q, dO, lse, delta).
// S^T = K Q_i^T and dP^T = V dO_i^T (shared x shared), P^T and dS^T in registers, dV += P^T dO_i and dK += dS^T Q_i
// (dO_i, Q_i MN-major).
// KR: K and V of the warpgroup's 64 key rows as register A fragments (S^T, dP^T read only Q / dO from shared memory)
// QPB: query tiles per block barrier (2: a 5-slot ring, tiles it+2, it+3 loaded at the barrier of even it)
// TL (with KR, head dim an odd multiple of 8, e.g. 56): the last 8 head-dim columns of S^T and dP^T on mma.sync
// m16n8k8 (the register K / V fragments' first half, Q / dO from the swizzled tile by ldmatrix) into the zeroed
// accumulators, then the wgmma k16 steps over the other columns: no product with the zero padding
template <int HDN, int NWG, int MINB = (NWG == 2 ? 1 : 2), bool KR = false, int QPB = 1, bool TL = false>
__global__ void __launch_bounds__(128 * NWG, MINB)
    attn_bwd_dkdv_wg_k(const bf16* __restrict__ qkv, const bf16* __restrict__ dO, const float* __restrict__ lse,
                       const float* __restrict__ delta, bf16* __restrict__ dqkv, int T, int H, int Hk, int hd, int ldq,
                       int koff, int voff, float sl2, float scale) {
  constexpr int BM = 64 * NWG, NT = 128 * NWG, NO = HDN / 2, KS = (HDN + 15) / 16, NSL = ATTN_WG_DKV_NSL(QPB);
  constexpr bool TLX = TL && KR && (HDN % 16 == 8);
  constexpr int KW = TLX ? HDN / 16 : KS;  // wgmma k16 steps of S^T, dP^T
  extern __shared__ __align__(1024) unsigned char attn_wg_raw[];
  bf16* sK = reinterpret_cast<bf16*>(((uintptr_t)attn_wg_raw + 1023) & ~(uintptr_t)1023);  // BM rows
  bf16* sV = sK + BM * 64;                                                                   // BM rows
  bf16* sQ = sV + BM * 64;                                                                   // [NSL][64 rows]
  bf16* sO = sQ + NSL * 64 * 64;                                                             // [NSL][64 rows] (dO)
  float* sL = reinterpret_cast<float*>(sO + NSL * 64 * 64);                                  // [NSL][64]
  float* sD = sL + NSL * 64;                                                                 // [NSL][64]
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
#pragma unroll
  for (int u = 0; u < QPB; u++)
    if (u < total) stage(u, u);
  cp_commit();
  const uint64_t dKd = wg_desc(sK + wg * 4096), dVd = wg_desc(sV + wg * 4096);
  float dk[NO], dv[NO], st[32], dpt[32];
  uint32_t ka[KR ? KS : 1][4], va[KR ? KS : 1][4];
#pragma unroll
  for (int i = 0; i < NO; i++) dk[i] = dv[i] = 0.f;
  uint32_t pta[4][4], dsa[4][4];
  auto next_tile = [&](int it) {
    if (it % QPB) return;
    cp_wait<0>();
    fence_async_smem();
    __syncthreads();
#pragma unroll
    for (int u = 0; u < QPB; u++)
      if (it + QPB + u < total) stage(it + QPB + u, (it + QPB + u) % NSL);
    cp_commit();
  };
  auto issue_sdp = [&](int it) {
    const int bf = it % NSL;
    const uint64_t dQ = wg_desc(sQ + bf * 4096), dOt = wg_desc(sO + bf * 4096);
    if constexpr (KR) {
#pragma unroll
      for (int kk = 0; kk < KW; kk++) wg_rs_kb_n64(st, ka[kk], dQ + 2 * kk, TLX ? 1 : kk);
#pragma unroll
      for (int kk = 0; kk < KW; kk++) wg_rs_kb_n64(dpt, va[kk], dOt + 2 * kk, TLX ? 1 : kk);
    } else {
#pragma unroll
      for (int kk = 0; kk < KS; kk++) wg_ss_n64(st, dKd + 2 * kk, dQ + 2 * kk, kk);
#pragma unroll
      for (int kk = 0; kk < KS; kk++) wg_ss_n64(dpt, dVd + 2 * kk, dOt + 2 * kk, kk);
    }
    wg_commit();
  };
  auto tail = [&](int it) {  // TLX: S^T, dP^T = the products over the last 8 head-dim columns (before issue_sdp)
    if constexpr (TLX) {
      const int bf = it % NSL;
      const bf16* q = sQ + bf * 4096;
      const bf16* o = sO + bf * 4096;
#pragma unroll
      for (int i = 0; i < 32; i++) st[i] = dpt[i] = 0.f;
#pragma unroll
      for (int h = 0; h < 2; h++) {  // query rows 32h .. 32h+31: n-tiles 4h .. 4h+3
        uint32_t bq[4], bo[4];
        ldsm4(bq, q + WG_SWZ(32 * h + lane, HDN / 8 - 1));
        ldsm4(bo, o + WG_SWZ(32 * h + lane, HDN / 8 - 1));
#pragma unroll
        for (int m = 0; m < 4; m++) {
          mma16808(st + 4 * (4 * h + m), ka[KS - 1], bq[m]);
          mma16808(dpt + 4 * (4 * h + m), va[KS - 1], bo[m]);
        }
      }
    }
  };
  auto issue_dkdv = [&](int it) {
    const int bf = it % NSL;
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
    const int bf = it % NSL, qt = qt0 + it % nq;
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
  if constexpr (KR) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
      ldA_swz(ka[kk], sK + wg * 4096, warp * 16, kk * 16, lane);
      ldA_swz(va[kk], sV + wg * 4096, warp * 16, kk * 16, lane);
    }
  }
  tail(0);
  wg_fence();
  issue_sdp(0);
  wg_wait<0>();
  dscores(0);
  pack();
  for (int it = 1; it < total; it++) {
    next_tile(it);
    tail(it);
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
template <int NK, int MINB = (NK == 2 ? 1 : 2), bool KR = false, int QPB = 1, bool TL = false>
static void attnBackwardDKDVWG(const bf16* qkv, const bf16* dO, const float* lse, const float* delta, bf16* dqkv, int B,
                               int T, int H, int Hk, int hd, int ldq, int koff, int voff, float sl2, float scale) {
  NDT_SWITCH(hd, ({
    static bool attrSet = false;
    if (!attrSet) {
      CK(cudaFuncSetAttribute(attn_bwd_dkdv_wg_k<N_ * 8, NK, MINB, KR, QPB, TL>, cudaFuncAttributeMaxDynamicSharedMemorySize, ATTN_WG_DKV_SMEM(NK, QPB)));
      attrSet = true;
    }
    attn_bwd_dkdv_wg_k<N_ * 8, NK, MINB, KR, QPB, TL><<<dim3(B * Hk, attn_cdiv(T, 64 * NK)), 128 * NK, ATTN_WG_DKV_SMEM(NK, QPB)>>>(
        qkv, dO, lse, delta, dqkv, T, H, Hk, hd, ldq, koff, voff, sl2, scale);
    KCHECK("attn_bwd_dkdv_wg");
  }));
}
