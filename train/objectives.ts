/**
 * Fine-tuning objectives over the backend's weighted-loss interface (train/backend.ts):
 * - SFT: mean cross-entropy over the supervised (mask = 1) targets of the whole optimizer step;
 * - DPO: the sigmoid loss of Rafailov et al. over per-sequence summed log-probs, a batch of P pairs laid out as rows
 *   [0, P) chosen and [P, 2P) rejected.
 */

/** SFT weights: mask / supervised targets of the step (so accumulated micro-batches give the exact step mean). */
export function sftWeights(mask: Float32Array | Uint8Array, stepSupervised: number): Float32Array {
  if (!(stepSupervised > 0)) throw new Error('sft: a step with no supervised tokens');
  const w = new Float32Array(mask.length);
  const f = 1 / stepSupervised;
  for (let i = 0; i < mask.length; i++) if (mask[i]) w[i] = f;
  return w;
}

export interface DpoBatchResult {
  /** mean over pairs of -log sigmoid(beta * ((pc - rc) - (pr - rr))). */
  loss: number;
  /** d loss / d s_b for each row (policy log-prob sums). */
  dSeq: Float64Array;
  /** mean of the chosen rewards beta * (pc - rc), of the rejected ones, and of their margin. */
  chosenReward: number;
  rejectedReward: number;
  margin: number;
  /** fraction of pairs whose chosen reward exceeds the rejected one. */
  accuracy: number;
}

function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}
function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** sigmoid DPO over rows [0,P) chosen, [P,2P) rejected: policy and reference per-sequence summed log-probs. */
export function dpoLoss(policy: Float64Array, ref: ArrayLike<number>, beta: number): DpoBatchResult {
  const B = policy.length;
  if (B % 2 !== 0 || B === 0)
    throw new Error(`dpo: expected an even, non-zero number of rows (chosen then rejected), got ${B}`);
  if (ref.length !== B) throw new Error(`dpo: ${B} policy log-probs but ${ref.length} reference ones`);
  const P = B / 2;
  const dSeq = new Float64Array(B);
  let loss = 0,
    cr = 0,
    rr = 0,
    acc = 0;
  for (let i = 0; i < P; i++) {
    const rc = beta * (policy[i] - ref[i]),
      rj = beta * (policy[P + i] - ref[P + i]);
    const z = rc - rj;
    loss -= logSigmoid(z) / P;
    const g = (-beta * sigmoid(-z)) / P; // d loss / d z * dz/d pc
    dSeq[i] = g;
    dSeq[P + i] = -g;
    cr += rc / P;
    rr += rj / P;
    if (rc > rj) acc += 1 / P;
  }
  return { loss, dSeq, chosenReward: cr, rejectedReward: rr, margin: cr - rr, accuracy: acc };
}

/**
 * Token weights for the backward pass of a sequence-level loss: the backend's loss is sum w * (-log p), so
 * d loss / d log p_bt = -w_bt; setting w_bt = -dSeq[b] * mask_bt * scale gives the gradient of scale * loss(s).
 */
export function seqLossWeights(
  dSeq: Float64Array,
  mask: Float32Array | Uint8Array,
  T: number,
  scale = 1,
): Float32Array {
  const w = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i]) w[i] = -dSeq[Math.floor(i / T)] * mask[i] * scale;
  return w;
}
