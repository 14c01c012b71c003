// fastText prediction kernel for filters/fasttext.ts, compiled to WebAssembly by filters/fasttext-kernel.sh (the .wasm
// is committed: a user's machine needs no compiler). It is the TypeScript predict() of fasttext.ts step for step:
// tokens at fastText's separators, FNV-1a hashes, the token cache and the vocabulary (open-addressing tables over byte
// pools), character n-gram buckets through the blocks of the model's kept buckets, the input rows summed in
// float32 (SIMD: four exact float32 lane additions per 16-float row, the same roundings as fastText's sequential
// loop), the end-of-line row, the mean, and the hierarchical-softmax search of the label tree for the k best labels.
// Float operations are IEEE single or double as in fastText; no fused multiply-add (built with -ffp-contract=off).
// The model's arrays live in this module's memory, laid out by fasttext.ts, which passes their offsets to setup().
#include <wasm_simd128.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;

// Math.log of the host (V8's ieee754::log): fastText's std_log is log(x + 1e-5) in double
__attribute__((import_module("env"), import_name("log"))) double host_log(double);
// the script-unit class of a code point above U+FFFF (units() below; the host's table has the BMP)
__attribute__((import_module("env"), import_name("astralClass"))) i32 host_astral_class(u32);

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u
#define CACHED_BYTES 64

// a token table: open addressing over FNV hashes; each entry one record in the pool (key length, row count, the key's
// bytes padded to 4, the row ids), so a look-up reads its slot, then one place of the pool
typedef struct {
  i32 bits;
  i32 *slots; // per slot: FNV hash, 1 + the record's offset in the pool (0 = empty)
  i32 *pool;
  i32 poolCap; // ints
  i32 size, used;
} Cache;

static Cache vocab, cache;
static i32 dim, nwords, bucket, minn, maxn, osz, eos, maxWordBytes, pruneSize;
static const float *wi, *wo;
static const i32 *treeLeft, *treeRight;
// the kept n-gram buckets of a pruned model, by blocks of 256 buckets: keptStart[b] is the number of kept buckets
// before block b (keptStart[b + 1] - keptStart[b] of them in it), keptLow[keptStart[b]...] their low bytes in
// increasing order (16 bytes of padding at the end); a kept bucket's row is nwords + its rank, the number of kept
// buckets before it (fasttext.ts lays the rows out in that order). lid.176 keeps 42,765 of 2M buckets: the two
// arrays are 74 KB (within L2, where the 333 KB of 96-bucket entries with their bits were not), and nine in ten
// look-ups are of buckets that are not kept
static const u32 *keptStart;
static const u8 *keptLow;
// h % bucket by a multiplication (libdivide's branch-free unsigned division: exact for every 32-bit h, bucket >= 2)
static u32 bucketMagic, bucketShift;
static inline u32 bucketOf(u32 h) {
  const u32 q = (u32)(((u64)bucketMagic * h) >> 32);
  return h - ((((h - q) >> 1) + q) >> bucketShift) * (u32)bucket;
}
static float *hidden, *stackScore;
static i32 *stackNode, *bestNode;
static double *bestScore; // float values, read by fasttext.ts as a Float64Array
static const double *expc; // expf's constants and table (fasttext.ts EXP_*), and thresholdLog
static u8 *utf, *wb;
static const u16 *u16s;
static i32 *ids;
static const u8 *unitClass; // per BMP code point: 0 other, 1 Latin letter, 2 kana, 3 Hangul, 4 Han (units() below)

