/**
 * Pure statistics over a text. Each returns a number; filters compare it with typed thresholds (filters/ops.ts).
 * Lengths are in Unicode code points (Python len()), never UTF-16 units.
 */
import { isJsSpace } from '../pipeline/document.ts';
import {
  codePoints,
  cpLength,
  textCpLength,
  linesOf as splitLines,
  isAlnum,
  isDjSpecial,
  isSpecialCategory,
  HashCounter,
  counterValues,
  hashString,
  hasAlpha,
  hasAlnum,
  charFlags,
  C_LETTER,
  C_PUNCT,
  C_SYMBOL,
  C_HAN,
} from './text.ts';

const counter = new HashCounter();

/** data-juicer alphanumeric_filter (char mode): Python isalnum() count / len(text). Unicode-aware: Han are letters. */
export function alnumRatio(text: string): number {
  const { cps, n } = codePoints(text);
  if (n === 0) return 0;
  let a = 0;
  for (let i = 0; i < n; i++) if (isAlnum(cps[i])) a++;
  return a / n;
}

/** data-juicer alphanumeric_filter (token mode): alnum chars / number of tokenizer tokens. */
export function alnumTokenRatio(text: string, numTokens: number): number {
  const { cps, n } = codePoints(text);
  let a = 0;
  for (let i = 0; i < n; i++) if (isAlnum(cps[i])) a++;
  return numTokens === 0 ? 0 : a / numTokens;
}

/** data-juicer average_line_length_filter: len(text) / len(text.splitlines()). */
export function avgLineLength(text: string): number {
  const lines = splitLines(text);
  return lines.length === 0 ? 0 : textCpLength(text) / lines.length;
}

