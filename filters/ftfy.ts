/**
 * ftfy's `fix_text` (6.3.1, the fixer data-juicer's fix_unicode_mapper calls with its defaults), reimplemented: text is
 * fixed line by line ("segments" up to 1M code points); each segment is fixed until it stops changing by: HTML entity
 * decoding (only while no "<" has been seen in the text), mojibake repair (when the badness heuristic fires: re-encode
 * in the first single-byte encoding that can hold the segment and decode as UTF-8, with ftfy's byte repairs; else
 * decode embedded UTF-8 runs; else Latin-1 -> Windows-1252), C1 controls -> Windows-1252, Latin ligatures, full/half
 * width forms, curly quotes, line breaks, surrogates, terminal escapes, control characters, then Unicode normalisation.
 * The decisions' data (badness regex, encodings, entity table) comes from ftfy itself through
 * filters/dj-parity/gen_tables.py; filters/ftfy.test.ts checks this module against ftfy's own output.
 */
import { createRequire } from 'node:module';

interface Tables {
  source: string;
  charmapEncodings: string[];
  charmaps: Record<string, string>;
  badness: string;
  badnessChars: string;
  badnessMaxLen: number;
  utf8Detector: string;
  alteredUtf8: string;
  lossyUtf8: string;
  aGraveWord: string;
  ansi: string;
  htmlEntities: Record<string, string>;
  invalidCharrefs: Record<string, string>;
  invalidCodepoints: number[];
  ligatures: Record<string, string>;
  widthMap: Record<string, string>;
  controlChars: number[];
}
const T = createRequire(import.meta.url)('./ftfy-tables.json') as Tables;
export const FTFY_SOURCE = T.source;

// ---------- regular expressions (ftfy's, translated by the generator) ----------
/** Every alternative of the badness regex needs one of T.badnessChars (the generator checks it): BADNESS_CHAR. */
/** In UTF-16 units: twice the longest match in code points (astral characters take two). */
const MAX_LEN = 2 * T.badnessMaxLen;
const UTF8_DETECTOR = new RegExp(T.utf8Detector, 'u');
const UTF8_DETECTOR_G = new RegExp(T.utf8Detector, 'gu');
// byte patterns, matched against "binary strings" (one char per byte)
const ALTERED_UTF8 = new RegExp(T.alteredUtf8);
const ALTERED_UTF8_G = new RegExp(T.alteredUtf8, 'g');
const LOSSY_UTF8_G = new RegExp(T.lossyUtf8, 'g');
const A_GRAVE_WORD_G = new RegExp(T.aGraveWord, 'g');
const ANSI_G = new RegExp(T.ansi, 'gu');
const HTML_ENTITY = /&#?[0-9A-Za-z]{1,24};/;
const HTML_ENTITY_G = /&#?[0-9A-Za-z]{1,24};/g;
const C1_G = /[\u0080-\u009f]/g;

/**
 * ftfy's badness heuristic: does the text look like it contains mojibake? Every match holds one of BADNESS_CHARS
 * (all non-ASCII) and is at most MAX_LEN units long, so it starts at most MAX_LEN - 1 units before one; of those
 * starts, the regex (sticky) runs only where the first two characters fit one of its alternatives (PAIRS below): in
 * real text most badness characters (box drawing, curly quotes, "•") sit beside characters no alternative allows.
 */
export function isBad(text: string, segmentStarts = false): boolean {
  const L = text.length;
  let done = 0; // starts below this were checked
  for (let i = nextBadnessChar(text, 0); i >= 0; i = nextBadnessChar(text, i + 1)) {
    // with segmentStarts, also true where a line (a segment of fixText) starts with "Ã " or "Â " (the "^" alternative)
    if (segmentStarts && i > 0 && text.charCodeAt(i - 1) === 0x0a && isSegmentStartBad(text, i)) return true;
    for (let p = Math.max(done, i - (MAX_LEN - 1)); p <= i; p++) {
      if (canStartMatch(text, p, L)) {
        BADNESS_AT.lastIndex = p;
        if (BADNESS_AT.test(text)) return true;
      }
    }
    done = i + 1;
  }
  return false;
}
const BADNESS_AT = new RegExp(T.badness, 'uy');
/** BADNESS_CHARS as a table (all of them are BMP characters, none a surrogate: the generator's class). */
const BADNESS_CHAR = new Uint8Array(0x10000);
/** Is BMP code unit c one of BADNESS_CHARS? */
export const isBadnessChar = (c: number): boolean => BADNESS_CHAR[c] === 1;
/** Index of the first character of BADNESS_CHARS at or after `from`, -1 if none. */
function nextBadnessChar(text: string, from: number): number {
  const L = text.length;
  for (let i = from; i < L; i++) if (BADNESS_CHAR[text.charCodeAt(i)] === 1) return i;
  return -1;
}

