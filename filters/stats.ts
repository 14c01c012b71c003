/**
 * Pure statistics over a text. Each returns a number; filters compare it with typed thresholds (filters/ops.ts).
 * Lengths are in Unicode code points (Python len()), never UTF-16 units.
 */
import { isJsSpace } from '../pipeline/document.ts';
import {
  codePoints,
  cpCounts,
  cpLength,
  textCpLength,
  linesOf as splitLines,
  isDjSpecial,
  HashCounter,
  hashString,
  spanHasAlnum,
  spanHasAlpha,
  isPunctChar,
  wordUnitClasses,
  sentenceClasses,
  SENTENCE_CLASS_OTHER,
  spanCpLength,
  SpanSet,
  Words,
  whitespaceSpans,
  isLineBreak,
  nextWordsGen,
  charFlags,
  C_LETTER,
  C_HAN,
  C_SPACE,
} from './text.ts';
import { countStopUnits, stopUnitCount, wellFormed } from './jieba.ts';
import { instantiate } from '../pipeline/wasm.ts';

const counter = new HashCounter();

/** data-juicer alphanumeric_filter (char mode): Python isalnum() count / len(text). Unicode-aware: Han are letters. */
export function alnumRatio(text: string): number {
  const c = cpCounts(text);
  return c.n === 0 ? 0 : c.alnum / c.n;
}

/** data-juicer alphanumeric_filter (token mode): alnum chars / number of tokenizer tokens. */
export function alnumTokenRatio(text: string, numTokens: number): number {
  return numTokens === 0 ? 0 : cpCounts(text).alnum / numTokens;
}

/** data-juicer average_line_length_filter: len(text) / len(text.splitlines()). */
export function avgLineLength(text: string): number {
  const lines = splitLines(text);
  return lines.length === 0 ? 0 : textCpLength(text) / lines.length;
}

/** data-juicer maximum_line_length_filter: max(len(line) for line in text.splitlines()). */
export function maxLineLength(text: string): number {
  const L = text.length;
  // most texts: "\n" the only line break and no surrogate (a code unit is a code point): lines from the index of "\n"
  if (onlyNewlines(text) && !SURROGATE.test(text)) {
    const at = nlAt,
      nl = nlN;
    let m = 0;
    for (let k = 0, b = 0; k <= nl; k++) {
      const e = k < nl ? at[k] : L;
      if (e - b > m) m = e - b;
      b = e + 1;
    }
    return m;
  }
  // the longest of the splitLines() lines, in code points, in one scan
  let m = 0,
    k = 0;
  for (let i = 0; i < L; i++) {
    const c = text.charCodeAt(i);
    if (
      c === 10 ||
      c === 13 ||
      c === 11 ||
      c === 12 ||
      c === 0x1c ||
      c === 0x1d ||
      c === 0x1e ||
      c === 0x85 ||
      c === 0x2028 ||
      c === 0x2029
    ) {
      if (k > m) m = k;
      k = 0;
    } else {
      k++;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < L) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
    }
  }
  return k > m ? k : m;
}

export function textLength(text: string): number {
  return codePoints(text).n;
}

/**
 * data-juicer character_repetition_filter: over char n-grams (code points), the share of occurrences taken by the
 * top floor(sqrt(#distinct)) n-grams, limited to those that occur more than once.
 *
 * Only the n-grams that occur more than once need counting (the kernel's repeat bitmap, filters/ngram-kernel.c): the
 * positions left out hold n-grams that occur once (distinct singles), and only the others (the repeated n-grams and
 * the few that share a bit with another) are counted exactly. The kernel (charTop) also takes the top k: a histogram of
 * the counts instead of a sort.
 */
export function charRepetition(text: string, n = 10): number {
  const { cps, n: len } = codePoints(text);
  const total = len - n + 1;
  if (total <= 0) return 0;
  const { k, at } = kernelFor(len, 0);
  new Int32Array(k.memory.buffer, at, len).set(cps.subarray(0, len));
  return k.charTop(len, n) / total;
}
/**
 * The n-gram statistics' WebAssembly kernel (filters/ngram-kernel.c, built by ngram-kernel.sh; the .wasm is
 * committed): the repetition statistics (charTop, wordRep) and the Gopher n-gram sweep (sweep). Its hash values and
 * table keys are those of HashCounter and this file's hashes, so every statistic is the same as computed here before.
 */
export interface NgramKernel {
  memory: { buffer: ArrayBuffer };
  prepare(nW: number, maxN: number): number;
  kindsAt(): number;
  topAt(): number;
  dupAt(): number;
  sweep(nW: number, n0: number, maxN: number, jl: number): void;
  charTop(len: number, n: number): number;
  wordRep(nW: number, n: number): number;
}
let kernel: NgramKernel | undefined;
/**
 * The kernel laid out for nW words (or code points) and n-grams up to maxN words: the offsets of its three input
 * arrays of nW (nW, nW + 1) ints. prepare, sweep, charTop and wordRep may grow the memory (its old buffer is then
 * detached): views of it are made after each call.
 */
function kernelFor(nW: number, maxN: number): { k: NgramKernel; at: number; at2: number; at3: number } {
  const k = (kernel ??= instantiate<NgramKernel>(new URL('./ngram-kernel.wasm', import.meta.url)));
  const at = k.prepare(nW, maxN);
  const stride = ((nW + 1) * 4 + 15) & ~15;
  return { k, at, at2: at + stride, at3: at + 2 * stride };
}

/** Special-character ratio: `datajuicer` = its SPECIAL_CHARACTERS set (contains 一 上 士); `category` = by Unicode category (never Han). */
export function specialCharRatio(text: string, mode: 'datajuicer' | 'category'): number {
  const c = cpCounts(text);
  return c.n === 0 ? 0 : (mode === 'datajuicer' ? c.djSpecial : c.special) / c.n;
}

// ---------- data-juicer word handling ----------
const DJ_SPLIT = /[ \n\t]/;
/** data-juicer get_words_from_document (no tokenizer) + words_refinement(strip_chars=SPECIAL_CHARACTERS). */
export function djWords(text: string, lowerCase: boolean): string[] {
  const parts = text.split(DJ_SPLIT);
  const out: string[] = [];
  for (let w of parts) {
    if (!w) continue;
    if (lowerCase) w = w.toLowerCase();
    // strip special characters at both ends (code points)
    let b = 0,
      e = w.length;
    while (b < e) {
      const c = w.codePointAt(b)!;
      if (!isDjSpecial(c)) break;
      b += c > 0xffff ? 2 : 1;
    }
    while (e > b) {
      let c = w.charCodeAt(e - 1);
      let step = 1;
      if (c >= 0xdc00 && c <= 0xdfff && e - 2 >= b) {
        c = w.codePointAt(e - 2)!;
        step = 2;
      }
      if (!isDjSpecial(c)) break;
      e -= step;
    }
    if (e > b) out.push(b === 0 && e === w.length ? w : w.slice(b, e));
  }
  return out;
}

