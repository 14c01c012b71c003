/**
 * Start-up of the `steel` command and of a LocalExecutor worker process: the compiled dist/ (what `npm ci` builds and
 * cli/steel.js runs) against the TypeScript sources loaded through tsx (the fallback when dist/ is missing or stale),
 * each command repeated (hyperfine-like: warm-up runs, then --runs timed runs), wall time and CPU time (user + system
 * of the child processes, from /proc/self/stat) per run. Every run's output is checked: `steel --help` must print the
 * command table of cli/main.ts, a worker must start, answer the executor's 'exit' message and exit 0.
 *   npx tsx bench/startup.ts [--runs 20] [--warmup 3] [--write]   (--write: bench/results/startup.md)
 */
import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { usage } from '../cli/main.ts';
import { WORKER_ENTRY } from '../pipeline/executor.ts';
import { nodeEntry as sourceEntry } from '../pipeline/node-entry.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    write: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (build.status !== 0) throw new Error('bench/startup: scripts/build.mjs failed');
const { distState } = (await import(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href)) as { distState(): string };
if (distState() !== 'fresh') throw new Error('bench/startup: dist/ is not fresh after the build');
const compiled = (await import(
  pathToFileURL(join(ROOT, 'dist/pipeline/node-entry.js')).href
)) as typeof import('../pipeline/node-entry.ts');

const TICK_S = 1 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
/** CPU seconds (user + system) of this process's waited-for children so far. */
function childCpu(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const a = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(a[13]) + Number(a[14])) * TICK_S;
}

interface Case {
  name: string;
  command: string;
  /** one run; throws when the output is wrong */
  run(): Promise<void> | void;
}

const helpText = usage() + '\n';
function helpCase(name: string, command: string, argv: string[], bin = process.execPath): Case {
  return {
    name,
    command,
    run() {
      const r = spawnSync(bin, argv, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_UPDATE_NOTIFIER: '1' } });
      assert.equal(r.status, 0, `${command}: exit ${r.status}\n${r.stderr}`);
      assert.equal(r.stdout, helpText, `${command}: unexpected output`);
    },
  };
}

function workerCase(name: string, entry: { file: string; execArgv: string[] }): Case {
  return {
    name,
    command: [
      'node',
      ...entry.execArgv.map((a) => (a.startsWith('file:') ? 'tsx' : a)),
      entry.file.slice(ROOT.length),
    ].join(' '),
    run: () =>
      new Promise<void>((resolve, reject) => {
        const child = fork(entry.file, [], {
          execArgv: entry.execArgv,
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        child.send({ type: 'exit' });
        child.on('error', reject);
        child.on('exit', (code, signal) =>
          code === 0 ? resolve() : reject(new Error(`worker exited with ${code ?? signal}`)),
        );
      }),
  };
}

const workerSource = WORKER_ENTRY;
const workerCompiled = join(ROOT, 'dist', relative(ROOT, WORKER_ENTRY));
const distWorker = compiled.nodeEntry(workerCompiled);
assert.deepEqual(distWorker, { file: workerCompiled.replace(/\.ts$/, '.js'), execArgv: [] });
// what a worker started from dist/steel.cjs runs (pipeline/node-entry.ts, nodeEntry in the bundle)
const bundleWorker = { file: join(ROOT, 'cli/bundle-worker.mjs'), execArgv: [] };
const tsxWorker = sourceEntry(workerSource);
assert.equal(tsxWorker.execArgv[0], '--import');

const cases: Case[] = [
  {
    name: 'Node itself (for reference)',
    command: 'node -e 0',
    run() {
      const r = spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.equal(r.stdout, '');
    },
  },
  helpCase('steel --help (compiled: dist/steel.cjs and its code cache)', 'node cli/steel.js --help', [
    'cli/steel.js',
    '--help',
  ]),
  helpCase("steel --help (compiled: dist/'s own modules)", 'node dist/cli/main.js --help', [
    '--input-type=module',
    '-e',
    "const { main } = await import('./dist/cli/main.js'); process.exitCode = await main(['--help']);",
  ]),
  helpCase('steel --help (sources through tsx)', 'node --import tsx cli/main.ts --help', [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    "const { main } = await import('./cli/main.ts'); process.exitCode = await main(['--help']);",
  ]),
  helpCase('npx steel --help (compiled; npx adds npm start-up)', 'npx steel --help', ['steel', '--help'], 'npx'),
  workerCase('executor worker start-up (compiled: dist/steel.cjs)', bundleWorker),
  workerCase("executor worker start-up (compiled: dist/'s own modules)", distWorker),
  workerCase('executor worker start-up (sources through tsx)', tsxWorker),
];

const fmt = (s: number) => `${(s * 1000).toFixed(0)} ms`;
const rows: string[] = [];
for (const c of cases) {
  for (let i = 0; i < WARMUP; i++) await c.run();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const cpu0 = childCpu();
    const t0 = performance.now();
    await c.run();
    walls.push((performance.now() - t0) / 1000);
    cpus.push(childCpu() - cpu0);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const row =
    `| ${c.name} | \`${c.command}\` | ${fmt(median(walls))} | ${fmt(Math.min(...walls))} | ${fmt(median(cpus))} | ` +
    `${fmt(mean(cpus))} |`;
  rows.push(row);
  console.error(row);
}
const date = new Date().toISOString().slice(0, 10);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const md = [
  '# Start-up: the `steel` command and its worker processes',
  '',
  `Command: \`npx tsx bench/startup.ts --runs ${RUNS} --warmup ${WARMUP}\` · machine: ${cpus().length}-core dev VM ` +
    `(${cpus()[0]?.model ?? 'cpu'}), Node ${process.version} · ${date} · load average at the end ${load} (the two cores ` +
    'are shared: wall times are pessimistic, CPU per run is the steadier figure) · every run checked (`--help` prints ' +
    "the command table; a worker starts, answers the executor's `exit` message and exits 0)",
  '',
  '| what | command | wall median | wall min | CPU median (user + sys) | CPU mean |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  '"compiled" is what `npm ci` builds into dist/ (scripts/build.mjs): `steel` and its workers run dist/steel.cjs, one',
  "file with V8's code cache (cli/bundle.ts); dist/'s own modules, one per source file, are what they ran before. \"sources",
  'through tsx" is what `steel` falls back to when dist/ is missing or stale, and what every start cost before dist/',
  'existed.',
  'A worker start-up is the whole process (cli/worker.ts: Node, pipeline/worker.ts and the task registry, whose entries',
  "are loaders: a task's modules are imported when the worker is first sent that task, and the operator list only for",
  "map tasks, per area as the recipe needs) until it has answered the executor's first message and exited; the tasks",
  'it then runs, and the modules they load, come on top. CPU is user + system time of the child process (clock ticks',
  'of 10 ms), median and mean over the timed runs.',
  '',
].join('\n');
console.log(md);
if (values.write) writeFileSync(join(ROOT, 'bench/results/startup.md'), md);
