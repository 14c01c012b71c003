// `steel sft` / `steel dpo` as one file for GPU hosts without node_modules (bundled by scripts/gpu/bundle.sh into
// .offline/steel-ft.mjs, the CUDA backend beside it as .offline/steel-cuda-index.mjs), plus `start`: a small Steel-kind
// model with the full Qwen vocabulary, initialised on the GPU and exported as an HF folder, to fine-tune from.
// Usage: steel-ft.mjs sft|dpo ARGS...   |   steel-ft.mjs start OUT_DIR
import { runTask } from '../../cli/commands/sft.ts';
import { getPreset } from '../../train/config.ts';
import { exportHf } from '../../train/hf.ts';
import { loadBackend } from '../../train/backend.ts';

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'sft' || cmd === 'dpo') process.exitCode = await runTask(cmd, rest);
else if (cmd === 'start' && rest[0]) {
  const cfg = {
    ...getPreset('steel-1b').model,
    name: 'steel-ft-e2e',
    hiddenSize: 256,
    numLayers: 4,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 64,
    intermediateSize: 128,
  };
  const be = await loadBackend('cuda', cfg);
  await be.init(5);
  await exportHf(be, null, rest[0]);
  await be.dispose();
  console.log(`start model (${cfg.numLayers} x ${cfg.hiddenSize}, vocabulary ${cfg.vocabSize}) in ${rest[0]}`);
} else {
  console.error('usage: steel-ft.mjs sft|dpo ARGS... | steel-ft.mjs start OUT_DIR');
  process.exitCode = 2;
}
