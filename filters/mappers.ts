/**
 * Text mappers (text in, text out). The data-juicer ones reproduce its documented behaviour (Steel's recipe);
 * options make the Chinese-correct variants (no folding of full-width punctuation, etc.).
 */
import * as OpenCC from 'opencc-js';
import { parse as parseHtml, type DefaultTreeAdapterTypes } from 'parse5';
import { cpLength } from './text.ts';
import { fixText } from './ftfy.ts';

type ParentNode = DefaultTreeAdapterTypes.ParentNode;
type ChildNode = DefaultTreeAdapterTypes.ChildNode;
type TextNode = DefaultTreeAdapterTypes.TextNode;

// ---------- Traditional -> Simplified ----------
const converters = new Map<string, (s: string) => string>();
/** OpenCC conversion; mode like data-juicer's chinese_convert_mapper: t2s, s2t, tw2s, hk2s, s2tw, s2hk, t2tw, ... */
export function chineseConvert(text: string, mode = 't2s'): string {
  let cv = converters.get(mode);
  if (!cv) {
    const loc: Record<string, [string, string]> = {
      t2s: ['t', 'cn'], s2t: ['cn', 't'], tw2s: ['tw', 'cn'], tw2sp: ['twp', 'cn'], hk2s: ['hk', 'cn'], s2tw: ['cn', 'tw'],
      s2twp: ['cn', 'twp'], s2hk: ['cn', 'hk'], t2tw: ['t', 'tw'], t2hk: ['t', 'hk'], tw2t: ['tw', 't'], hk2t: ['hk', 't'],
      t2jp: ['t', 'jp'], jp2t: ['jp', 't'],
    };
    const ft = loc[mode];
    if (!ft) throw new Error(`chinese_convert: unknown mode "${mode}" (known: ${Object.keys(loc).join(', ')})`);
    cv = (OpenCC as any).Converter({ from: ft[0], to: ft[1] }) as (s: string) => string;
    converters.set(mode, cv);
  }
  return cv(text);
}

// ---------- regex cleaners (data-juicer defaults) ----------
const W = '[\\p{L}\\p{N}\\p{M}_]'; // Python `regex` \w (Unicode)
export const EMAIL_PATTERN = '[A-Za-z0-9.\\-+_]+@[a-z0-9.\\-+_]+\\.[a-z]+';
export const IP_PATTERN =
  '(?:(?:1[0-9][0-9]\\.)|(?:2[0-4][0-9]\\.)|(?:25[0-5]\\.)|(?:[1-9][0-9]\\.)|(?:[0-9]\\.)){3}(?:(?:1[0-9][0-9])|(?:2[0-4][0-9])|(?:25[0-5])|(?:[1-9][0-9])|(?:[0-9]))|([\\da-fA-F]{1,4}:){7}[\\da-fA-F]{1,4}';
/** data-juicer's link pattern, with Python's Unicode \b and \w made explicit and its (?i) spelled out as [a-zA-Z] (faster in V8 than the i flag). */
export const LINK_PATTERN =
  `(?<!${W})(` +
  `(?:[a-zA-Z]${W.slice(0, -1)}-]+:(?:\\/{1,3}|[a-zA-Z0-9%])|[wW][wW][wW]\\d{0,3}[.]|[a-zA-Z0-9.\\-]+[.][a-zA-Z]{2,4}\\/)` +
  // data-juicer: (?:[^\s()<>]+|\(([^\s()<>]+|(\([^\s()<>]+\)))*\))+ — same language without nested quantifiers
  // (no catastrophic backtracking)
  `(?:[^\\s()<>]|\\((?:[^\\s()<>]|\\([^\\s()<>]+\\))*\\))+` +
  `(?:\\((?:[^\\s()<>]|\\([^\\s()<>]+\\))*\\)|[^\\s\`!()\\[\\]{};:'".,<>?«»“”‘’])` +
  `)`;

const reCache = new Map<string, RegExp>();
function re(pattern: string, flags: string): RegExp {
  const k = flags + '\u0000' + pattern;
  let r = reCache.get(k);
  if (!r) {
    r = new RegExp(pattern, flags);
    reCache.set(k, r);
  }
  r.lastIndex = 0;
  return r;
}
export function regexReplace(text: string, pattern: string, repl: string, ignoreCase = false): string {
  return text.replace(re(pattern, ignoreCase ? 'giu' : 'gu'), () => repl);
}
export const cleanEmail = (t: string, repl = '', pattern = EMAIL_PATTERN) => regexReplace(t, pattern, repl);
export const cleanIp = (t: string, repl = '', pattern = IP_PATTERN) => regexReplace(t, pattern, repl);
export function cleanLinks(t: string, repl = '', pattern = LINK_PATTERN): string {
  // every link needs ":" (scheme), "www" or "/" (domain/path)
  if (pattern === LINK_PATTERN && t.indexOf(':') < 0 && t.indexOf('/') < 0 && !/www/i.test(t)) return t;
  return regexReplace(t, pattern, repl);
}

