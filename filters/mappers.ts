/**
 * Text mappers (text in, text out). The data-juicer ones reproduce its documented behaviour (Steel's recipe);
 * options make the Chinese-correct variants (no folding of full-width punctuation, etc.).
 */
import * as OpenCC from 'opencc-js';
import { cpLength } from './text.ts';

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
/** data-juicer clean_html: `<li>`/`<ol>` become "\n*", then the text content of the parsed HTML (scripts, styles and comments removed). */
export function cleanHtml(text: string): string {
  let s = text.replaceAll('<li>', '\n*').replaceAll('</li>', '').replaceAll('<ol>', '\n*').replaceAll('</ol>', '');
  if (s.indexOf('<') < 0 && s.indexOf('&') < 0) return s;
  s = s.replace(/<!--[\s\S]*?-->/g, '');
  s = s.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '');
  s = s.replace(/<\/?[a-zA-Z][^<>]*>|<![^<>]*>/g, '');
  return decodeEntities(s);
}

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
const CP1252_EXTRA: Record<number, number> = {
  0x20ac: 0x80, 0x201a: 0x82, 0x0192: 0x83, 0x201e: 0x84, 0x2026: 0x85, 0x2020: 0x86, 0x2021: 0x87, 0x02c6: 0x88, 0x2030: 0x89,
  0x0160: 0x8a, 0x2039: 0x8b, 0x0152: 0x8c, 0x017d: 0x8e, 0x2018: 0x91, 0x2019: 0x92, 0x201c: 0x93, 0x201d: 0x94, 0x2022: 0x95,
  0x2013: 0x96, 0x2014: 0x97, 0x02dc: 0x98, 0x2122: 0x99, 0x0161: 0x9a, 0x203a: 0x9b, 0x0153: 0x9c, 0x017e: 0x9e, 0x0178: 0x9f,
};
function cp1252Byte(ch: string): number {
  const c = ch.charCodeAt(0);
  if (c < 0x100) return c;
  return CP1252_EXTRA[c] ?? -1;
}
const CONT = '[\\u0080-\\u00bf\\u20ac\\u201a\\u0192\\u201e\\u2026\\u2020\\u2021\\u02c6\\u2030\\u0160\\u2039\\u0152\\u017d\\u2018\\u2019\\u201c\\u201d\\u2022\\u2013\\u2014\\u02dc\\u2122\\u0161\\u203a\\u0153\\u017e\\u0178]';
const MOJIBAKE = new RegExp(`(?:[\\u00c2-\\u00df]${CONT}|[\\u00e0-\\u00ef]${CONT}{2}|[\\u00f0-\\u00f4]${CONT}{3})+`, 'g');
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Repair UTF-8 text that was decoded as Windows-1252/Latin-1 ("ä¸­æ–‡" -> "中文", "cafÃ©" -> "café"). */
export function fixMojibake(text: string): string {
  if (!/[\u00c2-\u00f4]/.test(text)) return text;
  return text.replace(MOJIBAKE, (m) => {
    const bytes = new Uint8Array(m.length);
    for (let i = 0; i < m.length; i++) {
      const b = cp1252Byte(m[i]);
      if (b < 0) return m;
      bytes[i] = b;
    }
    try {
      return utf8.decode(bytes);
    } catch {
      return m;
    }
  });
}

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
const CONTROL_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u0080-\u009f\ufeff\ufff9-\ufffb]/g;
/** ftfy-style unicode fixing (mojibake, control characters, line breaks, optional width/quote folding, normalisation). */
export function fixUnicode(text: string, o: FixUnicodeOptions): string {
  let s = text;
  if (o.fixEncoding) s = fixMojibake(s);
  if (o.removeControlChars) s = s.replace(CONTROL_RE, '');
  if (o.fixLineBreaks) s = s.replace(/\r\n|\r|\u2028|\u2029|\u0085/g, '\n');
  if (o.fixCharacterWidth) s = s.replace(/[\uff01-\uff5e\u3000]/g, (c) => (c === '\u3000' ? ' ' : String.fromCharCode(c.charCodeAt(0) - 0xfee0)));
  if (o.uncurlQuotes) s = s.replace(/[\u2018\u2019\u201a\u201b]/g, "'").replace(/[\u201c\u201d\u201e\u201f]/g, '"');
  switch (o.normalization) {
    case 'NFC': return s.normalize('NFC');
    case 'NFKC': return s.normalize('NFKC');
    case 'NFKC_keep_cjk_punct': return nfkcKeepCjkPunct(s);
    default: return s;
  }
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
export function removeSpecificChars(text: string, chars: string): string {
  if (!chars) return text;
  const set = new Set([...chars]);
  let any = false;
  for (const c of set) if (text.includes(c)) { any = true; break; }
  if (!any) return text;
  let out = '';
  for (const c of text) if (!set.has(c)) out += c;
  return out;
}

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
