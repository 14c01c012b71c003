/**
 * Shared text primitives for filters: a code-point category table, code-point buffers, line splitting that matches
 * Python's str.splitlines(), word tokenisation (whitespace or jieba, filters/jieba.ts) with a one-document cache, and a reusable
 * open-addressing counter for hashed n-grams (no per-document allocation in hot loops).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isJsSpace, textLength } from '../pipeline/document.ts';
import { jiebaSpans, wellFormed } from './jieba.ts';

/**
 * V8 compiles typed-array reads without a detach check while no ArrayBuffer of the process has ever been detached (its
 * ArrayBufferDetaching protector); the first detach (a WebAssembly memory growing: fastText's model load, after the
 * filters' priming) throws away every optimised function that relied on it — sentenceBreaks, codePoints, the class
 * scans, all compiled during the priming — and TurboFan compiles them again. Detaching one empty buffer here, before
 * the first filter module primes anything, spends that event while there is no optimised code to lose (the code
 * compiled later has the checks either way). This is the lowest filters module that runs code at load.
 */
export function spendDetachProtector(): void {
  const b = new ArrayBuffer(0);
  structuredClone(b, { transfer: [b] });
}
spendDetachProtector();

// ---------- character categories ----------
export const C_LETTER = 1; // \p{L}
export const C_NUMBER = 2; // \p{N}
export const C_HAN = 4; // \p{Script=Han}
export const C_PUNCT = 8; // \p{P}
export const C_SYMBOL = 16; // \p{S}
export const C_SPACE = 32; // whitespace (\s or \p{Z})
export const C_OTHER = 64; // \p{C} that is not whitespace (controls, format, private use, unassigned, surrogates)
export const C_DJ_SPECIAL = 128; // member of data-juicer's SPECIAL_CHARACTERS (single code points)

const RE_L = /\p{L}/u,
  RE_N = /\p{N}/u,
  RE_HAN = /\p{Script=Han}/u,
  RE_P = /\p{P}/u,
  RE_S = /\p{S}/u;
const RE_SPACE = /[\s\p{Z}]/u,
  RE_C = /\p{C}/u,
  RE_M = /\p{M}/u;

/**
 * data-juicer's SPECIAL_CHARACTERS (string.punctuation + digits + whitespace + its "other" list, which holds invisible
 * characters such as U+00AD, U+0081-009D, U+2002-200B, U+202F, U+FEFF, + the single code points of emoji 2.2.0's
 * EMOJI_DATA), generated from data-juicer's source by filters/dj-parity/gen_tables.py. Note that the "other" list
 * contains the Han characters 一, 上 and 士 and full-width CJK punctuation: that is the documented behaviour the Steel
 * recipe reproduces; zh-web uses the category-based definition instead.
 */
export const DJ_SPECIAL_SET: ReadonlySet<number> = new Set(
  (createRequire(import.meta.url)('./dj-tables.json') as { specialCharacters: number[] }).specialCharacters,
);

/** Punctuation that ordinary prose uses (CJK and ASCII); not "special" in the category-based definition. */
const PROSE_PUNCT = new Set(
  [...'，。、；：？！“”‘’（）《》〈〉【】「」『』—…·～,.;:?!\'"()-–〔〕﹏・'].map((c) => c.codePointAt(0)!),
);

function classify(cp: number): number {
  const ch = String.fromCodePoint(cp);
  let f = 0;
  if (RE_L.test(ch)) f |= C_LETTER;
  if (RE_N.test(ch)) f |= C_NUMBER;
  if (RE_HAN.test(ch)) f |= C_HAN;
  if (RE_P.test(ch)) f |= C_PUNCT;
  if (RE_S.test(ch)) f |= C_SYMBOL;
  if (RE_SPACE.test(ch) || cp === 0x1c || cp === 0x1d || cp === 0x1e || cp === 0x1f || cp === 0x85) f |= C_SPACE;
  else if (RE_C.test(ch)) f |= C_OTHER;
  if (RE_M.test(ch)) f |= 0; // marks: no flag (neither alnum nor special)
  if (DJ_SPECIAL_SET.has(cp)) f |= C_DJ_SPECIAL;
  return f;
}

const astralCache = new Map<number, number>();

export function charFlags(cp: number): number {
  if (cp < 0x10000) return BMP[cp];
  let f = astralCache.get(cp);
  if (f === undefined) {
    f = classify(cp);
    astralCache.set(cp, f);
  }
  return f;
}

