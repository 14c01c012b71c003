/**
 * Language identification with fastText lid.176 (lid.176.ftz from the fasttext.wasm.js package, run by filters/fasttext.ts), a cheap code detector
 * (lid.176 has no "code" label), and Simplified/Traditional script detection for Chinese via OpenCC character tables.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadFastText } from './fasttext.ts';
import { codePoints, isHan } from './text.ts';

export interface LidModel {
  /** Top-k labels (without "__label__") and probabilities for one text. */
  predict(text: string, k?: number): { label: string; score: number }[];
}

let modelPromise: Promise<LidModel> | undefined;

/** The lid.176.ftz model file (shipped in the fasttext.wasm.js package). */
export const LID_MODEL_PATH = createRequire(import.meta.url).resolve(
  'fasttext.wasm.js/dist/models/language-identification/assets/lid.176.ftz',
);

/**
 * Load lid.176.ftz once per process. Inference is filters/fasttext.ts (fastText's arithmetic in TypeScript, results
 * bit-identical to fastText's WebAssembly build and 3-4x cheaper per call); a text is one line, its newlines are
 * separators like spaces.
 */
export function loadLid(): Promise<LidModel> {
  modelPromise ??= Promise.resolve(loadFastText(LID_MODEL_PATH));
  return modelPromise;
}

const CODE_LINE =
  /(?:[;{}]\s*$)|(?:^\s*(?:def|class|import|from|return|if|elif|else|for|while|switch|case|#include|#define|public|private|protected|static|void|int|function|const|let|var|package|using|namespace|fi|done|then|do|echo|export|sudo|\$|#\s|\/\/|\/\*|\*)\b)|(?:^\s*[\w.\[\]"'$-]+\s*(?:=|\+=|:=)\s*\S)|(?:^\s*[$#>%]\s)|(?:^[-dlcbsp][rwxsStT-]{9}[+.@]?\s)/;
const PROMPT_LINE = /^\s*(?:[$#%]|\w+@[\w.-]+:\S*[$#])\s+\S/;
/**
 * Share of non-empty lines that look like source code or shell (statement endings, keywords, assignments, prompts),
 * and the density of code punctuation. Used to label "code" before fastText, which has no such label.
 */
export function codeScore(text: string): { lineRatio: number; symbolDensity: number; promptRatio: number } {
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
  let sym = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // { } ( ) [ ] ; = < > $ / \ | & _ *
    if (
      c === 123 ||
      c === 125 ||
      c === 40 ||
      c === 41 ||
      c === 91 ||
      c === 93 ||
      c === 59 ||
      c === 61 ||
      c === 60 ||
      c === 62 ||
      c === 36 ||
      c === 47 ||
      c === 92 ||
      c === 124 ||
      c === 38 ||
      c === 95 ||
      c === 42
    )
      sym++;
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
  let sym = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      c === 123 ||
      c === 125 ||
      c === 40 ||
      c === 41 ||
      c === 91 ||
      c === 93 ||
      c === 59 ||
      c === 61 ||
      c === 60 ||
      c === 62 ||
      c === 36 ||
      c === 47 ||
      c === 92 ||
      c === 124 ||
      c === 38 ||
      c === 95 ||
      c === 42
    )
      sym++;
  }
  if (sym < 0.03 * text.length && !PROMPT_ANY.test(text)) return false;
  const s = codeScore(text);
  return (s.lineRatio >= lineRatio && s.symbolDensity >= 0.03) || (s.promptRatio >= 0.25 && s.lineRatio >= 0.3);
}

// ---------- Simplified vs Traditional ----------
let tradOnly: Uint8Array | undefined; // 1 = Traditional-only (changed by t2s), 2 = Simplified-only (changed by s2t)
function scriptTable(): Uint8Array {
  if (tradOnly) return tradOnly;
  // precomputed from OpenCC by filters/gen-script-table.ts
  const data = JSON.parse(readFileSync(new URL('./zh-script-chars.json', import.meta.url), 'utf8')) as {
    traditional: string;
    simplified: string;
  };
  const tab = new Uint8Array(0x30000);
  for (const c of data.traditional) tab[c.codePointAt(0)!] = 1;
  for (const c of data.simplified) tab[c.codePointAt(0)!] = 2;
  tradOnly = tab;
  return tab;
}

/** Counts Han characters that only exist in Traditional (changed by t2s) or only in Simplified (changed by s2t). */
export function scriptCounts(text: string, maxChars = Infinity): { han: number; trad: number; simp: number } {
  const tab = scriptTable();
  const { cps, n } = codePoints(text);
  const lim = Math.min(n, maxChars);
  let han = 0,
    trad = 0,
    simp = 0;
  for (let i = 0; i < lim; i++) {
    const c = cps[i];
    if (c < 0x3400 || c >= 0x30000 || !isHan(c)) continue;
    han++;
    const f = tab[c];
    if (f === 1) trad++;
    else if (f === 2) simp++;
  }
  return { han, trad, simp };
}

/** Traditional share among script-distinctive Han characters (0 = Simplified, 1 = Traditional, 0.5 when undecidable). */
export function traditionalShare(text: string, maxChars = Infinity): number {
  const { trad, simp } = scriptCounts(text, maxChars);
  return trad + simp === 0 ? 0.5 : trad / (trad + simp);
}