// p: the parameter block written by fasttext.ts (i32 values; pointers are offsets in this memory)
__attribute__((export_name("setup"))) void setup(const i32 *p) {
  dim = p[0];
  nwords = p[1];
  bucket = p[2];
  minn = p[3];
  maxn = p[4];
  osz = p[5];
  maxWordBytes = p[6];
  pruneSize = p[7];
  wi = (const float *)p[9];
  wo = (const float *)p[10];
  treeLeft = (const i32 *)p[11];
  treeRight = (const i32 *)p[12];
  keptStart = (const u32 *)p[13];
  keptLow = (const u8 *)p[14];
  hidden = (float *)p[15];
  stackNode = (i32 *)p[16];
  stackScore = (float *)p[17];
  bestNode = (i32 *)p[18];
  bestScore = (double *)p[19];
  expc = (const double *)p[20];
  const i32 *c = p + 21;
  for (i32 q = 0; q < 2; q++, c += 4) {
    Cache *t = q == 0 ? &vocab : &cache;
    t->bits = c[0];
    t->slots = (i32 *)c[1];
    t->pool = (i32 *)c[2];
    t->poolCap = c[3];
    t->size = t->used = 0;
  }
  eos = -1;
  // the magic number of bucket (fasttext.ts refuses a bucket count below 2)
  const u32 d = (u32)bucket, fl = d >= 2 ? 31 - (u32)__builtin_clz(d) : 1;
  if ((d & (d - 1)) == 0) {
    bucketMagic = 0;
    bucketShift = fl - 1;
  } else {
    const u64 num = (u64)1 << (32 + fl);
    u32 m = (u32)(num / d);
    const u32 rem = (u32)(num % d), twice = rem + rem;
    m += m;
    if (twice >= d || twice < rem) m += 1;
    bucketMagic = m + 1;
    bucketShift = fl;
  }
}

// the input rows from the product quantizer, in the order given: output row r is model row t = r below first, else
// order[r - first] (order 0: t = r); its sub-vector m is centroid codes[t * nsubq + m] of sub-quantizer m (dsub floats,
// lastdsub for the last one) times the row's norm alpha = normCentroids[normCodes[t] * normStride] (1 without norms:
// normCodes 0), one float product per component, as fastText adds it
__attribute__((export_name("decodeRows"))) void decodeRows(float *out, const u8 *codes, const u8 *normCodes,
                                                          const float *normCentroids, i32 normStride,
                                                          const float *centroids, i32 rows, i32 nsubq, i32 dsub,
                                                          i32 lastdsub, const i32 *order, i32 first) {
  i32 o = 0;
  for (i32 r = 0; r < rows; r++) {
    const i32 t = order && r >= first ? order[r - first] : r;
    const float alpha = normCodes ? normCentroids[normCodes[t] * normStride] : 1.0f;
    const u8 *k = codes + t * nsubq;
    for (i32 m = 0; m < nsubq; m++) {
      const i32 last = m == nsubq - 1;
      const i32 d = last ? lastdsub : dsub;
      const float *c = centroids + (last ? m * 256 * dsub + k[m] * lastdsub : (m * 256 + k[m]) * dsub);
      for (i32 n = 0; n < d; n++) out[o++] = alpha * c[n];
    }
  }
}

// the growing buffers: the text's UTF-16 (written by the host), its UTF-8, the long-token byte copy and the row ids of
// one token
__attribute__((export_name("scratch"))) void scratch(const u16 *t, u8 *u, u8 *w, i32 *r) {
  u16s = t;
  utf = u;
  wb = w;
  ids = r;
}

// the n UTF-16 units at t to UTF-8 in utf, as Emscripten's stringToUTF8Array encodes them (a surrogate, paired or
// not, always takes the next unit, 0 past the end); returns the byte count
static i32 utf8(const u16 *t, i32 n) {
  i32 o = 0;
  for (i32 i = 0; i < n; i++) {
    u32 u = t[i];
    if (u < 0x80) {
      utf[o++] = (u8)u;
      continue;
    }
    if (u >= 0xd800 && u <= 0xdfff) {
      const u32 u1 = ++i < n ? t[i] : 0;
      u = (0x10000 + ((u & 1023) << 10)) | (u1 & 1023);
    }
    if (u <= 0x7ff) {
      utf[o++] = (u8)(0xc0 | (u >> 6));
      utf[o++] = (u8)(0x80 | (u & 63));
    } else if (u <= 0xffff) {
      utf[o++] = (u8)(0xe0 | (u >> 12));
      utf[o++] = (u8)(0x80 | ((u >> 6) & 63));
      utf[o++] = (u8)(0x80 | (u & 63));
    } else {
      utf[o++] = (u8)(0xf0 | (u >> 18));
      utf[o++] = (u8)(0x80 | ((u >> 12) & 63));
      utf[o++] = (u8)(0x80 | ((u >> 6) & 63));
      utf[o++] = (u8)(0x80 | (u & 63));
    }
  }
  return o;
}