/**
 * The badness regex read as its top-level alternatives, each a list of items: one character class or literal (a
 * regex source for one code point), optional (`(?:X)?`) or not, or the "^" anchor. Throws on any other syntax, so a
 * new ftfy table that does not fit this reading fails at load instead of being misread.
 */
export function badnessAlternatives(src: string = T.badness): { tok: string; optional: boolean }[][] {
  if (!src.startsWith('(?:') || !src.endsWith(')')) throw new Error('ftfy badness regex: expected (?:...|...)');
  const body = src.slice(3, -1);
  const alts: { tok: string; optional: boolean }[][] = [];
  let items: { tok: string; optional: boolean }[] = [];
  let i = 0;
  const token = (): string => {
    const c = body[i];
    if (c === '[') {
      let j = i + 1;
      if (body[j] === '^') j++;
      if (body[j] === ']') j++;
      while (body[j] !== ']') {
        if (j >= body.length) throw new Error('ftfy badness regex: unclosed class');
        j += body[j] === '\\' ? 2 : 1;
      }
      const t = body.slice(i, j + 1);
      i = j + 1;
      return t;
    }
    if (c === '\\') {
      const m = /^\\(?:u\{[0-9a-fA-F]+\}|[^u])/.exec(body.slice(i));
      if (!m) throw new Error('ftfy badness regex: unknown escape at ' + i);
      i += m[0].length;
      return m[0];
    }
    if ('()|?*+{}.$'.includes(c)) throw new Error(`ftfy badness regex: unexpected "${c}" at ${i}`);
    i++;
    return c;
  };
  while (i < body.length) {
    const c = body[i];
    if (c === '|') {
      alts.push(items);
      items = [];
      i++;
    } else if (c === '^') {
      items.push({ tok: '^', optional: false });
      i++;
    } else if (body.startsWith('(?:', i)) {
      i += 3;
      const t = token();
      if (body.slice(i, i + 2) !== ')?') throw new Error('ftfy badness regex: only (?:X)? groups of one item');
      i += 2;
      items.push({ tok: t, optional: true });
    } else {
      const t = token();
      if (i < body.length && '?*+{'.includes(body[i])) throw new Error('ftfy badness regex: quantifier at ' + i);
      items.push({ tok: t, optional: false });
    }
  }
  alts.push(items);
  return alts;
}
/**
 * The BMP code units (surrogates excluded) that one token of badnessAlternatives matches, as sorted disjoint
 * inclusive ranges [lo, hi, lo, hi, ...]: a class ("[...]" or "[^...]" of code points, \\u{...} and one-character
 * escapes, ranges) or one literal, read from its source (the test compares this with the token's own regex on every
 * code unit).
 */
const UNIT_ESCAPE = /\\u\{([0-9a-fA-F]+)\}/y;
export function tokenRanges(tok: string): number[] {
  const escapes: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11 };
  let i = 0;
  const atom = (): number => {
    if (tok[i] === '\\') {
      UNIT_ESCAPE.lastIndex = i;
      const m = UNIT_ESCAPE.exec(tok);
      if (m) {
        i += m[0].length;
        return parseInt(m[1], 16);
      }
      const e = tok[i + 1];
      if (/[A-Za-z0-9]/.test(e) && !(e in escapes)) throw new Error(`ftfy badness regex: escape \\${e} in ${tok}`);
      i += 2;
      return escapes[e] ?? e.charCodeAt(0);
    }
    const cp = tok.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    return cp;
  };
  let ranges: [number, number][] = [];
  let negated = false;
  if (tok[0] !== '[') {
    const cp = atom();
    if (i !== tok.length) throw new Error('ftfy badness regex: not one character: ' + tok);
    ranges.push([cp, cp]);
  } else {
    i = 1;
    negated = tok[i] === '^';
    if (negated) i++;
    while (i < tok.length - 1) {
      const lo = atom();
      let hi = lo;
      if (tok[i] === '-' && i + 1 < tok.length - 1) {
        i++;
        hi = atom();
      }
      ranges.push([lo, hi]);
    }
  }
  // sort, merge, complement when negated, clip to the BMP, cut the surrogates out
  ranges.sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of ranges) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  ranges = merged;
  if (negated) {
    const comp: [number, number][] = [];
    let next = 0;
    for (const [lo, hi] of ranges) {
      if (lo > next) comp.push([next, lo - 1]);
      next = hi + 1;
    }
    if (next <= 0x10ffff) comp.push([next, 0x10ffff]);
    ranges = comp;
  }
  const out: number[] = [];
  for (const [lo, hi0] of ranges) {
    const hi = Math.min(hi0, 0xffff);
    if (lo > hi) continue;
    if (hi < 0xd800 || lo > 0xdfff) out.push(lo, hi);
    else {
      if (lo < 0xd800) out.push(lo, 0xd7ff);
      if (hi > 0xdfff) out.push(0xe000, hi);
    }
  }
  return out;
}
// BADNESS_CHAR from the class's ranges as the badness regex's reading gives them (tokenRanges; filters/ftfy.test.ts
// checks the table against the class as a regular expression)
{
  const r = tokenRanges('[' + T.badnessChars + ']');
  for (let k = 0; k < r.length; k += 2) BADNESS_CHAR.fill(1, r[k], r[k + 1] + 1);
}
/**
 * PAIRS: the alternatives' second items (with the third where the second is optional) are numbered as sets, bit k
 * for set k; FIRST[a] holds the bits of the sets that may follow a code unit a at the start of an alternative, NEXT[d]
 * the bits of the sets holding d. The top bit stands for an alternative of one character (it follows anything). A
 * match starting at p thus needs FIRST[text[p]] & NEXT[text[p + 1]] (a surrogate next, an astral character, is let
 * through to the regex).
 */
