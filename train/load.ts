/** Opens a trained model for inference: a run folder, a checkpoint folder, a model.safetensors, or an HF folder. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackend, type Backend } from './backend.ts';
import { latestCheckpoint, loadModel, readModelConfig } from './checkpoint.ts';
import { UNK_RAW_ID, type ModelConfig } from './config.ts';
import { importHf } from './hf.ts';

export interface OpenedModel {
  backend: Backend;
  config: ModelConfig;
  /** compact vocabulary: model id -> raw token id (null = identity). */
  vocabIds: Int32Array | null;
  source: string;
}

export function resolveModelFile(path: string): { kind: 'steel'; file: string } | { kind: 'hf'; dir: string } {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  if (statSync(path).isFile()) return { kind: 'steel', file: path };
  if (
    existsSync(join(path, 'config.json')) &&
    !existsSync(join(path, 'trainer.json')) &&
    !existsSync(join(path, 'checkpoints'))
  )
    return { kind: 'hf', dir: path };
  const ck = latestCheckpoint(path);
  if (ck) return { kind: 'steel', file: join(ck, 'model.safetensors') };
  if (existsSync(join(path, 'model.safetensors'))) return { kind: 'steel', file: join(path, 'model.safetensors') };
  throw new Error(`${path}: no checkpoint, model.safetensors or HF config.json found`);
}

export async function openModel(path: string, backendName = 'cpu'): Promise<OpenedModel> {
  const r = resolveModelFile(path);
  if (r.kind === 'hf') {
    const imp = importHf(r.dir);
    const be = await loadBackend(backendName, imp.config);
    for (const p of be.params()) await be.setParam(p.name, imp.tensors.get(p.name)!);
    return { backend: be, config: imp.config, vocabIds: null, source: r.dir };
  }
  const config = readModelConfig(r.file);
  const be = await loadBackend(backendName, config);
  const vocabIds = await loadModel(r.file, be);
  return { backend: be, config, vocabIds, source: r.file };
}

/** raw token ids -> model ids (compact vocabularies); unknown ids are an error naming the id. */
export function toModelIds(raw: ArrayLike<number>, vocabIds: Int32Array | null): Int32Array {
  if (!vocabIds) return Int32Array.from(raw);
  const map = new Map<number, number>();
  for (let i = 0; i < vocabIds.length; i++) map.set(vocabIds[i], i);
  const out = new Int32Array(raw.length);
  const unk = map.get(UNK_RAW_ID);
  for (let i = 0; i < raw.length; i++) {
    const m = map.get(raw[i]) ?? unk;
    if (m === undefined)
      throw new Error(
        `token id ${raw[i]} is not in this model's compact vocabulary (it never occurred in the training data)`,
      );
    out[i] = m;
  }
  return out;
}
