// The n-gram statistics of filters/stats.ts, compiled to WebAssembly by filters/ngram-kernel.sh (the .wasm is
// committed: a user's machine needs no compiler): the Gopher n-gram sweep (sweep, for ngramStats), the character
// repetition (charTop) and the word repetition (wordRep), step for step as stats.ts ran them in JavaScript. The sweep:
// the n0-grams' hashes at every position (n0 the smallest n asked for), the positions whose n0-gram may repeat (a
// bitmap of 2-bit slots: `seen`, and `again` once `seen` was set), then per n = n0 .. maxN the candidates counted in
// an open-addressing table keyed by the n-gram's two 32-bit hashes (the second cut to 21 bits, as HashCounter), the
// most frequent n-gram (the first to reach the top count) and datatrove's find_all_duplicate walk over the repeated
// candidates; after a round only the candidates whose successor is one are extended to n + 1 words. The repetition
// statistics count only the n-grams the bitmap says may repeat. The hash values and keys are the JavaScript's (the
// same 32-bit multiplications), so every result is.
//
// Memory: from __heap_base, per call (prepare), the words' hashes and cumulative code-point lengths (written by
// stats.ts), the n-gram kinds and results per n and the scratch arrays; then the table (4 ints a slot: key 1, key 2,
// count, the walk's stamp), above every array laid out so far and sized for the largest round so far. Its counts are
// zero between rounds, and memory above it was never written, so it moves up (over its own old slots, whose counts
// are zero) or grows without being cleared; a slot's stamp is cleared when a key takes it.

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;

extern unsigned char __heap_base;

static u32 tableCap = 0; // slots of the table (a power of two; 0 before the first round)
static u32 walkStamp = 0;
static u32 *tbl, *h1, *h2, *ga, *gb, *bits;
static i32 *cum, *cand, *slots, *used;
static u8 *kinds;
static double *topOut, *dupOut;

static u32 align16(u32 x) { return (x + 15) & ~15u; }
static void ensure(u32 end) {
  u32 have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have) __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536);
}
static u32 capFor(u32 n) {
  u32 cap = 1 << 12;
  while (cap < n * 2) cap *= 2;
  return cap;
}

// Lays out the arrays for nW words and n-grams up to maxN words; returns the offset of the words' hashes: h1 there,
// h2 after align16(4 (nW + 1)) bytes, the nW + 1 cumulative lengths after twice that. kindsAt, topAt, dupAt: the
// other offsets stats.ts reads and writes.
__attribute__((export_name("prepare"))) u32 prepare(u32 nW, u32 maxN) {
  u32 at = align16((u32)&__heap_base);
  u32 n4 = align16((nW + 1) * 4);
  h1 = (u32 *)at;
  h2 = (u32 *)(at + n4);
  cum = (i32 *)(at + 2 * n4);
  ga = (u32 *)(at + 3 * n4);
  gb = (u32 *)(at + 4 * n4);
  cand = (i32 *)(at + 5 * n4);
  slots = (i32 *)(at + 6 * n4);
  used = (i32 *)(at + 7 * n4);
  at += 8 * n4;
  u32 m8 = align16((maxN + 1) * 8);
  topOut = (double *)at;
  dupOut = (double *)(at + m8);
  kinds = (u8 *)(at + 2 * m8);
  at += 2 * m8 + align16(maxN + 1);
  bits = (u32 *)at;
  // the bitmap: 16 slots of 2 bits per position, 16 slots to a word (at least 2^6 words); the table after it
  at = align16(at + (2 * nW + 64) * 4);
  if (at > (u32)tbl) tbl = (u32 *)at;
  ensure((u32)tbl + tableCap * 16);
  return (u32)h1;
}
__attribute__((export_name("kindsAt"))) u32 kindsAt(void) { return (u32)kinds; }
__attribute__((export_name("topAt"))) u32 topAt(void) { return (u32)topOut; }
__attribute__((export_name("dupAt"))) u32 dupAt(void) { return (u32)dupOut; }

