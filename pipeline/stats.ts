import { fmtBytes, fmtDuration } from './progress.ts';

/** Counts of one stage (in one task, or merged over tasks). Invariant: in = out + dropped + rejected. */
export interface StageStats {
  name: string;
  op: string;
  phase: string;
  in: number;
  out: number;
  dropped: number;
  dropped_by_rule: Record<string, number>;
  rejected: number;
  rejected_by_error: Record<string, number>;
  bytes_in: number;
  bytes_out: number;
  /** Wall time spent in this stage (exclusive of upstream stages), summed over tasks. */
  seconds: number;
  /**
   * CPU-seconds (user + system) of this stage, summed over tasks: process.cpuUsage around each batch of its work (a
   * run of per-document steps shares its batch's CPU time in proportion to their wall time); for a global op, the CPU
   * time of its whole phase (the main process and every worker's tasks).
   */
  cpu_seconds: number;
  /** "global" for a whole-dataset op (bytes and time not measured per stage). */
  kind?: 'map' | 'global';
}

export function newStage(name: string, op: string, phase: string): StageStats {
  return {
    name,
    op,
    phase,
    in: 0,
    out: 0,
    dropped: 0,
    dropped_by_rule: {},
    rejected: 0,
    rejected_by_error: {},
    bytes_in: 0,
    bytes_out: 0,
    seconds: 0,
    cpu_seconds: 0,
  };
}

/**
 * `seconds` and `cpu_seconds` hold fractions, set at a task's end. A field that first held a small integer and then a
 * fraction changes the layout of every such object in V8 (their map is deprecated), which threw away the optimised
 * code of every loop that counts into a stage's stats (the map task's read, unify, steps and write loops) at the
 * first task's end, in every process. One object given fractions as this module loads makes them fraction fields
 * from the start (every StageStats after it has that layout).
 */
{
  const s = newStage('', '', '');
  s.seconds = 0.5;
  s.cpu_seconds = 0.5;
}

export function addCount(m: Record<string, number>, k: string, n = 1): void {
  m[k] = (m[k] ?? 0) + n;
}

export function mergeCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) addCount(into, k, v);
}

export function mergeStage(into: StageStats, s: StageStats): void {
  into.in += s.in;
  into.out += s.out;
  into.dropped += s.dropped;
  into.rejected += s.rejected;
  into.bytes_in += s.bytes_in;
  into.bytes_out += s.bytes_out;
  into.seconds += s.seconds;
  into.cpu_seconds += s.cpu_seconds ?? 0;
  mergeCounts(into.dropped_by_rule, s.dropped_by_rule);
  mergeCounts(into.rejected_by_error, s.rejected_by_error);
}

/** Short kind of a reject error for counting: the text before the first ":" ("bad JSON", "invalid UTF-8 byte sequence"). */
export function errorKind(message: string): string {
  const k = message.split(':')[0].trim();
  return k.length > 80 ? k.slice(0, 80) : k;
}

/** What one map task returns (and its completion marker holds). */
export type { CorruptFile } from './readers/index.ts';
import type { CorruptFile } from './readers/index.ts';

export interface MapTaskStats {
  phase: string;
  rank: number;
  world: number;
  files: string[];
  read: number;
  kept: number;
  dropped: number;
  rejected: number;
  input_bytes: number;
  seconds: number;
  /** CPU-seconds of the task (user + system of the process that ran it). */
  cpu_seconds: number;
  /** True when a limit/head op stopped reading early. */
  cut: boolean;
  /** CPU-seconds of the next global op's sink (GlobalOp.mapSink) inside this task: that op's work, not this phase's. */
  sink_cpu_seconds?: number;
  /** Input files of this task that could not be read to their end (absent in markers of older runs). */
  corrupt_files?: CorruptFile[];
  stages: StageStats[];
  outputs: { docs: string; excluded?: string; rejects?: string };
}

/** The merged OUT/stats.json. */
export interface RunStats {
  recipe: string;
  description: string;
  out_dir: string;
  inputs: { path: string; corpus?: string }[];
  workers: number;
  started: string;
  finished: string;
  seconds: number;
  /** CPU-seconds of the run: the main process (outside tasks) plus every task, wherever it ran. */
  cpu_seconds: number;
  /** The largest peak resident set size among the processes that ran this run's work (main process and workers). */
  peak_rss_bytes: number;
  read: number;
  kept: number;
  dropped: number;
  dropped_by_rule: Record<string, number>;
  rejected: number;
  rejected_by_error: Record<string, number>;
  /** Input files that could not be read to their end: their records before the damage are in the counts above. */
  corrupt_files: CorruptFile[];
  invariant: { ok: boolean; check: string; problems: string[] };
  stages: StageStats[];
  phases: {
    name: string;
    kind: 'map' | 'global';
    op?: string;
    tasks: number;
    read: number;
    kept: number;
    dropped: number;
    rejected: number;
    /** CPU-seconds of the phase: the main process plus the tasks run in worker processes. */
    cpu_seconds: number;
    /** Peak RSS of the processes that ran the phase's tasks (a worker's or, with one worker, the main process's so far). */
    peak_rss_bytes: number;
    extra?: Record<string, unknown>;
  }[];
  tasks: Omit<MapTaskStats, 'stages'>[];
  outputs: { docs: string[]; excluded: string[]; rejects: string[] };
}