/** Word n-gram repetition (data-juicer word_repetition_filter): occurrences of n-grams seen more than once / all n-gram occurrences. */
export function wordRepetition(words: Words, n = 10, lowerCase = false): number {
  const total = words.n - n + 1;
  if (total <= 0) return 0;
  prepareWords(words);
  let wh1 = hb1,
    wh2 = hb2;
  if (lowerCase && words.loweredGen === words.gen) {
    // what lower-casing changes came with the words (jieba's kernel): the words' own hashes into the kernel, those
    // changed over them
    const { k, at, at2 } = kernelFor(words.n, 0);
    const k1 = new Int32Array(k.memory.buffer, at, words.n),
      k2 = new Int32Array(k.memory.buffer, at2, words.n);
    k1.set(hb1.subarray(0, words.n));
    k2.set(hb2.subarray(0, words.n));
    const lo = words.lowered;
    for (let q = 0; q < 3 * words.loweredN; q += 3) {
      k1[lo[q]] = lo[q + 1];
      k2[lo[q]] = lo[q + 2];
    }
    for (let q = 0; q < words.lowerExN; q++) lowerWordHash(words, words.lowerEx[q], k1, k2);
    return k.wordRep(words.n, n) / total;
  }
  if (lowerCase) {
    if (wr1.length < words.n) {
      wr1 = new Int32Array(Math.max(words.n, wr1.length * 2));
      wr2 = new Int32Array(wr1.length);
    }
    wh1 = wr1;
    wh2 = wr2;
    lowerHashes(words, wh1, wh2);
  }
  // the occurrences of the n-grams that occur more than once (the kernel counts only those that may repeat)
  const { k, at, at2 } = kernelFor(words.n, 0);
  new Int32Array(k.memory.buffer, at, words.n).set(wh1.subarray(0, words.n));
  new Int32Array(k.memory.buffer, at2, words.n).set(wh2.subarray(0, words.n));
  return k.wordRep(words.n, n) / total;
}
/**
 * The word hashes of `words` as wordRepetition's lowerCase option compares them, into wh1 / wh2 (a function of its
 * own, so that filters/stats.ts' primeBranches runs its branches without loading the n-gram kernel).
 */
function lowerHashes(words: Words, wh1: Int32Array, wh2: Int32Array): void {
  // a word with a code unit that toLowerCase may change (/[A-Z\u00c0-\u024f\u0370-\u052f]/) is hashed lower-cased;
  // an ASCII one without a string (most of them), any other through toLowerCase
  const { src, start, end } = words;
  for (let i = 0; i < words.n; i++) {
    const b = start[i],
      e = end[i];
    // 1: a capital A-Z; 2: a unit of the other two ranges; 4: a unit outside ASCII
    let f = 0;
    for (let j = b; j < e; j++) {
      const c = src.charCodeAt(j);
      if (c >= 0x80) f |= (c >= 0xc0 && c <= 0x24f) || (c >= 0x370 && c <= 0x52f) ? 6 : 4;
      else if (c >= 65 && c <= 90) f |= 1;
    }
    if ((f & 3) === 0) {
      // not lowerable: the word's own hashes
      wh1[i] = hb1[i];
      wh2[i] = hb2[i];
    } else if (f === 1) {
      // ASCII with capitals: toLowerCase maps A-Z to a-z and nothing else, hashed as hashString does
      let h = 0x811c9dc5,
        g = 0x12345678;
      for (let j = b; j < e; j++) {
        const c = src.charCodeAt(j);
        const l = c >= 65 && c <= 90 ? c + 32 : c;
        h = Math.imul(h ^ l, 0x01000193);
        g = Math.imul(g ^ l, 0x01000193);
      }
      wh1[i] = h;
      wh2[i] = g;
    } else lowerWordHash(words, i, wh1, wh2);
  }
}
/** The hashes of word i lower-cased by toLowerCase (as hashString, both seeds), into h1[i], h2[i]. */
function lowerWordHash(w: Words, i: number, h1: Int32Array, h2: Int32Array): void {
  const s = w.word(i).toLowerCase();
  h1[i] = hashString(s);
  h2[i] = hashString(s, 0x12345678);
}
// (the growable buffers of this module start empty or small: their growth then runs at the first calls, in the
// interpreter or in primeBranches, and the optimised code has feedback for it; a first growth after the compile threw
// that code away)
let wr1 = new Int32Array(0),
  wr2 = new Int32Array(0);
// the word hashes of the words last prepared (prepareWords)
let hb1 = new Int32Array(0),
  hb2 = new Int32Array(0);

/** Number of words that contain at least one letter or digit. */
export function countAlnumWords(words: Words): number {
  let k = 0;
  const { src, start, end } = words;
  for (let i = 0; i < words.n; i++) if (spanHasAlnum(src, start[i], end[i])) k++;
  return k;
}

/** Stopword occurrences (count-based, FineWeb-2 / Gopher style). Words are compared lower-cased. */
interface StopIndex {
  one: Uint8Array;
  lens: Uint8Array;
  set: SpanSet;
  /**
   * Per ASCII code unit c: 1 when an entry begins with c or with c lower-cased (no word starting with another ASCII
   * unit, nor its toLowerCase, can be an entry).
   */
  asciiGate: Uint8Array;
  /** Some entry holds a capital A-Z (a set not lower-cased): an ASCII word is then also looked up as it is. */
  hasCap: boolean;
  /**
   * When every entry is one code unit outside ASCII (the zh list): its flags by unit, registered with jieba.ts, whose
   * kernel then counts the words of one flagged unit as it hashes jieba's words; null otherwise.
   */
  units: ((codeUnit: number) => number) | null;
}
const stopIndex = new WeakMap<ReadonlySet<string>, StopIndex>();
/**
 * Single-code-unit entries as a table, the lengths of the others, the others as a set of spans, and the ASCII code
 * units that begin an entry or lower-case to one that does.
 */
function stopIdx(stop: ReadonlySet<string>): StopIndex {
  let x = stopIndex.get(stop);
  if (!x) {
    x = newStopIndex(stop);
    if (x.units !== null) countStopUnits(x.units);
    stopIndex.set(stop, x);
  }
  return x;
}
/**
 * Make `stop`'s index now (a filter step's init, filters/ops.ts): the zh list is then registered with jieba.ts before
 * the first Chinese document, and stopwordCount never meets a list for the first time.
 */
export function stopIndexOf(stop: ReadonlySet<string>): void {
  stopIdx(stop);
}
/** stopIdx's index of `stop`, not registered with jieba.ts. */
function newStopIndex(stop: ReadonlySet<string>): StopIndex {
  const one = new Uint8Array(0x10000),
    lens = new Uint8Array(64),
    asciiGate = new Uint8Array(128);
  let hasCap = false;
  for (const w of stop) {
    if (w.length === 1) one[w.charCodeAt(0)] = 1;
    else lens[Math.min(w.length, 63)] = 1;
    if (/[A-Z]/.test(w)) hasCap = true;
    // an entry starting with f (ASCII) admits words starting with f, and with its capital when f is a-z
    const f = w.length ? w.charCodeAt(0) : 128;
    if (f < 128) asciiGate[f] = 1;
    if (f >= 97 && f <= 122) asciiGate[f - 32] = 1;
  }
  // such a list counts exactly the words of one unit u with one[u] (a word starting with an ASCII unit begins no
  // entry; one starting outside ASCII is looked up as it is, and no entry is longer than one unit)
  const units =
    stop.size > 0 && [...stop].every((w) => w.length === 1 && w.charCodeAt(0) >= 128) ? (c: number) => one[c] : null;
  // (made with its final values: a field stored again after the literal turns V8's "const" field mutable, which
  // throws away the optimised stopwordCount that read it)
  return { one, lens, set: SpanSet.of(stop), asciiGate, hasCap, units };
}
/**
 * Is word i (src[b, e), two units or more) an entry of x as it is: a length some entry has, then the set by the word's
 * hash when the words are hashed (h1), else by the span.
 */
function inStop(x: StopIndex, h1: Int32Array | null, i: number, src: string, b: number, e: number): boolean {
  const L = e - b;
  return x.lens[L < 63 ? L : 63] === 1 && (h1 !== null ? x.set.hasHashed(h1[i], src, b, e) : x.set.has(src, b, e));
}
/**
 * The words that are in `stop`, or whose toLowerCase is. A word of ASCII only is looked up once, by the hash of its
 * units with A-Z read as a-z made as it goes (no string): toLowerCase of ASCII changes A-Z only, and an entry of a
 * lower-cased set has no A-Z (a set that has one is looked up with the word as it is too). A word starting with an
 * ASCII unit that begins no entry (nor lower-cased) is passed over unread.
 */
