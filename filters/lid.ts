/**
 * Language identification with fastText lid.176 (lid.176.ftz from the fasttext.wasm.js package, run by filters/fasttext.ts), a cheap code detector
 * (lid.176 has no "code" label), and Simplified/Traditional script detection for Chinese via OpenCC character tables.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadFastText, type FastTextModel } from './fasttext.ts';
import { codePoints, isHan, markHan, markScriptChars } from './text.ts';

/** lid.176 in filters/fasttext.ts: predict (top-k labels without "__label__", probabilities) and its windowed calls. */
export type LidModel = FastTextModel;

let modelPromise: Promise<LidModel> | undefined;

/** The lid.176.ftz model file (shipped in the fasttext.wasm.js package). */
export const LID_MODEL_PATH = createRequire(import.meta.url).resolve(
  'fasttext.wasm.js/dist/models/language-identification/assets/lid.176.ftz',
);

/**
 * Load lid.176.ftz once per process. Inference is filters/fasttext.ts (fastText's arithmetic in our own WebAssembly
 * kernel, results bit-identical to fastText's WebAssembly build and several times cheaper per call); a text is one
 * line, its newlines are separators like spaces.
 */
export function loadLid(): Promise<LidModel> {
  modelPromise ??= Promise.resolve(loadFastText(LID_MODEL_PATH)).then((m) => (primeIdentify(m), m));
  return modelPromise;
}

/**
 * Feedback before the first compile (as filters/stats.ts' primeBranches): identification runs here once per model
 * on short texts of the scripts and kinds it tells apart (Latin, Han, kana, Hangul, code, a shell session), so that
 * V8 does not optimise it for the first input file's script alone and throw the code away at the next one. The
 * results are not used.
 */
function primeIdentify(model: LidModel): void {
  const texts = [
    'The quick brown fox jumps over the lazy dog. It was a bright cold day in April. ',
    '敏捷的棕色狐狸跳过了懒狗。這是一個繁體中文的句子，還有一些標點符號「引號」。 ',
    'すばやい茶色の狐がのろまな犬を飛び越えた。カタカナとひらがな。 ',
    '빠른 갈색 여우가 게으른 개를 뛰어넘었다. 한국어 문장입니다. ',
    '中文的句子里有一个片假名的词，比如コンピューター，其余都是汉字。',
    '漢字ばかりの日本語文書、東京都千代田区丸の内一丁目。',
    'int main(void) {\n  for (i = 0; i < n; i++) { x[i] = y[i] * 2; }\n  return 0;\n}\n',
    '$ ls -la /tmp\nuser@host:~$ echo "hello" | grep h\n# apt-get install foo\n',
    // Chinese with English words: a CJK share strictly between 0 and 1 (a fraction where the texts above gave 0 or 1)
    '安装 Linux 内核的 source package 之前，请先阅读 README 文件。',
  ];
  const opts = { windows: 3, width: 300, detectCode: true, codeLineRatio: 0.6 };
  for (let k = 0; k < 3; k++) for (const t of texts) identify(model, t.repeat(2 + k), opts);
}