/** Python str.isalnum() for one code point (Unicode-aware: Han characters are letters). */
export function isAlnum(cp: number): boolean {
  return (charFlags(cp) & (C_LETTER | C_NUMBER)) !== 0;
}
export function isHan(cp: number): boolean {
  return (charFlags(cp) & C_HAN) !== 0;
}
/** Category-based special character: symbols, controls/format/private-use, and punctuation outside ordinary prose punctuation. Never Han, letters, digits or whitespace. */
export function isSpecialCategory(cp: number): boolean {
  const f = charFlags(cp);
  if (f & (C_LETTER | C_NUMBER | C_SPACE)) return false;
  if (f & (C_SYMBOL | C_OTHER)) return true;
  if (f & C_PUNCT) return !PROSE_PUNCT.has(cp);
  return cp === 0xfffd;
}
export function isDjSpecial(cp: number): boolean {
  return (charFlags(cp) & C_DJ_SPECIAL) !== 0;
}

// ---------- code points ----------
/**
 * Per BMP code unit, what the character statistics count (read by the decode of codePoints, so that one pass over a
 * document yields its code points and these counts): CP_ALNUM isAlnum, CP_SPECIAL isSpecialCategory, CP_DJ_SPECIAL
 * isDjSpecial, CP_SPACE isJsSpace. Surrogates (lone ones: a pair is decoded first) are special and nothing else.
 */
const CP_ALNUM = 1,
  CP_SPECIAL = 2,
  CP_DJ_SPECIAL = 4,
  CP_SPACE = 8;
/** CP_BITS of code point cp, whose category flags (charFlags) are f. */
function countBitsOf(cp: number, f: number): number {
  let special: boolean;
  if (f & (C_LETTER | C_NUMBER | C_SPACE)) special = false;
  else if (f & (C_SYMBOL | C_OTHER)) special = true;
  else if (f & C_PUNCT) special = !PROSE_PUNCT.has(cp);
  else special = cp === 0xfffd;
  return (
    (f & (C_LETTER | C_NUMBER) ? CP_ALNUM : 0) |
    (special ? CP_SPECIAL : 0) |
    (f & C_DJ_SPECIAL ? CP_DJ_SPECIAL : 0) |
    (cp < 0x10000 && isJsSpace(cp) ? CP_SPACE : 0)
  );
}
const countBits = (cp: number) => countBitsOf(cp, charFlags(cp));

/**
 * The BMP's category flags (charFlags) and count bits (CP_BITS) by their definitions above: ~65k code points through
 * eight regular expressions (~20 ms), what filters/gen-char-tables.ts writes to filters/char-tables.bin. With them, two
 * tables made from the flags: wordUnitClass of every code unit (filters/stats.ts hashWords) and the sentence scan's
 * class of every code unit (filters/stats.ts scanSentences, SENT_OTHER). Made here, a process reads them with the
 * others: each was a loop over 65,536 units that V8 compiled on-stack once per process, only to build the table.
 */
export function bmpTablesByDefinition(): BmpTables {
  const flags = new Uint8Array(0x10000),
    bits = new Uint8Array(0x10000),
    words = new Uint8Array(0x10000),
    sentences = new Uint8Array(0x10000);
  for (let cp = 0; cp < 0x10000; cp++) {
    const f = cp >= 0xd800 && cp <= 0xdfff ? C_OTHER : classify(cp);
    flags[cp] = f;
    bits[cp] = countBitsOf(cp, f);
    words[cp] = wordUnitClassOf(cp, f);
    sentences[cp] = sentenceClassOf(cp, f);
  }
  return { flags, bits, words, sentences };
}
interface BmpTables {
  flags: Uint8Array;
  bits: Uint8Array;
  /** wordUnitClass per code unit */
  words: Uint8Array;
  /** the sentence scan's class per code unit (SENTENCE_CLASS_OTHER for the units with their own branch) */
  sentences: Uint8Array;
}
/** wordUnitClass of BMP code unit c, whose category flags are f. */
function wordUnitClassOf(c: number, f: number): number {
  // (one test that every unit runs: a range test's second half, first run at the first surrogate after the loop over
  // 0..0xffff was compiled, threw that code away)
  if ((c & 0xf800) === 0xd800) return 4;
  return ((f & C_LETTER) !== 0 ? 1 : 0) | ((f & (C_PUNCT | C_SYMBOL)) !== 0 || isJsSpace(c) ? 2 : 0);
}
/**
 * filters/stats.ts scanSentences' class of a UTF-16 code unit: 1 a character that counts (not JavaScript whitespace),
 * 3 a Han character (counts too), 0 whitespace, SENTENCE_CLASS_OTHER for the units that need their own branch: "\n",
 * "\r", 。！？ and a high surrogate.
 */