// the record of key b[s, e) (its offset in the pool), or -1
static i32 find(const Cache *c, const u8 *b, i32 s, i32 e, i32 h) {
  const u32 mask = (1u << c->bits) - 1;
  const i32 len = e - s;
  for (u32 i = (u32)h & mask;; i = (i + 1) & mask) {
    const i32 t = c->slots[2 * i + 1];
    if (t == 0) return -1;
    if (c->slots[2 * i] != h) continue;
    const i32 *r = c->pool + (t - 1);
    if (r[0] != len) continue;
    const u8 *k = (const u8 *)(r + 2);
    i32 q = 0;
    while (q < len && k[q] == b[s + q]) q++;
    if (q == len) return t - 1;
  }
}

// a record's row ids (their count is pool[o + 1])
static inline i32 *rowsOf(const Cache *c, i32 o) { return c->pool + o + 2 + ((c->pool[o] + 3) >> 2); }

static i32 add(Cache *c, const u8 *b, i32 s, i32 e, i32 h, const i32 *rows, i32 m) {
  const i32 len = e - s, need = 2 + ((len + 3) >> 2) + m;
  if (c->size >= (1 << (c->bits - 2)) || c->used + need > c->poolCap) {
    __builtin_memset(c->slots, 0, (2u << c->bits) * 4);
    c->size = c->used = 0;
  }
  const u32 mask = (1u << c->bits) - 1;
  u32 i = (u32)h & mask;
  while (c->slots[2 * i + 1] != 0) i = (i + 1) & mask;
  const i32 o = c->used;
  c->size++;
  c->used += need;
  c->slots[2 * i] = h;
  c->slots[2 * i + 1] = o + 1;
  i32 *r = c->pool + o;
  r[0] = len;
  r[1] = m;
  u8 *k = (u8 *)(r + 2);
  for (i32 q = 0; q < len; q++) k[q] = b[s + q];
  i32 *ro = rowsOf(c, o);
  for (i32 q = 0; q < m; q++) ro[q] = rows[q];
  return o;
}

static u32 fnv(const u8 *b, i32 s, i32 e) {
  u32 h = FNV_OFFSET;
  for (i32 i = s; i < e; i++) h = (h ^ b[i]) * FNV_PRIME;
  return h;
}

static i32 wordId(const u8 *b, i32 s, i32 e, i32 h) {
  const i32 t = find(&vocab, b, s, e, h);
  return t < 0 ? -1 : rowsOf(&vocab, t)[0];
}

// a vocabulary word (its bytes at b[0, len)): a word listed twice takes its later id
static void addWord(const u8 *b, i32 len, i32 id) {
  const i32 h = (i32)fnv(b, 0, len);
  const i32 t = find(&vocab, b, 0, len, h);
  if (t >= 0)
    rowsOf(&vocab, t)[0] = id;
  else
    add(&vocab, b, 0, len, h, &id, 1);
}

// The model file's dictionary, its entries from d on (each: the word's bytes, a NUL, an int64 count, a type byte; the
// words, type 0, first) up to end. scanDict reads `size` entries: out[0] = the number of leading words, out[1] = the
// offset from d of the first other entry (the labels), out[2] = the offset of the dictionary's end, out[3] = the
// longest word's bytes, out[4] = the words' bytes added up; returns 0, or -1 when the entries run past end.
__attribute__((export_name("scanDict"))) i32 scanDict(const u8 *d, const u8 *end, i32 size, i32 *out) {
  const u8 *p = d;
  i32 words = 0, labelsAt = -1, longest = 0, bytes = 0;
  for (i32 i = 0; i < size; i++) {
    const u8 *s = p;
    while (p < end && *p) p++;
    if (end - p < 10) return -1;
    const i32 len = (i32)(p - s);
    p += 9; // the NUL and the count
    if (*p++ == 0 && labelsAt < 0) {
      words++;
      bytes += len;
      if (len > longest) longest = len;
    } else if (labelsAt < 0)
      labelsAt = (i32)(s - d);
  }
  out[0] = words;
  out[1] = labelsAt < 0 ? (i32)(p - d) : labelsAt;
  out[2] = (i32)(p - d);
  out[3] = longest;
  out[4] = bytes;
  return 0;
}