const FIRST = new Int32Array(0x10000);
const NEXT = new Int32Array(0x10000);
const ALONE = 1 << 31;
buildPairs();
function buildPairs(): void {
  const setIds = new Map<string, number>();
  NEXT.fill(ALONE);
  for (const alt of badnessAlternatives()) {
    const items = alt[0]?.tok === '^' ? alt.slice(1) : alt; // "^" alternatives are let through anywhere (superset)
    if (items.length === 0 || items[0].optional || items.some((x) => x.tok === '^'))
      throw new Error('ftfy badness regex: an alternative without a leading item');
    let bit = ALONE;
    if (items.length > 1) {
      if (items[1].optional && (items.length < 3 || items[2].optional))
        throw new Error('ftfy badness regex: an optional item without a required one after it');
      const toks = items[1].optional ? [items[1].tok, items[2].tok] : [items[1].tok];
      const key = toks.join('\u0000');
      let id = setIds.get(key);
      if (id === undefined) {
        id = setIds.size;
        if (id >= 31) throw new Error('ftfy badness regex: more than 31 follow sets');
        setIds.set(key, id);
        for (const t of toks) orBits(NEXT, tokenRanges(t), 1 << id);
      }
      bit = 1 << id;
    }
    orBits(FIRST, tokenRanges(items[0].tok), bit);
  }
}
/** dst[c] |= bit for every c in the ranges. */
function orBits(dst: Int32Array, ranges: number[], bit: number): void {
  for (let r = 0; r < ranges.length; r += 2) for (let c = ranges[r]; c <= ranges[r + 1]; c++) dst[c] |= bit;
}
/** Can a badness match start at p (see PAIRS)? A necessary condition, not a sufficient one. */
function canStartMatch(text: string, p: number, L: number): boolean {
  const f = FIRST[text.charCodeAt(p)];
  if (f === 0) return false;
  if (p + 1 >= L) return (f & ALONE) !== 0;
  const d = text.charCodeAt(p + 1);
  return (d >= 0xd800 && d <= 0xdfff) || (f & NEXT[d]) !== 0;
}

