/**
 * Fine-tuning loops over fine-tuning shards (tokenizer/sft.ts, SHARDS.md "Fine-tuning shards"):
 * - SFT: loss = mean cross-entropy over the supervised targets of the whole optimizer step (assistant tokens), one
 *   conversation per row, micro-batches padded to their longest row;
 * - DPO: sigmoid loss (beta 0.1 by default) over per-sequence summed log-probs of the replies; chosen and rejected rows
 *   of the same pairs sit in the same micro-batch; the reference log-probs come from one forward pass of the frozen
 *   start model, stored beside the data (DATA/reference/MODEL_HASH.safetensors, verified on read: data and model hash).
 * Both start from a pretrained steel run / checkpoint / model.safetensors or an imported HF folder, log to
 * OUT/metrics.jsonl, and checkpoint (model, optimizer, data position) so that a resumed run is bit-identical to an
 * uninterrupted one (CPU backend).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Backend, loadBackend, weightedLoss } from './backend.ts';
import { type ModelConfig, type TrainHyper, STEEL_TRAIN } from './config.ts';
import {
  lastGoodCheckpoint,
  latestCheckpoint,
  loadCheckpoint,
  readTrainerState,
  resumeCheckpoint,
  saveCheckpoint,
  type TrainerState,
} from './checkpoint.ts';
import { openModel } from './load.ts';
import { dpoLoss, seqLossWeights, sftWeights } from './objectives.ts';
import { Rng } from './rng.ts';
import { SafetensorsFile, writeSafetensors } from './safetensors.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { truncateMetrics } from './metrics.ts';
import { lrAt, mapTokens, StopSignals, vocabTable, QWEN_PAD } from './trainer.ts';
import { DPO_FORMAT, FtShardRows, SFT_FORMAT, readFtManifest, type FtManifest } from '../tokenizer/sft.ts';

export type FtTask = 'sft' | 'dpo';

export interface FtHyper {
  lr: number;
  /** cosine from lr down to minLr over all steps (after warmup). */
  minLr: number;
  /** fraction of the steps spent in linear warmup. */
  warmupRatio: number;
  epochs: number;
  /** rows (SFT conversations, DPO pairs) per optimizer step. */
  globalBatch: number;
  /** rows per forward/backward call (DPO: pairs; the call holds 2x rows). */
  microBatch: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number;
  seed: number;
  /** DPO temperature. */
  beta: number;
}

/** Steel-LLM-1B-Chat's recipes (shared/docs/steel-llm.md §5; LLaMA-Factory's AdamW betas 0.9/0.999). */
export const STEEL_SFT: FtHyper = {
  lr: 3e-5,
  minLr: 0,
  warmupRatio: 0.03,
  epochs: 5,
  globalBatch: 256,
  microBatch: 16,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  gradClip: 1.0,
  seed: 42,
  beta: 0.1,
};
export const STEEL_DPO: FtHyper = { ...STEEL_SFT, lr: 5e-6, epochs: 3, globalBatch: 128, microBatch: 4 };

export interface FinetuneOptions {
  task: FtTask;
  /** start model: run folder, checkpoint folder, model.safetensors or HF folder (ignored on resume). */
  from?: string;
  dataDir: string;
  outDir: string;
  backend?: string;
  hyper: FtHyper;
  resume?: boolean;
  /** stop after this many optimizer steps in total (the schedule still spans all epochs). */
  steps?: number;
  logEvery?: number;
  ckptEvery?: number;
  quiet?: boolean;
  log?: (m: string) => void;
}

export interface FinetuneResult {
  step: number;
  totalSteps: number;
  loss: number;
  checkpoint: string | null;
  elapsedS: number;
}

// ------------------------------------------------------------------ data

/**
 * The rows of a fine-tuning data folder, read on demand (tokenizer/sft.ts FtShardRows: positioned reads, nothing held
 * but each shard's layout), in manifest order: row i is the same row whatever the folder's size.
 */
export class FtData {
  readonly rows: FtShardRows;
  private constructor(rows: FtShardRows) {
    this.rows = rows;
  }

