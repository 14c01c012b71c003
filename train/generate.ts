/** Sampling with temperature / top-k / top-p over a KV-cache decoder (or full forward passes without one). */
import type { Backend, RaggedDecodeSession } from './backend.ts';
import { Rng } from './rng.ts';

export interface SampleOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK?: number;
  seed: number;
  /** model ids that end generation. */
  stopIds?: number[];
  /** model ids never sampled (e.g. the unk class of a capped vocabulary). */
  banIds?: number[];
  onToken?: (id: number) => void | Promise<void>;
}

/** picks a token from logits: greedy when temperature <= 0, else softmax(logits / T) restricted to top-k and nucleus p. */
export function sampleLogits(
  logits: Float32Array,
  o: { temperature: number; topP: number; topK?: number },
  rng: Rng | null,
): number {
  const V = logits.length;
  if (o.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let mx = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
  const probs = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) {
    probs[i] = Math.exp((logits[i] - mx) / o.temperature);
    sum += probs[i];
  }
  const idx = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  const k = o.topK && o.topK > 0 ? Math.min(o.topK, V) : V;
  let keep = 0,
    acc = 0;
  for (; keep < k; keep++) {
    acc += probs[idx[keep]] / sum;
    if (acc >= o.topP) {
      keep++;
      break;
    }
  }
  keep = Math.max(1, Math.min(keep, k));
  let tot = 0;
  for (let i = 0; i < keep; i++) tot += probs[idx[i]];
  if (!rng) throw new Error('sampleLogits: sampling (temperature > 0) needs an Rng');
  let r = rng.next() * tot;
  for (let i = 0; i < keep; i++) {
    r -= probs[idx[i]];
    if (r <= 0) return idx[i];
  }
  return idx[keep - 1];
}

/** generates after `prompt` (model ids); returns the new ids. */
export async function generate(be: Backend, prompt: Int32Array, o: SampleOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('generate: empty prompt');
  const ban = (l: Float32Array) => {
    if (o.banIds) for (const b of o.banIds) l[b] = -Infinity;
    return l;
  };
  const rng = new Rng(o.seed);
  const out: number[] = [];
  const maxLen = prompt.length + o.maxTokens;
  const V = be.config.vocabSize;
  if (be.startDecode) {
    const s = be.startDecode(maxLen);
    let logits = await s.feed(prompt);
    for (let i = 0; i < o.maxTokens; i++) {
      const id = sampleLogits(ban(logits), o, rng);
      out.push(id);
      if (o.onToken) await o.onToken(id);
      if (o.stopIds?.includes(id) || i === o.maxTokens - 1) break;
      logits = await s.feed([id]);
    }
    s.dispose();
    return out;
  }
  const seq = Array.from(prompt);
  for (let i = 0; i < o.maxTokens; i++) {
    const ctx = Int32Array.from(seq.slice(-be.config.seqLen));
    const all = await be.forward(ctx, 1, ctx.length);
    const id = sampleLogits(ban(all.slice((ctx.length - 1) * V, ctx.length * V)), o, rng);
    out.push(id);
    seq.push(id);
    if (o.onToken) await o.onToken(id);
    if (o.stopIds?.includes(id)) break;
  }
  return out;
}

/**
 * A ragged batch decoder on any backend: the backend's own (the CUDA addon's: every sequence in each GPU call) or, on
 * a backend without one (CPU), one DecodeSession per sequence, fed one after the other, which decodes each sequence
 * exactly as generate() does.
 */
export function startRaggedDecode(be: Backend, B: number, maxLen: number): RaggedDecodeSession {
  if (be.startRaggedDecode) return be.startRaggedDecode(B, maxLen);
  const start = be.startDecode?.bind(be);
  if (!start) throw new Error(`decode: backend ${be.name} has no KV-cache decoder`);
  const V = be.config.vocabSize;
  let ss: ReturnType<typeof start>[] | null = null;
  const fresh = () => {
    if (ss) throw new Error('decode: prefill() / greedy() start a fresh session');
    ss = Array.from({ length: B }, () => start(maxLen));
    return ss;
  };
  const count = (n: number, what: string) => {
    if (n !== B) throw new Error(`decode: expected ${B} ${what}, got ${n}`);
  };
  return {
    batch: B,
    async prefill(prompts) {
      count(prompts.length, 'prompts');
      const s = fresh(),
        out = new Float32Array(B * V);
      for (let b = 0; b < B; b++) out.set(await s[b].feed(prompts[b]), b * V);
      return out;
    },
    async step(tokens) {
      count(tokens.length, 'tokens');
      if (!ss) throw new Error('decode: step() before prefill()');
      const out = new Float32Array(B * V);
      for (let b = 0; b < B; b++) if (tokens[b] >= 0) out.set(await ss[b].feed([tokens[b]]), b * V);
      return out;
    },
    async greedy(prompts, steps, stopIds, banIds) {
      if (prompts.length < B) throw new Error(`decode: expected at least ${B} prompts, got ${prompts.length}`);
      if (ss) throw new Error('decode: prefill() / greedy() start a fresh session');
      ss = [];
      const stop = new Set(Array.from(stopIds)),
        ban = Array.from(banIds);
      const res: number[][] = [];
      // a sequence after another, each in a session of its own: what continuous batching gives each of them
      for (const p of prompts) {
        const one = start(maxLen);
        const out: number[] = [];
        let logits = await one.feed(p);
        for (let i = 0; i < steps; i++) {
          for (const x of ban) logits[x] = -Infinity;
          const id = sampleLogits(logits, GREEDY, null);
          out.push(id);
          if (stop.has(id) || i === steps - 1) break;
          logits = await one.feed([id]);
        }
        one.dispose();
        res.push(out);
      }
      return res;
    },
    dispose() {
      for (const s of ss ?? []) s.dispose();
      ss = null;
    },
  };
}

