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

// The 2-bit slots that differ between sketches a and b (`words` words, the last one's slots beyond the sketch cleared
// by lastMask).
static inline u32 differing(const u32 *a, const u32 *b, u32 words, u32 lastMask) {
  u32 diff = 0;
  for (u32 w = 0; w + 1 < words; w++) {
    const u32 d = a[w] ^ b[w];
    diff += __builtin_popcount((d | (d >> 1)) & 0x55555555u);
  }
  const u32 d = a[words - 1] ^ b[words - 1];
  return diff + __builtin_popcount((d | (d >> 1)) & 0x55555555u & lastMask);
}

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
      const u32 diff = differing(a, b, words, lastMask);
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

// The group of node n: runs k = 0 .. runs - 1 of nodes starts[k] .. starts[k + 1] - 1 in group groups[k] (starts[0] = 0).
static inline u32 groupOf(const u32 *starts, const u32 *groups, u32 runs, u32 n) {
  u32 lo = 0, hi = runs - 1;
  while (lo < hi) {
    const u32 mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= n) lo = mid;
    else hi = mid - 1;
  }
  return groups[lo];
}

// The layout of emit's tables and outputs (buckets.ts SketchPairs.emit writes it): the nodes' numbering, the groups'
// runs of nodes, each count of differing slots' candidate record estimate, and per group its output records.
typedef struct {
  const u32 *offsets;   // offsets[file]: the file's first node (a record's file at word 2, its document at word 3)
  const u32 *starts;    // groupOf's runs
  const u32 *groups;
  u32 runs;
  const u32 *estRec;    // estRec[d]: a pair's record estimate when d slots differ (d <= maxDiff)
  u32 G;                // groups
  u32 *out;             // group q's records (3 words) at out + 3 * q * outCap
  u32 outCap;           // records per group
  u32 *counts;          // records written per group by the last call
} Emit;

// pairs() for a bucket of this run's own documents (no index documents), the candidate records written here: for
// each pair (u, v) with at most maxDiff differing slots and u != v, (lo, hi, estimate) to the group of lo and, when
// hi's group is another, (hi, lo, estimate) to that one, in buckets.ts cand's order. Returns the x to continue from;
// pairCount() gives the candidates of this call, e->counts the records per group.
__attribute__((export_name("emit"))) u32 emit(const Emit *e, const u32 *g, u32 width, u32 words, u32 lastMask,
                                              const u32 *reps, u32 r, u32 x0, u32 cap, u32 maxDiff) {
  u32 cands = 0, most = 0;
  for (u32 q = 0; q < e->G; q++) e->counts[q] = 0;
  u32 x = x0;
  for (; x < r; x++) {
    const u32 ys = x < cap ? x : cap;
    // a group gets at most one record of a pair
    if (most + ys > e->outCap) break;
    const u32 *ra = g + reps[x] * width;
    const u32 *a = ra + 4;
    const u32 u = e->offsets[ra[2]] + ra[3];
    for (u32 y = 0; y < ys; y++) {
      const u32 *rb = g + reps[y] * width;
      const u32 *b = rb + 4;
      const u32 diff = differing(a, b, words, lastMask);
      if (diff > maxDiff) continue;
      const u32 v = e->offsets[rb[2]] + rb[3];
      if (u == v) continue;
      const u32 lo = u < v ? u : v, hi = u < v ? v : u;
      const u32 est = e->estRec[diff];
      const u32 gl = groupOf(e->starts, e->groups, e->runs, lo);
      u32 *o = e->out + 3 * (gl * e->outCap + e->counts[gl]);
      o[0] = lo;
      o[1] = hi;
      o[2] = est;
      if (++e->counts[gl] > most) most = e->counts[gl];
      const u32 gh = groupOf(e->starts, e->groups, e->runs, hi);
      if (gh != gl) {
        o = e->out + 3 * (gh * e->outCap + e->counts[gh]);
        o[0] = hi;
        o[1] = lo;
        o[2] = est;
        if (++e->counts[gh] > most) most = e->counts[gh];
      }
      cands++;
    }
  }
  written = cands;
  return x;
}