// ---------- single-byte encodings ----------
const ENCODINGS = T.charmapEncodings;
const N_ENC = ENCODINGS.length;
const LATIN1 = ENCODINGS.indexOf('latin-1');
/** For each BMP character, a bit per encoding that can encode it (as ftfy's possible_encoding regexes allow). */
const POSSIBLE = new Uint16Array(0x10000);
const ENCODE: Map<number, number>[] = [];
for (let e = 0; e < N_ENC; e++) {
  const table = T.charmaps[ENCODINGS[e]];
  const enc = new Map<number, number>();
  for (let b = 255; b >= 0; b--) enc.set(table.charCodeAt(b), b);
  ENCODE.push(enc);
  const bit = 1 << e;
  for (let c = 0; c < 0x80; c++) if (c !== 0x1a) POSSIBLE[c] |= bit;
  for (let b = 0x80; b < 0x100; b++) POSSIBLE[table.charCodeAt(b)] |= bit;
  POSSIBLE[table.charCodeAt(0x1a)] |= bit;
}
const ALL_ENC = (1 << N_ENC) - 1;
function possibleEncodings(text: string): number {
  let m = ALL_ENC;
  for (let i = 0; i < text.length && m; i++) m &= POSSIBLE[text.charCodeAt(i)]; // surrogates (astral characters): 0
  return m;
}
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}
/** Encode in single-byte encoding e (the text is known to be encodable): a binary string. */
function encodeBinary(text: string, e: number): string {
  const enc = ENCODE[e];
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += String.fromCharCode(c < 0x80 ? c : enc.get(c)!);
  }
  return out;
}
function binaryBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** ftfy's "utf-8-variants": strict UTF-8 plus Java's C0 80 for U+0000 and CESU-8 surrogate pairs. Throws on invalid bytes. */
function decodeUtf8Variants(b: Uint8Array): string {
  let out = '';
  let seg = 0;
  let i = 0;
  const n = b.length;
  while (i < n) {
    if (b[i] === 0xc0 && i + 1 < n && b[i + 1] === 0x80) {
      out += utf8Strict.decode(b.subarray(seg, i)) + '\u0000';
      i += 2;
      seg = i;
    } else if (
      b[i] === 0xed &&
      i + 5 < n &&
      b[i + 1] >= 0xa0 &&
      b[i + 1] <= 0xaf &&
      b[i + 2] >= 0x80 &&
      b[i + 2] <= 0xbf &&
      b[i + 3] === 0xed &&
      b[i + 4] >= 0xb0 &&
      b[i + 4] <= 0xbf &&
      b[i + 5] >= 0x80 &&
      b[i + 5] <= 0xbf
    ) {
      const cp =
        ((b[i + 1] & 0x0f) << 16) + ((b[i + 2] & 0x3f) << 10) + ((b[i + 4] & 0x0f) << 6) + (b[i + 5] & 0x3f) + 0x10000;
      out += utf8Strict.decode(b.subarray(seg, i)) + String.fromCodePoint(cp);
      i += 6;
      seg = i;
    } else i++;
  }
  return out + utf8Strict.decode(b.subarray(seg));
}

/** restore_byte_a0: spaces that were probably U+00A0 inside UTF-8 mojibake get their byte back. */
function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_G, '\u00c3\u00a0 ').replace(ALTERED_UTF8_G, (m) => m.replaceAll(' ', '\u00a0'));
}
/** replace_lossy_sequences: UTF-8 sequences partly lost to "?" or U+FFFD (0x1A in sloppy codecs) become U+FFFD. */
function replaceLossySequences(bin: string): string {
  return bin.replace(LOSSY_UTF8_G, '\u00ef\u00bf\u00bd');
}

const SLOPPY_1252 = T.charmaps['sloppy-windows-1252'];
function fixC1Controls(text: string): string {
  return text.replace(C1_G, (c) => SLOPPY_1252[c.charCodeAt(0)]);
}
/** Latin-1 bytes decoded as (strict) Windows-1252; null where a byte is undefined there. */
function latin1AsWindows1252(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x81 || c === 0x8d || c === 0x8f || c === 0x90 || c === 0x9d) return null;
    out += c >= 0x80 && c < 0xa0 ? SLOPPY_1252[c] : text[i];
  }
  return out;
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || isAscii(text) || !isBad(text)) return text;
  const possible = possibleEncodings(text);
  for (let e = 0; e < N_ENC; e++) {
    if (!(possible & (1 << e))) continue;
    const name = ENCODINGS[e];
    let bin = encodeBinary(text, e);
    if (name !== 'macroman' && ALTERED_UTF8.test(bin)) bin = restoreByteA0(bin);
    if (name.startsWith('sloppy')) bin = replaceLossySequences(bin);
    try {
      const bytes = binaryBytes(bin);
      return bin.includes('\u00ed') || bin.includes('\u00c0') ? decodeUtf8Variants(bytes) : utf8Strict.decode(bytes);
    } catch {
      // not UTF-8 this way: try the next encoding
    }
  }
  if (UTF8_DETECTOR.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  if (possible & (1 << LATIN1)) {
    // in Latin-1 but not Windows-1252 (ftfy lists only "sloppy-windows-1252"): C1 controls meant as Windows-1252
    const fixed = latin1AsWindows1252(text);
    if (fixed !== null && fixed !== text) return fixed;
  }
  if (/[\u0080-\u009f]/.test(text)) return fixC1Controls(text);
  return text;
}
/** ftfy.fix_encoding: repeat the one-step repair until the text stops changing. */
export function fixEncoding(text: string): string {
  for (;;) {
    const next = fixEncodingOneStep(text);
    if (next === text) return text;
    text = next;
  }
}
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_G, (m) => (m.length < text.length && isBad(m) ? fixEncoding(m) : m));
}