export const SENTENCE_CLASS_OTHER = 4;
function sentenceClassOf(c: number, f: number): number {
  if (c === 10 || c === 13 || c === 0x3002 || c === 0xff01 || c === 0xff1f || (c >= 0xd800 && c < 0xdc00))
    return SENTENCE_CLASS_OTHER;
  return ((f & C_SPACE) === 0 || !isJsSpace(c) ? 1 : 0) | (f & C_HAN ? 2 : 0);
}

/**
 * filters/char-tables.bin (written by filters/gen-char-tables.ts): the four BMP tables as bmpTablesByDefinition makes
 * them, computed once and read here with one file read. The regular expressions' classes are the Unicode version of
 * the running Node's ICU: the file holds the version it was made with and is used only under that version (elsewhere
 * the tables are computed, as when the file is missing). Layout: magic "steel-char-table", the Unicode version (16
 * bytes, NUL-padded), the flags, the count bits, the word unit classes, the sentence classes (65,536 bytes each).
 */
export const CHAR_TABLES_MAGIC = 'steel-char-table';
export const CHAR_TABLES_URL = new URL('./char-tables.bin', import.meta.url);
function bmpTables(): BmpTables {
  let b: Buffer;
  try {
    b = readFileSync(CHAR_TABLES_URL);
  } catch {
    return bmpTablesByDefinition(); // (before filters/gen-char-tables.ts has made it)
  }
  if (
    b.length === 32 + 4 * 0x10000 &&
    b.toString('latin1', 0, 16) === CHAR_TABLES_MAGIC &&
    b.toString('latin1', 16, 32).replace(/\0+$/, '') === process.versions.unicode
  ) {
    const at = (k: number) => new Uint8Array(b.buffer, b.byteOffset + 32 + k * 0x10000, 0x10000);
    return { flags: at(0), bits: at(1), words: at(2), sentences: at(3) };
  }
  return bmpTablesByDefinition();
}
const { flags: BMP, bits: CP_BITS, words: WORD_UNIT_CLASSES, sentences: SENTENCE_CLASSES } = bmpTables();
/** wordUnitClass of every UTF-16 code unit (filters/stats.ts hashWords reads it per unit). */
export const wordUnitClasses = (): Uint8Array => WORD_UNIT_CLASSES;
/** The sentence scan's class of every UTF-16 code unit (sentenceClassOf). */
export const sentenceClasses = (): Uint8Array => SENTENCE_CLASSES;
// feedback before the first compile: a first astral code point after the compile (classify not yet called where V8
// records it) threw away the code of the functions that inline charFlags. BMP calls first: V8 allocates a function's
// feedback only after its first calls.
for (let cp = 0; cp < 256; cp++) charFlags(cp);
for (const cp of [0x1f600, 0x1f44d, 0x20000, 0x2a6a5, 0x1d400, 0x10400]) charFlags(cp);
/**
 * Bits of the Simplified / Traditional statistic (filters/lid.ts scriptCounts) in the same table, so that it reads the
 * table lines the decode of the same text has just read: CP_HAN_3400 a Han character from U+3400 on, CP_TRAD / CP_SIMP
 * one that only Traditional / only Simplified Chinese has. Set by markScriptChars.
 */
export const CP_HAN_3400 = 16,
  CP_TRAD = 32,
  CP_SIMP = 64;
/** Sets the script bits of CP_BITS from a table of code points (1 Traditional-only, 2 Simplified-only); returns it. */
export function markScriptChars(tab: Uint8Array): Uint8Array {
  // (the flags table itself: a call of isHan per code point would run cold here, the tables being read, not built)
  for (let cp = 0x3400; cp < 0x10000; cp++)
    if (BMP[cp] & C_HAN) CP_BITS[cp] |= CP_HAN_3400 | (tab[cp] === 1 ? CP_TRAD : tab[cp] === 2 ? CP_SIMP : 0);
  return CP_BITS;
}
/** `out[cp] = value` for every Han code point of the BMP from U+3400 on (isHan); returns `out`. */
export function markHan(out: Uint8Array, value: number): Uint8Array {
  for (let cp = 0x3400; cp < 0x10000; cp++) if (BMP[cp] & C_HAN) out[cp] = value;
  return out;
}

