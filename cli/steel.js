#!/usr/bin/env node
// Entry point of `steel`: runs the compiled CLI in dist/ (built by `npm ci` through the `prepare` script, or by
// `npm run build`): its one-file build dist/steel.cjs, loaded with V8's code cache (cli/bundle.ts). When dist/ is missing or older than the sources (a dev checkout after an edit or a pull), it runs
// the TypeScript sources through tsx instead: same behaviour, slower start (about 1 s more); `npm run build` (a few seconds: it also runs a small prep for the code cache)
// makes it fast again. See cli/dist.mjs.
import { startPrepWorkers } from './prep-workers.mjs';

// a prep's worker processes first, before this process reads cli/dist.mjs and checks dist/ (~0.02 CPU-s): they load
// the bundle while this process loads it and plans the run, and the second lane's first task waits for that
const workers = await startPrepWorkers(process.argv.slice(2));
const { distState, loadBundle, setPrepHeapFlags } = await import('./dist.mjs');
const state = distState();
let main;
if (state === 'fresh') {
  // the one-file build, dist/steel.cjs, with V8's code cache (cli/bundle.ts)
  let adoptWorkers;
  ({ main, adoptWorkers } = loadBundle());
  if (process.argv[2] === 'prep') setPrepHeapFlags();
  adoptWorkers(workers);
} else {
  // they would run the stale bundle: the sources' executor starts its own (cli/commands/prep.ts prestart)
  for (const w of workers) w.child.kill();
  if (process.stderr.isTTY) {
    console.error(
      `steel: dist/ is ${state === 'missing' ? 'not built' : 'older than the sources'}; running them through tsx (run \`npm run build\` for a fast start)`,
    );
  }
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
// A prep ends here, its outputs written and its worker processes reaped (cli/commands/prep.ts): process.exit() skips
// Node's teardown of the environment and the V8 heap at a natural exit, which took 0.3-0.4 s of wall on a loaded
// 2-core VM at the end of every run (0.08-0.15 s with process.exit; bench/results/prep.md, session 26, h26b). Other
// commands keep the natural exit (a command may leave work running: a server, a child it waits for).
if (process.argv[2] === 'prep') process.exit();
