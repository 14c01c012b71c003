// KV-cache decoding: RoPE with the cache store, the decode attention (n new queries per sequence over the cache, causal
// from position pos, split over the context) and the greedy argmax over the logits. The pass order (prefill with the
// training attention kernel, then one token per step; the Steel kind's Soft-MoE over the tokens of one feed) is the
// `Decoder` in steel_cuda.cu. Cache layout per layer: K and V head-major [B][Hk][maxLen][hd] bf16 (RoPE applied to K).
// Checks: gpu-check `decode` (greedy tokens and logits against the CPU backend's KV-cache decoder).
#pragma once
#include "common.cuh"

// Each sequence's position (the length of its context before a feed: sequences of a batch may hold prompts of different
// lengths) lives in device memory (dpos[b]), so that one captured decode step (a CUDA graph, the Decoder's greedy loop)
// replays at every position; decode_advance_k moves them on inside the graph.
__global__ void decode_advance_k(int* dpos, int n, int B) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b < B) dpos[b] += n;
}

// rows r = b*n + t of the fused [q|k|v] buffer, position p = dpos[b] + t: RoPE (rotate-half, fp32 tables [maxLen, hd/2])
// in place on the q and k heads, and the rotated k and the v heads into the caches at (b, kh, p). A thread owns one unit
// of a row: 4 adjacent pairs (8-byte accesses at columns j and j + hd/2) of a q or k head, or 8 columns (16 bytes) of a
// v head.
__global__ void __launch_bounds__(256) rope_kv_k(bf16* __restrict__ qkv, int ldq, int koff, int voff, const float* __restrict__ cs,
                                              const float* __restrict__ sn, bf16* __restrict__ K, bf16* __restrict__ V,
                                              const int* __restrict__ dpos, const int* __restrict__ slot, int N, int n, int H,
                                              int Hk, int hd, int maxLen) {
  const int hp4 = hd >> 3, half = hd >> 1, U1 = (H + Hk) * hp4, U = U1 + Hk * hp4;
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long)N * U) return;
  const int r = (int)(i / U), u = (int)(i - (long)r * U);
  const int b = slot ? slot[r / n] : r / n, t = r % n, p = dpos[b] + t;
  bf16* row = qkv + (size_t)r * ldq;
  if (u < U1) {
    const int hh = u / hp4, j = (u - hh * hp4) * 4;
    bf16* x = row + (hh < H ? hh * hd : koff + (hh - H) * hd) + j;
    const float4 a = ld_bf16x4(x), bb = ld_bf16x4(x + half);
    const float4 c = __ldg(reinterpret_cast<const float4*>(cs + (size_t)p * half + j));
    const float4 s = __ldg(reinterpret_cast<const float4*>(sn + (size_t)p * half + j));
    const float4 oa = make_float4(a.x * c.x - bb.x * s.x, a.y * c.y - bb.y * s.y, a.z * c.z - bb.z * s.z, a.w * c.w - bb.w * s.w);
    const float4 ob = make_float4(bb.x * c.x + a.x * s.x, bb.y * c.y + a.y * s.y, bb.z * c.z + a.z * s.z, bb.w * c.w + a.w * s.w);
    st_bf16x4(x, oa);
    st_bf16x4(x + half, ob);
    if (hh >= H) {
      bf16* dst = K + (((size_t)b * Hk + (hh - H)) * maxLen + p) * hd + j;
      st_bf16x4(dst, oa);
      st_bf16x4(dst + half, ob);
    }
  } else {
    const int kh = (u - U1) / hp4, j = (u - U1 - kh * hp4) * 8;
    *reinterpret_cast<uint4*>(V + (((size_t)b * Hk + kh) * maxLen + p) * hd + j) =
        *reinterpret_cast<const uint4*>(row + voff + kh * hd + j);
  }
}
// rows of N = B*n tokens at positions dpos[b] + t; K, V, dpos: this layer's caches and the positions at the group's first
// sequence; with slot (device, N / n entries) row group i is sequence slot[i] of the caches and of dpos (a refill)
static void ropeKvStore(bf16* qkv, int ldq, int koff, int voff, const float* cs, const float* sn, bf16* K, bf16* V,
                        const int* dpos, int N, int n, int H, int Hk, int hd, int maxLen, const int* slot = nullptr) {
  rope_kv_k<<<nblk((long)N * (H + 2 * Hk) * (hd / 8)), 256, 0, g_stream>>>(qkv, ldq, koff, voff, cs, sn, K, V, dpos, slot, N, n,
                                                                             H, Hk, hd, maxLen);
  KCHECK("rope_kv");
}