/** Counts over the code points of the text codePoints() decoded last (see CP_BITS). */
export interface CpCounts {
  /** code points */
  n: number;
  alnum: number;
  /** special by category (isSpecialCategory) */
  special: number;
  /** data-juicer's special characters (isDjSpecial) */
  djSpecial: number;
  /** JavaScript whitespace (isJsSpace; never an astral character) */
  space: number;
}

let cpBuf = new Int32Array(16);
// one-document cache: the character-level filters of one document decode its text once
let cpText: string | null = null;
let cpN = 0;
const counts: CpCounts = { n: 0, alnum: 0, special: 0, djSpecial: 0, space: 0 };
/** Decode `text` into a shared Int32Array of code points (valid until the next call with another text). Returns the count. */
export function codePoints(text: string): { cps: Int32Array; n: number } {
  if (cpText === text) return { cps: cpBuf, n: cpN };
  if (cpBuf.length < text.length) cpBuf = new Int32Array(Math.max(text.length, cpBuf.length * 2));
  const buf = cpBuf;
  let n = 0,
    alnum = 0,
    special = 0,
    dj = 0,
    space = 0;
  const L = text.length;
  for (let i = 0; i < L; i++) {
    let c = text.charCodeAt(i);
    let f = CP_BITS[c];
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < L) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        f = countBits(c);
        i++;
      }
    }
    buf[n++] = c;
    // counted without a branch (alnum and the others alternate in prose: a branch per character mispredicts)
    alnum += f & CP_ALNUM;
    special += (f >> 1) & 1;
    dj += (f >> 2) & 1;
    space += (f >> 3) & 1;
  }
  cpText = text;
  cpN = n;
  counts.n = n;
  counts.alnum = alnum;
  counts.special = special;
  counts.djSpecial = dj;
  counts.space = space;
  return { cps: buf, n };
}
/** The counts of CP_BITS over the code points of `text` (decoded by codePoints, or its cached decode). Do not mutate. */
export function cpCounts(text: string): Readonly<CpCounts> {
  codePoints(text);
  return counts;
}

/** Length in code points of a whole document text: free when codePoints() has just decoded it. */
export function textCpLength(text: string): number {
  return cpText === text ? cpN : cpLength(text);
}

/** Length in code points (Python len()): the one definition, pipeline/document.ts. */
export const cpLength = textLength;

/** A line break of Python's str.splitlines(): \n \r \v \f \x1c \x1d \x1e \x85 \u2028 \u2029 (\r\n is one break). */
export function isLineBreak(c: number): boolean {
  return c <= 13 ? c >= 10 : c === 0x1c || c === 0x1d || c === 0x1e || c === 0x85 || c === 0x2028 || c === 0x2029;
}

