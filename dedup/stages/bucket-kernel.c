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

// The verify step's sets tasks read the candidate records written above (dedup/stages/verify.ts rangeCandidates):
// candScan marks a task's candidate documents and collects its pairs, pairsSortUnique gives them back each once,
// ascending. Here rather than in JavaScript, whose loops each process compiled (and recompiled after deopts) anew:
// with two workers both lanes paid that.

static u32 scannedOthers, scannedLikely;

// Pairs (other, likely) collected by candScan since the last candStart.
__attribute__((export_name("candStart"))) void candStart(void) { scannedOthers = scannedLikely = 0; }
__attribute__((export_name("candOthers"))) u32 candOthers(void) { return scannedOthers; }
__attribute__((export_name("candLikely"))) u32 candLikely(void) { return scannedLikely; }

// recs: n records (u, v, estimate). For the nodes first .. first + span - 1: marks[node - first] = 1 for every u or v
// among them; the pairs with u among them and u < v go to `area` (room for cap pairs, of 2 words): those whose
// estimate is at least atLeast (the likely ones) from its end backwards, the others from its start. The caller makes
// cap at least the records it passes between two candStart calls.
__attribute__((export_name("candScan"))) void candScan(const u32 *recs, u32 n, u32 first, u32 span, u32 atLeast,
                                                         unsigned char *marks, u32 *area, u32 cap) {
  u32 no = scannedOthers, nl = scannedLikely;
  u32 *likelyEnd = area + 2 * cap;
  for (u32 i = 0; i < n; i++) {
    const u32 u = recs[3 * i], v = recs[3 * i + 1];
    const u32 du = u - first, dv = v - first;
    const int inU = du < span;
    if (inU) marks[du] = 1;
    if (dv < span) marks[dv] = 1;
    if (!inU || u > v) continue;
    if (recs[3 * i + 2] >= atLeast) {
      nl++;
      likelyEnd[-2 * (int)nl] = u;
      likelyEnd[-2 * (int)nl + 1] = v;
    } else {
      area[2 * no] = u;
      area[2 * no + 1] = v;
      no++;
    }
  }
  scannedOthers = no;
  scannedLikely = nl;
}

static void siftDown(u32 *a, u32 i, u32 n) {
  const u32 x = a[i];
  for (;;) {
    u32 c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && a[c + 1] > a[c]) c++;
    if (a[c] <= x) break;
    a[i] = a[c];
    i = c;
  }
  a[i] = x;
}

// a[0 .. n - 1] ascending: an insertion sort when short (a first node's pairs mostly are), else a heapsort.
static void sortWords(u32 *a, u32 n) {
  if (n <= 32) {
    for (u32 i = 1; i < n; i++) {
      const u32 y = a[i];
      u32 j = i;
      for (; j > 0 && a[j - 1] > y; j--) a[j] = a[j - 1];
      a[j] = y;
    }
    return;
  }
  for (u32 i = n / 2; i-- > 0;) siftDown(a, i, n);
  for (u32 e = n - 1; e > 0; e--) {
    const u32 t = a[0];
    a[0] = a[e];
    a[e] = t;
    siftDown(a, 0, e);
  }
}

// pairs: n pairs (u, v) with first <= u < first + span. Writes the distinct ones to `out` (which may be `pairs`) as
// u, v, u, v, ... ascending and returns their count: counted by u (at: span + 1 words of scratch), each u's v sorted
// (byU: n words of scratch).
__attribute__((export_name("pairsSortUnique"))) u32 pairsSortUnique(const u32 *pairs, u32 n, u32 first, u32 span,
                                                                      u32 *at, u32 *byU, u32 *out) {
  __builtin_memset(at, 0, (span + 1) * 4);
  for (u32 i = 0; i < n; i++) at[pairs[2 * i] - first + 1]++;
  for (u32 x = 1; x <= span; x++) at[x] += at[x - 1];
  // at[x] is the start of u = first + x's run; as each v is placed it moves on, ending at the next run's start
  for (u32 i = 0; i < n; i++) byU[at[pairs[2 * i] - first]++] = pairs[2 * i + 1];
  u32 k = 0;
  for (u32 x = 0, a = 0; x < span; x++) {
    const u32 b = at[x];
    if (a == b) continue;
    sortWords(byU + a, b - a);
    for (u32 j = a; j < b; j++) {
      if (j > a && byU[j] == byU[j - 1]) continue;
      out[2 * k] = first + x;
      out[2 * k + 1] = byU[j];
      k++;
    }
    a = b;
  }
  return k;
}
