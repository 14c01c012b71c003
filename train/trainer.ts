/**
 * The training loop: AdamW (β 0.9/0.95, weight decay 0.05), linear warmup then cosine to a minimum LR, global-norm
 * clipping at 1.0, gradient accumulation, pad-id loss masking (in the backend), NaN/inf detection, OUT/metrics.jsonl,
 * a progress display, and atomic checkpoints every ckptEvery steps, at the end, and on SIGINT/SIGTERM.
 */
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackend, type Backend } from './backend.ts';
import { type ModelConfig, type TrainHyper, UNK_RAW_ID, flopsPerToken, validateConfig } from './config.ts';
import { DataLoader, vocabStats } from './data.ts';
import { readManifest } from '../tokenizer/shards.ts';
import {
  lastGoodCheckpoint,
  latestCheckpoint,
  loadCheckpoint,
  loadModel,
  readModelConfig,
  readTrainerState,
  readVocabIds,
  resumeCheckpoint,
  saveCheckpoint,
  type TrainerState,
} from './checkpoint.ts';
import { TcpCollective, type Collective } from './distributed/collective.ts';
import { checkReplicas, distInfo, gradReducer, paramDigest, shareOf, type DistInfo } from './distributed/dp.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { truncateMetrics } from './metrics.ts';
import { TensorBoardMirror } from './tensorboard.ts';
import { fmtDuration } from '../pipeline/progress.ts';

export const QWEN_PAD = 151643;
export const QWEN_EOS = 151645;
export const QWEN_IM_START = 151644;

export interface TrainOptions {
  model: ModelConfig;
  hyper: TrainHyper;
  dataDir: string;
  outDir: string;
  backend: string;
  /** stop after this many optimizer steps in total (default hyper.totalSteps). */
  steps?: number;
  resume?: boolean;
  /** per-source mixture weights. */
  weights?: Record<string, number> | null;
  /**
   * data-parallel rank / world size (default 0 / 1). With world > 1 the ranks meet through a TcpCollective at
   * masterAddr:masterPort (default MASTER_ADDR / MASTER_PORT) unless `collective` is given; see train/distributed/dp.ts
   * for the batch and data-position semantics. Only rank 0 writes metrics and checkpoints.
   */
  rank?: number;
  world?: number;
  collective?: Collective;
  masterAddr?: string;
  masterPort?: number;
  /** backend device index (cuda). */
  device?: number;
  /** peak FLOP/s for MFU (default: backend's, else cpu 1e10, cuda 989e12). */
  peakFlops?: number;
  quiet?: boolean;
  log?: (msg: string) => void;
  /** init weights from this model.safetensors (steel import / continued training) instead of random. */
  initFrom?: string;
  /** logging / checkpoint intervals (may change on resume; they do not affect the numbers). */
  logEvery?: number;
  ckptEvery?: number;
  /** how many of the newest checkpoints to keep (default 3). */
  keepCheckpoints?: number;
  /** also write TensorBoard event files (every metrics.jsonl row) into this folder (rank 0). */
  tensorboard?: string;
  /**
   * in-loop evaluation every `every` optimizer steps and at the last step (rank 0; the other ranks wait in the next
   * all-reduce): the hook's rows are written to metrics.jsonl with the step (e.g. eval/inloop.ts makeInLoopEval).
   */
  evalEvery?: number;
  evalHook?: (be: Backend, vocabIds: Int32Array | null, step: number) => Promise<Record<string, unknown>[]>;
}

export interface TrainResult {
  step: number;
  loss: number;
  stoppedBy: 'done' | 'signal' | 'nan';
  checkpoint: string | null;
  tokensPerS: number;
  elapsedS: number;
}

export function lrAt(step: number, h: TrainHyper): number {
  if (step < h.warmupSteps) return (h.lr * (step + 1)) / h.warmupSteps;
  const span = Math.max(1, h.totalSteps - h.warmupSteps);
  const prog = Math.min(1, (step - h.warmupSteps) / span);
  return h.minLr + 0.5 * (h.lr - h.minLr) * (1 + Math.cos(Math.PI * prog));
}