/** Python str.splitlines() (no keepends): \n \r \r\n \v \f \x1c \x1d \x1e \x85 \u2028 \u2029. */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  const L = text.length;
  for (let i = 0; i < L; i++) {
    const c = text.charCodeAt(i);
    if (isLineBreak(c)) {
      out.push(text.slice(start, i));
      if (c === 13 && i + 1 < L && text.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
  }
  if (start < L) out.push(text.slice(start));
  return out;
}

/** splitLines with a one-document cache (line-level filters of one document share it). Do not mutate the result. */
let linesText: string | null = null;
let linesVal: string[] = [];
export function linesOf(text: string): string[] {
  if (linesText !== text) {
    linesVal = splitLines(text);
    linesText = text;
  }
  return linesVal;
}

// ---------- words ----------
export type WordMode = 'whitespace' | 'jieba' | 'auto';

/** Which tokeniser a word-level op uses for a document: `auto` = jieba for Chinese (lang zh*), whitespace otherwise. */
export function resolveWordMode(mode: WordMode, lang: string | undefined): 'whitespace' | 'jieba' {
  if (mode !== 'auto') return mode;
  return lang !== undefined && lang.startsWith('zh') ? 'jieba' : 'whitespace';
}

/**
 * The first value of the growable buffers of the reusable tables below, replaced in their constructors. V8 treats a
 * field stored once as a constant: the optimised code of a module-level instance (stats.ts' counter, partSet, ...) had
 * its buffers built in, and was thrown away with everything inlining it at the first growth ("code dependencies",
 * several filters recompiled in the middle of the map phase). A field stored twice from the start is an ordinary one.
 */
const NO_INTS = new Int32Array(0);

/**
 * The words of a text as spans, not strings: word i is `src.slice(start[i], end[i])`, for i < n. `src` is the text
 * segmented (for jieba, with each lone surrogate read as U+FFFD: same length, same offsets). The word statistics
 * (filters/stats.ts) read the code units of the spans, so a document's words cost no string and no garbage.
 * The buffers are reused: a Words from wordsOf is valid until that cache entry is refilled.
 */
export class Words {
  src = '';
  n = 0;
  start = NO_INTS;
  end = NO_INTS;
  /** Changes whenever the spans are refilled: caches of per-word data key on it. */
  gen = 0;
  /** Per-word hashes and cumulative code-point lengths (filters/stats.ts), valid while hashedGen === gen. */
  h1 = new Int32Array(0);
  h2 = new Int32Array(0);
  cum = new Int32Array(1);
  hashedGen = -1;
  /**
   * What lower-casing changes in the hashes (stats.ts wordRepetition's lowerCase), valid while loweredGen === gen: made
   * with the others by jieba's kernel (jiebaSpanWords): lowered[0, 3 loweredN) the (index, h1, h2) of the words whose
   * A-Z it maps, lowerEx[0, lowerExN) the words that need toLowerCase; the others lower-case to themselves.
   */
  lowered = new Int32Array(0);
  loweredN = 0;
  lowerEx = new Int32Array(0);
  lowerExN = 0;
  loweredGen = -1;
  /**
   * stats.ts gopherQuality's word sums, valid while qualGen === gen: made with the hashes, by stats.ts hashWords or
   * jieba's kernel (jiebaSpanWords), from the units' wordUnitClass. Over the words without a surrogate: qualWords those not punctuation only, qualLen their code
   * points, qualAlpha those of them with a letter; the words with a surrogate, qualEx[0, qualExN), are not counted.
   */
  qualWords = 0;
  qualLen = 0;
  qualAlpha = 0;
  qualEx = new Int32Array(0);
  qualExN = 0;
  qualGen = -1;
  /**
   * The words whose first code unit is an ASCII letter, letterFirst[0, letterFirstN) in order, valid while
   * letterFirstGen === gen: made by jieba's kernel with the hashes (jiebaSpanWords), for stats.ts flaggedRatio (its
   * word list is Latin).
   */
  letterFirst = new Int32Array(0);
  letterFirstN = 0;
  letterFirstGen = -1;
  constructor() {
    this.start = new Int32Array(256);
    this.end = new Int32Array(256);
  }
  /** Word i as a string. */
  word(i: number): string {
    return this.src.slice(this.start[i], this.end[i]);
  }
}
let wordsGen = 0;
/** A new generation number for a refilled Words. */
export const nextWordsGen = (): number => ++wordsGen;
/**
 * V8 sizes a class's objects by its first constructions (in-object slack tracking) and, when it settles that size
 * (about the 7th), throws away the optimised code that allocates one inline (whitespaceSpans' default argument, during
 * the first documents). Constructed here, before anything is compiled, it settles at load.
 */
export function settleSlack(make: () => unknown): void {
  for (let k = 0; k < 8; k++) make();
}
settleSlack(() => new Words());
/**
 * V8 marks a field "const" until an object of its map stores a second, different value in it, and optimised code that
 * read a const field is thrown away when that happens. Words' fields are all rewritten per document, several first by
 * jieba's kernel (jieba.ts) in the first Chinese document, after the statistics that read them were compiled: each
 * field is stored once more here, at load, with another value of its kind.
 */
function settleFields(w: Words): void {
  const o = w as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v === 'number') o[k] = v + 1;
    else if (typeof v === 'string') o[k] = v + ' ';
    else if (v instanceof Int32Array) o[k] = new Int32Array(v.length + 1);
  }
}
settleFields(new Words());

/** Whitespace words (split on any Unicode whitespace, JavaScript's [\s\p{Z}], as isJsSpace), into `w`. */
export function whitespaceSpans(text: string, w: Words = new Words()): Words {
  const L = text.length;
  if (w.start.length < (L + 1) >> 1) {
    const cap = Math.max((L + 1) >> 1, w.start.length * 2);
    w.start = new Int32Array(cap);
    w.end = new Int32Array(cap);
  }
  const os = w.start,
    oe = w.end;
  let n = 0,
    s = -1;
  for (let i = 0; i < L; i++) {
    if (isJsSpace(text.charCodeAt(i))) {
      if (s >= 0) {
        os[n] = s;
        oe[n++] = i;
        s = -1;
      }
    } else if (s < 0) s = i;
  }
  if (s >= 0) {
    os[n] = s;
    oe[n++] = L;
  }
  w.src = text;
  w.n = n;
  w.gen = ++wordsGen;
  return w;
}

