// jieba segmentation kernel for filters/jieba.ts, compiled to WebAssembly by filters/jieba-kernel.sh (the .wasm is
// committed: a user's machine needs no compiler). It is jieba.ts's segmentation step for step over the text's UTF-16
// code units: the runs of "Han" characters (jieba-rs is_han_default), the route from the end of a run backwards down
// the dictionary trie (jieba.ts buildDict's layout: open-addressing children tables of 2 Int32 per slot), the words
// of the route with single ASCII letters/digits joined, and one token per character elsewhere (\r\n together). The
// scores are added and compared in double as jieba.ts did (no fused multiply-add: built with -ffp-contract=off).
// The trie, the text and the buffers live in this module's memory, laid out by jieba.ts, which passes their offsets.
// hash64 checks the trie that jieba.ts reads back from its cache file straight into this memory.

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
#include "xxh64.h"

// jieba-rs is_han_default: CJK Unified Ideographs (and extensions), ASCII letters and digits, + # & . _ % -
static inline i32 isHanDefault(u32 c) {
  if (c < 0x80)
    return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c == 43 || c == 35 || c == 38 || c == 46 ||
           c == 95 || c == 37 || c == 45;
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0xf900 && c <= 0xfaff) ||
         (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2ebef) || (c >= 0x2f800 && c <= 0x2fa1f);
}

static inline i32 isAsciiAlnum(u32 c) { return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122); }

