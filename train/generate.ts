/** Sampling with temperature / top-k / top-p over a KV-cache decoder (or full forward passes without one). */
import type { Backend } from './backend.ts';
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
  rng: Rng,
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
