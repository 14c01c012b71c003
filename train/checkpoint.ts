/**
 * Checkpoints: OUT/checkpoints/step-NNNNNNNN/{model.safetensors, optimizer.safetensors, data.safetensors, trainer.json}
 * written into a temporary folder and renamed into place, then OUT/checkpoints/LATEST (atomic) names it.
 * model.safetensors holds the fp32 weights under HF / Steel names (+ `steel.vocab_ids` for compact vocabularies) and the
 * model config in its metadata.
 *
 * Every checkpoint folder has a manifest.json with the size and sha256 of each of its files, hashed from disk after
 * writing. Nothing is loaded for a resume before the manifest is checked: `findValidCheckpoint` walks the checkpoints
 * newest first and returns the newest one whose files all match, with the reason each newer one was skipped (the
 * trainer prints them). Only the last `keep` checkpoints are kept (--keep-checkpoints).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { sha256File } from '../tokenizer/shards.ts';
import { removeStaleTemps, writeDirAtomic, writeFileAtomic } from '../pipeline/fsutil.ts';
import { join } from 'node:path';
import type { Backend } from './backend.ts';
import type { ModelConfig, TrainHyper } from './config.ts';
import type { DataState, DataStateJson } from './data.ts';
import { SafetensorsFile, writeSafetensors, type TensorIn } from './safetensors.ts';

export interface TrainerState {
  step: number;
  tokens: number;
  elapsedS: number;
  model: ModelConfig;
  hyper: TrainHyper;
  backend: string;
  dataDir: string;
  /** last logged loss (for information). */
  loss: number | null;
  savedAt: string;
  reason: string;
}

export const VOCAB_IDS = 'steel.vocab_ids';

export async function saveModel(
  path: string,
  be: Backend,
  vocabIds: Int32Array | null,
  extraMeta: Record<string, string> = {},
): Promise<void> {
  const tensors: TensorIn[] = [];
  for (const p of be.params()) tensors.push({ name: p.name, shape: p.shape, data: await be.getParam(p.name) });
  if (vocabIds) tensors.push({ name: VOCAB_IDS, shape: [vocabIds.length], data: vocabIds });
  writeSafetensors(path, tensors, { format: 'pt', 'steel.config': JSON.stringify(be.config), ...extraMeta });
}

export function readVocabIds(path: string): Int32Array | null {
  const f = new SafetensorsFile(path);
  try {
    return f.has(VOCAB_IDS) ? f.int32(VOCAB_IDS) : null;
  } finally {
    f.close();
  }
}

export function readModelConfig(path: string): ModelConfig {
  const f = new SafetensorsFile(path);
  try {
    const c = f.metadata['steel.config'];
    if (!c)
      throw new Error(`${path}: no steel.config metadata (not a steel checkpoint; use steel import for HF folders)`);
    return JSON.parse(c) as ModelConfig;
  } finally {
    f.close();
  }
}

/** loads weights by name (every backend parameter must be present with the same size). Returns vocab ids if any. */
export async function loadModel(path: string, be: Backend): Promise<Int32Array | null> {
  const f = new SafetensorsFile(path);
  try {
    for (const p of be.params()) {
      if (!f.has(p.name)) throw new Error(`${path}: missing tensor ${p.name}`);
      const a = f.float32(p.name);
      if (a.length !== p.size)
        throw new Error(`${path}: ${p.name} has ${a.length} values, the model needs ${p.size} [${p.shape}]`);
      await be.setParam(p.name, a);
    }
    return f.has(VOCAB_IDS) ? f.int32(VOCAB_IDS) : null;
  } finally {
    f.close();
  }
}

