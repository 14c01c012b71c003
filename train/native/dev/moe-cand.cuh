// Soft-MoE kernel candidates (issue 16, session 9; not part of the addon): what dev/moe-ab.cu's CAND section runs
// against the production kernels of softmoe.cuh (and rmsnorm.cuh) on the same inputs, timed and compared bit for bit.
// Written without a GPU (no device lent in session 9): compile-checked with nvcc 13.0 (sm_90a, no spills), not measured.
//  - moe_phi_all_k: moe_phi_k for up to MOE_PHI_LAYERS layers in one launch (a block per layer, pointers in a kernel
//    parameter struct); the same per-block arithmetic, so bit-identical. The training forward would normalise every
//    layer's router weights at its start (they are ready before the pass) instead of one 1-block launch per layer on the
//    layers' critical path.
//  - moe_combine_norm_k: the combine fused with the RMSNorm that follows it (the next layer's first norm, or the final
//    norm); bit-identical to moe_combine_k + rmsnormForward by construction (see its comment), which saves the norm's
//    read of xout (117 MB per layer at steel-1b) and a launch.
//  - moe_tok_bwd1_r2_k: moe_tok_bwd1_k with 2 rows per warp at once and 4 column steps' loads in flight (192 bytes per
//    lane, 16 memory round trips per warp instead of 28; the production kernel's 4 rows x 2*S accumulators spill at SM
//    6 and 8: 16 / 100 bytes), the same per-lane column order: bit-identical.
#pragma once
#include "../softmoe.cuh"

// phi [d, S] -> phihatT [S][d] = scale * phi / max(||phi[:, s]||, 1e-12) and phinorm, a block of 1024 threads per layer
// (moe_phi_k's body with the layer's pointers)
#define MOE_PHI_LAYERS 32
struct MoePhiArgs {
  const float* phi[MOE_PHI_LAYERS];
  const float* scale[MOE_PHI_LAYERS];
  float* phihatT[MOE_PHI_LAYERS];
  float* phinorm[MOE_PHI_LAYERS];
};
__global__ void __launch_bounds__(1024) moe_phi_all_k(const MoePhiArgs args, int d, int S) {
  __shared__ float red[32][MAXS];
  __shared__ float nrm[MAXS];
  const float* __restrict__ phi = args.phi[blockIdx.x];
  float* __restrict__ phihatT = args.phihatT[blockIdx.x];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  float ss[MAXS];
#pragma unroll
  for (int s = 0; s < MAXS; s++) ss[s] = 0.f;
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) { const float v = phi[(long)j * S + s]; ss[s] += v * v; }
#pragma unroll
  for (int s = 0; s < MAXS; s++)
    if (s < S) { const float v = warp_sum(ss[s]); if (lane == 0) red[w][s] = v; }
  __syncthreads();
  if ((int)threadIdx.x < S) {
    float t = 0.f;
    for (int i = 0; i < 32; i++) t += red[i][threadIdx.x];
    const float nr = fmaxf(sqrtf(t), 1e-12f);
    nrm[threadIdx.x] = nr;
    args.phinorm[blockIdx.x][threadIdx.x] = nr;
  }
  __syncthreads();
  const float sc = args.scale[blockIdx.x][0];
  for (int j = threadIdx.x; j < d; j += blockDim.x)
