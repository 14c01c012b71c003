/**
 * The one interface every training backend implements (CPU reference in train/backends/cpu.ts, CUDA in train/native/).
 *
 * Conventions:
 * - Parameters are named and shaped as in the HF / Steel-LLM checkpoints (train/config.ts paramShapes()); values cross
 *   the interface as fp32 Float32Array in row-major PyTorch layout (Linear weight = [out, in]).
 * - tokens for training are B x (T+1) int32 ids (a block: input = [0, T), target = [1, T+1)); targets equal to
 *   config.padId are ignored by the loss. For forward() they are B x T.
 * - forwardBackward returns the mean cross-entropy over the non-ignored targets of this call and ADDS
 *   gradScale x d(loss)/d(param) into the gradient buffers (gradient accumulation: gradScale = 1 / accumSteps).
 * - Per-token loss weights (SFT masks, DPO): forwardBackward(tokens, B, T, gradScale, weights) with weights B x T fp32
 *   (weights[b*T + t] belongs to the target tokens[b, t+1]) returns sum_i w_i * (-log p(target_i)) -- a plain weighted
 *   SUM, the caller normalises (SFT: w = mask / supervised tokens of the whole step; DPO: w = per-sequence coefficient
 *   on response positions, negative allowed) -- and ADDS gradScale x its gradient. With weights, padId is not special:
 *   a position counts iff its weight is non-zero. sequenceLogProbs(tokens, B, T, weights) returns, per row b,
 *   sum_t w_bt * log p(target_bt) in float64 (no gradient): the per-sequence summed log-probs DPO needs.
 * - step() = global-norm gradient clipping then PyTorch AdamW (decoupled weight decay applied to every parameter,
 *   bias correction); it returns the grad norm BEFORE clipping, increments the optimizer step and does not zero grads.
 */
import type { ModelConfig } from './config.ts';
import { moduleFile } from '../pipeline/node-entry.ts';

export interface ParamInfo {
  name: string;
  shape: number[];
  size: number;
}

export interface AdamWOptions {
  lr: number;
  beta1: number; // 0.9
  beta2: number; // 0.95
  eps: number; // 1e-8
  weightDecay: number; // 0.05
  gradClip: number; // 1.0 (<= 0 disables clipping)
}