// The repeat bitmap: 16 slots of 2 bits per position (`seen`, and `again` once `seen` was set), 16 slots to a word;
// every occurrence of a repeated hash pair then has its `again` bit set (stats.ts markRepeat, keepRepeatable).
// repeatShift clears the words for `total` pairs and returns the shift that picks a pair's slot.
static u32 repeatShift(u32 total) {
  u32 lg = 10;
  while ((1u << lg) < 16u * total) lg++;
  __builtin_memset(bits, 0, (1u << (lg - 4)) * 4);
  return 32 - lg;
}
// A pair's slot from its first hash alone: pairs that the table counts as one (equal first hashes, equal 21 bits of
// the second) share it, which is all the bitmap needs; a pair that shares a slot with another is counted exactly (a
// multiplication less per position than mixing in the second hash: char_repetition's kernel ~10% faster).
static inline u32 repeatSlot(u32 a, u32 b, u32 shift) {
  (void)b;
  return (a * 0x85ebca6bu) >> shift;
}
static inline void markRepeat(u32 a, u32 b, u32 shift) {
  const u32 q = repeatSlot(a, b, shift);
  const u32 w = q >> 4, s = (q & 15) << 1, x = bits[w];
  bits[w] = x | (1u << s) | (((x >> s) & 1) << (s + 1));
}
static inline u32 isRepeat(u32 a, u32 b, u32 shift) {
  const u32 q = repeatSlot(a, b, shift);
  return (bits[q >> 4] >> (((q & 15) << 1) + 1)) & 1;
}

// the table's state for one round: slots in use below mask + 1, `size` of them listed in `used`
static u32 mask, size;
static void resetTable(u32 n) {
  for (u32 i = 0; i < size; i++) tbl[4 * (u32)used[i] + 2] = 0;
  size = 0;
  const u32 cap = capFor(n);
  if (cap > tableCap) {
    ensure((u32)tbl + cap * 16);
    tableCap = cap;
  }
  mask = cap - 1;
}
// one occurrence of the n-gram with hashes (a, b): its new count; *slot = its slot
static inline u32 add(u32 a, u32 b, u32 *slot) {
  const u32 k2 = b & 0x1fffff;
  u32 s = (a ^ (b * 0x9e3779b1u)) & mask;
  for (;;) {
    u32 *e = tbl + 4 * s;
    const u32 c = e[2];
    if (c == 0) {
      e[0] = a;
      e[1] = k2;
      e[2] = 1;
      e[3] = 0;
      used[size++] = (i32)s;
      *slot = s;
      return 1;
    }
    if (e[0] == a && e[1] == k2) {
      *slot = s;
      return e[2] = c + 1;
    }
    s = (s + 1) & mask;
  }
}

