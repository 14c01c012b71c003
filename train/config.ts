/**
 * Model and training configuration for the Steel trainer.
 *
 * Two model kinds share one Qwen2 decoder (pre-norm RMSNorm, q/k/v bias, RoPE rotate-half, untied lm_head):
 *   - `steel`: Steel-LLM's FFN, Soft-MoE "v3" with SENet experts in every layer (not causal in training);
 *   - `dense`: a plain SwiGLU MLP (Qwen2ForCausalLM, causal, loadable by transformers).
 * Parameter names follow the HF / Steel-LLM checkpoint names (see paramShapes()).
 */

export type ModelKind = 'steel' | 'dense';

export interface ModelConfig {
  name: string;
  kind: ModelKind;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** dense: MLP inner width; steel: inner width of each SENet expert (Steel: intermediate_size / mlp_div_ratio = 448). */
  intermediateSize: number;
  /** steel only: experts per layer and slots per expert (Steel: 6 x 1). */
  numExperts: number;
  slotsPerExpert: number;
  ropeTheta: number;
  rmsNormEps: number;
  /** training context length T (blocks are T+1 tokens). */
  seqLen: number;
  /** token id ignored by the loss (Qwen `<|endoftext|>` 151643), in model-vocabulary space. */
  padId: number;
  /** end-of-document id (Qwen `<|im_end|>` 151645), in model-vocabulary space. */
  eosId: number;
  initStd: number;
  /**
   * CPU presets: build the vocabulary from the token ids present in the training shards (a sorted id list saved with
   * every checkpoint), so that a tiny model does not pay for 151,936 output rows. vocabSize is then replaced.
   */
  compactVocab?: boolean;
  /**
   * With compactVocab: keep only the vocabCap most frequent ids (plus pad and eos); every other id becomes one
   * "unknown" class (raw id UNK_RAW_ID, an unused row of Qwen's padded vocabulary). Loss comparisons must then use the
   * same mapping (the trainer reports the unigram entropy of the mapped stream).
   */
  vocabCap?: number;
}

/** raw id standing for "any token outside a capped compact vocabulary" (Qwen's last, never-produced row). */
export const UNK_RAW_ID = 151935;

export interface TrainHyper {
  lr: number;
  minLr: number;
  warmupSteps: number;
  /** total steps of the cosine schedule (the run may stop earlier with --steps). */
  totalSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
  microBatch: number;
  gradAccum: number;
  seed: number;
  logEvery: number;
  ckptEvery: number;
}

/** Steel-LLM's pretraining hyperparameters (steel-llm.md §2). Batch is per process. */
export const STEEL_TRAIN: TrainHyper = {
  lr: 3e-4,
  minLr: 3e-5,
  warmupSteps: 5000,
  totalSteps: 1_060_000,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.05,
  gradClip: 1.0,
  microBatch: 8,
  gradAccum: 8,
  seed: 3407,
  logEvery: 20,
  ckptEvery: 20_000,
};

const QWEN_VOCAB = 151936;
const PAD = 151643;
const EOS = 151645;

function steelLike(over: Partial<ModelConfig> & Pick<ModelConfig, 'name'>): ModelConfig {
  return {
    kind: 'steel',
    vocabSize: QWEN_VOCAB,
    hiddenSize: 1792,
    numLayers: 18,
    numHeads: 32,
    numKvHeads: 32,
    headDim: 56,
    intermediateSize: 448,
    numExperts: 6,
    slotsPerExpert: 1,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    seqLen: 2048,
    padId: PAD,
    eosId: EOS,
    initStd: 0.02,
    ...over,
  };
}

export interface Preset {
  model: ModelConfig;
  train: TrainHyper;
  description: string;
}

