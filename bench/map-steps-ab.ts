/**
 * zh-web's map steps, old against new, in one command (issue 21): runs the steps in-process over the prep-eval set
 * (out/prep-eval/docs.jsonl) and the bundled sample, in child processes that alternate between this checkout and
 * another one (--other DIR, e.g. a worktree of the commit before a change), and prints per run the CPU-seconds of the
 * steps (process.cpuUsage, user + system, model loading included: the first document loads the models) and a SHA-256
 * of every output (kept ids, texts, lang and meta; dropped ids with stage, rule and value), which must be equal.
 *
 *   npx tsx bench/map-steps-ab.ts [--other DIR] [--pairs 3] [--set eval|sample|both] [--steps [--meter]]
 * --steps: also print the CPU-seconds per step (the run's CPU shared by each step's wall time, as the map task does).
 * --meter: per step, the CPU-seconds it used (process.cpuUsage around every step call: on a loaded machine wall time
 * charges a step for the time it waited for a core; the meter's own ~2 µs per call is in every step, old and new).
 * Without --other: one run of this checkout.
 * (internal: --child ROOT runs one measurement with ROOT's filters and prints a JSON line)
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    other: { type: 'string' },
    pairs: { type: 'string', default: '3' },
    set: { type: 'string', default: 'both' },
    steps: { type: 'boolean', default: false },
    meter: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});
const HERE = fileURLToPath(new URL('..', import.meta.url));

interface Result {
  cpu: number;
  mb: number;
  sha: string;
  kept: number;
  dropped: number;
  ms: Record<string, number>;
}

/** CPU milliseconds of this process so far (user + system). */
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

if (values.child) {
  const root = resolve(values.child);
  // ROOT may be a compiled tree (dist/: .js files, real line numbers in a --cpu-prof profile)
  const imp = (p: string) =>
    import(pathToFileURL(resolve(root, existsSync(resolve(root, p)) ? p : p.replace(/\.ts$/, '.js'))).href);
  const { readSample } = await imp('filters/harness.ts');
  const { operators } = await imp('cli/operators.ts');
  const docs: { id: string; text: string; source?: string; lang?: string; meta: Record<string, unknown> }[] = [];
  if (values.set !== 'sample') {
    const p = resolve(HERE, 'out/prep-eval/docs.jsonl');
    if (!existsSync(p)) throw new Error(`${p} not found: build it with bench/prep-eval/build.sh`);
    for (const l of readFileSync(p, 'utf8').split('\n'))
      if (l.trim()) {
        const d = JSON.parse(l);
        docs.push({ id: d.id, text: d.text, source: d.source, meta: { ...d.meta } });
      }
  }
  if (values.set !== 'eval') for (const s of await readSample()) docs.push(...s.docs);
  const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d.text), 0);
  // the steps as the pipeline's map task runs them (pipeline/map-task.ts fusedSteps): each document through every
  // per-document step in turn, wall time per step, the CPU time shared in proportion
  const c0 = process.cpuUsage();
  const { loadRecipe, resolveSteps } = await imp('pipeline/recipe.ts');
  const steps: { name: string; fn: (d: unknown, ctx: unknown) => boolean | Promise<boolean> }[] = [];
  for (const s of await resolveSteps(loadRecipe('zh-web'), operators)) {
    if (s.op.kind !== 'map') break;
    if (!s.op.createDoc) throw new Error(`${s.name} has no per-document form`);
    steps.push({ name: s.name, fn: await s.op.createDoc(s.params) });
  }
  // per step: wall milliseconds, or CPU milliseconds with --meter
  const wall = new Float64Array(steps.length);
  const res = {
    kept: [] as typeof docs,
    excluded: [] as { id: string; stage: string; rule: string; value?: unknown }[],
  };
  let dropped: { rule: string; value?: unknown } | undefined;
  const ctx = {
    rank: 0,
    world: 1,
    outDir: '',
    log: () => {},
    drop: (_d: unknown, rule: string, value?: unknown) => (dropped = { rule, value }),
  };
  for (const doc of docs) {
    let t = values.meter ? cpuNow() : performance.now();
    let alive = true;
    for (let k = 0; k < steps.length; k++) {
      dropped = undefined;
      let keep = steps[k].fn(doc, ctx);
      if (typeof keep !== 'boolean') keep = await keep;
      const t1 = values.meter ? cpuNow() : performance.now();
      wall[k] += t1 - t;
      t = t1;
      if (!keep) {
        res.excluded.push({ id: doc.id, stage: steps[k].name, rule: dropped!.rule, value: dropped!.value });
        alive = false;
        break;
      }
    }
    if (alive) res.kept.push(doc);
  }
  const c1 = process.cpuUsage(c0);
  const cpuMs = (c1.user + c1.system) / 1000;
  const wsum = wall.reduce((a, b) => a + b, 0);
  const ms: Record<string, number> = {};
  steps.forEach((s, k) => (ms[s.name] = values.meter ? wall[k] : (cpuMs * wall[k]) / wsum));
  const h = createHash('sha256');
  for (const d of res.kept) h.update(JSON.stringify(['k', d.id, d.text, d.lang ?? null, d.meta]) + '\n');
  for (const d of res.excluded) h.update(JSON.stringify(['x', d.id, d.stage, d.rule, d.value ?? null]) + '\n');
  const out: Result = {
    cpu: (c1.user + c1.system) / 1e6,
    mb: bytes / 1e6,
    sha: h.digest('hex').slice(0, 16),
    kept: res.kept.length,
    dropped: res.excluded.length,
    ms,
  };
  console.log(JSON.stringify(out));
  process.exit(0);
}