// ---------- HTML ----------
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '©', reg: '®', hellip: '…', mdash: '—', ndash: '–', middot: '·', ldquo: '“', rdquo: '”', lsquo: '‘', rsquo: '’' };
export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e] ?? ENTITIES[e.toLowerCase()] ?? m;
  });
}
/**
 * Tag stripping with regular expressions (zh-web's clean_html mode, for text that may hold a stray "<"): `<li>`/`<ol>`
 * become "\n*", then comments, `<script>`/`<style>` elements and tags closed by ">" go, and entities are decoded. Text
 * outside tags is never lost.
 */
export function stripTags(text: string): string {
  let s = text.replaceAll('<li>', '\n*').replaceAll('</li>', '').replaceAll('<ol>', '\n*').replaceAll('</ol>', '');
  if (s.indexOf('<') < 0 && s.indexOf('&') < 0) return s;
  s = s.replace(/<!--[\s\S]*?-->/g, '');
  s = s.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '');
  s = s.replace(/<\/?[a-zA-Z][^<>]*>|<![^<>]*>/g, '');
  return decodeEntities(s);
}

/**
 * data-juicer clean_html (selectolax): `<li>`/`<ol>` become "\n*" and `</li>`/`</ol>` go, then the document is parsed as
 * HTML5 and the text of every text node under <body> is concatenated. So, as there: `<script>`/`<style>`/`<textarea>`
 * content is kept (it is text), and so is a `<template>`'s content, comments are not, text that the parser puts in <head> (a
 * leading `<title>`, leading whitespace) is lost, a `<` followed by a letter opens a tag (`$ </etc/motd pager` ->
 * `$ `), `\r\n` becomes `\n` and character references are decoded. Frameset documents have no body: "".
 */
export function cleanHtml(text: string): string {
  const s = text.replaceAll('<li>', '\n*').replaceAll('</li>', '').replaceAll('<ol>', '\n*').replaceAll('</ol>', '');
  // without a tag ("<" + letter, "/", "!" or "?"), a character reference ("&" + letter, digit or "#") or NUL, the
  // HTML5 parse keeps the text as it is but for CR LF / CR -> LF and the leading whitespace dropped before <body>
  if (!HTML_MARKUP.test(s)) {
    const t = s.indexOf('\r') < 0 ? s : s.replace(/\r\n?/g, '\n');
    let i = 0;
    while (i < t.length && HTML_WS.has(t.charCodeAt(i))) i++;
    return i ? t.slice(i) : t;
  }
  const doc = parseHtml(s);
  const html = doc.childNodes.find((n) => n.nodeName === 'html') as ParentNode | undefined;
  const body = html?.childNodes.find((n) => n.nodeName === 'body') as ParentNode | undefined;
  if (!body) return '';
  let out = '';
  const stack: ChildNode[] = [];
  for (let i = body.childNodes.length - 1; i >= 0; i--) stack.push(body.childNodes[i]);
  while (stack.length) {
    const n = stack.pop()!;
    if (n.nodeName === '#text') out += (n as TextNode).value;
    else if ('childNodes' in n) {
      // selectolax (Modest) keeps a <template>'s content as its children
      const kids = n.nodeName === 'template' ? (n as DefaultTreeAdapterTypes.Template).content.childNodes : n.childNodes;
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
    }
  }
  return out;
}
const HTML_MARKUP = /<[A-Za-z/!?]|&[A-Za-z0-9#]|\0/;
const HTML_WS = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x20]);

// ---------- copyright, TeX ----------
const COMMENT_BLOCK = /\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\//;
/** data-juicer clean_copyright: drop the first /* *\/ block if it mentions copyright; else drop leading //, #, -- and blank lines. */
export function cleanCopyright(text: string): string {
  const m = COMMENT_BLOCK.exec(text);
  if (m) {
    if (/copyright/i.test(m[0])) return text.slice(0, m.index) + text.slice(m.index + m[0].length);
    return text;
  }
  const lines = text.split('\n');
  let skip = 0;
  for (const l of lines) {
    if (l.startsWith('//') || l.startsWith('#') || l.startsWith('--') || !l) skip++;
    else break;
  }
  return skip ? lines.slice(skip).join('\n') : text;
}