export const PRESETS: Record<string, Preset> = {
  'steel-1b': {
    description:
      'Steel-LLM-1B exactly (18x1792, 32 heads, Soft-MoE v3 6x1 SENet experts of width 448): 1,122,922,770 params',
    model: steelLike({ name: 'steel-1b' }),
    train: STEEL_TRAIN,
  },
  'qwen2-dense-1b': {
    description:
      'Dense Qwen2 of the same shape with a SwiGLU MLP of width 3584 (same params as steel-1b up to the router)',
    model: steelLike({
      name: 'qwen2-dense-1b',
      kind: 'dense',
      intermediateSize: 3584,
      numExperts: 0,
      slotsPerExpert: 0,
    }),
    train: STEEL_TRAIN,
  },
  'qwen2-dense-1b-gqa': {
    description: 'Dense Qwen2 ~1B with grouped-query attention (8 kv heads) and a wider MLP (4480)',
    model: steelLike({
      name: 'qwen2-dense-1b-gqa',
      kind: 'dense',
      numKvHeads: 8,
      intermediateSize: 4480,
      numExperts: 0,
      slotsPerExpert: 0,
    }),
    train: STEEL_TRAIN,
  },
  // ---- small presets (CPU runs and tests). The CPU presets build a compact vocabulary from the data.
  tiny: {
    description:
      'test model: 2 layers x 32, 4 heads, Soft-MoE 4x1 experts of width 16, vocab 64 (on real shards: the 60 most frequent ids + specials + unk), context 16',
    model: steelLike({
      name: 'tiny',
      vocabSize: 64,
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 8,
      intermediateSize: 16,
      numExperts: 4,
      slotsPerExpert: 1,
      seqLen: 16,
      padId: 0,
      eosId: 1,
    }),
    train: {
      ...STEEL_TRAIN,
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 2,
      totalSteps: 100,
      microBatch: 2,
      gradAccum: 1,
      logEvery: 1,
      ckptEvery: 10,
    },
  },
  'tiny-dense': {
    description:
      'test model, dense kind: 2 layers x 32, 4 heads (2 kv), SwiGLU 64, vocab 64 (on real shards: the 60 most frequent ids + specials + unk), context 16',
    model: steelLike({
      name: 'tiny-dense',
      kind: 'dense',
      vocabSize: 64,
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      intermediateSize: 64,
      numExperts: 0,
      slotsPerExpert: 0,
      seqLen: 16,
      padId: 0,
      eosId: 1,
    }),
    train: {
      ...STEEL_TRAIN,
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 2,
      totalSteps: 100,
      microBatch: 2,
      gradAccum: 1,
      logEvery: 1,
      ckptEvery: 10,
    },
  },
  small: {
    description:
      'CPU model, Steel kind: 2 layers x 64, 4 heads, Soft-MoE 6x1 experts of width 32, context 64, 4096 most frequent ids + unk',
    model: steelLike({
      name: 'small',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      intermediateSize: 32,
      seqLen: 64,
      compactVocab: true,
      vocabCap: 4096,
    }),
    train: {
      ...STEEL_TRAIN,
      lr: 1e-2,
      minLr: 1e-3,
      warmupSteps: 20,
      totalSteps: 600,
      microBatch: 4,
      gradAccum: 1,
      logEvery: 10,
      ckptEvery: 100,
    },
  },
  'small-dense': {
    description:
      'CPU model, dense kind: 2 layers x 64, 4 heads (2 kv), SwiGLU 192, context 64, 4096 most frequent ids + unk',
    model: steelLike({
      name: 'small-dense',
      kind: 'dense',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      intermediateSize: 192,
      numExperts: 0,
      slotsPerExpert: 0,
      seqLen: 64,
      compactVocab: true,
      vocabCap: 4096,
    }),
    train: {
      ...STEEL_TRAIN,
      lr: 1e-2,
      minLr: 1e-3,
      warmupSteps: 20,
      totalSteps: 600,
      microBatch: 4,
      gradAccum: 1,
      logEvery: 10,
      ckptEvery: 100,
    },
  },
  medium: {
    description:
      'CPU model, Steel kind: 4 layers x 128, 4 heads, Soft-MoE 6x1 experts of width 64, context 128, 8192 most frequent ids + unk',
    model: steelLike({
      name: 'medium',
      hiddenSize: 128,
      numLayers: 4,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 32,
      intermediateSize: 64,
      seqLen: 128,
      compactVocab: true,
      vocabCap: 8192,
    }),
    train: {
      ...STEEL_TRAIN,
      lr: 2e-3,
      minLr: 2e-4,
      warmupSteps: 30,
      totalSteps: 1000,
      microBatch: 4,
      gradAccum: 1,
      logEvery: 10,
      ckptEvery: 100,
    },
  },
};

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return { model: { ...p.model }, train: { ...p.train }, description: p.description };
}

