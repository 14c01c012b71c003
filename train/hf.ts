/**
 * Hugging Face checkpoint export / import.
 * - dense kind: a transformers `Qwen2ForCausalLM` folder (config.json + model.safetensors + generation_config.json).
 * - Steel kind: Steel-LLM's own layout (steel_modify_from_qwen_1_5): config.json with FFN_type "softmoe_v3",
 *   mlp_type "senet", n_experts, slots_per_expert, mlp_div_ratio and auto_map to modeling_steel; the same tensor names
 *   (model.layers.N.mlp.phi / scale / experts.E.{gate_up_proj,up_proj,gate_down_proj,down_proj}.weight).
 *   The folder ships its own configuration_steel.py, modeling_steel.py and softmoe_v3.py (train/hf_steel/, for
 *   transformers 5.x): `AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` loads it. config.json also
 *   lists `mlp_layer_types: ["softmoe_v3", ...]`, a value transformers' own Qwen2Config rejects, so loading it without
 *   that code fails instead of building a Qwen2 with random MLP weights.
 * Compact-vocabulary models are expanded to the full 151,936 rows on export: the lm_head rows of ids outside the
 * vocabulary are zero and generation_config.json suppresses them (and the unk class, which `steel generate` never
 * samples either), so transformers' generate picks the same tokens as steel's; their embedding rows copy the unk class's
 * row, so an id the model never saw reads as unk, as `steel generate` maps it.
 */
import { existsSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { writeDirAtomic } from '../pipeline/fsutil.ts';
import { join } from 'node:path';
import type { Backend } from './backend.ts';
import { type ModelConfig, UNK_RAW_ID, paramShapes, numel, validateConfig } from './config.ts';
import { SafetensorsFile, writeSafetensors, type TensorIn } from './safetensors.ts';

const QWEN_VOCAB = 151936;
const MLP_DIV = 4;
/** the modeling code a Steel-kind export ships (sources in train/hf_steel/). */
export const STEEL_MODELING_FILES = ['configuration_steel.py', 'modeling_steel.py', 'softmoe_v3.py'];
const MODELING_DIR = new URL('./hf_steel/', import.meta.url).pathname;

export function hfConfig(c: ModelConfig, vocabSize: number, padId: number, eosId: number): Record<string, unknown> {
  const base: Record<string, unknown> = {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: padId,
    eos_token_id: eosId,
    hidden_act: 'silu',
    hidden_size: c.hiddenSize,
    initializer_range: c.initStd,
    intermediate_size: c.kind === 'dense' ? c.intermediateSize : c.intermediateSize * MLP_DIV,
    max_position_embeddings: Math.max(32768, c.seqLen),
    max_window_layers: c.numLayers,
    model_type: 'qwen2',
    num_attention_heads: c.numHeads,
    num_hidden_layers: c.numLayers,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    sliding_window: null,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: vocabSize,
  };
  if (c.kind === 'steel') {
    Object.assign(base, {
      architectures: ['SteelForCausalLM'],
      auto_map: {
        AutoConfig: 'configuration_steel.SteelConfig',
        AutoModel: 'modeling_steel.SteelModel',
        AutoModelForCausalLM: 'modeling_steel.SteelForCausalLM',
      },
      mlp_layer_types: Array.from({ length: c.numLayers }, () => 'softmoe_v3'),
      n_experts: c.numExperts,
      slots_per_expert: c.slotsPerExpert,
      mlp_div_ratio: MLP_DIV,
      FFN_type: 'softmoe_v3',
      mlp_type: 'senet',
    });
  }
  return base;
}

export interface ExportResult {
  dir: string;
  files: string[];
  expandedVocab: boolean;
}

/** writes an HF folder from a backend's weights (atomic: temporary folder, then rename). */
export async function exportHf(
  be: Backend,
  vocabIds: Int32Array | null,
  outDir: string,
  opts: { tokenizerJson?: string; checkTokens?: Int32Array } = {},
): Promise<ExportResult> {
  const c = be.config;
  const V = vocabIds ? QWEN_VOCAB : c.vocabSize;
  const padId = vocabIds ? vocabIds[c.padId] : c.padId,
    eosId = vocabIds ? vocabIds[c.eosId] : c.eosId;
  return writeDirAtomic(outDir, async (tmp) => {
    const tensors: TensorIn[] = [];
    for (const p of be.params()) {
      let data = await be.getParam(p.name);
      let shape = p.shape;
      if (vocabIds && (p.name === 'model.embed_tokens.weight' || p.name === 'lm_head.weight')) {
        const d = c.hiddenSize,
          full = new Float32Array(QWEN_VOCAB * d);
        const unk = vocabIds.indexOf(UNK_RAW_ID);
        if (p.name === 'model.embed_tokens.weight' && unk >= 0) {
          // unseen ids read as the unk class
          const row = data.subarray(unk * d, (unk + 1) * d);
          for (let r = 0; r < QWEN_VOCAB; r++) full.set(row, r * d);
        }
        for (let i = 0; i < vocabIds.length; i++) full.set(data.subarray(i * d, (i + 1) * d), vocabIds[i] * d);
        data = full;
        shape = [QWEN_VOCAB, d];
      }
      tensors.push({ name: p.name, shape, data });
    }
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(hfConfig(c, V, padId, eosId), null, 2) + '\n');
    const gen: Record<string, unknown> = {
      bos_token_id: padId,
      eos_token_id: eosId,
      pad_token_id: padId,
      do_sample: true,
      temperature: 0.8,
      top_p: 0.9,
    };
    if (vocabIds) gen.suppress_tokens = suppressedIds(vocabIds);
    writeFileSync(join(tmp, 'generation_config.json'), JSON.stringify(gen) + '\n');
    const files = ['config.json', 'generation_config.json', 'model.safetensors'];
    if (c.kind === 'steel') {
      for (const f of STEEL_MODELING_FILES) copyFileSync(join(MODELING_DIR, f), join(tmp, f));
      files.push(...STEEL_MODELING_FILES);
    }
    if (opts.tokenizerJson && existsSync(opts.tokenizerJson)) {
      copyFileSync(opts.tokenizerJson, join(tmp, 'tokenizer.json'));
      files.push('tokenizer.json');
    }
    if (opts.checkTokens) {
      // our logits for a few tokens, for scripts/fixtures/torch-check-hf-export.py (in HF vocabulary space)
      const T = opts.checkTokens.length;
      const modelIds = vocabIds
        ? Int32Array.from(opts.checkTokens, (r) => {
            const i = vocabIds.indexOf(r);
            if (i < 0) throw new Error(`check token ${r} not in vocab`);
            return i;
          })
        : opts.checkTokens;
      const logits = await be.forward(modelIds, 1, T);
      const Vm = c.vocabSize;
      let out = logits;
      if (vocabIds) {
        out = new Float32Array(T * V);
        for (let t = 0; t < T; t++) for (let i = 0; i < Vm; i++) out[t * V + vocabIds[i]] = logits[t * Vm + i];
      }
      writeSafetensors(
        join(tmp, 'steel_check.safetensors'),
        [
          { name: 'input_ids', shape: [1, T], data: opts.checkTokens },
          { name: 'logits', shape: [1, T, V], data: out },
        ],
        {
          kind: c.kind,
          note: 'logits of the steel CPU backend; compare with scripts/fixtures/torch-check-hf-export.py',
        },
      );
      files.push('steel_check.safetensors');
    }
    return { dir: outDir, files, expandedVocab: !!vocabIds };
  });
}