// Decode attention, split over the context (flash-decoding). Block (split sp, query row r = b*n + t, kv head kh) takes
// keys sp*ks .. min(ctx, (sp+1)*ks) - 1 of the ctx = dpos[b] + t + 1 that query t of sequence b sees, for all G = H/Hk query heads of
// the group, so each K/V row is read once per row r. The cache is head-major, [b][kh][maxLen][hd]: a block reads one
// contiguous run. Its 16 octets of lanes take a key row each (lane c of an octet loads 8 columns = 16 bytes of K and
// of V; lanes c >= hd/8 idle), U rows per octet in flight; the octet's partial scores are summed with 3 shuffles,
// every octet keeps its own online softmax (fp32, base 2) over its rows, and the 16 octets' (max, sum, acc) merge in
// fixed order in shared memory. With one split the block writes the output; otherwise (max, sum, unnormalised acc)
// per (row, head, split) go to part [rows][H][nsplit][hd + 2], merged by decode_combine_k in split order.
constexpr int DA_OCT = 16, DA_U = 2;  // U: dev/decode-ab.cu, U 2 / 4 / 8 = 1.40 / 1.43 / 1.91 ms per step (one split)
template <int G, int U = DA_U>
__global__ void __launch_bounds__(DA_OCT * 8) decode_attn_k(const bf16* __restrict__ qkv, int ldq, const bf16* __restrict__ K,
                                                         const bf16* __restrict__ V, bf16* __restrict__ out,
                                                         float* __restrict__ part, const int* __restrict__ dpos, int n,
                                                         int maxLen, int Hk, int hd, int ks, float sl2) {
  __shared__ float sm[DA_OCT][G], sl[DA_OCT][G];
  __shared__ float sacc[DA_OCT][G][64];
  const int sp = blockIdx.x, r = blockIdx.y, kh = blockIdx.z, nsplit = gridDim.x;
  const int b = r / n, t = r - b * n, ctx = dpos[b] + t + 1;
  const int k0 = sp * ks, k1 = min(ctx, k0 + ks);
  if (k0 >= ctx) return;  // past this query's context (the grid covers maxLen)
  const int o = threadIdx.x >> 3, c = threadIdx.x & 7, h8 = hd >> 3, H = Hk * G;
  const bool act = c < h8;
  float q[G][8];
#pragma unroll
  for (int g = 0; g < G; g++) {
    uint4 u = make_uint4(0, 0, 0, 0);
    if (act) u = *reinterpret_cast<const uint4*>(qkv + (size_t)r * ldq + (kh * G + g) * hd + c * 8);
    const bf16* e = reinterpret_cast<const bf16*>(&u);
#pragma unroll
    for (int k = 0; k < 8; k++) q[g][k] = b2f(e[k]) * sl2;
  }
  const size_t hoff = ((size_t)b * Hk + kh) * maxLen * hd + c * 8;
  const bf16 *Kb = K + hoff, *Vb = V + hoff;
  float m[G], l[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; g++) {
    m[g] = -INFINITY, l[g] = 0.f;
#pragma unroll
    for (int k = 0; k < 8; k++) acc[g][k] = 0.f;
  }
  for (int base = k0; base < k1; base += DA_OCT * U) {  // uniform over the block: the shuffles see full warps
    uint4 ku[U], vu[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int s = base + u * DA_OCT + o;
      ku[u] = vu[u] = make_uint4(0, 0, 0, 0);
      if (act && s < k1) {
        ku[u] = *reinterpret_cast<const uint4*>(Kb + (size_t)s * hd);
        vu[u] = *reinterpret_cast<const uint4*>(Vb + (size_t)s * hd);
      }
    }
    float sc[U][G];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const bf16* e = reinterpret_cast<const bf16*>(&ku[u]);
      float kf[8];
#pragma unroll
      for (int k = 0; k < 8; k++) kf[k] = b2f(e[k]);
      const bool valid = base + u * DA_OCT + o < k1;
#pragma unroll
      for (int g = 0; g < G; g++) {
        float a = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) a = fmaf(q[g][k], kf[k], a);
        a += __shfl_xor_sync(0xffffffffu, a, 1);
        a += __shfl_xor_sync(0xffffffffu, a, 2);
        a += __shfl_xor_sync(0xffffffffu, a, 4);
        sc[u][g] = valid ? a : -INFINITY;
      }
    }
    float vf[U][8];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const bf16* e = reinterpret_cast<const bf16*>(&vu[u]);
#pragma unroll
      for (int k = 0; k < 8; k++) vf[u][k] = b2f(e[k]);
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
      float mx = sc[0][g];
