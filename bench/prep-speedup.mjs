// Issue 21's `--workers 2` target: the wall-clock speed-up of a `steel prep` with 2 workers on two cores over the
// same prep with 1 worker on one core. PAIRS alternated pairs (the 1-worker run first in odd pairs, the 2-worker run
// first in even ones: the machine's speed drifts), each pair's speed-up its 1-worker wall over its 2-worker wall;
// prints each pair and the median, spread and count at or above 1.8×, with the median walls and CPU-seconds (each
// run's stats.json: every process of the run from its start-up, without node's own boot and exit).
// Plain Node (no tsx, no npm packages), so that it runs where only a Node binary and a built tree are (the GPU host:
// --node the staged runtime, --entry run-dist.mjs of scripts/gpu/bundle-prep.sh). Linux, `taskset` on PATH.
//   node bench/prep-speedup.mjs [--pairs 5] [--input SPEC]... [--work DIR] [--node PATH] [--entry FILE]
// --input: as `steel prep --input` (repeatable; default none: the bundled sample). CORES (default 0,1): the 1-worker
// run is pinned to the first, the 2-worker run to both. --work: where the runs' outputs go (default a fresh folder
// under the OS's temp folder, removed at the end). --entry: the `steel` entry (default this checkout's cli/steel.js,
// whose dist/ it first rebuilds when stale).
// Checks its output: the 1-worker runs must write byte-identical outputs (documents, shards, exclusions, the
// duplicates' list), and so must the 2-worker runs (the two differ from each other by design: the MinHash step's file
// groups follow the worker count); it exits 1 when they do not, or when a run fails.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, outputDigest, prepRun, runCpuSeconds, setUp } from './prep-runs.mjs';

/** Issue 21's target for the speed-up. */
const TARGET = 1.8;

const { node, entry, inputs, cores: CORES, count: pairs, work, owned } = setUp(['pairs', '5'], 'steel-speedup-');

/** One prep with `workers` (1: on the first core; 2: on both); its wall and CPU seconds and its outputs' digest. */
async function run(workers) {
  const out = join(work, `w${workers}`);
  const cores = workers === 1 ? CORES[0] : CORES.join(',');
  const wall = await prepRun({ node, entry, cores, workers, inputs, out });
  return { wall, cpu: runCpuSeconds(out), digest: outputDigest(out) };
}

const one = [];
const two = [];
const clock = () => new Date().toISOString().slice(11, 19);
try {
  for (let p = 1; p <= pairs; p++) {
    const t = clock();
    if (p % 2) {
      one.push(await run(1));
      two.push(await run(2));
    } else {
      two.push(await run(2));
      one.push(await run(1));
    }
    const [a, b] = [one.at(-1), two.at(-1)];
    console.log(
      `pair ${p} (${t} UTC): 1 worker ${a.wall.toFixed(2)} s (${a.cpu.toFixed(2)} CPU-s), 2 workers ` +
        `${b.wall.toFixed(2)} s (${b.cpu.toFixed(2)} CPU-s): ${(a.wall / b.wall).toFixed(2)}×`,
    );
  }
} finally {
  if (owned) rmSync(work, { recursive: true, force: true });
}
for (const [name, runs] of [
  ['1-worker', one],
  ['2-worker', two],
]) {
  const d = new Set(runs.map((r) => r.digest));
  if (d.size !== 1) {
    console.error(`the ${name} runs' outputs differ: ${[...d].join(', ')}`);
    process.exit(1);
  }
}
const ratios = one.map((a, i) => a.wall / two[i].wall);
const fmt = (x) => x.toFixed(2);
console.log(
  `\noutputs identical run to run (1 worker ${one[0].digest}, 2 workers ${two[0].digest})\n` +
    `speed-up: median ${fmt(median(ratios))}× over ${pairs} pairs (${fmt(Math.min(...ratios))}–` +
    `${fmt(Math.max(...ratios))}×, ${ratios.filter((r) => r >= TARGET).length} of ${pairs} ≥ ${TARGET}×)\n` +
    `medians: 1 worker ${fmt(median(one.map((r) => r.wall)))} s, ${fmt(median(one.map((r) => r.cpu)))} CPU-s; ` +
    `2 workers ${fmt(median(two.map((r) => r.wall)))} s, ${fmt(median(two.map((r) => r.cpu)))} CPU-s`,
);