// the first n entries of the dictionary at d (scanDict: its leading words) into the vocabulary, word i with id i
__attribute__((export_name("addWords"))) void addWords(const u8 *d, i32 n) {
  for (i32 i = 0; i < n; i++) {
    i32 len = 0;
    while (d[len]) len++;
    addWord(d, len, i);
    d += len + 10;
  }
}

static inline i32 ld32(const u8 *p) {
  i32 v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// the rank of kept bucket h (keptStart, keptLow), or -1 when h is not kept
static i32 keptRank(u32 h) {
  const u32 s = keptStart[h >> 8], e = keptStart[(h >> 8) + 1];
  for (u32 c = s; c < e; c++)
    if (keptLow[c] == (u8)h) return (i32)c;
  return -1;
}

// The kept n-gram buckets of a pruned model from its n (bucket, row) pairs at pairs (little-endian int32, any
// alignment), the last pair of a bucket deciding (a negative row: not kept): start (bucket / 256 + 1 u32) and low
// (keptStart and keptLow above) and order (the input row of each rank). tmp (n ints) is scratch: the pairs grouped by
// block (a counting sort over start), then per block the last pair of each low byte (blockLast, blockBits) in
// increasing order, so the ranking touches 4 n bytes of scratch besides its outputs (fresh pages cost ~17 us each on
// the 2-core VM: the two bitmaps over every bucket and the three arrays it took before were 1 MB). Returns the number
// of kept buckets, or -1 - i for the last pair i (of those that decide) whose row is past the input matrix's rows.
static i32 blockLast[256];
static u32 blockBits[8];
__attribute__((export_name("rankBuckets"))) i32 rankBuckets(const u8 *pairs, i32 n, i32 bucket, i32 nwords, i32 rows,
                                                            u32 *start, u8 *low, i32 *tmp, i32 *order) {
  const u32 blocks = ((u32)bucket + 255) >> 8;
  // the pairs of each block counted in start[b + 1], then start[b] = the first place of block b's pairs in tmp
  for (u32 b = 0; b <= blocks; b++) start[b] = 0;
  for (i32 i = 0; i < n; i++) {
    const i32 h = ld32(pairs + 8 * i);
    if (h >= 0 && h < bucket) start[((u32)h >> 8) + 1]++;
  }
  for (u32 b = 1; b <= blocks; b++) start[b] += start[b - 1];
  // the pairs' indices by block, in file order (start[b] moves on to the end of block b's pairs)
  for (i32 i = 0; i < n; i++) {
    const i32 h = ld32(pairs + 8 * i);
    if (h >= 0 && h < bucket) tmp[start[(u32)h >> 8]++] = i;
  }
  u32 c = 0, from = 0;
  i32 bad = -1;
  for (u32 b = 0; b < blocks; b++) {
    const u32 to = start[b];
    start[b] = c;
    for (u32 k = from; k < to; k++) {
      const i32 i = tmp[k];
      const u32 l = (u32)ld32(pairs + 8 * i) & 255;
      blockLast[l] = i;
      blockBits[l >> 5] |= 1u << (l & 31);
    }
    from = to;
    for (u32 w = 0; w < 8; w++) {
      for (u32 m = blockBits[w]; m; m &= m - 1) {
        const u32 l = (w << 5) + (u32)__builtin_ctz(m);
        const i32 i = blockLast[l], id = ld32(pairs + 8 * i + 4);
        if (id < 0) continue;
        if (id >= rows - nwords) {
          if (i > bad) bad = i;
          continue;
        }
        low[c] = (u8)l;
        order[c++] = nwords + id;
      }
      blockBits[w] = 0;
    }
  }
  start[blocks] = c;
  if (bad >= 0) return -1 - bad;
  keptStart = start;
  keptLow = low;
  return (i32)c;
}

// after the vocabulary: the end-of-line token's id
__attribute__((export_name("setEos"))) i32 setEos(void) {
  static const u8 s[4] = {'<', '/', 's', '>'};
  eos = wordId(s, 0, 4, (i32)fnv(s, 0, 4));
  return eos;
}

static inline i32 isSep(u32 c) { return c == 32 || c == 10 || c == 13 || c == 9 || c == 11 || c == 12 || c == 0; }

static i32 isLabel(const u8 *b, i32 s, i32 e) {
  static const u8 p[9] = {'_', '_', 'l', 'a', 'b', 'e', 'l', '_', '_'};
  if (e - s < 9) return 0;
  for (i32 q = 0; q < 9; q++)
    if (b[s + q] != p[q]) return 0;
  return 1;
}

// row ids of the token b[s, e): its word row, then the n-grams of "<" + token + ">" (minn..maxn characters, hashed as
// their bytes are appended, sign-extended as fastText's char), through the blocks of kept buckets; returns the new end
static i32 tokenRows(const u8 *b, i32 s, i32 e, i32 wid, i32 at) {
  const i32 len = e - s + 2;
  if (wid >= 0) ids[at++] = wid;
  if (pruneSize == 0) return at;
  u8 *w = wb;
  w[0] = 60;
  for (i32 q = s; q < e; q++) w[q - s + 1] = b[q];
  w[len - 1] = 62;
  // the buckets first, in ids[at, nb) (pruned: then looked up below)
  i32 nb = at;
  for (i32 i = 0; i < len; i++) {
    if ((w[i] & 0xc0) == 0x80) continue;
    u32 h = FNV_OFFSET;
    i32 j = i;
    for (i32 n = 1; j < len && n <= maxn; n++) {
      do {
        h = (h ^ (u32)(i32)(signed char)w[j]) * FNV_PRIME;
        j++;
      } while (j < len && (w[j] & 0xc0) == 0x80);
      if (n >= minn && !(n == 1 && (i == 0 || j == len))) {
        const u32 bkt = bucketOf(h);
        ids[nb++] = pruneSize < 0 ? nwords + (i32)bkt : (i32)bkt;
      }
    }
  }
  if (pruneSize < 0) return nb;
  // each bucket's block: its low byte compared with the block's (at most 16 at once: a longer block, where a model
  // keeps more than 16 of 256 buckets, goes on in the loop below) with no branch on the loaded bytes, so the look-ups'
  // cache misses overlap; the rows are written in place over the buckets already read
  for (i32 k = at; k < nb; k++) {
    const u32 bkt = (u32)ids[k];
    const u32 s = keptStart[bkt >> 8], e = keptStart[(bkt >> 8) + 1];
    const v128_t lo = wasm_i8x16_splat((signed char)bkt);
    const u32 mask = e - s >= 16 ? 0xffffu : (1u << (e - s)) - 1;
    const u32 m = (u32)wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(keptLow + s), lo)) & mask;
    ids[at] = nwords + (i32)s + __builtin_ctz(m | 0x10000);
    at += m != 0;
    if (__builtin_expect(e - s > 16, 0) && m == 0) {
      const i32 r = keptRank(bkt);
      ids[at] = nwords + r;
      at += r >= 0;
    }
  }
  return at;
}