#pragma unroll
    for (int s = 0; s < MAXS; s++)
      if (s < S) phihatT[(long)s * d + j] = sc * phi[(long)j * S + s] / nrm[s];
}
// combine, fused with the RMSNorm that follows it: x = xmid + sum_s C[r,s] Ys[slot_row(b,s)] -> xout, and when nw
// (that norm's weights) is given, y = bf16(nw * (x * rstd)) with rstd = 1/sqrt(mean(x^2) + eps) per row, exactly as
// rmsnorm_fwd_k<KP> computes them from xout (lane owns the float4 columns k*32 + lane, the squares summed in k order,
// then warp_sum): bit-identical to moe_combine_k followed by rmsnormForward where that runs a warp per row (many rows;
// KP = 4, 8 or 14 as it chooses by width). A warp per row, the row's KP float4 of xmid loaded at once (224 bytes per lane
// in flight at d 1792, the first row's issued before the staging wait) and kept in registers for the norm; the
// sequence's Ys rows in shared memory, 64 rows per block. The xout sums are moe_combine_k's (xmid, then + C Ys in slot
// order).
template <int SM, int KP>
__global__ void __launch_bounds__(256, 2) moe_combine_norm_k(const float* __restrict__ xmid, const float* __restrict__ C,
                                                          const float* __restrict__ Ys, float* __restrict__ xout,
                                                          const float* __restrict__ nw, bf16* __restrict__ y,
                                                          float* __restrict__ rstd, float eps, int B, int T, int d, int S,
                                                          int np) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d4 = d >> 2;
  moe_stage_rows(sm, Ys, true, b, B, d, S, np);
  const float4* sY = reinterpret_cast<const float4*>(sm);
  const int tEnd = min(T, (int)blockIdx.x * 64 + 64);
  int t = blockIdx.x * 64 + warp;
  float4 v[KP];
  float cl = 0.f;
  auto load = [&](int tt) {
    const long row = (long)b * T + tt;
    const float4* x4 = reinterpret_cast<const float4*>(xmid + row * d);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      v[k] = j < d4 ? x4[j] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    cl = lane < S ? C[row * S + lane] : 0.f;
  };
  if (t < tEnd) load(t);
  moe_stage_wait();
  for (; t < tEnd; t += 8) {
    const long row = (long)b * T + t;
    float cs[SM];
#pragma unroll
    for (int s = 0; s < SM; s++) cs[s] = __shfl_sync(0xffffffffu, cl, s);
    float4* o4 = reinterpret_cast<float4*>(xout + row * d);
#pragma unroll
    for (int k = 0; k < KP; k++) {
      const int j = k * 32 + lane;
      if (j < d4) {
        float4 acc = v[k];
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            const float4 yy = sY[s * d4 + j];
            acc.x += cs[s] * yy.x; acc.y += cs[s] * yy.y; acc.z += cs[s] * yy.z; acc.w += cs[s] * yy.w;
          }
        v[k] = acc;
        o4[j] = acc;
      }
    }
    if (nw) {
      float ss = 0.f;
#pragma unroll
      for (int k = 0; k < KP; k++) ss += dot4(v[k], v[k]);
      ss = warp_sum(ss);
      const float r = rsqrtf(ss / d + eps);
      const float4* w4 = reinterpret_cast<const float4*>(nw);
#pragma unroll
      for (int k = 0; k < KP; k++) {
        const int j = k * 32 + lane;
        if (j < d4) {
          const float4 ww = w4[j];
          st_bf16x4(y + row * d + 4 * j, make_float4(ww.x * (v[k].x * r), ww.y * (v[k].y * r), ww.z * (v[k].z * r), ww.w * (v[k].w * r)));
        }
      }
      if (lane == 0) rstd[row] = r;
    }
    if (t + 8 < tEnd) load(t + 8);
  }
}
// token backward 1 (as moe_tok_bwd1_k): dC = dY . Ys[s], dD = rinv * x . dXs[s], dLC = C (dC - sum C dC); each warp takes
// R = 2 rows at once and issues the loads of U = 4 column steps (192 bytes per lane) before it uses any
template <int SM>
__global__ void __launch_bounds__(256, SM <= 8 ? 2 : 1) moe_tok_bwd1_r2_k(const bf16* __restrict__ x, const float* __restrict__ rinv,
                                                          const float* __restrict__ dY, const float* __restrict__ Ys,
                                                          const float* __restrict__ dXs, const float* __restrict__ C,
                                                          float* __restrict__ dLC, float* __restrict__ dD, int B, int T,
                                                          int d, int S, int np) {
  constexpr int R = 2, U = 4, V = 4, NCV = (R * SM + 31) / 32;
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int b = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = d / V;
  moe_stage(sm, Ys, dXs, false, b, B, d, S, np);
  const float* sY = sm;
  const float* sX = sm + (long)S * d;
  for (int g = 0; g < 8 / R; g++) {
    const int t0 = blockIdx.x * 64 + warp * 8 + g * R;
    if (t0 >= T) break;
    const int nv = min(R, T - t0);
    const long row0 = (long)b * T + t0;
    float cv[NCV];  // lane q holds C[row0 * S + q] (the group's R rows are contiguous), and rinv[row0 + lane] for lane < nv
#pragma unroll
    for (int i = 0; i < NCV; i++) cv[i] = 32 * i + lane < nv * S ? C[row0 * S + 32 * i + lane] : 0.f;
    const float rv = lane < nv ? rinv[row0 + lane] : 0.f;
    float ac[R][SM], ad[R][SM];
#pragma unroll
    for (int k = 0; k < R; k++)
#pragma unroll
      for (int s = 0; s < SM; s++) ac[k][s] = ad[k][s] = 0.f;
    for (int c0 = lane; c0 < nc; c0 += 32 * U) {
      RawV<float, V> ry[U][R];
      RawV<bf16, V> rx[U][R];
#pragma unroll
      for (int u = 0; u < U; u++)
        if (c0 + 32 * u < nc)
#pragma unroll
          for (int k = 0; k < R; k++)
            if (k < nv) {
              ry[u][k].load(dY + (row0 + k) * d + (long)(c0 + 32 * u) * V);
              rx[u][k].load(x + (row0 + k) * d + (long)(c0 + 32 * u) * V);
            }
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int c = c0 + 32 * u;
        if (c >= nc) break;
        float gy[R][V], xv[R][V];
#pragma unroll
        for (int k = 0; k < R; k++) {
          if (k < nv) {
            ry[u][k].get(gy[k]);
            rx[u][k].get(xv[k]);
          } else {
#pragma unroll
            for (int v = 0; v < V; v++) gy[k][v] = xv[k][v] = 0.f;
          }
        }
#pragma unroll
        for (int s = 0; s < SM; s++)
          if (s < S) {
            float ys[V], xs[V];
#pragma unroll
            for (int v = 0; v < V; v += 4) {
              const float4 a = *reinterpret_cast<const float4*>(sY + (long)s * d + (long)c * V + v);
              const float4 e = *reinterpret_cast<const float4*>(sX + (long)s * d + (long)c * V + v);
              ys[v] = a.x, ys[v + 1] = a.y, ys[v + 2] = a.z, ys[v + 3] = a.w;
              xs[v] = e.x, xs[v + 1] = e.y, xs[v + 2] = e.z, xs[v + 3] = e.w;
            }
#pragma unroll
            for (int k = 0; k < R; k++)
#pragma unroll
              for (int v = 0; v < V; v++) { ac[k][s] += gy[k][v] * ys[v]; ad[k][s] += xv[k][v] * xs[v]; }
          }
      }
    }
#pragma unroll
    for (int k = 0; k < R; k++) {
      if (k >= nv) break;
      const long row = row0 + k;
      const float ri = __shfl_sync(0xffffffffu, rv, k);
      // C[row, s] from lane (k S + s) % 32 of cv[(k S + s) / 32] (the index is uniform over the warp)
      auto crs = [&](int s) { const int q = k * S + s; return __shfl_sync(0xffffffffu, NCV == 1 || q < 32 ? cv[0] : cv[NCV - 1], q & 31); };
      float dot = 0.f;
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) { ac[k][s] = warp_sum(ac[k][s]); ad[k][s] = warp_sum(ad[k][s]) * ri; dot += crs(s) * ac[k][s]; }
#pragma unroll
      for (int s = 0; s < SM; s++)
        if (s < S) {
          const float cs = crs(s);
          if (lane == 0) { dLC[row * S + s] = cs * (ac[k][s] - dot); dD[row * S + s] = ad[k][s]; }
        }
    }
  }
}
