/**
 * Text normalisation and shingle hashing shared by the dedup methods. Everything here is allocation-light:
 * shingle hashes go into a reusable Uint32Array, hashing is inline 32-bit integer arithmetic (Math.imul).
 */
import { isJsSpace } from '../pipeline/document.ts';

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

const SEED = 0x9747b28c;

/** Odd multiplier of the rolling polynomial hash over code units. */
const POLY = 0x01000193;
let ring = new Int32Array(16);

/**
 * Hashes of the character n-grams (UTF-16 code units) of `text`, lowercased with whitespace runs collapsed to
 * one space and trimmed (the same view the ground-truth Jaccard uses). One pass over the lowercased string: no
 * per-shingle strings; the n-gram hash is a rolling polynomial over code units (H ← (H − c_out·Pⁿ⁻¹)·P + c_in, mod
 * 2³²), finalised with fmix32. Returns a view into a reused buffer: copy it to keep it. A text shorter than n
 * yields one shingle (the whole text) unless it is empty or `shortWhole` is false.
 */
export function charShingles(text: string, n: number, lowercase = true, shortWhole = true): Uint32Array {
  const t = lowercase ? text.toLowerCase() : text;
  const L0 = t.length;
  const out = ensure(L0 + 1);
  if (ring.length < n) ring = new Int32Array(n);
  const r = ring;
  let pn1 = 1; // P^(n-1)
  for (let i = 1; i < n; i++) pn1 = Math.imul(pn1, POLY);
  const seed = Math.imul(SEED ^ n, 0x9e3779b1);
  let h = 0;
  let len = 0; // code units emitted
  let count = 0;
  let pendingSpace = false;
  let pos = 0; // ring position of the oldest unit
  for (let i = 0; i < L0; i++) {
    const c = t.charCodeAt(i);
    if (isJsSpace(c)) {
      if (len > 0) pendingSpace = true;
      continue;
    }
    // emit a collapsed space before this unit, then the unit itself
    for (let k = pendingSpace ? 0 : 1; k < 2; k++) {
      const u = k === 0 ? 32 : c;
      if (len >= n) {
        h = (Math.imul(h - Math.imul(r[pos]!, pn1), POLY) + u) | 0;
        r[pos] = u;
        pos = pos + 1 === n ? 0 : pos + 1;
      } else {
        h = (Math.imul(h, POLY) + u) | 0;
        r[len] = u;
      }
      len++;
      if (len >= n) out[count++] = fmix32(h ^ seed);
    }
    pendingSpace = false;
  }
  if (len === 0) return out.subarray(0, 0);
  if (len < n && shortWhole) out[count++] = fmix32(h ^ Math.imul(SEED ^ len, 0x9e3779b1));
  return out.subarray(0, count);
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

/** Exact Jaccard similarity of two sets given as sorted unique Uint32Arrays. */
export function jaccardSorted(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      inter++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 1 : inter / union;
}

/** Sorted unique copy. */
export function uniqueSorted(a: Uint32Array): Uint32Array {
  const s = Uint32Array.from(a).sort();
  let k = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[k - 1]) s[k++] = s[i]!;
  return s.slice(0, k);
}
