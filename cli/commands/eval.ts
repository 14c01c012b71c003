import { parseArgs } from 'node:util';
import { openModel } from '../../train/load.ts';
import { evaluate } from '../../train/evaluate.ts';

export const summary = 'held-out perplexity of a checkpoint on a token shard folder';

const HELP = `usage: steel eval --model PATH --data DIR [--max-blocks N] [--batch N] [--seq-len T] [--backend cpu|cuda] [--json]

Reads DIR's blocks in order (no shuffling; with --max-blocks, at an even stride over all shards) and prints the mean cross-entropy (nats/token, pad ignored), perplexity and
bits per token. Note: the Steel kind sees whole blocks here, as in training (its Soft-MoE is not causal).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' }, model: { type: 'string' }, data: { type: 'string' }, 'max-blocks': { type: 'string' },
      batch: { type: 'string', default: '4' }, 'seq-len': { type: 'string' }, backend: { type: 'string', default: 'cpu' }, json: { type: 'boolean' },
    },
  });
  if (v.help) { console.log(HELP); return 0; }
  if (!v.model || !v.data) { console.error('steel eval: --model and --data are required\n\n' + HELP); return 2; }
  const m = await openModel(v.model, v.backend);
  const t0 = performance.now();
  const r = await evaluate(m.backend, m.vocabIds, v.data, {
    maxBlocks: v['max-blocks'] ? Number(v['max-blocks']) : undefined, batch: Number(v.batch), seqLen: v['seq-len'] ? Number(v['seq-len']) : undefined,
    onProgress: (d, t) => { if (process.stderr.isTTY) process.stderr.write(`\reval ${d}/${t} blocks`); },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const secs = (performance.now() - t0) / 1000;
  if (v.json) console.log(JSON.stringify({ ...r, model: m.source, data: v.data, seconds: secs }));
  else console.log(`eval ${v.data}: loss ${r.loss.toFixed(4)} nats/token, perplexity ${r.ppl.toFixed(2)}, ${r.bitsPerToken.toFixed(3)} bits/token over ${r.tokens} tokens (${r.blocks} blocks, ${secs.toFixed(1)} s)`);
  await m.backend.dispose();
  return 0;
}