// ---------- HTML entities ----------
const ENTITIES = new Map(Object.entries(T.htmlEntities));
const INVALID_CHARREFS = new Map(Object.entries(T.invalidCharrefs).map(([k, v]) => [Number(k), v]));
const INVALID_CODEPOINTS = new Set(T.invalidCodepoints);
function unescapeEntity(m: string): string {
  const named = ENTITIES.get(m);
  if (named !== undefined) return named;
  if (m[1] !== '#') return m;
  // Python's html.unescape on "&#...;": only an all-digit (or x + all-hex) reference decodes; a result with ";" in
  // it (a partial match, or "&#59;" itself) leaves the text as it was
  const body = m.slice(2, -1);
  let num: number;
  if (/^[0-9]+$/.test(body)) num = parseInt(body, 10);
  else if (/^[xX][0-9a-fA-F]+$/.test(body)) num = parseInt(body.slice(1), 16);
  else return m;
  let r: string;
  const inv = INVALID_CHARREFS.get(num);
  if (inv !== undefined) r = inv;
  else if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) r = '\ufffd';
  else if (INVALID_CODEPOINTS.has(num)) r = '';
  else r = String.fromCodePoint(num);
  return r.includes(';') ? m : r;
}
export function unescapeHtml(text: string): string {
  return text.indexOf('&') < 0 ? text : text.replace(HTML_ENTITY_G, unescapeEntity);
}

// ---------- character fixers ----------
function charClass(chars: Iterable<string>): RegExp {
  return new RegExp('[' + [...chars].map((c) => '\\u{' + c.codePointAt(0)!.toString(16) + '}').join('') + ']', 'gu');
}
const LIGATURES = new Map(Object.entries(T.ligatures));
const LIGATURES_G = charClass(LIGATURES.keys());
const WIDTH = new Map(Object.entries(T.widthMap));
const WIDTH_G = charClass(WIDTH.keys());
const CONTROL_G = charClass(T.controlChars.map((c) => String.fromCodePoint(c)));
const LONE_SURROGATE_G = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/**
 * Characters that one of the enabled fixers after fix_encoding may change (a cheap pre-test per text): a text without
 * one comes out of them unchanged. FIXABLE holds a bit per fixer for each code unit; surrogates count only when lone.
 */
