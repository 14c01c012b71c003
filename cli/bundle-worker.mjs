// The worker entry of a `steel` run from dist/steel.cjs (pipeline/node-entry.ts starts this file where the sources
// and dist/'s own modules start cli/worker.ts): the bundle's `worker`, loaded with its code cache as cli/steel.js
// loads `main`. Plain JavaScript, like cli/dist.mjs.
import { loadBundle, setPrepHeapFlags } from './dist.mjs';

const { worker } = loadBundle();
// the tasks of prep and the other data commands (local executor, Slurm array tasks)
setPrepHeapFlags();
await worker();
