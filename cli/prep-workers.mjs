// A `steel prep`'s worker processes, started by cli/steel.js first thing, before it loads cli/dist.mjs, checks dist/
// and loads the bundle: a worker's start (node, then the bundle) is the second lane's wait for its first task, so it
// begins as early as this process can fork. Plain JavaScript, like cli/dist.mjs, which re-exports these; only Node's
// built-ins that a process has loaded by then, so that nothing comes before the fork but this file.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * Heap flags of a prep's worker processes, given on their command line (startPrepWorkers; pipeline/node-entry.ts
 * nodeEntry gives the bundle's workers the same, so that its executor adopts those started here), and set by runBundle
 * in every process that runs the bundle: V8 hashes all its flags into a code cache and rejects one made
 * under others, so the `steel` process and scripts/build.mjs's (where this flag set after start changes nothing) set it
 * too.
 * `--initial-old-space-size=128`: V8 skips full GCs while the old generation is under 128 MB (its minimum allocation
 * limit) instead of starting from a limit of a few MB over the live heap. A worker's live heap is 10-30 MB: it ran ~20
 * mark-compacts (and their concurrent marking) in a 75 MB prep, ~8 with the flag (those that its ArrayBuffers' growth
 * starts). Read when the heap is made only: the `steel` process, started without flags, cannot have it.
 */
export const WORKER_HEAP_FLAGS = ['--initial-old-space-size=128'];

/**
 * The worker processes a `steel prep` run from the bundle will want beside this process (local executor: `--workers N`,
 * default the CPU count, N − 1 of them; none for another command, `--help` or `--executor slurm`, and none with one
 * worker), at most 7 (pipeline/executor.ts PRESTART_MAX: the run's plan may need fewer). A quick look at the
 * arguments, not their parsing (the command does that), and none at the settings (pipeline/settings.ts is not loaded
 * yet; with every task in a child the executor wants N, so N − 1 are never too many): a miscount costs a worker
 * started for nothing or one started later, never a different run.
 */
export function prepWorkersToStart(argv, cpus = availableParallelism()) {
  if (argv[0] !== 'prep') return 0;
  let workers = cpus;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return 0;
    const m = /^--(workers|executor)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const v = m[2] ?? argv[++i];
    if (m[1] === 'executor' && v !== 'local') return 0;
    if (m[1] === 'workers') workers = Number(v);
  }
  return Number.isInteger(workers) && workers > 1 ? Math.min(7, workers - 1) : 0;
}

/**
 * Starts the worker processes prepWorkersToStart counts, as the bundle's local executor starts its workers
 * (cli/bundle-worker.mjs, WORKER_HEAP_FLAGS, stdin ignored, IPC): cli/steel.js calls it before it loads the bundle, so
 * that they load it beside this process (~0.25 CPU-s each on the VM), not after this process has planned its run.
 * Called before dist/ is known to be fresh: the caller ends them when it is not. Unref'd (they exit when this process
 * does); the bundle's executor adopts them (pipeline/executor.ts adoptWorkers).
 * Returns [{ child, env }] (env: the environment each was started with). The worker flag's variable is written out
 * here (settings.ts names it: `worker`), as this runs before the bundle; the executor adopts a worker only when its
 * environment is the one it would give a worker (cli/dist.test.ts checks that it does).
 */
export async function startPrepWorkers(argv) {
  const n = prepWorkersToStart(argv);
  // no bundle (dist/ not built): nothing they could run (a stale one: cli/steel.js sends them away)
  if (n === 0 || !existsSync(fileURLToPath(new URL('../dist/steel.cjs', import.meta.url)))) return [];
  const { fork } = await import('node:child_process');
  const env = { ...process.env, STEEL_WORKER: '1' };
  return Array.from({ length: n }, () => {
    const child = fork(fileURLToPath(new URL('./bundle-worker.mjs', import.meta.url)), [], {
      execArgv: WORKER_HEAP_FLAGS,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.unref();
    child.channel?.unref?.();
    return { child, env };
  });
}
