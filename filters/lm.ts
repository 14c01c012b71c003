/**
 * N-gram language models for the perplexity filter.
 * - `trainKneserNey`: interpolated modified Kneser-Ney (Chen & Goodman; KenLM's adjusted counts and discounts),
 *   written as a back-off ARPA file whose probabilities equal the interpolated model exactly.
 * - `ArpaModel`: loads ARPA files (ours or KenLM's; word- or character-level) and scores text with back-off.
 * Tokens: `char` = one token per code point, whitespace as "▁"; `whitespace` = whitespace-separated words;
 * `jieba` = jieba words. Sentences are lines; each is scored with <s> ... </s>.
 */
import { wordStrings, wordsOf } from './text.ts';

export type LmTokenization = 'char' | 'whitespace' | 'jieba';
export const BOS = '<s>',
  EOS = '</s>',
  UNK = '<unk>';

export function tokenizeLine(line: string, tok: LmTokenization): string[] {
  if (tok === 'char') {
    const out: string[] = [];
    let prevSpace = false;
    for (const c of line.trim()) {
      const sp = /\s/.test(c);
      if (sp) {
        if (!prevSpace) out.push('▁');
      } else out.push(c);
      prevSpace = sp;
    }
    return out;
  }
  return wordStrings(wordsOf(line, tok === 'jieba' ? 'jieba' : 'whitespace'));
}

// ---------- training ----------
export interface KnModel {
  order: number;
  /** per order (index n-1): n-gram key (tokens joined by ' ') -> [log10 prob, log10 backoff] */
  grams: Map<string, [number, number]>[];
  discounts: [number, number, number][];
}

/** Train an interpolated modified Kneser-Ney model from token sequences (sentences, without <s>/</s>). */
export function trainKneserNey(sentences: Iterable<string[]>, order: number): KnModel {
  if (order < 1) throw new Error('order must be >= 1');
  // raw counts per order; keys are token arrays joined by '\u0001' internally
  const SEP = '\u0001';
  const raw: Map<string, number>[] = Array.from({ length: order }, () => new Map());
  const vocab = new Set<string>();
  for (const s of sentences) {
    if (s.length === 0) continue;
    const toks = [BOS, ...s, EOS];
    for (const t of s) vocab.add(t);
    for (let i = 0; i < toks.length; i++) {
      let key = '';
      for (let n = 1; n <= order && i - n + 1 >= 0; n++) {
        const j = i - n + 1;
        key = n === 1 ? toks[i] : toks[j] + SEP + key;
        if (n === 1 && toks[i] === BOS) continue; // <s> is never predicted
        raw[n - 1].set(key, (raw[n - 1].get(key) ?? 0) + 1);
      }
    }
  }
  vocab.add(EOS);
  // adjusted counts: highest order raw; lower orders = number of distinct left extensions, except n-grams starting with <s>
  const adj: Map<string, number>[] = Array.from({ length: order }, () => new Map());
  for (const [k, c] of raw[order - 1]) adj[order - 1].set(k, c);
  for (let n = order - 1; n >= 1; n--) {
    const m = adj[n - 1];
    for (const k of raw[n].keys()) {
      const suffix = k.slice(k.indexOf(SEP) + 1);
      m.set(suffix, (m.get(suffix) ?? 0) + 1);
    }
    for (const [k, c] of raw[n - 1]) if (k === BOS || k.startsWith(BOS + SEP)) m.set(k, c);
    // n-grams that never occur after anything (only possible right after <s>) keep raw counts
    for (const [k, c] of raw[n - 1]) if (!m.has(k)) m.set(k, c);
  }
  // discounts per order from count-of-counts of adjusted counts
  const discounts: [number, number, number][] = [];
  for (let n = 1; n <= order; n++) {
    const t = [0, 0, 0, 0, 0];
    for (const c of adj[n - 1].values()) if (c <= 4) t[c]++;
    let d: [number, number, number];
    if (t[1] > 0 && t[2] > 0 && t[3] > 0 && t[4] > 0) {
      const Y = t[1] / (t[1] + 2 * t[2]);
      d = [1 - (2 * Y * t[2]) / t[1], 2 - (3 * Y * t[3]) / t[2], 3 - (4 * Y * t[4]) / t[3]];
      if (!(d[0] > 0 && d[1] > 0 && d[2] > 0)) d = [0.5, 1, 1.5];
    } else d = [0.5, 1, 1.5]; // too little data for count-of-counts estimates
    d = [Math.min(d[0], 1), Math.min(d[1], 2), Math.min(d[2], 3)];
    discounts.push(d);
  }
  // per-context sums and N1/N2/N3+
  const ctxStats: Map<string, { sum: number; n1: number; n2: number; n3: number }>[] = [];
  for (let n = 1; n <= order; n++) {
    const cs = new Map<string, { sum: number; n1: number; n2: number; n3: number }>();
    for (const [k, c] of adj[n - 1]) {
      const ctx = n === 1 ? '' : k.slice(0, k.lastIndexOf(SEP));
      let s = cs.get(ctx);
      if (!s) cs.set(ctx, (s = { sum: 0, n1: 0, n2: 0, n3: 0 }));
      s.sum += c;
      if (c === 1) s.n1++;
      else if (c === 2) s.n2++;
      else s.n3++;
    }
    ctxStats.push(cs);
  }
  const gamma = (n: number, ctx: string): number => {
    const s = ctxStats[n - 1].get(ctx);
    if (!s) return 1;
    const [d1, d2, d3] = discounts[n - 1];
    return (d1 * s.n1 + d2 * s.n2 + d3 * s.n3) / s.sum;
  };
  const V = vocab.size + 1; // + <unk>
  const probs: Map<string, number>[] = Array.from({ length: order }, () => new Map());
  const uniform = 1 / V;
  // order 1
  {
    const s = ctxStats[0].get('')!;
    const g = gamma(1, '');
    const [d1, d2, d3] = discounts[0];
    for (const [k, c] of adj[0]) {
      const D = c === 1 ? d1 : c === 2 ? d2 : d3;
      probs[0].set(k, (c - D) / s.sum + g * uniform);
    }
    probs[0].set(UNK, g * uniform);
  }
  for (let n = 2; n <= order; n++) {
    const [d1, d2, d3] = discounts[n - 1];
    for (const [k, c] of adj[n - 1]) {
      const ctx = k.slice(0, k.lastIndexOf(SEP));
      const s = ctxStats[n - 1].get(ctx)!;
      const D = c === 1 ? d1 : c === 2 ? d2 : d3;
      const lower = probs[n - 2].get(k.slice(k.indexOf(SEP) + 1))!;
      probs[n - 1].set(k, (c - D) / s.sum + gamma(n, ctx) * lower);
    }
  }
  // ARPA entries: every n-gram gets log10 p and, when it is a context of a higher order, log10 gamma
  const grams: Map<string, [number, number]>[] = [];
  for (let n = 1; n <= order; n++) {
    const m = new Map<string, [number, number]>();
    const add = (k: string, p: number) => {
      const bow = n < order && ctxStats[n].has(k) ? Math.log10(gamma(n + 1, k)) : 0;
      m.set(k.split(SEP).join(' '), [p > 0 ? Math.log10(p) : -99, bow]);
    };
    if (n === 1) add(BOS, 0);
    for (const [k, p] of probs[n - 1]) add(k, p);
    grams.push(m);
  }
  return { order, grams, discounts };
}

