// Tile and fragment helpers of the tensor-core kernels (attention.cuh): shared-memory tile layout, the warp-level
// primitives (mma.sync m16n8k16 / m16n8k8 bf16, ldmatrix, cp.async) and the fragment loaders built on them.
// The CPU emulator (emu/attention-emu.cpp) defines ATTN_EMU and its own lane-level versions of the primitives, then
// includes this header and attention.cuh as they are: the loaders below and every kernel run unchanged there.
#pragma once
#ifndef ATTN_EMU
#include "common.cuh"
#endif

#define ALDS 72  // smem row stride (bf16) for 64-wide tiles: conflict-free 32-bit fragment loads
// launchers specialise the kernels on the number of 8-wide head-dim tiles (hd = 56 -> 7: the padding tile is skipped)
#define NDT_SWITCH(hd, CALL)            \
  switch (((hd) + 7) / 8) {             \
    case 1: { constexpr int N_ = 1; CALL; break; } \
    case 2: { constexpr int N_ = 2; CALL; break; } \
    case 3: { constexpr int N_ = 3; CALL; break; } \
    case 4: { constexpr int N_ = 4; CALL; break; } \
    case 5: { constexpr int N_ = 5; CALL; break; } \
    case 6: { constexpr int N_ = 6; CALL; break; } \
    case 7: { constexpr int N_ = 7; CALL; break; } \
    default: { constexpr int N_ = 8; CALL; break; } \
  }

#ifndef ATTN_EMU
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma16808(float* c, const uint32_t* a, uint32_t b) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(b));
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ void cp_async16(bf16* s, const bf16* g, bool valid) {
  uint32_t sa = (uint32_t)__cvta_generic_to_shared(s);
  int sz = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(g), "r"(sz));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
__device__ __forceinline__ void ldsm4(uint32_t* r, const bf16* p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
__device__ __forceinline__ void ldsm4t(uint32_t* r, const bf16* p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
#endif  // ATTN_EMU

__device__ __forceinline__ void ld_tile_async(bf16* s, const bf16* gp, long ldg, int row0, int T, int nch) {
  for (int i = threadIdx.x; i < 512; i += blockDim.x) {
    int r = i >> 3, c = i & 7, gr = row0 + r;
    bool v = gr < T && c < nch;
    cp_async16(s + r * ALDS + c * 8, v ? gp + (long)gr * ldg + c * 8 : gp, v);
  }
}
// A fragment 16x16 at (row0, k0) of row-major s
__device__ __forceinline__ void ldA2(uint32_t* a, const bf16* s, int row0, int k0, int lane) {
  ldsm4(a, s + (row0 + (lane & 15)) * ALDS + k0 + (lane >> 4) * 8);
}
// B fragments for n-tiles n0 and n0+8 (k0..k0+15) when B[k][n] = s[n][k]: b[0..1] tile n0, b[2..3] tile n0+8
__device__ __forceinline__ void ldBn(uint32_t* b, const bf16* s, int n0, int k0, int lane) {
  ldsm4(b, s + (n0 + (lane & 7) + (lane >> 4) * 8) * ALDS + k0 + ((lane >> 3) & 1) * 8);
}
// same when B[k][n] = s[k][n] (k-major storage), via ldmatrix.trans
__device__ __forceinline__ void ldBk(uint32_t* b, const bf16* s, int n0, int k0, int lane) {
  ldsm4t(b, s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ALDS + n0 + (lane >> 4) * 8);
}