#pragma unroll
      for (int u = 1; u < U; u++) mx = fmaxf(mx, sc[u][g]);
      if (mx == -INFINITY) continue;  // no row of this octet in this round
      const float mn = fmaxf(m[g], mx), corr = exp2f(m[g] - mn);
      float p[U], ps = 0.f;
#pragma unroll
      for (int u = 0; u < U; u++) p[u] = exp2f(sc[u][g] - mn), ps += p[u];
      l[g] = l[g] * corr + ps;
      m[g] = mn;
#pragma unroll
      for (int k = 0; k < 8; k++) {
        float a = acc[g][k] * corr;
#pragma unroll
        for (int u = 0; u < U; u++) a = fmaf(p[u], vf[u][k], a);
        acc[g][k] = a;
      }
    }
  }
#pragma unroll
  for (int g = 0; g < G; g++) {
    if (c == 0) sm[o][g] = m[g], sl[o][g] = l[g];
    if (act)
#pragma unroll
      for (int k = 0; k < 8; k++) sacc[o][g][c * 8 + k] = acc[g][k];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * hd; i += blockDim.x) {
    const int g = i / hd, j = i - g * hd;
    float M = -INFINITY;
    for (int w = 0; w < DA_OCT; w++) M = fmaxf(M, sm[w][g]);  // finite: octet 0 holds key k0
    float L = 0.f, A = 0.f;
    for (int w = 0; w < DA_OCT; w++) {
      if (sm[w][g] == -INFINITY) continue;  // an octet without keys (short splits)
      const float f = exp2f(sm[w][g] - M);
      L += sl[w][g] * f;
      A += sacc[w][g][j] * f;
    }
    const int h = kh * G + g;
    if (nsplit == 1) out[((size_t)r * H + h) * hd + j] = f2b(A / L);
    else {
      float* pp = part + (((size_t)r * H + h) * nsplit + sp) * (hd + 2);
      pp[j] = A;
      if (j == 0) pp[hd] = M, pp[hd + 1] = L;
    }
  }
}
// the splits of each (row, head) that hold keys, merged in split order -> out [rows][H*hd] bf16
__global__ void decode_combine_k(const float* __restrict__ part, bf16* __restrict__ out, const int* __restrict__ dpos, int n,
                                 int H, int hd, int ks, int nsplit, int total) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int rh = i / hd, j = i - rh * hd, r = rh / H;
  const int ctx = dpos[r / n] + r % n + 1, ns = min(nsplit, (ctx + ks - 1) / ks);
  const float* p = part + (size_t)rh * nsplit * (hd + 2);
  float M = -INFINITY;
  for (int s = 0; s < ns; s++) M = fmaxf(M, p[s * (hd + 2) + hd]);
  float L = 0.f, A = 0.f;
  for (int s = 0; s < ns; s++) {
    const float f = exp2f(p[s * (hd + 2) + hd] - M);
    L += p[s * (hd + 2) + hd + 1] * f;
    A += p[s * (hd + 2) + j] * f;
  }
  out[(size_t)rh * hd + j] = f2b(A / L);
}
// How a decode attention call splits the context: keys per split ks and the number of splits covering maxLen, from the
// shape only (rows, kv heads, maxLen; not the position), so a captured step replays with the same split and eager and
// captured steps round alike. Splits only fill the card: as many blocks as it holds at once (16 per SM; H200, qwen2-
// dense-1b, 64 x 32 (row, kv head) pairs at context 640, dev/decode-ab.cu: one split 1.40 ms per step, 3 splits 1.49,
// 6 splits 1.55, 12 splits 1.74); a single (row, head) pair gets up to maxLen / 64 splits. One split when part
// (partFloats floats) cannot hold the partials of all rows.
struct DecodeSplit {
  int ks, nsplit;
};
static DecodeSplit decodeSplit(int rows, int H, int Hk, int hd, int maxLen, size_t partFloats) {
  static int sms = 0;
  if (!sms) CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const long pairs = (long)rows * Hk;
  long want = std::max(1L, std::min((long)(maxLen + 63) / 64, (long)sms * 16 / pairs));
  const size_t per = (size_t)rows * H * (hd + 2);
  if (want > 1 && per * want > partFloats) want = (long)(partFloats / per);
  if (want < 2) return {maxLen, 1};
  const int ks = (int)((maxLen + want - 1) / want + 63) / 64 * 64;
  return {ks, (maxLen + ks - 1) / ks};
}
// qkv rows [B*n, ldq] (q at column 0, RoPE applied), caches as above (this feed's keys already stored) -> out [B*n, H*hd]
static void decodeAttention(const bf16* qkv, int ldq, const bf16* K, const bf16* V, bf16* out, float* part, size_t partFloats,
                            const int* dpos, int B, int n, int maxLen, int H, int Hk, int hd, float sl2) {
  const int rows = B * n;
  const DecodeSplit sp = decodeSplit(rows, H, Hk, hd, maxLen, partFloats);
  const dim3 grid(sp.nsplit, rows, Hk);
  switch (H / Hk) {
#define DA_CASE(G)                                                                                                          \
  case G:                                                                                                                   \
    decode_attn_k<G><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, K, V, out, part, dpos, n, maxLen, Hk, hd, sp.ks, sl2); \
    break;
    DA_CASE(1)
    DA_CASE(2)
    DA_CASE(4)
    DA_CASE(8)
#undef DA_CASE
    default: throw std::runtime_error(strf("cuda decoding: numHeads / numKvHeads must be 1, 2, 4 or 8 (got %d)", H / Hk));
  }
  KCHECK("decode_attn");
  if (sp.nsplit > 1) {
    const int total = rows * H * hd;
    decode_combine_k<<<nblk(total), 256, 0, g_stream>>>(part, out, dpos, n, H, hd, sp.ks, sp.nsplit, total);
    KCHECK("decode_combine");
  }
}

