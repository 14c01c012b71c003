// Byte-level BPE encoding kernel for tokenizer/bytebpe.ts, compiled to WebAssembly by tokenizer/bpe-kernel.sh (the
// .wasm is committed: a user's machine needs no compiler). Over a segment's UTF-16 code units in this module's memory
// (no added tokens in it, NFC already applied by bytebpe.ts), step for step what the TypeScript encoder did:
//   1. pieces where Qwen's pre-tokenizer regex cuts (tokenizer/pretokenize.ts pieceEnd, on its class table: BMP code
//      units from a table bytebpe.ts copies in, astral code points through the imported `astralClass`);
//   2. each piece cut where no token can span the boundary between two BMP characters of 2 or 3 UTF-8 bytes (the span
//      tables, made from the merges by joinFragments), and its parts (the whole piece when it has no cut) of at most
//      CACHE_PIECE_UNITS units through a cache keyed by their units;
//   3. BPE of a part's UTF-8 bytes (a lone surrogate as U+FFFD): lowest rank first, leftmost first among equal ranks
//      (Hugging Face `Word::merge_all`), by scans of the pairs' ranks for short parts, a binary heap over the pairs with
//      stale entries skipped for long ones.
// Every table lives in this module's memory, made by `build` from the merges bytebpe.ts copies in (`setup`).

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
#include "../filters/xxh64.h"

extern u8 __heap_base;
// class (0 other, 1 letter, 2 number) of an astral code point: tokenizer/pretokenize.ts codePointClass
__attribute__((import_module("env"), import_name("astralClass"))) i32 astralClass(i32 cp);

#define CACHE_PIECE_UNITS 48 // a cached piece has at most 3 * 48 ids (its length is its record header's low byte)
#define CACHE_MAX (1 << 18)
#define CACHE_SLOTS (CACHE_MAX * 2)
#define ARENA_WORDS (1 << 22) // the cache's records (16 MiB)

// ---------- memory: a bump allocator over the module's memory (nothing is freed; bytebpe.ts keeps one instance per
// encoder). Memory grown here detaches bytebpe.ts's views, which it remakes after each call.
static u32 top;
static void *alloc(u32 bytes) {
  if (!top) top = (u32)&__heap_base;
  const u32 at = (top + 15) & ~15u;
  top = at + bytes;
  const u32 have = (u32)__builtin_wasm_memory_size(0) << 16;
  if (top > have && __builtin_wasm_memory_grow(0, (top - have + 65535) >> 16) < 0) __builtin_trap();
  return (void *)at;
}

// ---------- the tokenizer: merges (rank r joins left[r] and right[r] into result[r]), byte tokens, classes
// Memory touched for the first time costs more than anything the tables do with it (a page fault per 4 KiB, ~3 ms
// per MiB on the 2-core VM): the tables are kept small, filled lazily where they can be (0 in fresh memory meaning "not
// yet"), and the build's temporary arrays lie in the arena, whose pages the piece cache reuses.
static i32 nMerges, nTok;
static u32 *left, *right, *result;
static u32 byteIds[256];
static u8 nfcUnsafe[0x2000]; // bit c: BMP code unit c may change under NFC (bytebpe.ts NFC_UNSAFE)
// pretokenize.ts classes of the BMP code units: 0 other, 1 letter, 2 number, 3 white space, 4 \r \n
static u8 cls[0x10000];
// (left, right) -> rank, open addressing, a repeated merge keeping its first rank: a slot is (left + 1) << 43 |
// right << 22 | rank (0: empty, as fresh memory is; ids below 2^21, ranks below 2^22, checked by bytebpe.ts)
static u64 *merges;
static u32 hShift, hMask;
static i32 *byteRank; // by (b1 << 8 | b2): 2 + the rank of the merge of the byte tokens of b1, b2; 1: none; 0: not yet

static inline u32 hashPair(u32 a, u32 b) { return ((a ^ (b * 0x85ebca77u)) * 0x9e3779b1u) >> hShift; }

static inline i32 rankOf(i32 a, i32 b) {
  const u64 key = ((u64)(u32)(a + 1) << 21) | (u32)b;
  u32 h = hashPair((u32)a, (u32)b);
  for (;;) {
    const u64 m = merges[h];
    if (m >> 22 == key) return (i32)(m & 0x3fffff);
    if (m == 0) return -1;
    h = (h + 1) & hMask;
  }
}

