/**
 * The fixed part of a `steel prep` process, piece by piece: in a fresh process (compiled dist/), the CPU-seconds of
 * importing the modules a 1-worker default prep loads, then of each per-process load in the order a run meets them
 * (the recipe's YAML and schemas, the fastText language-ID model, jieba's dictionary, the Qwen tokenizer and its first
 * encode, the MinHash bands × rows search), then the rest of the process (exit). CPU = user + system of the whole
 * process (process.cpuUsage: V8's compiler threads included) and of its main thread alone (/proc/thread-self/stat).
 *
 *   npx tsx bench/prep-fixed.ts [--runs 5] [--steel DIR]      (DIR: another checkout, e.g. a worktree of main)
 *
 * Each run is a fresh `node -e` child; the table gives each step's median and range over the runs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, steel: { type: 'string' } } });
const ROOT = values.steel ?? fileURLToPath(new URL('..', import.meta.url));
const d = (m: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist', m)).href);
const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (build.status !== 0) throw new Error('scripts/build.mjs failed');

// the child: each step's CPU (whole process, main thread), printed as one JSON line
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
await import(${d('cli/main.js')}); await import(${d('cli/commands/prep.js')});
const ops = await import(${d('cli/operators.js')}); await import(${d('cli/tasks.js')});
await import(${d('pipeline/runner.js')}); await import(${d('filters/ops.js')}); await import(${d('dedup/run.js')});
await import(${d('tokenizer/ops.js')}); await import(${d('tokenizer/tasks.js')});
step('import modules');
const { loadRecipe } = await import(${d('pipeline/recipe.js')});
loadRecipe('zh-web');
step('recipe (YAML)');
const { loadLid } = await import(${d('filters/lid.js')});
await loadLid();
step('fastText model');
const { jiebaCut } = await import(${d('filters/jieba.js')});
jiebaCut('这是一个测试');
step('jieba dictionary');
const { loadTokenizer } = await import(${d('tokenizer/encode.js')});
const t = loadTokenizer('qwen');
step('tokenizer load');
t.tok.encode('Debian 是一个 test.');
step('tokenizer first encode');
const { optimalParams } = await import(${d('dedup/minhash.js')});
optimalParams(0.6, 256);
step('MinHash bands x rows');
process.on('exit', () => { step('exit'); console.log(JSON.stringify(out)); });
`;
type Row = [number, number, number, number];
const runs: Record<string, Row>[] = [];
const l0 = loadavg()[0];
for (let i = 0; i < Number(values.runs); i++) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  runs.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Row>);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const f = (a: number[]) => `${med(a).toFixed(3)} (${Math.min(...a).toFixed(3)}–${Math.max(...a).toFixed(3)})`;
console.log(
  '| step | CPU-s, whole process: median (range) | main thread | of which system (whole process) | RSS growth, MiB |',
);
console.log('|---|---:|---:|---:|---:|');
const col = (k: string, j: number) => f(runs.map((r) => r[k]![j]!));
for (const k of Object.keys(runs[0]!))
  console.log(`| ${k} | ${col(k, 0)} | ${col(k, 1)} | ${col(k, 2)} | ${med(runs.map((r) => r[k]![3])).toFixed(0)} |`);
const tot = (r: Record<string, Row>, j: number) => Object.values(r).reduce((a, x) => a + x[j]!, 0);
console.log(
  `| **total** | ${f(runs.map((r) => tot(r, 0)))} | ${f(runs.map((r) => tot(r, 1)))} | ${f(runs.map((r) => tot(r, 2)))} | ${med(runs.map((r) => tot(r, 3))).toFixed(0)} |`,
);
console.log(
  `${runs.length} runs, ${new Date().toISOString().slice(0, 16)} UTC, load ${l0.toFixed(1)}→${loadavg()[0].toFixed(1)}`,
);