export function stopwordCount(words: Words, stop: ReadonlySet<string>): number {
  let k = 0;
  const x = stopIdx(stop);
  // a list of one-unit entries, counted by jieba's kernel when it hashed these words
  if (x.units !== null && words.letterFirstGen === words.gen) {
    const c = stopUnitCount(words, x.units);
    if (c >= 0) return c;
  }
  const { one, lens, set, asciiGate, hasCap } = x;
  const { src, start, end } = words;
  // the words' FNV-1a hashes when they are hashed (jieba's kernel hashes its words; gopherQuality, before this in its
  // step, hashes the others)
  const h1 = words.hashedGen === words.gen ? words.h1 : null;
  for (let i = 0; i < words.n; i++) {
    const b = start[i],
      e = end[i],
      L = e - b;
    const c0 = src.charCodeAt(b);
    if (c0 >= 128) {
      // (toLowerCase of a word starting outside ASCII is not looked up)
      if (L === 1 ? one[c0] === 1 : inStop(x, h1, i, src, b, e)) k++;
      continue;
    }
    if (asciiGate[c0] === 0) continue;
    // the hash of the units with A-Z as a-z, up to the first unit outside ASCII
    let h = 0x811c9dc5,
      cap = 0,
      j = b;
    for (; j < e; j++) {
      const c = src.charCodeAt(j);
      if (c >= 128) break;
      const u = c - 65 < 26 && c >= 65 ? 1 : 0;
      cap |= u;
      h = Math.imul(h ^ (c + (u << 5)), 0x01000193);
    }
    if (j === e) {
      // ASCII only: its lower-cased form (itself when cap is 0) in the set, or (a set with capitals) the word itself
      if (L === 1) {
        if (one[c0 + (cap << 5)] === 1 || (cap === 1 && one[c0] === 1)) k++;
      } else if (
        lens[L < 63 ? L : 63] === 1 &&
        (set.hasAsciiLowered(h, src, b, e) || (hasCap && cap === 1 && inStop(x, h1, i, src, b, e)))
      )
        k++;
    } else if (inStop(x, h1, i, src, b, e)) k++;
    else {
      const w = src.slice(b, e);
      const l = w.toLowerCase();
      if (l !== w && stop.has(l)) k++;
    }
  }
  return k;
}

/**
 * Occurrences of literal substrings, counted as a global search for their alternation (/a|b|c/gu) counts them: at each
 * position the first listed entry that occurs there, then on after it (no overlaps); a position with none moves on by
 * one character. A table of code units skips most positions without looking at an entry: while every entry has two
 * units or more, a position i whose next unit is neither an entry's first unit nor an entry's second unit starts no
 * entry, nor does i + 1, so the scan moves on by two (it reads every other unit of text that holds no entry).
 */
export class SubstringCounter {
  /** per code unit: 1 = an entry's first unit, 2 = the second unit of an entry */
  private flags = new Uint8Array(0x10000);
  /** per first unit: 1 + its index in lists */
  private listOf = new Uint16Array(0x10000);
  /** the entries by first unit, in listed order */
  private lists: string[][] = [];
  /** every entry has two units or more */
  private pairs = true;
  constructor(entries: readonly string[]) {
    for (const w of entries) {
      if (!w) continue;
      const c = w.charCodeAt(0);
      if (this.listOf[c] === 0) {
        this.lists.push([]);
        this.listOf[c] = this.lists.length;
      }
      this.lists[this.listOf[c] - 1].push(w);
      this.flags[c] |= 1;
      if (w.length > 1) this.flags[w.charCodeAt(1)] |= 2;
      else this.pairs = false;
    }
  }
  count(text: string): number {
    const flags = this.flags;
    const L = text.length;
    let k = 0;
    if (this.pairs) {
      // the last unit starts no entry
      for (let i = 0; i + 1 < L;) {
        if (flags[text.charCodeAt(i + 1)] === 0) {
          i += 2;
          continue;
        }
        const hit = this.at(text, i);
        if (hit) {
          k++;
          i += hit;
        } else i++;
      }
      return k;
    }
    for (let i = 0; i < L;) {
      const hit = this.at(text, i);
      if (hit) {
        k++;
        i += hit;
      } else i++;
    }
    return k;
  }
  /** The length of the first listed entry at i (0: none; nor inside a surrogate pair). */
  private at(text: string, i: number): number {
    const c = text.charCodeAt(i);
    if ((this.flags[c] & 1) === 0) return 0;
    if (c >= 0xdc00 && c <= 0xdfff && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800) return 0;
    const list = this.lists[this.listOf[c] - 1];
    for (let q = 0; q < list.length; q++) if (text.startsWith(list[q], i)) return list[q].length;
    return 0;
  }
}

const asciiLower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);
const pairIndex = new WeakMap<ReadonlySet<string>, { pairs: Uint8Array; asciiByLen: string[][]; letters: boolean }>();
/**
 * The first two code units of the entries, as (c0 << 7 | c1) for ASCII ones (c1 = 0 for a one-character entry): a
 * word starting with ASCII lowercases to an entry only if its first two units lowercase to the entry's (toLowerCase
 * maps an ASCII character to one ASCII character), unless its second unit is not ASCII. And the entries made of ASCII
 * only, by length: the only ones an ASCII word can lowercase to. letters: every entry that starts with ASCII starts
 * with a letter (a word starting with any other ASCII unit then lowercases to no entry).
 */
function flaggedIndex(flagged: ReadonlySet<string>): {
  pairs: Uint8Array;
  asciiByLen: string[][];
  letters: boolean;
} {
  let t = pairIndex.get(flagged);
  if (!t) {
    const pairs = new Uint8Array(128 * 128),
      asciiByLen: string[][] = [];
    let letters = true;
    for (const e of flagged) {
      const a = e.charCodeAt(0);
      if (a < 128 && !/[A-Za-z]/.test(e[0])) letters = false;
      const b = e.length > 1 ? e.charCodeAt(1) : 0;
      if (a < 128 && b < 128) pairs[(a << 7) | b] = 1;
      if ([...e].every((c) => c.charCodeAt(0) < 128)) (asciiByLen[e.length] ??= []).push(e);
    }
    // (made with its final values, as stopIdx's)
    t = { pairs, asciiByLen, letters };
    pairIndex.set(flagged, t);
  }
  return t;
}
/**
 * flagged.has(src.slice(b, e).toLowerCase()): a word of ASCII only is compared in place, lowercased unit by unit, with
 * the ASCII entries of its length (no string made); any other word is lowercased and looked up.
 */
function isFlagged(src: string, b: number, e: number, flagged: ReadonlySet<string>, asciiByLen: string[][]): boolean {
  for (let j = b; j < e; j++) if (src.charCodeAt(j) >= 128) return flagged.has(src.slice(b, e).toLowerCase());
  const list = asciiByLen[e - b];
  if (list === undefined) return false;
  for (let k = 0; k < list.length; k++) {
    const w = list[k];
    let j = 0;
    while (j < w.length && w.charCodeAt(j) === asciiLower(src.charCodeAt(b + j))) j++;
    if (j === w.length) return true;
  }
  return false;
}

/** Flagged-word ratio: occurrences of listed words (or, for Chinese, listed substrings) / number of words. */
export function flaggedRatio(
  text: string,
  words: Words,
  flagged: ReadonlySet<string>,
  cjk: SubstringCounter | null,
): number {
  if (words.n === 0) return 0;
  let k = 0;
  // the word list is Latin (Chinese entries are matched as substrings): skip words that do not start with ASCII, and
  // words whose first two characters (ASCII, lowercased) begin no entry
  if (flagged.size) {
    const { pairs, asciiByLen, letters } = flaggedIndex(flagged);
    const { src, start, end } = words;
    // only jieba's words starting with an ASCII letter, when its kernel listed them and every entry starting with ASCII
    // starts with a letter; else every word
    const at = letters && words.letterFirstGen === words.gen ? words.letterFirst : null;
    for (let q = 0, m = at ? words.letterFirstN : words.n; q < m; q++) {
      const i = at ? at[q] : q;
      const s0 = start[i];
      const a = src.charCodeAt(s0);
      if (a >= 128) continue;
      const b = end[i] - s0 > 1 ? src.charCodeAt(s0 + 1) : 0;
      if (b < 128 && pairs[(asciiLower(a) << 7) | asciiLower(b)] === 0) continue;
      if (isFlagged(src, s0, end[i], flagged, asciiByLen)) k++;
    }
  }
  if (cjk) k += cjk.count(text);
  return k / words.n;
}