const run = (root: string): Result => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      root,
      '--set',
      values.set!,
      ...(values.meter ? ['--meter'] : []),
    ],
    { cwd: HERE, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`child for ${root} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
};
const roots = values.other ? [resolve(values.other), HERE] : [HERE];
const names = values.other ? ['old', 'new'] : ['this'];
const all: Result[][] = roots.map(() => []);
const pairs = values.other ? Number(values.pairs) : 1;
for (let i = 0; i < pairs; i++)
  for (let j = 0; j < roots.length; j++) {
    const k = i % 2 === 0 ? j : roots.length - 1 - j; // alternate which goes first
    const r = run(roots[k]);
    all[k].push(r);
    console.log(
      `${names[k].padEnd(4)} ${r.cpu.toFixed(2)} CPU-s  ${(r.mb / r.cpu).toFixed(2)} MB/CPU-s  ${r.mb.toFixed(2)} MB  kept ${r.kept} dropped ${r.dropped}  sha ${r.sha}  load ${loadavg()[0].toFixed(1)}`,
    );
    if (values.steps)
      console.log(
        '     ' +
          Object.entries(r.ms)
            .map(([s, ms]) => `${s} ${(ms / 1000).toFixed(2)}`)
            .join(', '),
      );
  }
const shas = new Set(all.flat().map((r) => r.sha));
console.log(shas.size === 1 ? 'outputs identical' : `OUTPUTS DIFFER: ${[...shas].join(' ')}`);
const median = (xs: number[]) => {
  const c = [...xs].sort((a, b) => a - b);
  return c.length % 2 ? c[c.length >> 1] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
};
for (let k = 0; k < roots.length; k++) {
  const c = all[k].map((r) => r.cpu).sort((a, b) => a - b);
  console.log(
    `${names[k]}: CPU-s ${c.map((x) => x.toFixed(2)).join(' ')} (median ${median(c).toFixed(2)}, ${(all[k][0].mb / median(c)).toFixed(2)} MB/CPU-s)`,
  );
}
if (values.steps && roots.length === 2) {
  console.log('step medians, CPU-s: old -> new');
  for (const s of Object.keys(all[0][0].ms))
    console.log(
      `  ${s.padEnd(26)} ${(median(all[0].map((r) => r.ms[s])) / 1000).toFixed(2)} -> ${(median(all[1].map((r) => r.ms[s])) / 1000).toFixed(2)}`,
    );
}
if (shas.size !== 1) process.exit(1);