export function formatArpa(m: KnModel): string {
  const out: string[] = ['\\data\\'];
  for (let n = 1; n <= m.order; n++) out.push(`ngram ${n}=${m.grams[n - 1].size}`);
  out.push('');
  for (let n = 1; n <= m.order; n++) {
    out.push(`\\${n}-grams:`);
    for (const [k, [p, b]] of m.grams[n - 1]) {
      out.push(n < m.order ? `${p.toFixed(7)}\t${k}\t${b.toFixed(7)}` : `${p.toFixed(7)}\t${k}`);
    }
    out.push('');
  }
  out.push('\\end\\', '');
  return out.join('\n');
}

// ---------- loading and scoring ----------
export class ArpaModel {
  order: number;
  private grams: Map<string, [number, number]>[];
  constructor(grams: Map<string, [number, number]>[]) {
    this.grams = grams;
    this.order = grams.length;
  }

  static parse(text: string, file = '<arpa>'): ArpaModel {
    const lines = text.split('\n');
    let i = 0;
    while (i < lines.length && lines[i].trim() !== '\\data\\') i++;
    if (i >= lines.length) throw new Error(`${file}: not an ARPA file (no \\data\\ section)`);
    i++;
    const counts: number[] = [];
    for (; i < lines.length; i++) {
      const l = lines[i].trim();
      if (!l) continue;
      const m = /^ngram (\d+)\s*=\s*(\d+)$/.exec(l);
      if (!m) break;
      counts[+m[1] - 1] = +m[2];
    }
    const order = counts.length;
    if (order === 0) throw new Error(`${file}: ARPA header lists no n-gram counts`);
    const grams: Map<string, [number, number]>[] = Array.from({ length: order }, () => new Map());
    let cur = 0;
    for (; i < lines.length; i++) {
      const l = lines[i];
      const t = l.trim();
      if (!t) continue;
      const sec = /^\\(\d+)-grams:$/.exec(t);
      if (sec) {
        cur = +sec[1];
        if (cur < 1 || cur > order) throw new Error(`${file}:${i + 1}: unexpected section ${t}`);
        continue;
      }
      if (t === '\\end\\') break;
      if (!cur) throw new Error(`${file}:${i + 1}: n-gram line outside a section`);
      const parts = t.split(/\s+/);
      if (parts.length < cur + 1) throw new Error(`${file}:${i + 1}: malformed ${cur}-gram line`);
      const p = +parts[0];
      const key = parts.slice(1, 1 + cur).join(' ');
      const b = parts.length > cur + 1 ? +parts[cur + 1] : 0;
      if (!Number.isFinite(p) || !Number.isFinite(b)) throw new Error(`${file}:${i + 1}: bad number`);
      grams[cur - 1].set(key, [p, b]);
    }
    for (let n = 0; n < order; n++) {
      if (grams[n].size !== counts[n])
        throw new Error(`${file}: header says ${counts[n]} ${n + 1}-grams, found ${grams[n].size}`);
    }
    return new ArpaModel(grams);
  }

