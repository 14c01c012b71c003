import { parseArgs } from 'node:util';
import { importHf } from '../../train/hf.ts';
import { writeSafetensors } from '../../train/safetensors.ts';
import { paramShapes } from '../../train/config.ts';

export const summary = 'import a Hugging Face Qwen2 / Steel-LLM checkpoint as a steel model.safetensors';

const HELP = `usage: steel import --from HF_DIR --out FILE.safetensors [--seq-len T]

Reads config.json + model.safetensors (or a sharded model.safetensors.index.json; bf16/fp16/fp32; tied embeddings are
untied) of a Qwen2ForCausalLM or Steel-LLM (softmoe_v3 + senet) folder and writes fp32 weights with the steel config.
Continue training with: steel train --init-from FILE --config CFG ... (or generate / eval / export with --model FILE).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      from: { type: 'string' },
      out: { type: 'string' },
      'seq-len': { type: 'string' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.from || !v.out) {
    console.error('steel import: --from and --out are required\n\n' + HELP);
    return 2;
  }
  const { config, tensors } = importHf(v.from);
  if (v['seq-len']) config.seqLen = Number(v['seq-len']);
  const specs = paramShapes(config);
  writeSafetensors(
    v.out,
    specs.map((s) => ({ name: s.name, shape: s.shape, data: tensors.get(s.name)! })),
    { format: 'pt', 'steel.config': JSON.stringify(config) },
  );
  const n = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  console.log(
    `imported ${config.kind} model (${config.numLayers} layers x ${config.hiddenSize}, ${n.toLocaleString('en-US')} params) to ${v.out}`,
  );
  return 0;
}
