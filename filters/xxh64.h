// XXH64 (seed 0), as the xxHash reference computes it (filters/jieba.test.ts checks it against the xxhash-wasm
// package): the check of a table a kernel adopts from a file read straight into its memory (jieba's trie,
// filters/jieba-kernel.c; the BPE encoder's table image, tokenizer/bpe-kernel.c). The including kernel defines u8,
// i32, u32 and u64 first.
#ifndef STEEL_XXH64_H
#define STEEL_XXH64_H
#define XP1 0x9E3779B185EBCA87ull
#define XP2 0xC2B2AE3D27D4EB4Full
#define XP3 0x165667B19E3779F9ull
#define XP4 0x85EBCA77C2B2AE63ull
#define XP5 0x27D4EB2F165667C5ull
static inline u64 rotl64(u64 x, i32 r) { return (x << r) | (x >> (64 - r)); }
static inline u64 ld64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}
static inline u64 xround(u64 acc, u64 v) { return rotl64(acc + v * XP2, 31) * XP1; }
static inline u64 xmerge(u64 h, u64 v) { return (h ^ xround(0, v)) * XP1 + XP4; }
static u64 xxh64(const u8 *p, u32 n) {
  const u8 *const end = p + n;
  u64 h;
  if (n >= 32) {
    u64 v1 = XP1 + XP2, v2 = XP2, v3 = 0, v4 = 0 - XP1;
    for (; p + 32 <= end; p += 32) {
      v1 = xround(v1, ld64(p));
      v2 = xround(v2, ld64(p + 8));
      v3 = xround(v3, ld64(p + 16));
      v4 = xround(v4, ld64(p + 24));
    }
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = xmerge(xmerge(xmerge(xmerge(h, v1), v2), v3), v4);
  } else
    h = XP5;
  h += n;
  for (; p + 8 <= end; p += 8) h = rotl64(h ^ xround(0, ld64(p)), 27) * XP1 + XP4;
  if (p + 4 <= end) {
    u32 w;
    __builtin_memcpy(&w, p, 4);
    h = rotl64(h ^ (u64)w * XP1, 23) * XP2 + XP3;
    p += 4;
  }
  for (; p < end; p++) h = rotl64(h ^ *p * XP5, 11) * XP1;
  h ^= h >> 33;
  h *= XP2;
  h ^= h >> 29;
  h *= XP3;
  h ^= h >> 32;
  return h;
}
#endif
