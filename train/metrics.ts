/**
 * Reading a run's metrics.jsonl generically: every row is a JSON object with a `step`; every other finite number in it
 * is a metric, named by its key (nested objects flatten to `a/b`). A row's grouping fields (`kind`, `type`, `phase`,
 * `split`, `task`, `name` when they are strings, e.g. `{"kind":"eval","split":"heldout","loss":…}`) prefix its metric
 * names (`eval/heldout/loss`), so eval rows never mix with the training curve of the same key.
 * Used by the run report (eval/report.ts) and the TensorBoard writer (train/tensorboard.ts); on resume, the trainer and
 * fine-tuning drop the rows an interrupted run wrote after its last checkpoint (truncateMetrics).
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../pipeline/fsutil.ts';

export interface MetricsRow {
  step: number;
  /** 1-based line number in the file. */
  line: number;
  values: Record<string, number>;
  /** seconds since the run started, when the row has elapsed_s. */
  elapsedS?: number;
}

export interface Series {
  name: string;
  steps: number[];
  values: number[];
}

const GROUP_KEYS = ['kind', 'type', 'phase', 'split', 'task', 'name'];
/** bookkeeping fields that are not curves. */
const NOT_METRICS = new Set(['step', 'elapsed_s', 'line']);

function flatten(prefix: string, o: Record<string, unknown>, out: Record<string, number>): void {
  for (const [k, v] of Object.entries(o)) {
    if (!prefix && (NOT_METRICS.has(k) || GROUP_KEYS.includes(k))) continue;
    const name = prefix ? `${prefix}/${k}` : k;
    if (typeof v === 'number' && Number.isFinite(v)) out[name] = v;
    else if (typeof v === 'boolean') continue;
    else if (v && typeof v === 'object' && !Array.isArray(v)) flatten(name, v as Record<string, unknown>, out);
  }
}

/**
 * parses metrics.jsonl text; a bad line is an error naming the file and line. A torn last line (a crashed writer) is
 * dropped unless `strict`; `firstLine` numbers the lines of a text that starts later in the file.
 */
export function parseMetrics(
  text: string,
  file = 'metrics.jsonl',
  o: { strict?: boolean; firstLine?: number } = {},
): MetricsRow[] {
  const base = (o.firstLine ?? 1) - 1;
  const rows: MetricsRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (!l) continue;
    let row: unknown;
    try {
      row = JSON.parse(l);
    } catch (e) {
      // a crashed writer can leave a torn last line: tolerated there only
      if (!o.strict && (i === lines.length - 1 || (i === lines.length - 2 && !lines[i + 1].trim()))) break;
      throw new Error(`${file}:${base + i + 1}: not JSON (${(e as Error).message})`);
    }
    if (!row || typeof row !== 'object' || Array.isArray(row))
      throw new Error(`${file}:${base + i + 1}: not a JSON object`);
    const r = row as Record<string, unknown>;
    if (typeof r.step !== 'number' || !Number.isFinite(r.step))
      throw new Error(`${file}:${base + i + 1}: no numeric "step"`);
    const prefix = GROUP_KEYS.map((k) => r[k])
      .filter((v): v is string => typeof v === 'string' && v.length > 0)
      .join('/');
    const vals: Record<string, number> = {};
    flatten('', r, vals);
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(vals)) values[prefix ? `${prefix}/${k}` : k] = v;
    rows.push({
      step: r.step,
      line: base + i + 1,
      values,
      elapsedS: typeof r.elapsed_s === 'number' ? r.elapsed_s : undefined,
    });
  }
  return rows;
}

export function readMetrics(file: string): MetricsRow[] {
  return parseMetrics(readFileSync(file, 'utf8'), file);
}

/** one series per metric name, in first-seen order, points in file order. */
export function metricSeries(rows: MetricsRow[]): Series[] {
  const m = new Map<string, Series>();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.values)) {
      let s = m.get(k);
      if (!s) m.set(k, (s = { name: k, steps: [], values: [] }));
      s.steps.push(r.step);
      s.values.push(v);
    }
  }
  return [...m.values()];
}

/**
 * On resume from the checkpoint of step `step`: drop the rows past it (written by the interrupted run after its last
 * checkpoint), atomically, so the resumed run's rows follow on without repeats. A missing file is left missing.
 */
export function truncateMetrics(file: string, step: number): void {
  if (!existsSync(file)) return;
  const keep = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && (JSON.parse(l).step ?? 0) <= step);
  writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
}