export interface OptimizerState {
  /** number of step() calls so far (AdamW bias correction uses step + 1 on the next call). */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/**
 * Incremental decoding with a KV cache. The Steel kind's Soft-MoE mixes the tokens of one feed() call, as Steel-LLM's
 * modeling code does under transformers' generate: the whole prompt at prefill, then one token per step.
 */
export interface DecodeSession {
  /** tokens already fed. */
  readonly length: number;
  /** feeds tokens (causal attention over the cache; the FFN sees these tokens together); returns the logits (vocabSize) after the last one. */
  feed(tokens: ArrayLike<number>): Promise<Float32Array>;
  dispose(): void;
}

/**
 * Several sequences decoded together, each with its own prompt length and position (ragged batches): what
 * generateBatch() (train/generate.ts) uses; a backend without it gets one DecodeSession per sequence. Each sequence's
 * tokens and logits are those of decoding it alone (up to the backend's rounding).
 */
export interface RaggedDecodeSession {
  readonly batch: number;
  /** the session's first feed: sequence b gets prompts[b] (lengths may differ); logits B x vocabSize after each. */
  prefill(prompts: ArrayLike<number>[]): Promise<Float32Array>;
  /** one token per sequence at its own position (a negative id: the sequence has ended, its row is unspecified). */
  step(tokens: ArrayLike<number>): Promise<Float32Array>;
  /**
   * greedy decoding from a fresh session of at least `batch` prompts: up to steps ids per prompt, ending with its first
   * stop id; a banned id is never chosen (argmax over the others, first index on ties). With more prompts than slots, a
   * slot whose sequence has ended takes the next prompt (continuous batching); each result is the prompt's alone.
   */
  greedy(
    prompts: ArrayLike<number>[],
    steps: number,
    stopIds: ArrayLike<number>,
    banIds: ArrayLike<number>,
  ): Promise<number[][]>;
  dispose(): void;
}

export interface Backend {
  readonly name: string;
  readonly config: ModelConfig;
  /** peak FLOP/s of the device, for MFU (optional; the trainer has defaults per backend name). */
  readonly peakFlops?: number;
  /** parameters in checkpoint order. */
  params(): ParamInfo[];
  /** (re)initialises every parameter deterministically from seed (normal std initStd, biases 0, norms 1, phi N(0,1/d), scale 1). */
  init(seed: number): Promise<void>;
  getParam(name: string): Promise<Float32Array>;
  setParam(name: string, value: Float32Array): Promise<void>;
  getGrad(name: string): Promise<Float32Array>;
  zeroGrad(): Promise<void>;
  forwardBackward(
    tokens: Int32Array,
    B: number,
    T: number,
    gradScale?: number,
    weights?: Float32Array,
  ): Promise<number>;
  /** per-sequence sum_t w_bt * log p(target_bt) for B x (T+1) blocks (float64, B values, no gradient). */
  sequenceLogProbs?(tokens: Int32Array, B: number, T: number, weights: Float32Array): Promise<Float64Array>;
  /** logits, B x T x vocabSize, for tokens B x T (no gradient). */
  forward(tokens: Int32Array, B: number, T: number): Promise<Float32Array>;
  step(opt: AdamWOptions): Promise<number>;
  getOptimizerState(): Promise<OptimizerState>;
  setOptimizerState(s: OptimizerState): Promise<void>;
  /** optional KV-cache decoder; generation falls back to full forward() without it. */
  startDecode?(maxLen: number): DecodeSession;
  /** optional batched decoder of B sequences of at most maxLen tokens each (prompts of different lengths). */
  startRaggedDecode?(B: number, maxLen: number): RaggedDecodeSession;
  dispose(): Promise<void>;
}

export type BackendFactory = (config: ModelConfig, opts?: { threads?: number; device?: number }) => Promise<Backend>;

export type BackendName = 'cpu' | 'cuda';

/** Loads a backend by name. The CUDA one lives in train/native/index.ts (exports `createBackend: BackendFactory`). */
export async function loadBackend(
  name: BackendName | string,
  config: ModelConfig,
  opts?: { threads?: number; device?: number },
): Promise<Backend> {
  if (name === 'cpu') {
    const m = await import('./backends/cpu.ts');
    return m.createBackend(config, opts);
  }
  if (name === 'cuda') {
    const { existsSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const path = moduleFile(fileURLToPath(new URL('./native/index.ts', import.meta.url)));
    if (!existsSync(path))
      throw new Error(
        `cuda backend not available: ${path} is missing (build train/native first, or use --backend cpu)`,
      );
    let m: { createBackend?: BackendFactory };
    try {
      m = await import(path);
    } catch (e) {
      throw new Error(
        `cuda backend failed to load from ${path}: ${(e as Error).message} (is the native addon built? see train/native/)`,
      );
    }
    if (typeof m.createBackend !== 'function')
      throw new Error(`cuda backend: ${path} does not export createBackend(config, opts)`);
    return m.createBackend(config, opts);
  }
  throw new Error(`unknown backend "${name}" (use cpu or cuda)`);
}

/** The backend's weighted-loss entry points, or a clear error for a backend that lacks them (fine-tuning needs them). */
export function weightedLoss(be: Backend): Required<Pick<Backend, 'sequenceLogProbs'>> & Backend {
  if (typeof be.sequenceLogProbs !== 'function')
    throw new Error(`backend "${be.name}" has no per-token loss weights / sequenceLogProbs (needed by sft and dpo)`);
  return be as Required<Pick<Backend, 'sequenceLogProbs'>> & Backend;
}