/** Check in = out + dropped + rejected for every stage. */
export function stageProblems(stages: StageStats[]): string[] {
  const p: string[] = [];
  for (const s of stages) {
    if (s.in !== s.out + s.dropped + s.rejected) {
      p.push(
        `stage "${s.name}" (${s.phase}): in ${s.in} != out ${s.out} + dropped ${s.dropped} + rejected ${s.rejected}`,
      );
    }
    const byRule = Object.values(s.dropped_by_rule).reduce((a, b) => a + b, 0);
    if (byRule !== s.dropped)
      p.push(`stage "${s.name}" (${s.phase}): dropped ${s.dropped} != sum over rules ${byRule}`);
  }
  return p;
}

function table(rows: string[][], alignRight: boolean[]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((v, c) => (alignRight[c] ? v.padStart(w[c]) : v.padEnd(w[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * A count with thousands separators, as toLocaleString('en-US') writes it ("1,234,567"): integers grouped here, since
 * the first toLocaleString of a process sets up ICU's number formatting (~0.02 CPU-s); anything else through it.
 */
export function groupThousands(x: number): string {
  if (!Number.isSafeInteger(x) || Object.is(x, -0)) return x.toLocaleString('en-US');
  const d = String(Math.abs(x));
  let out = d.slice(0, ((d.length - 1) % 3) + 1);
  for (let i = out.length; i < d.length; i += 3) out += ',' + d.slice(i, i + 3);
  return x < 0 ? '-' + out : out;
}
const n = groupThousands;

/** Human-readable summary: totals, the invariant, a per-stage table and a per-rule table. */
export function formatStats(s: RunStats): string {
  const lines: string[] = [];
  lines.push(
    `run: recipe "${s.recipe}", ${s.inputs.length} input file(s), ${s.workers} worker(s), ${fmtDuration(s.seconds)} -> ${s.out_dir}`,
  );
  if (s.cpu_seconds !== undefined)
    lines.push(
      `cpu: ${fmtDuration(s.cpu_seconds)} (all processes); peak RSS ${fmtBytes(s.peak_rss_bytes ?? 0)} (largest process)`,
    );
  lines.push('');
  const rows = [['stage', 'phase', 'in', 'out', 'dropped', 'rejected', 'text in', 'text out', 'wall', 'cpu']];
  for (const st of s.stages) {
    // bytes are UTF-8 bytes of text at every stage (read: the records' text field); global ops are not metered
    const g = st.kind === 'global';
    rows.push([
      st.name,
      st.phase,
      n(st.in),
      n(st.out),
      n(st.dropped),
      n(st.rejected),
      g ? '-' : fmtBytes(st.bytes_in),
      g ? '-' : fmtBytes(st.bytes_out),
      g ? fmtDuration(st.seconds) + '*' : fmtDuration(st.seconds),
      fmtDuration(st.cpu_seconds ?? 0) + (g ? '*' : ''),
    ]);
  }
  lines.push(table(rows, [false, false, true, true, true, true, true, true, true, true]));
  if (s.stages.some((x) => x.kind === 'global'))
    lines.push('* global op: its whole step (wall time; CPU of every process)');
  const rules = Object.entries(s.dropped_by_rule).sort((a, b) => b[1] - a[1]);
  if (rules.length) {
    lines.push('');
    const rr = [['dropped by rule', 'docs', '% of read']];
    for (const [k, v] of rules) rr.push([k, n(v), s.read ? ((100 * v) / s.read).toFixed(2) : '0']);
    lines.push(table(rr, [false, true, true]));
  }
  const errs = Object.entries(s.rejected_by_error).sort((a, b) => b[1] - a[1]);
  if (errs.length) {
    lines.push('');
    const er = [['rejected by error', 'records']];
    for (const [k, v] of errs) er.push([k, n(v)]);
    lines.push(table(er, [false, true]));
  }
  if (s.corrupt_files?.length) {
    lines.push('');
    lines.push(...formatCorruptFiles(s.corrupt_files));
  }
  lines.push('');
  const mark = s.invariant.ok ? 'OK' : 'VIOLATED';
  lines.push(
    `accounting: read ${n(s.read)} = kept ${n(s.kept)} + dropped ${n(s.dropped)} + rejected ${n(s.rejected)}  [${mark}]`,
  );
  for (const p of s.invariant.problems) lines.push(`  ! ${p}`);
  return lines.join('\n');
}

/** The summary's list of corrupt input files (`steel prep`, `steel dedup`, `steel tokenizer encode`). */
export function formatCorruptFiles(files: CorruptFile[]): string[] {
  return [
    `corrupt input files: ${files.length} (read up to the damage, recorded in rejects/):`,
    ...files.map(
      (c) =>
        `  ${c.file}${c.offset !== undefined ? ` near byte ${c.offset}` : ''}, after ${n(c.records_read)} record(s): ${c.error}`,
    ),
  ];
}