export function checkpointDir(out: string, step: number): string {
  return join(out, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
}

export const CHECKPOINT_MANIFEST = 'manifest.json';
const CHECKPOINT_FILES = ['model.safetensors', 'optimizer.safetensors', 'data.safetensors', 'trainer.json'];
export const DEFAULT_KEEP_CHECKPOINTS = 3;

interface CheckpointManifest {
  format: 'steel-checkpoint-v1';
  files: Record<string, { bytes: number; sha256: string }>;
}

/** hashes the checkpoint files in dir (as they are on disk) into dir/manifest.json. */
export function writeCheckpointManifest(dir: string): void {
  const files: CheckpointManifest['files'] = {};
  for (const f of CHECKPOINT_FILES) files[f] = { bytes: statSync(join(dir, f)).size, sha256: sha256File(join(dir, f)) };
  const m: CheckpointManifest = { format: 'steel-checkpoint-v1', files };
  writeFileAtomic(join(dir, CHECKPOINT_MANIFEST), JSON.stringify(m, null, 2) + '\n');
}

/**
 * Checks a checkpoint folder against its manifest: every file present, of the recorded size, with the recorded sha256.
 * Returns null when it matches, else what is wrong (naming the file).
 */
export function verifyCheckpoint(dir: string): string | null {
  const mp = join(dir, CHECKPOINT_MANIFEST);
  if (!existsSync(mp))
    return `no ${CHECKPOINT_MANIFEST} (no content hashes to check: an incomplete checkpoint or one written by an older steel)`;
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(mp, 'utf8')) as CheckpointManifest;
    if (m.format !== 'steel-checkpoint-v1' || typeof m.files !== 'object' || m.files === null)
      throw new Error('not a steel-checkpoint-v1 manifest');
  } catch (e) {
    return `${CHECKPOINT_MANIFEST} is unreadable: ${(e as Error).message}`;
  }
  for (const f of CHECKPOINT_FILES) {
    const want = m.files[f];
    if (!want) return `${CHECKPOINT_MANIFEST} does not list ${f}`;
    const p = join(dir, f);
    if (!existsSync(p)) return `${f} is missing`;
    const size = statSync(p).size;
    if (size !== want.bytes)
      return `${f} is ${size} bytes, the manifest says ${want.bytes} (${size < want.bytes ? 'truncated' : 'grown'})`;
    const got = sha256File(p);
    if (got !== want.sha256)
      return `${f} has sha256 ${got.slice(0, 12)}…, the manifest says ${want.sha256.slice(0, 12)}… (the file is corrupt or was changed)`;
  }
  return null;
}

export interface ValidCheckpoint {
  /** the newest checkpoint folder that verified, or null. */
  dir: string | null;
  /** newer checkpoints that were skipped, with what is wrong with each. */
  skipped: { dir: string; problem: string }[];
}

/** newest first: the folder LATEST names, then every step-N folder (or outOrCkpt itself when it is a checkpoint folder). */
function candidates(outOrCkpt: string): string[] {
  if (existsSync(join(outOrCkpt, 'trainer.json')) || existsSync(join(outOrCkpt, CHECKPOINT_MANIFEST)))
    return [outOrCkpt];
  const root = join(outOrCkpt, 'checkpoints');
  const all = listCheckpoints(outOrCkpt)
    .reverse()
    .map((d) => join(root, d));
  const latest = join(root, 'LATEST');
  if (existsSync(latest)) {
    const d = join(root, readFileSync(latest, 'utf8').trim());
    if (existsSync(d) && !all.includes(d)) all.unshift(d);
  }
  return all;
}

/** The newest checkpoint of a run folder (or the checkpoint folder itself) whose files match its manifest. */
export function findValidCheckpoint(outOrCkpt: string): ValidCheckpoint {
  const skipped: ValidCheckpoint['skipped'] = [];
  for (const d of candidates(outOrCkpt)) {
    const problem = verifyCheckpoint(d);
    if (problem === null) return { dir: d, skipped };
    skipped.push({ dir: d, problem });
  }
  return { dir: null, skipped };
}

/** For a resume: the newest valid checkpoint, logging each newer one that was skipped and why; throws when none is valid. */
export function resumeCheckpoint(out: string, log: (m: string) => void): string {
  const v = findValidCheckpoint(out);
  for (const s of v.skipped) log(`checkpoint ${s.dir} is not usable: ${s.problem}; skipping it`);
  if (!v.dir) {
    if (!v.skipped.length) throw new Error(`--resume: no checkpoint in ${out}/checkpoints`);
    throw new Error(
      `--resume: no valid checkpoint in ${out}/checkpoints (${v.skipped.length} checked, none matches its manifest; see above)`,
    );
  }
  if (v.skipped.length) log(`falling back to the newest valid checkpoint, ${v.dir}`);
  return v.dir;
}