/** data-juicer maximum_line_length_filter: max(len(line) for line in text.splitlines()). */
export function maxLineLength(text: string): number {
  // the longest of the splitLines() lines, in code points, in one scan
  let m = 0,
    k = 0;
  const L = text.length;
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
 * Only the n-grams that occur more than once need counting: a first pass sets, per n-gram, a bit of a bitmap 16 times
 * the number of n-grams (`seen`), and a second bit (`again`) when the first was already set; every occurrence of a
 * repeated n-gram then has its `again` bit set, so the positions without one hold n-grams that occur once (distinct
 * singles), and only the others (the repeated n-grams and the few that share a bit with another) are counted exactly.
 */
export function charRepetition(text: string, n = 10): number {
  const { cps, n: len } = codePoints(text);
  const total = len - n + 1;
  if (total <= 0) return 0;
  if (crH1.length < total) {
    crH1 = new Int32Array(Math.max(total, crH1.length * 2));
    crH2 = new Int32Array(crH1.length);
  }
  let bits = 10;
  while (1 << bits < 16 * total) bits++;
  const words = 1 << (bits - 5);
  if (crSeen.length < words) {
    crSeen = new Int32Array(words);
    crAgain = new Int32Array(words);
  } else {
    crSeen.fill(0, 0, words);
    crAgain.fill(0, 0, words);
  }
  const seen = crSeen,
    again = crAgain,
    H1 = crH1,
    H2 = crH2,
    shift = 32 - bits;
  // two rolling polynomial hashes over the window
  const B1 = 0x01000193,
    B2 = 0x5bd1e995;
  let p1 = 1,
    p2 = 1;
  for (let i = 0; i < n; i++) {
    p1 = Math.imul(p1, B1);
    p2 = Math.imul(p2, B2);
  }
  let h1 = 0,
    h2 = 0,
    nc = 0;
  for (let i = 0; i < len; i++) {
    const c = cps[i] + 1;
    h1 = (Math.imul(h1, B1) + c) | 0;
    h2 = (Math.imul(h2, B2) + c) | 0;
    if (i >= n) {
      const o = cps[i - n] + 1;
      h1 = (h1 - Math.imul(o, p1)) | 0;
      h2 = (h2 - Math.imul(o, p2)) | 0;
    }
    if (i >= n - 1) {
      const p = i - n + 1;
      H1[p] = h1;
      H2[p] = h2;
      const b = Math.imul(h1 ^ Math.imul(h2, 0x9e3779b1), 0x85ebca6b) >>> shift;
      const w = b >>> 5,
        m = 1 << (b & 31);
      if (seen[w] & m) {
        if ((again[w] & m) === 0) again[w] |= m;
      } else seen[w] |= m;
    }
  }
  for (let p = 0; p < total; p++) {
    const b = Math.imul(H1[p] ^ Math.imul(H2[p], 0x9e3779b1), 0x85ebca6b) >>> shift;
    if (again[b >>> 5] & (1 << (b & 31))) {
      H1[nc] = H1[p];
      H2[nc++] = H2[p];
    }
  }
  counter.reset(nc);
  for (let q = 0; q < nc; q++) counter.add(H1[q], H2[q]);
  return topRepetition(counterValues(counter), total, total - nc + counter.size);
}
let crH1 = new Int32Array(1024),
  crH2 = new Int32Array(1024),
  crSeen = new Int32Array(32),
  crAgain = new Int32Array(32);

/** The top-k share: `vals` holds the count of every repeated n-gram (and maybe some of the others), `distinct` is the number of distinct n-grams. */
function topRepetition(vals: Int32Array, total: number, distinct = vals.length): number {
  if (distinct === 0) return 0;
  // the top k (k <= number of repeated n-grams) are all repeated: sort only those
  let rep = 0;
  for (let i = 0; i < vals.length; i++) if (vals[i] > 1) vals[rep++] = vals[i];
  const k = Math.min(Math.floor(Math.sqrt(distinct)), rep);
  if (k <= 0) return 0;
  const r = vals.subarray(0, rep).sort();
  let s = 0;
  for (let i = rep - 1; i >= rep - k; i--) s += r[i];
  return s / total;
}

/** Special-character ratio: `datajuicer` = its SPECIAL_CHARACTERS set (contains 一 上 士); `category` = by Unicode category (never Han). */
export function specialCharRatio(text: string, mode: 'datajuicer' | 'category'): number {
  const { cps, n } = codePoints(text);
  if (n === 0) return 0;
  let s = 0;
  if (mode === 'datajuicer') for (let i = 0; i < n; i++) s += isDjSpecial(cps[i]) ? 1 : 0;
  else for (let i = 0; i < n; i++) s += isSpecialCategory(cps[i]) ? 1 : 0;
  return s / n;
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
export function wordRepetition(words: readonly string[], n = 10, lowerCase = false): number {
  const total = words.length - n + 1;
  if (total <= 0) return 0;
  counter.reset(total);
  prepareWords(words);
  let wh1 = hb1,
    wh2 = hb2;
  if (lowerCase) {
    if (wr1.length < words.length) {
      wr1 = new Int32Array(Math.max(words.length, wr1.length * 2));
      wr2 = new Int32Array(wr1.length);
    }
    wh1 = wr1;
    wh2 = wr2;
    for (let i = 0; i < words.length; i++) {
      if (LOWERABLE.test(words[i])) {
        const w = words[i].toLowerCase();
        wh1[i] = hashString(w);
        wh2[i] = hashString(w, 0x12345678);
      } else {
        wh1[i] = hb1[i];
        wh2[i] = hb2[i];
      }
    }
  }
  for (let i = 0; i < total; i++) {
    let h1 = 0x3c6ef372,
      h2 = 0x1b873593;
    for (let j = 0; j < n; j++) {
      h1 = Math.imul(h1 ^ wh1[i + j], 0x01000193);
      h2 = Math.imul(h2 ^ wh2[i + j], 0x5bd1e995) ^ (h2 >>> 13);
    }
    counter.add(h1, h2);
  }
  const vals = counterValues(counter);
  let rep = 0;
  for (let i = 0; i < vals.length; i++) if (vals[i] > 1) rep += vals[i];
  return rep / total;
}
const LOWERABLE = /[A-Z\u00c0-\u024f\u0370-\u052f]/;
let wr1 = new Int32Array(1024),
  wr2 = new Int32Array(1024);
let hb1 = new Int32Array(1024),
  hb2 = new Int32Array(1024);
function hashBuf(n: number): Int32Array {
  if (hb1.length < n) hb1 = new Int32Array(Math.max(n, hb1.length * 2));
  return hb1;
}
function hashBuf2(n: number): Int32Array {
  if (hb2.length < n) hb2 = new Int32Array(Math.max(n, hb2.length * 2));
  return hb2;
}

/** Number of words that contain at least one letter or digit. */
export function countAlnumWords(words: readonly string[]): number {
  let k = 0;
  for (const w of words) if (hasAlnum(w)) k++;
  return k;
}

/** Stopword occurrences (count-based, FineWeb-2 / Gopher style). Words are compared lower-cased. */
const stopIndex = new WeakMap<ReadonlySet<string>, { one: Uint8Array; lens: Uint8Array }>();
/** Single-code-unit entries as a table, and the lengths of the others: most words need no Set lookup. */
function stopIdx(stop: ReadonlySet<string>): { one: Uint8Array; lens: Uint8Array } {
  let x = stopIndex.get(stop);
  if (!x) {
    x = { one: new Uint8Array(0x10000), lens: new Uint8Array(64) };
    for (const w of stop) {
      if (w.length === 1) x.one[w.charCodeAt(0)] = 1;
      else x.lens[Math.min(w.length, 63)] = 1;
    }
    stopIndex.set(stop, x);
  }
  return x;
}
export function stopwordCount(words: readonly string[], stop: ReadonlySet<string>): number {
  let k = 0;
  const { one, lens } = stopIdx(stop);
  for (const w of words) {
    const L = w.length;
    if (L === 1 ? one[w.charCodeAt(0)] === 1 : lens[L < 63 ? L : 63] === 1 && stop.has(w)) k++;
    else if (w.charCodeAt(0) < 128 && w !== w.toLowerCase() && stop.has(w.toLowerCase())) k++;
  }
  return k;
}

/**
 * Occurrences of literal substrings, counted as a global search for their alternation (/a|b|c/gu) counts them: at each
 * position the first listed entry that occurs there, then on after it (no overlaps); a position with none moves on by
 * one character. A table of first code units skips most positions without looking at an entry.
 */
export class SubstringCounter {
  private first = new Uint8Array(0x10000);
  private byFirst = new Map<number, string[]>();
  constructor(entries: readonly string[]) {
    for (const w of entries) {
      if (!w) continue;
      const c = w.charCodeAt(0);
      this.first[c] = 1;
      const l = this.byFirst.get(c);
      if (l) l.push(w);
      else this.byFirst.set(c, [w]);
    }
  }
  count(text: string): number {
    const first = this.first;
    const L = text.length;
    let k = 0;
    for (let i = 0; i < L;) {
      const c = text.charCodeAt(i);
      if (first[c] === 1 && !(c >= 0xdc00 && c <= 0xdfff && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800)) {
        let hit = 0;
        for (const w of this.byFirst.get(c)!)
          if (text.startsWith(w, i)) {
            hit = w.length;
            break;
          }
        if (hit) {
          k++;
          i += hit;
          continue;
        }
      }
      i++;
    }
    return k;
  }
}

const asciiLower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);
const pairIndex = new WeakMap<ReadonlySet<string>, Uint8Array>();
/**
 * The first two code units of the entries, as (c0 << 7 | c1) for ASCII ones (c1 = 0 for a one-character entry): a
 * word starting with ASCII lowercases to an entry only if its first two units lowercase to the entry's (toLowerCase
 * maps an ASCII character to one ASCII character), unless its second unit is not ASCII.
 */
function flaggedPairs(flagged: ReadonlySet<string>): Uint8Array {
  let t = pairIndex.get(flagged);
  if (!t) {
    t = new Uint8Array(128 * 128);
    for (const e of flagged) {
      const a = e.charCodeAt(0);
      const b = e.length > 1 ? e.charCodeAt(1) : 0;
      if (a < 128 && b < 128) t[(a << 7) | b] = 1;
    }
    pairIndex.set(flagged, t);
  }
  return t;
}

/** Flagged-word ratio: occurrences of listed words (or, for Chinese, listed substrings) / number of words. */
export function flaggedRatio(
  text: string,
  words: readonly string[],
  flagged: ReadonlySet<string>,
  cjk: SubstringCounter | null,
): number {
  if (words.length === 0) return 0;
  let k = 0;
  // the word list is Latin (Chinese entries are matched as substrings): skip words that do not start with ASCII, and
  // words whose first two characters (ASCII, lowercased) begin no entry
  if (flagged.size) {
    const pairs = flaggedPairs(flagged);
    for (const w of words) {
      const a = w.charCodeAt(0);
      if (a >= 128) continue;
      const b = w.length > 1 ? w.charCodeAt(1) : 0;
      if (b < 128 && pairs[(asciiLower(a) << 7) | asciiLower(b)] === 0) continue;
      if (flagged.has(w.toLowerCase())) k++;
    }
  }
  if (cjk) k += cjk.count(text);
  return k / words.length;
}

// ---------- Gopher / FineWeb ----------
/** A word made only of punctuation, symbol or space characters (datatrove: every char in PUNCTUATION_SET). */
function PUNCT_ONLY(w: string): boolean {
  for (let i = 0; i < w.length; i++) {
    const c = w.codePointAt(i)!;
    if (c > 0xffff) i++;
    if ((charFlags(c) & (C_PUNCT | C_SYMBOL)) === 0 && !isJsSpace(c)) return false;
  }
  return w.length > 0;
}

/**
 * Gopher quality statistics (datatrove semantics, two differences). Lines are the non-empty lines: datatrove divides
 * bullet and ellipsis lines by all of text.splitlines(), so blank lines between paragraphs would halve the ratios;
 * Gopher means lines of text. alpha_words_ratio is over the non-symbol words (as n_words and mean_word_length are):
 * datatrove divides by every token, which for whitespace-split English rarely includes bare punctuation, but a word
 * segmenter (jieba) returns every ，。、（） and table bar as a token of its own, and Chinese reference pages then fall
 * under 0.735 on punctuation alone.
 */
export function gopherQuality(text: string, words: readonly string[]) {
  let nWords = 0,
    lenSum = 0,
    alphaWords = 0;
  prepareWords(words); // word lengths (shared with the repetition statistics of the same words)
  for (let i = 0; i < words.length; i++)
    if (!PUNCT_ONLY(words[i])) {
      nWords++;
      lenSum += wl[i + 1] - wl[i];
      if (hasAlpha(words[i])) alphaWords++;
    }
  const lines = splitLines(text);
  let nLines = 0,
    bullets = 0,
    ellipsis = 0;
  for (const l of lines) {
    // l.trimStart() starts with • or -, l.trimEnd() ends with ... or … (without building the trimmed strings)
    let b = 0,
      e = l.length;
    while (b < e && isJsSpace(l.charCodeAt(b))) b++;
    if (b < e) {
      nLines++;
      const c = l.charCodeAt(b);
      if (c === 0x2022 || c === 45) bullets++;
      while (isJsSpace(l.charCodeAt(e - 1))) e--;
      const d = l.charCodeAt(e - 1);
      if (d === 0x2026 || (d === 46 && e - b >= 3 && l.charCodeAt(e - 2) === 46 && l.charCodeAt(e - 3) === 46))
        ellipsis++;
    }
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
function count(text: string, sub: string): number {
  let k = 0,
    at = text.indexOf(sub);
  while (at >= 0) {
    k++;
    at = text.indexOf(sub, at + sub.length);
  }
  return k;
}

/** Gopher repetition statistics (datatrove semantics); `joiner` joins words of an n-gram ('' for unsegmented scripts). */
export function gopherRepetition(
  text: string,
  words: readonly string[],
  topNs: readonly number[],
  dupNs: readonly number[],
  joiner: string,
) {
  const len = textCpLength(text) || 1;
  // text.trim().split(/\n{2,}/) and text.split(/\n+/), counted without building the arrays
  const pd = dupSplit(text.trim(), 2);
  const ld = dupSplit(text, 1);
  const out: Record<string, number> = {
    dup_para_frac: pd.parts ? pd.elems / pd.parts : 0,
    dup_para_char_frac: pd.chars / len,
    dup_line_frac: ld.parts ? ld.elems / ld.parts : 0,
    dup_line_char_frac: ld.chars / len,
  };
  prepareWords(words);
  gN = 0;
  const tops = [...topNs].sort((a, b) => a - b),
    dups = [...dupNs].sort((a, b) => a - b);
  if (Math.min(2, ...tops, ...dups) >= 2) {
    const r = ngramStats(words, tops, dups, joiner);
    for (const n of tops) out[`top_${n}gram`] = r.top.get(n)! / len;
    for (const n of dups) out[`dup_${n}gram`] = r.dup.get(n)! / len;
    return out;
  }
  for (const n of tops) out[`top_${n}gram`] = topNgramFrac(words, n, joiner) / len;
  for (const n of dups) out[`dup_${n}gram`] = dupNgramChars(words, n) / len;
  return out;
}

/**
 * topNgramFrac and dupNgramChars for every n >= 2 in one sweep over n = 2, 3, ...: an n-gram can only occur twice
 * where its (n-1)-gram prefix does, so each round counts only the positions whose previous n-gram is repeated
 * ("candidates"). Positions whose n-gram occurs once change neither the most frequent n-gram (except when nothing
 * repeats: then the first n-gram, count 1) nor the duplicate characters, so the results equal the full passes.
 */
let cand = new Int32Array(1024),
  slots = new Int32Array(1024);
function ngramStats(words: readonly string[], tops: readonly number[], dups: readonly number[], joiner: string) {
  const top = new Map<number, number>(),
    dup = new Map<number, number>();
  const nW = words.length;
  const maxN = Math.max(0, ...tops, ...dups);
  if (cand.length < nW) {
    cand = new Int32Array(Math.max(nW, cand.length * 2));
    slots = new Int32Array(cand.length);
  }
  if (ga.length < nW) {
    ga = new Int32Array(Math.max(nW, ga.length * 2));
    gb = new Int32Array(ga.length);
  }
  // 1-gram hashes at every position; every position is a candidate
  for (let i = 0; i < nW; i++) {
    ga[i] = Math.imul(0x3c6ef372 ^ hb1[i], 0x01000193);
    gb[i] = Math.imul(0x1b873593 ^ hb2[i], 0x5bd1e995);
    cand[i] = i;
  }
  let nc = nW;
  const jl = cpLength(joiner);
  for (let n = 2; n <= maxN; n++) {
    const total = nW - n + 1;
    const isTop = tops.includes(n),
      isDup = dups.includes(n);
    if (total <= 0) {
      if (isTop) top.set(n, 0);
      if (isDup) dup.set(n, 0);
      continue;
    }
    // candidates that still start an n-gram, extended to n words
    while (nc > 0 && cand[nc - 1] >= total) nc--;
    const k = n - 1;
    for (let p = 0; p < nc; p++) {
      const i = cand[p];
      ga[i] = Math.imul(ga[i] ^ hb1[i + k], 0x01000193);
      gb[i] = Math.imul(gb[i] ^ hb2[i + k], 0x5bd1e995) ^ (gb[i] >>> 13);
    }
    // count the n-grams at the candidates (in position order: running counts equal the full pass's for repeated n-grams)
    counter.reset(nc);
    let best = 0,
      bestIdx = 0;
    for (let p = 0; p < nc; p++) {
      const i = cand[p];
      const c = counter.add(ga[i], gb[i]);
      slots[p] = counter.lastSlot;
      if (c > best) {
        best = c;
        bestIdx = i;
      }
    }
    if (isTop) {
      if (best <= 1) {
        best = 1;
        bestIdx = 0;
      }
      top.set(n, best * (wl[bestIdx + n] - wl[bestIdx] + jl * (n - 1)));
    }
    // keep the candidates whose n-gram is repeated
    let m = 0;
    for (let p = 0; p < nc; p++) if (counter.countAt(slots[p]) > 1) cand[m++] = cand[p];
    nc = m;
    if (isDup) {
      counter.reset(nc);
      let rep = 0,
        i = 0,
        p = 0;
      for (;;) {
        while (p < nc && cand[p] < i) p++;
        if (p >= nc) break;
        i = cand[p];
        if (counter.add(ga[i], gb[i]) > 1) {
          rep += wl[i + n] - wl[i];
          i += n;
        } else i++;
      }
      dup.set(n, rep);
    }
  }
  gN = 0;
  return { top, dup };
}
/**
 * findDuplicates over t.split(minRun === 1 ? /\n+/ : /\n{2,}/) without the parts that have no letter or digit (a line
 * of spaces between paragraphs, a table bar "|" or a rule "-----" is a separator, not a repeated line of text): parts,
 * parts already seen (elems) and their characters, without building the array of parts.
 */
function dupSplit(t: string, minRun: number): { parts: number; elems: number; chars: number } {
  const seen = new Set<string>();
  let parts = 0,
    elems = 0,
    chars = 0;
  let start = 0,
    i = 0;
  const L = t.length;
  for (;;) {
    let end = L,
      next = L + 1;
    while (i < L) {
      if (t.charCodeAt(i) === 10) {
        let j = i + 1;
        while (j < L && t.charCodeAt(j) === 10) j++;
        if (j - i >= minRun) {
          end = i;
          next = j;
          i = j;
          break;
        }
        i = j;
      } else i++;
    }
    const x = t.slice(start, end);
    if (!hasAlnum(x)) {
      // a blank line, or one of only symbols ("|", "-----": table and rule markup), is a separator, not a line of text
    } else if ((parts++, seen.has(x))) {
      elems++;
      chars += cpLength(x);
    } else seen.add(x);
    if (next > L) break;
    start = next;
  }
  return { parts, elems, chars };
}
// word hashes and cumulative code-point lengths, shared by the n-gram statistics of one call
let wl = new Int32Array(1024);
let wlWords: readonly string[] | null = null,
  wlN = -1;
/** Word hashes (hashString with both seeds) into hb1/hb2 and cumulative code-point lengths into wl; cached per words array. */
function prepareWords(words: readonly string[]): void {
  const n = words.length;
  if (wlWords === words && wlN === n) return;
  const h1 = hashBuf(n),
    h2 = hashBuf2(n);
  if (wl.length < n + 1) wl = new Int32Array(Math.max(n + 1, wl.length * 2));
  let acc = 0;
  wl[0] = 0;
  for (let i = 0; i < n; i++) {
    const w = words[i];
    let a = 0x811c9dc5,
      b = 0x12345678,
      k = w.length;
    for (let j = 0; j < w.length; j++) {
      const c = w.charCodeAt(j);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193);
      // a valid surrogate pair is one code point
      if (c >= 0xd800 && c <= 0xdbff && j + 1 < w.length) {
        const d = w.charCodeAt(j + 1);
        if (d >= 0xdc00 && d <= 0xdfff) k--;
      }
    }
    h1[i] = a;
    h2[i] = b;
    acc += k;
    wl[i + 1] = acc;
  }
  wlWords = words;
  wlN = n;
}
// n-gram hashes, grown in place from n to n+1 words: A[i] covers words[i .. i+n-1]
let ga = new Int32Array(1024),
  gb = new Int32Array(1024);
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
function topNgramFrac(words: readonly string[], n: number, joiner: string): number {
  const total = words.length - n + 1;
  if (total <= 0) return 0;
  ngramHashesUpTo(n, words.length);
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
function dupNgramChars(words: readonly string[], n: number): number {
  const total = words.length - n + 1;
  if (total <= 0) return 0;
  ngramHashesUpTo(n, words.length);
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
function endsWithTerminal(line: string): boolean {
  let e = line.length - 1;
  while (e >= 0) {
    const c = line.charCodeAt(e);
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
export function finewebQuality(text: string, words: readonly string[], shortLineLength = 30) {
  const all = text.split('\n');
  let n = 0,
    punct = 0,
    short = 0,
    dupChars = 0;
  const seen = new Set<string>();
  for (const l of all) {
    if (!hasNonSpace(l)) continue;
    n++;
    if (endsWithTerminal(l)) punct++;
    if (l.length <= shortLineLength || (l.length <= 2 * shortLineLength && cpLength(l) <= shortLineLength)) short++;
    if (seen.has(l)) dupChars += cpLength(l);
    else seen.add(l);
  }
  if (n === 0) return { line_punct_ratio: 0, short_line_ratio: 1, char_dup_ratio: 0, new_line_ratio: 0 };
  const nl = all.length - 1;
  const breaks = n - 1;
  const nonNl = textCpLength(text) - nl;
  return {
    line_punct_ratio: punct / n,
    short_line_ratio: short / n,
    char_dup_ratio: nonNl ? dupChars / nonNl : 0,
    new_line_ratio: words.length ? breaks / words.length : 0,
  };
}
function hasNonSpace(l: string): boolean {
  for (let i = 0; i < l.length; i++) {
    const c = l.charCodeAt(i);
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
export function meanWordLength(words: readonly string[]): number {
  let s = 0,
    k = 0;
  for (const w of words)
    if (hasAlnum(w)) {
      s += cpLength(w);
      k++;
    }
  return k ? s / k : 0;
}

const SENTENCE_END = new Set([...'。！？'].map((c) => c.codePointAt(0)!));
const SENTENCE_CLOSE = new Set([...'”’」』）》)'].map((c) => c.codePointAt(0)!));

/**
 * Characters of complete Chinese sentences: the non-whitespace code points of each run of a line that ends in 。！？
 * (closing quotes and brackets right after it included) and holds at least `minHan` Han characters. A title, a menu
 * path, a label or an English line adds nothing; a short section of two or three full sentences adds all of them
 * (zh-web's exemption from the word minimum, bench/results/prep-eval.md).
 */
export function completeSentenceChars(text: string, minHan = 4): number {
  let total = 0,
    run = 0,
    han = 0;
  const { cps, n } = codePoints(text);
  for (let i = 0; i < n; i++) {
    const c = cps[i];
    if (c === 10 || c === 13) {
      run = han = 0;
      continue;
    }
    if (!isJsSpace(c)) run++;
    if (charFlags(c) & C_HAN) han++;
    if (SENTENCE_END.has(c)) {
      while (i + 1 < n && SENTENCE_CLOSE.has(cps[i + 1])) {
        i++;
        run++;
      }
      if (han >= minHan) total += run;
      run = han = 0;
    }
  }
  return total;
}

/**
 * The complete Chinese sentences of a text, as UTF-16 [start, end) pairs: the same runs as completeSentenceChars (a run
 * of a line ending in 。！？, closing quotes and brackets after it included, with at least `minHan` Han characters).
 */
export function sentenceRuns(text: string, minHan = 4): number[] {
  const runs: number[] = [];
  let runStart = 0,
    han = 0;
  const L = text.length;
  for (let i = 0; i < L;) {
    let c = text.charCodeAt(i++);
    if (c === 10 || c === 13) {
      runStart = i;
      han = 0;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i < L) {
      const d = text.charCodeAt(i);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (charFlags(c) & C_HAN) han++;
    // 。！？ (SENTENCE_END), then the closing quotes and brackets of SENTENCE_CLOSE
    else if (c === 0x3002 || c === 0xff01 || c === 0xff1f) {
      while (i < L && SENTENCE_CLOSE.has(text.charCodeAt(i))) i++;
      if (han >= minHan) runs.push(runStart, i);
      runStart = i;
      han = 0;
    }
  }
  return runs;
}

/**
 * The words of `text` (its non-whitespace tokens in order, as wordsOf returns them) that lie outside its complete
 * Chinese sentences (sentenceRuns): titles, labels, menu paths, table cells, code, English lines. zh-web measures
 * duplicated n-grams on them: repeated phrases inside distinct sentences are ordinary in technical Chinese prose (exact
 * repeated sentences are removed before, by remove_repeat_sentences), repeated labels, menus and listings are
 * boilerplate (bench/results/prep-eval.md). A word not found next in the text (after whitespace) is an error.
 */
export function wordsOutsideSentences(text: string, words: readonly string[], minHan = 4): string[] {
  const runs = sentenceRuns(text, minHan);
  const out: string[] = [];
  let at = 0,
    r = 0;
  for (const w of words) {
    const wl = w.length,
      w0 = w.charCodeAt(0);
    while (at < text.length && text.charCodeAt(at) !== w0 && isJsSpace(text.charCodeAt(at))) at++;
    // the segmenter's words are slices of the text: a check of their first and last code unit is enough
    if (text.charCodeAt(at) !== w0 || text.charCodeAt(at + wl - 1) !== w.charCodeAt(wl - 1)) {
      // only whitespace lies between two words
      const start = at;
      while (at < text.length && !text.startsWith(w, at)) at++;
      if (at >= text.length || text.slice(start, at).trim() !== '')
        throw new Error(`wordsOutsideSentences: word ${JSON.stringify(w)} not found at ${start}`);
    }
    const end = at + wl;
    while (r < runs.length && runs[r + 1] <= at) r += 2;
    if (!(r < runs.length && runs[r] <= at && end <= runs[r + 1])) out.push(w);
    at = end;
  }
  return out;
}

/** Characters of duplicated n-grams (datatrove find_all_duplicate, as gopherRepetition) / the code points of `text`. */
export function dupNgramShares(text: string, words: readonly string[], ns: readonly number[], joiner: string) {
  const len = textCpLength(text) || 1;
  prepareWords(words);
  gN = 0;
  const dup = ngramStats(
    words,
    [],
    [...ns].sort((a, b) => a - b),
    joiner,
  ).dup;
  const out: Record<string, number> = {};
  for (const n of ns) out[`dup_${n}gram`] = dup.get(n)! / len;
  return out;
}

export { charFlags, C_LETTER };
