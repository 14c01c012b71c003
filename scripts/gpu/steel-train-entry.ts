// `steel train` as one file for GPU hosts without node_modules: bundled by scripts/gpu/bundle.sh into
// .offline/steel-train.mjs (the CUDA backend is bundled beside it as .offline/steel-cuda-index.mjs).
import { run } from '../../cli/commands/train.ts';

process.exitCode = await run(process.argv.slice(2));