// ---------- span tables (bytebpe.ts's account: which boundaries between two BMP characters of 2 or 3 UTF-8 bytes a
// token can span). Cut a token at an inner character start after a multi-byte character: L = its bytes from the
// character start before (or its start) to the cut, R = its bytes from the cut to the next character start (or its
// end). A token spans the boundary x|y of the text only if some (L, R) of a token is (a suffix of x's bytes, a prefix
// of y's bytes). Fragments (at most 3 bytes, as 256^length + the bytes) get indices; lOf[3x + k - 1] is the index of
// x's k-byte suffix as an L plus 2 (1: none; 0: not looked up yet), rOf[3y + k - 1] of y's k-byte prefix as an R, and
// `pairs` a bit matrix of the (L, R) that occur.
static i32 *lOf, *rOf;
static u32 *pairs;
static i32 words;
// fragment value -> index, open addressing (key 0: empty)
typedef struct {
  i32 *key, *val;
  u32 mask;
  i32 size;
} Map;
static Map lIds, rIds;

static void mapInit(Map *m, u32 cap) {
  u32 s = 16;
  while (s < cap * 2) s <<= 1;
  m->key = alloc(4 * s);
  m->val = alloc(4 * s);
  m->mask = s - 1;
  m->size = 0;
}
static inline u32 mapSlot(const Map *m, i32 k) {
  u32 h = ((u32)k * 0x9e3779b1u) & m->mask;
  while (m->key[h] != 0 && m->key[h] != k) h = (h + 1) & m->mask;
  return h;
}
static i32 mapId(Map *m, i32 k) { // the index of k, a new one if none
  const u32 h = mapSlot(m, k);
  if (m->key[h] == 0) {
    m->key[h] = k;
    m->val[h] = m->size++;
  }
  return m->val[h];
}
static inline i32 mapGet(const Map *m, i32 k) {
  const u32 h = mapSlot(m, k);
  return m->key[h] == 0 ? -1 : m->val[h];
}

// The (L, R) fragment values of every merge's join point where a character starts after a multi-byte one, in merge
// order, into found (L, R, L, R, ...); returns their count. Per token formed so far (len 0: not yet), from its two
// operands: tail, its bytes from its last character start (a non-continuation byte at index >= 1, else index 0) to
// its end; head, its bytes from its start to its next character start (index >= 1, else its end); each as 256^length +
// the bytes (length 4 stands for any longer, whose value is not used); lead, whether it has a non-continuation byte;
// its first and last byte. (bytebpe.ts joinFragments, as it was in TypeScript.)
// tmp: room for 17 nTok bytes (zeroed here).
static i32 joinFragments(i32 *found, u8 *tmp) {
  __builtin_memset(tmp, 0, 17 * (u32)nTok);
  i32 *len = (i32 *)tmp, *tailV = len + nTok, *headV = tailV + nTok;
  u8 *tailL = (u8 *)(headV + nTok), *headL = tailL + nTok, *lead = headL + nTok, *first = lead + nTok,
     *last = first + nTok;
  for (i32 b = 0; b < 256; b++) {
    const u32 id = byteIds[b];
    if (id >= (u32)nTok) continue;
    len[id] = 1;
    tailV[id] = headV[id] = 256 + b;
    tailL[id] = headL[id] = 1;
    lead[id] = (b & 0xc0) != 0x80;
    first[id] = last[id] = b;
  }
  i32 nFound = 0;
  // rounds until one forms no new token (a merge whose operand is never formed can never apply, nor be spanned)
  i32 pending = 1, formed = 1;
  while (pending && formed) {
    pending = formed = 0;
    for (i32 r = 0; r < nMerges; r++) {
      const u32 t = result[r], a = left[r], c = right[r];
      if (t >= (u32)nTok || a >= (u32)nTok || c >= (u32)nTok || len[t] > 0) continue;
      if (len[a] == 0 || len[c] == 0) {
        pending = 1;
        continue;
      }
      formed = 1;
      const i32 la = len[a], lc = len[c];
      len[t] = la + lc;
      first[t] = first[a];
      last[t] = last[c];
      lead[t] = lead[a] | lead[c];
      if (lead[c]) {
        tailV[t] = tailV[c];
        tailL[t] = tailL[c];
      } else {
        // x ++ y as values: V(x) * 256^|y| + V(y) - 256^|y|
        const i32 l = tailL[a] + lc;
        tailL[t] = l > 3 ? 4 : l;
        if (l <= 3) tailV[t] = tailV[a] * (1 << (8 * lc)) + tailV[c] - (1 << (8 * lc));
      }
      if (headL[a] < la) {
        headV[t] = headV[a];
        headL[t] = headL[a];
      } else {
        // a is its first character's bytes so far: c's up to its first character start follow
        const i32 k = (first[c] & 0xc0) != 0x80 ? 0 : headL[c];
        const i32 l = la + k;
        headL[t] = l > 3 ? 4 : l;
        if (l <= 3) headV[t] = k == 0 ? headV[a] : headV[a] * (1 << (8 * k)) + headV[c] - (1 << (8 * k));
      }
      // the boundary where the two operands meet, when a character starts there after a multi-byte one (the other
      // boundaries inside the token are the operands'); L: a's tail, R: c's head; never next to a 4-byte character
      if (first[c] < 0xc0 || (last[a] & 0xc0) != 0x80 || tailL[a] > 3 || headL[c] > 3) continue;
      found[nFound++] = tailV[a];
      found[nFound++] = headV[c];
    }
  }
  return nFound;
}