// greedy: ids[b] = argmax_v logits[b, v] (first index on ties, as the CPU path) over the ids not in ban[0..nBan) (the
// host's generate() sets banned logits to -inf); also written to out[b] when given. Two passes: AM_CH chunks of each row
// a block each (best value, first index), then a warp per row merges the chunks (larger value, or equal and smaller
// index). H200, 64 rows of 151,936 (dev/decode-ab.cu): 0.031 ms; a block of 1024 threads per row took 0.047 (64 blocks).
constexpr int AM_CH = 32;
__device__ __forceinline__ void am_merge(float& best, int& bi, float ob, int oi) {
  if (ob > best || (ob == best && oi < bi)) best = ob, bi = oi;
}
__global__ void __launch_bounds__(256) argmax_part_k(const bf16* __restrict__ logits, int ldl, int V, float* __restrict__ pv,
                                                     int* __restrict__ pi, const int* __restrict__ ban, int nBan) {
  const int row = blockIdx.y, ch = blockIdx.x, per = (V + AM_CH - 1) / AM_CH;
  const int v0 = ch * per, v1 = min(V, v0 + per);
  const bf16* rp = logits + (size_t)row * ldl;
  float best = -INFINITY;
  int bi = 0x7fffffff;
  for (int v = v0 + threadIdx.x; v < v1; v += blockDim.x) {
    const float x = b2f(rp[v]);
    if (x > best) {
      bool banned = false;
      for (int i = 0; i < nBan; i++) banned |= ban[i] == v;
      if (!banned) best = x, bi = v;
    }
  }
#pragma unroll
  for (int o = 16; o; o >>= 1) am_merge(best, bi, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, bi, o));
  __shared__ float sb[8];
  __shared__ int si[8];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sb[warp] = best, si[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < 8; w++) am_merge(best, bi, sb[w], si[w]);
    pv[row * AM_CH + ch] = best, pi[row * AM_CH + ch] = bi;
  }
}
__global__ void argmax_merge_k(const float* __restrict__ pv, const int* __restrict__ pi, int rows, int* __restrict__ ids,
                               int* __restrict__ out) {
  const int row = blockIdx.x * 4 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  static_assert(AM_CH == 32, "a lane per chunk");
  float best = pv[row * AM_CH + lane];
  int bi = pi[row * AM_CH + lane];
#pragma unroll
  for (int o = 16; o; o >>= 1) am_merge(best, bi, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, bi, o));
  if (lane == 0) {
    const int id = bi == 0x7fffffff ? 0 : bi;  // a row of NaNs
    ids[row] = id;
    if (out) out[row] = id;
  }
}
// pv, pi: rows * AM_CH each
static void argmaxRows(const bf16* logits, int ldl, int V, int rows, int* ids, int* out, const int* ban, int nBan, float* pv, int* pi) {
  argmax_part_k<<<dim3(AM_CH, rows), 256, 0, g_stream>>>(logits, ldl, V, pv, pi, ban, nBan);
  KCHECK("argmax_part");
  argmax_merge_k<<<(rows + 3) / 4, 128, 0, g_stream>>>(pv, pi, rows, ids, out);
  KCHECK("argmax_merge");
}
