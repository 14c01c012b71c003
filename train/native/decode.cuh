// KV-cache decoding: the cache store, the decode attention (n new queries per sequence over the cache, causal from
// position pos) and the greedy argmax over the logits. The pass order (prefill with the training attention kernel,
// then one token per step; the Steel kind's Soft-MoE over the tokens of one feed) is the `Decoder` in steel_cuda.cu.
// Cache layout per layer: K and V [B][maxLen][Hk*hd] bf16 (RoPE applied to K).
// Checks: gpu-check `decode` (greedy tokens and logits against the CPU backend's KV-cache decoder).
#pragma once
#include "common.cuh"

// rows r = b*n + t of the fused [q|k|v] buffer -> K/V cache rows (b, pos + t); 8 bf16 (16 bytes) per thread
__global__ void kv_store_k(const bf16* __restrict__ qkv, int ldq, int koff, int voff, bf16* __restrict__ K,
                           bf16* __restrict__ V, int N, int n, int pos, int maxLen, int kd) {
  const int k8 = kd >> 3;
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long)N * k8) return;
  const int r = (int)(i / k8), c = (int)(i - (long)r * k8) * 8;
  const int b = r / n, t = r - b * n;
  const size_t dst = ((size_t)b * maxLen + pos + t) * kd + c;
  *reinterpret_cast<uint4*>(K + dst) = *reinterpret_cast<const uint4*>(qkv + (size_t)r * ldq + koff + c);
  *reinterpret_cast<uint4*>(V + dst) = *reinterpret_cast<const uint4*>(qkv + (size_t)r * ldq + voff + c);
}
static void kvStore(const bf16* qkv, int ldq, int koff, int voff, bf16* K, bf16* V, int N, int n, int pos, int maxLen,
                    int kd) {
  kv_store_k<<<nblk((long)N * (kd / 8)), 256>>>(qkv, ldq, koff, voff, K, V, N, n, pos, maxLen, kd);
  KCHECK("kv_store");
}

// Decode attention. One block of DA_WARPS warps per (query row r = b*n + t, kv head kh); the G = H/Hk query heads of
// the group share each key row. Query t sees keys 0 .. pos + t. Warp w takes the 32-key chunks w, w + DA_WARPS, ...:
// lane j loads key row (chunk*32 + j) of K and of V (16-byte loads, all in flight together), scores it against the G
// queries (queries in shared memory), online softmax per head; the V rows go through the warp's shared-memory tile so
// that in P·V lane j owns output columns j and j + 32. The warps' partial (max, sum, acc) are merged in fixed order in
// shared memory. Scores in fp32 (base 2), output bf16.
constexpr int DA_WARPS = 4;
template <int G>
__global__ void __launch_bounds__(DA_WARPS * 32) decode_attn_k(const bf16* __restrict__ qkv, int ldq, const bf16* __restrict__ K,
                                                             const bf16* __restrict__ V, bf16* __restrict__ out, int n, int pos,
                                                             int maxLen, int Hk, int hd, float sl2) {
  __shared__ float qs[G][64];
  __shared__ float wm[DA_WARPS][G], wl[DA_WARPS][G];
  __shared__ float wacc[DA_WARPS][G][64];
  __shared__ __align__(16) bf16 vt[DA_WARPS][32][72];  // per warp: 32 V rows (72: 16-byte aligned rows, fewer conflicts)
  const int r = blockIdx.x, kh = blockIdx.y, b = r / n, t = r - b * n;
  const int kd = Hk * hd, ctx = pos + t + 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int i = threadIdx.x; i < G * 64; i += blockDim.x) {
    const int g = i / 64, j = i % 64;
    qs[g][j] = j < hd ? b2f(qkv[(size_t)r * ldq + (kh * G + g) * hd + j]) * sl2 : 0.f;
  }
  __syncthreads();
  const bf16* Kb = K + (size_t)b * maxLen * kd + kh * hd;
  const bf16* Vb = V + (size_t)b * maxLen * kd + kh * hd;
  float m[G], l[G], a0[G], a1[G];