/**
 * jieba words: every non-whitespace token of the segmentation (punctuation tokens included, like datatrove); jieba's
 * `cut` without HMM (unknown words split into characters), filters/jieba.ts.
 */
export function jiebaSpanWords(text: string, w: Words = new Words()): Words {
  // jieba emits whitespace runs as their own tokens, so looking at the first character is enough; the kernel hashes
  // the words too (filters/stats.ts reads them), unless the text has a lone surrogate
  const lone = jiebaSpans(text, isSpaceUnit, w, undefined, w, wordUnitClass);
  w.src = lone ? wellFormed(text) : text;
  w.gen = ++wordsGen;
  if (!lone) w.hashedGen = w.loweredGen = w.qualGen = w.letterFirstGen = w.gen;
  return w;
}
const isSpaceUnit = (c: number) => (BMP[c] & C_SPACE) !== 0;
/**
 * A character that a word of only such characters is made of, for gopherQuality (datatrove's PUNCTUATION_SET):
 * punctuation, a symbol or JavaScript whitespace.
 */
export const isPunctChar = (cp: number): boolean => (charFlags(cp) & (C_PUNCT | C_SYMBOL)) !== 0 || isJsSpace(cp);
/**
 * A UTF-16 code unit's class for gopherQuality's word sums in jieba's kernel: 1 a letter (C_LETTER), 2 isPunctChar, 4 a
 * surrogate (its word is classified by code points in JavaScript).
 */
export function wordUnitClass(c: number): number {
  return wordUnitClassOf(c, BMP[c]!);
}

/** Words of a list of strings (words made elsewhere, e.g. data-juicer's stripped words): spans of their concatenation. */
export function wordsFromList(list: readonly string[]): Words {
  const w = new Words();
  if (w.start.length < list.length) {
    w.start = new Int32Array(list.length);
    w.end = new Int32Array(list.length);
  }
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    w.start[i] = at;
    at += list[i].length;
    w.end[i] = at;
  }
  w.src = list.join('');
  w.n = list.length;
  w.gen = ++wordsGen;
  return w;
}

/** The words as strings. */
export function wordStrings(w: Words): string[] {
  const out: string[] = new Array(w.n);
  for (let i = 0; i < w.n; i++) out[i] = w.src.slice(w.start[i], w.end[i]);
  return out;
}

/** jieba words as strings (tests and benchmarks; the filters read spans). */
export function jiebaWords(text: string): string[] {
  return wordStrings(jiebaSpanWords(text));
}

/**
 * Per-document word cache: word-level filters of one document share one segmentation. Keyed by the exact text, so a
 * mapper that changes the text invalidates it. Two texts per mode: a filter that also segments a part of the document
 * leaves the document's own words cached for the filters after it.
 */
interface WordCacheEntry {
  text: string | null;
  words: Words;
}
const entry = (): WordCacheEntry => ({ text: null, words: new Words() });
/** By mode: whitespace, jieba. */
const wordCache: [WordCacheEntry, WordCacheEntry][] = [
  [entry(), entry()],
  [entry(), entry()],
];
export function wordsOf(text: string, mode: 'whitespace' | 'jieba'): Words {
  // (an element by index, the mode told by its length: a load by the mode's name, compiled with one name, was thrown
  // away at the other's first document, "wrong name"; a comparison with 'jieba', compiled for internalised strings,
  // at a mode parsed from a recipe, "not a String")
  const jieba = mode.length === 5;
  const c = wordCache[jieba ? 1 : 0]!;
  // (null tested first: a comparison compiled for strings was thrown away at an entry's first use, "not a String")
  const t0 = c[0].text;
  if (t0 !== null && t0 === text) return c[0].words;
  // the most recently used entry first: a hit on the other one swaps them, a miss replaces the other one
  const e = c[1];
  c[1] = c[0];
  c[0] = e;
  const t1 = e.text;
  if (t1 !== null && t1 === text) return e.words;
  e.text = null;
  if (jieba) jiebaSpanWords(text, e.words);
  else whitespaceSpans(text, e.words);
  e.text = text;
  return e.words;
}
export function docWords(text: string, mode: WordMode, lang: string | undefined): Words {
  return wordsOf(text, resolveWordMode(mode, lang));
}