  static async open(dir: string, task: FtTask, log?: (m: string) => void): Promise<FtData> {
    const manifest = readFtManifest(dir);
    const want = task === 'sft' ? SFT_FORMAT : DPO_FORMAT;
    if (manifest.format !== want)
      throw new Error(`${dir}: ${manifest.format} data, but ${task} needs ${want} (steel sft-data --task ${task})`);
    const rows = await FtShardRows.open(
      dir,
      task === 'sft' ? ['tokens', 'loss_mask'] : ['prompt', 'chosen', 'rejected'],
      log,
    );
    if (rows.n === 0) {
      rows.close();
      throw new Error(`${dir}: no rows`);
    }
    return new FtData(rows);
  }

  get manifest(): FtManifest {
    return this.rows.manifest;
  }
  get n(): number {
    return this.rows.n;
  }
  /** SFT row i: its tokens and loss mask. */
  sft(i: number): { ids: Uint32Array; sup: Uint8Array } {
    return { ids: this.rows.list(i, 'tokens') as Uint32Array, sup: this.rows.list(i, 'loss_mask') as Uint8Array };
  }
  /** DPO pair i: prompt, chosen and rejected tokens. */
  pair(i: number): { prompt: Uint32Array; chosen: Uint32Array; rejected: Uint32Array } {
    const l = (c: string) => this.rows.list(i, c) as Uint32Array;
    return { prompt: l('prompt'), chosen: l('chosen'), rejected: l('rejected') };
  }
  close(): void {
    this.rows.close();
  }
}

/** epoch order: a seeded permutation per epoch, so a position (epoch, cursor) is all the state a resume needs. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  new Rng(seed * 1000003 + epoch).shuffle(p);
  return p;
}

export interface DataPos {
  epoch: number;
  cursor: number;
}

/** The next `count` rows of the epoch stream at `pos` (advanced; an epoch ends after every row was taken once). */
export function takeRows(
  pos: DataPos,
  n: number,
  seed: number,
  count: number,
  cache: { epoch: number; order: Int32Array | null },
): number[] {
  const out: number[] = [];
  while (out.length < count) {
    if (cache.epoch !== pos.epoch || !cache.order) {
      cache.order = epochOrder(n, seed, pos.epoch);
      cache.epoch = pos.epoch;
    }
    out.push(cache.order[pos.cursor]);
    pos.cursor++;
    if (pos.cursor >= n) {
      pos.epoch++;
      pos.cursor = 0;
    }
  }
  return out;
}

// ------------------------------------------------------------------ batches

interface Micro {
  tokens: Int32Array;
  weightsMask: Float32Array;
  B: number;
  T: number;
}

/** rows (raw ids) -> B x (T+1) model ids padded with the pad id, and the 0/1 mask of supervised targets (B x T). */
export function packRows(
  rows: { ids: ArrayLike<number>; sup: ArrayLike<number> }[],
  map: (raw: Int32Array) => Int32Array,
  padId: number,
): Micro {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.ids.length)) - 1;
  const raw = new Int32Array(B * (T + 1)).fill(-1);
  const mask = new Float32Array(B * T);
  rows.forEach((r, b) => {
    for (let i = 0; i < r.ids.length; i++) raw[b * (T + 1) + i] = r.ids[i];
    for (let t = 0; t + 1 < r.ids.length; t++) mask[b * T + t] = r.sup[t + 1] ? 1 : 0;
  });
  const tokens = map(raw);
  for (let i = 0; i < raw.length; i++) if (raw[i] < 0) tokens[i] = padId;
  return { tokens, weightsMask: mask, B, T };
}

function concat(a: ArrayLike<number>, b: ArrayLike<number>): Uint32Array {
  const r = new Uint32Array(a.length + b.length);
  r.set(a as Uint32Array);
  r.set(b as Uint32Array, a.length);
  return r;
}

/** DPO micro-batch of pairs: rows [0,P) prompt+chosen, [P,2P) prompt+rejected; mask = reply targets. */
export function dpoRows(data: FtData, idx: number[]): { ids: Uint32Array; sup: Uint8Array }[] {
  const pairs = idx.map((i) => data.pair(i));
  const mk = (p: Uint32Array, r: Uint32Array) => {
    const sup = new Uint8Array(p.length + r.length);
    sup.fill(1, p.length);
    return { ids: concat(p, r), sup };
  };
  return [...pairs.map((x) => mk(x.prompt, x.chosen)), ...pairs.map((x) => mk(x.prompt, x.rejected))];
}

