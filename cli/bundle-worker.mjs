// The worker entry of a `steel` run from dist/steel.cjs (pipeline/node-entry.ts starts this file where the sources
// and dist/'s own modules start cli/worker.ts): the bundle's `worker`, loaded with its code cache as cli/steel.js
// loads `main`. Plain JavaScript, like cli/dist.mjs.
import { loadBundle } from './dist.mjs';

await loadBundle().worker();
