/**
 * The fixed part of a `steel prep` process, piece by piece: in a fresh process (compiled dist/), the CPU-seconds of
 * loading the modules a 1-worker default prep loads, then of each per-process load in the order a run meets them
 * (the recipe's YAML and schemas, the fastText language-ID model, jieba's dictionary, the Qwen tokenizer and its first
 * encode, the MinHash bands × rows search), then the rest of the process (exit). CPU = user + system of the whole
 * process (process.cpuUsage: V8's compiler threads included) and of its main thread alone (/proc/thread-self/stat).
 * Two ways to load the modules, alternated run by run in one command (the within-run pairs of the two are printed):
 *   bundle   dist/steel.cjs with its V8 code cache (cli/dist.mjs loadBundle, then cli/bundle.ts warm): what
 *            cli/steel.js and its workers run
 *   modules  dist/'s own ES modules, one per source file (what cli/steel.js ran before dist/steel.cjs)
 *
 *   npx tsx bench/prep-fixed.ts [--runs 5] [--steel DIR] [--mode both|bundle|modules]
 *      (DIR: another checkout, e.g. a worktree of main; one without dist/steel.cjs has `modules` only)
 *
 * Each run is a fresh `node -e` child; the table gives each step's median and range over the runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    steel: { type: 'string' },
    mode: { type: 'string', default: 'both' },
  },
});
const ROOT = values.steel ?? fileURLToPath(new URL('..', import.meta.url));
const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (build.status !== 0) throw new Error('scripts/build.mjs failed');

// the child (argv[1]: bundle | modules): each step's CPU (whole process, main thread), printed as one JSON line
const child = `
import { readFileSync } from 'node:fs';
const tick = 0.01;
const main = () => { const s = readFileSync('/proc/thread-self/stat', 'utf8'); const a = s.slice(s.lastIndexOf(')') + 2).split(' '); return (+a[11] + +a[12]) * tick; };
const all = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const sys = () => process.cpuUsage().system / 1e6;
const rss = () => process.memoryUsage().rss / 2 ** 20;
const out = {}; let p = all(), m = main(), y = sys(), r = rss();
const step = (name) => { const a = all(), b = main(), c = sys(), e = rss(); out[name] = [a - p, b - m, c - y, e - r]; p = a; m = b; y = c; r = e; };
out['node start'] = [p, m, y, r];
let mod;
if (process.argv[1] === 'bundle') {
  const { loadBundle } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href)});
  const b = loadBundle();
  if (!b.cacheUsed) throw new Error('dist/steel.cache was not used');
  const ns = await b.warm();
  mod = async (m) => ns[m.replace(/\\.js$/, '.ts')];
} else {
  mod = (m) => import(new URL(m, ${JSON.stringify(pathToFileURL(join(ROOT, 'dist') + '/').href)}).href);
  await mod('cli/main.js'); await mod('cli/commands/prep.js');
  await mod('cli/operators.js'); await mod('cli/tasks.js');
  await mod('pipeline/runner.js'); await mod('filters/ops.js'); await mod('dedup/run.js');
  await mod('tokenizer/ops.js'); await mod('tokenizer/tasks.js');
}
step('import modules');
const { loadRecipe } = await mod('pipeline/recipe.js');
loadRecipe('zh-web');
step('recipe (YAML)');
const { loadLid } = await mod('filters/lid.js');
await loadLid();
step('fastText model');
const { jiebaCut } = await mod('filters/jieba.js');
jiebaCut('这是一个测试');
step('jieba dictionary');
const { loadTokenizer } = await mod('tokenizer/encode.js');
const t = loadTokenizer('qwen');
step('tokenizer load');
t.tok.encode('Debian 是一个 test.');
step('tokenizer first encode');
const { optimalParams } = await mod('dedup/minhash.js');
optimalParams(0.6, 256);
step('MinHash bands x rows');
process.on('exit', () => { step('exit'); console.log(JSON.stringify(out)); });
`;
const modes =
  values.mode === 'both'
    ? existsSync(join(ROOT, 'dist/steel.cjs'))
      ? ['bundle', 'modules']
      : ['modules']
    : [values.mode!];
type Row = [number, number, number, number];
const runs = new Map<string, Record<string, Row>[]>(modes.map((m) => [m, []]));
const l0 = loadavg()[0];
for (let i = 0; i < Number(values.runs); i++) {
  // alternated, the order swapped every run
  for (const mode of i % 2 ? [...modes].reverse() : modes) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, mode], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    runs.get(mode)!.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Row>);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const f = (a: number[]) => `${med(a).toFixed(3)} (${Math.min(...a).toFixed(3)}–${Math.max(...a).toFixed(3)})`;
const tot = (r: Record<string, Row>, j: number) => Object.values(r).reduce((a, x) => a + x[j]!, 0);
for (const [mode, rs] of runs) {
  console.log(`\n${mode}:\n`);
  console.log(
    '| step | CPU-s, whole process: median (range) | main thread | of which system (whole process) | RSS growth, MiB |',
  );
  console.log('|---|---:|---:|---:|---:|');
  const col = (k: string, j: number) => f(rs.map((r) => r[k]![j]!));
  for (const k of Object.keys(rs[0]!))
    console.log(`| ${k} | ${col(k, 0)} | ${col(k, 1)} | ${col(k, 2)} | ${med(rs.map((r) => r[k]![3])).toFixed(0)} |`);
  console.log(
    `| **total** | ${f(rs.map((r) => tot(r, 0)))} | ${f(rs.map((r) => tot(r, 1)))} | ${f(rs.map((r) => tot(r, 2)))} | ${med(rs.map((r) => tot(r, 3))).toFixed(0)} |`,
  );
}
if (modes.length === 2) {
  const [a, b] = [runs.get('bundle')!, runs.get('modules')!];
  const pairs = (g: (r: Record<string, Row>) => number) =>
    a.map((r, i) => `${g(b[i]!).toFixed(3)} → ${g(r).toFixed(3)} (${(g(r) / g(b[i]!)).toFixed(2)})`).join(', ');
  console.log(`\npairs, modules → bundle (ratio), importing the modules: ${pairs((r) => r['import modules']![0])}`);
  console.log(`pairs, modules → bundle (ratio), the whole process: ${pairs((r) => tot(r, 0))}`);
}
console.log(
  `\n${Number(values.runs)} runs of each, ${new Date().toISOString().slice(0, 16)} UTC, load ${l0.toFixed(1)}→${loadavg()[0].toFixed(1)}`,
);
