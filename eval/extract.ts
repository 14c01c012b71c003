/**
 * Answer-letter extraction from a chat reply, with the rules of Qwen's C-Eval chat script as Steel's eval scripts use
 * them (steel-llm.md §6):
 * 1. rewrite the reply: the question stem (last sentence, before/after a "_" blank) becomes "答案是", each option's text
 *    becomes its letter (longest option first);
 * 2. take the first match of, in order:
 *    `lead`    a letter after 选/选择/选定, or after 答案/选项 ... 是/选/为/：/】 unless a 不/非 comes between;
 *    `correct` "X(选项)正确/对的/符合", unless a 不/非 comes between;
 *    `start`   a reply that starts with the letter (optionally in brackets);
 *    `final`   "最终答案是 ... X";
 *    `first`   the first A-D that is not part of a Latin word;
 *    `fuzzy`   failing all, the option whose text is closest to the reply (thefuzz-style weighted ratio).
 */
import type { Letter } from './benchmarks.ts';

const L = '[ABCD]',
  NL = '[^ABCD]';
/** Python's `$` without MULTILINE also matches before a final newline. */
const END = '(?=\\n?$)';
const NEG = '(?:不|非)';

const RULES: { name: ExtractRule; re: RegExp }[] = [
  {
    name: 'lead',
    re: new RegExp(
      `(?:(?:选|选择|选定)[：:]?\\s*|(?:(?:答案|选项)(?!${NL}{0,10}?${NEG}${NL}{0,10}?(?:是|选|为|：|:|】))${NL}{0,10}?(?:是|选|为|：|:|】))${NL}{0,10}?)` +
        `(${L})(?:选项)?(?:\\)|。|\\.|，|,|．|、|${L}|${END}|：|:|）)`,
    ),
  },
  {
    name: 'correct',
    re: new RegExp(
      `(${L})(?:选?项)?(?!${NL}{0,4}?${NEG}${NL}{0,4}?(?:正确|对[的，。：]|符合))${NL}{0,4}?(?:正确|对[的，。：]|符合)`,
    ),
  },
  { name: 'start', re: new RegExp(`^[(（]?(${L})(?:。|\\)|）|\\.|，|,|．|：|:|${END})`) },
  { name: 'final', re: new RegExp(`最终答案是${NL}{0,10}?(${L})`) },
  { name: 'first', re: new RegExp(`(?<![a-zA-Z])(${L})(?![a-zA-Z=])`) },
];

export type ExtractRule = 'lead' | 'correct' | 'start' | 'final' | 'first' | 'fuzzy';

const cpLen = (s: string) => [...s].length;
const rstrip = (s: string, ch: string) => {
  let e = s.length;
  while (e > 0 && s[e - 1] === ch) e--;
  return s.slice(0, e);
};

/** step 1: the question stem -> "答案是", option texts -> their letters (longest first; an empty option is skipped). */
export function rewriteReply(reply: string, question: string, choices: readonly string[]): string {
  const stem = rstrip(question, '。').split('。').pop()!.split('_');
  let g = reply;
  if (cpLen(stem[0].trim()) > 4) g = g.split(stem[0]).join('答案是');
  const last = stem[stem.length - 1];
  if (cpLen(last.trim()) > 4) g = g.split(last).join('');
  const order = choices.map((text, i) => ({ text, i })).sort((a, b) => cpLen(b.text) - cpLen(a.text) || a.i - b.i);
  for (const { text, i } of order) {
    const t = rstrip(text, '。');
    if (t) g = g.split(t).join('ABCD'[i]);
  }
  return g;
}

export interface Extraction {
  letter: Letter;
  rule: ExtractRule;
  rewritten: string;
}

export function extractAnswer(reply: string, question: string, choices: readonly string[]): Extraction {
  const g = rewriteReply(reply, question, choices);
  for (const r of RULES) {
    const m = r.re.exec(g);
    if (m) return { letter: m[1] as Letter, rule: r.name, rewritten: g };
  }
  let best = 0,
    bestScore = -1;
  choices.forEach((c, i) => {
    const s = weightedRatio(g, c);
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  });
  return { letter: 'ABCD'[best] as Letter, rule: 'fuzzy', rewritten: g };
}

// ---- fuzzy matching (thefuzz / rapidfuzz WRatio without the token-set part), scores 0..100 --------------------------

/** lower-case, every non-letter/digit becomes a space, trimmed (thefuzz's default processor). */
export function fuzzProcess(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, ' ')
    .trim();
}

function lcsLen(a: string[], b: string[]): number {
  const prev = new Int32Array(b.length + 1),
    cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++)
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    prev.set(cur);
  }
  return prev[b.length];
}

/** normalised indel similarity: 100 * 2 * LCS / (|a| + |b|). */
export function ratio(a: string, b: string): number {
  const x = [...a],
    y = [...b];
  if (x.length + y.length === 0) return 100;
  return (200 * lcsLen(x, y)) / (x.length + y.length);
}

/** best ratio of the shorter string against every window of the longer one of the same length. */
export function partialRatio(a: string, b: string): number {
  let s = [...a],
    l = [...b];
  if (s.length > l.length) [s, l] = [l, s];
  if (s.length === 0) return 0;
  let best = 0;
  for (let i = 0; i + s.length <= l.length; i++) {
    best = Math.max(best, (200 * lcsLen(s, l.slice(i, i + s.length))) / (2 * s.length));
    if (best === 100) break;
  }
  return best;
}

const sortTokens = (s: string) => s.split(/\s+/).filter(Boolean).sort().join(' ');

export function weightedRatio(a: string, b: string): number {
  const p = fuzzProcess(a),
    q = fuzzProcess(b);
  if (!p || !q) return 0;
  const lp = cpLen(p),
    lq = cpLen(q);
  const lenRatio = Math.max(lp, lq) / Math.min(lp, lq);
  let best = ratio(p, q);
  if (lenRatio < 1.5) return Math.max(best, ratio(sortTokens(p), sortTokens(q)) * 0.95);
  const scale = lenRatio < 8 ? 0.9 : 0.6;
  best = Math.max(best, partialRatio(p, q) * scale);
  return Math.max(best, partialRatio(sortTokens(p), sortTokens(q)) * 0.95 * scale);
}
