/**
 * Where the wall time of a prep's MinHash phase goes, step by step, from the executor's completion markers of a
 * finished run (no rerun): for each dedup step, its tasks' start / end (a marker's finishedAt less its seconds), the
 * step's span (first start to last end), the gap before it (the previous step's last end to this step's first start:
 * the parent's work between steps and the round trip to the workers), the tasks' wall and CPU-seconds summed, and the
 * workers' idle time within the span (workers × span − the tasks' wall).
 *
 *   npx tsx bench/dedup-timeline.ts OUT [--workers N] [--json FILE]
 * OUT: a `steel prep --out OUT` folder (its .state/p1-minhash_dedup/work/.state) or a `steel dedup` work folder's
 * .state. The workers default to stats.json's.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { workers: { type: 'string' }, json: { type: 'string' } },
  allowPositionals: true,
});
const out = positionals[0];
if (!out) throw new Error('usage: dedup-timeline.ts OUT [--workers N] [--json FILE]');
const candidates = [join(out, '.state', 'p1-minhash_dedup', 'work', '.state'), join(out, '.state'), out];
const state = candidates.find((d) => existsSync(d) && readdirSync(d).some((n) => n.startsWith('dedup-')));
if (!state) throw new Error(`${out}: no dedup step markers found`);
let workers = Number(values.workers ?? 0);
if (!workers && existsSync(join(out, 'stats.json')))
  workers = (JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as { workers?: number }).workers ?? 1;
workers ||= 1;

interface Marker {
  rank: number;
  seconds: number;
  cpu_seconds: number;
  finishedAt: string;
}
interface Row {
  step: string;
  tasks: number;
  start: number;
  end: number;
  gap: number;
  span: number;
  taskWall: number;
  taskCpu: number;
  idle: number;
  /** each task's [wall, cpu] in rank order */
  each: [number, number][];
}

const steps = readdirSync(state)
  .filter((n) => n.startsWith('dedup-'))
  .map((step) => {
    const ms = readdirSync(join(state, step))
      .filter((n) => /^\d+\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(join(state, step, n), 'utf8')) as Marker)
      .sort((a, b) => a.rank - b.rank);
    const ends = ms.map((m) => Date.parse(m.finishedAt) / 1000);
    const starts = ms.map((m, i) => ends[i]! - m.seconds);
    return { step, ms, start: Math.min(...starts), end: Math.max(...ends) };
  })
  .filter((s) => s.ms.length)
  .sort((a, b) => a.start - b.start);

const t0 = steps[0]!.start;
const rows: Row[] = [];
let prevEnd = t0;
for (const s of steps) {
  const span = s.end - s.start;
  const taskWall = s.ms.reduce((a, m) => a + m.seconds, 0);
  const taskCpu = s.ms.reduce((a, m) => a + m.cpu_seconds, 0);
  const par = Math.min(workers, s.ms.length);
  rows.push({
    step: s.step,
    tasks: s.ms.length,
    start: s.start - t0,
    end: s.end - t0,
    gap: s.start - prevEnd,
    span,
    taskWall,
    taskCpu,
    idle: Math.max(0, par * span - taskWall),
    each: s.ms.map((m) => [m.seconds, m.cpu_seconds]),
  });
  prevEnd = s.end;
}
const f = (x: number) => x.toFixed(3);
console.log(`${state}: ${workers} worker(s); seconds from the first task's start`);
console.log('| step | tasks | start | gap before | span | tasks wall | tasks CPU | idle in span | per task wall/CPU |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows)
  console.log(
    `| ${r.step} | ${r.tasks} | ${f(r.start)} | ${f(r.gap)} | ${f(r.span)} | ${f(r.taskWall)} | ${f(r.taskCpu)} | ${f(r.idle)} | ${r.each.map(([w, c]) => `${w.toFixed(2)}/${c.toFixed(2)}`).join(' ')} |`,
  );
const sum = (k: 'gap' | 'span' | 'taskCpu' | 'idle') => rows.reduce((a, r) => a + r[k], 0);
console.log(
  `total: ${f(rows.at(-1)!.end)} s from first start to last end; gaps ${f(sum('gap'))}, spans ${f(sum('span'))}, tasks CPU ${f(sum('taskCpu'))}, idle ${f(sum('idle'))}`,
);
if (values.json) writeFileSync(values.json, JSON.stringify({ state, workers, rows }, null, 1) + '\n');
