// `steel train` as one file for GPU hosts without node_modules: bundled by scripts/gpu/bundle.sh into
// .offline/steel-train.mjs (the CUDA backend is bundled beside it as .offline/steel-cuda-index.mjs).
import { fileURLToPath } from 'node:url';
import { run } from '../../cli/commands/train.ts';
import { settingName } from '../../pipeline/settings.ts';

// `--gpus N` re-runs this bundle once per rank (train/distributed/launch.ts)
process.env[settingName('trainEntry')] = fileURLToPath(import.meta.url);

process.exitCode = await run(process.argv.slice(2));
