/**
 * Text normalisation and shingle hashing shared by the dedup methods. Everything here is allocation-light:
 * shingle hashes go into a reusable Uint32Array, hashing is inline 32-bit integer arithmetic (Math.imul).
 */
import { instantiate, type KernelMemory } from '../pipeline/wasm.ts';

export interface NormaliseOptions {
  /** Lowercase the text. */
  lowercase: boolean;
  /** Collapse runs of whitespace to one space and trim. */
  whitespace: boolean;
  /** Remove punctuation and symbols (Unicode P* and S*). */
  punctuation: boolean;
  /** Replace every digit with 0. */
  digits: boolean;
}

const PUNCT_RE = /[\p{P}\p{S}]+/gu;
const DIGIT_RE = /\p{Nd}/gu;
const WS_RE = /\s+/gu;

export function normalise(text: string, o: NormaliseOptions): string {
  let t = text;
  if (o.lowercase) t = t.toLowerCase();
  if (o.punctuation) t = t.replace(PUNCT_RE, o.whitespace ? ' ' : '');
  if (o.digits) t = t.replace(DIGIT_RE, '0');
  if (o.whitespace) t = t.replace(WS_RE, ' ').trim();
  return t;
}

/** Murmur3 32-bit finaliser: a bijection on 32-bit integers with good avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Share of CJK characters (Han, Hiragana, Katakana, Hangul) among the first `limit` non-space characters. */
export function cjkShare(text: string, limit = 2000): number {
  let cjk = 0;
  let n = 0;
  for (let i = 0; i < text.length && n < limit; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32) continue;
    n++;
    if (
      (c >= 0x4e00 && c <= 0x9fff) ||
      (c >= 0x3400 && c <= 0x4dbf) ||
      (c >= 0x3040 && c <= 0x30ff) ||
      (c >= 0xac00 && c <= 0xd7af) ||
      (c >= 0xf900 && c <= 0xfaff)
    )
      cjk++;
  }
  return n === 0 ? 0 : cjk / n;
}

const CHAR_LANGS = new Set(['zh', 'ja', 'ko', 'zh-cn', 'zh-tw', 'yue', 'wuu', 'lzh', 'th', 'lo', 'km', 'my']);

/** Character shingles for unsegmented scripts (zh/ja/...), word shingles otherwise; by doc.lang, else CJK share. */
export function shingleMode(lang: string | undefined, text: string): 'char' | 'word' {
  if (lang && lang !== 'und' && lang !== 'unknown') return CHAR_LANGS.has(lang.toLowerCase()) ? 'char' : 'word';
  return cjkShare(text) >= 0.3 ? 'char' : 'word';
}

let buf = new Uint32Array(1 << 16);
function ensure(n: number): Uint32Array {
  if (buf.length < n) buf = new Uint32Array(Math.max(n, buf.length * 2));
  return buf;
}

/** Seed of the shingle hashes (word shingles here; character shingles in dedup/minhash-kernel.c). */
const SEED = 0x9747b28c;

/** The shingling and signing kernel's exports (dedup/minhash-kernel.c, built by minhash-kernel.sh; the .wasm is committed). */
export interface ShingleKernel extends KernelMemory {
  shingles(text: number, length: number, n: number, ring: number, shortWhole: number, out: number): number;
  signChars(hasher: number, text: number, length: number, n: number, ring: number): number;
  signHashes(hasher: number, hashes: number, n: number): void;
  sortUnique(values: number, n: number, tmp: number): number;
}

/** A new instance of the kernel (its module compiled once per process). */
export function shingleKernel(): ShingleKernel {
  return instantiate<ShingleKernel>(new URL('./minhash-kernel.wasm', import.meta.url));
}

/** Bytes of the ring of the last n code units: a power of two of ints (minhash-kernel.c scan). */
export const ringBytes = (n: number) => Math.max(16, 4 * 2 ** Math.ceil(Math.log2(n)));

/** Room for `bytes` at `at` in the kernel's memory (grown by whole pages). */
export function reserveKernel(k: ShingleKernel, at: number, bytes: number): void {
  const mem = k.memory;
  if (at + bytes > mem.buffer.byteLength) mem.grow(Math.ceil((at + bytes - mem.buffer.byteLength) / 65536));
}

let shk: ShingleKernel | undefined;