/** data-juicer expand_macro: inline-expand argument-free \newcommand / \def macros defined in the document. */
export function expandMacro(text: string): string {
  if (text.indexOf('\\newcommand') < 0 && text.indexOf('\\def') < 0) return text;
  const macros = new Map<string, string>();
  for (const r of [/\\newcommand\b\*?\{(\\[a-zA-Z0-9]+?)\}\{(.*?)\}$/gm, /\\def\s*(\\[a-zA-Z0-9]+?)\s*\{(.*?)\}$/gm]) {
    for (const m of text.matchAll(r)) macros.set(m[1], m[2]);
  }
  for (const [name, value] of macros) {
    const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    text = text.replace(new RegExp('(' + esc + ')([^a-zA-Z0-9])', 'g'), (_m, _a, b: string) => value + b);
  }
  return text;
}

// ---------- unicode ----------
/** Full-width CJK punctuation that NFKC would fold to ASCII and that Chinese text must keep. */
const CJK_FULLWIDTH_PUNCT = /[\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u3000]/;
/** NFKC, except full-width CJK punctuation (，！？：；（）etc.) and the ideographic space, which are kept. */
export function nfkcKeepCjkPunct(text: string): string {
  if (!CJK_FULLWIDTH_PUNCT.test(text)) return text.normalize('NFKC');
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0xff01 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20) || (c >= 0xff3b && c <= 0xff40) || (c >= 0xff5b && c <= 0xff65) || c === 0x3000) {
      out += text.slice(start, i).normalize('NFKC') + text[i];
      start = i + 1;
    }
  }
  return out + text.slice(start).normalize('NFKC');
}

export interface FixUnicodeOptions {
  /** 'NFC' (data-juicer default), 'NFKC', 'NFKC_keep_cjk_punct', or 'none'. */
  normalization: 'NFC' | 'NFKC' | 'NFKC_keep_cjk_punct' | 'none';
  fixEncoding: boolean;
  /** ftfy fix_character_width: full-width ASCII forms -> ASCII (folds ，！？：；（）). On in data-juicer, off for Chinese. */
  fixCharacterWidth: boolean;
  /** ftfy uncurl_quotes: “”‘’ -> "' . On in data-juicer, off for Chinese. */
  uncurlQuotes: boolean;
  fixLineBreaks: boolean;
  removeControlChars: boolean;
}
/**
 * data-juicer fix_unicode: ftfy's fix_text (filters/ftfy.ts) with its defaults and the given normalisation; the
 * options switch ftfy's own steps (zh-web turns width and quote folding off and keeps full-width CJK punctuation).
 */
export function fixUnicode(text: string, o: FixUnicodeOptions): string {
  return fixText(text, {
    fixEncoding: o.fixEncoding,
    fixCharacterWidth: o.fixCharacterWidth,
    uncurlQuotes: o.uncurlQuotes,
    fixLineBreaks: o.fixLineBreaks,
    removeControlChars: o.removeControlChars,
    normalization: o.normalization === 'none' ? null : o.normalization === 'NFKC_keep_cjk_punct' ? nfkcKeepCjkPunct : o.normalization,
  });
}

// ---------- punctuation ----------
/** data-juicer punctuation_normalization_mapper table (folds full-width CJK punctuation to ASCII — Steel used it). */
export const PUNCT_TABLE: Record<string, string> = {
  '，': ',', '。': '.', '、': ',', '„': '"', '”': '"', '“': '"', '«': '"', '»': '"', '１': '"', '」': '"', '「': '"', '《': '"',
  '》': '"', '´': "'", '∶': ':', '：': ':', '？': '?', '！': '!', '（': '(', '）': ')', '；': ';', '–': '-', '—': ' - ', '．': '. ',
  '～': '~', '’': "'", '…': '...', '━': '-', '〈': '<', '〉': '>', '【': '[', '】': ']', '％': '%', '►': '-',
};
const PUNCT_RE = new RegExp('[' + Object.keys(PUNCT_TABLE).join('').replace(/[\]\\^-]/g, '\\$&') + ']', 'g');
export function punctuationNormalization(text: string): string {
  return text.replace(PUNCT_RE, (c) => PUNCT_TABLE[c]);
}

