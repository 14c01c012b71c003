/** Held-out perplexity: mean cross-entropy (pad targets ignored) over the blocks of a shard folder, in order. */
import type { Backend } from './backend.ts';
import { DataLoader } from './data.ts';
import { crossEntropy } from './backends/ops.ts';
import { mapTokens, vocabTable, QWEN_PAD } from './trainer.ts';

export interface EvalResult {
  loss: number;
  ppl: number;
  tokens: number;
  blocks: number;
  bitsPerToken: number;
}

export async function evaluate(
  be: Backend,
  vocabIds: Int32Array | null,
  dir: string,
  o: { maxBlocks?: number; batch?: number; seqLen?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<EvalResult> {
  const c = be.config,
    T = o.seqLen ?? c.seqLen,
    B = o.batch ?? 4;
  const rawPad = vocabIds ? QWEN_PAD : c.padId;
  const dl = await DataLoader.open({ dir, seqLen: T, seed: 0, padId: rawPad });
  const table = vocabIds ? vocabTable(vocabIds, c.padId) : null;
  const total = Math.min(dl.numBlocks, o.maxBlocks ?? Infinity);
  let sum = 0,
    count = 0,
    done = 0;
  const L = T + 1,
    V = c.vocabSize;
  while (done < total) {
    const nb = Math.min(B, total - done);
    const blk = new Int32Array(nb * L);
    for (let b = 0; b < nb; b++) await dl.readBlock(Math.floor(((done + b) * dl.numBlocks) / total), blk, b * L); // in order, no shuffling
    const { tokens } = mapTokens(blk, table, c.padId);
    const inp = new Int32Array(nb * T),
      tgt = new Int32Array(nb * T);
    for (let b = 0; b < nb; b++) {
      inp.set(tokens.subarray(b * L, b * L + T), b * T);
      tgt.set(tokens.subarray(b * L + 1, (b + 1) * L), b * T);
    }
    const logits = await be.forward(inp, nb, T);
    const r = crossEntropy(logits, tgt, nb * T, V, c.padId, null, 1);
    sum += r.loss * r.count;
    count += r.count;
    done += nb;
    o.onProgress?.(done, total);
  }
  const loss = count ? sum / count : NaN;
  return { loss, ppl: Math.exp(loss), tokens: count, blocks: done, bitsPerToken: loss / Math.LN2 };
}
