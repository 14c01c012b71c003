// The MinHash bucket step's pairwise comparisons (dedup/stages/buckets.ts), compiled to WebAssembly by
// dedup/stages/bucket-kernel.sh (the .wasm is committed: a user's machine needs no compiler). A bucket's records are
// copied into this module's memory; for its distinct members (reps) x = x0, x0 + 1, ... and each y < min(x, cap) the
// number of the 2-bit sketch slots that differ (dedup/minhash.ts sketchJaccard counts the equal ones: equal = slots -
// differing) is counted, and the pairs with at most maxDiff differing slots are written out as (x, y, differing), in
// that order, which is the order in which buckets.ts decided them one by one.

typedef unsigned int u32;

static u32 written;

// Pairs written by the last call of pairs().
__attribute__((export_name("pairCount"))) u32 pairCount(void) { return written; }

// g: the bucket's records, `width` words each, the sketch at word 4 (`words` words, the last one's slots beyond the
// sketch's cleared by lastMask); reps: r member indices. Returns the x to continue from (r when done): a call stops
// before an x whose pairs might not fit in outCap more records of 3 words.
__attribute__((export_name("pairs"))) u32 pairs(const u32 *g, u32 width, u32 words, u32 lastMask, const u32 *reps, u32 r, u32 x0, u32 cap, u32 maxDiff,
          u32 *out, u32 outCap) {
  u32 n = 0;
  u32 x = x0;
  for (; x < r; x++) {
    const u32 ys = x < cap ? x : cap;
    if (n + ys > outCap) break;
    const u32 *a = g + reps[x] * width + 4;
    for (u32 y = 0; y < ys; y++) {
      const u32 *b = g + reps[y] * width + 4;
      u32 diff = 0;
      for (u32 w = 0; w + 1 < words; w++) {
        const u32 d = a[w] ^ b[w];
        diff += __builtin_popcount((d | (d >> 1)) & 0x55555555u);
      }
      const u32 d = a[words - 1] ^ b[words - 1];
      diff += __builtin_popcount((d | (d >> 1)) & 0x55555555u & lastMask);
      if (diff <= maxDiff) {
        out[3 * n] = x;
        out[3 * n + 1] = y;
        out[3 * n + 2] = diff;
        n++;
      }
    }
  }
  written = n;
  return x;
}
