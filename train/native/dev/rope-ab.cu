// Dev A/B of RoPE's forward (rope.cuh; not part of the addon): the production rope_fwd_k against a candidate (session 9,
// written without a GPU: compile-checked, not measured), in place on the q and k columns of random [q|k|v] bf16 rows, on
// steel-1b's shape (B 8, T 2048, H 32, hd 56), GQA (H 32 / 8) and two small odd shapes; timed with CUDA events
// (alternating, median of 20: ms per call and GB/s of the q/k bytes read and written) and the outputs compared bit for
// bit. `SECTIONS=ropeab train/native/run-gpu-checks.sh` builds and runs it, or:
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/rope-ab train/native/dev/rope-ab.cu
//   /tmp/rope-ab
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>
#include "../rope.cuh"


// forward (in place on the q and k columns of the [q|k|v] rows), through shared memory: a block of 256 threads takes rp
// consecutive rows; their q and k heads are read into shared memory with 16-byte loads (consecutive threads,
// consecutive 16 bytes: one contiguous run per row when koff = H*hd; up to 8 loads per thread issued before any is
// stored), the rows' cos/sin table rows beside them; then each thread rotates 8 columns of a head (two groups of 4
// adjacent columns, each wholly in the first or the second half: its partners hd/2 away, read from shared memory) and
// writes them back with one 16-byte store. The products are rope_fwd_k's (a c - b s and b c + a s per pair, fp32 from
// bf16, rounded once; the PTX has the same mul / sub / fma shapes), so the output should be bit-identical to it.
// (rope_fwd_k: a thread per 4 pairs of a head, 8-byte accesses at columns p and p + hd/2, the table read per row and
// thread: ~1.7 ms per steel-1b step in the profile for 1.06 ms of bytes at 4 TB/s.)
// Needs hd % 8 == 0 and ldq, koff multiples of 8 (16-byte aligned rows and heads).
#define ROPE_PER 8  // 16-byte chunks per thread and pass
__global__ void __launch_bounds__(256) rope_fwd_cand_k(bf16* __restrict__ x, const float* __restrict__ cs,
                                                  const float* __restrict__ sn, int N, int T, int H, int Hk, int hd, int ldq,
                                                  int koff, int rp) {
  extern __shared__ uint4 rsm[];  // rp rows of U8 chunks (8 bf16 each), then rp x half cos, rp x half sin
  const int h8 = hd >> 3, half = hd >> 1, U8 = (H + Hk) * h8;
  const int r0 = blockIdx.x * rp, nr = min(rp, N - r0), total = nr * U8;
  float* tc = reinterpret_cast<float*>(rsm + (size_t)rp * U8);
  float* ts = tc + rp * half;
  auto col = [&](int u) {  // column of chunk u of a row
    const int hh = u / h8;
    return (hh < H ? hh * hd : koff + (hh - H) * hd) + (u - hh * h8) * 8;
  };
  for (int base = 0; base < total; base += 256 * ROPE_PER) {
    uint4 v[ROPE_PER];
#pragma unroll
    for (int k = 0; k < ROPE_PER; k++) {
      const int i = base + k * 256 + threadIdx.x;
      if (i < total) {
        const int r = i / U8;
        v[k] = *reinterpret_cast<const uint4*>(x + (size_t)(r0 + r) * ldq + col(i - r * U8));
      }
    }
#pragma unroll
    for (int k = 0; k < ROPE_PER; k++) {
      const int i = base + k * 256 + threadIdx.x;
      if (i < total) rsm[i] = v[k];
    }
  }
  for (int i = threadIdx.x; i < nr * half; i += 256) {
    const int r = i / half, p = i - r * half, tt = (r0 + r) % T;
    tc[i] = cs[tt * half + p];
    ts[i] = sn[tt * half + p];
  }
  __syncthreads();
  const bf16* sb = reinterpret_cast<const bf16*>(rsm);
  for (int i = threadIdx.x; i < total; i += 256) {
    const int r = i / U8, u = i - r * U8, hh = u / h8, w = (u - hh * h8) * 8;
    const bf16* hb = sb + ((size_t)r * U8 + (size_t)hh * h8) * 8;  // the head's hd values
    float own[8], o[8];
    unpack8(rsm[i], own);
#pragma unroll
    for (int g = 0; g < 2; g++) {
      const int q0 = w + 4 * g;
      const bool first = q0 < half;
      const int p0 = first ? q0 : q0 - half;  // the pairs' index
      const float4 ot = ld_bf16x4(hb + (first ? q0 + half : p0));
      const float4 c = *reinterpret_cast<const float4*>(tc + r * half + p0);
      const float4 s = *reinterpret_cast<const float4*>(ts + r * half + p0);
      const float* e = own + 4 * g;
      if (first) {  // a = own, b = its partner: a c - b s
        o[4 * g] = e[0] * c.x - ot.x * s.x, o[4 * g + 1] = e[1] * c.y - ot.y * s.y;
        o[4 * g + 2] = e[2] * c.z - ot.z * s.z, o[4 * g + 3] = e[3] * c.w - ot.w * s.w;
      } else {  // b = own, a = its partner: b c + a s
        o[4 * g] = e[0] * c.x + ot.x * s.x, o[4 * g + 1] = e[1] * c.y + ot.y * s.y;
        o[4 * g + 2] = e[2] * c.z + ot.z * s.z, o[4 * g + 3] = e[3] * c.w + ot.w * s.w;
      }
    }
    *reinterpret_cast<uint4*>(x + (size_t)(r0 + r) * ldq + col(u)) = pack8(o);
  }
}
static void ropeForwardCand(bf16* x, const float* cosT, const float* sinT, long N, int T, int H, int Hk, int hd, int ldq, int koff) {
  const size_t row = (size_t)(H + Hk) * hd * 2 + (size_t)hd * 4;  // a row's shared memory: q|k heads, cos and sin
  const int rp = (int)std::max<size_t>(1, std::min<size_t>(4, (40 << 10) / row));
  rope_fwd_cand_k<<<nblk(N, rp), 256, rp * row, g_stream>>>(x, cosT, sinT, (int)N, T, H, Hk, hd, ldq, koff, rp);
  KCHECK("rope_fwd_cand");
}

