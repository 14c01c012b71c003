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

export const WS_CHARS =
  '\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function classify(cp: number): number {
  const s = String.fromCodePoint(cp);
  if (/\p{L}/u.test(s)) return L;
  if (/\p{N}/u.test(s)) return N;
  return O;
}

/**
 * The classes of the BMP code units as runs, each its class digit and its length in base 36: \p{L} and \p{N} as V8's
 * regexes (Node 20's Unicode) give them, surrogates other, then WS_CHARS and \r \n. Committed, since deriving it in each
 * process (two regex passes over a string of every BMP character) cost ~0.025 CPU-s; pretokenize.test.ts derives it
 * again and compares.
 */
export const BMP_RUNS =
  '09,31,41,32,41,0i,31,0f,2a,07,1q,06,1q,0a,31,0q,31,09,11,07,22,01,11,03,21,11,01,23,01,1n,01,1v,01,1cq,04,' +
  '1c,0e,15,07,11,01,11,03l,15,01,12,02,14,01,11,06,11,01,13,01,11,01,1k,01,12b,01,13v,08,14m,01,112,02,11,06,' +
  '115,01z,1r,04,14,019,117,0l,2a,04,12,01,12r,01,11,0f,12,07,12,2a,13,02,11,0g,11,01,1u,0t,12h,0b,11,0e,2a,1x,' +
  '09,12,04,11,05,1m,04,11,09,11,03,11,0n,1p,07,1b,05,1o,01,17,0g,116,01m,11i,03,11,0i,11,07,1a,04,2a,01,1g,04,' +
  '18,02,12,02,1m,01,17,01,11,03,14,03,11,0g,11,0d,12,01,13,04,2a,12,02,26,02,11,08,16,04,12,02,1m,01,17,01,12,' +
  '01,12,01,12,0v,14,01,11,07,2a,02,13,0g,19,01,13,01,1m,01,17,01,12,01,15,03,11,0i,11,0f,12,04,2a,09,11,0b,18,' +
  '02,12,02,1m,01,17,01,12,01,15,03,11,0u,12,01,13,04,2a,01,11,26,0b,11,01,16,03,13,01,14,03,12,01,11,01,12,03,' +
  '12,03,13,03,1c,0m,11,0l,2d,0i,18,01,13,01,1n,01,1g,03,11,0q,13,01,12,02,12,04,2a,08,27,01,11,04,18,01,13,01,' +
  '1n,01,1a,01,15,03,11,0u,13,01,12,04,2a,01,12,0h,19,01,13,01,115,02,11,0g,11,05,13,01,27,13,04,2j,01,16,05,' +
  '1i,03,1o,01,19,01,11,02,17,0v,2a,0h,11c,01,12,0c,17,09,2a,013,12,01,11,01,15,01,1o,01,11,01,1a,01,12,09,11,' +
  '02,15,01,11,09,2a,02,14,0w,11,0v,2k,0c,18,01,110,0r,15,037,117,0k,11,2a,06,16,04,14,03,11,03,12,07,13,04,1d,' +
  '0c,11,01,2a,06,112,01,11,05,11,02,117,01,199,01,14,02,17,01,11,01,14,02,115,01,14,02,1x,01,14,02,17,01,11,' +
  '01,14,02,1f,01,11l,01,14,02,11v,0e,2k,03,1g,0g,12e,02,16,03,1h8,02,1h,31,1q,05,123,03,23,18,07,1i,0d,1j,0e,' +
  '1i,0e,1d,01,13,0f,11g,0z,11,04,11,03,2a,06,2a,0m,2a,06,12h,07,15,02,1y,01,11,05,11y,0a,1v,013,2a,1u,02,15,' +
  '0b,118,04,1q,06,2b,011,1n,09,11h,017,2a,06,2a,0d,11,02l,11b,0h,18,03,2a,015,1u,0d,12,2a,118,0q,110,0s,2a,03,' +
  '13,2a,110,02,1b,05,117,02,13,015,14,01,16,01,12,03,11,05,15c,01s,17q,02,16,02,112,02,16,02,18,01,11,01,11,' +
  '01,11,01,1v,02,11h,01,17,01,11,03,13,01,17,03,14,02,16,04,1d,05,13,01,17,03,3b,0t,32,05,31,01b,31,0g,21,11,' +
  '02,26,05,11,2a,06,1d,02t,11,04,11,02,1a,01,11,03,15,06,11,01,11,01,11,01,14,01,1b,02,14,05,15,04,11,01,21f,' +
  '12,25,0k6,21o,026,2m,0hi,2u,0vg,16d,06,14,03,12,09,21,02,112,01,11,05,11,02,11k,07,11,0g,1n,09,17,01,17,01,' +
  '17,01,17,01,17,01,17,01,17,01,17,028,11,0cw,31,04,12,21,0p,29,07,15,02,23,12,04,12e,06,13,01,12i,01,14,05,' +
  '117,01,12m,03,24,0a,1w,01c,1g,0w,2a,0u,28,01,2f,0w,2a,013,2f,08w,1534,01s,1h3h,01v,11a,02,17h,03,1g,2a,12,' +
  '0k,11b,0g,1v,02,11y,2a,013,19,02,12v,02,12a,0k,1h,01,13,01,14,01,1n,0d,26,0a,11g,0e,11e,0s,2a,0o,16,03,11,' +
  '01,12,01,2a,1s,0a,1n,0p,1t,07,11b,0s,11,2a,06,15,01,1a,2a,15,01,115,0n,13,01,18,04,2a,06,1n,03,11,03,11e,01,' +
  '11,03,12,02,15,02,11,01,11,0o,13,02,1b,07,13,0c,16,02,16,02,16,09,17,01,17,01,117,01,1e,06,137,0d,2a,06,' +
  '18mc,0c,1n,04,11d,06is,1a6,02,12y,012,17,0c,15,05,11,01,1a,01,1d,01,15,01,11,01,12,01,12,01,130,0x,1a3,0i,' +
  '11s,02,11i,014,1c,038,15,01,13r,0j,2a,07,1q,06,1q,0b,12h,03,16,02,16,02,16,02,13,0z';

/** Class of every BMP code unit (surrogates: O; a pair is classed by its code point, see cls). */
const BMP = (() => {
  const t = new Uint8Array(0x10000);
  let at = 0;
  for (const r of BMP_RUNS.split(',')) {
    const n = parseInt(r.slice(1), 36);
    t.fill(r.charCodeAt(0) - 48, at, at + n);
    at += n;
  }
  if (at !== 0x10000) throw new Error(`pretokenize: BMP_RUNS covers ${at} code units`);
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

/**
 * End of the piece of `s` (length n) that starts at i < n. The encoder runs this scan in its WebAssembly kernel
 * (tokenizer/bpe-kernel.c); this one is the reference the kernel is tested against (tokenizer/bpe-kernel.test.ts),
 * itself tested against the regex (pretokenize.test.ts).
 */
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