/**
 * Hashes of the character n-grams (UTF-16 code units) of `text`, lowercased with whitespace runs collapsed to
 * one space and trimmed (the same view the ground-truth Jaccard uses). One pass over the lowercased string in the
 * kernel (dedup/minhash-kernel.c scan): no per-shingle strings; the n-gram hash is a rolling polynomial over code
 * units (H ← (H − c_out·Pⁿ⁻¹)·P + c_in, mod 2³²), finalised with fmix32. Returns a view into the kernel's memory,
 * valid until the next call: copy it to keep it. A text shorter than n yields one shingle (the whole text) unless it
 * is empty or `shortWhole` is false.
 */
export function charShingles(text: string, n: number, lowercase = true, shortWhole = true): Uint32Array {
  const t = lowercase ? text.toLowerCase() : text;
  const k = (shk ??= shingleKernel());
  const ringAt = (k.__heap_base.value + 15) & ~15;
  const textAt = ringAt + ringBytes(n);
  const outAt = (textAt + 2 * t.length + 15) & ~15;
  reserveKernel(k, outAt, 4 * (t.length + 1));
  Buffer.from(k.memory.buffer, textAt, 2 * t.length).write(t, 0, 'utf16le');
  const count = k.shingles(textAt, t.length, n, ringAt, shortWhole ? 1 : 0, outAt);
  return new Uint32Array(k.memory.buffer, outAt, count);
}

/**
 * The distinct values of `sh` in ascending order (radix-sorted in the kernel, minhash-kernel.c sortUnique): a view
 * into the kernel's memory, valid until the next call of this or charShingles. `sh` may be charShingles' view.
 */
export function sortedSet(sh: Uint32Array): Uint32Array {
  const k = (shk ??= shingleKernel());
  const n = sh.length;
  let at = sh.byteOffset;
  if (sh.buffer !== k.memory.buffer) {
    at = (k.__heap_base.value + 15) & ~15;
    reserveKernel(k, at, 8 * n);
    new Uint32Array(k.memory.buffer, at, n).set(sh);
  } else reserveKernel(k, at, 8 * n);
  return new Uint32Array(k.memory.buffer, at, k.sortUnique(at, n, at + 4 * n));
}

let wbuf = new Uint32Array(1 << 14);
const WORD_RE = /[\p{L}\p{N}_]+/gu;

/** Hashes of word n-grams (words = runs of letters/digits, lowercased). Short texts yield one shingle. */
export function wordShingles(text: string, n: number): Uint32Array {
  const t = text.toLowerCase();
  let nw = 0;
  WORD_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = WORD_RE.exec(t)) !== null) {
    if (nw >= wbuf.length) {
      const b = new Uint32Array(wbuf.length * 2);
      b.set(wbuf);
      wbuf = b;
    }
    const s = m[0];
    let h = 0x811c9dc5;
    for (let j = 0; j < s.length; j++) h = Math.imul(h ^ s.charCodeAt(j), 0x01000193);
    wbuf[nw++] = h >>> 0;
  }
  if (nw === 0) return new Uint32Array(0);
  const count = nw >= n ? nw - n + 1 : 1;
  const w = Math.min(n, nw);
  const out = ensure(count);
  for (let i = 0; i < count; i++) {
    let h = SEED ^ (w * 0x9e3779b1);
    for (let j = 0; j < w; j++) {
      h = Math.imul(h ^ wbuf[i + j]!, 0x01000193);
      h = (h << 15) | (h >>> 17);
    }
    out[i] = fmix32(h);
  }
  return out.subarray(0, count);
}

/**
 * Hashes of windows of `n` space-separated tokens (split on ' ' only, empty tokens dropped: simhash-py's
 * tokenisation as Steel ran it). No shingles when there are fewer than n tokens. A view into a reused buffer.
 */
export function spaceShingles(text: string, n: number, lowercase: boolean): Uint32Array {
  const t = lowercase ? text.toLowerCase() : text;
  let nw = 0;
  let h = 0x811c9dc5;
  let inTok = false;
  const push = (x: number) => {
    if (nw >= wbuf.length) {
      const b = new Uint32Array(wbuf.length * 2);
      b.set(wbuf);
      wbuf = b;
    }
    wbuf[nw++] = x;
  };
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 32) {
      if (inTok) push(fmix32(h));
      inTok = false;
      h = 0x811c9dc5;
    } else {
      h = Math.imul(h ^ c, 0x01000193);
      inTok = true;
    }
  }
  if (inTok) push(fmix32(h));
  if (nw < n) return new Uint32Array(0);
  const count = nw - n + 1;
  const out = ensure(count);
  for (let i = 0; i < count; i++) {
    let x = SEED ^ Math.imul(n, 0x85ebca6b);
    for (let j = 0; j < n; j++) {
      x = Math.imul(x ^ wbuf[i + j]!, 0x01000193);
      x = (x << 15) | (x >>> 17);
    }
    out[i] = fmix32(x);
  }
  return out.subarray(0, count);
}