const CODE_LINE =
  /(?:[;{}]\s*$)|(?:^\s*(?:def|class|import|from|return|if|elif|else|for|while|switch|case|#include|#define|public|private|protected|static|void|int|function|const|let|var|package|using|namespace|fi|done|then|do|echo|export|sudo|\$|#\s|\/\/|\/\*|\*)\b)|(?:^\s*[\w.\[\]"'$-]+\s*(?:=|\+=|:=)\s*\S)|(?:^\s*[$#>%]\s)|(?:^[-dlcbsp][rwxsStT-]{9}[+.@]?\s)/;
const PROMPT_LINE = /^\s*(?:[$#%]|\w+@[\w.-]+:\S*[$#])\s+\S/;
/** Code punctuation, per ASCII unit: { } ( ) [ ] ; = < > $ / \ | & _ * */
const CODE_PUNCT = new Uint8Array(128);
for (const c of '{}()[];=<>$/\\|&_*') CODE_PUNCT[c.charCodeAt(0)] = 1;
function codePunct(text: string): number {
  let sym = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) sym += CODE_PUNCT[c];
  }
  return sym;
}
/**
 * Share of non-empty lines that look like source code or shell (statement endings, keywords, assignments, prompts),
 * and the density of code punctuation. Used to label "code" before fastText, which has no such label.
 */
export function codeScore(text: string): { lineRatio: number; symbolDensity: number; promptRatio: number } {
  return lineScores(text, codePunct(text));
}
/** codeScore with the text's code punctuation counted (sym). */
function lineScores(text: string, sym: number): { lineRatio: number; symbolDensity: number; promptRatio: number } {
  const lines = text.split('\n');
  let n = 0,
    code = 0,
    prompt = 0;
  for (const l of lines) {
    if (!l.trim()) continue;
    n++;
    if (CODE_LINE.test(l)) code++;
    if (PROMPT_LINE.test(l)) prompt++;
  }
  return {
    lineRatio: n ? code / n : 0,
    symbolDensity: text.length ? sym / text.length : 0,
    promptRatio: n ? prompt / n : 0,
  };
}

/** Code or a shell session: most lines look like code and code punctuation is dense, or many lines are shell prompts. */
const PROMPT_ANY = /(?:^|\n)\s*(?:[$#%]|\w+@[\w.-]+:\S*[$#])\s+\S/;
export function looksLikeCode(text: string, lineRatio = 0.6): boolean {
  // cheap exits: prose has little code punctuation and no shell prompts
  const sym = codePunct(text);
  if (sym < 0.03 * text.length && !PROMPT_ANY.test(text)) return false;
  const s = lineScores(text, sym);
  return (s.lineRatio >= lineRatio && s.symbolDensity >= 0.03) || (s.promptRatio >= 0.25 && s.lineRatio >= 0.3);
}

// ---------- whole-document identification ----------
/**
 * A code point's class for the script units that identify counts in the kernel (FastTextModel.units): Han characters,
 * kana, Hangul and Latin-script words, one CJK character counted as one unit like one Latin word, so
 * `cjk / (cjk + latinWords)` is the CJK share of the content, not of the characters. Classes: 1 Latin letter (ASCII,
 * and U+00C0-024F but × and ÷), 2 kana (U+3040-30FF but ・ and ー), 3 Hangul (syllables, jamo), 4 Han (from U+3400),
 * 0 anything else.
 */
export function unitClass(c: number): number {
  if (c < 0x80) return (c | 32) >= 97 && (c | 32) <= 122 ? 1 : 0;
  if (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) return 1;
  if (c >= 0x3040 && c <= 0x30ff && c !== 0x30fb && c !== 0x30fc) return 2;
  if ((c >= 0xac00 && c <= 0xd7a3) || (c >= 0x1100 && c <= 0x11ff)) return 3;
  return c >= 0x3400 && isHan(c) ? 4 : 0;
}
let bmpUnitClasses: Uint8Array | undefined;
/** A unit of each of unitClass's branches. */
const PRIME_UNITS = [0x61, 0x20, 0xe9, 0x3042, 0x30fb, 0xac00, 0x1100, 0x4e00];
/**
 * unitClass of every BMP code point, made once: below U+3400 by unitClass, above it Hangul syllables (3) and the Han
 * characters of text.ts's table (4) (unitClass's isHan per code point would run cold here: ~65k calls before the
 * first document).
 */
export function bmpUnitClassTable(): Uint8Array {
  if (!bmpUnitClasses) {
    const t = new Uint8Array(0x10000);
    // each class first (V8 compiles unitClass during the loop below, and threw the code away at the loop's first kana
    // and Hangul units; calls of one kind first: V8 records nothing during a function's first calls)
    for (let k = 0; k < 64; k++) unitClass(k < 32 ? 0x61 : PRIME_UNITS[k & 7]);
    for (let c = 0; c < 0x3400; c++) t[c] = unitClass(c);
    markHan(t, 4);
    t.fill(3, 0xac00, 0xd7a4);
    bmpUnitClasses = t;
  }
  return bmpUnitClasses;
}
/** The models whose kernel has the unit classes (useUnitClasses, once per model). */
const withClasses = new WeakSet<LidModel>();

/**
 * Up to `n` windows of about `width` characters spread evenly over the text (starting at line starts where one is
 * near), so that identification sees the whole document, not its head; the whole text when it is short.
 */
export function sampleWindows(text: string, n: number, width: number): string[] {
  const sp = windowSpans(text, n, width);
  const out: string[] = [];
  for (let q = 0; q < sp.length; q += 2) out.push(text.slice(sp[q], sp[q + 1]));
  return out;
}
/** sampleWindows(...).join('\n') of the windows' spans. */
function joinWindows(text: string, sp: number[]): string {
  let s = text.slice(sp[0], sp[1]);
  for (let q = 2; q < sp.length; q += 2) s += '\n' + text.slice(sp[q], sp[q + 1]);
  return s;
}
/** sampleWindows as offsets: window q is text.slice(spans[2q], spans[2q + 1]). */
export function windowSpans(text: string, n: number, width: number): number[] {
  const L = text.length;
  const out: number[] = [];
  if (L <= n * width) {
    for (let i = 0; i < L; i += width) out.push(i, Math.min(i + width, L));
    return out;
  }
  for (let k = 0; k < n; k++) {
    let s = n === 1 ? 0 : Math.floor(((L - width) * k) / (n - 1));
    const nl = s > 0 ? text.lastIndexOf('\n', s) : -1;
    if (nl >= 0 && s - nl < width / 2) s = nl + 1;
    out.push(s, Math.min(s + width, L));
  }
  return out;
}

const CJK_LANGS = new Set(['zh', 'ja', 'ko', 'yue', 'wuu']);
export interface LidResult {
  lang: string;
  score: number;
  /** CJK share of the content units of the whole document (unitClass). */
  cjkShare: number;
}
/**
 * Language of a whole document: fastText on `windows` windows of `width` characters spread over the document; each
 * window's top-3 probabilities are added with the window's content units (CJK characters + Latin words) as weight, and
 * the label with the largest sum wins. Its score is the unit-weighted mean probability of the windows whose top label it
 * is. The script share of the whole document is the prior: a document whose content units are mostly CJK is Chinese,
 * Japanese or Korean whatever the English windows say (the language inside the CJK family is fastText's choice, or
 * kana / Hangul decides), and Japanese needs kana (>= 5% of the CJK characters; without them lid.176 mistakes short
 * Traditional Chinese for Japanese). Code: the windows look like code or a shell session and the document is not
 * mostly CJK (a Chinese page with shell examples is Chinese).
 */
/**
 * The labels of `sum` with the highest weight (the first of equal ones): of all (bestAny) and of the CJK ones
 * (bestCjk); '' when none. One pass for both, by a module function: the closures made per document for each choice
 * were a new call target each time (identify's code thrown away at the second one, "wrong feedback cell"), and a
 * second call taken only for a CJK text with a non-CJK top label threw it away at the first such text.
 */
let bestAny = '',
  bestCjk = '';
function bestLabels(sum: Map<string, number>): void {
  let a = '',
    as = -1,
    c = '',
    cs = -1;
  for (const [l, v] of sum) {
    if (v > as) {
      a = l;
      as = v;
    }
    if (v > cs && CJK_LANGS.has(l)) {
      c = l;
      cs = v;
    }
  }
  bestAny = a;
  bestCjk = c;
}

export function identify(
  model: LidModel,
  text: string,
  opts: { windows: number; width: number; detectCode: boolean; codeLineRatio: number },
): LidResult {
  if (!withClasses.has(model)) {
    model.useUnitClasses(bmpUnitClassTable(), unitClass);
    withClasses.add(model);
  }
  // the document goes into the kernel once: the script units of the whole and of each window, and the predictions of
  // the windows, read it there (unitClass's counts)
  model.setText(text);
  const du = model.units(0, text.length);
  const han = du[0],
    kana = du[1],
    hangul = du[2],
    latinWords = du[3];
  const cjk = han + kana + hangul;
  const cjkShare = cjk + latinWords ? cjk / (cjk + latinWords) : 0;
  const sp = windowSpans(text, opts.windows, opts.width);
  if (opts.detectCode && cjkShare < 0.5 && looksLikeCode(joinWindows(text, sp), opts.codeLineRatio))
    return { lang: 'code', score: 1, cjkShare };
  const sum = new Map<string, number>();
  const top = new Map<string, { w: number; p: number }>();
  let total = 0;
  for (let q = 0; q < sp.length; q += 2) {
    const wu = model.units(sp[q], sp[q + 1]);
    const weight = wu[0] + wu[1] + wu[2] + wu[3] || 1;
    total += weight;
    const rs = model.predictAt(sp[q], sp[q + 1], 3);
    for (const r of rs) sum.set(r.label, (sum.get(r.label) ?? 0) + r.score * weight);
    if (rs[0]) {
      const e = top.get(rs[0].label) ?? { w: 0, p: 0 };
      e.w += weight;
      e.p += rs[0].score * weight;
      top.set(rs[0].label, e);
    }
  }
  bestLabels(sum);
  let lang = bestAny || 'und';
  if (cjkShare >= 0.5 && !CJK_LANGS.has(lang)) lang = bestCjk || 'zh';
  if (cjkShare >= 0.5) {
    if (hangul > han + kana) lang = 'ko';
    else if (lang === 'ja' && kana < 0.05 * (han + kana)) lang = 'zh';
    else if (lang !== 'ja' && kana >= 0.05 * (han + kana) && hangul < kana) lang = 'ja';
  }
  const e = top.get(lang);
  // the prior chose a label no window had on top: its score is the CJK share
  const score = e ? e.p / e.w : total ? Math.max(cjkShare, (sum.get(lang) ?? 0) / total) : 0;
  return { lang, score, cjkShare };
}

// ---------- Simplified vs Traditional ----------
let tradOnly: Uint8Array | undefined; // 1 = Traditional-only (changed by t2s), 2 = Simplified-only (changed by s2t)
let bmpScript: Uint8Array | undefined; // text.ts's code-point table with the script bits of tradOnly's BMP part
function scriptTable(): Uint8Array {
  if (tradOnly) return tradOnly;
  // precomputed from OpenCC by filters/gen-script-table.ts
  const data = JSON.parse(readFileSync(new URL('./zh-script-chars.json', import.meta.url), 'utf8')) as {
    traditional: string;
    simplified: string;
  };
  const tab = new Uint8Array(0x30000);
  for (const [chars, v] of [
    [data.traditional, 1],
    [data.simplified, 2],
  ] as const)
    for (let i = 0; i < chars.length; i++) {
      const cp = chars.codePointAt(i)!;
      tab[cp] = v;
      if (cp > 0xffff) i++;
    }
  bmpScript = markScriptChars(tab);
  tradOnly = tab;
  // feedback before the first compile (as primeIdentify): astral Han characters (CJK Extension B) and other astral
  // characters, first met after the compile, threw the code away
  for (let k = 0; k < 6; k++) scriptCounts('漢字汉字 ASCII 𠀀𪚥 😊 '.repeat(k + 1));
  return tab;
}

/** Counts Han characters that only exist in Traditional (changed by t2s) or only in Simplified (changed by s2t). */
export function scriptCounts(text: string, maxChars = Infinity): { han: number; trad: number; simp: number } {
  const tab = scriptTable();
  const bits = bmpScript!;
  const { cps, n } = codePoints(text);
  const lim = Math.min(n, maxChars);
  let han = 0,
    trad = 0,
    simp = 0;
  for (let i = 0; i < lim; i++) {
    const c = cps[i];
    if (c < 0x10000) {
      // the table lines the decode of this text has just read; counted without a branch
      const f = bits[c];
      han += (f >> 4) & 1; // CP_HAN_3400
      trad += (f >> 5) & 1; // CP_TRAD
      simp += (f >> 6) & 1; // CP_SIMP
    } else if (c < 0x30000 && isHan(c)) {
      han++;
      const f = tab[c];
      if (f === 1) trad++;
      else if (f === 2) simp++;
    }
  }
  return { han, trad, simp };
}

/** Traditional share among script-distinctive Han characters (0 = Simplified, 1 = Traditional, 0.5 when undecidable). */
export function traditionalShare(text: string, maxChars = Infinity): number {
  const { trad, simp } = scriptCounts(text, maxChars);
  return trad + simp === 0 ? 0.5 : trad / (trad + simp);
}