// lOf / rOf of BMP character x (>= U+0080, not a surrogate): its k-byte suffixes as L, prefixes as R
static void fragmentsOf(u32 x) {
  const i32 nb = x < 0x800 ? 2 : 3;
  const u32 b0 = nb == 2 ? 0xc0 | (x >> 6) : 0xe0 | (x >> 12), b1 = nb == 2 ? 0x80 | (x & 63) : 0x80 | ((x >> 6) & 63),
            b2 = 0x80 | (x & 63);
  const u32 lastB = nb == 2 ? b1 : b2;
  const i32 l1 = 256 + lastB, l2 = nb == 2 ? 65536 + b0 * 256 + b1 : 65536 + b1 * 256 + b2,
            l3 = 16777216 + b0 * 65536 + b1 * 256 + b2;
  const i32 r1 = 256 + b0, r2 = 65536 + b0 * 256 + b1;
  lOf[3 * x] = 2 + mapGet(&lIds, l1);
  lOf[3 * x + 1] = 2 + mapGet(&lIds, l2);
  lOf[3 * x + 2] = nb == 3 ? 2 + mapGet(&lIds, l3) : 1;
  rOf[3 * x] = 2 + mapGet(&rIds, r1);
  rOf[3 * x + 1] = 2 + mapGet(&rIds, r2);
  rOf[3 * x + 2] = nb == 3 ? 2 + mapGet(&rIds, l3) : 1;
}

static inline i32 bit(i32 row, i32 r) { return r >= 0 && (pairs[row + (r >> 5)] & (1u << (r & 31))); }

// whether a token can span the boundary between BMP characters x and y (each >= U+0080, not surrogates)
static i32 spanned(u32 x, u32 y) {
  if (lOf[3 * x] == 0) fragmentsOf(x);
  if (lOf[3 * y] == 0) fragmentsOf(y);
  const i32 r0 = rOf[3 * y] - 2, r1 = rOf[3 * y + 1] - 2, r2 = rOf[3 * y + 2] - 2;
  for (i32 k = 0; k < 3; k++) {
    const i32 l = lOf[3 * x + k] - 2;
    if (l < 0) continue;
    const i32 row = l * words;
    if (bit(row, r0) || bit(row, r1) || bit(row, r2)) return 1;
  }
  return 0;
}

// ---------- the pre-tokenizer (pretokenize.ts pieceEnd over UTF-16 code units)
#define C_O 0
#define C_L 1
#define C_N 2
#define C_WS 3
#define C_NL 4
static u8 contraction[0x80]; // by the lower-cased letter after an apostrophe: 2 ('s 't 'm 'd), the third letter ('re
                             // 've 'll), else 0