__global__ void rnd_bf16_k(bf16* p, long n, uint32_t seed) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    p[i] = f2b(4.f * ((x >> 8) * (1.f / 16777216.f) - 0.5f));
  }
}
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main() {
  struct Shape { int B, T, H, Hk, hd; };
  const Shape shapes[] = {{8, 2048, 32, 32, 56}, {8, 2048, 32, 8, 56}, {3, 77, 4, 2, 64}, {2, 100, 4, 1, 8}};
  bool allSame = true;
  for (const Shape& sh : shapes) {
    const long N = (long)sh.B * sh.T;
    const int qd = sh.H * sh.hd, kd = sh.Hk * sh.hd, ldq = qd + 2 * kd;
    float* cosT = (float*)devAlloc((size_t)sh.T * sh.hd / 2 * 4);
    float* sinT = (float*)devAlloc((size_t)sh.T * sh.hd / 2 * 4);
    ropeTables(cosT, sinT, sh.T, sh.hd, 1e6);
    bf16* x0 = (bf16*)devAlloc((size_t)N * ldq * 2);
    bf16* xa = (bf16*)devAlloc((size_t)N * ldq * 2);
    bf16* xb = (bf16*)devAlloc((size_t)N * ldq * 2);
    rnd_bf16_k<<<1024, 256>>>(x0, N * ldq, 11);
    auto runProd = [&](bf16* x) { ropeForward(x, cosT, sinT, N, sh.T, sh.H, sh.Hk, sh.hd, ldq, qd); };
    auto runCand = [&](bf16* x) { ropeForwardCand(x, cosT, sinT, N, sh.T, sh.H, sh.Hk, sh.hd, ldq, qd); };
    CK(cudaMemcpy(xa, x0, (size_t)N * ldq * 2, cudaMemcpyDeviceToDevice));
    CK(cudaMemcpy(xb, x0, (size_t)N * ldq * 2, cudaMemcpyDeviceToDevice));
    runProd(xa);
    runCand(xb);
    std::vector<uint16_t> ha((size_t)N * ldq), hb((size_t)N * ldq), h0((size_t)N * ldq);
    CK(cudaMemcpy(ha.data(), xa, ha.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hb.data(), xb, hb.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(h0.data(), x0, h0.size() * 2, cudaMemcpyDeviceToHost));
    const bool same = ha == hb;
    long qkChanged = 0, vChanged = 0;  // the q/k columns must have moved (but at position 0), v not
    for (long r = 0; r < N; r++)
      for (int c = 0; c < ldq; c++)
        if (ha[r * ldq + c] != h0[r * ldq + c]) (c < qd + kd ? qkChanged : vChanged)++;
    allSame &= same;
    std::vector<double> tp, tc;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int it = 0; it < 46; it++) {  // production and candidate alternating, in place (the values keep rotating: same bytes)
      const bool isProd = it % 2 == 0;
      CK(cudaEventRecord(e0));
      if (isProd) runProd(xa);
      else runCand(xb);
      CK(cudaEventRecord(e1));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      if (it >= 6) (isProd ? tp : tc).push_back(ms);
    }
    const double gb = 2.0 * N * (qd + kd) * 2 / 1e9;  // q and k read and written
    printf("ROPE B %d T %d H %d Hk %d hd %d: production %.4f ms (%.0f GB/s), candidate %.4f ms (%.0f GB/s); outputs %s (q/k values changed %ld "
           "of %ld, v changed %ld)\n",
           sh.B, sh.T, sh.H, sh.Hk, sh.hd, median(tp), gb / median(tp) * 1e3, median(tc), gb / median(tc) * 1e3,
           same ? "bit-identical" : "DIFFER", qkChanged, N * (qd + kd), vChanged);
    devFree(cosT, 0), devFree(sinT, 0), devFree(x0, 0), devFree(xa, 0), devFree(xb, 0);
  }
  printf("ROPE %s\n", allSame ? "ALL BIT-IDENTICAL" : "SOME DIFFER");
  return 0;
}