static void addRows(const i32 *rows, i32 from, i32 m) {
  if (dim != 16) {
    for (i32 q = from; q < from + m; q++) {
      const float *r = wi + rows[q] * dim;
      for (i32 c = 0; c < dim; c++) hidden[c] = hidden[c] + r[c];
    }
    return;
  }
  v128_t h0 = wasm_v128_load(hidden), h1 = wasm_v128_load(hidden + 4), h2 = wasm_v128_load(hidden + 8),
         h3 = wasm_v128_load(hidden + 12);
  for (i32 q = from; q < from + m; q++) {
    const float *r = wi + (rows[q] << 4);
    h0 = wasm_f32x4_add(h0, wasm_v128_load(r));
    h1 = wasm_f32x4_add(h1, wasm_v128_load(r + 4));
    h2 = wasm_f32x4_add(h2, wasm_v128_load(r + 8));
    h3 = wasm_f32x4_add(h3, wasm_v128_load(r + 12));
  }
  wasm_v128_store(hidden, h0);
  wasm_v128_store(hidden + 4, h1);
  wasm_v128_store(hidden + 8, h2);
  wasm_v128_store(hidden + 12, h3);
}

// expf as musl computes it (fasttext.ts expf: the same double operations on the same constants)
static float expf_(float xf) {
  const double x = xf;
  if (x != x) return xf;
  if (x > expc[4]) return __builtin_inff();
  if (x < expc[5]) return 0.0f;
  const double z = expc[0] * x;
  double kd = z + expc[6];
  kd -= expc[6];
  const double r = z - kd;
  const i32 k = (i32)kd;
  union {
    u64 u;
    double d;
  } p2;
  p2.u = (u64)(1023 + (k >> 5)) << 52;
  const double s = expc[8 + (k & 31)] * p2.d;
  const double zz = expc[1] * r + expc[2];
  const double r2 = r * r;
  double y = expc[3] * r + 1;
  y = zz * r2 + y;
  y = y * s;
  return (float)y;
}

