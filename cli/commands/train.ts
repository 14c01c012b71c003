import { parseArgs } from 'node:util';
import { resolveConfig, parseWeights } from '../../train/resolve.ts';
import { train } from '../../train/trainer.ts';
import { readModelConfig } from '../../train/checkpoint.ts';
import { STEEL_TRAIN } from '../../train/config.ts';
import { resolveRankWorld } from '../../train/distributed/collective.ts';
import { launchLocal } from '../../train/distributed/launch.ts';
import type { Protocol } from '../../eval/protocols.ts';

export const summary = 'pretrain a model on token shards (CPU reference backend or CUDA), with exact resume';

const HELP = `usage: steel train (--preset NAME | --config FILE) --data DIR --out DIR [options]

  --preset NAME        steel-1b, qwen2-dense-1b, qwen2-dense-1b-gqa, tiny, tiny-dense, small, small-dense, medium
  --config FILE        JSON/YAML {preset?, model: {...}, train: {...}} (overrides the preset)
  --data DIR           token shard folder (manifest.json, written by steel prep / steel tokenizer)
  --out DIR            run folder: metrics.jsonl, config.json, checkpoints/
  --backend cpu|cuda   default cpu (cuda needs train/native built)
  --steps N            stop after N optimizer steps in total (default: the schedule's total)
  --resume             continue from OUT's newest valid checkpoint (weights, optimizer, data position; new shards
                       in DIR's manifest are added, changed shards are an error); every checkpoint file is checked
                       against the sha256 in its manifest.json, and a corrupt one is skipped, naming the file
  --keep-checkpoints N keep the N newest checkpoints (default 3), so there is one to fall back to
  --init-from FILE     start from a model.safetensors (steel import output) instead of random weights
  --lr X --min-lr X --warmup N --total-steps N --micro-batch N --grad-accum N --seed N
  --log-every N --ckpt-every N
  --weights SRC=W,...  per-source mixture weights (default: uniform over blocks, as Steel)
  --procs N            data-parallel training in N processes on this machine (rank 0 writes metrics and
  --gpus N             checkpoints); --gpus is the same, one process per GPU with --backend cuda
  --rank R --world W   this process's data-parallel rank / world size (default: env RANK/WORLD_SIZE, else Slurm's
                       SLURM_PROCID/SLURM_NTASKS, else 0/1); ranks meet at --master-addr:--master-port
  --master-addr A --master-port P   rendezvous of rank 0 (default env MASTER_ADDR/MASTER_PORT, else 127.0.0.1:29500)
  --tensorboard DIR    also write TensorBoard event files of every metrics.jsonl row (training and eval) into DIR,
                       as they are logged (view with: tensorboard --logdir DIR)
  --eval-every N       evaluate every N steps and at the last step; rows {kind: "eval", ...} go to metrics.jsonl
  --eval-data DIR      held-out token shards: perplexity over --eval-blocks N blocks (default 16, even stride)
  --eval-task T[,..]   also a benchmark subset (ceval, cmmlu, mmlu; files under --eval-bench-dir, default raw):
                       --eval-limit N items per subject (default 50), --eval-protocol loglik|chat-gen (default
                       loglik), --eval-shots K (default 0), --eval-tokenizer SPEC (default qwen)
  --quiet`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      preset: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      steps: { type: 'string' },
      resume: { type: 'boolean' },
      'init-from': { type: 'string' },
      lr: { type: 'string' },
      'min-lr': { type: 'string' },
      warmup: { type: 'string' },
      'total-steps': { type: 'string' },
      'micro-batch': { type: 'string' },
      'grad-accum': { type: 'string' },
      seed: { type: 'string' },
      'log-every': { type: 'string' },
      'ckpt-every': { type: 'string' },
      'keep-checkpoints': { type: 'string' },
      weights: { type: 'string' },
      rank: { type: 'string' },
      world: { type: 'string' },
      quiet: { type: 'boolean' },
      procs: { type: 'string' },
      gpus: { type: 'string' },
      'master-addr': { type: 'string' },
      'master-port': { type: 'string' },
      tensorboard: { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-data': { type: 'string' },
      'eval-blocks': { type: 'string' },
      'eval-task': { type: 'string' },
      'eval-bench-dir': { type: 'string' },
      'eval-limit': { type: 'string' },
      'eval-protocol': { type: 'string' },
      'eval-shots': { type: 'string' },
      'eval-tokenizer': { type: 'string' },
    },
    strict: true,
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.data || !v.out) {
    console.error('steel train: --data and --out are required\n\n' + HELP);
    return 2;
  }
  if (!v.resume && !v.preset && !v.config && !v['init-from']) {
    console.error('steel train: give --preset or --config (or --resume)\n\n' + HELP);
    return 2;
  }
  const num = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new Error(`--${name}: not a number: ${s}`);
    return n;
  };
  const { model, hyper } =
    !v.preset && !v.config
      ? v['init-from']
        ? { model: readModelConfig(v['init-from']), hyper: { ...STEEL_TRAIN } }
        : resolveConfig({ preset: 'tiny' }) // resume: replaced by the checkpoint's
      : resolveConfig({ preset: v.preset, config: v.config });
  const ov: [keyof typeof hyper, string][] = [
    ['lr', 'lr'],
    ['minLr', 'min-lr'],
    ['warmupSteps', 'warmup'],
    ['totalSteps', 'total-steps'],
    ['microBatch', 'micro-batch'],
    ['gradAccum', 'grad-accum'],
    ['seed', 'seed'],
    ['logEvery', 'log-every'],
    ['ckptEvery', 'ckpt-every'],
  ];
  for (const [k, flag] of ov) {
    const n = num(flag, (v as unknown as Record<string, string | undefined>)[flag]);
    if (n !== undefined) {
      if (v.resume && k !== 'logEvery' && k !== 'ckptEvery')
        throw new Error(`--${flag} cannot change on --resume (the schedule and batch come from the checkpoint)`);
      hyper[k] = n;
    }
  }
  const steps = num('steps', v.steps);
  if (v.procs !== undefined || v.gpus !== undefined) {
    if (v.procs !== undefined && v.gpus !== undefined) throw new Error('give --procs or --gpus, not both');
    const n = num(v.procs !== undefined ? 'procs' : 'gpus', v.procs ?? v.gpus)!;
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--${v.procs !== undefined ? 'procs' : 'gpus'}: need a positive integer, got ${n}`);
    if (v.rank !== undefined || v.world !== undefined)
      throw new Error('--procs/--gpus starts the ranks itself; do not combine with --rank/--world');
    if (n > 1) {
      // the children run this same command without --procs/--gpus, with RANK/WORLD_SIZE/MASTER_* in their environment
      const childArgv: string[] = [];
      for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--procs' || a === '--gpus') {
          i++;
          continue;
        }
        if (a.startsWith('--procs=') || a.startsWith('--gpus=')) continue;
        childArgv.push(a);
      }
      return launchLocal({
        n,
        argv: ['train', ...childArgv],
        cuda: v.backend === 'cuda',
        masterAddr: v['master-addr'],
        masterPort: num('master-port', v['master-port']),
      });
    }
  }
  const rw = resolveRankWorld({ rank: num('rank', v.rank), world: num('world', v.world) });
  const evalEvery = num('eval-every', v['eval-every']);
  const evalFlags = [
    'eval-data',
    'eval-blocks',
    'eval-task',
    'eval-bench-dir',
    'eval-limit',
    'eval-protocol',
    'eval-shots',
    'eval-tokenizer',
  ];
  if (evalEvery === undefined && evalFlags.some((f) => (v as Record<string, unknown>)[f] !== undefined))
    throw new Error('the --eval-* options need --eval-every N');
  if (evalEvery !== undefined && (!Number.isInteger(evalEvery) || evalEvery < 1))
    throw new Error(`--eval-every: need a positive integer, got ${evalEvery}`);
  // loaded only when asked for (start-up of plain training runs stays as it was)
  const { makeInLoopEval, parseTasks, PROTOCOLS } =
    evalEvery === undefined ? ({} as never) : await import('../../eval/inloop.ts');
  if (v['eval-protocol'] && !PROTOCOLS.includes(v['eval-protocol'] as Protocol))
    throw new Error(`--eval-protocol: use ${PROTOCOLS.join(' or ')}`);
  const evalHook =
    evalEvery === undefined
      ? undefined
      : makeInLoopEval({
          dataDir: v['eval-data'],
          maxBlocks: num('eval-blocks', v['eval-blocks']),
          tasks: v['eval-task'] ? parseTasks(v['eval-task']) : undefined,
          benchDir: v['eval-bench-dir'],
          limit: num('eval-limit', v['eval-limit']),
          protocol: v['eval-protocol'] as Protocol | undefined,
          shots: num('eval-shots', v['eval-shots']),
          tokenizer: v['eval-tokenizer'],
        });
  const keep = v['keep-checkpoints'] === undefined ? undefined : Number(v['keep-checkpoints']);
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1))
    throw new Error(`--keep-checkpoints: need a positive integer, got ${v['keep-checkpoints']}`);
  const r = await train({
    evalEvery,
    evalHook,
    model,
    hyper,
    dataDir: v.data,
    outDir: v.out,
    backend: v.backend!,
    steps,
    resume: !!v.resume,
    weights: parseWeights(v.weights),
    rank: rw.rank,
    world: rw.world,
    quiet: !!v.quiet,
    masterAddr: v['master-addr'],
    masterPort: num('master-port', v['master-port']),
    // one GPU per rank: the launcher (and Slurm's GPU binding) leave one visible device; otherwise use the local rank
    device:
      v.backend === 'cuda' &&
      rw.world > 1 &&
      (process.env.CUDA_VISIBLE_DEVICES ?? '').split(',').filter(Boolean).length !== 1
        ? rw.localRank
        : undefined,
    initFrom: v['init-from'],
    tensorboard: v.tensorboard,
    logEvery: v['log-every'] ? hyper.logEvery : undefined,
    ckptEvery: v['ckpt-every'] ? hyper.ckptEvery : undefined,
    keepCheckpoints: keep,
  });
  return r.stoppedBy === 'nan' ? 3 : 0;
}
