/** Resolves --preset / --config FILE (+ overrides) into a model config and training hyperparameters. */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { getPreset, STEEL_TRAIN, type ModelConfig, type TrainHyper, validateConfig } from './config.ts';

/**
 * Config files (JSON or YAML): { preset?: NAME, model?: {partial ModelConfig}, train?: {partial TrainHyper} }.
 * Without a preset, `model` must be complete (kind, sizes ...); Steel's hyperparameters fill `train`.
 */
export function resolveConfig(opts: { preset?: string; config?: string }): { model: ModelConfig; hyper: TrainHyper } {
  if (!opts.preset && !opts.config) throw new Error('give --preset NAME or --config FILE');
  let model: Partial<ModelConfig> = {},
    hyper: TrainHyper = { ...STEEL_TRAIN };
  if (opts.preset) {
    const p = getPreset(opts.preset);
    model = p.model;
    hyper = p.train;
  }
  if (opts.config) {
    let raw: { preset?: string; model?: Partial<ModelConfig>; train?: Partial<TrainHyper> };
    try {
      const text = readFileSync(opts.config, 'utf8');
      raw = opts.config.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
    } catch (e) {
      throw new Error(`${opts.config}: cannot read config: ${(e as Error).message}`);
    }
    if (raw.preset && !opts.preset) {
      const p = getPreset(raw.preset);
      model = p.model;
      hyper = p.train;
    }
    model = { ...model, ...(raw.model ?? {}) };
    hyper = { ...hyper, ...(raw.train ?? {}) };
    const defaults: Partial<ModelConfig> = {
      ropeTheta: 1e6,
      rmsNormEps: 1e-6,
      initStd: 0.02,
      padId: 151643,
      eosId: 151645,
      numExperts: 0,
      slotsPerExpert: 0,
      name: 'custom',
    };
    model = { ...defaults, ...model };
    if (model.headDim === undefined && model.hiddenSize && model.numHeads)
      model.headDim = model.hiddenSize / model.numHeads;
    if (model.numKvHeads === undefined) model.numKvHeads = model.numHeads;
  }
  const full = model as ModelConfig;
  if (!full.compactVocab) {
    try {
      validateConfig(full);
    } catch (e) {
      throw new Error(`${opts.config ?? opts.preset}: ${(e as Error).message}`);
    }
  }
  for (const [k, v] of Object.entries(hyper))
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`training setting ${k} must be a number (got ${v})`);
  return { model: full, hyper };
}

export function parseWeights(s: string | undefined): Record<string, number> | null {
  if (!s) return null;
  const out: Record<string, number> = {};
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || !Number.isFinite(n) || n < 0) throw new Error(`--weights: bad entry "${part}" (use SOURCE=WEIGHT,...)`);
    out[k.trim()] = n;
  }
  return out;
}