// class of the code point at i (a surrogate pair as one astral code point; a lone surrogate is other)
static inline i32 clsAt(const u16 *s, i32 i, i32 n) {
  const u32 c = s[i];
  if (c < 0xd800 || c >= 0xdc00 || i + 1 >= n) return cls[c];
  const u32 d = s[i + 1];
  if (d < 0xdc00 || d >= 0xe000) return C_O;
  return astralClass(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
}

static inline i32 widthAt(const u16 *s, i32 i, i32 n) {
  const u32 c = s[i];
  if (c < 0xd800 || c >= 0xdc00 || i + 1 >= n) return 1;
  const u32 d = s[i + 1];
  return d >= 0xdc00 && d < 0xe000 ? 2 : 1;
}

// end of the run of class-k code points from i
static inline i32 runEnd(const u16 *s, i32 i, i32 n, i32 k) {
  while (i < n) {
    const u32 c = s[i];
    if (c < 0xd800 || c >= 0xe000) {
      if (cls[c] != k) return i;
      i++;
    } else {
      if (clsAt(s, i, n) != k) return i;
      i += widthAt(s, i, n);
    }
  }
  return n;
}

// end of the piece of s (length n) that starts at i < n
static i32 pieceEnd(const u16 *s, i32 i, i32 n) {
  const u32 c = s[i];
  if (c == 0x27 && i + 1 < n) {
    const u32 a = s[i + 1] | 0x20;
    const u32 m = a < 0x80 ? contraction[a] : 0;
    if (m == 2) return i + 2; // s t m d
    const u32 b = i + 2 < n ? s[i + 2] | 0x20 : 1;
    if (b == m) return i + 3; // re ve ll
  }
  const i32 k = clsAt(s, i, n);
  const i32 w = widthAt(s, i, n);
  if (k == C_L) return runEnd(s, i + w, n, C_L);                                                // 2. letters
  if ((k == C_O || k == C_WS) && i + w < n && clsAt(s, i + w, n) == C_L) return runEnd(s, i + w, n, C_L); // one before
  if (k == C_N) return i + w;                                                                   // 3.
  // 4. ' '? other+ [\r\n]*
  i32 o = -1;
  if (k == C_O)
    o = i;
  else if (c == 0x20 && i + 1 < n && clsAt(s, i + 1, n) == C_O)
    o = i + 1;
  if (o >= 0) {
    i32 e = runEnd(s, o, n, C_O);
    while (e < n && cls[s[e]] == C_NL) e++;
    return e;
  }
  // white space (all of it in the BMP): the run i..j
  i32 j = i + 1;
  i32 lastNl = k == C_NL ? i : -1;
  while (j < n) {
    const i32 x = cls[s[j]];
    if (x == C_NL)
      lastNl = j;
    else if (x != C_WS)
      break;
    j++;
  }
  if (lastNl >= 0) return lastNl + 1;       // 5. up to the last \r or \n of the run
  if (j == n || j - i < 2) return j;        // 6. (to the end) or 7. (one character before a non-space)
  return j - 1;                             // 6. all but the last, which goes with what follows
}

// ---------- the segment, its ids, BPE scratch
static u16 *units; // the segment (capacity segCap units)
static u32 *out;   // its ids (capacity 3 * segCap + 1)
static i32 segCap;
static i32 *ids, *nxt, *prv;
static u8 *bytes;
static u64 *heap;
static i32 scratchCap, heapN;

// ---------- the piece cache: open addressing, a 4-byte slot per piece: rec << 10 | its hash's top 10 bits (0: empty),
// the record at arena[rec] (32-bit words): the piece's length and its id count (len | count << 8), its ids, then its
// units two to a word (an odd last one alone). A hit reads the slot and the record (two cache lines, mostly), and
// compares and hashes the units a word at a time. The table is allocated whole and touched only where pieces land; it
// is cleared when it holds CACHE_MAX pieces or the arena is full.
static u32 *cache;
static u32 *arena;
static i32 arenaLen, cacheCount;

static void clearCache(void) {
  __builtin_memset(cache, 0, CACHE_SLOTS * 4);
  cacheCount = 0;
  arenaLen = 1;
}

static void heapPush(u64 key) {
  i32 i = heapN++;
  while (i > 0) {
    const i32 p = (i - 1) >> 1;
    if (heap[p] <= key) break;
    heap[i] = heap[p];
    i = p;
  }
  heap[i] = key;
}

static u64 heapPop(void) {
  const u64 topKey = heap[0];
  const i32 n = --heapN;
  const u64 lastKey = heap[n];
  i32 i = 0;
  for (;;) {
    i32 c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap[c + 1] < heap[c]) c++;
    if (heap[c] >= lastKey) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = lastKey;
  return topKey;
}

static void growScratch(i32 m) {
  i32 c = scratchCap ? scratchCap : 256;
  while (c < m) c *= 2;
  scratchCap = c;
  ids = alloc(4 * c);
  nxt = alloc(4 * c);
  prv = alloc(4 * c);
  bytes = alloc(c);
  heap = alloc(16 * c);
}

// BPE of the n byte tokens in ids (n <= SCAN_BYTES) by scans: the rank of each adjacent pair in rk (none: 0x7fffffff),
// the lowest (leftmost among equal) merged and the ranks of its two new pairs looked up, until no pair has a rank: the
// merges the heap below makes, in the same order, with a look-up less per merge (a short piece's scan costs less than
// the heap's upkeep); written to out from at, returns the number of ids
#define SCAN_BYTES 64
#define NONE 0x7fffffff
static i32 scanMerge(i32 n, i32 at) {
  i32 rk[SCAN_BYTES];
  for (i32 i = 0; i + 1 < n; i++) {
    const u32 x = (bytes[i] << 8) | bytes[i + 1];
    i32 r = byteRank[x];
    if (r == 0) r = byteRank[x] = 2 + rankOf(byteIds[bytes[i]], byteIds[bytes[i + 1]]);
    rk[i] = r >= 2 ? r - 2 : NONE;
  }
  rk[n - 1] = NONE;
  for (;;) {
    i32 p = 0, best = rk[0];
    for (i32 i = 1; i < n - 1; i++)
      if (rk[i] < best) {
        best = rk[i];
        p = i;
      }
    if (best == NONE) break;
    // merge p and p + 1: the arrays close up (n is small)
    ids[p] = result[best];
    for (i32 i = p + 1; i + 1 < n; i++) {
      ids[i] = ids[i + 1];
      rk[i] = rk[i + 1];
    }
    n--;
    if (p + 1 < n) {
      const i32 r = rankOf(ids[p], ids[p + 1]);
      rk[p] = r >= 0 ? r : NONE;
    } else
      rk[p] = NONE;
    if (p > 0) {
      const i32 r = rankOf(ids[p - 1], ids[p]);
      rk[p - 1] = r >= 0 ? r : NONE;
    }
  }
  for (i32 i = 0; i < n; i++) out[at + i] = ids[i];
  return n;
}

// BPE of piece seg[s..e), written to out from at; returns the number of ids
static i32 bpeInto(const u16 *seg, i32 s, i32 e, i32 at) {
  if ((e - s) * 3 > scratchCap) growScratch((e - s) * 3);
  // UTF-8 bytes (a lone surrogate becomes U+FFFD, as TextEncoder does)
  i32 n = 0;
  for (i32 i = s; i < e; i++) {
    u32 c = seg[i];
    if (c < 0x80)
      bytes[n++] = c;
    else if (c < 0x800) {
      bytes[n++] = 0xc0 | (c >> 6);
      bytes[n++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c < 0xe000) {
        const u32 d = i + 1 < e ? seg[i + 1] : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          bytes[n++] = 0xf0 | (c >> 18);
          bytes[n++] = 0x80 | ((c >> 12) & 63);
          bytes[n++] = 0x80 | ((c >> 6) & 63);
          bytes[n++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      bytes[n++] = 0xe0 | (c >> 12);
      bytes[n++] = 0x80 | ((c >> 6) & 63);
      bytes[n++] = 0x80 | (c & 63);
    }
  }
  for (i32 i = 0; i < n; i++) ids[i] = byteIds[bytes[i]];
  if (n == 1) {
    out[at] = ids[0];
    return 1;
  }
  if (n <= SCAN_BYTES) return scanMerge(n, at);
  heapN = 0;
  for (i32 i = 0; i < n; i++) {
    nxt[i] = i + 1 < n ? i + 1 : -1;
    prv[i] = i - 1;
    if (i + 1 < n) {
      const u32 x = (bytes[i] << 8) | bytes[i + 1];
      i32 r = byteRank[x];
      if (r == 0) r = byteRank[x] = 2 + rankOf(byteIds[bytes[i]], byteIds[bytes[i + 1]]);
      if (r >= 2) heapPush(((u64)(r - 2) << 32) | (u32)i);
    }
  }
  while (heapN > 0) {
    const u64 topKey = heapPop();
    const i32 r = (i32)(topKey >> 32), p = (i32)(u32)topKey;
    if (ids[p] < 0) continue;
    const i32 q = nxt[p];
    if (q < 0 || rankOf(ids[p], ids[q]) != r) continue;
    ids[p] = result[r];
    ids[q] = -1;
    const i32 nq = nxt[q];
    nxt[p] = nq;
    if (nq >= 0) {
      prv[nq] = p;
      const i32 r3 = rankOf(ids[p], ids[nq]);
      if (r3 >= 0) heapPush(((u64)r3 << 32) | (u32)p);
    }
    const i32 pp = prv[p];
    if (pp >= 0) {
      const i32 r2 = rankOf(ids[pp], ids[p]);
      if (r2 >= 0) heapPush(((u64)r2 << 32) | (u32)pp);
    }
  }
  i32 k = at;
  for (i32 i = 0; i >= 0; i = nxt[i]) out[k++] = ids[i];
  return k - at;
}

typedef u32 __attribute__((aligned(2))) u32u; // a word at any even offset (two units)

// the ids of piece seg[s..e) (at most CACHE_PIECE_UNITS units) written at at from the cache, or by BPE and cached;
// returns the new at
static i32 cachedPiece(const u16 *seg, i32 s, i32 e, i32 at) {
  const i32 len = e - s, words = len >> 1;
  const u32u *w = (const u32u *)(seg + s);
  u32 h = 0x811c9dc5u ^ (u32)len;
  for (i32 i = 0; i < words; i++) h = (h ^ w[i]) * 0x01000193u;
  const u32 odd = len & 1 ? seg[e - 1] : 0;
  h = (h ^ odd) * 0x01000193u;
  h ^= h >> 15;
  const u32 tag = h >> 22;
  u32 slot = h & (CACHE_SLOTS - 1);
  for (;;) {
    const u32 c = cache[slot];
    if (c == 0) break;
    if ((c & 1023) == tag) {
      const u32 *r = arena + (c >> 10);
      if ((r[0] & 0xff) == (u32)len) {
        const u32 k = r[0] >> 8;
        const u32 *u = r + 1 + k;
        i32 i = 0;
        while (i < words && u[i] == w[i]) i++;
        if (i == words && (!(len & 1) || u[words] == odd)) {
          for (u32 j = 0; j < k; j++) out[at + j] = r[1 + j];
          return at + k;
        }
      }
    }
    slot = (slot + 1) & (CACHE_SLOTS - 1);
  }
  const i32 k = bpeInto(seg, s, e, at);
  const i32 size = 1 + k + words + (len & 1);
  if (cacheCount >= CACHE_MAX || arenaLen + size > ARENA_WORDS) clearCache();
  slot = h & (CACHE_SLOTS - 1);
  while (cache[slot] != 0) slot = (slot + 1) & (CACHE_SLOTS - 1);
  cache[slot] = (u32)arenaLen << 10 | tag;
  cacheCount++;
  u32 *r = arena + arenaLen;
  r[0] = len | k << 8;
  for (i32 j = 0; j < k; j++) r[1 + j] = out[at + j];
  u32 *u = r + 1 + k;
  for (i32 i = 0; i < words; i++) u[i] = w[i];
  if (len & 1) u[words] = odd;
  arenaLen += size;
  return at + k;
}

// a part of a piece: cached when short enough
static inline i32 partInto(const u16 *seg, i32 s, i32 e, i32 at) {
  return e - s <= CACHE_PIECE_UNITS ? cachedPiece(seg, s, e, at) : at + bpeInto(seg, s, e, at);
}

// piece seg[s..e) cut where no token can span the boundary: BPE of the parts gives the ids of the whole, and the
// parts (words, mostly) repeat and are cached, while a whole run of Chinese seldom repeats (a piece with no cut is one
// part: a look-up of the whole before the cuts missed for most pieces that have cuts); written at at, returns the new at
static i32 pieceInto(const u16 *seg, i32 s, i32 e, i32 at) {
  i32 from = s;
  u32 prev = seg[s];
  for (i32 i = s + 1; i < e; i++) {
    const u32 c = seg[i];
    if (c >= 0x80 && prev >= 0x80 && (c < 0xd800 || c >= 0xe000) && (prev < 0xd800 || prev >= 0xe000)) {
      if (!spanned(prev, c)) {
        at = partInto(seg, from, i, at);
        from = i;
      }
    }
    prev = c;
  }
  return partInto(seg, from, e, at);
}

// ---------- exports

// The merge hash's size for m merges: the least power of two >= 1.5 m (at least 16 slots).
static u32 hashBits(i32 m) {
  u32 bits = 4;
  while ((1u << bits) < (u32)m + (u32)m / 2) bits++;
  return bits;
}

// The tables filled as the encoder runs (0 in fresh memory: not yet), the piece cache, the constants, the scratch.
static void runTables(void) {
  byteRank = alloc(4 << 16);
  lOf = alloc(4 * (3 << 16));
  rOf = alloc(4 * (3 << 16));
  cache = alloc(CACHE_SLOTS * 4);
  for (u32 ch = 0; ch < 4; ch++) contraction[(u8) "stmd"[ch]] = 2;
  contraction['r'] = contraction['v'] = 'e';
  contraction['l'] = 'l';
  // the cache's records go to the arena (its old contents do not matter)
  arenaLen = 1;
  growScratch(256);
}

// Room for the merges of a tokenizer of nT ordinary tokens: left, right, result (m each), the 256 byte tokens' ids,
// the 65,536 BMP classes, the 8,192 bytes of the NFC bits, consecutive from the offset returned (in the arena: build
// copies what it keeps); bytebpe.ts copies them in, then calls build.
__attribute__((export_name("setup"))) u32 setup(i32 m, i32 nT) {
  nMerges = m;
  nTok = nT;
  const u32 bits = hashBits(m);
  hShift = 32 - bits;
  hMask = (1u << bits) - 1;
  merges = alloc(8u << bits);
  result = alloc(4 * m);
  // the build's temporaries: the merges as given, joinFragments' per-token values, the joins found
  const u32 input = 4 * (3 * m + 256) + 0x12000, temp = input + 17 * nT + 4 * (2 * m + 2) + 64;
  arena = alloc(temp > 4 * ARENA_WORDS ? temp : 4 * ARENA_WORDS);
  left = (u32 *)arena;
  right = left + m;
  return (u32)left;
}

// The tables made from the merges: the merge hash, the span tables, the piece cache.
__attribute__((export_name("build"))) void build(void) {
  const u32 *resultIn = right + nMerges, *byteIdsIn = resultIn + nMerges;
  for (i32 r = 0; r < nMerges; r++) result[r] = resultIn[r];
  for (i32 b = 0; b < 256; b++) byteIds[b] = byteIdsIn[b];
  const u8 *clsIn = (const u8 *)(byteIdsIn + 256);
  for (u32 c = 0; c < 0x10000; c++) cls[c] = clsIn[c];
  for (u32 c = 0; c < 0x2000; c++) nfcUnsafe[c] = clsIn[0x10000 + c];
  for (i32 r = 0; r < nMerges; r++) {
    const u64 key = ((u64)(left[r] + 1) << 21) | right[r];
    u32 h = hashPair(left[r], right[r]);
    while (merges[h] != 0 && merges[h] >> 22 != key) h = (h + 1) & hMask;
    if (merges[h] != 0) continue; // a repeated merge keeps its first (lowest) rank
    merges[h] = key << 22 | (u32)r;
  }
  // span tables
  u8 *tmp = (u8 *)(clsIn + 0x12000);
  i32 *found = (i32 *)(((u32)(tmp + 17 * (u32)nTok) + 15) & ~15u);
  const i32 nFound = joinFragments(found, tmp);
  mapInit(&lIds, nFound / 2 + 1);
  mapInit(&rIds, nFound / 2 + 1);
  for (i32 i = 0; i < nFound; i += 2) {
    found[i] = mapId(&lIds, found[i]);
    found[i + 1] = mapId(&rIds, found[i + 1]);
  }
  words = (rIds.size + 31) >> 5;
  pairs = alloc(4 * (lIds.size * words > 1 ? lIds.size * words : 1));
  for (i32 i = 0; i < nFound; i += 2) pairs[found[i] * words + (found[i + 1] >> 5)] |= 1u << (found[i + 1] & 31);
  runTables();
}

// ---------- the image: the tables `build` makes from the merges, saved (`imageSave`) so that a later instance adopts
// them instead of building them again (`imageRoom`, then `imageLoad`): bytebpe.ts writes it to a file with a key of
// what it was made from and checks the key before it hands a file in; the kernel checks the header and the digest of
// the tables. A 16-word header (magic, version, merges, tokens, hash bits, the two fragment maps' slots and sizes,
// words per pairs row, total bytes, the digest's two words), then, each at a 16-byte boundary: the merge hash,
// result, byteIds, the BMP classes, the NFC bits, the maps' keys and values, the pairs matrix.
#define IMAGE_MAGIC 0x4b455042u // "BPEK"
#define IMAGE_VERSION 2u
#define IMAGE_HEAD 64u
static u32 imageLen;

static inline u32 up16(u32 x) { return (x + 15) & ~15u; }

// The image's size for these dimensions (0 when too large for the 32-bit address space).
static u32 imageSizeOf(i32 m, u32 bits, u32 lSlots, u32 rSlots, u32 lSize, u32 w) {
  const u64 n = (u64)IMAGE_HEAD + (8ull << bits) + up16(4 * (u32)m) + 1024 + 0x10000 + 0x2000 + 8ull * lSlots +
                8ull * rSlots + up16(4 * (lSize * w > 1 ? lSize * w : 1));
  return n >= (1ull << 31) ? 0 : (u32)n;
}

static u8 *put(u8 *at, const void *from, u32 bytes) {
  __builtin_memcpy(at, from, bytes);
  return at + up16(bytes);
}

// The fragment map src with its keys rehashed into the fewest slots mapInit gives for its size (build sizes the maps
// by the joins found, most of them repeats: 8 times the slots it ends up needing for Qwen's merges).
static Map mapCompact(const Map *src) {
  Map m;
  mapInit(&m, (u32)src->size);
  for (u32 h = 0; h <= src->mask; h++)
    if (src->key[h] != 0) {
      const u32 at = mapSlot(&m, src->key[h]);
      m.key[at] = src->key[h];
      m.val[at] = src->val[h];
    }
  m.size = src->size;
  return m;
}

// The image of the tables built (after build or imageLoad): its offset; its size is size(2).
__attribute__((export_name("imageSave"))) u32 imageSave(void) {
  const Map l = mapCompact(&lIds), r = mapCompact(&rIds);
  const u32 bits = 32 - hShift, lSlots = l.mask + 1, rSlots = r.mask + 1;
  imageLen = imageSizeOf(nMerges, bits, lSlots, rSlots, (u32)lIds.size, (u32)words);
  u32 *h = alloc(imageLen);
  h[0] = IMAGE_MAGIC;
  h[1] = IMAGE_VERSION;
  h[2] = (u32)nMerges;
  h[3] = (u32)nTok;
  h[4] = bits;
  h[5] = lSlots;
  h[6] = (u32)lIds.size;
  h[7] = rSlots;
  h[8] = (u32)rIds.size;
  h[9] = (u32)words;
  h[10] = imageLen;
  u8 *at = (u8 *)h + IMAGE_HEAD;
  at = put(at, merges, 8u << bits);
  at = put(at, result, 4 * (u32)nMerges);
  at = put(at, byteIds, 1024);
  at = put(at, cls, 0x10000);
  at = put(at, nfcUnsafe, 0x2000);
  at = put(at, l.key, 4 * lSlots);
  at = put(at, l.val, 4 * lSlots);
  at = put(at, r.key, 4 * rSlots);
  at = put(at, r.val, 4 * rSlots);
  put(at, pairs, 4 * ((u32)lIds.size * (u32)words > 1 ? (u32)lIds.size * (u32)words : 1));
  const u64 d = xxh64((const u8 *)h + IMAGE_HEAD, imageLen - IMAGE_HEAD);
  h[11] = (u32)d;
  h[12] = (u32)(d >> 32);
  return (u32)h;
}

// Room for an image of n bytes (at a 16-byte boundary): bytebpe.ts reads the file there.
__attribute__((export_name("imageRoom"))) u32 imageRoom(u32 n) { return (u32)alloc(n); }

static inline int pow2(u32 x) { return x >= 16 && (x & (x - 1)) == 0; }

// Adopt the image of n bytes at `at` (a 16-byte boundary) for a tokenizer of nT ordinary tokens: its tables are used
// where they lie, the constants copied. 1, or 0 (nothing adopted) when its header does not describe an image of this
// size, version and tokenizer, or its tables do not have the digest it records.
__attribute__((export_name("imageLoad"))) i32 imageLoad(u32 at, u32 n, i32 nT) {
  const u32 *h = (const u32 *)at;
  if (at & 15 || n < IMAGE_HEAD || h[0] != IMAGE_MAGIC || h[1] != IMAGE_VERSION) return 0;
  const i32 m = (i32)h[2];
  const u32 bits = h[4], lSlots = h[5], lSize = h[6], rSlots = h[7], rSize = h[8], w = h[9];
  if (m < 0 || m >= (1 << 22) || h[3] != (u32)nT || nT <= 0 || nT >= (1 << 21) - 1 || bits != hashBits(m) ||
      !pow2(lSlots) || !pow2(rSlots) || lSize > lSlots || rSize > rSlots || w != (rSize + 31) >> 5 || h[10] != n ||
      imageSizeOf(m, bits, lSlots, rSlots, lSize, w) != n ||
      xxh64((const u8 *)at + IMAGE_HEAD, n - IMAGE_HEAD) != ((u64)h[12] << 32 | h[11]))
    return 0;
  nMerges = m;
  nTok = nT;
  hShift = 32 - bits;
  hMask = (1u << bits) - 1;
  u8 *p = (u8 *)at + IMAGE_HEAD;
  merges = (u64 *)p;
  p += 8u << bits;
  result = (u32 *)p;
  p += up16(4 * (u32)m);
  __builtin_memcpy(byteIds, p, 1024);
  p += 1024;
  __builtin_memcpy(cls, p, 0x10000);
  p += 0x10000;
  __builtin_memcpy(nfcUnsafe, p, 0x2000);
  p += 0x2000;
  lIds.key = (i32 *)p;
  lIds.val = lIds.key + lSlots;
  lIds.mask = lSlots - 1;
  lIds.size = (i32)lSize;
  p += 8 * lSlots;
  rIds.key = (i32 *)p;
  rIds.val = rIds.key + rSlots;
  rIds.mask = rSlots - 1;
  rIds.size = (i32)rSize;
  p += 8 * rSlots;
  pairs = (u32 *)p;
  words = (i32)w;
  arena = alloc(4 * ARENA_WORDS);
  runTables();
  return 1;
}

// Room for a segment of n units: returns the offset of its units (the ids go to `ids`'s offset).
__attribute__((export_name("reserve"))) u32 reserve(i32 n) {
  if (n > segCap) {
    i32 c = segCap ? segCap : 1 << 12;
    while (c < n) c *= 2;
    segCap = c;
    units = alloc(2 * c);
    out = alloc(4 * (3 * c + 1));
  }
  return (u32)units;
}

__attribute__((export_name("ids"))) u32 idsAt(void) { return (u32)out; }

static u32 segChars, segBytes;

// The ids of the segment units[0, n) at `ids`'s offset; returns their number. With nfc, -1 (nothing encoded) when a
// unit may change under NFC (bytebpe.ts normalises the segment then, and encodes it without nfc). Its code points and
// UTF-8 bytes (a lone surrogate as 3, as Buffer.byteLength counts it) are counted on the way: `size`.
__attribute__((export_name("encode"))) i32 encode(i32 n, i32 nfc) {
  u32 bytes8 = 0, pairs = 0;
  for (i32 i = 0; i < n; i++) {
    const u32 c = units[i];
    if (nfc && (nfcUnsafe[c >> 3] & (1 << (c & 7)))) return -1;
    bytes8 += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && units[i + 1] >= 0xdc00 && units[i + 1] < 0xe000) {
      pairs++;
      bytes8++;
      i++;
    }
  }
  segChars = n - pairs;
  segBytes = bytes8;
  i32 at = 0;
  for (i32 i = 0; i < n;) {
    const i32 e = pieceEnd(units, i, n);
    at = pieceInto(units, i, e, at);
    i = e;
  }
  return at;
}

// The last encoded segment's code points (which 0) or UTF-8 bytes (1); the last image's bytes (2, imageSave).
__attribute__((export_name("size"))) u32 size(i32 which) {
  return which == 0 ? segChars : which == 1 ? segBytes : imageLen;
}

// The pre-tokenizer alone (for the tests): the end of each piece of units[0, n) at `ids`'s offset; returns their
// number.
__attribute__((export_name("pieces"))) i32 pieces(i32 n) {
  i32 k = 0;
  for (i32 i = 0; i < n; i = out[k++] = pieceEnd(units, i, n))
    ;
  return k;
}