// ---------- Gopher / FineWeb ----------
/** A word made only of punctuation, symbol or space characters (datatrove: every char in PUNCTUATION_SET). */
function punctOnly(s: string, b: number, e: number): boolean {
  for (let i = b; i < e; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < e) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (!isPunctChar(c)) return false;
  }
  return e > b;
}

/**
 * Gopher quality statistics (datatrove semantics, two differences). Lines are the non-empty lines: datatrove divides
 * bullet and ellipsis lines by all of text.splitlines(), so blank lines between paragraphs would halve the ratios;
 * Gopher means lines of text. alpha_words_ratio is over the non-symbol words (as n_words and mean_word_length are):
 * datatrove divides by every token, which for whitespace-split English rarely includes bare punctuation, but a word
 * segmenter (jieba) returns every ，。、（） and table bar as a token of its own, and Chinese reference pages then fall
 * under 0.735 on punctuation alone.
 */
export function gopherQuality(text: string, words: Words) {
  let nWords = 0,
    lenSum = 0,
    alphaWords = 0;
  prepareWords(words); // word lengths (shared with the repetition statistics of the same words)
  const { src, start, end } = words;
  // the sums made with the words' hashes (hashWords, or jieba's kernel) when there are, then only the words they left
  // out (jieba's words with an astral character) are read here; else every word
  const ex = words.qualGen === words.gen ? words.qualEx : null;
  if (ex) {
    nWords = words.qualWords;
    lenSum = words.qualLen;
    alphaWords = words.qualAlpha;
  }
  for (let k = 0, m = ex ? words.qualExN : words.n; k < m; k++) {
    const i = ex ? ex[k] : k;
    if (!punctOnly(src, start[i], end[i])) {
      nWords++;
      lenSum += wl[i + 1] - wl[i];
      if (spanHasAlpha(src, start[i], end[i])) alphaWords++;
    }
  }
  let nLines = 0,
    bullets = 0,
    ellipsis = 0;
  // the lines of text.splitlines(), as spans [lb, le); a text whose only line break is "\n" (most, after fix_unicode)
  // takes them from its index of "\n"
  const L = text.length;
  const onlyNl = onlyNewlines(text);
  const at = nlAt,
    nl = nlN;
  for (let lb = 0, k = 0; lb < L;) {
    let le = lb;
    if (onlyNl) le = k < nl ? at[k++] : L;
    else while (le < L && !isLineBreak(text.charCodeAt(le))) le++;
    // line.trimStart() starts with • or -, line.trimEnd() ends with ... or … (without building the trimmed strings)
    let b = lb,
      e = le;
    while (b < e && isJsSpace(text.charCodeAt(b))) b++;
    if (b < e) {
      nLines++;
      const c = text.charCodeAt(b);
      if (c === 0x2022 || c === 45) bullets++;
      while (isJsSpace(text.charCodeAt(e - 1))) e--;
      const d = text.charCodeAt(e - 1);
      if (d === 0x2026 || (d === 46 && e - b >= 3 && text.charCodeAt(e - 2) === 46 && text.charCodeAt(e - 3) === 46))
        ellipsis++;
    }
    // (le + 1 < L: no read past the end, which threw the optimised code away at the first text without a final
    // line break)
    lb = le + (le + 1 < L && text.charCodeAt(le) === 13 && text.charCodeAt(le + 1) === 10 ? 2 : 1);
  }
  const hashes = count(text, '#');
  const ell = count(text, '...') + count(text, '…');
  return {
    n_words: nWords,
    mean_word_length: nWords ? lenSum / nWords : 0,
    hash_ratio: nWords ? hashes / nWords : 0,
    ellipsis_ratio: nWords ? ell / nWords : 0,
    bullet_lines_ratio: nLines ? bullets / nLines : 0,
    ellipsis_lines_ratio: nLines ? ellipsis / nLines : 0,
    alpha_words_ratio: nWords ? alphaWords / nWords : 0,
  };
}
/** A UTF-16 surrogate (half of an astral character, or a lone one). */
const SURROGATE = /[\ud800-\udfff]/;
/** The line breaks of str.splitlines() (isLineBreak) other than "\n". */
const OTHER_LINE_BREAK = /[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
function count(text: string, sub: string): number {
  let k = 0,
    at = text.indexOf(sub);
  while (at >= 0) {
    k++;
    at = text.indexOf(sub, at + sub.length);
  }
  return k;
}

/**
 * A statistic's name for n-grams of n words: `top_${n}gram`, `dup_${n}gram` or `dup_${n}gram_outside`, made once per
 * name (a name built per document is a new string to hash and internalise at every store).
 */
const nKeyName = (kind: 'top' | 'dup' | 'dup_outside', n: number) =>
  kind === 'dup_outside' ? `dup_${n}gram_outside` : `${kind}_${n}gram`;
// made up to n = 32 here: arrays filled at their first use per size had elements of two kinds ("wrong map" in the
// code that inlines this, at the first size of each kind)
const nKeyCache = {
  top: Array.from({ length: 33 }, (_, n) => nKeyName('top', n)),
  dup: Array.from({ length: 33 }, (_, n) => nKeyName('dup', n)),
  dup_outside: Array.from({ length: 33 }, (_, n) => nKeyName('dup_outside', n)),
};
export function ngramKey(kind: 'top' | 'dup' | 'dup_outside', n: number): string {
  const c = nKeyCache[kind];
  return (c[n] ??= nKeyName(kind, n));
}

/** Gopher repetition statistics (datatrove semantics); `joiner` joins words of an n-gram ('' for unsegmented scripts). */
export function gopherRepetition(
  text: string,
  words: Words,
  topNs: readonly number[],
  dupNs: readonly number[],
  joiner: string,
) {
  const len = textCpLength(text) || 1;
  // text.trim().split(/\n{2,}/) and text.split(/\n+/), counted without building the arrays
  let tb = 0,
    te = text.length;
  while (tb < te && isJsSpace(text.charCodeAt(tb))) tb++;
  while (te > tb && isJsSpace(text.charCodeAt(te - 1))) te--;
  const pd = dupSplit(text, tb, te, 2);
  const ld = dupSplit(text, 0, text.length, 1);
  const out: Record<string, number> = {
    dup_para_frac: pd.parts ? pd.elems / pd.parts : 0,
    dup_para_char_frac: pd.chars / len,
    dup_line_frac: ld.parts ? ld.elems / ld.parts : 0,
    dup_line_char_frac: ld.chars / len,
  };
  prepareWords(words);
  gN = 0;
  const tops = sortedSizes(topNs),
    dups = sortedSizes(dupNs);
  if (minOf(minOf(2, tops), dups) >= 2) {
    ngramStats(words, tops, dups, joiner);
    for (const n of tops) out[ngramKey('top', n)] = topByN[n] / len;
    for (const n of dups) out[ngramKey('dup', n)] = dupByN[n] / len;
    return out;
  }
  for (const n of tops) out[ngramKey('top', n)] = topNgramFrac(words, n, joiner) / len;
  for (const n of dups) out[ngramKey('dup', n)] = dupNgramChars(words, n) / len;
  return out;
}

/**
 * A copy of n-gram sizes with whole sizes stored as small integers, in an array of small integers: `Number` of the
 * parameters' keys gives a holey array of doubles, and the empty list is one of small integers, so the n-gram code's
 * optimised code met arrays of two kinds and numbers of two representations and was thrown away for each.
 */
export function intSizes(ns: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < ns.length; i++) {
    const n = ns[i];
    out.push(n === (n | 0) ? n | 0 : n);
  }
  return out;
}
/**
 * intSizes, ascending: the list itself when it is already that (a recipe's sizes, parsed once per step by filters/ops.ts,
 * are positive whole numbers in ascending order), else a sorted copy. The copy and sort per document and list were a
 * sort's work array each time: ~12 MB of garbage over the sample.
 */
