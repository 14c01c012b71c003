/**
 * Qwen's pre-tokenizer as a scanner over UTF-16 code units: `pieceEnd(text, i)` is where the piece that starts at i
 * ends, exactly where tokenizer/bpe.ts `PRETOKENIZE_RE` (the regex in JavaScript syntax) ends its match there
 * (tested on real text and random strings in tokenizer/pretokenize.test.ts). It makes no strings, so the encoder
 * looks pieces up by their text range (tokenizer/bytebpe.ts).
 *
 * The regex, alternatives tried in order at each position (the leftmost match always starts at the position: every
 * code point begins one of them):
 *   1. '(?:s|t|re|ve|m|ll|d)  (ASCII letters, either case)
 *   2. [^\r\n\p{L}\p{N}]?\p{L}+   3. \p{N}   4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
 *   5. \s*[\r\n]+   6. \s+(?!\S)   7. \s+          (\s: Unicode White_Space, as the Rust engine's)
 */

/** Code point classes: other, letter (\p{L}), number (\p{N}), white space other than \r \n, \r or \n. */
const O = 0,
  L = 1,
  N = 2,
  WS = 3,
  NL = 4;

const WS_CHARS =
  '\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function classify(cp: number): number {
  const s = String.fromCodePoint(cp);
  if (/\p{L}/u.test(s)) return L;
  if (/\p{N}/u.test(s)) return N;
  return O;
}

/** Class of every BMP code unit (surrogates: O; a pair is classed by its code point, see cls). */
const BMP = (() => {
  const t = new Uint8Array(0x10000);
  // one pass of each property's regex over all BMP characters (surrogates left out), made as one string from their
  // UTF-16 units (65,536 one-character strings joined cost ~0.06 CPU-s per process)
  const units = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) units[c] = c >= 0xd800 && c < 0xe000 ? 0x20 : c;
  const all = new TextDecoder('utf-16le').decode(units);
  for (const [re, k] of [
    [/\p{L}+/gu, L],
    [/\p{N}+/gu, N],
  ] as const)
    for (const m of all.matchAll(re)) t.fill(k, m.index, m.index + m[0].length);
  for (let c = 0xd800; c < 0xe000; c++) t[c] = O;
  for (const ch of WS_CHARS) t[ch.charCodeAt(0)] = WS;
  t[10] = t[13] = NL;
  return t;
})();

const astral = new Map<number, number>();

/** The class of every BMP code unit (0 other, 1 letter, 2 number, 3 white space, 4 \r \n): the table the encoder's
 * kernel (tokenizer/bpe-kernel.c) scans with. */
export const BMP_CLASSES: Uint8Array = BMP;

/** Class of an astral code point (0 other, 1 letter, 2 number), cached: what the kernel asks for. */
export function astralClass(cp: number): number {
  let k = astral.get(cp);
  if (k === undefined) astral.set(cp, (k = classify(cp)));
  return k;
}

/** Class of the code point at i (a surrogate pair as one astral code point; a lone surrogate is O). */
function clsAt(s: string, i: number, n: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c >= 0xdc00 || i + 1 >= n) return BMP[c];
  const d = s.charCodeAt(i + 1);
  if (d < 0xdc00 || d >= 0xe000) return O;
  return astralClass(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
}

/** Width (1 or 2 code units) of the code point at i. */
function widthAt(s: string, i: number, n: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c >= 0xdc00 || i + 1 >= n) return 1;
  const d = s.charCodeAt(i + 1);
  return d >= 0xdc00 && d < 0xe000 ? 2 : 1;
}

/** End of the run of class-k code points from i. */
function runEnd(s: string, i: number, n: number, k: number): number {
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c >= 0xe000) {
      if (BMP[c] !== k) return i;
      i++;
    } else {
      if (clsAt(s, i, n) !== k) return i;
      i += widthAt(s, i, n);
    }
  }
  return n;
}

/**
 * By the lower-cased letter after an apostrophe: 2 for a two-character contraction ('s 't 'm 'd), the lower-cased
 * third character for a three-character one ('re 've 'll), else 0.
 */
const CONTRACTION = (() => {
  const t = new Uint8Array(0x80);
  for (const ch of 'stmd') t[ch.charCodeAt(0)] = 2;
  t[0x72] = t[0x76] = 0x65; // r v -> e
  t[0x6c] = 0x6c; // l -> l
  return t;
})();

/** End of the piece of `s` (length n) that starts at i < n. */
export function pieceEnd(s: string, i: number, n: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x27 && i + 1 < n) {
    // 1. contractions, through a table (no comparison that only some letters reach: V8 threw pieceEnd's optimised
    // code away at each such comparison first reached after it was compiled)
    const a = s.charCodeAt(i + 1) | 0x20;
    const m = a < 0x80 ? CONTRACTION[a]! : 0;
    if (m === 2) return i + 2; // s t m d
    const b = i + 2 < n ? s.charCodeAt(i + 2) | 0x20 : 1;
    if (b === m) return i + 3; // re ve ll
  }
  const k = clsAt(s, i, n);
  const w = widthAt(s, i, n);
  if (k === L) return runEnd(s, i + w, n, L); // 2. letters
  if ((k === O || k === WS) && i + w < n && clsAt(s, i + w, n) === L) return runEnd(s, i + w, n, L); // 2. one more before
  if (k === N) return i + w; // 3.
  // 4. ' '? other+ [\r\n]*
  let o = -1;
  if (k === O) o = i;
  else if (c === 0x20 && i + 1 < n && clsAt(s, i + 1, n) === O) o = i + 1;
  if (o >= 0) {
    let e = runEnd(s, o, n, O);
    while (e < n && BMP[s.charCodeAt(e)] === NL) e++;
    return e;
  }
  // white space (all of it in the BMP): the run i..j
  let j = i + 1;
  let lastNl = k === NL ? i : -1;
  while (j < n) {
    const x = BMP[s.charCodeAt(j)];
    if (x === NL) lastNl = j;
    else if (x !== WS) break;
    j++;
  }
  if (lastNl >= 0) return lastNl + 1; // 5. up to the last \r or \n of the run
  if (j === n || j - i < 2) return j; // 6. (to the end) or 7. (one character before a non-space)
  return j - 1; // 6. all but the last, which goes with what follows
}