  has(token: string): boolean {
    return this.grams[0].has(token);
  }

  /** log10 p(w | history) with ARPA back-off; history is the preceding tokens (most recent last). */
  logProb(history: readonly string[], w: string): number {
    if (!this.grams[0].has(w)) w = UNK;
    let bo = 0;
    const maxK = Math.min(this.order - 1, history.length);
    for (let k = maxK; k >= 0; k--) {
      const ctx = history.slice(history.length - k).map((t) => (this.grams[0].has(t) ? t : UNK));
      const key = k === 0 ? w : ctx.join(' ') + ' ' + w;
      const e = this.grams[k].get(key);
      if (e) return bo + e[0];
      if (k > 0) {
        const c = this.grams[k - 1].get(ctx.join(' '));
        if (c) bo += c[1];
      }
    }
    return bo - 99; // no <unk> in the model
  }

  /** Sum of log10 probabilities of one sentence's tokens plus </s>, starting from <s>. */
  scoreSentence(tokens: readonly string[]): number {
    const uni = this.grams[0];
    const seq: string[] = [BOS];
    for (const t of tokens) seq.push(uni.has(t) ? t : UNK);
    seq.push(EOS);
    const ctxKeys: string[] = new Array(this.order);
    let s = 0;
    for (let i = 1; i < seq.length; i++) {
      const w = seq[i];
      const maxK = Math.min(this.order - 1, i);
      // context keys of length 1..maxK, built right to left
      let c = '';
      for (let k = 1; k <= maxK; k++) {
        c = k === 1 ? seq[i - 1] : seq[i - k] + ' ' + c;
        ctxKeys[k] = c;
      }
      let bo = 0,
        found = false;
      for (let k = maxK; k >= 0; k--) {
        const e = this.grams[k].get(k === 0 ? w : ctxKeys[k] + ' ' + w);
        if (e) {
          s += bo + e[0];
          found = true;
          break;
        }
        if (k > 0) {
          const b = this.grams[k - 1].get(ctxKeys[k]);
          if (b) bo += b[1];
        }
      }
      if (!found) s += bo - 99;
    }
    return s;
  }

  /** data-juicer style perplexity: 10^(-sum log10 p / (tokens + one </s> per line)) over the non-empty lines. */
  perplexity(text: string, tok: LmTokenization): number {
    let logits = 0,
      length = 0;
    for (const line of text.split('\n')) {
      const toks = tokenizeLine(line, tok);
      if (toks.length === 0) continue;
      logits += this.scoreSentence(toks);
      length += toks.length + 1;
    }
    return length ? Math.pow(10, -logits / length) : 0;
  }
}

const loaded = new Map<string, ArpaModel>();
/** Load (once per process) an ARPA file. */
export async function loadArpa(path: string): Promise<ArpaModel> {
  let m = loaded.get(path);
  if (!m) {
    let buf: Uint8Array;
    if (path.endsWith('.zst')) {
      // through the pipeline's zstd reader (its wasm decoder; streaming frames too large to decode whole)
      const { openBytes } = await import('../pipeline/readers/bytes.ts');
      const parts: Uint8Array[] = [];
      for await (const c of openBytes(path)) parts.push(c);
      buf = Buffer.concat(parts);
    } else {
      const { readFile } = await import('node:fs/promises');
      buf = await readFile(path);
    }
    if (path.endsWith('.gz')) {
      const { gunzipSync } = await import('node:zlib');
      buf = gunzipSync(buf);
    }
    m = ArpaModel.parse(new TextDecoder().decode(buf), path);
    loaded.set(path, m);
  }
  return m;
}
