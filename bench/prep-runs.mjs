// What the prep benchmarks that run whole `steel prep` commands share (bench/prep-contention.mjs,
// bench/prep-speedup.mjs): the entry's dist/ rebuilt when stale, one pinned run, a digest of its outputs, a median.
// Plain Node (no tsx, no npm packages), so that they run where only a Node binary and a built tree are (the GPU host).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STEEL = join(ROOT, 'cli', 'steel.js');

/**
 * A prep benchmark's command line: `--NAME N` (a whole number ≥ 1, default `dflt`), `--input SPEC`... (as
 * `steel prep --input`), `--work DIR`, `--node PATH`, `--entry FILE` (default this checkout's cli/steel.js, its dist/
 * rebuilt when stale), and CORES (two, default 0,1). The work folder is `--work`, else a fresh one under the OS's temp
 * folder named `prefix`..., which `owned` says the caller removes at the end.
 */
export function setUp([name, dflt], prefix) {
  const { values } = parseArgs({
    options: {
      [name]: { type: 'string', default: dflt },
      input: { type: 'string', multiple: true, default: [] },
      work: { type: 'string' },
      node: { type: 'string', default: process.execPath },
      entry: { type: 'string', default: STEEL },
    },
  });
  const cores = (process.env.CORES ?? '0,1').split(',');
  if (cores.length !== 2) throw new Error(`CORES=${process.env.CORES}: two cores, e.g. 0,1`);
  const count = Number(values[name]);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--${name} ${values[name]}: a whole number ≥ 1`);
  buildIfStale(values.entry);
  const owned = !values.work;
  const work = values.work ? resolve(values.work) : mkdtempSync(join(tmpdir(), prefix));
  return { node: values.node, entry: values.entry, inputs: values.input, cores, count, work, owned };
}

/**
 * Rebuilds this checkout's dist/ when `entry` is its cli/steel.js and dist/ is stale: a stale one would run the
 * sources through tsx, slower and not what is measured (it warns only on a terminal).
 */
function buildIfStale(entry) {
  if (resolve(entry) !== STEEL) return;
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('scripts/build.mjs --if-stale failed');
}

/**
 * One `steel prep --workers W --quiet` pinned to `cores` (taskset's list, e.g. "0" or "0,1"), its outputs in `out`
 * (removed first); resolves to its wall seconds, or rejects with the end of its stderr when it fails.
 */
export function prepRun({ node, entry, cores, workers, inputs, out }) {
  rmSync(out, { recursive: true, force: true });
  const args = ['-c', cores, node, entry, 'prep', '--workers', String(workers), '--quiet', '--out', out];
  for (const i of inputs) args.push('--input', i);
  const t0 = performance.now();
  return new Promise((ok, fail) => {
    const child = spawn('taskset', args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0
        ? ok((performance.now() - t0) / 1000)
        : fail(
            new Error(`steel prep --out ${out} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`),
          ),
    );
  });
}

/** The whole command's CPU-seconds (stats.json: every process of the run). */
export function runCpuSeconds(out) {
  return JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')).cpu_seconds;
}

/** sha256 of a run's outputs: its documents, shards, exclusions and duplicates' list, file by file in name order. */
export function outputDigest(out) {
  const h = createHash('sha256');
  const files = [];
  for (const d of ['docs', 'shards', 'excluded'])
    if (existsSync(join(out, d))) for (const f of readdirSync(join(out, d)).sort()) files.push(join(d, f));
  const dups = join('.state', 'p1-minhash_dedup', 'duplicates.jsonl');
  if (existsSync(join(out, dups))) files.push(dups);
  if (files.length === 0) throw new Error(`${out}: no outputs`);
  for (const f of files) {
    if (!statSync(join(out, f)).isFile()) continue;
    h.update(f + '\0');
    h.update(
      createHash('sha256')
        .update(readFileSync(join(out, f)))
        .digest(),
    );
  }
  return h.digest('hex').slice(0, 16);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