export function sortedSizes(ns: readonly number[]): readonly number[] {
  let prev = 0;
  for (let i = 0; i < ns.length; i++) {
    const n = ns[i];
    if ((n | 0) !== n || n < prev || n <= 0) return intSizes(ns).sort((a, b) => a - b);
    prev = n;
  }
  return ns;
}

/**
 * The smallest / largest of `a` and the numbers of `ns` (a loop: `Math.min(a, ...ns)` spreads through an iterator
 * whose optimised code checks each array's map, and the n lists of the steps differ in kind, so it was thrown away).
 */
function minOf(a: number, ns: readonly number[]): number {
  for (let i = 0; i < ns.length; i++) if (ns[i] < a) a = ns[i];
  return a;
}
function maxOf(a: number, ns: readonly number[]): number {
  for (let i = 0; i < ns.length; i++) if (ns[i] > a) a = ns[i];
  return a;
}

/**
 * topNgramFrac and dupNgramChars for every n >= 2 in one sweep over n = n0, n0 + 1, ... (n0 the smallest n asked
 * for): the first round's candidates are the positions whose n0-gram may repeat (the kernel's repeat bitmap over every
 * position); after it, an n-gram can only occur twice where its (n-1)-gram prefix and its (n-1)-gram suffix do, so
 * each round counts only the positions whose previous n-gram and whose successor's are repeated ("candidates").
 * Positions whose n-gram occurs once change neither the most frequent n-gram (except when nothing repeats: then the
 * first n-gram, count 1) nor the duplicate characters, so the results equal the full passes. The duplicate walk
 * (find_all_duplicate) reads the counter slots the round's count left, so it counts nothing again. The sweep runs in a
 * WebAssembly kernel (kernelFor); this copies the words' hashes and lengths into its memory and reads the results per
 * n.
 */
/** ngramStats' results by n (views of the kernel's memory, read before its next call; empty when nothing was asked). */
const NO_RESULTS = new Float64Array(0);
let topByN = NO_RESULTS,
  dupByN = NO_RESULTS;
function ngramStats(words: Words, tops: readonly number[], dups: readonly number[], joiner: string): void {
  topByN = dupByN = NO_RESULTS;
  const nW = words.n;
  const maxN = maxOf(maxOf(0, tops), dups);
  if (maxN === 0) return;
  // the words' hashes and cumulative lengths into the kernel's memory
  const { k, at, at2, at3 } = kernelFor(nW, maxN);
  const buf = k.memory.buffer;
  new Int32Array(buf, at, nW).set(hb1.subarray(0, nW));
  new Int32Array(buf, at2, nW).set(hb2.subarray(0, nW));
  new Int32Array(buf, at3, nW + 1).set(wl.subarray(0, nW + 1));
  // per n: 1 a top measure, 2 a duplicate measure
  const kinds = new Uint8Array(buf, k.kindsAt(), maxN + 1).fill(0);
  for (let i = 0; i < tops.length; i++) kinds[tops[i]] |= 1;
  for (let i = 0; i < dups.length; i++) kinds[dups[i]] |= 2;
  k.sweep(nW, minOf(minOf(maxN, tops), dups), maxN, cpLength(joiner));
  // the results (the sweep may have grown the memory: a new buffer)
  const out = k.memory.buffer;
  topByN = new Float64Array(out, k.topAt(), maxN + 1);
  dupByN = new Float64Array(out, k.dupAt(), maxN + 1);
}
/**
 * findDuplicates over t.slice(tb, te).split(minRun === 1 ? /\n+/ : /\n{2,}/) without the parts that have no letter or
 * digit (a line of spaces between paragraphs, a table bar "|" or a rule "-----" is a separator, not a repeated line of
 * text): parts, parts already seen (elems) and their characters, without a string per part.
 */
const partSet = new SpanSet();
// the parts of dupSplit (with a letter or digit), and a count (0, 1, 2 = more) per part length
let partStart = new Int32Array(16),
  partEnd = new Int32Array(16),
  lenCount = new Uint8Array(16);
function dupSplit(t: string, tb: number, te: number, minRun: number): { parts: number; elems: number; chars: number } {
  indexNewlines(t);
  const at = nlAt,
    n = nlN;
  if (partStart.length < n + 1) {
    partStart = new Int32Array(Math.max(n + 1, 2 * partStart.length));
    partEnd = new Int32Array(partStart.length);
  }
  const ps = partStart,
    pe = partEnd;
  let parts = 0;
  let start = tb,
    k = 0;
  while (k < n && at[k] < tb) k++;
  for (;;) {
    let end = te,
      next = te + 1;
    // the next run of "\n" of at least minRun (a shorter one is inside the part)
    while (k < n) {
      const i = at[k];
      if (i >= te) {
        k = n;
        break;
      }
      let j = k + 1;
      while (j < n && at[j] === at[j - 1] + 1 && at[j] < te) j++;
      const run = j - k;
      k = j;
      if (run >= minRun) {
        end = i;
        next = i + run;
        break;
      }
    }
    // a blank line, or one of only symbols ("|", "-----": table and rule markup), is a separator, not a line of text
    if (spanHasAlnum(t, start, end)) {
      ps[parts] = start;
      pe[parts++] = end;
    }
    if (next > te) break;
    start = next;
  }
  // a part equals an earlier one only if their lengths are equal: the parts of a length no other part has are not
  // looked up (nor hashed)
  if (lenCount.length <= te - tb) lenCount = new Uint8Array(Math.max(te - tb + 1, 2 * lenCount.length));
  const lc = lenCount;
  for (let p = 0; p < parts; p++) {
    const len = pe[p] - ps[p];
    if (lc[len] < 2) lc[len]++;
  }
  // (sized for every part: a set's results do not depend on its size)
  partSet.reset(t, parts);
  let elems = 0,
    chars = 0;
  for (let p = 0; p < parts; p++) {
    const b = ps[p],
      e = pe[p];
    if (lc[e - b] === 2 && partSet.add(b, e)) {
      elems++;
      chars += spanCpLength(t, b, e);
    }
  }
  for (let p = 0; p < parts; p++) lc[pe[p] - ps[p]] = 0;
  return { parts, elems, chars };
}
/**
 * The "\n" positions of the text indexed last (a one-text cache, as codePoints'): nlAt[0 .. nlN). The line statistics
 * of one document (max_line_length, the duplicate lines and paragraphs, the table rows, FineWeb's and Gopher's lines)
 * read its lines from them instead of each looking for every "\n" again. nlOnly: whether "\n" is the text's only
 * line break of splitlines() (-1 not known yet).
 */
let nlText: string | null = null,
  nlAt = new Int32Array(16),
  nlN = 0,
  nlOnly = -1;
function indexNewlines(text: string): void {
  if (nlText === text) return;
  let n = 0,
    at = nlAt;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (n === at.length) {
      const grown = new Int32Array(n * 2);
      grown.set(at);
      nlAt = at = grown;
    }
    at[n++] = i;
  }
  nlN = n;
  nlOnly = -1;
  nlText = text;
}
/** Whether "\n" is the only line break of splitlines() in `text`, once per text. */
function onlyNewlines(text: string): boolean {
  indexNewlines(text);
  if (nlOnly < 0) nlOnly = OTHER_LINE_BREAK.test(text) ? 0 : 1;
  return nlOnly === 1;
}
// word hashes and cumulative code-point lengths, shared by the n-gram statistics of one call
let wl = new Int32Array(1);
/**
 * Word hashes (hashString with both seeds) and cumulative code-point lengths, computed once per segmentation and kept
 * with the words (a document's words and the words outside its sentences each keep theirs); hb1, hb2 and wl then
 * refer to them.
 */