// The sweep over nW words for n = n0 .. maxN (kinds[n]: 1 a top measure, 2 a duplicate measure, 3 both); jl: the
// joiner's code points. Results: topOut[n] (count x characters of the most frequent n-gram), dupOut[n].
__attribute__((export_name("sweep"))) void sweep(u32 nW, u32 n0, u32 maxN, u32 jl) {
  const u32 B1 = 0x01000193u, B2 = 0x5bd1e995u;
  // the n0-grams' hashes at every position, grown from the 1-grams' as in the rounds
  const i32 total0 = (i32)nW - (i32)n0 + 1;
  for (i32 i = 0; i < total0; i++) {
    u32 a = (0x3c6ef372u ^ h1[i]) * B1, b = (0x1b873593u ^ h2[i]) * B2;
    for (u32 k = 1; k < n0; k++) {
      a = (a ^ h1[i + k]) * B1;
      b = ((b ^ h2[i + k]) * B2) ^ (b >> 13);
    }
    ga[i] = a;
    gb[i] = b;
  }
  // the first candidates: the positions whose n0-gram may occur more than once
  i32 nc = 0;
  if (total0 > 0) {
    const u32 shift = repeatShift((u32)total0);
    for (i32 i = 0; i < total0; i++) markRepeat(ga[i], gb[i], shift);
    // without a branch (about half the positions are kept, in no pattern a branch predictor could follow)
    for (i32 i = 0; i < total0; i++) {
      cand[nc] = i;
      nc += isRepeat(ga[i], gb[i], shift);
    }
  }
  for (u32 n = n0; n <= maxN; n++) {
    const i32 total = (i32)nW - (i32)n + 1;
    const u32 kind = kinds[n];
    if (total <= 0) {
      topOut[n] = 0;
      dupOut[n] = 0;
      continue;
    }
    // after the first round: the candidates whose successor is one (listed without a branch: kept or not in no
    // pattern a branch predictor could follow), then counted
    if (n > n0) {
      i32 m = 0;
      for (i32 p = 0; p + 1 < nc; p++) {
        const i32 i = cand[p];
        cand[m] = i;
        m += cand[p + 1] == i + 1;
      }
      nc = m;
    }
    resetTable((u32)nc);
    u32 best = 0, slot;
    i32 bestIdx = 0, m = 0;
    if (n == n0)
      for (i32 p = 0; p < nc; p++) {
        const i32 i = cand[p];
        const u32 c = add(ga[i], gb[i], &slot);
        slots[p] = (i32)slot;
        if (c > best) {
          best = c;
          bestIdx = i;
        }
      }
    else {
      const u32 k = n - 1;
      for (i32 p = 0; p < nc; p++) {
        const i32 i = cand[p];
        const u32 a = (ga[i] ^ h1[i + k]) * B1, b = ((gb[i] ^ h2[i + k]) * B2) ^ (gb[i] >> 13);
        ga[i] = a;
        gb[i] = b;
        const u32 c = add(a, b, &slot);
        slots[p] = (i32)slot;
        if (c > best) {
          best = c;
          bestIdx = i;
        }
      }
    }
    if (kind & 1) {
      if (best <= 1) {
        best = 1;
        bestIdx = 0;
      }
      topOut[n] = (double)best * (double)(cum[bestIdx + n] - cum[bestIdx] + (i32)(jl * (n - 1)));
    }
    // keep the candidates whose n-gram is repeated; for a duplicate measure, walk them as find_all_duplicate walks
    // the n-grams: one walked onto before (its slot stamped in this walk) is a duplicate, and the walk skips its n words
    m = 0;
    if (kind & 2) {
      if (walkStamp == 0x7fffffffu) {
        for (u32 s = 0; s < tableCap; s++) tbl[4 * s + 3] = 0;
        walkStamp = 0;
      }
      const u32 stamp = ++walkStamp;
      double rep = 0;
      i32 next = 0;
      for (i32 p = 0; p < nc; p++) {
        const u32 s = (u32)slots[p];
        if (tbl[4 * s + 2] <= 1) continue;
        const i32 i = cand[p];
        cand[m] = i;
        slots[m++] = (i32)s;
        if (i < next) continue;
        if (tbl[4 * s + 3] == stamp) {
          rep += cum[i + n] - cum[i];
          next = i + (i32)n;
        } else {
          tbl[4 * s + 3] = stamp;
          next = i + 1;
        }
      }
      dupOut[n] = rep;
    } else
      for (i32 p = 0; p < nc; p++) {
        const u32 s = (u32)slots[p];
        cand[m] = cand[p];
        slots[m] = (i32)s;
        m += tbl[4 * s + 2] > 1;
      }
    nc = m;
  }
  resetTable(0); // counts zero between calls
}

// Lists in cand the positions of the first `total` pairs of (ga, gb) whose `again` bit is set, in their order (the
// slot read from the first hash alone), and counts each pair in the table (reset for them); returns how many were kept.
static u32 countRepeatable(u32 total, u32 shift) {
  u32 nc = 0, slot;
  for (u32 p = 0; p < total; p++) {
    cand[nc] = (i32)p;
    nc += isRepeat(ga[p], 0, shift);
  }
  resetTable(nc);
  for (u32 q = 0; q < nc; q++) {
    const u32 p = (u32)cand[q];
    add(ga[p], gb[p], &slot);
  }
  return nc;
}