const FIX_C1 = 1;
const FIX_LIGATURES = 2;
const FIX_WIDTH = 4;
const FIX_QUOTES = 8;
const FIX_BREAKS = 16;
const FIX_SURROGATES = 32;
const FIX_ESCAPES = 64;
const FIX_CONTROLS = 128;
const FIXABLE = new Uint8Array(0x10000);
{
  const mark = (bit: number, units: Iterable<number>) => {
    for (const u of units) FIXABLE[u] |= bit;
  };
  const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, k) => lo + k);
  const units = (chars: Iterable<string>) => [...chars].map((ch) => ch.charCodeAt(0)); // all BMP (ftfy's tables)
  mark(FIX_C1, range(0x80, 0x9f));
  mark(FIX_LIGATURES, units(LIGATURES.keys()));
  mark(FIX_WIDTH, units(WIDTH.keys()));
  mark(FIX_QUOTES, [0x02bc, ...range(0x2018, 0x201f)]);
  mark(FIX_BREAKS, [0x0d, 0x2028, 0x2029, 0x85]);
  mark(FIX_SURROGATES, range(0xd800, 0xdfff));
  mark(FIX_ESCAPES, [0x1b]);
  mark(FIX_CONTROLS, T.controlChars);
}
function fixableMask(c: FtfyConfig): number {
  return (
    (c.fixC1Controls ? FIX_C1 : 0) |
    (c.fixLatinLigatures ? FIX_LIGATURES : 0) |
    (c.fixCharacterWidth ? FIX_WIDTH : 0) |
    (c.uncurlQuotes ? FIX_QUOTES : 0) |
    (c.fixLineBreaks ? FIX_BREAKS : 0) |
    (c.fixSurrogates ? FIX_SURROGATES : 0) |
    (c.removeTerminalEscapes ? FIX_ESCAPES : 0) |
    (c.removeControlChars ? FIX_CONTROLS : 0)
  );
}
/** Does the text hold a character that one of the fixers in `mask` may change? */
function hasFixable(text: string, mask: number): boolean {
  const L = text.length;
  for (let i = 0; i < L; i++) {
    const u = text.charCodeAt(i);
    const b = FIXABLE[u] & mask;
    if (b === 0) continue;
    if (b !== FIX_SURROGATES) return true;
    // a surrogate: only a lone one is fixable
    if (u < 0xdc00 && i + 1 < L) {
      const v = text.charCodeAt(i + 1);
      if (v >= 0xdc00 && v <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}
/** Any UTF-16 surrogate (lone or in a pair): the lone-surrogate fix has nothing to do without one. */
const ANY_SURROGATE = /[\ud800-\udfff]/;

export interface FtfyConfig {
  /** 'auto' (ftfy's default): decode entities until a "<" is seen. */
  unescapeHtml: 'auto' | boolean;
  removeTerminalEscapes: boolean;
  fixEncoding: boolean;
  fixC1Controls: boolean;
  fixLatinLigatures: boolean;
  fixCharacterWidth: boolean;
  uncurlQuotes: boolean;
  fixLineBreaks: boolean;
  fixSurrogates: boolean;
  removeControlChars: boolean;
  /** Unicode normalisation of the result; a function for custom ones (zh-web's NFKC keeping CJK punctuation). */
  normalization: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' | null | Normalizer;
  maxDecodeLength: number;
}
export const FTFY_DEFAULTS: FtfyConfig = {
  unescapeHtml: 'auto',
  removeTerminalEscapes: true,
  fixEncoding: true,
  fixC1Controls: true,
  fixLatinLigatures: true,
  fixCharacterWidth: true,
  uncurlQuotes: true,
  fixLineBreaks: true,
  fixSurrogates: true,
  removeControlChars: true,
  normalization: 'NFC',
  maxDecodeLength: 1_000_000,
};

function fixSegment(seg: string, c: FtfyConfig, unescape: boolean): string {
  let text = seg;
  for (;;) {
    const orig = text;
    if (unescape) text = unescapeHtml(text);
    if (c.fixEncoding) text = fixEncoding(text);
    text = fixChars(text, c);
    if (text === orig) return text;
  }
}

/** Position after `n` code points from `pos`. */
function advance(text: string, pos: number, n: number): number {
  while (n-- > 0 && pos < text.length) {
    const c = text.charCodeAt(pos);
    pos += c >= 0xd800 && c < 0xdc00 && pos + 1 < text.length ? 2 : 1;
  }
  return pos;
}

/** A segment that starts with "Ã " or "Â " can be bad on its own (the badness regex's "^" alternative). */
function isSegmentStartBad(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return (c === 0xc2 || c === 0xc3) && text.charCodeAt(i + 1) === 0x20;
}
/** True when fixing no segment of `text` would decode entities or repair its encoding. */
function noEncodingWork(text: string, c: FtfyConfig, unescape: boolean): boolean {
  if (unescape && text.indexOf('&') >= 0 && HTML_ENTITY.test(text)) return false;
  // a match inside one segment is a match in the whole text; the regex's only anchor, "^", at each line start
  return !c.fixEncoding || isAscii(text) || !isBad(text, true);
}
/**
 * The fixers in order, each only where the text holds a unit it may change (fixableBits); the C1 fix makes Windows-1252
 * characters (curly quotes among them), so after it every later fixer runs; the ligature and width fixers add the bits
 * of what they may write (LIGATURES_OUT, WIDTH_OUT); the later fixers write no unit that a fixer after them changes.
 */
function fixChars(text: string, c: FtfyConfig): string {
  let t = text;
  const mask = fixableMask(c);
  let bits = fixableBits(t, mask);
  if (bits !== 0) {
    if (bits & FIX_C1) {
      t = fixC1Controls(t);
      bits = mask;
    }
    if (bits & FIX_LIGATURES) {
      t = t.replace(LIGATURES_G, (ch) => LIGATURES.get(ch)!);
      bits |= LIGATURES_OUT & mask;
    }
    if (bits & FIX_WIDTH) {
      t = t.replace(WIDTH_G, (ch) => WIDTH.get(ch)!);
      bits |= WIDTH_OUT & mask;
    }
    if (bits & FIX_QUOTES) t = t.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
    if (bits & FIX_BREAKS) t = t.replaceAll('\r\n', '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');
    if (bits & FIX_SURROGATES && ANY_SURROGATE.test(t)) t = t.replace(LONE_SURROGATE_G, '\ufffd');
    if (bits & FIX_ESCAPES) t = t.replace(ANSI_G, '');
    if (bits & FIX_CONTROLS) t = t.replace(CONTROL_G, '');
  }
  return normalized(t, c);
}
/** The bits of the fixers in `mask` that may change a unit of the text (surrogates count only when lone). */
function fixableBits(text: string, mask: number): number {
  const L = text.length;
  let bits = 0;
  for (let i = 0; i < L; i++) {
    const u = text.charCodeAt(i);
    const b = FIXABLE[u] & mask;
    if (b === 0) continue;
    if (b === FIX_SURROGATES && u < 0xdc00 && i + 1 < L) {
      const v = text.charCodeAt(i + 1);
      if (v >= 0xdc00 && v <= 0xdfff) {
        i++;
        continue;
      }
    }
    bits |= b;
  }
  return bits;
}
/** The fixers' bits of what the ligature and width fixers write (ŉ -> ʼn gives a quote to uncurl). */
const LIGATURES_OUT = outputBits(LIGATURES.values());
const WIDTH_OUT = outputBits(WIDTH.values());
function outputBits(outs: Iterable<string>): number {
  let bits = 0;
  for (const out of outs) for (let i = 0; i < out.length; i++) bits |= FIXABLE[out.charCodeAt(i)];
  return bits;
}
function normalized(t: string, c: FtfyConfig): string {
  const nz = c.normalization;
  return nz ? (typeof nz === 'function' ? nz(t) : t.normalize(nz)) : t;
}

/** ftfy.fix_text. */
export function fixText(text: string, config: Partial<FtfyConfig> = {}): string {
  return fixWith(text, { ...FTFY_DEFAULTS, ...config });
}

/**
 * A function normalisation may say which BMP code units it never changes: `inert[u] === 1` where a text made only of
 * such units comes out of it unchanged (zh-web's nfkcKeepCjkPunct does).
 */
export type Normalizer = ((s: string) => string) & { inert?: Uint8Array };
/**
 * Units a standard normalisation (NFC, NFKC, NFD, NFKD) leaves alone in any text made of them (Unicode's quick check
 * is Yes and the combining class 0, so one is never composed with, reordered against or decomposed): letters,
 * punctuation and symbols of U+0000-052F, U+2000-2BFF and U+3000-30FF that the form leaves as they are, except marks
 * (\p{M}: every non-zero combining class and the composing ones), and by range the CJK ideographs and Hangul
 * syllables (a trailing jamo, outside these ranges, is not inert). 0 for everything else.
 */
export function inertUnits(form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): Uint8Array {
  let t = INERT_UNITS.get(form);
  if (t) return t;
  t = new Uint8Array(0x10000);
  const MARK = /\p{M}/u;
  for (const [lo, hi] of [
    [0x0000, 0x052f],
    [0x2000, 0x2bff],
    [0x3000, 0x30ff],
  ])
    for (let c = lo; c <= hi; c++) {
      const ch = String.fromCharCode(c);
      if (ch.normalize(form) === ch && !MARK.test(ch)) t[c] = 1;
    }
  t.fill(1, 0x3400, 0x4dc0); // CJK ideographs: no decomposition, combining class 0
  t.fill(1, 0x4e00, 0xa000);
  t.fill(1, 0xac00, 0xd7a4); // Hangul syllables (precomposed; NFD/NFKD decompose them)
  if (form === 'NFD' || form === 'NFKD') t.fill(0, 0xac00, 0xd7a4);
  INERT_UNITS.set(form, t);
  return t;
}
const INERT_UNITS = new Map<string, Uint8Array>();

/**
 * fixText for one configuration, compiled: QUIET[u] is 0 where a unit gives fixText no work (no badness character,
 * nothing a configured fixer changes, inert for the normalisation; "&" is 2, work only where an HTML entity starts
 * there), FIXER (1) where only a configured fixer may change it, OTHER (3) for the rest. A text of quiet units comes
 * back as it is after one table scan, without fixText's scans for entities, badness, fixable characters and the
 * normalisation's own. A text whose only work is the fixers' (no entity, no badness character, nothing the
 * normalisation changes: fixText's first round is fixChars) comes back after fixChars when its result is quiet
 * (fixText's second round would change nothing). Any other text goes through fixText's path.
 */
export function ftfyFixer(config: Partial<FtfyConfig> = {}): (text: string) => string {
  const c = { ...FTFY_DEFAULTS, ...config };
  const nz = c.normalization;
  const inert = nz === null ? null : typeof nz === 'function' ? (nz as Normalizer).inert : inertUnits(nz);
  if (inert === undefined) return (text) => fixWith(text, c);
  const quiet = quietTable(c, inert);
  primeQuietScan(quiet);
  const unescape = c.unescapeHtml !== false;
  return (text) => {
    const q = quietScan(text, quiet);
    if (q === 0) return text;
    if (text.length > c.maxDecodeLength) return fixSegments(text, c);
    // fixWith's whole-text round: fixChars, when no segment needs entity decoding or encoding repair (a FIXER or BAD
    // text holds no entity; a FIXER text no badness character); a BAD text comes back from it unchanged (no unit a
    // fixer or the normalisation changes)
    if (q === BAD ? isBad(text, true) : q !== FIXER && !noEncodingWork(text, c, unescape)) return fixSegments(text, c);
    if (q === BAD) return text;
    const once = fixChars(text, c);
    if (once === text) return text;
    // the next round gives back a result of quiet units, or of quiet and badness ones when it is not bad
    const r = quietScan(once, quiet);
    if (r === 0 || (r === BAD && !isBad(once, true)) || roundChangesNothing(once, c)) return once;
    return fixSegments(text, c);
  };
}
/**
 * ftfyFixer's quiet table under config c (its own function: V8 compiles a long loop on-stack, and the code after the
 * loop, first run after that compile, threw the compiled caller away).
 */
function quietTable(c: FtfyConfig, inert: Uint8Array | null): Uint8Array {
  const mask = fixableMask(c);
  const quiet = new Uint8Array(0x10000);
  for (let u = 0; u < 0x10000; u++)
    if (inert !== null && inert[u] !== 1) quiet[u] = OTHER;
    else if (c.fixEncoding && BADNESS_CHAR[u] === 1) quiet[u] = (FIXABLE[u] & mask) !== 0 ? OTHER : BAD;
    else if ((FIXABLE[u] & mask) !== 0) quiet[u] = FIXER;
  quiet.fill(OTHER, 0xd800, 0xe000); // surrogates: fixText's path
  if (c.unescapeHtml !== false && quiet[0x26] === 0) quiet[0x26] = 2;
  return quiet;
}
/**
 * Feedback before the first compile: quietScan's entity test, first taken at a text's first "&" (after the compile:
 * its code, inlined in every fixer's, was thrown away there); calls without one first (V8 records nothing during a
 * function's first calls). The results are not used.
 */
function primeQuietScan(quiet: Uint8Array): void {
  for (let k = 0; k < 28; k++) quietScan(k < 16 ? 'plain words' : k < 20 ? 'a &amp; b & c' : PRIME_QUIET[k & 7], quiet);
}
/** Units of each of quietScan's outcomes under one configuration or another (ligature, full-width, accent, soft hyphen, mojibake, curly quote, NEL, an emoji). */
const PRIME_QUIET = ['ﬁ', 'Ａ', 'é', 'a\u00adb', 'â€™', '“x”', '\u0085', '😊'];
const FIXER = 1;
const OTHER = 3;
const BAD = 4;
/**
 * 0 when every unit of the text is quiet; FIXER when some only a fixer changes; BAD when some are badness characters
 * (inert for the normalisation, left alone by every configured fixer) and the others are quiet; OTHER when fixText has
 * other work (FIXER and BAD together too).
 */
function quietScan(text: string, quiet: Uint8Array): number {
  const L = text.length;
  let state = 0;
  for (let i = 0; i < L; i++) {
    const q = quiet[text.charCodeAt(i)];
    if (q === 0) continue;
    if (q === 2) {
      ENTITY_AT.lastIndex = i;
      if (ENTITY_AT.test(text)) return OTHER;
    } else if (q === OTHER) return OTHER;
    else state |= q;
  }
  return state === FIXER + BAD ? OTHER : state;
}
const ENTITY_AT = new RegExp(HTML_ENTITY.source, 'y');

function fixWith(text: string, c: FtfyConfig): string {
  // Whole text at once when no segment needs entity decoding or encoding repair: the character fixes and the
  // normalisation then give per segment what they give on the whole text (no match spans a "\n"), and a second
  // round (ftfy repeats until nothing changes) is checked to change nothing.
  if (text.length <= c.maxDecodeLength && noEncodingWork(text, c, c.unescapeHtml !== false)) {
    const once = fixChars(text, c);
    if (once === text || roundChangesNothing(once, c)) return once;
  }
  return fixSegments(text, c);
}
/** Whether fixText's next round would give `once` back (the fixers' first round gave it). */
function roundChangesNothing(once: string, c: FtfyConfig): boolean {
  return (
    noEncodingWork(once, c, c.unescapeHtml !== false) &&
    (hasFixable(once, fixableMask(c)) ? fixChars(once, c) === once : normalized(once, c) === once)
  );
}
/** fixText segment by segment (lines, or maxDecodeLength code points), each fixed until nothing changes. */
function fixSegments(text: string, c: FtfyConfig): string {
  let unescape = c.unescapeHtml;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    let brk = text.indexOf('\n', pos) + 1;
    if (brk === 0) brk = text.length;
    if (brk - pos > c.maxDecodeLength) brk = Math.min(brk, advance(text, pos, c.maxDecodeLength));
    const seg = text.slice(pos, brk);
    if (unescape === 'auto' && seg.includes('<')) unescape = false;
    out += fixSegment(seg, c, unescape !== false);
    pos = brk;
  }
  return out;
}

/**
 * Feedback before the first compile (as filters/stats.ts' primeBranches): the badness scan and the fixable-unit scan
 * run here, at load, on short texts after calls on plain ones (V8 records nothing during a function's first calls):
 * a badness character at a text's end or before an astral character, and an astral character among fixable units,
 * first met after the compile, threw away the code of every fixer, which inlines them. The results are not used.
 */
function primeScans(): void {
  const texts = ['Ã© x', 'itâ€™s', 'endÃ', 'Ã😊', 'a\nÃ b', 'ﬁ😊 “q”'];
  for (let k = 0; k < 28; k++) {
    const t = k < 16 ? 'plain words only' : texts[k % texts.length];
    isBad(t, true);
    fixableBits(t, -1);
  }
}
primeScans();