function prepareWords(words: Words): void {
  if (words.hashedGen !== words.gen) hashWords(words);
  hb1 = words.h1;
  hb2 = words.h2;
  wl = words.cum;
}
/**
 * Per word two hashes of its code units and the cumulative code-point lengths (exported for the test of jieba's kernel,
 * filters/jieba-kernel.c hashSpans, which makes the same for the words it segments).
 */
export function hashWords(words: Words): void {
  const n = words.n;
  if (words.h1.length < n) {
    words.h1 = new Int32Array(Math.max(n, words.h1.length * 2));
    words.h2 = new Int32Array(words.h1.length);
  }
  if (words.cum.length < n + 1) words.cum = new Int32Array(Math.max(n + 1, words.cum.length * 2));
  const h1 = words.h1,
    h2 = words.h2,
    wl = words.cum;
  const { src, start, end } = words;
  const cls = unitClasses();
  let acc = 0,
    qWords = 0,
    qLen = 0,
    qAlpha = 0;
  wl[0] = 0;
  for (let i = 0; i < n; i++) {
    const e = end[i];
    let a = 0x811c9dc5,
      b = 0x12345678,
      k = e - start[i],
      any = 0,
      all = 2;
    for (let j = start[i]; j < e; j++) {
      const c = src.charCodeAt(j);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193);
      const q = cls[c];
      any |= q;
      all &= q;
      // a valid surrogate pair is one code point
      if (c >= 0xd800 && c <= 0xdbff && j + 1 < e) {
        const d = src.charCodeAt(j + 1);
        if (d >= 0xdc00 && d <= 0xdfff) k--;
      }
    }
    h1[i] = a;
    h2[i] = b;
    // gopherQuality's sums (as jieba's kernel makes them; a word with a surrogate by its code points)
    if ((any & 4) !== 0 ? !punctOnly(src, start[i], e) : all === 0) {
      qWords++;
      qLen += k;
      if ((any & 4) !== 0 ? spanHasAlpha(src, start[i], e) : (any & 1) !== 0) qAlpha++;
    }
    acc += k;
    wl[i + 1] = acc;
  }
  words.qualWords = qWords;
  words.qualLen = qLen;
  words.qualAlpha = qAlpha;
  words.qualExN = 0;
  words.hashedGen = words.qualGen = words.gen;
}
/** text.ts wordUnitClass of every UTF-16 code unit (read from filters/char-tables.bin with the category flags). */
const unitClasses = wordUnitClasses;
// n-gram hashes, grown in place from n to n+1 words: A[i] covers words[i .. i+n-1]
let ga = new Int32Array(0),
  gb = new Int32Array(0);
let gN = 0,
  gWords = 0;
function ngramHashesUpTo(n: number, nWords: number): void {
  if (gN === 0 || gN > n || gWords !== nWords) {
    if (ga.length < nWords) {
      ga = new Int32Array(Math.max(nWords, ga.length * 2));
      gb = new Int32Array(ga.length);
    }
    for (let i = 0; i < nWords; i++) {
      ga[i] = Math.imul(0x3c6ef372 ^ hb1[i], 0x01000193);
      gb[i] = Math.imul(0x1b873593 ^ hb2[i], 0x5bd1e995);
    }
    gN = 1;
    gWords = nWords;
  }
  while (gN < n) {
    const total = nWords - gN; // n-grams of length gN + 1
    for (let i = 0; i < total; i++) {
      ga[i] = Math.imul(ga[i] ^ hb1[i + gN], 0x01000193);
      gb[i] = Math.imul(gb[i] ^ hb2[i + gN], 0x5bd1e995) ^ (gb[i] >>> 13);
    }
    gN++;
  }
}
/** datatrove find_top_duplicate: count of the most frequent n-gram × its length (words joined by `joiner`). */
function topNgramFrac(words: Words, n: number, joiner: string): number {
  const total = words.n - n + 1;
  if (total <= 0) return 0;
  ngramHashesUpTo(n, words.n);
  counter.reset(total);
  let best = 0,
    bestIdx = 0;
  for (let i = 0; i < total; i++) {
    const c = counter.add(ga[i], gb[i]);
    if (c > best) {
      best = c;
      bestIdx = i;
    }
  }
  return best * (wl[bestIdx + n] - wl[bestIdx] + cpLength(joiner) * (n - 1));
}
/** datatrove find_all_duplicate: characters of n-grams (joined without separator) already seen, skipping n words after each. */
function dupNgramChars(words: Words, n: number): number {
  const total = words.n - n + 1;
  if (total <= 0) return 0;
  ngramHashesUpTo(n, words.n);
  counter.reset(total);
  let rep = 0,
    i = 0;
  while (i < total) {
    if (counter.add(ga[i], gb[i]) > 1) {
      rep += wl[i + n] - wl[i];
      i += n;
    } else i++;
  }
  return rep;
}

/** Terminal punctuation for the "lines ending in punctuation" statistic (ASCII and CJK). */
const TERMINAL = new Set([...'.!?"\'。！？”’…」』；;:：)）》'].map((c) => c.codePointAt(0)!));
function endsWithTerminal(t: string, b: number, end: number): boolean {
  let e = end - 1;
  while (e >= b) {
    const c = t.charCodeAt(e);
    if (c === 32 || c === 9 || c === 13 || c === 0x3000 || c === 0xa0 || c === 0x200b) e--;
    else return TERMINAL.has(c);
  }
  return false;
}
/**
 * FineWeb quality statistics (datatrove FineWebQualityFilter semantics, on non-empty lines). new_line_ratio counts the
 * line breaks between non-empty lines (a run of newlines, i.e. a blank line between paragraphs, counts once): datatrove
 * counts every "\n", which on FineWeb's extractions (one "\n" between paragraphs) is the same thing, but doubles on
 * text that separates paragraphs with blank lines (man pages, Markdown, most other extractors).
 */
export function finewebQuality(text: string, words: Words, shortLineLength = 30) {
  let n = 0,
    punct = 0,
    short = 0,
    dupChars = 0;
  const L = text.length;
  indexNewlines(text);
  const at = nlAt,
    nl = nlN;
  partSet.reset(text, nl + 1);
  // the lines of text.split('\n'), as spans [b, e)
  for (let k = 0, b = 0; k <= nl; k++) {
    const e = k < nl ? at[k] : L;
    if (hasNonSpace(text, b, e)) {
      n++;
      if (endsWithTerminal(text, b, e)) punct++;
      const len = e - b;
      if (len <= shortLineLength || (len <= 2 * shortLineLength && spanCpLength(text, b, e) <= shortLineLength))
        short++;
      if (partSet.add(b, e)) dupChars += spanCpLength(text, b, e);
    }
    b = e + 1;
  }
  if (n === 0) return { line_punct_ratio: 0, short_line_ratio: 1, char_dup_ratio: 0, new_line_ratio: 0 };
  const breaks = n - 1;
  const nonNl = textCpLength(text) - nl;
  return {
    line_punct_ratio: punct / n,
    short_line_ratio: short / n,
    char_dup_ratio: nonNl ? dupChars / nonNl : 0,
    new_line_ratio: words.n ? breaks / words.n : 0,
  };
}
function hasNonSpace(t: string, b: number, e: number): boolean {
  for (let i = b; i < e; i++) {
    const c = t.charCodeAt(i);
    if (
      c !== 32 &&
      c !== 9 &&
      c !== 13 &&
      c !== 11 &&
      c !== 12 &&
      c !== 0xa0 &&
      c !== 0x3000 &&
      !(c >= 0x2000 && c <= 0x200a)
    )
      return true;
  }
  return false;
}

/** Average word length in code points over words containing a letter or digit. */
export function meanWordLength(words: Words): number {
  let s = 0,
    k = 0;
  const { src, start, end } = words;
  for (let i = 0; i < words.n; i++)
    if (spanHasAlnum(src, start[i], end[i])) {
      s += spanCpLength(src, start[i], end[i]);
      k++;
    }
  return k ? s / k : 0;
}

const SENTENCE_CLOSE = new Set([...'”’」』）》)'].map((c) => c.codePointAt(0)!));

