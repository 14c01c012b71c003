import { parseArgs } from 'node:util';
import { openModel } from '../../train/load.ts';
import { evaluate } from '../../train/evaluate.ts';
import { loadTokenizer } from '../../tokenizer/encode.ts';
import { BackendModel, type ScoringMode } from '../../eval/lm.ts';
import { PROTOCOLS, resultTable, type Protocol } from '../../eval/protocols.ts';
import { parseTasks, runBenchmarks, writeResults } from '../../eval/run.ts';

export const summary = 'benchmarks (C-Eval, CMMLU, MMLU: chat-gen or loglik) or held-out perplexity of a checkpoint';

const HELP = `usage: steel eval --model PATH --task ceval|cmmlu|mmlu[,...] [options]     (benchmarks)
       steel eval --model PATH --data DIR [--max-blocks N] [--batch N] [--seq-len T]   (perplexity on token shards)

  --model PATH          run folder (latest checkpoint), checkpoint folder, model.safetensors, or HF folder
Benchmarks (files in their released layouts; steel collect ceval cmmlu mmlu fetches them):
  --bench-dir DIR       folder holding ceval/, cmmlu/, mmlu/ (default: raw, steel collect's output)
  --protocol P          chat-gen (default; Steel's: 0-shot, ChatML with "You are a helpful assistant.", greedy, answer
                        letter extracted with the rules of Qwen's C-Eval chat script) or loglik (lm-evaluation-harness
                        style: the option " X" with the highest log-likelihood after "答案：" / "Answer:")
  --shots K             loglik: K solved examples from the dev split (default 0)
  --limit N             the first N items of each subject
  --split S             default: C-Eval val (test answers are hidden), CMMLU test, MMLU test
  --subjects a,b        only these subjects
  --max-new-tokens N    chat-gen: default C-Eval 1024, CMMLU and MMLU 64
  --gen-batch N         chat-gen: questions decoded together (default 128; --backend cuda decodes them in one batch,
                        a slot whose reply has ended taking the next question; each reply the one it gets alone)
  --max-length N        token budget of prompt + answer (default: the model's training context); longer prompts
                        are cut from the left
  --scoring MODE        loglik on the dense kind: full (one causal pass, default) or incremental (KV cache). The Steel
                        kind is always scored incrementally (its Soft-MoE would leak the answer into its own score)
  --seed N              written beside the results (decoding is greedy)
  --out DIR             write DIR/TASK.json, DIR/TASK.md and DIR/TASK.items.jsonl
  --tokenizer SPEC      default qwen
Perplexity:
  --data DIR            token shard folder: mean cross-entropy (nats/token, pad ignored), perplexity, bits per token.
                        Blocks in order (with --max-blocks at an even stride). The Steel kind sees whole blocks here,
                        as in training (its Soft-MoE is not causal).
  --backend cpu|cuda    default cpu
  --json                print JSON`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      model: { type: 'string' },
      data: { type: 'string' },
      'max-blocks': { type: 'string' },
      batch: { type: 'string', default: '4' },
      'seq-len': { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      json: { type: 'boolean' },
      task: { type: 'string' },
      'bench-dir': { type: 'string', default: 'raw' },
      protocol: { type: 'string', default: 'chat-gen' },
      shots: { type: 'string', default: '0' },
      limit: { type: 'string' },
      split: { type: 'string' },
      subjects: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'gen-batch': { type: 'string' },
      'max-length': { type: 'string' },
      scoring: { type: 'string' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string' },
      tokenizer: { type: 'string', default: 'qwen' },
    },
    strict: true,
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.model || (!v.data && !v.task)) {
    console.error('steel eval: --model and one of --task or --data are required\n\n' + HELP);
    return 2;
  }
  if (v.data && v.task) {
    console.error('steel eval: give --task (benchmarks) or --data (perplexity), not both');
    return 2;
  }
  const int = (name: string, s: string | undefined, min = 0): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: need an integer >= ${min}, got ${s}`);
    return n;
  };
  if (v.task) {
    const tasks = parseTasks(v.task);
    if (!PROTOCOLS.includes(v.protocol as Protocol))
      throw new Error(`--protocol: unknown "${v.protocol}" (use ${PROTOCOLS.join(' or ')})`);
    if (v.scoring && v.scoring !== 'full' && v.scoring !== 'incremental')
      throw new Error(`--scoring: use full or incremental`);
    const m = await openModel(v.model, v.backend);
    const model = new BackendModel(m.backend, loadTokenizer(v.tokenizer), m.vocabIds, m.source, {
      maxLength: int('max-length', v['max-length'], 2),
      scoring: v.scoring as ScoringMode | undefined,
    });
    const t0 = performance.now();
    const runs = await runBenchmarks(model, {
      tasks,
      benchDir: v['bench-dir']!,
      protocol: v.protocol as Protocol,
      shots: int('shots', v.shots)!,
      limit: int('limit', v.limit, 1),
      split: v.split,
      subjects: v.subjects?.split(',').map((s) => s.trim()),
      maxNewTokens: int('max-new-tokens', v['max-new-tokens'], 1),
      batch: int('gen-batch', v['gen-batch'], 1),
      seed: int('seed', v.seed),
      onItem: (task, d, t) => {
        if (process.stderr.isTTY) process.stderr.write(`\r${task} ${d}/${t} items`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (v.out) {
      const files = writeResults(v.out, runs);
      process.stderr.write(`wrote ${files.join(', ')}\n`);
    }
    if (v.json) console.log(JSON.stringify(runs.map((r) => r.result)));
    else for (const r of runs) console.log(resultTable(r.result));
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `${runs.reduce((a, r) => a + r.result.items, 0)} items in ${secs.toFixed(1)} s (${v.protocol}, ${model.scoring} scoring${model.truncated ? `, ${model.truncated} prompts cut to ${model.maxLength} tokens` : ''})\n`,
    );
    await m.backend.dispose();
    return 0;
  }
  const m = await openModel(v.model, v.backend);
  const t0 = performance.now();
  const r = await evaluate(m.backend, m.vocabIds, v.data!, {
    maxBlocks: v['max-blocks'] ? Number(v['max-blocks']) : undefined,
    batch: Number(v.batch),
    seqLen: v['seq-len'] ? Number(v['seq-len']) : undefined,
    onProgress: (d, t) => {
      if (process.stderr.isTTY) process.stderr.write(`\reval ${d}/${t} blocks`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const secs = (performance.now() - t0) / 1000;
  if (v.json) console.log(JSON.stringify({ ...r, model: m.source, data: v.data, seconds: secs }));
  else
    console.log(
      `eval ${v.data}: loss ${r.loss.toFixed(4)} nats/token, perplexity ${r.ppl.toFixed(2)}, ${r.bitsPerToken.toFixed(3)} bits/token over ${r.tokens} tokens (${r.blocks} blocks, ${secs.toFixed(1)} s)`,
    );
  await m.backend.dispose();
  return 0;
}