/** raw ids a compact-vocabulary export must never generate: those outside the vocabulary, and the unk class. */
export function suppressedIds(vocabIds: Int32Array): number[] {
  const inVocab = new Uint8Array(QWEN_VOCAB);
  for (const r of vocabIds) if (r !== UNK_RAW_ID) inVocab[r] = 1;
  const out: number[] = [];
  for (let r = 0; r < QWEN_VOCAB; r++) if (!inVocab[r]) out.push(r);
  return out;
}

/** reads an HF Qwen2 / Steel folder into our config + fp32 tensors (handles sharded index files and tied embeddings). */
export function importHf(dir: string): { config: ModelConfig; tensors: Map<string, Float32Array> } {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: no config.json`);
  let h: Record<string, any>;
  try {
    h = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgPath}: ${(e as Error).message}`);
  }
  if (h.model_type !== 'qwen2')
    throw new Error(`${cfgPath}: model_type "${h.model_type}" is not supported (qwen2 / Steel only)`);
  const steel = h.FFN_type !== undefined && h.FFN_type !== 'raw';
  if (steel && (h.FFN_type !== 'softmoe_v3' || h.mlp_type !== 'senet'))
    throw new Error(
      `${cfgPath}: FFN_type ${h.FFN_type} / mlp_type ${h.mlp_type} not supported (softmoe_v3 + senet only)`,
    );
  if (!steel && h.mlp_type === 'senet') throw new Error(`${cfgPath}: FFN_type raw with senet experts is not supported`);
  const numHeads = h.num_attention_heads;
  const config: ModelConfig = {
    name: `import:${dir}`,
    kind: steel ? 'steel' : 'dense',
    vocabSize: h.vocab_size,
    hiddenSize: h.hidden_size,
    numLayers: h.num_hidden_layers,
    numHeads,
    numKvHeads: h.num_key_value_heads ?? numHeads,
    headDim: h.head_dim ?? h.hidden_size / numHeads,
    intermediateSize: steel ? Math.floor(h.intermediate_size / (h.mlp_div_ratio ?? 1)) : h.intermediate_size,
    numExperts: steel ? h.n_experts : 0,
    slotsPerExpert: steel ? (h.slots_per_expert ?? 1) : 0,
    ropeTheta: h.rope_theta ?? h.rope_parameters?.rope_theta ?? 1e6,
    rmsNormEps: h.rms_norm_eps ?? 1e-6,
    seqLen: 2048,
    padId: 151643 < h.vocab_size ? 151643 : 0,
    eosId:
      typeof h.eos_token_id === 'number' && h.eos_token_id < h.vocab_size
        ? h.eos_token_id
        : 151645 < h.vocab_size
          ? 151645
          : 0,
    initStd: h.initializer_range ?? 0.02,
  };
  validateConfig(config);
  // files: model.safetensors or model.safetensors.index.json
  const files: string[] = [];
  const idx = join(dir, 'model.safetensors.index.json');
  if (existsSync(join(dir, 'model.safetensors'))) files.push(join(dir, 'model.safetensors'));
  else if (existsSync(idx)) {
    const map = JSON.parse(readFileSync(idx, 'utf8')).weight_map as Record<string, string>;
    for (const f of new Set(Object.values(map))) files.push(join(dir, f));
  } else throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const opened = files.map((f) => new SafetensorsFile(f));
  const find = (name: string) => opened.find((f) => f.has(name));
  const tensors = new Map<string, Float32Array>();
  try {
    for (const s of paramShapes(config)) {
      let f = find(s.name);
      let name = s.name;
      if (!f && s.name === 'lm_head.weight' && h.tie_word_embeddings) {
        name = 'model.embed_tokens.weight';
        f = find(name);
      }
      if (!f) throw new Error(`${dir}: missing tensor ${s.name}`);
      const e = f.tensors.get(name)!;
      if (numel(e.shape) !== numel(s.shape))
        throw new Error(`${dir}: ${s.name} has shape [${e.shape}], expected [${s.shape}]`);
      tensors.set(s.name, f.float32(name));
    }
  } finally {
    for (const f of opened) f.close();
  }
  return { config, tensors };
}