/** For messages after a failure: the newest checkpoint that verified ("none" when there is none), and what was skipped. */
export function lastGoodCheckpoint(out: string): string {
  const v = findValidCheckpoint(out);
  const skipped = v.skipped.length
    ? ` (skipped as corrupt: ${v.skipped.map((s) => `${s.dir}: ${s.problem}`).join('; ')})`
    : '';
  return `${v.dir ?? '(none verified)'}${skipped}`;
}

export async function saveCheckpoint(
  out: string,
  be: Backend,
  st: TrainerState,
  data: DataState,
  vocabIds: Int32Array | null,
  keep = DEFAULT_KEEP_CHECKPOINTS,
): Promise<string> {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep checkpoints: need a positive integer, got ${keep}`);
  const root = join(out, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const final = checkpointDir(out, st.step);
  removeStaleTemps(root); // folders of a save that was killed
  await writeDirAtomic(final, async (tmp) => {
    await saveModel(join(tmp, 'model.safetensors'), be, vocabIds);
    const opt = await be.getOptimizerState();
    const ot: TensorIn[] = [];
    for (const p of be.params()) {
      ot.push({ name: `m.${p.name}`, shape: p.shape, data: opt.m.get(p.name)! });
      ot.push({ name: `v.${p.name}`, shape: p.shape, data: opt.v.get(p.name)! });
    }
    writeSafetensors(join(tmp, 'optimizer.safetensors'), ot, { step: String(opt.step), kind: 'adamw' });
    writeSafetensors(join(tmp, 'data.safetensors'), [{ name: 'perm', shape: [data.perm.length], data: data.perm }], {
      state: JSON.stringify(data.json),
    });
    writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify(st, null, 2) + '\n');
    writeCheckpointManifest(tmp);
  });
  writeFileAtomic(join(root, 'LATEST'), `${final.split('/').pop()}\n`);
  // prune old checkpoints
  const all = listCheckpoints(out);
  for (const d of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(root, d), { recursive: true, force: true });
  return final;
}

export function listCheckpoints(out: string): string[] {
  const root = join(out, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => /^step-\d{8}$/.test(d))
    .sort();
}

/** the checkpoint folder named by LATEST (or the newest complete one), or null. */
export function latestCheckpoint(outOrCkpt: string): string | null {
  if (existsSync(join(outOrCkpt, 'trainer.json')) && existsSync(join(outOrCkpt, 'model.safetensors'))) return outOrCkpt;
  const root = join(outOrCkpt, 'checkpoints');
  const latest = join(root, 'LATEST');
  if (existsSync(latest)) {
    const d = join(root, readFileSync(latest, 'utf8').trim());
    if (existsSync(join(d, 'trainer.json'))) return d;
  }
  const all = listCheckpoints(outOrCkpt);
  return all.length ? join(root, all[all.length - 1]) : null;
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainerState;
  data: DataState;
}

export function readTrainerState(dir: string): TrainerState {
  const p = join(dir, 'trainer.json');
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${p}: cannot read trainer state: ${(e as Error).message}`);
  }
}

/** Loads a checkpoint after verifying it against its manifest (pass verified when findValidCheckpoint just did). */
export async function loadCheckpoint(
  dir: string,
  be: Backend,
  verified = false,
): Promise<LoadedCheckpoint & { vocabIds: Int32Array | null }> {
  if (!verified) {
    const problem = verifyCheckpoint(dir);
    if (problem) throw new Error(`checkpoint ${dir}: ${problem}`);
  }
  const state = readTrainerState(dir);
  const vocabIds = await loadModel(join(dir, 'model.safetensors'), be);
  const of = new SafetensorsFile(join(dir, 'optimizer.safetensors'));
  try {
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const p of be.params()) {
      m.set(p.name, of.float32(`m.${p.name}`));
      v.set(p.name, of.float32(`v.${p.name}`));
    }
    await be.setOptimizerState({ step: Number(of.metadata.step), m, v });
  } finally {
    of.close();
  }
  const df = new SafetensorsFile(join(dir, 'data.safetensors'));
  let data: DataState;
  try {
    data = { json: JSON.parse(df.metadata.state) as DataStateJson, perm: df.int32('perm') };
  } finally {
    df.close();
  }
  return { dir, state, data, vocabIds };
}
