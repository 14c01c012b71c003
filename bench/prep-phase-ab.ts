/**
 * Two trees' `steel prep` alternated (A then B, then B then A, …), the same inputs and worker count: per run the
 * command's wall and CPU-seconds (user + system of every process, from this process's waited-for children), the
 * MinHash phase's wall and CPU-seconds (its marker: this process's CPU during the phase plus its tasks' in worker
 * processes, less what the filter spent in the tokenize sink), and a digest of the outputs (docs/, excluded/ and
 * shards/ decompressed, duplicates.jsonl) that must be the same for both trees.
 *
 *   npx tsx bench/prep-phase-ab.ts --a TREE_A --b TREE_B [--workers 2] [--pairs 6] [--input SPEC ...] [--json OUT]
 * Inputs default to the bundled sample; relative inputs are made absolute (a prep orders its inputs by path).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    workers: { type: 'string', default: '2' },
    pairs: { type: 'string', default: '6' },
    input: { type: 'string', multiple: true, default: [] },
    json: { type: 'string' },
  },
});
if (!values.a || !values.b) throw new Error('usage: prep-phase-ab.ts --a TREE --b TREE [--workers N] [--pairs K]');
const trees = { A: resolve(values.a), B: resolve(values.b) };
const inputs = values.input.map((s) => {
  const eq = s.indexOf('=');
  const [name, path] = eq > 0 ? [s.slice(0, eq + 1), s.slice(eq + 1)] : ['', s];
  return name + (isAbsolute(path) ? path : resolve(path));
});
const TICK_S = 1 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
function childCpu(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const a = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(a[13]) + Number(a[14])) * TICK_S;
}

/** sha256 of every output file (decompressed when .zst), in path order. */
function digest(out: string): string {
  const h = createHash('sha256');
  const files: string[] = [];
  for (const d of ['docs', 'excluded', 'shards'])
    if (existsSync(join(out, d))) for (const n of readdirSync(join(out, d)).sort()) files.push(join(d, n));
  files.push(join('.state', 'p1-minhash_dedup', 'duplicates.jsonl'));
  for (const f of files) {
    const p = join(out, f);
    const bytes = p.endsWith('.zst') ? spawnSync('zstd', ['-dc', p], { maxBuffer: 1 << 30 }).stdout : readFileSync(p);
    h.update(f).update(createHash('sha256').update(bytes).digest());
  }
  return h.digest('hex').slice(0, 16);
}

interface Run {
  tree: string;
  load: number;
  wall: number;
  cpu: number;
  phaseWall: number;
  phaseCpu: number;
  steps: Record<string, number>;
  digest: string;
}

for (const [t, dir] of Object.entries(trees)) {
  // a stale dist/ runs the sources through tsx (about 1 CPU-s more a process): measure built trees only
  const st = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "import('./cli/dist.mjs').then((m) => console.log(m.distState()))"],
    {
      cwd: dir,
      encoding: 'utf8',
    },
  ).stdout.trim();
  if (st !== 'fresh') throw new Error(`${t} (${dir}): dist/ is ${st}; run npm run build there`);
}

const work = mkdtempSync(join(tmpdir(), 'prep-phase-ab-'));
function run(tree: 'A' | 'B'): Run {
  const out = join(work, tree);
  rmSync(out, { recursive: true, force: true });
  const load = loadavg()[0]!;
  const c0 = childCpu();
  const t0 = performance.now();
  const args = ['cli/steel.js', 'prep', '--workers', values.workers, '--out', out, '--fresh', '--quiet'];
  for (const i of inputs) args.push('--input', i);
  const r = spawnSync(process.execPath, args, { cwd: trees[tree], stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${tree}: steel prep exited with ${r.status}`);
  const wall = (performance.now() - t0) / 1000;
  const cpu = childCpu() - c0;
  const m = JSON.parse(readFileSync(join(out, '.state', 'p1-minhash_dedup.json'), 'utf8')) as {
    seconds: number;
    cpu_seconds: number;
    sink_cpu_seconds?: number;
    stats: { extra: { seconds: Record<string, number> } };
  };
  return {
    tree,
    load,
    wall,
    cpu,
    phaseWall: m.seconds,
    phaseCpu: m.cpu_seconds - (m.sink_cpu_seconds ?? 0),
    steps: m.stats.extra.seconds,
    digest: digest(out),
  };
}

const f = (x: number) => x.toFixed(2);
const rows: [Run, Run][] = [];
console.log(`A = ${trees.A}, B = ${trees.B}; --workers ${values.workers}; inputs ${inputs.join(' ') || 'the sample'}`);
console.log('| pair | load | command wall A → B | command CPU A → B | phase wall A → B | phase CPU A → B | digests |');
console.log('|---|---|---|---|---|---|---|');
for (let p = 0; p < Number(values.pairs); p++) {
  const order: ('A' | 'B')[] = p % 2 ? ['B', 'A'] : ['A', 'B'];
  const got = Object.fromEntries(order.map((t) => [t, run(t)])) as Record<'A' | 'B', Run>;
  const [a, b] = [got.A, got.B];
  rows.push([a, b]);
  console.log(
    `| ${p + 1} (${order.join('')}) | ${f(Math.min(a.load, b.load))}–${f(Math.max(a.load, b.load))} | ${f(a.wall)} → ${f(b.wall)} | ${f(a.cpu)} → ${f(b.cpu)} | ${f(a.phaseWall)} → ${f(b.phaseWall)} | ${f(a.phaseCpu)} → ${f(b.phaseCpu)} | ${a.digest === b.digest ? 'same ' + a.digest : `DIFFER ${a.digest} ${b.digest}`} |`,
  );
}
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
for (const k of ['wall', 'cpu', 'phaseWall', 'phaseCpu'] as const) {
  const ratios = rows.map(([a, b]) => b[k] / a[k]);
  console.log(
    `${k}: median A ${f(median(rows.map(([a]) => a[k])))} → B ${f(median(rows.map(([, b]) => b[k])))}; B/A per pair ${ratios.map((r) => r.toFixed(3)).join(' ')}; median ${median(ratios).toFixed(3)}, B lower in ${ratios.filter((r) => r < 1).length} of ${ratios.length}`,
  );
}
if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 1) + '\n');
rmSync(work, { recursive: true, force: true });
