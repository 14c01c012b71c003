/**
 * Byte-level BPE training (GPT-2 / Qwen style), written here.
 *
 * 1. Pre-tokenise with the Qwen regex and count distinct pre-tokens ("words").
 * 2. Each word is a sequence of byte symbols (256 base ids in GPT-2's bytes_to_unicode order, so ids 0..255 equal
 *    Qwen's first 256 ids).
 * 3. Merge loop: pair counts are kept incrementally; a max-heap with lazy invalidation picks the most frequent pair
 *    (ties: smaller left id, then smaller right id); only the words that contain the pair (pair → word index lists)
 *    are rewritten, and only the neighbouring pairs of each occurrence change count. No full recount.
 * 4. Output: a Hugging Face tokenizer.json (BPE model, Qwen pre-tokenizer Split + ByteLevel, ByteLevel decoder,
 *    special tokens as added tokens) that the `tokenizers` engine loads.
 */
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { pieceEnd } from './pretokenize.ts';

/** Qwen2/Qwen3 pre-tokenisation regex, as written in their tokenizer.json (Oniguruma syntax). */
export const QWEN_PRETOKENIZE_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The same in JavaScript syntax (the reference tokenizer/pretokenize.ts's scanner is tested against): no inline (?i:) group, and \s spelled out as Unicode White_Space (what the Rust
// engine's \s matches) instead of JavaScript's \s (which adds U+FEFF and lacks U+0085).
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
export const PRETOKENIZE_RE = new RegExp(
  "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])" +
    '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+' +
    '|\\p{N}' +
    `| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*` +
    `|[${WS}]*[\\r\\n]+` +
    `|[${WS}]+(?![^${WS}])` +
    `|[${WS}]+`,
  'gu',
);

/** Split text into pre-tokens (where PRETOKENIZE_RE's matches end: the scanner of tokenizer/pretokenize.ts). */
export function pretokenize(text: string): string[] {
  const out: string[] = [];
  for (let i = 0, n = text.length; i < n;) {
    const e = pieceEnd(text, i, n);
    out.push(text.slice(i, e));
    i = e;
  }
  return out;
}

/** GPT-2's byte → printable character map. Returns [chars in id order, byte of each id]. */
export function byteLevelAlphabet(): { chars: string[]; byteOfId: number[]; idOfByte: number[] } {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const chars = cs.map((c) => String.fromCodePoint(c));
  const idOfByte = new Array(256);
  bs.forEach((b, i) => (idOfByte[b] = i));
  return { chars, byteOfId: bs, idOfByte };
}

/** Distinct pre-tokens with their counts. Feed texts with `add`, read `counts`. */
export class WordCounter {
  counts = new Map<string, number>();
  chars = 0;
  add(text: string): void {
    this.chars += text.length;
    for (const w of pretokenize(text)) this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
  }
}

export interface TrainOptions {
  /** Total vocabulary size including the 256 byte tokens and the special tokens. */
  vocabSize: number;
  /** Pairs seen fewer times than this are not merged (default 2). */
  minFrequency?: number;
  specialTokens?: string[];
  /** Apply NFC normalisation (as Qwen does). Default false: the tokenizer is then lossless for every input. */
  nfc?: boolean;
  onProgress?: (merges: number, target: number) => void;
}

export interface TrainResult {
  /** Token strings in id order (byte-level alphabet), without the special tokens. */
  vocab: string[];
  merges: [string, string][];
  specialTokens: string[];
  stats: { words: number; distinctWords: number; merges: number; seconds: number; stoppedEarly: boolean };
}

const SHIFT = 262144; // 2^18: max vocabulary size; pair key = left * SHIFT + right

/** Max-heap of (count, key); ties broken by smaller key. */
class PairHeap {
  c: number[] = [];
  k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private better(i: number, j: number): boolean {
    return this.c[i] > this.c[j] || (this.c[i] === this.c[j] && this.k[i] < this.k[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.c[i];
    this.c[i] = this.c[j];
    this.c[j] = c;
    const k = this.k[i];
    this.k[i] = this.k[j];
    this.k[j] = k;
  }
  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    let i = this.c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] | undefined {
    const n = this.c.length;
    if (n === 0) return undefined;
    const top: [number, number] = [this.c[0], this.k[0]];
    const lc = this.c.pop()!,
      lk = this.k.pop()!;
    if (n > 1) {
      this.c[0] = lc;
      this.k[0] = lk;
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let b = i;
        if (l < m && this.better(l, b)) b = l;
        if (r < m && this.better(r, b)) b = r;
        if (b === i) break;
        this.swap(i, b);
        i = b;
      }
    }
    return top;
  }
}

/** Train byte-level BPE merges from word counts. */
export function trainBpe(wordCounts: Map<string, number>, opts: TrainOptions): TrainResult {
  const t0 = performance.now();
  const specials = opts.specialTokens ?? ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const target = opts.vocabSize - specials.length;
  if (target < 256)
    throw new Error(`vocab size ${opts.vocabSize} is smaller than 256 bytes + ${specials.length} special tokens`);
  if (opts.vocabSize > SHIFT) throw new Error(`vocab size ${opts.vocabSize} above the supported maximum ${SHIFT}`);
  const minFreq = opts.minFrequency ?? 2;
  const { chars, idOfByte } = byteLevelAlphabet();
  const vocab = chars.slice();

  // Words as symbol arrays.
  const nWords = wordCounts.size;
  const words: Int32Array[] = new Array(nWords);
  const lens = new Int32Array(nWords);
  const counts = new Float64Array(nWords);
  let totalWords = 0;
  const enc = new TextEncoder();
  {
    let w = 0;
    for (const [s, c] of wordCounts) {
      const bytes = enc.encode(opts.nfc ? s.normalize('NFC') : s);
      const a = new Int32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) a[i] = idOfByte[bytes[i]];
      words[w] = a;
      lens[w] = a.length;
      counts[w] = c;
      totalWords += c;
      w++;
    }
  }

  // Initial pair counts and pair → words.
  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>();
  for (let w = 0; w < nWords; w++) {
    const a = words[w],
      c = counts[w];
    let prevKey = -1;
    for (let i = 0; i + 1 < a.length; i++) {
      const key = a[i] * SHIFT + a[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      if (key !== prevKey) {
        let l = where.get(key);
        if (!l) where.set(key, (l = []));
        if (l[l.length - 1] !== w) l.push(w);
      }
      prevKey = key;
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  const merges: [string, string][] = [];
  const seen = new Int32Array(nWords).fill(-1);
  const changed = new Set<number>();
  let stoppedEarly = false;
  const add = (key: number, delta: number) => {
    const v = (pairCount.get(key) ?? 0) + delta;
    if (v <= 0) pairCount.delete(key);
    else pairCount.set(key, v);
    if (delta > 0) changed.add(key);
  };
  const note = (key: number, w: number) => {
    let l = where.get(key);
    if (!l) where.set(key, (l = []));
    if (l[l.length - 1] !== w) l.push(w);
  };

  while (vocab.length < target) {
    const top = heap.pop();
    if (!top) {
      stoppedEarly = true;
      break;
    }
    const [cnt, key] = top;
    const cur = pairCount.get(key) ?? 0;
    if (cur !== cnt) {
      if (cur > 0) heap.push(cur, key);
      continue;
    }
    if (cur < minFreq) {
      stoppedEarly = true;
      break;
    }
    const A = Math.floor(key / SHIFT),
      B = key % SHIFT;
    const N = vocab.length;
    vocab.push(vocab[A] + vocab[B]);
    merges.push([vocab[A], vocab[B]]);
    const mIdx = merges.length;
    const ws = where.get(key) ?? [];
    where.delete(key);
    changed.clear();
    for (const w of ws) {
      if (seen[w] === mIdx) continue;
      seen[w] = mIdx;
      const a = words[w],
        c = counts[w];
      const len = lens[w];
      let j = 0;
      for (let i = 0; i < len;) {
        if (i + 1 < len && a[i] === A && a[i + 1] === B) {
          if (j > 0) {
            const prev = a[j - 1];
            add(prev * SHIFT + A, -c);
            add(prev * SHIFT + N, c);
            note(prev * SHIFT + N, w);
          }
          if (i + 2 < len) {
            const next = a[i + 2];
            add(B * SHIFT + next, -c);
            add(N * SHIFT + next, c);
            note(N * SHIFT + next, w);
          }
          add(key, -c);
          a[j++] = N;
          i += 2;
        } else {
          a[j++] = a[i++];
        }
      }
      lens[w] = j;
    }
    pairCount.delete(key);
    for (const k of changed) {
      const v = pairCount.get(k);
      if (v) heap.push(v, k);
    }
    if (opts.onProgress && merges.length % 1000 === 0) opts.onProgress(merges.length, target - 256);
  }
  return {
    vocab,
    merges,
    specialTokens: specials,
    stats: {
      words: totalWords,
      distinctWords: nWords,
      merges: merges.length,
      seconds: (performance.now() - t0) / 1000,
      stoppedEarly,
    },
  };
}

/** The tokenizer.json (Hugging Face format) of a trained BPE, with Qwen's pre-tokenizer and byte-level decoding. */
export function toTokenizerJson(r: TrainResult, opts: { nfc?: boolean } = {}): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  r.vocab.forEach((t, i) => (vocab[t] = i));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: r.specialTokens.map((content, i) => ({
      id: r.vocab.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: opts.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN_PRETOKENIZE_REGEX }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: r.merges,
    },
  };
}

export function writeTokenizerJson(path: string, json: Record<string, unknown>): void {
  writeFileAtomic(path, JSON.stringify(json));
}