/**
 * raw token id -> model id table for compact vocabularies (unknown ids map to the unk class if the vocabulary has one,
 * else to the pad id, which the loss ignores).
 */
export function vocabTable(vocabIds: Int32Array, padModelId: number): Int32Array {
  const max = vocabIds[vocabIds.length - 1];
  const unk = vocabIds.indexOf(UNK_RAW_ID);
  const t = new Int32Array(Math.max(max + 1, UNK_RAW_ID + 1)).fill(unk >= 0 ? unk : padModelId);
  for (let i = 0; i < vocabIds.length; i++) t[vocabIds[i]] = i;
  return t;
}

export function mapTokens(
  raw: Int32Array,
  table: Int32Array | null,
  padModelId: number,
): { tokens: Int32Array; unknown: number } {
  if (!table) return { tokens: raw, unknown: 0 };
  let unknown = 0;
  const out = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const m = r < table.length ? table[r] : padModelId;
    if (m === padModelId && r !== QWEN_PAD) unknown++; // only without an unk class (new shards with unseen ids)
    out[i] = m;
  }
  return { tokens: out, unknown };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const ownColl = !o.collective && (o.world ?? 1) > 1;
  const coll =
    o.collective ??
    (ownColl
      ? await TcpCollective.connect({ rank: o.rank ?? 0, world: o.world!, addr: o.masterAddr, port: o.masterPort })
      : null);
  try {
    return await trainRank(o, coll && coll.world > 1 ? coll : null);
  } finally {
    if (ownColl) await coll!.close();
  }
}

type Log = (message: string) => void;

