// Tile and fragment helpers of the tensor-core kernels (attention.cuh): the warpgroup-level wgmma wrappers with their
// swizzled tiles and descriptors, the bulk tensor copy (TMA), mbarriers and setmaxnreg of the warp-specialised kernels;
// and the warp-level primitives (mma.sync m16n8k16 / m16n8k8 bf16, ldmatrix, cp.async) that softmoe.cuh and the dev/
// A/B programs use.
// The CPU emulator (emu/attention-emu.cpp) defines ATTN_EMU and its own lane-level versions of the primitives the
// attention kernels use, then includes this header and attention.cuh as they are: every kernel runs unchanged there.
#pragma once
#ifndef ATTN_EMU
#include <cuda.h>  // CUtensorMap
#include "common.cuh"
#endif

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
#endif  // ATTN_EMU

// ---------------------------------------------------------------- Hopper warpgroup MMA (wgmma, sm_90a; the emulator models it)
// Shared-memory tiles for wgmma: rows of 64 bf16 (128 bytes), 1024-byte aligned, 16-byte chunks swizzled the 128-byte
// way (chunk c of row r at chunk c ^ (r & 7)), the canonical layout the descriptors below name. One descriptor form
// serves both majors here: a tile is at most 64 elements wide, so only the stride between 8-row groups (1024 bytes)
// matters; LBO = SBO = 1024 is valid whichever of the two the hardware reads as that stride.
//  - K-major operand (rows = M or N, the 64 columns = K): the k16 step kk starts 32 bytes further (inside the swizzle);
//  - MN-major operand (rows = K, columns = N, `tnspB`): the k16 step kk starts 16 rows (2048 bytes) further.
// Accumulator of m64nNk16 in thread (warp w of the group, lane = 4g + t): d[4j + i] = row 16w + g + 8(i >> 1), column
// 8j + 2t + (i & 1); a register A fragment (k16 step) has mma.sync's m16n8k16 layout over the warp's 16 rows.
#define WG_SWZ(r, c) ((r) * 64 + ((((c) ^ (r)) & 7) << 3))  // element offset of chunk c of row r in a swizzled tile
#ifndef ATTN_EMU
__device__ __forceinline__ uint64_t wg_desc(const bf16* tile) {
  const uint32_t a = (uint32_t)__cvta_generic_to_shared(tile);
  return (uint64_t)((a & 0x3FFFF) >> 4) | ((uint64_t)64 << 16) | ((uint64_t)64 << 32) | (1ull << 62);
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
// keeps the compiler from moving register reads/writes of an accumulator across the asynchronous MMA
template <int N>
__device__ __forceinline__ void wg_reg_fence(float* d) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
// generic-proxy shared-memory writes (cp.async, st.shared) made visible to the tensor cores' async proxy
__device__ __forceinline__ void fence_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// D (64 x N) (+)= A (64 x 16, K-major shared) * B (16 x N, K-major shared: N rows of 16); acc = 0: D = A B (N = 64, 128)
__device__ __forceinline__ void wg_ss_n64(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_ss_n128(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n8(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %9, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n16(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %13, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7}, {%8,%9,%10,%11}, %12, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n24(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %17, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n24k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11}, {%12,%13,%14,%15}, %16, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n32(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %21, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n40(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %25, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n40k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19}, {%20,%21,%22,%23}, %24, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n48(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %29, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n48k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23}, {%24,%25,%26,%27}, %28, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n56(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %33, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n56k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27}, {%28,%29,%30,%31}, %32, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__device__ __forceinline__ void wg_rs_n64(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile(
      "{.reg .pred p;\n setp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}

// D (64 x N) (+)= A (64 x 16, registers) * B (16 x N, MN-major shared, transposed by the instruction) (wrappers
// generated for N = 8..64: the operand lists name every accumulator register)
template <int N>
__device__ __forceinline__ void wg_ss(float* d, uint64_t da, uint64_t db, int acc) {  // N = 64 or 128
  if constexpr (N == 128) wg_ss_n128(d, da, db, acc);
  else wg_ss_n64(d, da, db, acc);
}
template <int N>
__device__ __forceinline__ void wg_rs(float* d, const uint32_t* a, uint64_t db, int acc) {
  if constexpr (N == 8) wg_rs_n8(d, a, db, acc);
  else if constexpr (N == 16) wg_rs_n16(d, a, db, acc);
  else if constexpr (N == 24) wg_rs_n24(d, a, db, acc);
  else if constexpr (N == 32) wg_rs_n32(d, a, db, acc);
  else if constexpr (N == 40) wg_rs_n40(d, a, db, acc);
  else if constexpr (N == 48) wg_rs_n48(d, a, db, acc);
  else if constexpr (N == 56) wg_rs_n56(d, a, db, acc);
  else wg_rs_n64(d, a, db, acc);
}

// ---------------------------------------------------------------- TMA, mbarriers, register reallocation (sm_90; the emulator models them)
// An mbarrier (a uint64_t in shared memory) completes a phase when its arrival count is reached and the bytes announced
// by arrive.expect_tx have landed (each cp.async.bulk.tensor completes its bytes on it); waiters name the parity of the
// phase they wait for. tma_load4: a box (c0 column, c1 head, c2 row, c3 batch) of a 4-D tensor map into shared memory
// (the map's swizzle and zero fill applied by the copy engine). setmaxnreg moves registers between the warpgroups of a
// block (producer down, consumers up; the kernel needs __launch_bounds__(threads, blocks per SM)).
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_init(uint64_t* b, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(b)), "r"(count) : "memory");
}
// the initialisations visible to the async proxy (the copy engine) before the block barrier that follows
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_expect_tx(uint64_t* b, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(b)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* b, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred P1;\nLAB_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
      "@P1 bra DONE;\nbra LAB_WAIT;\nDONE:\n}\n" ::"r"(smem_u32(b)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void tma_load4(void* dst, const CUtensorMap* map, uint64_t* b, int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(
          smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(b)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}
// the 1-D bulk copy (no tensor map): bytes (a multiple of 16, both addresses 16-byte aligned) from global into this
// CTA's shared memory, completed on the mbarrier b (announce the bytes with mbar_expect_tx first)
__device__ __forceinline__ void bulk_load(void* dst, const void* src, uint32_t bytes, uint64_t* b) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(smem_u32(b))
               : "memory");
}
// a barrier of the 128 threads of one warpgroup (named barrier id >= 1; 0 is __syncthreads')
__device__ __forceinline__ void wg_bar(int id) { asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory"); }
template <int N>
__device__ __forceinline__ void reg_dealloc() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N)); }
template <int N>
__device__ __forceinline__ void reg_alloc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N)); }
#endif  // ATTN_EMU

// rows [row0, row0 + R) of a global matrix -> a swizzled wgmma tile (64 columns; chunks >= nch and rows >= T zero)
template <int R, int NT>
__device__ __forceinline__ void ld_wtile_async(bf16* s, const bf16* gp, long ldg, int row0, int T, int nch, int tid) {
#pragma unroll
  for (int i = tid; i < R * 8; i += NT) {
    const int r = i >> 3, c = i & 7, gr = row0 + r;
    const bool v = gr < T && c < nch;
    cp_async16(s + WG_SWZ(r, c), v ? gp + (long)gr * ldg + c * 8 : gp, v);
  }
}
