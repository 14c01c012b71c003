/**
 * Checkpoints: OUT/checkpoints/step-NNNNNNNN/{model.safetensors, optimizer.safetensors, data.safetensors, trainer.json}
 * written into a temporary folder and renamed into place, then OUT/checkpoints/LATEST (atomic) names it.
 * model.safetensors holds the fp32 weights under HF / Steel names (+ `steel.vocab_ids` for compact vocabularies) and the
 * model config in its metadata.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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

export async function saveModel(path: string, be: Backend, vocabIds: Int32Array | null, extraMeta: Record<string, string> = {}): Promise<void> {
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
    if (!c) throw new Error(`${path}: no steel.config metadata (not a steel checkpoint; use steel import for HF folders)`);
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
      if (a.length !== p.size) throw new Error(`${path}: ${p.name} has ${a.length} values, the model needs ${p.size} [${p.shape}]`);
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

export async function saveCheckpoint(out: string, be: Backend, st: TrainerState, data: DataState, vocabIds: Int32Array | null, keep = 3): Promise<string> {
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
    writeSafetensors(join(tmp, 'data.safetensors'), [{ name: 'perm', shape: [data.perm.length], data: data.perm }], { state: JSON.stringify(data.json) });
    writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify(st, null, 2) + '\n');
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
  return readdirSync(root).filter((d) => /^step-\d{8}$/.test(d)).sort();
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

export async function loadCheckpoint(dir: string, be: Backend): Promise<LoadedCheckpoint & { vocabIds: Int32Array | null }> {
  const state = readTrainerState(dir);
  const vocabIds = await loadModel(join(dir, 'model.safetensors'), be);
  const of = new SafetensorsFile(join(dir, 'optimizer.safetensors'));
  try {
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
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