/**
 * Words each set must have for jaccardSorted to cut the merge in two (below, one merge: the cut's binary search and the
 * second merge's bookkeeping cost more than they save).
 */
const SPLIT_WORDS = 256;

/** The first index of sorted `b` whose value is ≥ x (b.length when none). */
function lowerBound(b: Uint32Array, x: number): number {
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (b[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * Exact Jaccard similarity of two sets given as sorted unique Uint32Arrays. With `atLeast`, the merge stops as soon as
 * the Jaccard can no longer reach it and returns a bound below it: with `inter` matches so far and at most min(rest of
 * a, rest of b) to come in each merge, J <= hi / (|a| + |b| - hi) where hi is their sum (the final J is at most that in
 * real numbers, and a correctly rounded division keeps the order, so `jaccardSorted(a, b, t) >= t` answers as the full
 * merge would). Checked every 64 steps.
 *
 * Two merges, interleaved, when both sets have SPLIT_WORDS or more: the values below a[|a| / 2] (a's first half and
 * b's values below it, by binary search) and the rest. A merge's step is a chain (the next load's index depends on the
 * last compare), so one merge runs at the latency of that chain; two independent chains in one loop body run side by
 * side (the verify step's checks of the 75 MB set, 295k merges of ~1,200 steps each: 0.77 -> 0.56 CPU-s in one
 * process; four chains were no faster). The sum of both merges' matches is the intersection: the halves split the
 * values.
 */
export function jaccardSorted(a: Uint32Array, b: Uint32Array, atLeast = 0): number {
  const na = a.length;
  const nb = b.length;
  // merge 1: a[0, ma) with b[0, mb); merge 2: a[ma, na) with b[mb, nb) (empty when not split)
  const ma = na >= SPLIT_WORDS && nb >= SPLIT_WORDS ? na >>> 1 : na;
  const mb = ma < na ? lowerBound(b, a[ma]!) : nb;
  let i = 0;
  let j = 0;
  let p = ma;
  let q = mb;
  let inter = 0;
  // both merges, 64 steps each at a time while each has 64 words left on both sides (no bounds to test in the block)
  while (ma - i >= 64 && mb - j >= 64 && na - p >= 64 && nb - q >= 64) {
    for (let k = 0; k < 64; k++) {
      // branch-free steps: which side advances is a coin toss the branch predictor loses
      const x = a[i]!;
      const y = b[j]!;
      const x2 = a[p]!;
      const y2 = b[q]!;
      inter += +(x === y) + +(x2 === y2);
      i += +(x <= y);
      j += +(y <= x);
      p += +(x2 <= y2);
      q += +(y2 <= x2);
    }
    const hi = inter + Math.min(ma - i, mb - j) + Math.min(na - p, nb - q);
    const bound = hi / (na + nb - hi);
    if (bound < atLeast) return bound;
  }
  // then the rest of each merge alone
  while (i < ma && j < mb) {
    for (let k = 0; k < 64 && i < ma && j < mb; k++) {
      const x = a[i]!;
      const y = b[j]!;
      inter += +(x === y);
      i += +(x <= y);
      j += +(y <= x);
    }
    const hi = inter + Math.min(ma - i, mb - j) + Math.min(na - p, nb - q);
    const bound = hi / (na + nb - hi);
    if (bound < atLeast) return bound;
  }
  while (p < na && q < nb) {
    for (let k = 0; k < 64 && p < na && q < nb; k++) {
      const x = a[p]!;
      const y = b[q]!;
      inter += +(x === y);
      p += +(x <= y);
      q += +(y <= x);
    }
    const hi = inter + Math.min(na - p, nb - q);
    const bound = hi / (na + nb - hi);
    if (bound < atLeast) return bound;
  }
  const union = na + nb - inter;
  return union === 0 ? 1 : inter / union;
}

/** Sorted unique copy. */
export function uniqueSorted(a: Uint32Array): Uint32Array {
  const s = Uint32Array.from(a).sort();
  let k = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[k - 1]) s[k++] = s[i]!;
  return s.slice(0, k);
}