// the code point at i of t[0, L) (a lone surrogate as itself)
static inline u32 cpAt(const u16 *t, i32 i, i32 L) {
  const u32 c = t[i];
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < L) {
    const u32 d = t[i + 1];
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

// the home slot of code unit c in a children table of 2^lg slots (jieba.ts home)
static inline u32 home(u32 c, u32 lg) { return lg == 0 ? 0 : (c * 0x9e3779b1u) >> (32 - lg); }

// The tokens of t[0, L) as spans [os[k], oe[k]); a token of another character whose first code unit u has drop[u] set
// is left out (drop 0: none). rs, re: L + 1 doubles and ints of route. rec, rootRec, scores, single: the trie
// (jieba.ts Dict). Returns 2 · (the token count) + 1 when the text holds a lone surrogate (its token's first unit is
// taken as U+FFFD), else + 0.
__attribute__((export_name("segment"))) i32 segment(const u16 *t, i32 L, const u8 *drop, double *rs, i32 *re, i32 *os,
                                                    i32 *oe, const i32 *rec, const i32 *rootRec,
                                                    const double *scores, double single) {
  i32 n = 0, lone = 0, i = 0;
  while (i < L) {
    const u32 c0 = cpAt(t, i, L);
    if (!isHanDefault(c0)) {
      // a run of other characters: one token per character (\r\n together)
      i32 w = c0 > 0xffff ? 2 : 1;
      u32 first = t[i];
      if (c0 == 13 && i + 1 < L && t[i + 1] == 10)
        w = 2;
      else if (c0 >= 0xd800 && c0 <= 0xdfff) {
        first = 0xfffd;
        lone = 1;
      }
      if (!drop || !drop[first]) {
        os[n] = i;
        oe[n++] = i + w;
      }
      i += w;
      continue;
    }
    // a Han run [bs, be)
    const i32 bs = i;
    i32 be = i + (c0 > 0xffff ? 2 : 1);
    while (be < L) {
      const u32 c = cpAt(t, be, L);
      if (!isHanDefault(c)) break;
      be += c > 0xffff ? 2 : 1;
    }
    // route from the end backwards over character starts
    rs[be] = 0;
    re[be] = 0;
    i32 next = be; // start of the character after the current one
    for (i32 x = be - 1; x >= bs; x--) {
      const u32 cu = t[x];
      if (cu >= 0xdc00 && cu <= 0xdfff && x > bs) {
        const u32 hi = t[x - 1];
        if (hi >= 0xd800 && hi <= 0xdbff) continue; // the low half of a pair: not a character start
      }
      double best = 0;
      i32 bestEnd = -1;
      // down the trie from the root's child cu: the words starting at x, ending at j
      i32 w0 = rootRec[2 * cu], w1 = rootRec[2 * cu + 1];
      i32 j = x + 1;
      for (;;) {
        const u32 si = ((u32)w0 >> 16) & 0x7fff;
        if (si != 0) {
          const double v = scores[si] + rs[j];
          if (bestEnd < 0 || v >= best) {
            best = v;
            bestEnd = j;
          }
        }
        const u32 lg1 = (u32)w1 >> 27;
        if (lg1 == 0 || j >= be) break;
        const u32 c = t[j];
        // c in the node's children table (first slot, 2^lg slots)
        const i32 first = w1 & 0x7ffffff;
        const u32 lg = lg1 - 1, m = (1u << lg) - 1;
        u32 s = home(c, lg);
        i32 k = rec[2 * (first + s)];
        for (u32 left = m; k != 0 && (u32)(k & 0xffff) != c; left--) {
          if (left == 0) {
            k = 0;
            break;
          }
          s = (s + 1) & m;
          k = rec[2 * (first + s)];
        }
        if (k == 0) break;
        w0 = k;
        w1 = rec[2 * (first + s) + 1];
        j++;
      }
      if (bestEnd < 0) {
        best = single + rs[next];
        bestEnd = next;
      }
      rs[x] = best;
      re[x] = bestEnd;
      next = x;
    }
    // follow the route; single ASCII letters/digits in a row make one word
    i32 x = bs, left = -1;
    while (x < be) {
      const i32 y = re[x];
      if (y == x + 1 && isAsciiAlnum(t[x])) {
        if (left < 0) left = x;
      } else {
        if (left >= 0) {
          os[n] = left;
          oe[n++] = x;
          left = -1;
        }
        os[n] = x;
        oe[n++] = y;
      }
      x = y;
    }
    if (left >= 0) {
      os[n] = left;
      oe[n++] = be;
    }
    i = be;
  }
  return 2 * n + lone;
}

// filters/stats.ts hashWords over the n spans [os[k], oe[k]) of t (segment's tokens, whose units are still here): per
// span two FNV-1a style hashes of its code units (h1 from 0x811c9dc5, h2 from 0x12345678, each (h ^ unit) * 0x01000193
// in 32 bits, as Math.imul), and cum[k + 1] = cum[k] + the span's code points (a valid surrogate pair counts once).
// And what stats.ts lowerHashes (word_repetition's lower-cased words) changes, sparsely: a span with a capital A-Z and
// no unit outside ASCII as a triple (k, its hashes with A-Z as a-z) in low; a span that toLowerCase may change
// otherwise (a unit of U+00C0-024F or U+0370-052F, or a capital A-Z and a unit outside ASCII) by its index in ex,
// hashed by stats.ts; the others lower-case to themselves. counts[0]: the triples, counts[1]: the indices.
// And stats.ts gopherQuality's word sums, from cls (a class per code unit, text.ts wordUnitClass: 1 a letter, 2
// punctuation, a symbol or a space, 4 a surrogate): over the spans with no surrogate, counts[2] the words that are not
// punctuation only (a unit without 2), counts[3] their code points, counts[4] those of them with a letter; the spans
// with a surrogate (an astral character) by their indices in qx, counts[5] of them, for stats.ts to classify.
// And the spans whose first unit is an ASCII letter (the candidates of stats.ts flaggedRatio's Latin words) by their
// indices in asc, counts[6] of them. And with stop (a flag per code unit, or 0: none), counts[7] the spans of one code
// unit u with stop[u] set (stats.ts stopwordCount for a list of one-unit words).
__attribute__((export_name("hashSpans"))) void hashSpans(const u16 *t, i32 n, const i32 *os, const i32 *oe, i32 *h1,
                                                        i32 *h2, i32 *cum, i32 *low, i32 *ex, const u8 *cls, i32 *qx,
                                                        i32 *asc, const u8 *stop, i32 *counts) {
  i32 acc = 0, nlow = 0, nex = 0, qWords = 0, qLen = 0, qAlpha = 0, nqx = 0, nasc = 0, nstop = 0;
  cum[0] = 0;
  for (i32 k = 0; k < n; k++) {
    const i32 s = os[k], e = oe[k];
    u32 a = 0x811c9dc5u, b = 0x12345678u, f = 0, any = 0, all = 2;
    i32 len = e - s;
    if ((t[s] | 32u) - 97u < 26u)
      asc[nasc++] = k;
    if (len == 1 && stop)
      nstop += stop[t[s]];
    for (i32 j = s; j < e; j++) {
      const u32 c = t[j];
      a = (a ^ c) * 0x01000193u;
      b = (b ^ c) * 0x01000193u;
      // 1: a capital A-Z; 2: a unit of the two ranges; 4: a unit outside ASCII (lowerHashes' flags)
      f |= (c - 65u < 26u) | (c < 0x80 ? 0 : (c - 0xc0u < 0x190u || c - 0x370u < 0x1c0u) ? 6 : 4);
      // (a CJK Unified Ideograph is a letter: jieba.ts checks that of cls, and the table stays out of the cache)
      const u32 q = c - 0x4e00u < 0x5200u ? 1 : cls[c];
      any |= q;
      all &= q;
      if (c >= 0xd800 && c <= 0xdbff && j + 1 < e) {
        const u32 d = t[j + 1];
        if (d >= 0xdc00 && d <= 0xdfff) len--;
      }
    }
    h1[k] = (i32)a;
    h2[k] = (i32)b;
    if (f == 1) {
      // the hashes with A-Z as a-z, for the few words that have a capital and no unit outside ASCII
      u32 la = 0x811c9dc5u, lb = 0x12345678u;
      for (i32 j = s; j < e; j++) {
        const u32 c = t[j];
        const u32 l = c + ((c - 65u < 26u) << 5);
        la = (la ^ l) * 0x01000193u;
        lb = (lb ^ l) * 0x01000193u;
      }
      low[3 * nlow] = k;
      low[3 * nlow + 1] = (i32)la;
      low[3 * nlow + 2] = (i32)lb;
      nlow++;
    } else if (f & 3)
      ex[nex++] = k;
    if (any & 4)
      qx[nqx++] = k;
    else if (!all) {
      qWords++;
      qLen += len;
      qAlpha += any & 1;
    }
    acc += len;
    cum[k + 1] = acc;
  }
  counts[0] = nlow;
  counts[1] = nex;
  counts[2] = qWords;
  counts[3] = qLen;
  counts[4] = qAlpha;
  counts[5] = nqx;
  counts[6] = nasc;
  counts[7] = nstop;
}

// The check of the trie read back from its cache file (filters/xxh64.h).
__attribute__((export_name("hash64"))) u64 hash64(const u8 *p, u32 n) { return xxh64(p, n); }
