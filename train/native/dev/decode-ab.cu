// Dev timings of one decode step's pieces (not part of the addon): qwen2-dense-1b's shapes at batch 64 (d 1792, 32
// heads of 56, MLP 3584, vocabulary 151,936, 18 layers), context 640 of a 768-token session. Every piece is timed as 18
// back-to-back calls (one per layer, each layer with its own weights / cache, so nothing stays in L2) captured in a
// CUDA graph and replayed (CUDA events, mean of 20 replays): ms per decode step without launch overhead. Also the decode
// attention at other splits (keys per block) and rows in flight per octet (U), and a plain read of the same bytes.
// Build + run on a Hopper host (repo root):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/decode-ab train/native/dev/decode-ab.cu -lcublasLt \
//     && /tmp/decode-ab
#include <cmath>
#include <cstring>
#include <type_traits>
#include <functional>
#include <vector>
#include "../common.cuh"
#include "../cublaslt.cuh"
#include "../rmsnorm.cuh"
#include "../swiglu.cuh"
#include "../decode.cuh"
#include "../tile.cuh"

// Candidate (not in the addon): a skinny GEMM for the decode step, Y[M][N] = X[M][K] . W[N][K]^T (+ bias[N]), M <= 64 rows (the batch), bf16 in and out,
// fp32 accumulation on mma.sync m16n8k16. cuBLASLt streams these weights at 1.2-2.8 TB/s (dev/decode-ab.cu). Block
// (column tile of 64, K slice of at most KS): the slice of X (64 rows) and of W (64 rows) copied to shared memory in one
// go (every 16-byte piece in flight at once: cp.async), then 4 warps of 16 columns each over all 64 rows; per 32-wide k
// step a lane reads 16 bytes of a W row (columns n0 + lane/4, n0 + 8 + lane/4; k = 8 * (lane % 4) ..) and of X rows
// lane/4 (+8, +16, ...), and the two k16 mma steps take those 8 k in a permuted order that A and B share (a dot product
// does not depend on the order of its k). With several K slices the slices' fp32 partials go to part [S][64][N]; the
// last block of a column tile to finish (a counter per tile, reset by that block) adds them in slice order, so the
// result does not depend on which block ends last. H200, 2026-12-04: 2-5x slower than cuBLASLt at every shape below
// (e.g. o 0.225-0.435 ms per step against 0.099, gate|up 0.64-0.95 against 0.164; outputs within 1 bf16 ulp of
// cuBLASLt's, 0.1% differing); a version loading W and X straight into registers (no shared memory) was as slow.
// Not profiled yet (ncu): the next thing to look at.
constexpr int SG_KS = 256;
template <int KS>
__global__ void __launch_bounds__(128) skinny_gemm_k(const bf16* __restrict__ X, int ldx, const bf16* __restrict__ W, int ldw,
                                                     bf16* __restrict__ Y, int ldy, const bf16* __restrict__ bias, int M, int N,
                                                     int K, float* __restrict__ part, int* __restrict__ cnt) {
  constexpr int LD = KS + 8;  // row stride (bf16): 16-byte reads of 8 rows x 4 pieces hit distinct banks
  extern __shared__ __align__(16) bf16 ssm[];
  bf16 *Xs = ssm, *Ws = ssm + 64 * LD;
  const int tile = blockIdx.x, sp = blockIdx.y, S = gridDim.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int kb = sp * KS, len = min(K - kb, KS), p8 = len >> 3;
  for (int i = threadIdx.x; i < 64 * p8; i += 128) {
    const int row = i / p8, c = (i - row * p8) * 8;
    cp_async16(Xs + row * LD + c, X + (size_t)min(row, M - 1) * ldx + kb + c, row < M);
    const int col = tile * 64 + row;
    cp_async16(Ws + row * LD + c, W + (size_t)min(col, N - 1) * ldw + kb + c, col < N);
  }
  cp_commit();
  float acc[4][2][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;
  cp_wait<0>();
  __syncthreads();
  const int c0 = warp * 16;
  for (int kk = 0; kk < len; kk += 32) {
    uint4 wb[2], xa[4][2];
#pragma unroll
    for (int j = 0; j < 2; j++) wb[j] = *reinterpret_cast<const uint4*>(Ws + (c0 + 8 * j + g) * LD + kk + q * 8);
#pragma unroll
    for (int mt = 0; mt < 4; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++) xa[mt][h] = *reinterpret_cast<const uint4*>(Xs + (mt * 16 + h * 8 + g) * LD + kk + q * 8);
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {  // k16 step hf: the lane's k pairs 4hf, 4hf+1 (slots 2q..) and 4hf+2, 4hf+3 (2q+8..)
#pragma unroll
      for (int mt = 0; mt < 4; mt++) {
        const uint32_t* x0 = reinterpret_cast<const uint32_t*>(&xa[mt][0]);
        const uint32_t* x1 = reinterpret_cast<const uint32_t*>(&xa[mt][1]);
        const uint32_t a[4] = {x0[2 * hf], x1[2 * hf], x0[2 * hf + 1], x1[2 * hf + 1]};
#pragma unroll
        for (int j = 0; j < 2; j++) {
          const uint32_t* wv = reinterpret_cast<const uint32_t*>(&wb[j]);
          const uint32_t bb[2] = {wv[2 * hf], wv[2 * hf + 1]};
          mma16816(acc[mt][j], a, bb);
        }
      }
    }
  }
  // acc[mt][j]: rows mt*16 + g (e 0, 1) and + 8 (e 2, 3), columns n0 + 8j + 2q + (e & 1)
  const int n0 = tile * 64 + c0;
  auto store = [&](int row, int col, float v0, float v1) {
    if (row >= M || col >= N) return;  // N is even
    if (bias) v0 += b2f(bias[col]), v1 += b2f(bias[col + 1]);
    *reinterpret_cast<__nv_bfloat162*>(Y + (size_t)row * ldy + col) = __floats2bfloat162_rn(v0, v1);
  };
  if (S == 1) {
#pragma unroll
    for (int mt = 0; mt < 4; mt++)
#pragma unroll
      for (int j = 0; j < 2; j++) {
        const int col = n0 + 8 * j + 2 * q;
        store(mt * 16 + g, col, acc[mt][j][0], acc[mt][j][1]);
        store(mt * 16 + 8 + g, col, acc[mt][j][2], acc[mt][j][3]);
      }
    return;
  }
  auto pidx = [&](int s, int row, int col) { return ((size_t)s * 64 + row) * N + col; };
#pragma unroll
  for (int mt = 0; mt < 4; mt++)
#pragma unroll
    for (int j = 0; j < 2; j++) {
      const int col = n0 + 8 * j + 2 * q;
      if (col >= N) continue;
      __stcg(reinterpret_cast<float2*>(part + pidx(sp, mt * 16 + g, col)), make_float2(acc[mt][j][0], acc[mt][j][1]));
      __stcg(reinterpret_cast<float2*>(part + pidx(sp, mt * 16 + 8 + g, col)), make_float2(acc[mt][j][2], acc[mt][j][3]));
    }
  __threadfence();
  __syncthreads();
  __shared__ int last;
  if (threadIdx.x == 0) last = atomicAdd(cnt + tile, 1) == S - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  float2 v[4][2][2];
  for (int s2 = 0; s2 < S; s2++)  // slice order
#pragma unroll
    for (int mt = 0; mt < 4; mt++)
#pragma unroll
      for (int j = 0; j < 2; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int col = min(n0 + 8 * j + 2 * q, N - 2);
          const float2 w = __ldcg(reinterpret_cast<const float2*>(part + pidx(s2, mt * 16 + 8 * h + g, col)));
          if (s2 == 0) v[mt][j][h] = w;
          else v[mt][j][h].x += w.x, v[mt][j][h].y += w.y;
        }
#pragma unroll
  for (int mt = 0; mt < 4; mt++)
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
      for (int h = 0; h < 2; h++) store(mt * 16 + 8 * h + g, n0 + 8 * j + 2 * q, v[mt][j][h].x, v[mt][j][h].y);
  if (threadIdx.x == 0) cnt[tile] = 0;  // ready for the next call (graph replays)
}
static int skinnySlices(int K, int KS = SG_KS) { return (K + KS - 1) / KS; }
// Y = X . W^T (+ bias): M <= 64, K a multiple of 32, leading dimensions multiples of 8, N even; part holds
// skinnySlices(K) * 64 * N floats and cnt (N + 63) / 64 zeroed ints
template <int KS = SG_KS>
static void skinnyGemm(const bf16* X, int ldx, const bf16* W, int ldw, bf16* Y, int ldy, const bf16* bias, int M, int N, int K,
                       float* part, int* cnt) {
  if (M > 64 || M <= 0 || K % 32 || N % 2)
    throw std::runtime_error(strf("skinnyGemm: M %d (at most 64), K %d (a multiple of 32), N %d (even)", M, K, N));
  constexpr size_t smem = 2 * 64 * (KS + 8) * sizeof(bf16);
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(skinny_gemm_k<KS>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    init = true;
  }
  const dim3 grid((N + 63) / 64, skinnySlices(K, KS));
  skinny_gemm_k<KS><<<grid, 128, smem, g_stream>>>(X, ldx, W, ldw, Y, ldy, bias, M, N, K, part, cnt);
  KCHECK("skinny_gemm");
}


__global__ void fillb_k(bf16* p, long n, uint32_t seed, float sc) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = __float2bfloat16(((x >> 8) * (1.f / 16777216.f) - 0.5f) * sc);
  }
}
__global__ void fillf_k(float* p, long n, float v) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) p[i] = v;
}
__global__ void read_k(const uint4* __restrict__ p, long n, int* sink) {
  uint32_t acc = 0;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const uint4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *sink = 1;
}
// ms per replay of f() captured in a graph
static double graphMs(const std::function<void()>& f, int reps = 20) {
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  f();  // plans, first-touch
  CK(cudaDeviceSynchronize());
  g_stream = s;
  cudaGraph_t g;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  f();
  CK(cudaStreamEndCapture(s, &g));
  g_stream = 0;
  cudaGraphExec_t ge;
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));
  cudaEvent_t a, b;
  cudaEventCreate(&a); cudaEventCreate(&b);
  CK(cudaEventRecord(a, s));
  for (int i = 0; i < reps; i++) CK(cudaGraphLaunch(ge, s));
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  float ms;
  cudaEventElapsedTime(&ms, a, b);
  cudaGraphExecDestroy(ge); cudaGraphDestroy(g); cudaStreamDestroy(s);
  return ms / reps;
}
int main() {
  const int L = 18, B = 64, d = 1792, H = 32, Hk = 32, hd = 56, I = 3584, V = 151936, maxLen = 768, pos = 639;
  const int qd = H * hd, kd = Hk * hd, ldq = qd + 2 * kd;
  const float sl2 = 1.f / std::sqrt((float)hd) * 1.4426950408889634f;
  Gemm gemm;
  gemm.init();
  auto balloc = [](long n, uint32_t seed, float sc) { bf16* p; CK(cudaMalloc(&p, n * 2)); fillb_k<<<2048, 256>>>(p, n, seed, sc); return p; };
  auto falloc = [](long n, float v) { float* p; CK(cudaMalloc(&p, n * 4)); fillf_k<<<1024, 256>>>(p, n, v); return p; };
  const long cacheL = (long)B * Hk * maxLen * hd;
  bf16 *Kc = balloc(cacheL * L, 1, 2.f), *Vc = balloc(cacheL * L, 2, 2.f);
  bf16 *Wqkv = balloc((long)L * ldq * d, 3, 0.05f), *bqkv = balloc((long)L * ldq, 4, 0.1f), *Wo = balloc((long)L * d * qd, 5, 0.05f);
  bf16 *Wgu = balloc((long)L * 2 * I * d, 6, 0.05f), *Wd = balloc((long)L * d * I, 7, 0.05f), *Wh = balloc((long)V * d, 8, 0.05f);
  bf16 *xn = balloc((long)B * d, 9, 1.f), *qkv = balloc((long)B * ldq, 10, 1.f), *att = balloc((long)B * qd, 11, 1.f);
  bf16 *o = balloc((long)B * d, 12, 1.f), *gu = balloc((long)B * 2 * I, 13, 1.f), *hm = balloc((long)B * I, 14, 1.f);
  bf16* logits = balloc((long)B * V, 15, 1.f);
  float *x = falloc((long)B * d, 0.5f), *xmid = falloc((long)B * d, 0.5f), *w = falloc(d, 1.f), *r = falloc(B, 0.f);
  float *cs = falloc((long)maxLen * hd / 2, 1.f), *sn = falloc((long)maxLen * hd / 2, 0.f);
  float* part = falloc((long)B * H * (hd + 2) * 12, 0.f);
  float* apv; int* api;
  CK(cudaMalloc(&apv, B * AM_CH * 4)); CK(cudaMalloc(&api, B * AM_CH * 4));
  int *dpos, *ids, *sink;
  CK(cudaMalloc(&dpos, B * 4)); CK(cudaMalloc(&ids, B * 4)); CK(cudaMalloc(&sink, 4));
  { std::vector<int> hp(B, pos); CK(cudaMemcpy(dpos, hp.data(), B * 4, cudaMemcpyHostToDevice)); }  // one position per sequence
  const double kvBytes = 2.0 * B * Hk * (pos + 1) * hd * 2;  // K and V read per layer
  auto attn = [&](int l) {
    decodeAttention(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, (size_t)B * H * (hd + 2) * 12, dpos, B, 1, maxLen, H, Hk,
                    hd, sl2);
  };
  struct Piece { const char* name; std::function<void(int)> f; double bytes; };
  const std::vector<Piece> pieces = {
      {"rmsnorm x2", [&](int l) { rmsnormForward(x, o, xmid, w, xn, r, B, d, 1e-6f); rmsnormForward(xmid, o, x, w, xn, r, B, d, 1e-6f); }, 0},
      {"gemm qkv+bias", [&](int l) { gemm.run(false, true, B, ldq, d, xn, d, Wqkv + (long)l * ldq * d, d, qkv, ldq, false, 1.f, 0.f, bqkv + (long)l * ldq); }, 2.0 * ldq * d},
      {"rope+kv store", [&](int l) { ropeKvStore(qkv, ldq, qd, qd + kd, cs, sn, Kc + l * cacheL, Vc + l * cacheL, dpos, B, 1, H, Hk, hd, maxLen); }, 0},
      {"decode attention", [&](int l) { attn(l); }, kvBytes},
      {"gemm o", [&](int l) { gemm.run(false, true, B, d, qd, att, qd, Wo + (long)l * d * qd, qd, o, d, false, 1.f, 0.f); }, 2.0 * d * qd},
      {"gemm gate|up", [&](int l) { gemm.run(false, true, B, 2 * I, d, xn, d, Wgu + (long)l * 2 * I * d, d, gu, 2 * I, false, 1.f, 0.f); }, 2.0 * 2 * I * d},
      {"swiglu", [&](int l) { swigluForward(gu, hm, B, I); }, 0},
      {"gemm down", [&](int l) { gemm.run(false, true, B, d, I, hm, I, Wd + (long)l * d * I, I, o, d, false, 1.f, 0.f); }, 2.0 * d * I},
  };
  double sum = 0;
  printf("piece                      ms/step (18 layers)   GB/s\n");
  for (const Piece& p : pieces) {
    const double ms = graphMs([&]() { for (int l = 0; l < L; l++) p.f(l); });
    sum += ms;
    printf("%-26s %8.3f            %s\n", p.name, ms, p.bytes > 0 ? strf("%.0f", p.bytes * L / ms / 1e6).c_str() : "-");
  }
  const double hms = graphMs([&]() {
    gemm.run(false, true, B, V, d, xn, d, Wh, d, logits, V, false, 1.f, 0.f);
    argmaxRows(logits, V, V, B, ids, nullptr, nullptr, 0, apv, api);
  });
  sum += hms;
  printf("%-26s %8.3f            %.0f\n", "lm_head + argmax", hms, 2.0 * V * d / hms / 1e6);
  const double step = graphMs([&]() {
    for (int l = 0; l < L; l++)
      for (const Piece& p : pieces) p.f(l);
    gemm.run(false, true, B, V, d, xn, d, Wh, d, logits, V, false, 1.f, 0.f);
    argmaxRows(logits, V, V, B, ids, nullptr, nullptr, 0, apv, api);
  });
  printf("sum of pieces %.3f ms; the whole step in one graph %.3f ms\n", sum, step);
  // decode attention variants: keys per split, rows in flight per octet
  const double rd = graphMs([&]() { for (int l = 0; l < L; l++) read_k<<<132 * 16, 256, 0, g_stream>>>((const uint4*)(Kc + l * cacheL), cacheL / 8, sink); });
  printf("plain read of 18 K caches (%.0f MB each): %.3f ms, %.0f GB/s\n", cacheL * 2 / 1e6, rd, cacheL * 2.0 * L / rd / 1e6);
  // the skinny GEMM (decode.cuh) against cuBLASLt per shape: ms per step (18 calls; lm_head one), GB/s, max |diff| / max |y|
  {
    float* spart = falloc(64L * 151936 * 16, 0.f);
    int* scnt;
    CK(cudaMalloc(&scnt, 4 * 4096));
    CK(cudaMemset(scnt, 0, 4 * 4096));
    bf16* yref = balloc((long)B * V, 16, 1.f);
    struct SG { const char* name; int N, K, reps; const bf16* W; const bf16* X; bf16* Y; long wstride; const bf16* bias; long bstride; };
    const std::vector<SG> sgs = {{"qkv+bias", ldq, d, L, Wqkv, xn, qkv, (long)ldq * d, bqkv, ldq}, {"o", d, qd, L, Wo, att, o, (long)d * qd, nullptr, 0},
                                 {"gate|up", 2 * I, d, L, Wgu, xn, gu, 2L * I * d, nullptr, 0}, {"down", d, I, L, Wd, hm, o, (long)d * I, nullptr, 0},
                                 {"lm_head", V, d, 1, Wh, xn, logits, 0, nullptr, 0}};
    auto cmp = [&](const SG& g) {
      std::vector<uint16_t> a((size_t)B * g.N), b((size_t)B * g.N);
      CK(cudaDeviceSynchronize());
      CK(cudaMemcpy(a.data(), yref, a.size() * 2, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(b.data(), g.Y, b.size() * 2, cudaMemcpyDeviceToHost));
      auto f = [](uint16_t u) { uint32_t x = (uint32_t)u << 16; float v; memcpy(&v, &x, 4); return v; };
      double mx = 0, md = 0;
      long ne = 0;
      for (size_t i = 0; i < a.size(); i++) mx = std::max(mx, (double)std::fabs(f(a[i]))), md = std::max(md, (double)std::fabs(f(a[i]) - f(b[i]))), ne += a[i] != b[i];
      return strf("max|diff|/max|y| %.2e, %.1f%% of outputs differ", md / mx, 100.0 * ne / a.size());
    };
    for (const SG& g : sgs) {
      const double bytes = 2.0 * g.N * g.K * g.reps;
      const double cms = graphMs([&]() { for (int l = 0; l < g.reps; l++) gemm.run(false, true, B, g.N, g.K, g.X, g.K, g.W + l * g.wstride, g.K, g.Y, g.N, false, 1.f, 0.f, g.bias ? g.bias + l * g.bstride : nullptr); });
      gemm.run(false, true, B, g.N, g.K, g.X, g.K, g.W, g.K, yref, g.N, false, 1.f, 0.f, g.bias);
      printf("skinny %-8s (N %d K %d): cuBLASLt %.3f ms/step %.0f GB/s;", g.name, g.N, g.K, cms, bytes / cms / 1e6);
      auto sk = [&](auto ksc) {
        constexpr int KS = decltype(ksc)::value;
        const double ms = graphMs([&]() { for (int l = 0; l < g.reps; l++) skinnyGemm<KS>(g.X, g.K, g.W + l * g.wstride, g.K, g.Y, g.N, g.bias ? g.bias + l * g.bstride : nullptr, B, g.N, g.K, spart, scnt); });
        skinnyGemm<KS>(g.X, g.K, g.W, g.K, g.Y, g.N, g.bias, B, g.N, g.K, spart, scnt);
        printf(" | KS %d (%d slices) %.3f ms %.0f GB/s %s", KS, skinnySlices(g.K, KS), ms, bytes / ms / 1e6, cmp(g).c_str());
      };
      sk(std::integral_constant<int, 128>());
      sk(std::integral_constant<int, 256>());
      sk(std::integral_constant<int, 512>());
      printf("\n");
    }
    // argmax (two passes) with a ban list of 8
    {
      float* pv; int* pi; int* dban;
      CK(cudaMalloc(&pv, B * AM_CH * 4)); CK(cudaMalloc(&pi, B * AM_CH * 4)); CK(cudaMalloc(&dban, 64 * 4));
      std::vector<int> ban(8);
      for (int i = 0; i < 8; i++) ban[i] = i * 977;
      CK(cudaMemcpy(dban, ban.data(), 32, cudaMemcpyHostToDevice));
      printf("argmax (64 rows, 8 banned ids): %.4f ms\n", graphMs([&]() { argmaxRows(logits, V, V, B, ids, nullptr, dban, 8, pv, pi); }));
    }
    // the whole step with the skinny GEMMs (picked slices) and the production attention
    const double step2 = graphMs([&]() {
      for (int l = 0; l < L; l++) {
        rmsnormForward(x, o, xmid, w, xn, r, B, d, 1e-6f);
        skinnyGemm<SG_KS>(xn, d, Wqkv + (long)l * ldq * d, d, qkv, ldq, bqkv + (long)l * ldq, B, ldq, d, spart, scnt);
        ropeKvStore(qkv, ldq, qd, qd + kd, cs, sn, Kc + l * cacheL, Vc + l * cacheL, dpos, B, 1, H, Hk, hd, maxLen);
        attn(l);
        skinnyGemm<SG_KS>(att, qd, Wo + (long)l * d * qd, qd, o, d, nullptr, B, d, qd, spart, scnt);
        rmsnormForward(xmid, o, x, w, xn, r, B, d, 1e-6f);
        skinnyGemm<SG_KS>(xn, d, Wgu + (long)l * 2 * I * d, d, gu, 2 * I, nullptr, B, 2 * I, d, spart, scnt);
        swigluForward(gu, hm, B, I);
        skinnyGemm<SG_KS>(hm, I, Wd + (long)l * d * I, I, o, d, nullptr, B, d, I, spart, scnt);
      }
      gemm.run(false, true, B, V, d, xn, d, Wh, d, logits, V, false, 1.f, 0.f);
      argmaxRows(logits, V, V, B, ids, nullptr, nullptr, 0, apv, api);
    });
    printf("the whole step with the skinny GEMMs: %.3f ms\n", step2);
  }
  for (int ks : {128, 256, 768})
    for (int U : {1, 2, 4}) {
      const int ns = (maxLen + ks - 1) / ks;
      const double ms = graphMs([&]() {
        for (int l = 0; l < L; l++) {
          const dim3 grid(ns, B, Hk);
          if (U == 1) decode_attn_k<1, 1><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (U == 2) decode_attn_k<1, 2><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (U == 4) decode_attn_k<1, 4><<<grid, DA_OCT * 8, 0, g_stream>>>(qkv, ldq, Kc + l * cacheL, Vc + l * cacheL, att, part, dpos, 1, maxLen, Hk, hd, ks, sl2);
          if (ns > 1) decode_combine_k<<<nblk(B * H * hd), 256, 0, g_stream>>>(part, att, dpos, 1, H, hd, ks, ns, B * H * hd);
        }
      });
      printf("attention ks %3d (%d splits) U %d: %.3f ms/step, %.0f GB/s\n", ks, ns, U, ms, kvBytes * L / ms / 1e6);
    }
  // the skinny GEMMs: every algorithm cuBLASLt's heuristic offers (up to 16), each timed as 18 calls in a graph
  struct GS { const char* name; int N, K; const bf16* W; const bf16* X; bf16* Y; long wstride; };
  const std::vector<GS> gs = {{"qkv", ldq, d, Wqkv, xn, qkv, (long)ldq * d}, {"o", d, qd, Wo, att, o, (long)d * qd},
                              {"gate|up", 2 * I, d, Wgu, xn, gu, 2L * I * d}, {"down", d, I, Wd, hm, o, (long)d * I}};
  for (const GS& g : gs) {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    CKL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = CUBLAS_OP_T, opB = CUBLAS_OP_N;
    CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
    CKL(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, g.K, g.N, g.K));
    CKL(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, g.K, B, g.K));
    CKL(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, g.N, B, g.N));
    cublasLtMatmulPreference_t pref;
    CKL(cublasLtMatmulPreferenceCreate(&pref));
    CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &gemm.wsSize, sizeof gemm.wsSize));
    cublasLtMatmulHeuristicResult_t res[16];
    int nres = 0;
    CKL(cublasLtMatmulAlgoGetHeuristic(gemm.h, op, la, lb, lc, lc, pref, 16, res, &nres));
    printf("gemm %s (M %d N %d K %d): %d algorithms:", g.name, B, g.N, g.K, nres);
    const float one = 1.f, zero = 0.f;
    for (int i = 0; i < nres; i++) {
      const double ms = graphMs([&]() {
        for (int l = 0; l < L; l++)
          CKL(cublasLtMatmul(gemm.h, op, &one, g.W + l * g.wstride, la, g.X, lb, &zero, g.Y, lc, g.Y, lc, &res[i].algo, gemm.ws,
                             gemm.wsSize, g_stream));
      });
      printf(" %.3f", ms);
    }
    printf(" ms/step (%.0f MB of weights per step)\n", 2.0 * g.N * g.K * L / 1e6);
    cublasLtMatmulPreferenceDestroy(pref);
  }
  CK(cudaDeviceSynchronize());
  printf("done\n");
  return 0;
}