function fmtEvalRow(row: Record<string, unknown>): string {
  return Object.entries(row)
    .filter(([k, v]) => k !== 'kind' && (typeof v === 'number' || typeof v === 'string'))
    .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`)
    .join(', ');
}

/** Where a run starts: model, schedule, backend and data, from a checkpoint (--resume) or fresh. */
interface RunStart {
  model: ModelConfig;
  hyper: TrainHyper;
  be: Backend;
  data: DataLoader;
  vocabIds: Int32Array | null;
  /** micro-batches per optimizer step over all ranks */
  M: number;
  step: number;
  tokensSeen: number;
  elapsedBefore: number;
}

/**
 * Continue the run in o.outDir from its newest good checkpoint: model, schedule, weights, optimizer and data position.
 */
async function resumeRun(o: TrainOptions, isRoot: boolean, metricsPath: string, log: Log): Promise<RunStart> {
  const existing = resumeCheckpoint(o.outDir, log);
  const st = readTrainerState(existing);
  const model = st.model;
  // schedule and optimizer settings come from the checkpoint (exact resume); a new total may be given with --steps
  const hyper = { ...st.hyper };
  const be = await loadBackend(o.backend, model, o.device !== undefined ? { device: o.device } : undefined);
  const ck = await loadCheckpoint(existing, be, true);
  const M = (st as TrainerState & { dist?: DistInfo }).dist?.globalMicroBatches ?? hyper.gradAccum;
  const vocabIds = ck.vocabIds;
  const step = ck.state.step;
  const data = await DataLoader.open({
    dir: o.dataDir,
    seqLen: model.seqLen,
    seed: hyper.seed,
    padId: vocabIds ? QWEN_PAD : model.padId,
    weights: ck.data.json.weights,
    state: ck.data,
    log,
  });
  if (isRoot) truncateMetrics(metricsPath, step);
  log(`resumed from ${existing} at step ${step} (epoch ${data.epoch}, block ${data.cursor}/${data.epochLength})`);
  return { model, hyper, be, data, vocabIds, M, step, tokensSeen: ck.state.tokens, elapsedBefore: ck.state.elapsedS };
}

/** A new run in o.outDir (which must hold no checkpoint): random or --init-from weights, config.json written. */
async function freshRun(
  o: TrainOptions,
  world: number,
  isRoot: boolean,
  metricsPath: string,
  log: Log,
): Promise<RunStart> {
  const existing = latestCheckpoint(o.outDir);
  if (existing)
    throw new Error(
      `${o.outDir} already has checkpoints (${existing}); pass --resume to continue or choose a fresh --out`,
    );
  let model = { ...o.model };
  const hyper = { ...o.hyper };
  let vocabIds: Int32Array | null = null;
  if (o.initFrom) ({ model, vocabIds } = initFromModel(o.initFrom, model));
  else {
    const cap = vocabCapFor(o.dataDir, model);
    if (cap !== undefined) {
      log(
        `the shards' tokenizer has more ids than preset ${model.name}'s vocabulary (${model.vocabSize}): ` +
          `training on the ${cap} most frequent ids of the data, the rest as one unknown class`,
      );
      model = { ...model, compactVocab: true, vocabCap: cap };
    }
    if (model.compactVocab) ({ model, vocabIds } = await compactVocabulary(o.dataDir, model, isRoot, o.outDir, log));
  }
  validateConfig(model);
  const be = await loadBackend(o.backend, model, o.device !== undefined ? { device: o.device } : undefined);
  const M = hyper.gradAccum * world;
  if (o.initFrom) {
    await loadModel(o.initFrom, be);
    log(`initialised weights from ${o.initFrom}`);
  } else await be.init(hyper.seed);
  // every rank reads the same global block stream (see train/distributed/dp.ts)
  const data = await DataLoader.open({
    dir: o.dataDir,
    seqLen: model.seqLen,
    seed: hyper.seed,
    padId: vocabIds ? QWEN_PAD : model.padId,
    weights: o.weights ?? null,
    log,
  });
  if (isRoot) {
    writeFileAtomic(
      join(o.outDir, 'config.json'),
      JSON.stringify(
        { model, hyper, backend: o.backend, dataDir: o.dataDir, ...(world > 1 ? { world } : {}) },
        null,
        2,
      ) + '\n',
    );
    if (existsSync(metricsPath)) writeFileAtomic(metricsPath, '');
  }
  return { model, hyper, be, data, vocabIds, M, step: 0, tokensSeen: 0, elapsedBefore: 0 };
}

/** --init-from: the architecture must match the chosen config; vocabulary and special ids come from the model. */
function initFromModel(initFrom: string, model: ModelConfig): { model: ModelConfig; vocabIds: Int32Array | null } {
  const fc = readModelConfig(initFrom);
  for (const k of [
    'kind',
    'hiddenSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'headDim',
    'intermediateSize',
    'numExperts',
    'slotsPerExpert',
  ] as const) {
    if (fc[k] !== model[k])
      throw new Error(`--init-from ${initFrom}: ${k} is ${fc[k]} there but ${model[k]} in the chosen config`);
  }
  const vocabIds = readVocabIds(initFrom);
  return {
    model: {
      ...model,
      vocabSize: fc.vocabSize,
      padId: fc.padId,
      eosId: fc.eosId,
      ropeTheta: fc.ropeTheta,
      rmsNormEps: fc.rmsNormEps,
      compactVocab: !!vocabIds,
    },
    vocabIds,
  };
}

/**
 * A preset whose vocabulary is smaller than the shards' tokenizer (the test presets, vocab 64, on what `steel prep`
 * writes: Qwen ids up to 151,935) trains on a capped compact vocabulary of the same size: the most frequent ids, the
 * special ids and one unknown class. Returns that cap, or undefined when the preset's vocabulary covers the data.
 */
function vocabCapFor(dataDir: string, model: ModelConfig): number | undefined {
  if (model.compactVocab) return undefined;
  const tokenizerVocab = readManifest(dataDir).tokenizer?.vocab_size;
  if (tokenizerVocab === undefined || tokenizerVocab <= model.vocabSize) return undefined;
  // pad, eos, <|im_start|> and the unknown class come on top of the cap
  return Math.max(1, model.vocabSize - 4);
}

/** A compact vocabulary from the token ids of the training data (OUT/vocab.json describes it). */
async function compactVocabulary(
  dataDir: string,
  model: ModelConfig,
  isRoot: boolean,
  outDir: string,
  log: Log,
): Promise<{ model: ModelConfig; vocabIds: Int32Array }> {
  log(`building a compact vocabulary from ${dataDir} ...`);
  // <|im_start|> is kept too: the chat template of fine-tuning (tokenizer/sft.ts) needs it even when the
  // pretraining data has no ChatML
  const chat = [QWEN_PAD, QWEN_EOS, QWEN_IM_START];
  const vs = await vocabStats(dataDir, model.vocabCap ? [...chat, UNK_RAW_ID] : chat, model.vocabCap);
  const vocabIds = vs.ids;
  log(
    `compact vocabulary: ${vocabIds.length} of ${vs.distinct} distinct ids ` +
      `(${(100 * vs.coverage).toFixed(1)}% of ${vs.tokens} tokens` +
      (model.vocabCap ? '; the rest -> one unk class' : '') +
      '); ' +
      `unigram entropy ${vs.unigramEntropy.toFixed(3)} nats/token` +
      (model.vocabCap ? `, ${vs.mappedEntropy.toFixed(3)} after the unk mapping` : ''),
  );
  if (isRoot)
    writeFileAtomic(
      join(outDir, 'vocab.json'),
      JSON.stringify({ ...vs, ids: undefined, size: vocabIds.length, cap: model.vocabCap ?? null }, null, 2) + '\n',
    );
  return {
    model: {
      ...model,
      vocabSize: vocabIds.length,
      padId: vocabIds.indexOf(QWEN_PAD),
      eosId: vocabIds.indexOf(QWEN_EOS),
    },
    vocabIds,
  };
}

/**
 * SIGINT/SIGTERM: finish the current step, then save a checkpoint; a second signal exits at once (pretraining and
 * fine-tuning).
 */
export class StopSignals {
  signal: string | null = null;
  private readonly handlers: [string, () => void][];

  constructor(log: Log) {
    this.handlers = ['SIGINT', 'SIGTERM'].map((sig) => [
      sig,
      () => {
        if (this.signal) {
          log(`${sig} again: exiting without a checkpoint`);
          process.exit(130);
        }
        this.signal = sig;
        log(`${sig}: finishing the current step, then saving a checkpoint (send again to abort)`);
      },
    ]);
    for (const [sig, h] of this.handlers) process.on(sig, h);
  }

  dispose(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}

/** Data parallelism: this rank's share [lo, hi) of the M micro-batches of a step, and the gradient reducer. */
interface DataParallel {
  coll: Collective;
  reducer: Awaited<ReturnType<typeof gradReducer>>;
  lo: number;
  hi: number;
  /** per-micro-batch loss / M, then the stop flag */
  slots: Float64Array;
}

/** Set up data parallelism (every rank gets here together) and check that the replicas agree before the first step. */
async function joinDataParallel(
  coll: Collective,
  run: RunStart,
  targetSteps: number,
  log: Log,
  baseLog: Log,
): Promise<DataParallel> {
  const { be, data, M, step } = run;
  const micro = run.hyper.microBatch,
    T = run.model.seqLen;
  const [lo, hi] = shareOf(coll.rank, coll.world, M);
  const reducer = await gradReducer(be, coll); // NCCL set-up
  if (hi === lo)
    baseLog(
      `rank ${coll.rank}: warning: ${coll.world} ranks for ${M} micro-batches per step; ` +
        'this rank gets none (it only takes part in the all-reduce)',
    );
  await checkReplicas(
    coll,
    await paramDigest(be),
    [step, data.served, data.epoch, data.cursor, M, micro, T, targetSteps],
    ['step', 'data position', 'epoch', 'cursor', 'micro-batches per step', 'micro-batch', 'seqLen', 'target steps'],
  );
  log(
    `data parallel: ${coll.world} ranks, ${M} micro-batches of ${micro} per step (rank 0 takes ${hi - lo}); ` +
      `data position ${data.served} blocks`,
  );
  return { coll, reducer, lo, hi, slots: new Float64Array(M + 1) };
}

/**
 * The forward and backward passes of one optimizer step (after zeroGrad): every micro-batch alone, or with data
 * parallelism this rank's share, gradients scaled by 1/M and summed over ranks. The step's loss, the tokens outside
 * the compact vocabulary, and (data parallel) whether any rank was asked to stop.
 */
async function forwardBackwardStep(
  run: RunStart,
  table: Int32Array | null,
  dp: DataParallel | null,
  stopRequested: boolean,
): Promise<{ loss: number; unknown: number; stopAgreed: boolean }> {
  const { be, data, M, model } = run;
  const micro = run.hyper.microBatch,
    T = model.seqLen;
  let loss = 0,
    unknownTotal = 0;
  if (!dp) {
    for (let a = 0; a < M; a++) {
      const raw = await data.next(micro);
      const { tokens, unknown } = mapTokens(raw, table, model.padId);
      unknownTotal += unknown;
      loss += (await be.forwardBackward(tokens, micro, T, 1 / M)) / M;
    }
    return { loss, unknown: unknownTotal, stopAgreed: false };
  }
  const { lo, hi, slots, reducer, coll } = dp;
  slots.fill(0);
  const mine = await data.nextShare(M * micro, lo * micro, (hi - lo) * micro);
  const per = micro * (T + 1);
  for (let j = lo; j < hi; j++) {
    const { tokens, unknown } = mapTokens(mine.subarray((j - lo) * per, (j - lo + 1) * per), table, model.padId);
    unknownTotal += unknown;
    if (j === hi - 1) reducer.beforeLast(); // the reduce may overlap this backward pass
    slots[j] = (await be.forwardBackward(tokens, micro, T, 1 / M)) / M;
  }
  slots[M] = stopRequested ? 1 : 0;
  await reducer.reduce();
  await coll.allReduceSum(slots);
  for (let j = 0; j < M; j++) loss += slots[j];
  return { loss, unknown: unknownTotal, stopAgreed: slots[M] > 0 };
}

/**
 * What a run reports: rows of OUT/metrics.jsonl (rank 0; mirrored to TensorBoard), the progress line, and throughput
 * over the window since the last row (evaluation time excluded).
 */
class RunReport {
  readonly tb: TensorBoardMirror | null;
  private readonly progress: boolean;
  private winStart = performance.now();
  private winTokens = 0;

  constructor(
    private readonly o: TrainOptions,
    private readonly isRoot: boolean,
    private readonly metricsPath: string,
    private readonly log: Log,
    private readonly targetSteps: number,
    private readonly tokensPerStep: number,
    private readonly flops: number,
    private readonly peak: number,
  ) {
    this.tb = isRoot && o.tensorboard ? new TensorBoardMirror(metricsPath, o.tensorboard) : null;
    this.progress = !o.quiet && process.stderr.isTTY;
  }

  /** Count a finished step's tokens. */
  tokens(n: number): void {
    this.winTokens += n;
  }

  /** A metrics row for this step (and the progress line). */
  step(step: number, loss: number, lr: number, gn: number, tokensSeen: number, epoch: number, elapsedS: number): void {
    const now = performance.now();
    const tps = this.winTokens / ((now - this.winStart) / 1000);
    this.winStart = now;
    this.winTokens = 0;
    const rec = {
      step,
      loss,
      lr,
      grad_norm: gn,
      tokens_per_s: Math.round(tps),
      mfu: (tps * this.flops) / this.peak,
      tokens: tokensSeen,
      epoch,
      elapsed_s: Math.round(elapsedS * 10) / 10,
    };
    if (this.isRoot) appendFileSync(this.metricsPath, JSON.stringify(rec) + '\n');
    this.tb?.sync();
    const eta = ((this.targetSteps - step) * this.tokensPerStep) / Math.max(tps, 1e-9);
    const line =
      `step ${step}/${this.targetSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} gnorm ${gn.toFixed(3)} ` +
      `${Math.round(tps)} tok/s mfu ${(rec.mfu * 100).toFixed(2)}% eta ${fmtDuration(eta)}`;
    if (this.progress) process.stderr.write('\r' + line.padEnd(110));
    else if (!this.o.quiet) this.log(line);
  }

  /** In-loop evaluation at this step: its rows into the metrics; its time is not training throughput. */
  async evaluate(step: number, run: () => Promise<Record<string, unknown>[]>): Promise<void> {
    const te = performance.now();
    for (const row of await run()) {
      appendFileSync(this.metricsPath, JSON.stringify({ step, ...row }) + '\n');
      if (!this.o.quiet) this.log(`${this.progress ? '\n' : ''}eval at step ${step}: ${fmtEvalRow(row)}`);
    }
    this.tb?.sync();
    this.winStart += performance.now() - te;
  }

  /** The end of a run: notes (tokens outside the vocabulary, unreadable metrics rows), then how it ended. */
  summary(r: TrainResult, unknownTokens: number): void {
    if (unknownTokens)
      this.log(
        `note: ${unknownTokens} tokens outside the compact vocabulary were mapped to the pad id (ignored by the loss)`,
      );
    const skipped = this.tb?.skipped ?? [];
    if (skipped.length)
      this.log(
        `note: TensorBoard skipped ${skipped.length} unreadable metrics line(s): ${skipped.slice(0, 5).join(', ')}`,
      );
    if (!this.o.quiet)
      this.log(
        `${r.stoppedBy === 'done' ? 'done' : 'stopped'}: step ${r.step}, ` +
          `loss ${Number.isFinite(r.loss) ? r.loss.toFixed(4) : r.loss}, ${Math.round(r.tokensPerS)} tokens/s, ` +
          `${fmtDuration(r.elapsedS)}; checkpoint ${r.checkpoint ?? '(none)'}`,
      );
  }

  /** End the progress line. */
  endLine(): void {
    if (this.progress) process.stderr.write('\n');
  }

  close(): void {
    this.tb?.close();
  }
}

async function trainRank(o: TrainOptions, coll: Collective | null): Promise<TrainResult> {
  const rank = coll ? coll.rank : 0,
    world = coll ? coll.world : 1,
    isRoot = rank === 0;
  const baseLog = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const log = isRoot ? baseLog : () => {};
  if (!isRoot) o = { ...o, quiet: true };
  mkdirSync(o.outDir, { recursive: true });
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const run = o.resume
    ? await resumeRun(o, isRoot, metricsPath, log)
    : await freshRun(o, world, isRoot, metricsPath, log);
  const { be, data, model, hyper, vocabIds, M } = run;
  let { step, tokensSeen } = run;
  if (o.logEvery) hyper.logEvery = o.logEvery;
  if (o.ckptEvery) hyper.ckptEvery = o.ckptEvery;
  const targetSteps = o.steps ?? hyper.totalSteps;
  const table = vocabIds ? vocabTable(vocabIds, model.padId) : null;
  const micro = hyper.microBatch;
  const tokensPerStep = micro * M * model.seqLen;
  const dp = coll ? await joinDataParallel(coll, run, targetSteps, log, baseLog) : null;
  const peak = o.peakFlops ?? be.peakFlops ?? (o.backend === 'cuda' ? 989e12 : 1e10);
  const stop = new StopSignals(log);

  const save = async (reason: string, loss: number | null) => {
    if (!isRoot) return null;
    const st: TrainerState & { dist: DistInfo } = {
      step,
      tokens: tokensSeen,
      elapsedS: run.elapsedBefore + (performance.now() - t0) / 1000,
      model,
      hyper,
      backend: o.backend,
      dataDir: o.dataDir,
      loss,
      savedAt: new Date().toISOString(),
      reason,
      dist: distInfo(world, M, micro, data.served),
    };
    return await saveCheckpoint(o.outDir, be, st, data.state(), vocabIds, o.keepCheckpoints);
  };

  const report = new RunReport(
    o,
    isRoot,
    metricsPath,
    log,
    targetSteps,
    tokensPerStep,
    flopsPerToken(model).total,
    peak,
  );
  const t0 = performance.now();
  let lastLoss = NaN,
    lastCkpt: string | null = null,
    unknownTotal = 0;
  const startStep = step;
  let stoppedBy: TrainResult['stoppedBy'] = 'done';
  try {
    while (step < targetSteps) {
      // let the event loop run once per step (signals, sockets): with cached shards and a synchronous backend the
      // loop below would otherwise never give it a turn, and SIGINT/SIGTERM would not be seen
      await new Promise<void>((r) => setImmediate(r));
      const lr = lrAt(step, hyper);
      await be.zeroGrad();
      const { loss, unknown, stopAgreed } = await forwardBackwardStep(run, table, dp, !!stop.signal);
      unknownTotal += unknown;
      if (!Number.isFinite(loss)) {
        stoppedBy = 'nan';
        log(
          `step ${step + 1}: loss is ${loss}; stopping. ` +
            `The last good (verified) checkpoint is ${lastGoodCheckpoint(o.outDir)}; lower the LR or check the data.`,
        );
        break;
      }
      const { beta1, beta2, eps, weightDecay, gradClip } = hyper;
      const gn = await be.step({ lr, beta1, beta2, eps, weightDecay, gradClip });
      if (!Number.isFinite(gn)) {
        stoppedBy = 'nan';
        log(
          `step ${step + 1}: gradient norm is ${gn}; stopping without saving. ` +
            `The last good (verified) checkpoint is ${lastGoodCheckpoint(o.outDir)}.`,
        );
        break;
      }
      step++;
      tokensSeen += tokensPerStep;
      report.tokens(tokensPerStep);
      lastLoss = loss;
      if (step % hyper.logEvery === 0 || step === startStep + 1 || step === targetSteps)
        report.step(step, loss, lr, gn, tokensSeen, data.epoch, run.elapsedBefore + (performance.now() - t0) / 1000);
      if (o.evalHook && o.evalEvery && isRoot && (step % o.evalEvery === 0 || step === targetSteps)) {
        const hook = o.evalHook;
        await report.evaluate(step, () => hook(be, vocabIds, step));
      }
      if (step % hyper.ckptEvery === 0 && step < targetSteps) lastCkpt = await save('interval', loss);
      if (coll ? stopAgreed : stop.signal) {
        stoppedBy = 'signal';
        stop.signal ??= 'SIGTERM (on another rank)';
        break;
      }
    }
    report.endLine();
    if (stoppedBy !== 'nan')
      lastCkpt = await save(
        stoppedBy === 'signal' ? `signal ${stop.signal}` : 'end',
        Number.isFinite(lastLoss) ? lastLoss : null,
      );
    if (coll) await coll.barrier(); // rank 0's checkpoint is complete before any rank reports success
  } finally {
    report.close();
    stop.dispose();
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const tps = ((step - startStep) * tokensPerStep) / Math.max(elapsedS, 1e-9);
  const result: TrainResult = { step, loss: lastLoss, stoppedBy, checkpoint: lastCkpt, tokensPerS: tps, elapsedS };
  report.summary(result, unknownTotal);
  await be.dispose();
  return result;
}
