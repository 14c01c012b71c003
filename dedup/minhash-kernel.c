// MinHash signing kernel for dedup/minhash.ts (MinHasher), compiled to WebAssembly by dedup/minhash-kernel.sh (the
// .wasm is committed: a user's machine needs no compiler). It is text.ts charShingles and MinHasher's one-permutation
// hashing step for step, in 32-bit unsigned arithmetic (the JavaScript's Math.imul / >>> / | 0 give the same bits):
// the character n-grams of the lowercased text's UTF-16 code units (whitespace runs collapsed to one space, trimmed;
// a text shorter than n gives one shingle, the whole text) go straight into their bins' minima, without a shingle
// buffer; then the empty bins borrow along their probe sequences, the 2-bit sketch and the band hashes. The text, the
// ring of the last n units, the signature and the outputs live in this module's memory, laid out by minhash.ts, which
// passes their offsets.

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;

#define SEED 0x9747b28cu
#define POLY 0x01000193u
#define MAX_ATTEMPTS 32

static inline u32 fmix32(u32 h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// pipeline/document.ts isJsSpace: the code units JavaScript's \s and trim() take as whitespace
static inline i32 isJsSpace(u32 c) {
  if (c < 0x80) return c == 32 || (c >= 9 && c <= 13);
  return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000 || c == 0xfeff;
}

// The signature's layout and seeds (MinHasher's fields), written by minhash.ts.
typedef struct {
  u32 K, bands, rows, seedA, seedB;
  double scale; // K / 2^32
  u32 *sig;
  u8 *filled;
  const u16 *borrow;
  u32 *sketch, *bandHi, *bandLo;
} Hasher;

// a shingle hash into its bin's minimum (MinHasher.compute's loop body); seeds and K passed as values (a pointer
// into the signature could alias the Hasher's fields, so they would be loaded again after every store)
static inline void put(u32 *sig, u32 K, u32 seedA, u32 seedB, u32 x) {
  u32 h = fmix32(x ^ seedA);
  // floor(h · K / 2^32), as the JavaScript's (h * (K / 2^32)) | 0 (both exact: h · K < 2^48)
  const u32 bin = (u32)(((unsigned long long)h * K) >> 32);
  u32 v = (h ^ seedB) * 0x27d4eb2fu;
  v ^= v >> 15;
  v *= 0x165667b1u;
  v ^= v >> 13;
  // the minimum without a branch (whether a shingle lowers its bin's minimum is a coin toss early in a document)
  const u32 o = sig[bin];
  sig[bin] = v < o ? v : o;
}

static void start(const Hasher *m) {
  for (u32 k = 0; k < m->K; k++) m->sig[k] = 0xffffffffu;
}

// the empty bins' borrowing, the sketch and the band hashes (MinHasher.compute after its loop)
static void finish(const Hasher *m) {
  const u32 K = m->K;
  u32 *sig = m->sig;
  u8 *filled = m->filled;
  u32 empty = 0;
  for (u32 k = 0; k < K; k++) {
    const u8 f = sig[k] != 0xffffffffu;
    filled[k] = f;
    empty += 1 - f;
  }
  if (empty > 0 && empty < K) {
    for (u32 k = 0; k < K; k++) {
      if (filled[k]) continue;
      i32 j = -1;
      for (u32 a = 0; a < MAX_ATTEMPTS; a++) {
        const u32 c = m->borrow[k * MAX_ATTEMPTS + a];
        if (filled[c]) {
          j = (i32)c;
          break;
        }
      }
      if (j < 0)
        for (j = (i32)((k + 1) % K); !filled[j]; j = (i32)((u32)(j + 1) % K));
      sig[k] = sig[j];
    }
  }
  const u32 words = (K + 15) / 16;
  for (u32 w = 0; w < words; w++) m->sketch[w] = 0;
  for (u32 k = 0; k < K; k++) m->sketch[k >> 4] |= (sig[k] & 3) << ((k & 15) * 2);
  for (u32 bd = 0; bd < m->bands; bd++) {
    u32 h1 = 0x243f6a88u ^ bd;
    u32 h2 = 0x85a308d3u ^ (bd * 0x9e3779b1u);
    const u32 off = bd * m->rows;
    for (u32 r = 0; r < m->rows; r++) {
      const u32 x = sig[off + r];
      h1 = (h1 ^ x) * 0x01000193u;
      h1 = (h1 << 13) | (h1 >> 19);
      h2 = (h2 ^ fmix32(x ^ 0x5bd1e995u)) * 0x27d4eb2fu;
      h2 = (h2 << 17) | (h2 >> 15);
    }
    m->bandHi[bd] = fmix32(h1 ^ m->rows);
    m->bandLo[bd] = fmix32(h2 ^ h1);
  }
}

// The signature of the character n-grams of t[0, L) (lowercased by the caller): charShingles(t, n) fed to compute.
// ring: n ints. Returns the number of shingles.
// The hashes of the character n-grams of t[0, L) (lowercased by the caller; text.ts charShingles), each into `out`
// (out != 0) or into the bins' minima of sig (out == 0; two specialisations of this function). ring: R ints, R the
// least power of two ≥ n (the unit n places back is ring[(len - n) & (R - 1)]). shortWhole: a text of fewer than n
// units (after collapsing) gives one shingle, the whole text. Returns the number of shingles.
#define EMIT(x)                                                                                                        \
  do {                                                                                                                 \
    const u32 x_ = (x);                                                                                                \
    if (out)                                                                                                           \
      out[count] = x_;                                                                                                 \
    else                                                                                                               \
      put(sig, K, sa, sb, x_);                                                                                         \
    count++;                                                                                                           \
  } while (0)
static inline __attribute__((always_inline)) i32 scan(const u16 *t, i32 L, i32 n, u32 *ring, i32 shortWhole, u32 *out,
                                                      u32 *sig, u32 K, u32 sa, u32 sb) {
  u32 pn = 1; // P^n
  for (i32 i = 0; i < n; i++) pn *= POLY;
  u32 R = 1;
  while (R < (u32)n) R *= 2;
  const u32 mask = R - 1;
  const u32 seed = (SEED ^ (u32)n) * 0x9e3779b1u;
  u32 h = 0;
  u32 len = 0; // units emitted
  i32 count = 0, pendingSpace = 0, i = 0;
  // the first n units (and the spaces between them): no unit leaves the window yet
  for (; i < L && len < (u32)n; i++) {
    const u32 c = t[i];
    if (c <= 32 ? c == 32 || (c >= 9 && c <= 13) : c >= 0x80 && isJsSpace(c)) {
      if (len > 0) pendingSpace = 1;
      continue;
    }
    if (pendingSpace) {
      h = h * POLY + 32;
      ring[len++] = 32;
      pendingSpace = 0;
      if (len == (u32)n) {
        EMIT(fmix32(h ^ seed));
        i--; // this unit again, with the window full
        continue;
      }
    }
    h = h * POLY + c;
    ring[len++] = c;
    if (len == (u32)n) EMIT(fmix32(h ^ seed));
  }
  // the rest: H ← (H − out·Pⁿ⁻¹)·P + in = H·P − out·Pⁿ + in (mod 2^32)
  for (; i < L; i++) {
    const u32 c = t[i];
    if (c <= 32 ? c == 32 || (c >= 9 && c <= 13) : c >= 0x80 && isJsSpace(c)) {
      pendingSpace = 1;
      continue;
    }
    if (pendingSpace) {
      h = h * POLY - ring[(len - n) & mask] * pn + 32;
      ring[len++ & mask] = 32;
      EMIT(fmix32(h ^ seed));
      pendingSpace = 0;
    }
    h = h * POLY - ring[(len - n) & mask] * pn + c;
    ring[len++ & mask] = c;
    EMIT(fmix32(h ^ seed));
  }
  if (len > 0 && len < (u32)n && shortWhole) EMIT(fmix32(h ^ ((SEED ^ len) * 0x9e3779b1u)));
  return count;
}

// The signature of the character n-grams of t[0, L): compute(charShingles(t, n)). Returns the number of shingles.
__attribute__((export_name("signChars"))) i32 signChars(const Hasher *m, const u16 *t, i32 L, i32 n, u32 *ring) {
  start(m);
  const i32 count = scan(t, L, n, ring, 1, 0, m->sig, m->K, m->seedA, m->seedB);
  finish(m);
  return count;
}

// The hashes of the character n-grams of t[0, L) into out (at most L + 1): charShingles. Returns their number.
__attribute__((export_name("shingles"))) i32 shingles(const u16 *t, i32 L, i32 n, u32 *ring, i32 shortWhole, u32 *out) {
  if (!out) return 0;
  return scan(t, L, n, ring, shortWhole, out, 0, 0, 0, 0);
}

// The signature of n shingle hashes sh[0, n) (MinHasher.compute).
__attribute__((export_name("signHashes"))) void signHashes(const Hasher *m, const u32 *sh, i32 n) {
  start(m);
  u32 *const sig = m->sig;
  const u32 K = m->K, sa = m->seedA, sb = m->seedB;
  for (i32 i = 0; i < n; i++) put(sig, K, sa, sb, sh[i]);
  finish(m);
}

// Sorts a[0, n) ascending (LSD radix sort, four passes of 8 bits through tmp, n words; a pass whose byte is the same in
// every value is skipped) and removes repeats; the sorted set is left at a. Returns its size.
__attribute__((export_name("sortUnique"))) i32 sortUnique(u32 *a, i32 n, u32 *tmp) {
  static u32 count[4][256];
  for (i32 b = 0; b < 4; b++)
    for (i32 v = 0; v < 256; v++) count[b][v] = 0;
  for (i32 i = 0; i < n; i++) {
    const u32 x = a[i];
    count[0][x & 255]++;
    count[1][(x >> 8) & 255]++;
    count[2][(x >> 16) & 255]++;
    count[3][x >> 24]++;
  }
  u32 *src = a, *dst = tmp;
  for (i32 b = 0; b < 4; b++) {
    u32 *c = count[b];
    if (n == 0 || c[(src[0] >> (8 * b)) & 255] == (u32)n) continue; // every value has this byte
    u32 sum = 0;
    for (i32 v = 0; v < 256; v++) {
      const u32 k = c[v];
      c[v] = sum;
      sum += k;
    }
    for (i32 i = 0; i < n; i++) {
      const u32 x = src[i];
      dst[c[(x >> (8 * b)) & 255]++] = x;
    }
    u32 *t = src;
    src = dst;
    dst = t;
  }
  i32 k = 0;
  for (i32 i = 0; i < n; i++)
    if (k == 0 || src[i] != a[k - 1]) a[k++] = src[i];
  return k;
}