/** True when the word has at least one letter or digit (i.e. is not pure punctuation/symbols). */
export function hasAlnum(word: string): boolean {
  return spanHasAlnum(word, 0, word.length);
}
/** hasAlnum of s.slice(b, e). */
export function spanHasAlnum(s: string, b: number, e: number): boolean {
  for (let i = b; i < e; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if ((c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122)) return true;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < e) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (charFlags(c) & (C_LETTER | C_NUMBER)) return true;
  }
  return false;
}
/** Python any(c.isalpha() for c in w). */
export function hasAlpha(word: string): boolean {
  return spanHasAlpha(word, 0, word.length);
}
/** hasAlpha of s.slice(b, e). */
export function spanHasAlpha(s: string, b: number, e: number): boolean {
  for (let i = b; i < e; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < e) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (charFlags(c) & C_LETTER) return true;
  }
  return false;
}
/** Length in code points of s.slice(b, e). */
export function spanCpLength(s: string, b: number, e: number): number {
  let k = e - b;
  for (let i = b; i < e - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        k--;
        i++;
      }
    }
  }
  return k;
}

/**
 * A set of spans compared by their code units, without a string per span: `add` keeps spans of the current `src`
 * (a document's lines, paragraphs), `has` looks up a span of any string among them. Open addressing on an FNV-1a hash.
 */