const GREEDY = { temperature: 0, topP: 1 };

/**
 * generate() for several prompts at once in ragged batches: each prompt's new ids are those generate() gives it
 * alone with the same options (greedy: argmax on the device, ban list included; sampling: each sequence with its own
 * Rng seeded with `seeds[i]` (default o.seed, as generate() per prompt), so the result does not depend on how prompts
 * are batched). Each sequence stops at its own stop id. At most `batch` sequences (default: all) decode at once:
 * greedy decoding gives a slot whose sequence has ended the next prompt (continuous batching), sampling decodes the
 * prompts in consecutive batches. onToken is not called.
 */
export async function generateBatch(
  be: Backend,
  prompts: Int32Array[],
  o: SampleOptions & { seeds?: number[]; batch?: number },
): Promise<number[][]> {
  const B = prompts.length;
  if (B === 0) return [];
  for (const p of prompts) if (p.length === 0) throw new Error('generate: empty prompt');
  if (o.maxTokens <= 0) return prompts.map(() => []);
  if (!be.startDecode && !be.startRaggedDecode) {
    const res: number[][] = [];
    for (let b = 0; b < B; b++) res.push(await generate(be, prompts[b], { ...o, seed: o.seeds?.[b] ?? o.seed }));
    return res;
  }
  // longest prompts first: a backend that right-pads a prefill group to its longest prompt (the CUDA addon, dense kind)
  // pads little; each sequence's result does not depend on its place in the batch
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[b].length - prompts[a].length || a - b);
  const sorted = order.map((i) => prompts[i]);
  const slots = Math.max(1, Math.min(B, o.batch ?? B));
  const seeds = order.map((i) => o.seeds?.[i] ?? o.seed);
  let res: number[][];
  if (o.temperature <= 0) res = await generateGreedy(be, sorted, slots, o);
  else {
    res = [];
    for (let i = 0; i < B; i += slots)
      res.push(...(await generateRagged(be, sorted.slice(i, i + slots), { ...o, seeds: seeds.slice(i, i + slots) })));
  }
  const out: number[][] = new Array(B);
  order.forEach((i, j) => (out[i] = res[j]));
  return out;
}

// greedy: `slots` sequences at a time on the device, each slot taking the next prompt when its sequence ends; prompts
// longest first
async function generateGreedy(
  be: Backend,
  prompts: Int32Array[],
  slots: number,
  o: SampleOptions,
): Promise<number[][]> {
  const s = startRaggedDecode(be, slots, prompts[0].length + o.maxTokens);
  try {
    return await s.greedy(prompts, o.maxTokens, o.stopIds ?? [], o.banIds ?? []);
  } finally {
    s.dispose();
  }
}

// sampling on the host: one batch (prompts longest first)
async function generateRagged(
  be: Backend,
  prompts: Int32Array[],
  o: SampleOptions & { seeds: number[] },
): Promise<number[][]> {
  const B = prompts.length;
  const maxLen = prompts[0].length + o.maxTokens;
  const s = startRaggedDecode(be, B, maxLen);
  try {
    const V = be.config.vocabSize,
      stop = new Set(o.stopIds ?? []);
    const rngs = o.seeds.map((seed) => new Rng(seed));
    const out: number[][] = prompts.map(() => []);
    const live = new Array<boolean>(B).fill(true);
    let logits = await s.prefill(prompts);
    for (let i = 0; i < o.maxTokens; i++) {
      const next = new Int32Array(B).fill(-1);
      for (let b = 0; b < B; b++) {
        if (!live[b]) continue;
        const row = logits.subarray(b * V, (b + 1) * V);
        if (o.banIds) for (const x of o.banIds) row[x] = -Infinity;
        const id = sampleLogits(row, o, rngs[b]);
        out[b].push(id);
        if (stop.has(id)) live[b] = false;
        else next[b] = id;
      }
      if (i === o.maxTokens - 1 || !live.some((x) => x)) break;
      logits = await s.step(next);
    }
    return out;
  } finally {
    s.dispose();
  }
}