// ---------- repeated sentences ----------
/** data-juicer's sentence splitter (Chinese and English boundaries), reproduced literally. */
const SENT_END = /[.。！!？?…]/;
export function splitSentence(text: string): string[] {
  if (!SENT_END.test(text)) return [text];
  text = text.replace(/([.。！!？?])([^’”])/gu, '$1\n$2');
  // each replacement below needs a substring its pattern cannot match without: skip the regex when it is absent
  if (text.includes('......')) text = text.replace(/(\.{6})([^’”])/gu, '$1\n$2');
  if (text.includes('……')) text = text.replace(/(…{2})([^’”])/gu, '$1\n$2');
  // data-juicer's class here is literally [.。!！？?.{6}…{2}] (the {6} and {2} are characters inside the class)
  if (text.includes('’') || text.includes('”')) text = text.replace(/([.。!！？?{6}…2][’”])([^’”])/gu, '$1\n$2');
  return text.split('\n');
}
const NOT_KEPT_FOR_COMPARE = /[^a-zA-Z0-9\u4e00-\u9fa5\n\t ]/g;
/** data-juicer remove_repeat_sentences_mapper. */
export function removeRepeatSentences(text: string, minLen = 2, lowercase = false, ignoreSpecial = true): string {
  const lines = text.split('\n');
  const seen = new Set<string>();
  // a line whose sentences are all kept is unchanged (its sentences concatenate back to it): rebuild only on removal
  let changed = false;
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    if (!line) continue;
    let nl = '';
    let removed = false;
    for (const sentence of splitSentence(line)) {
      let copy = pyStrip(sentence);
      if (lowercase) copy = copy.toLowerCase();
      if (ignoreSpecial) copy = copy.replace(NOT_KEPT_FOR_COMPARE, '');
      // code points: between length / 2 and length
      const short = copy.length < minLen || (copy.length < 2 * minLen && cpLength(copy) < minLen);
      if (short) nl += sentence;
      else if (!seen.has(copy)) {
        nl += sentence;
        seen.add(copy);
      } else removed = true;
    }
    if (removed) {
      lines[li] = nl;
      changed = true;
    }
  }
  return changed ? lines.join('\n') : text;
}

// ---------- characters and whitespace ----------
/**
 * data-juicer remove_specific_chars: its pattern is `'[' + '|'.join(chars) + ']'`, a character class that also holds
 * `|` whenever two or more characters are listed, so every `|` is deleted too (`passwd | grep` -> `passwd  grep`).
 * Reproduced on purpose (a kept mistake of the steel-text recipe).
 */
export function removeSpecificChars(text: string, chars: string): string {
  if (!chars) return text;
  let r = specificCharsRe.get(chars);
  if (!r) {
    r = new RegExp('[' + [...chars].join('|') + ']', 'gu');
    specificCharsRe.set(chars, r);
  }
  r.lastIndex = 0;
  return r.test(text) ? text.replace(r, '') : text;
}
const specificCharsRe = new Map<string, RegExp>();

const PY_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
/** Python str.strip() (its whitespace set differs from JS trim()). */
export function pyStrip(s: string): string {
  let b = 0, e = s.length;
  while (b < e && PY_SPACE.has(s.charCodeAt(b))) b++;
  while (e > b && PY_SPACE.has(s.charCodeAt(e - 1))) e--;
  return b === 0 && e === s.length ? s : s.slice(b, e);
}
/** data-juicer VARIOUS_WHITESPACES: tab, Unicode spaces, ideographic space, zero-width characters, U+FFFC, U+0084. */
const VARIOUS_WS = /[\t\u00a0\u2000-\u200a\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufffc\u0084]/g;
/** data-juicer whitespace_normalization_mapper: strip, then every "various whitespace" character becomes ' ' (newlines kept). */
export function whitespaceNormalization(text: string): string {
  return pyStrip(text).replace(VARIOUS_WS, ' ');
}

// ---------- PII ----------
export interface PiiOptions { email: string | null; ip: string | null; mobile: string | null; idCard: string | null }
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';
/** GB 11643 checksum of an 18-digit resident identity number. */
export function validIdCard(id: string): boolean {
  let s = 0;
  for (let i = 0; i < 17; i++) s += (id.charCodeAt(i) - 48) * ID_WEIGHTS[i];
  const month = +id.slice(10, 12), day = +id.slice(12, 14);
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  return ID_CHECK[s % 11] === id[17].toUpperCase();
}
const PII_EMAIL = /[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}/g;
const PII_IP = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]*\d)/g;
const PII_ID = /(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/g;
const PII_MOBILE = /(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9])/g;
/** Mask e-mail addresses, IPv4 addresses, 18-digit resident ID numbers (checksum-valid) and mainland mobile numbers. */
export function maskPii(text: string, o: PiiOptions): string {
  let s = text;
  if (o.email !== null && s.includes('@')) s = s.replace(PII_EMAIL, o.email);
  if (o.ip !== null && s.includes('.')) s = s.replace(PII_IP, o.ip);
  if (o.idCard !== null) s = s.replace(PII_ID, (m) => (validIdCard(m) ? o.idCard! : m));
  if (o.mobile !== null) s = s.replace(PII_MOBILE, o.mobile);
  return s;
}