// ------------------------------------------------------------------ reference log-probs (DPO)

/** identity of a model's weights: sha256 over every parameter (name, values) and the compact vocabulary. */
export async function modelHash(be: Backend, vocabIds: Int32Array | null): Promise<string> {
  const h = createHash('sha256');
  for (const p of be.params()) {
    const a = await be.getParam(p.name);
    h.update(p.name).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  if (vocabIds) h.update(new Uint8Array(vocabIds.buffer, vocabIds.byteOffset, vocabIds.byteLength));
  return h.digest('hex');
}

export interface Reference {
  chosen: Float64Array;
  rejected: Float64Array;
  path: string;
  computed: boolean;
}

/**
 * Per-pair reference log-probs of chosen and rejected replies under the frozen start model, computed once and stored
 * as DATA/reference/HASH16.safetensors; a stored file is used only when its data and model hashes match.
 */
export async function referenceLogProbs(
  be: Backend,
  vocabIds: Int32Array | null,
  dataDir: string,
  data: FtData,
  microBatch: number,
  log: (m: string) => void,
): Promise<Reference> {
  const mh = await modelHash(be, vocabIds);
  const path = join(dataDir, 'reference', `${mh.slice(0, 16)}.safetensors`);
  if (existsSync(path)) {
    const f = new SafetensorsFile(path);
    try {
      const md = f.metadata;
      if (md['steel.data_sha256'] !== data.manifest.data_sha256)
        throw new Error(
          `${path}: made for other data (data hash ${md['steel.data_sha256']?.slice(0, 12)}…, ` +
            `this folder ${data.manifest.data_sha256.slice(0, 12)}…); delete it to recompute`,
        );
      if (md['steel.model_sha256'] !== mh)
        throw new Error(
          `${path}: made with another model (hash ${md['steel.model_sha256']?.slice(0, 12)}…, ` +
            `start model ${mh.slice(0, 12)}…); delete it to recompute`,
        );
      const c = Float64Array.from(f.float32('chosen')),
        r = Float64Array.from(f.float32('rejected'));
      if (c.length !== data.n || r.length !== data.n)
        throw new Error(`${path}: ${c.length} pairs, the data has ${data.n}`);
      log(
        `reference log-probs: ${path} ` +
          `(verified: data ${data.manifest.data_sha256.slice(0, 12)}…, model ${mh.slice(0, 12)}…)`,
      );
      return { chosen: c, rejected: r, path, computed: false };
    } finally {
      f.close();
    }
  }
  const wl = weightedLoss(be);
  const table = vocabIds ? vocabTable(vocabIds, be.config.padId) : null;
  const map = (raw: Int32Array) => mapTokens(raw, table, be.config.padId).tokens;
  const chosen = new Float64Array(data.n),
    rejected = new Float64Array(data.n);
  const t0 = performance.now();
  for (let s = 0; s < data.n; s += microBatch) {
    const idx = Array.from({ length: Math.min(microBatch, data.n - s) }, (_, k) => s + k);
    const m = packRows(dpoRows(data, idx), map, be.config.padId);
    const lp = await wl.sequenceLogProbs(m.tokens, m.B, m.T, m.weightsMask);
    idx.forEach((i, k) => {
      chosen[i] = lp[k];
      rejected[i] = lp[idx.length + k];
    });
  }
  mkdirSync(join(dataDir, 'reference'), { recursive: true });
  writeSafetensors(
    path,
    [
      { name: 'chosen', shape: [data.n], data: Float32Array.from(chosen) },
      { name: 'rejected', shape: [data.n], data: Float32Array.from(rejected) },
    ],
    { 'steel.data_sha256': data.manifest.data_sha256, 'steel.model_sha256': mh, 'steel.pairs': String(data.n) },
  );
  // keep exactly what was stored (fp32), so a resumed or repeated run sees the same numbers
  log(
    `reference log-probs of ${data.n} pairs computed in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${path}`,
  );
  return {
    chosen: Float64Array.from(Float32Array.from(chosen)),
    rejected: Float64Array.from(Float32Array.from(rejected)),
    path,
    computed: true,
  };
}

// ------------------------------------------------------------------ loop

interface FtState {
  task: FtTask;
  hyper: FtHyper;
  totalSteps: number;
  pos: DataPos;
  dataSha256: string;
  from: string;
  reference?: string;
}

function toTrainHyper(h: FtHyper, totalSteps: number): TrainHyper {
  return {
    ...STEEL_TRAIN,
    lr: h.lr,
    minLr: h.minLr,
    warmupSteps: Math.round(h.warmupRatio * totalSteps),
    totalSteps,
    beta1: h.beta1,
    beta2: h.beta2,
    eps: h.eps,
    weightDecay: h.weightDecay,
    gradClip: h.gradClip,
    microBatch: h.microBatch,
    gradAccum: Math.ceil(h.globalBatch / h.microBatch),
    seed: h.seed,
  };
}

/** Where a fine-tuning run starts: the model and its weights, the run's state (task, schedule, data position). */
interface FtStart {
  be: Backend;
  vocabIds: Int32Array | null;
  model: ModelConfig;
  st: FtState;
  step: number;
  elapsedBefore: number;
}

/** Continue the run in o.outDir from its newest good checkpoint (same task, same data). */
async function resumeFinetune(
  o: FinetuneOptions,
  data: FtData,
  metricsPath: string,
  backendName: string,
  log: (m: string) => void,
): Promise<FtStart> {
  const existing = resumeCheckpoint(o.outDir, log);
  const ts = readTrainerState(existing) as TrainerState & { finetune?: FtState };
  if (!ts.finetune || ts.finetune.task !== o.task) throw new Error(`${existing}: not a ${o.task} checkpoint`);
  const model = ts.model;
  const be = await loadBackend(backendName, model);
  const ck = await loadCheckpoint(existing, be, true);
  const st = ts.finetune;
  if (st.dataSha256 !== data.manifest.data_sha256)
    throw new Error(
      `${o.dataDir}: the data changed since ${existing} was saved ` +
        `(data hash ${data.manifest.data_sha256.slice(0, 12)}… vs ${st.dataSha256.slice(0, 12)}…)`,
    );
  const step = ck.state.step;
  truncateMetrics(metricsPath, step);
  log(
    `resumed from ${existing} at step ${step}/${st.totalSteps} (epoch ${st.pos.epoch}, row ${st.pos.cursor}/${data.n})`,
  );
  return { be, vocabIds: ck.vocabIds, model, st, step, elapsedBefore: ck.state.elapsedS };
}

/** A new run in o.outDir (which must hold no checkpoint) from the model o.from; config.json written. */
async function freshFinetune(
  o: FinetuneOptions,
  data: FtData,
  metricsPath: string,
  backendName: string,
): Promise<FtStart> {
  const existing = latestCheckpoint(o.outDir);
  if (existing)
    throw new Error(
      `${o.outDir} already has checkpoints (${existing}); pass --resume to continue or choose a fresh --out`,
    );
  if (!o.from) throw new Error('--from is required (a pretrained run, checkpoint, model.safetensors or HF folder)');
  const m = await openModel(o.from, backendName);
  const model = m.config;
  const totalSteps = Math.max(1, Math.ceil((o.hyper.epochs * data.n) / o.hyper.globalBatch));
  const st: FtState = {
    task: o.task,
    hyper: o.hyper,
    totalSteps,
    pos: { epoch: 0, cursor: 0 },
    dataSha256: data.manifest.data_sha256,
    from: m.source,
  };
  const config = {
    task: o.task,
    from: m.source,
    model,
    hyper: o.hyper,
    totalSteps,
    data: o.dataDir,
    rows: data.n,
    backend: backendName,
  };
  writeFileAtomic(join(o.outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  if (existsSync(metricsPath)) writeFileAtomic(metricsPath, '');
  return { be: m.backend, vocabIds: m.vocabIds, model, st, step: 0, elapsedBefore: 0 };
}

/**
 * DPO's reference log-probs: those of the start model, which on a fresh run is the backend now; on resume the start
 * model (`from`) is opened again and the stored reference recomputed or verified against it.
 */
async function dpoReference(
  o: FinetuneOptions,
  start: FtStart,
  data: FtData,
  backendName: string,
  log: (m: string) => void,
): Promise<Reference> {
  const mb = start.st.hyper.microBatch;
  if (start.step === 0 && !o.resume) return referenceLogProbs(start.be, start.vocabIds, o.dataDir, data, mb, log);
  const m0 = await openModel(start.st.from, backendName);
  const ref = await referenceLogProbs(m0.backend, m0.vocabIds, o.dataDir, data, mb, log);
  await m0.backend.dispose();
  return ref;
}

/** What the forward and backward passes of one optimizer step report: loss, tokens, and the task's own metrics. */
interface FtPasses {
  loss: number;
  tokens: number;
  rec: Record<string, number>;
}

/** SFT: the rows' gradients, each supervised token weighted 1 / (supervised tokens of the step). */
async function sftPasses(
  be: Backend,
  data: FtData,
  idx: number[],
  microBatch: number,
  map: (raw: Int32Array) => Int32Array,
  padId: number,
): Promise<FtPasses> {
  let sup = 0,
    loss = 0,
    tokens = 0;
  const rows = idx.map((i) => data.sft(i));
  for (const r of rows) for (let t = 1; t < r.sup.length; t++) sup += r.sup[t];
  for (let s = 0; s < rows.length; s += microBatch) {
    const part = rows.slice(s, s + microBatch);
    const m = packRows(part, map, padId);
    tokens += part.reduce((a, r) => a + r.ids.length, 0);
    loss += await be.forwardBackward(m.tokens, m.B, m.T, 1, sftWeights(m.weightsMask, sup));
  }
  return { loss, tokens, rec: { supervised_tokens: sup } };
}

/** DPO: the pairs' gradients against the reference log-probs, and the step's reward margin and accuracy. */
async function dpoPasses(
  be: ReturnType<typeof weightedLoss>,
  data: FtData,
  idx: number[],
  h: FtHyper,
  ref: Reference,
  map: (raw: Int32Array) => Int32Array,
  padId: number,
): Promise<FtPasses> {
  let loss = 0,
    tokens = 0,
    margin = 0,
    acc = 0,
    cr = 0,
    rr = 0;
  for (let s = 0; s < idx.length; s += h.microBatch) {
    const part = idx.slice(s, s + h.microBatch);
    const m = packRows(dpoRows(data, part), map, padId);
    tokens += m.B * (m.T + 1);
    const pol = await be.sequenceLogProbs(m.tokens, m.B, m.T, m.weightsMask);
    const refs = Float64Array.from([...part.map((i) => ref.chosen[i]), ...part.map((i) => ref.rejected[i])]);
    const d = dpoLoss(pol, refs, h.beta);
    const share = part.length / idx.length;
    await be.forwardBackward(m.tokens, m.B, m.T, 1, seqLossWeights(d.dSeq, m.weightsMask, m.T, share));
    loss += d.loss * share;
    margin += d.margin * share;
    acc += d.accuracy * share;
    cr += d.chosenReward * share;
    rr += d.rejectedReward * share;
  }
  return {
    loss,
    tokens,
    rec: { reward_margin: margin, preference_accuracy: acc, chosen_reward: cr, rejected_reward: rr },
  };
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const data = await FtData.open(o.dataDir, o.task, log);
  try {
    return await finetuneOn(o, data, log);
  } finally {
    data.close();
  }
}

async function finetuneOn(o: FinetuneOptions, data: FtData, log: (m: string) => void): Promise<FinetuneResult> {
  mkdirSync(o.outDir, { recursive: true });
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const backendName = o.backend ?? 'cpu';
  const start = o.resume
    ? await resumeFinetune(o, data, metricsPath, backendName, log)
    : await freshFinetune(o, data, metricsPath, backendName);
  const { be, vocabIds, model, st, elapsedBefore } = start;
  let step = start.step;
  const wl = weightedLoss(be); // both objectives need per-token loss weights
  const h = st.hyper;
  const hyper = toTrainHyper(h, st.totalSteps);
  const table = vocabIds ? vocabTable(vocabIds, model.padId) : null;
  let unknownIds = 0;
  const map = (raw: Int32Array) => {
    const r = mapTokens(
      raw.map((x) => (x < 0 ? QWEN_PAD : x)),
      table,
      model.padId,
    );
    unknownIds += r.unknown;
    return r.tokens;
  };
  let ref: Reference | null = null;
  if (o.task === 'dpo') {
    ref = await dpoReference(o, start, data, backendName, log);
    st.reference = ref.path;
  }
  const targetSteps = Math.min(o.steps ?? st.totalSteps, st.totalSteps);
  const logEvery = o.logEvery ?? 10,
    ckptEvery = o.ckptEvery ?? 500;
  const cache = { epoch: -1, order: null as Int32Array | null };
  const t0 = performance.now();
  let lastLoss = NaN,
    lastCkpt: string | null = null,
    winStart = t0,
    winTokens = 0;
  const save = async (reason: string) => {
    const ts: TrainerState & { finetune: FtState } = {
      step,
      tokens: 0,
      elapsedS: elapsedBefore + (performance.now() - t0) / 1000,
      model,
      hyper,
      backend: backendName,
      dataDir: o.dataDir,
      loss: Number.isFinite(lastLoss) ? lastLoss : null,
      savedAt: new Date().toISOString(),
      reason,
      finetune: st,
    };
    return saveCheckpoint(o.outDir, be, ts, { json: st as never, perm: new Int32Array(0) }, vocabIds);
  };
  const stop = new StopSignals(log);
  try {
    while (step < targetSteps) {
      await new Promise<void>((r) => setImmediate(r));
      const lr = lrAt(step, hyper);
      const idx = takeRows(st.pos, data.n, h.seed, h.globalBatch, cache);
      await be.zeroGrad();
      const { loss, tokens, rec } =
        o.task === 'sft'
          ? await sftPasses(be, data, idx, h.microBatch, map, model.padId)
          : await dpoPasses(wl, data, idx, h, ref!, map, model.padId);
      if (!Number.isFinite(loss)) {
        log(
          `step ${step + 1}: loss is ${loss}; stopping ` +
            `(last good, verified checkpoint ${lastGoodCheckpoint(o.outDir)})`,
        );
        break;
      }
      const { beta1, beta2, eps, weightDecay, gradClip } = h;
      const gn = await be.step({ lr, beta1, beta2, eps, weightDecay, gradClip });
      if (!Number.isFinite(gn)) {
        log(`step ${step + 1}: gradient norm is ${gn}; stopping without saving`);
        break;
      }
      step++;
      lastLoss = loss;
      winTokens += tokens;
      if (step % logEvery === 0 || step === 1 || step === targetSteps) {
        const now = performance.now();
        const row = {
          step,
          epoch: Math.round((step * h.globalBatch * 1000) / data.n) / 1000,
          loss,
          lr,
          grad_norm: gn,
          ...rec,
          tokens_per_s: Math.round(winTokens / ((now - winStart) / 1000)),
          elapsed_s: Math.round((elapsedBefore + (now - t0) / 1000) * 10) / 10,
        };
        winStart = now;
        winTokens = 0;
        appendFileSync(metricsPath, JSON.stringify(row) + '\n');
        if (!o.quiet)
          log(
            `${o.task} step ${step}/${st.totalSteps} loss ${loss.toFixed(4)}` +
              (o.task === 'dpo'
                ? ` margin ${rec.reward_margin.toFixed(3)} acc ${(100 * rec.preference_accuracy).toFixed(1)}%`
                : '') +
              ` lr ${lr.toExponential(2)} gnorm ${gn.toFixed(3)} ${row.tokens_per_s} tok/s`,
          );
      }
      if (step % ckptEvery === 0 && step < targetSteps) lastCkpt = await save('interval');
      if (stop.signal) break;
    }
    lastCkpt = await save(stop.signal ? `signal ${stop.signal}` : 'end');
  } finally {
    stop.dispose();
  }
  if (unknownIds)
    log(`warning: ${unknownIds} token(s) are outside the model's compact vocabulary (mapped to its unk class / pad)`);
  const elapsedS = (performance.now() - t0) / 1000;
  if (!o.quiet)
    log(
      `${o.task}: ${step}/${st.totalSteps} steps, loss ${lastLoss.toFixed(4)}, ${elapsedS.toFixed(1)} s; ` +
        `checkpoint ${lastCkpt}`,
    );
  await be.dispose();
  return { step, totalSteps: st.totalSteps, loss: lastLoss, checkpoint: lastCkpt, elapsedS };
}
