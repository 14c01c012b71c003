import { parseArgs } from 'node:util';
import { finetune, STEEL_DPO, STEEL_SFT, type FtHyper, type FtTask } from '../../train/finetune.ts';

export const summary =
  'supervised fine-tuning (Steel-LLM-Chat recipe) from a pretrained run or HF folder on steel sft-data shards';

export function help(task: FtTask): string {
  const d = task === 'sft' ? STEEL_SFT : STEEL_DPO;
  return `usage: steel ${task} --from MODEL --data DIR --out DIR [options]
       steel ${task} --data DIR --out DIR --resume

  --from PATH          start model: run folder (latest checkpoint), checkpoint, model.safetensors, or HF folder
  --data DIR           ${task === 'sft' ? 'SFT' : 'DPO'} shards from \`steel sft-data --task ${task}\`
  --out DIR            run folder: config.json, metrics.jsonl, checkpoints/
  --resume             continue the run in --out exactly where its last checkpoint left it
  --epochs N           default ${d.epochs}
  --lr X               peak learning rate, default ${d.lr} (cosine to --min-lr ${d.minLr}, warmup ${d.warmupRatio * 100}% of the steps)
  --batch N            rows (${task === 'sft' ? 'conversations' : 'pairs'}) per optimizer step, default ${d.globalBatch}
  --micro-batch N      rows per forward/backward, default ${d.microBatch}
  --weight-decay X     default ${d.weightDecay}${task === 'dpo' ? `\n  --beta X             DPO temperature, default ${d.beta} (sigmoid loss)` : ''}
  --steps N            stop after N optimizer steps (the schedule still spans every epoch)
  --seed N             data order, default ${d.seed}
  --log-every N        default 10;  --ckpt-every N  default 500
  --backend cpu|cuda   default cpu (needs per-token loss weights: train/backend.ts)
${task === 'sft' ? 'Loss: mean cross-entropy over assistant tokens (content and <|im_end|>) of each step.' : 'Reference log-probs of the start model are computed once and stored in DATA/reference/ (checked against data and model).\nmetrics.jsonl logs loss, reward_margin, preference_accuracy, chosen_reward, rejected_reward.'}`;
}

export async function runTask(task: FtTask, argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      from: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'min-lr': { type: 'string' },
      batch: { type: 'string' },
      'micro-batch': { type: 'string' },
      'weight-decay': { type: 'string' },
      beta: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'warmup-ratio': { type: 'string' },
      'log-every': { type: 'string' },
      'ckpt-every': { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      quiet: { type: 'boolean' },
    },
  });
  if (v.help) {
    console.log(help(task));
    return 0;
  }
  if (!v.data || !v.out || (!v.from && !v.resume)) {
    console.error(`steel ${task}: --data, --out and --from (or --resume) are required\n\n${help(task)}`);
    return 2;
  }
  const num = (name: string, s: string | undefined, def: number, int = false): number => {
    if (s === undefined) return def;
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n)))
      throw new Error(`--${name} must be a ${int ? 'non-negative integer' : 'non-negative number'}, got "${s}"`);
    return n;
  };
  const d = task === 'sft' ? STEEL_SFT : STEEL_DPO;
  const hyper: FtHyper = {
    ...d,
    epochs: num('epochs', v.epochs, d.epochs),
    lr: num('lr', v.lr, d.lr),
    minLr: num('min-lr', v['min-lr'], d.minLr),
    globalBatch: Math.max(1, num('batch', v.batch, d.globalBatch, true)),
    microBatch: Math.max(1, num('micro-batch', v['micro-batch'], d.microBatch, true)),
    weightDecay: num('weight-decay', v['weight-decay'], d.weightDecay),
    beta: num('beta', v.beta, d.beta),
    seed: num('seed', v.seed, d.seed, true),
    warmupRatio: num('warmup-ratio', v['warmup-ratio'], d.warmupRatio),
  };
  await finetune({
    task,
    from: v.from,
    dataDir: v.data,
    outDir: v.out,
    backend: v.backend,
    hyper,
    resume: v.resume,
    steps: v.steps ? num('steps', v.steps, 0, true) : undefined,
    logEvery: v['log-every'] ? num('log-every', v['log-every'], 10, true) : undefined,
    ckptEvery: v['ckpt-every'] ? num('ckpt-every', v['ckpt-every'], 500, true) : undefined,
    quiet: v.quiet,
  });
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  return runTask('sft', argv);
}
