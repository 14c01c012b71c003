import { parseArgs } from 'node:util';
import { openModel } from '../../train/load.ts';
import { exportHf } from '../../train/hf.ts';
import { qwenTokenizerPath } from '../../tokenizer/encode.ts';

export const summary =
  'export a checkpoint as a Hugging Face folder (dense: Qwen2ForCausalLM; steel: Steel-LLM layout)';

const HELP = `usage: steel export --model PATH --format hf --out DIR [--check-tokens N] [--no-tokenizer]

  dense kind  -> config.json (Qwen2ForCausalLM) + model.safetensors (fp32) + generation_config.json + tokenizer.json;
                 loads with transformers' AutoModelForCausalLM / Qwen2ForCausalLM.
  steel kind  -> Steel-LLM's config.json (model_type qwen2, architectures SteelForCausalLM, FFN_type softmoe_v3,
                 mlp_type senet, n_experts, slots_per_expert, mlp_div_ratio, auto_map) and tensor names, plus its own
                 configuration_steel.py, modeling_steel.py, softmoe_v3.py (transformers 5.x): load with
                 AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True). Without that flag transformers
                 refuses it (mlp_layer_types "softmoe_v3") instead of building a Qwen2 with random MLP weights.
  Compact-vocabulary models (CPU presets) are expanded to 151,936 rows: ids outside the vocabulary (and the unk class)
  are listed in generation_config.json's suppress_tokens, so transformers' generate picks what steel generate picks;
  their embedding rows are the unk row (an unseen id reads as unk, as in steel). Their lm_head rows are zero, so a plain
  forward pass still gives them logit 0: score log-likelihoods over the model's own vocabulary.
  --check-tokens N    also write steel_check.safetensors (N token ids + our logits) for
                      scripts/fixtures/torch-check-hf-export.py (default 8; 0 = none)`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      model: { type: 'string' },
      format: { type: 'string', default: 'hf' },
      out: { type: 'string' },
      'check-tokens': { type: 'string', default: '8' },
      'no-tokenizer': { type: 'boolean' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.model || !v.out) {
    console.error('steel export: --model and --out are required\n\n' + HELP);
    return 2;
  }
  if (v.format !== 'hf') {
    console.error(`steel export: unknown format "${v.format}" (only hf)`);
    return 2;
  }
  const m = await openModel(v.model, 'cpu');
  const n = Number(v['check-tokens']);
  let check: Int32Array | undefined;
  if (n > 0) {
    const pool = m.vocabIds ? Array.from(m.vocabIds) : Array.from({ length: m.config.vocabSize }, (_, i) => i);
    check = Int32Array.from({ length: n }, (_, i) => pool[(i * 7919 + 13) % pool.length]);
  }
  let tokenizerJson: string | undefined;
  if (!v['no-tokenizer'] && (m.vocabIds || m.config.vocabSize === 151936)) {
    try {
      tokenizerJson = qwenTokenizerPath();
    } catch {
      /* optional */
    }
  }
  const r = await exportHf(m.backend, m.vocabIds, v.out, { tokenizerJson, checkTokens: check });
  console.log(
    `exported ${m.config.kind} model to ${r.dir}: ${r.files.join(', ')}${r.expandedVocab ? ' (compact vocabulary expanded to 151,936 rows; the other ids are suppressed in generation_config.json)' : ''}`,
  );
  await m.backend.dispose();
  return 0;
}
