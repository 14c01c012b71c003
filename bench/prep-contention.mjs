// Where a `steel prep` loses when the second core of a pair is busy with the same work: a 1-worker prep pinned to the
// first core alone, then two 1-worker preps at once, one pinned to each core (CORES, default 0,1), ROUNDS times (the
// order alternates by round). Per step it prints the CPU-seconds alone and paired (medians) and their ratio: the steps
// whose ratio is above 1 are the ones the hardware slows (a shared last-level cache, memory bandwidth), which a
// `--workers 2` run pays in every step that runs on both cores at once. bench/core-contention.mjs measures the same on
// synthetic loops.
// Plain Node (no tsx, no npm packages), so that it runs where only a Node binary and a built tree are (the GPU host:
// --node the staged runtime, --entry run-dist.mjs of scripts/gpu/bundle-prep.sh). Linux, `taskset` on PATH.
//   node bench/prep-contention.mjs [--rounds 3] [--input SPEC]... [--work DIR] [--node PATH] [--entry FILE]
// --input: as `steel prep --input` (repeatable; default none: the bundled sample). --work: where the runs' outputs
// go (default a fresh folder under the OS's temp folder, removed at the end). --entry: the `steel` entry to run
// (default this checkout's cli/steel.js, whose dist/ it first rebuilds when stale: a stale one would run the sources
// through tsx, slower and not what is measured).
// Checks its output: every run prepares the same input with one worker, so every run's outputs (documents, shards,
// exclusions, the duplicates' list) must be byte-identical; it exits 1 when they are not, or when a run fails.
// The CPU per step comes from each run's task markers (.state/, the steps' `cpu_seconds`, the map steps' from
// stats.json): with one worker every task runs in the `steel` process, so they hold all of its CPU time.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, outputDigest, prepRun, setUp } from './prep-runs.mjs';

const { node, entry, inputs, cores: CORES, count: rounds, work, owned } = setUp(['rounds', '3'], 'steel-contention-');

/** One `steel prep --workers 1` pinned to `core`, its outputs in `out`; resolves to its wall seconds. */
const prep = (core, out) => prepRun({ node, entry, cores: core, workers: 1, inputs, out });

/** Every task marker under `dir` (NNN.json with name and cpu_seconds), its CPU summed by step name. */
function markerCpu(dir, into) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) markerCpu(p, into);
    else if (/^\d+\.json$/.test(e.name)) {
      const m = JSON.parse(readFileSync(p, 'utf8'));
      if (typeof m.name === 'string' && typeof m.cpu_seconds === 'number')
        into.set(m.name, (into.get(m.name) ?? 0) + m.cpu_seconds);
    }
  }
  return into;
}

/** A run's CPU-seconds: the whole command (stats.json), each step's tasks, and the map steps'. */
function runCpu(out) {
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  const cpu = new Map([['whole run', stats.cpu_seconds]]);
  for (const [name, c] of markerCpu(join(out, '.state'), new Map())) cpu.set(`step ${name}`, c);
  for (const s of stats.stages) if (s.kind !== 'global' && s.op !== undefined) cpu.set(`map: ${s.name}`, s.cpu_seconds);
  return cpu;
}

const alone = [];
const paired = [];
const digests = new Set();
try {
  for (let r = 1; r <= rounds; r++) {
    const a = join(work, `alone-${r}`);
    const pa = CORES.map((c, k) => join(work, `pair${k}-${r}`));
    // alone first in odd rounds, the pair first in even ones (the machine's speed drifts)
    const both = async () => {
      // both settled before a failure is reported (the finally below removes the folder the other one writes)
      const rs = await Promise.allSettled(pa.map((o, k) => prep(CORES[k], o)));
      for (const x of rs) if (x.status === 'rejected') throw x.reason;
      return rs.map((x) => x.value);
    };
    let wallA, wallP;
    if (r % 2) [wallA, wallP] = [await prep(CORES[0], a), await both()];
    else [wallP, wallA] = [await both(), await prep(CORES[0], a)];
    for (const o of [a, ...pa]) digests.add(outputDigest(o));
    alone.push(runCpu(a));
    for (const o of pa) paired.push(runCpu(o));
    console.log(
      `round ${r}: alone ${wallA.toFixed(2)} s (${alone.at(-1).get('whole run').toFixed(2)} CPU-s); both at once ` +
        wallP
          .map(
            (w, k) =>
              `${w.toFixed(2)} s (${paired
                .at(k - 2)
                .get('whole run')
                .toFixed(2)} CPU-s)`,
          )
          .join(' / '),
    );
  }
} finally {
  if (owned) rmSync(work, { recursive: true, force: true });
}
if (digests.size !== 1) {
  console.error(`outputs differ between runs of the same prep: ${[...digests].join(', ')}`);
  process.exit(1);
}

const rows = [...alone[0].keys()].map((k) => {
  const a = median(alone.map((m) => m.get(k) ?? 0));
  const p = median(paired.map((m) => m.get(k) ?? 0));
  // how many paired values lie above every value alone (a loss the rounds' spread does not explain)
  const top = Math.max(...alone.map((m) => m.get(k) ?? 0));
  const above = paired.filter((m) => (m.get(k) ?? 0) > top).length;
  return { k, a, p, above };
});
const steps = rows.filter((r) => !r.k.startsWith('map: '));
const mapSteps = rows.filter((r) => r.k.startsWith('map: ')).sort((x, y) => y.a - x.a);
const w = Math.max(...rows.map((r) => r.k.length));
console.log(`\noutputs identical in all ${alone.length + paired.length} runs (${[...digests][0]})`);
console.log(`${'CPU-s (medians)'.padEnd(w)}   alone  paired  ratio  paired runs above every run alone`);
for (const r of [...steps, ...mapSteps.slice(0, 8)])
  console.log(
    `${r.k.padEnd(w)} ${r.a.toFixed(3).padStart(7)} ${r.p.toFixed(3).padStart(7)} ${(r.a ? r.p / r.a : 0).toFixed(3).padStart(6)}  ${r.above} of ${paired.length}`,
  );