static inline float stdLog(float x) { return (float)host_log((double)x + 1e-5); }

// predict() takes the tokens TOKENS at a time: their starts, ends and FNV hashes
#define TOKENS 64
static i32 tokS[TOKENS], tokE[TOKENS];
static u32 tokH[TOKENS];
// Before the tokens are looked up one by one, the lines their look-ups read first are loaded in loops of independent
// loads (WebAssembly has no prefetch): each short token's slot in the token cache, then the record of a slot whose
// hash is the token's, and each token's slot in the vocabulary (read on a cache miss). The other map steps evict these
// tables between documents; the misses of 64 tokens then overlap, where the look-ups took them one after another (a
// token's slot, its record, its rows, then the next token's slot). The loaded words are summed into `touched` so that
// the loads stay.
static volatile u32 touched;
static void touchTokens(i32 nt) {
  u32 acc = 0;
  const u32 mask = (1u << cache.bits) - 1, vmask = (1u << vocab.bits) - 1;
  for (i32 q = 0; q < nt; q++)
    if (tokE[q] - tokS[q] <= CACHED_BYTES) acc += (u32)cache.slots[2 * (tokH[q] & mask) + 1];
  for (i32 q = 0; q < nt; q++) {
    const u32 x = tokH[q] & mask;
    const i32 o = cache.slots[2 * x + 1];
    if (tokE[q] - tokS[q] <= CACHED_BYTES && o != 0 && cache.slots[2 * x] == (i32)tokH[q]) acc += (u32)cache.pool[o - 1];
  }
  for (i32 q = 0; q < nt; q++) acc += (u32)vocab.slots[2 * (tokH[q] & vmask) + 1];
  touched += acc;
}
// the text is u16s[at, at + n16) (UTF-16 units); returns how many of the k best labels were found (bestNode, bestScore)
__attribute__((export_name("predict"))) i32 predict(i32 at, i32 n16, i32 k) {
  const i32 n = utf8(u16s + at, n16);
  for (i32 c = 0; c < dim; c++) hidden[c] = 0;
  i32 count = 0;
  // the tokens, TOKENS at a time: scanned (from i), their tables' lines touched, then looked up in order
  i32 i = 0;
  for (i32 nt = TOKENS; nt == TOKENS;) {
    for (nt = 0; nt < TOKENS; nt++) {
      while (i < n && isSep(utf[i])) i++;
      if (i >= n) break;
      u32 h = FNV_OFFSET;
      tokS[nt] = i;
      while (i < n && !isSep(utf[i])) h = (h ^ utf[i++]) * FNV_PRIME;
      tokE[nt] = i;
      tokH[nt] = h;
    }
    touchTokens(nt);
    for (i32 q = 0; q < nt; q++) {
      const i32 s = tokS[q], e = tokE[q], h = (i32)tokH[q];
      if (e - s <= CACHED_BYTES) {
        // fastText ends the line at an end-of-line token
        if (e - s == 4 && utf[s] == 60 && utf[s + 1] == 47 && utf[s + 2] == 115 && utf[s + 3] == 62) goto lineEnd;
        i32 t = find(&cache, utf, s, e, h);
        if (t < 0) {
          const i32 wid = wordId(utf, s, e, h);
          const i32 end = wid < 0 && isLabel(utf, s, e) ? 0 : tokenRows(utf, s, e, wid, 0);
          t = add(&cache, utf, s, e, h, ids, end);
        }
        const i32 m = cache.pool[t + 1];
        addRows(rowsOf(&cache, t), 0, m);
        count += m;
      } else {
        const i32 wid = e - s <= maxWordBytes ? wordId(utf, s, e, h) : -1;
        const i32 m = wid < 0 && isLabel(utf, s, e) ? 0 : tokenRows(utf, s, e, wid, 0);
        addRows(ids, 0, m);
        count += m;
      }
    }
  }
lineEnd:
  if (eos >= 0) {
    for (i32 c = 0; c < dim; c++) hidden[c] = hidden[c] + wi[eos * dim + c];
    count++;
  }
  if (count == 0) return 0;
  const float a = (float)(1.0 / (double)count);
  for (i32 c = 0; c < dim; c++) hidden[c] = hidden[c] * a;

  // depth-first search of the label tree, keeping the k best log-probabilities (fasttext.ts: the same order, pruning
  // and tie rule)
  const float thresholdLog = (float)expc[7];
  i32 nBest = 0;
  i32 sp = 0;
  stackNode[sp] = 2 * osz - 2;
  stackScore[sp++] = 0;
  while (sp > 0) {
    const i32 node = stackNode[--sp];
    const float score = stackScore[sp];
    if (score < thresholdLog) continue;
    if (nBest == k && nBest > 0 && score < (float)bestScore[nBest - 1]) continue;
    const i32 left = treeLeft[node];
    if (left == -1 && treeRight[node] == -1) {
      i32 at = nBest;
      while (at > 0 && (float)bestScore[at - 1] <= score) at--;
      for (i32 q = nBest < k - 1 ? nBest : k - 1; q > at; q--) {
        bestScore[q] = bestScore[q - 1];
        bestNode[q] = bestNode[q - 1];
      }
      if (at < k) {
        bestScore[at] = score;
        bestNode[at] = node;
      }
      if (nBest < k) nBest++;
      continue;
    }
    const float *row = wo + (node - osz) * dim;
    float d = 0;
    for (i32 c = 0; c < dim; c++) d = d + row[c] * hidden[c];
    const float fv = 1.0f / (1.0f + expf_(-d));
    stackNode[sp] = treeRight[node];
    stackScore[sp++] = score + stdLog(fv);
    stackNode[sp] = left;
    stackScore[sp++] = score + stdLog(1.0f - fv);
  }
  return nBest;
}

