/**
 * In-loop evaluation for `steel train --eval-every N`: held-out perplexity on a shard folder and, optionally, a
 * benchmark subset; each result is one metrics.jsonl row ({step, kind: "eval", split: "heldout", loss, ppl, ...} and
 * {step, kind: "eval", task: "ceval", acc, micro, categories, ...}), so the run report and TensorBoard pick them up.
 * Built here (the composition root passes it to the trainer as a hook), so train/ does not depend on eval/.
 */
import type { Backend } from '../train/backend.ts';
import { evaluate } from '../train/evaluate.ts';
import { loadTokenizer } from '../tokenizer/encode.ts';
import type { TaskName } from './benchmarks.ts';
import { BackendModel } from './lm.ts';
import type { Protocol } from './protocols.ts';
import { runBenchmarks } from './run.ts';

export { parseTasks } from './run.ts';
export { PROTOCOLS } from './protocols.ts';

export interface InLoopEvalOptions {
  /** held-out token shards (perplexity). */
  dataDir?: string;
  /** blocks of the held-out folder per evaluation (at an even stride; default 16). */
  maxBlocks?: number;
  tasks?: TaskName[];
  benchDir?: string;
  /** items per subject (default 50). */
  limit?: number;
  protocol?: Protocol;
  shots?: number;
  tokenizer?: string;
}

export type EvalHook = (be: Backend, vocabIds: Int32Array | null, step: number) => Promise<Record<string, unknown>[]>;

export function makeInLoopEval(o: InLoopEvalOptions): EvalHook {
  if (!o.dataDir && !o.tasks?.length)
    throw new Error('--eval-every needs --eval-data DIR (held-out shards) and/or --eval-task');
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  return async (be, vocabIds) => {
    const rows: Record<string, unknown>[] = [];
    if (o.dataDir) {
      const t0 = performance.now();
      const r = await evaluate(be, vocabIds, o.dataDir, { maxBlocks: o.maxBlocks ?? 16 });
      rows.push({
        kind: 'eval',
        split: 'heldout',
        loss: r.loss,
        ppl: r.ppl,
        bits_per_token: r.bitsPerToken,
        tokens: r.tokens,
        eval_s: r4((performance.now() - t0) / 1000),
      });
    }
    if (o.tasks?.length) {
      const model = new BackendModel(be, loadTokenizer(o.tokenizer ?? 'qwen'), vocabIds, 'in-loop');
      const runs = await runBenchmarks(model, {
        tasks: o.tasks,
        benchDir: o.benchDir ?? 'raw',
        protocol: o.protocol ?? 'loglik',
        shots: o.shots ?? 0,
        limit: o.limit ?? 50,
      });
      for (const { result: r } of runs) {
        rows.push({
          kind: 'eval',
          task: r.task,
          protocol: r.protocol,
          shots: r.shots,
          acc: r4(r.average),
          micro: r4(r.micro),
          items: r.items,
          categories: Object.fromEntries(Object.entries(r.categories).map(([c, s]) => [c, r4(s.acc)])),
          eval_s: r4(r.seconds),
        });
      }
    }
    return rows;
  };
}