/**
 * Characters of complete Chinese sentences: the non-whitespace code points of each run of a line that ends in 。！？
 * (closing quotes and brackets right after it included) and holds at least `minHan` Han characters. A title, a menu
 * path, a label or an English line adds nothing; a short section of two or three full sentences adds all of them
 * (zh-web's exemption from the word minimum, bench/results/prep-eval.md). Counted by the scan that finds the runs
 * (sentenceRuns): zh-web's gopher_repetition has scanned the same text for them just before.
 */
export function completeSentenceChars(text: string, minHan = 4): number {
  scanSentences(text, minHan);
  return sentChars;
}

/** The non-whitespace code points of a text (the denominator of zh-web's sentence share). */
export function nonSpaceChars(text: string): number {
  // counted by the decode of codePoints (free when the document's code points are decoded already)
  const c = cpCounts(text);
  return c.n - c.space;
}

/**
 * The complete Chinese sentences of a text, as UTF-16 [start, end) pairs: the runs whose characters
 * completeSentenceChars counts (a run of a line ending in 。！？, closing quotes and brackets after it included, with
 * at least `minHan` Han characters). Do not mutate the result.
 */
export function sentenceRuns(text: string, minHan = 4): number[] {
  scanSentences(text, minHan);
  return sentRuns;
}
// the last text scanned for sentences (a one-text cache, as codePoints'), its runs and their non-whitespace code points
let sentText: string | null = null,
  sentMinHan = 0,
  sentRuns: number[] = [],
  sentChars = 0;
function scanSentences(text: string, minHan: number): void {
  if (sentText === text && sentMinHan === minHan) return;
  const runs: number[] = [];
  let runStart = 0,
    han = 0,
    run = 0,
    total = 0;
  const L = text.length;
  const cls = sentenceClasses();
  for (let i = 0; i < L;) {
    let c = text.charCodeAt(i++);
    const v = cls[c];
    // most units: counted without a branch (see sentenceClasses)
    if (v !== SENT_OTHER) {
      run += v & 1;
      han += v >> 1;
      continue;
    }
    if (c === 10 || c === 13) {
      runStart = i;
      run = han = 0;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      // a surrogate pair is one character (a lone surrogate one too)
      if (i < L) {
        const d = text.charCodeAt(i);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          i++;
        }
      }
      const f = charFlags(c);
      // (isJsSpace only for a character of C_SPACE, which holds every JavaScript whitespace)
      if ((f & C_SPACE) === 0 || !isJsSpace(c)) run++;
      if (f & C_HAN) han++;
      continue;
    }
    // 。！？, then the closing quotes and brackets of SENTENCE_CLOSE
    run++;
    while (i < L && SENTENCE_CLOSE.has(text.charCodeAt(i))) {
      i++;
      run++;
    }
    if (han >= minHan) {
      runs.push(runStart, i);
      total += run;
    }
    runStart = i;
    run = han = 0;
  }
  sentText = text;
  sentMinHan = minHan;
  sentRuns = runs;
  sentChars = total;
}
/**
 * scanSentences' class of every UTF-16 code unit (text.ts sentenceClassOf, read from filters/char-tables.bin with the
 * category flags): 1 a character that counts (not JavaScript whitespace), 3 a Han character (counts too), 0
 * whitespace, SENT_OTHER for the units that need their own branch: "\n", "\r", 。！？ and a high surrogate. A table read
 * per unit instead of charFlags, isJsSpace and three comparisons (scanSentences over the sample's Chinese documents 45
 * → 22 ms, warm).
 */
const SENT_OTHER = SENTENCE_CLASS_OTHER;

/** Two sorted lists of [start, end) pairs as one sorted list of disjoint pairs (overlapping or touching ones joined). */
function mergeRuns(a: readonly number[], b: readonly number[]): number[] {
  if (!b.length) return a as number[];
  if (!a.length) return b as number[];
  // each list is sorted: merged by their starts (on equal starts a first, as the stable sort of both did)
  const out: number[] = [];
  let i = 0,
    j = 0;
  while (i < a.length || j < b.length) {
    let s: number, e: number;
    if (j >= b.length || (i < a.length && a[i] <= b[j])) {
      s = a[i];
      e = a[i + 1];
      i += 2;
    } else {
      s = b[j];
      e = b[j + 1];
      j += 2;
    }
    const m = out.length;
    if (m && s <= out[m - 1]) {
      if (e > out[m - 1]) out[m - 1] = e;
    } else out.push(s, e);
  }
  return out;
}

/**
 * The lines of `text` that are table rows, as UTF-16 [start, end) pairs: a line that starts and ends with a cell bar `|`
 * (leading and trailing whitespace aside) and has another bar between them, i.e. two or more cells, the form that the
 * HTML conversion (`| a | b |`, corpora-manifests/sample/convert.ts) and clean_html give a table row.
 */
export function tableRowRuns(text: string): number[] {
  const runs: number[] = [];
  const L = text.length;
  indexNewlines(text);
  const at = nlAt,
    nl = nlN;
  for (let k = 0, s = 0; s < L; k++) {
    const e = k < nl ? at[k] : L;
    let b = s,
      f = e;
    while (b < f && isJsSpace(text.charCodeAt(b))) b++;
    while (f > b && isJsSpace(text.charCodeAt(f - 1))) f--;
    if (f - b >= 3 && text.charCodeAt(b) === 124 && text.charCodeAt(f - 1) === 124) {
      const mid = text.indexOf('|', b + 1);
      if (mid >= 0 && mid < f - 1) runs.push(s, e);
    }
    s = e + 1;
  }
  return runs;
}

/**
 * The words of `text` (wordsOf's words of this text) that lie outside its complete Chinese sentences (sentenceRuns)
 * and outside its table rows (tableRowRuns): titles, labels, menu paths, code, English lines. zh-web measures
 * duplicated n-grams on them: repeated phrases inside distinct sentences are ordinary in technical Chinese prose (exact
 * repeated sentences are removed before, by remove_repeat_sentences), repeated labels, menus and listings are
 * boilerplate. A table's repetition is its structure: the cells of one column share their vocabulary (key names, units,
 * TRUE / FALSE), so n-grams are not counted across its rows; a repeated row is a duplicate line (dup_line_frac), and
 * the duplicated n-grams over the whole text still see a copied table (bench/results/prep-eval.md). Returns spans of
 * the same source (a Words reused by the next call). Words of another text are an error.
 */
export function wordsOutsideSentencesAndTables(text: string, words: Words, minHan = 4): Words {
  return wordsOutside(text, words, mergeRuns(sentenceRuns(text, minHan), tableRowRuns(text)));
}

/** The words of `text` (wordsOf's words of this text) outside the sorted disjoint UTF-16 [start, end) `runs`. */
const outsideWords = new Words();
export function wordsOutside(text: string, words: Words, runs: readonly number[]): Words {
  if (words.src !== text && words.src !== wellFormed(text))
    throw new Error('wordsOutside: the words are not spans of this text');
  const out = outsideWords;
  if (out.start.length < words.n) {
    out.start = new Int32Array(Math.max(words.n, out.start.length * 2));
    out.end = new Int32Array(out.start.length);
  }
  const { start, end } = words;
  // the kept words' hashes and lengths come from the words they are taken from, when those are hashed (prepareWords)
  const hashed = words.hashedGen === words.gen;
  if (hashed) {
    if (out.h1.length < words.n) {
      out.h1 = new Int32Array(Math.max(words.n, out.h1.length * 2));
      out.h2 = new Int32Array(out.h1.length);
    }
    if (out.cum.length < words.n + 1) out.cum = new Int32Array(Math.max(words.n + 1, out.cum.length * 2));
  }
  const { h1, h2, cum } = words,
    oh1 = out.h1,
    oh2 = out.h2,
    ocum = out.cum;
  const n = words.n,
    ost = out.start,
    oen = out.end;
  let m = 0,
    acc = 0,
    i = 0;
  // per run: the words that start before it are outside, then the words inside it are skipped (a word that starts in
  // it and ends after it is outside: the next run's first loop, or the last one, takes it)
  for (let r = 0; r <= runs.length; r += 2) {
    const rs = r < runs.length ? runs[r] : 0x7fffffff;
    for (; i < n && start[i] < rs; i++) {
      if (hashed) {
        oh1[m] = h1[i];
        oh2[m] = h2[i];
        acc += cum[i + 1] - cum[i];
        ocum[m + 1] = acc;
      }
      ost[m] = start[i];
      oen[m++] = end[i];
    }
    if (r < runs.length) {
      const re = runs[r + 1];
      while (i < n && start[i] < re && end[i] <= re) i++;
    }
  }
  out.src = words.src;
  out.n = m;
  out.gen = nextWordsGen();
  if (hashed) {
    ocum[0] = 0;
    out.hashedGen = out.gen;
  }
  return out;
}