// the table of units() (65,536 classes, written by the host); called again after the host writes it. The ranges
// that units() classes eight units at a time are the ones whose every unit has one class in this table: Han
// (U+4E00-9FFF, class 4) and general, CJK and full-width punctuation (U+2000-206F, U+3000-303F, U+FF00-FFEF, class
// 0); a range that the table classes otherwise is left to the per-unit loop (its size is 0 here).
static u16 hanSize, zeroSize[3];
static const u16 hanBase = 0x4e00, zeroBase[3] = {0x2000, 0x3000, 0xff00};
static const u16 hanLen = 0x5200, zeroLen[3] = {0x70, 0x40, 0xf0};
static i32 uniform(u32 base, u32 len, u8 k) {
  for (u32 c = base; c < base + len; c++)
    if (unitClass[c] != k) return 0;
  return 1;
}
__attribute__((export_name("setUnitClass"))) void setUnitClass(const u8 *t) {
  unitClass = t;
  hanSize = uniform(hanBase, hanLen, 4) ? hanLen : 0;
  for (i32 q = 0; q < 3; q++) zeroSize[q] = uniform(zeroBase[q], zeroLen[q], 0) ? zeroLen[q] : 0;
}

// filters/lid.ts scriptUnits over u16s[s, e): out[0..3] = Han characters, kana, Hangul, Latin words (runs of Latin
// letters). A high surrogate takes the next unit whatever it is (as lid.ts computes the code point); a code point
// above U+FFFF gets its class from the host. Eight units at a time while each is ASCII or in one of the ranges above
// (Han counted, ASCII letters' runs counted by their first letter), else unit by unit up to the end of the eight.
__attribute__((export_name("units"))) void units(i32 s, i32 e, i32 *out) {
  i32 n[5] = {0, 0, 0, 0, 0}; // by class; n[1] counts Latin words (runs), not letters
  i32 inWord = 0;
  const v128_t x80 = wasm_i16x8_splat(0x80), x20 = wasm_i16x8_splat(0x20), a = wasm_i16x8_splat(0x61),
               n26 = wasm_i16x8_splat(26), hb = wasm_i16x8_splat((short)hanBase), hs = wasm_i16x8_splat((short)hanSize),
               z0 = wasm_i16x8_splat((short)zeroBase[0]), s0 = wasm_i16x8_splat((short)zeroSize[0]),
               z1 = wasm_i16x8_splat((short)zeroBase[1]), s1 = wasm_i16x8_splat((short)zeroSize[1]),
               z2 = wasm_i16x8_splat((short)zeroBase[2]), s2 = wasm_i16x8_splat((short)zeroSize[2]);
  i32 i = s;
  while (i < e) {
    if (i + 8 <= e) {
      const v128_t v = wasm_v128_load(u16s + i);
      const v128_t ascii = wasm_u16x8_lt(v, x80);
      const v128_t letter = wasm_v128_and(ascii, wasm_u16x8_lt(wasm_i16x8_sub(wasm_v128_or(v, x20), a), n26));
      const v128_t han = wasm_u16x8_lt(wasm_i16x8_sub(v, hb), hs);
      const v128_t zero = wasm_v128_or(wasm_v128_or(wasm_u16x8_lt(wasm_i16x8_sub(v, z0), s0),
                                                    wasm_u16x8_lt(wasm_i16x8_sub(v, z1), s1)),
                                       wasm_u16x8_lt(wasm_i16x8_sub(v, z2), s2));
      if (wasm_i16x8_all_true(wasm_v128_or(wasm_v128_or(ascii, han), zero))) {
        const u32 lm = wasm_i16x8_bitmask(letter);
        n[1] += __builtin_popcount(lm & ~((lm << 1) | (u32)inWord));
        n[4] += __builtin_popcount(wasm_i16x8_bitmask(han));
        inWord = (lm >> 7) & 1;
        i += 8;
        continue;
      }
    }
    // unit by unit to the end of these eight (a surrogate pair may end one past it)
    const i32 stop = i + 8 < e ? i + 8 : e;
    for (; i < stop; i++) {
      u32 c = u16s[i];
      if (c < 0x80) {
        const i32 letter = (c | 32) - 97 < 26u;
        n[1] += letter & !inWord;
        inWord = letter;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < e) {
        c = ((c - 0xd800) << 10) + (u32)u16s[i + 1] - 0xdc00 + 0x10000;
        i++;
      }
      const i32 k = c < 0x10000 ? unitClass[c] : host_astral_class(c);
      if (k == 1) {
        n[1] += !inWord;
        inWord = 1;
        continue;
      }
      inWord = 0;
      n[k]++;
    }
  }
  out[0] = n[4];
  out[1] = n[2];
  out[2] = n[3];
  out[3] = n[1];
}
