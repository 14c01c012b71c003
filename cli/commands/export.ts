import { parseArgs } from 'node:util';
import { openModel } from '../../train/load.ts';
import { exportHf } from '../../train/hf.ts';
import { qwenTokenizerPath } from '../../tokenizer/encode.ts';

export const summary = 'export a checkpoint as a Hugging Face folder (dense: Qwen2ForCausalLM; steel: Steel-LLM layout)';

const HELP = `usage: steel export --model PATH --format hf --out DIR [--check-tokens N] [--no-tokenizer]

  dense kind  -> config.json (Qwen2ForCausalLM) + model.safetensors (fp32) + generation_config.json + tokenizer.json;
                 loads with transformers' AutoModelForCausalLM / Qwen2ForCausalLM.
  steel kind  -> Steel-LLM's config.json (FFN_type softmoe_v3, mlp_type senet, n_experts, slots_per_expert,
                 mlp_div_ratio, auto_map to modeling_steel) and its tensor names; needs Steel-LLM's modeling_steel.py.
  Compact-vocabulary models (CPU presets) are expanded to 151,936 rows (unused rows zero).
  --check-tokens N    also write steel_check.safetensors (N token ids + our logits) for
                      scripts/fixtures/torch-check-hf-export.py (default 8; 0 = none)`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' }, model: { type: 'string' }, format: { type: 'string', default: 'hf' }, out: { type: 'string' },
      'check-tokens': { type: 'string', default: '8' }, 'no-tokenizer': { type: 'boolean' },
    },
  });
  if (v.help) { console.log(HELP); return 0; }
  if (!v.model || !v.out) { console.error('steel export: --model and --out are required\n\n' + HELP); return 2; }
  if (v.format !== 'hf') { console.error(`steel export: unknown format "${v.format}" (only hf)`); return 2; }
  const m = await openModel(v.model, 'cpu');
  const n = Number(v['check-tokens']);
  let check: Int32Array | undefined;
  if (n > 0) {
    const pool = m.vocabIds ? Array.from(m.vocabIds) : Array.from({ length: m.config.vocabSize }, (_, i) => i);
    check = Int32Array.from({ length: n }, (_, i) => pool[(i * 7919 + 13) % pool.length]);
  }
  let tokenizerJson: string | undefined;
  if (!v['no-tokenizer'] && (m.vocabIds || m.config.vocabSize === 151936)) { try { tokenizerJson = qwenTokenizerPath(); } catch { /* optional */ } }
  const r = await exportHf(m.backend, m.vocabIds, v.out, { tokenizerJson, checkTokens: check });
  console.log(`exported ${m.config.kind} model to ${r.dir}: ${r.files.join(', ')}${r.expandedVocab ? ' (compact vocabulary expanded to 151,936 rows)' : ''}`);
  await m.backend.dispose();
  return 0;
}
