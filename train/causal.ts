/**
 * Causality check: change the token at position j and see whether the logits at positions < j move.
 * The dense kind is causal (no change); the Steel kind's Soft-MoE mixes every position of the block into its slots in
 * training, so earlier logits change (the leak).
 */
import type { Backend } from './backend.ts';
import { Rng } from './rng.ts';

export interface CausalReport {
  kind: string;
  T: number;
  changedAt: number;
  maxDiffBefore: number;
  maxDiffAt: number;
  causal: boolean;
}

export async function checkCausal(
  be: Backend,
  o: { T?: number; seed?: number; position?: number } = {},
): Promise<CausalReport> {
  const V = be.config.vocabSize,
    T = Math.min(o.T ?? 16, be.config.seqLen);
  const rng = new Rng(o.seed ?? 1);
  const a = new Int32Array(T);
  for (let i = 0; i < T; i++) a[i] = rng.int(V);
  const j = o.position ?? T - 1;
  const b = Int32Array.from(a);
  b[j] = (a[j] + 1 + rng.int(V - 1)) % V;
  const la = await be.forward(a, 1, T),
    lb = await be.forward(b, 1, T);
  let before = 0,
    at = 0;
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let v = 0; v < V; v++) m = Math.max(m, Math.abs(la[t * V + v] - lb[t * V + v]));
    if (t < j) before = Math.max(before, m);
    else if (t === j) at = m;
  }
  return { kind: be.config.kind, T, changedAt: j, maxDiffBefore: before, maxDiffAt: at, causal: before === 0 };
}