// The counts of the table's `size` slots (the distinct counted n-grams; the table is left empty): the sum of the
// `floor(sqrt(distinct))` largest of those above 1 (at most all of them). The counts above 1 are listed in cand, then
// counted by value in a histogram (in `slots`: values below HIST_CAP; the rarer larger ones sorted by insertion).
#define HIST_CAP 4096u
static u32 topShare(u32 distinct) {
  u32 rep = 0, maxc = 0;
  for (u32 i = 0; i < size; i++) {
    u32 *e = tbl + 4 * (u32)used[i];
    const u32 c = e[2];
    e[2] = 0;
    cand[rep] = (i32)c;
    rep += c > 1;
    if (c > maxc) maxc = c;
  }
  size = 0;
  u32 take = (u32)__builtin_sqrt((double)distinct);
  if (take > rep) take = rep;
  if (take == 0) return 0;
  u32 *hist = (u32 *)slots;
  const u32 hs = (maxc < HIST_CAP ? maxc : HIST_CAP - 1) + 1;
  __builtin_memset(hist, 0, hs * 4);
  u32 m = 0;
  for (u32 j = 0; j < rep; j++) {
    const u32 c = (u32)cand[j];
    if (c < HIST_CAP)
      hist[c]++;
    else {
      // descending by insertion (at most total / HIST_CAP of them)
      u32 q = m++;
      while (q > 0 && (u32)cand[q - 1] < c) {
        cand[q] = cand[q - 1];
        q--;
      }
      cand[q] = (i32)c;
    }
  }
  u32 s = 0;
  for (u32 j = 0; j < m && take > 0; j++, take--) s += (u32)cand[j];
  for (u32 c = hs - 1; c >= 2 && take > 0; c--) {
    const u32 t = hist[c] < take ? hist[c] : take;
    s += t * c;
    take -= t;
  }
  return s;
}

// stats.ts charRepetition over the `len` code points at h1 (n-grams of n code points, len >= n): the two rolling
// polynomial hashes of each window, the windows that may repeat counted, then data-juicer's top-k share: returns the
// occurrences of the k most frequent n-grams among those that occur more than once, k = floor(sqrt(distinct n-grams))
// (the distinct ones: the windows left out occur once each, plus the distinct counted ones).
__attribute__((export_name("charTop"))) u32 charTop(u32 len, u32 n) {
  const u32 B1 = 0x01000193u, B2 = 0x5bd1e995u;
  const i32 *cps = (const i32 *)h1;
  const u32 total = len - n + 1;
  const u32 shift = repeatShift(total);
  u32 p1 = 1, p2 = 1;
  for (u32 i = 0; i < n; i++) {
    p1 *= B1;
    p2 *= B2;
  }
  u32 a = 0, b = 0;
  // the first window, then each next one rolled on by a unit in and a unit out
  for (u32 i = 0; i < n; i++) {
    const u32 c = (u32)cps[i] + 1;
    a = a * B1 + c;
    b = b * B2 + c;
  }
  ga[0] = a;
  gb[0] = b;
  markRepeat(a, b, shift);
  for (u32 i = n; i < len; i++) {
    const u32 c = (u32)cps[i] + 1, o = (u32)cps[i - n] + 1;
    a = a * B1 + c - o * p1;
    b = b * B2 + c - o * p2;
    ga[i + 1 - n] = a;
    gb[i + 1 - n] = b;
    markRepeat(a, b, shift);
  }
  const u32 kept = countRepeatable(total, shift);
  return topShare(total - kept + size);
}

// stats.ts wordRepetition over the nW word hashes at h1 and h2 (n-grams of n words, nW >= n): the occurrences of the
// n-grams that occur more than once.
__attribute__((export_name("wordRep"))) u32 wordRep(u32 nW, u32 n) {
  const u32 total = nW - n + 1;
  const u32 shift = repeatShift(total);
  for (u32 i = 0; i < total; i++) {
    u32 a = 0x3c6ef372u, b = 0x1b873593u;
    for (u32 j = 0; j < n; j++) {
      a = (a ^ h1[i + j]) * 0x01000193u;
      b = ((b ^ h2[i + j]) * 0x5bd1e995u) ^ (b >> 13);
    }
    ga[i] = a;
    gb[i] = b;
    markRepeat(a, b, shift);
  }
  countRepeatable(total, shift);
  u32 rep = 0;
  for (u32 i = 0; i < size; i++) {
    const u32 c = tbl[4 * (u32)used[i] + 2];
    if (c > 1) rep += c;
  }
  resetTable(0);
  return rep;
}