export class SpanSet {
  private hash = NO_INTS;
  private s = NO_INTS;
  private e = NO_INTS;
  private used = NO_INTS;
  private mask = (1 << 4) - 1;
  private size = 0;
  src = '';
  // small at first: the table grows while filters/stats.ts' primeBranches runs, where V8 records it (a first growth
  // after the compile, at a text of more than 512 lines, threw the code of dupSplit away)
  constructor() {
    this.hash = new Int32Array(1 << 4);
    this.s = new Int32Array(1 << 4);
    this.e = new Int32Array(1 << 4);
    this.used = new Int32Array(1 << 3);
  }
  /** Empty the set for spans of `src`, up to `n` of them. */
  reset(src: string, n: number): void {
    const e = this.e;
    for (let i = 0; i < this.size; i++) e[this.used[i]] = 0;
    this.size = 0;
    this.src = src;
    let cap = 1 << 4;
    while (cap < n * 2) cap *= 2;
    if (cap > this.hash.length) {
      this.hash = new Int32Array(cap);
      this.s = new Int32Array(cap);
      this.e = new Int32Array(cap);
    }
    this.mask = cap - 1;
    if (this.used.length < n) this.used = new Int32Array(Math.max(n, this.used.length * 2));
  }
  /** Adds src.slice(b, e) (non-empty); returns true when an equal span was already in the set. */
  add(b: number, e: number): boolean {
    const src = this.src;
    const h = spanHash(src, b, e);
    const len = e - b;
    let slot = h & this.mask;
    for (;;) {
      const se = this.e[slot];
      if (se === 0) {
        this.hash[slot] = h;
        this.s[slot] = b;
        this.e[slot] = e;
        this.used[this.size++] = slot;
        return false;
      }
      if (this.hash[slot] === h && se - this.s[slot] === len && spansEqual(src, this.s[slot], src, b, len)) return true;
      slot = (slot + 1) & this.mask;
    }
  }
  /** Whether str.slice(b, e) is in the set. */
  has(str: string, b: number, e: number): boolean {
    return this.hasHashed(spanFnv(str, b, e), str, b, e);
  }
  /**
   * has(str, b, e) given the span's FNV-1a hash (hashString of str.slice(b, e); stats.ts hashWords' h1, which jieba's
   * kernel makes too).
   */
  hasHashed(fnv: number, str: string, b: number, e: number): boolean {
    return this.probe(fnv, str, b, e, false);
  }
  /**
   * Whether str.slice(b, e), an ASCII span, with A-Z as a-z is in the set, given the FNV-1a hash of the lowered units
   * (no string made).
   */
  hasAsciiLowered(fnv: number, str: string, b: number, e: number): boolean {
    return this.probe(fnv, str, b, e, true);
  }
  /** The look-up of hasHashed and hasAsciiLowered: `lowered` compares the span with A-Z read as a-z. */
  private probe(fnv: number, str: string, b: number, e: number, lowered: boolean): boolean {
    const h = (fnv ^ (fnv >>> 15)) | 0;
    const len = e - b;
    let slot = h & this.mask;
    for (;;) {
      const se = this.e[slot];
      if (se === 0) return false;
      if (
        this.hash[slot] === h &&
        se - this.s[slot] === len &&
        (lowered ? lowerEquals(this.src, this.s[slot], str, b, len) : spansEqual(this.src, this.s[slot], str, b, len))
      )
        return true;
      slot = (slot + 1) & this.mask;
    }
  }
  /** A set of fixed strings (spans of their concatenation). */
  static of(entries: Iterable<string>): SpanSet {
    const list = [...new Set(entries)].filter((x) => x.length > 0);
    const set = new SpanSet();
    set.reset(list.join(''), list.length);
    let at = 0;
    for (const x of list) {
      set.add(at, at + x.length);
      at += x.length;
    }
    return set;
  }
}
/** FNV-1a of the code units of s.slice(b, e) (hashString's). */
function spanFnv(s: string, b: number, e: number): number {
  let h = 0x811c9dc5;
  for (let i = b; i < e; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
/** SpanSet's hash of s.slice(b, e): spanFnv mixed. */
function spanHash(s: string, b: number, e: number): number {
  const h = spanFnv(s, b, e);
  return (h ^ (h >>> 15)) | 0;
}
function spansEqual(a: string, ab: number, b: string, bb: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a.charCodeAt(ab + k) !== b.charCodeAt(bb + k)) return false;
  return true;
}
/** spansEqual with b's A-Z read as a-z. */
function lowerEquals(a: string, ab: number, b: string, bb: number, len: number): boolean {
  for (let k = 0; k < len; k++) {
    const c = b.charCodeAt(bb + k);
    if (a.charCodeAt(ab + k) !== (c >= 65 && c <= 90 ? c + 32 : c)) return false;
  }
  return true;
}

// ---------- hashing ----------
/** 32-bit FNV-1a over UTF-16 code units. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Reusable open-addressing table counting 53-bit keys (pairs of 32/21-bit hashes). `reset()` is O(used slots).
 * Counts and `values()` (in first-insertion order) do not depend on the table size.
 * Used for char and word n-gram frequencies without allocating per n-gram.
 */
export class HashCounter {
  // key = (h1, h2 & 0x1fffff), kept as two int arrays (no float arithmetic per add)
  private k1 = NO_INTS;
  private k2 = NO_INTS;
  private counts = NO_INTS;
  private used = NO_INTS;
  size = 0;
  private mask = (1 << 6) - 1;
  // small at first: the table grows while filters/stats.ts' primeBranches runs, where V8 records it (a first growth
  // after the compile threw the code of dupSplit away)
  constructor() {
    this.k1 = new Int32Array(1 << 6);
    this.k2 = new Int32Array(1 << 6);
    this.counts = new Int32Array(1 << 6);
    this.used = new Int32Array(1 << 5);
  }

  /** Prepare for up to `n` distinct keys. */
  reset(n: number): void {
    const counts = this.counts,
      used = this.used;
    for (let i = 0; i < this.size; i++) counts[used[i]] = 0;
    this.size = 0;
    // the table in use is sized for this n (the arrays keep the largest size asked for): a short text after a long
    // one probes a few cache lines, not the whole table
    let cap = 1 << 6;
    while (cap < n * 2) cap *= 2;
    if (cap > this.k1.length) {
      this.k1 = new Int32Array(cap);
      this.k2 = new Int32Array(cap);
      this.counts = new Int32Array(cap);
    }
    this.mask = cap - 1;
    if (this.used.length < n) this.used = new Int32Array(Math.max(n, this.used.length * 2));
  }
  /** Add one occurrence of key (h1: uint32, h2: uint32); returns the new count. */
  add(h1: number, h2: number): number {
    const a = h1 | 0,
      b = h2 & 0x1fffff;
    const counts = this.counts,
      k1 = this.k1,
      k2 = this.k2,
      mask = this.mask;
    let slot = (h1 ^ Math.imul(h2, 0x9e3779b1)) & mask;
    for (;;) {
      const c = counts[slot];
      if (c === 0) {
        k1[slot] = a;
        k2[slot] = b;
        counts[slot] = 1;
        this.used[this.size++] = slot;
        return 1;
      }
      if (k1[slot] === a && k2[slot] === b) return (counts[slot] = c + 1);
      slot = (slot + 1) & mask;
    }
  }
}