#pragma unroll
  for (int g = 0; g < G; g++) m[g] = -INFINITY, l[g] = 0.f, a0[g] = 0.f, a1[g] = 0.f;
  const int h8 = hd >> 3;
  for (int c0 = warp * 32; c0 < ctx; c0 += DA_WARPS * 32) {
    const int s = c0 + lane;
    uint4 ku[8], vu[8];
    if (s < ctx) {
#pragma unroll
      for (int q = 0; q < 8; q++)
        if (q < h8) {
          ku[q] = *reinterpret_cast<const uint4*>(Kb + (size_t)s * kd + q * 8);
          vu[q] = *reinterpret_cast<const uint4*>(Vb + (size_t)s * kd + q * 8);
        }
    }
    float sc[G];
#pragma unroll
    for (int g = 0; g < G; g++) sc[g] = -INFINITY;
    if (s < ctx) {
#pragma unroll
      for (int g = 0; g < G; g++) {
        float acc = 0.f;
#pragma unroll
        for (int q = 0; q < 8; q++)
          if (q < h8) {
            const bf16* e = reinterpret_cast<const bf16*>(&ku[q]);
#pragma unroll
            for (int k = 0; k < 8; k++) acc += qs[g][q * 8 + k] * b2f(e[k]);
          }
        sc[g] = acc;
      }
#pragma unroll
      for (int q = 0; q < 8; q++)
        if (q < h8) *reinterpret_cast<uint4*>(&vt[warp][lane][q * 8]) = vu[q];
    }
    __syncwarp();
    float p[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
      float cm = sc[g];
#pragma unroll
      for (int o = 16; o; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
      const float mn = fmaxf(m[g], cm);  // finite: the chunk holds at least one valid key
      const float corr = exp2f(m[g] - mn);
      p[g] = s < ctx ? exp2f(sc[g] - mn) : 0.f;
      float ps = p[g];
#pragma unroll
      for (int o = 16; o; o >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, o);
      l[g] = l[g] * corr + ps;
      a0[g] *= corr;
      a1[g] *= corr;
      m[g] = mn;
    }
    const int nk = min(32, ctx - c0);
    for (int j = 0; j < nk; j++) {
      const float v0 = lane < hd ? b2f(vt[warp][j][lane]) : 0.f, v1 = lane + 32 < hd ? b2f(vt[warp][j][lane + 32]) : 0.f;
#pragma unroll
      for (int g = 0; g < G; g++) {
        const float pj = __shfl_sync(0xffffffffu, p[g], j);
        a0[g] += pj * v0;
        a1[g] += pj * v1;
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int g = 0; g < G; g++) {
    if (lane == 0) wm[warp][g] = m[g], wl[warp][g] = l[g];
    wacc[warp][g][lane] = a0[g];
    wacc[warp][g][lane + 32] = a1[g];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * hd; i += blockDim.x) {
    const int g = i / hd, j = i % hd;
    float M = -INFINITY;
    for (int w = 0; w < DA_WARPS; w++) M = fmaxf(M, wm[w][g]);
    float L = 0.f, A = 0.f;
    for (int w = 0; w < DA_WARPS; w++) {
      if (wm[w][g] == -INFINITY) continue;  // a warp without keys (short contexts)
      const float f = exp2f(wm[w][g] - M);
      L += wl[w][g] * f;
      A += wacc[w][g][j] * f;
    }
    out[(size_t)r * Hk * G * hd + (kh * G + g) * hd + j] = f2b(A / L);
  }
}
// qkv rows [B*n, ldq] (q at column 0, RoPE applied), caches as above (this feed's keys already stored) -> out [B*n, H*hd]
static void decodeAttention(const bf16* qkv, int ldq, const bf16* K, const bf16* V, bf16* out, int B, int n, int pos,
                            int maxLen, int H, int Hk, int hd, float sl2) {
  const dim3 grid(B * n, Hk);
  switch (H / Hk) {
    case 1: decode_attn_k<1><<<grid, DA_WARPS * 32>>>(qkv, ldq, K, V, out, n, pos, maxLen, Hk, hd, sl2); break;
    case 2: decode_attn_k<2><<<grid, DA_WARPS * 32>>>(qkv, ldq, K, V, out, n, pos, maxLen, Hk, hd, sl2); break;
    case 4: decode_attn_k<4><<<grid, DA_WARPS * 32>>>(qkv, ldq, K, V, out, n, pos, maxLen, Hk, hd, sl2); break;
    case 8: decode_attn_k<8><<<grid, DA_WARPS * 32>>>(qkv, ldq, K, V, out, n, pos, maxLen, Hk, hd, sl2); break;
    default: throw std::runtime_error(strf("cuda decoding: numHeads / numKvHeads must be 1, 2, 4 or 8 (got %d)", H / Hk));
  }
  KCHECK("decode_attn");
}

// greedy: ids[b] = argmax_v logits[b, v] (first index on ties, as the CPU path); also written to out[b] when given
__global__ void __launch_bounds__(1024) argmax_k(const bf16* __restrict__ logits, int ldl, int V, int* __restrict__ ids,
                                                 int* __restrict__ out) {
  const bf16* row = logits + (size_t)blockIdx.x * ldl;
  float best = -INFINITY;
  int bi = 0x7fffffff;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float x = b2f(row[v]);
    if (x > best) best = x, bi = v;  // v grows: the first maximum of this thread's columns
  }
  __shared__ float sb[32];
  __shared__ int si[32];
#pragma unroll
  for (int o = 16; o; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ob > best || (ob == best && oi < bi)) best = ob, bi = oi;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sb[warp] = best, si[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    const int nw = blockDim.x >> 5;
    best = lane < nw ? sb[lane] : -INFINITY;
    bi = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o; o >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ob > best || (ob == best && oi < bi)) best = ob, bi = oi;
    }
    if (lane == 0) {
      const int id = bi == 0x7fffffff ? 0 : bi;  // a row of NaNs
      ids[blockIdx.x] = id;
      if (out) out[blockIdx.x] = id;
    }
  }
}
static void argmaxRows(const bf16* logits, int ldl, int V, int rows, int* ids, int* out) {
  argmax_k<<<rows, 1024>>>(logits, ldl, V, ids, out);
  KCHECK("argmax");
}