/** Checks the invariants every backend relies on; throws with the offending field. */
export function validateConfig(c: ModelConfig): void {
  const pos = [
    'vocabSize',
    'hiddenSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'headDim',
    'intermediateSize',
    'seqLen',
  ] as const;
  for (const k of pos)
    if (!Number.isInteger(c[k]) || c[k] <= 0)
      throw new Error(`model config: ${k} must be a positive integer (got ${c[k]})`);
  if (c.kind !== 'steel' && c.kind !== 'dense')
    throw new Error(`model config: kind must be "steel" or "dense" (got ${c.kind})`);
  if (c.numHeads % c.numKvHeads !== 0)
    throw new Error(`model config: numHeads ${c.numHeads} not a multiple of numKvHeads ${c.numKvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`model config: headDim must be even for RoPE (got ${c.headDim})`);
  if (c.kind === 'steel' && (c.numExperts <= 0 || c.slotsPerExpert <= 0))
    throw new Error('model config: steel kind needs numExperts and slotsPerExpert > 0');
  if (c.padId < 0 || c.padId >= c.vocabSize || c.eosId < 0 || c.eosId >= c.vocabSize)
    throw new Error('model config: padId/eosId out of vocabulary');
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /** how it is initialised: normal(std), ones, zeros, or phi (normal with std 1/sqrt(d)). */
  init: 'normal' | 'ones' | 'zeros' | 'phi';
  /** grouping for `steel model info`. */
  part: 'embedding' | 'attention' | 'ffn' | 'router' | 'norm' | 'lm_head';
}

/**
 * Every parameter, in a fixed order, with HF / Steel-LLM names and PyTorch shapes (Linear weights are [out, in]).
 * Steel kind: model.layers.N.mlp.phi [d, n, p], model.layers.N.mlp.scale [1],
 * model.layers.N.mlp.experts.E.{gate_up_proj,up_proj,gate_down_proj,down_proj}.weight.
 */
export function paramShapes(c: ModelConfig): ParamSpec[] {
  const d = c.hiddenSize,
    q = c.numHeads * c.headDim,
    kv = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const out: ParamSpec[] = [
    { name: 'model.embed_tokens.weight', shape: [c.vocabSize, d], init: 'normal', part: 'embedding' },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      { name: p + 'input_layernorm.weight', shape: [d], init: 'ones', part: 'norm' },
      { name: p + 'self_attn.q_proj.weight', shape: [q, d], init: 'normal', part: 'attention' },
      { name: p + 'self_attn.q_proj.bias', shape: [q], init: 'zeros', part: 'attention' },
      { name: p + 'self_attn.k_proj.weight', shape: [kv, d], init: 'normal', part: 'attention' },
      { name: p + 'self_attn.k_proj.bias', shape: [kv], init: 'zeros', part: 'attention' },
      { name: p + 'self_attn.v_proj.weight', shape: [kv, d], init: 'normal', part: 'attention' },
      { name: p + 'self_attn.v_proj.bias', shape: [kv], init: 'zeros', part: 'attention' },
      { name: p + 'self_attn.o_proj.weight', shape: [d, q], init: 'normal', part: 'attention' },
      { name: p + 'post_attention_layernorm.weight', shape: [d], init: 'ones', part: 'norm' },
    );
    if (c.kind === 'dense') {
      out.push(
        { name: p + 'mlp.gate_proj.weight', shape: [I, d], init: 'normal', part: 'ffn' },
        { name: p + 'mlp.up_proj.weight', shape: [I, d], init: 'normal', part: 'ffn' },
        { name: p + 'mlp.down_proj.weight', shape: [d, I], init: 'normal', part: 'ffn' },
      );
    } else {
      out.push(
        { name: p + 'mlp.phi', shape: [d, c.numExperts, c.slotsPerExpert], init: 'phi', part: 'router' },
        { name: p + 'mlp.scale', shape: [1], init: 'ones', part: 'router' },
      );
      for (let e = 0; e < c.numExperts; e++) {
        const x = `${p}mlp.experts.${e}.`;
        out.push(
          { name: x + 'gate_up_proj.weight', shape: [I, d], init: 'normal', part: 'ffn' },
          { name: x + 'up_proj.weight', shape: [I, d], init: 'normal', part: 'ffn' },
          { name: x + 'gate_down_proj.weight', shape: [d, I], init: 'normal', part: 'ffn' },
          { name: x + 'down_proj.weight', shape: [d, I], init: 'normal', part: 'ffn' },
        );
      }
    }
  }
  out.push(
    { name: 'model.norm.weight', shape: [d], init: 'ones', part: 'norm' },
    { name: 'lm_head.weight', shape: [c.vocabSize, d], init: 'normal', part: 'lm_head' },
  );
  return out;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function countParams(c: ModelConfig): { total: number; byPart: Record<string, number> } {
  const byPart: Record<string, number> = {};
  let total = 0;
  for (const p of paramShapes(c)) {
    const n = numel(p.shape);
    byPart[p.part] = (byPart[p.part] ?? 0) + n;
    total += n;
  }
  return { total, byPart };
}

/**
 * Training FLOPs per token (forward + backward = 3 x forward, 2 FLOPs per multiply-add), counting what is really executed:
 * attention projections, attention scores (causal average: the full T x T product, as Steel's formula does), lm_head,
 * and the FFN. For the Steel kind the experts run on n*p slot vectors per sequence, so their cost per token is
 * divided by T, plus the router/dispatch/combine products (3 x 2 x d x n x p each).
 */
export function flopsPerToken(c: ModelConfig, seqLen = c.seqLen): { total: number; steelFormula: number } {
  const d = c.hiddenSize,
    L = c.numLayers,
    q = c.numHeads * c.headDim,
    kv = c.numKvHeads * c.headDim;
  const attnProj = 2 * d * q + 2 * d * kv; // q, o, k, v
  const scores = 2 * 2 * seqLen * q; // QK^T and AV per token (non-causal upper bound, as the Steel formula)
  let ffn: number;
  if (c.kind === 'dense') ffn = 3 * d * c.intermediateSize;
  else {
    const slots = c.numExperts * c.slotsPerExpert;
    ffn = (slots * 4 * d * c.intermediateSize) / seqLen + 3 * d * slots;
  }
  const perLayerMacs = attnProj + ffn;
  const total = 6 * (L * perLayerMacs + d * c.vocabSize) + 3 * L * scores;
  const steelFormula = 6 * (L * 4 * d * d + d * c.vocabSize) + 12 * L * d * seqLen;
  return { total, steelFormula };
}