/** Characters of duplicated n-grams (datatrove find_all_duplicate, as gopherRepetition) / the code points of `text`. */
const NO_SIZES: readonly number[] = [];
export function dupNgramShares(text: string, words: Words, ns: readonly number[], joiner: string) {
  const len = textCpLength(text) || 1;
  prepareWords(words);
  gN = 0;
  ngramStats(words, NO_SIZES, sortedSizes(ns), joiner);
  const out: Record<string, number> = {};
  for (const n of ns) out[ngramKey('dup', n)] = dupByN[n] / len;
  return out;
}

export { charFlags, C_LETTER };

/**
 * What jieba's kernel sets beside the hashes (for primeBranches): the words with a surrogate, those starting with an
 * ASCII letter.
 */
function asJiebaWords(w: Words): void {
  prepareWords(w);
  if (w.qualEx.length < w.n) w.qualEx = new Int32Array(w.n);
  if (w.letterFirst.length < w.n) w.letterFirst = new Int32Array(w.n);
  let nq = 0,
    nl = 0;
  for (let i = 0; i < w.n; i++) {
    const c = w.src.charCodeAt(w.start[i]);
    if (SURROGATE.test(w.src.slice(w.start[i], w.end[i]))) w.qualEx[nq++] = i;
    if (c < 128 && ((c | 32) - 97) >>> 0 < 26) w.letterFirst[nl++] = i;
  }
  w.qualExN = nq;
  w.qualGen = w.gen;
  w.letterFirstN = nl;
  w.letterFirstGen = w.gen;
}

/**
 * Feedback before the first compile. V8 optimises a function for the branches it has seen run; a branch first taken
 * after that (an astral character, "\r\n", a word of punctuation only, a repeated line) throws the optimised code away,
 * and the function is compiled again. In the sample the first emoji and CJK Extension B characters come after the
 * statistics were optimised on English text. Each statistic (those without a WebAssembly kernel, which would be loaded
 * for nothing) runs here, at load, on a short text that takes those branches; the results are not used.
 */
function primeBranches(): readonly object[] {
  const line =
    'The quick (brown) fox — jumps… over “the” lazy dog’s 1,000 tails thé Ωmega! 汉字测试，中文句子。繁體字「引號。」……' +
    ' 😊 𠀀𠀁 👍🏽 é\r\n• bullet...\n- dash\n| a | b |\n\t  \u3000x\u2028y\n... ¿¡ ## Thé T\n\n';
  // and texts whose only line break is "\n" (the lines from the index of "\n"), with and without astral characters,
  // with a line that ends in spaces
  const plain = line.replace(/[\r\u2028]/g, ' ') + 'tail  \n';
  const bmp = plain.replace(/[\ud800-\udfff]/g, '');
  const stop = new Set(['the', 'over', '的', 'a']);
  // a list of one-unit entries outside ASCII (the zh one, whose count jieba's kernel makes with the words; this one is
  // not registered with jieba.ts, so stopwordCount counts it)
  const zhStop = new Set(['的', '了', '是']);
  stopIndex.set(zhStop, newStopIndex(zhStop));
  // flagged_words' Chinese entries, counted as substrings (a first match after the compile threw it away)
  const cjk = new SubstringCounter(['汉字', '引號', '😊x']);
  // a stopword list first met after the compile (the English one after Chinese documents): its index made there, in
  // the code of stopwordCount, which inlines stopIdx (calls that find it first: V8 records nothing during a
  // function's first calls)
  for (let k = 0; k < 48; k++) stopIdx(k < 40 ? stop : new Set(['的', `x${k}`]));
  // (interleaved: a function can be optimised during these calls, before a variant that came last had run; the
  // longer texts come after a round of short ones, so that the buffers grow where the feedback is recorded)
  for (let k = 0; k < 6; k++) {
    const t = [line, plain, bmp][k % 3]!.repeat(k < 3 ? 2 : 5) + k;
    alnumRatio(t);
    specialCharRatio(t, 'category');
    specialCharRatio(t, 'datajuicer');
    maxLineLength(t);
    textLength(t);
    nonSpaceChars(t);
    const w = whitespaceSpans(t);
    gopherQuality(t, w);
    stopwordCount(w, stop);
    flaggedRatio(t, w, stop, cjk);
    // and as over jieba's words, with what its kernel adds (filters/jieba.ts jiebaSpanWords): the words with a
    // surrogate, left to gopherQuality, and those starting with an ASCII letter (as if; the counts are not used)
    if (k >= 2) {
      asJiebaWords(w);
      gopherQuality(t, w);
      stopwordCount(w, zhStop);
      flaggedRatio(t, w, stop, cjk);
    }
    countAlnumWords(w);
    finewebQuality(t, w);
    completeSentenceChars(t);
    wordsOutsideSentencesAndTables(t, w);
    dupSplit(t, 0, t.length, 1);
    dupSplit(t, 0, t.length, 2);
    prepareWords(w);
    // wordRepetition's lower-cased hashes (the rest of it is the n-gram kernel's)
    lowerHashes(w, new Int32Array(w.n), new Int32Array(w.n));
  }
  // Then the per-word loops that a long document makes hot (hashWords, stopwordCount, flaggedRatio with isFlagged, and
  // the Chinese substring count), called here until V8 compiles them. The first long document of a run compiled each
  // on-stack (its loop hot inside one call) and then, at the next calls, the whole function again: two compiles each
  // per process. The calls are short (~50 words): a call still running in the interpreter when its compiled code
  // comes is compiled on-stack if it runs long enough for V8 to look again (as a long document is). Both kinds of
  // words, as above.
  // (with words longer than any flagged entry that begin as one does: isFlagged's read past its list of lengths)
  const t = plain + 'thereafter overlong\n';
  const w = whitespaceSpans(t),
    jw = whitespaceSpans(t);
  asJiebaWords(jw);
  // and a flagged list of Chinese entries only (its index has no ASCII entries: an array of another kind in the same
  // field, which, first met after the compile, threw away the code of flaggedRatio)
  const zhFlagged = new Set(['汉字', '引號']);
  // and a Latin list with entries of one length (isFlagged's loop over them: its second round, first run after the
  // compile, threw the code that inlines it away), in one call of four: isFlagged, called for each word that begins
  // as an entry does, was compiled on its own too when every call used it (flaggedRatio's code inlines it)
  const flagged = new Set(['tha', 'the', 'over', 'a']);
  for (let k = 0; k < 160; k++) {
    const words = k & 1 ? jw : w;
    hashWords(words);
    stopwordCount(words, k % 3 ? stop : zhStop);
    flaggedRatio(t, words, k % 4 ? zhFlagged : flagged, cjk);
  }
  return [
    stop,
    zhStop,
    cjk,
    zhFlagged,
    flagged,
    w,
    jw,
    flaggedIndex(stop),
    flaggedIndex(zhFlagged),
    flaggedIndex(flagged),
  ];
}
/**
 * The priming's objects, kept (as filters/framework.ts PRIMED_RULES): the code compiled here holds their maps weakly,
 * and once they were collected flaggedRatio's code was thrown away ("weak objects") and compiled again.
 */
export const PRIMED_STATS = primeBranches();
