/**
 * The run report (`steel report RUN`): every curve of a run's metrics.jsonl (loss, learning rate, grad norm, tokens/s,
 * MFU, eval rows, whatever keys it holds: read generically through train/metrics.ts) as a terminal summary, JSON, or a
 * self-contained HTML page with inline-SVG line charts (no script, no network).
 * Curves that share a last name component share a chart: `loss` and `eval/heldout/loss` are drawn together.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics, metricSeries, type Series } from '../train/metrics.ts';
import { fmtDuration } from '../pipeline/progress.ts';

export interface SeriesSummary {
  name: string;
  points: number;
  first: number;
  last: number;
  lastStep: number;
  min: number;
  minStep: number;
  max: number;
  maxStep: number;
  mean: number;
}

export interface RunReport {
  run: string;
  metricsFile: string;
  generated: string;
  /** from the run's config.json, when present. */
  model?: { name?: string; kind?: string; params?: number; seqLen?: number; vocabSize?: number };
  train?: { totalSteps?: number; lr?: number; microBatch?: number; gradAccum?: number; backend?: string };
  rows: number;
  lastStep: number;
  tokens?: number;
  elapsedS?: number;
  series: Series[];
  summary: SeriesSummary[];
  /** chart groups: title -> series names. */
  charts: { title: string; series: string[] }[];
}

/** the preferred order of the charts; anything else follows in first-seen order. */
const ORDER = ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'mfu'];
const TITLES: Record<string, string> = {
  loss: 'loss (nats/token)',
  lr: 'learning rate',
  grad_norm: 'gradient norm (before clipping)',
  tokens_per_s: 'tokens/s',
  mfu: 'MFU (model FLOPs utilisation)',
  ppl: 'perplexity',
  epoch: 'epoch',
  tokens: 'tokens seen',
};

export function metricsFileOf(run: string): string {
  if (!existsSync(run)) throw new Error(`${run}: no such run folder or metrics file`);
  if (statSync(run).isFile()) return run;
  const f = join(run, 'metrics.jsonl');
  if (!existsSync(f)) throw new Error(`${run}: no metrics.jsonl (is it a steel train --out folder?)`);
  return f;
}

function summarize(s: Series): SeriesSummary {
  let min = Infinity,
    max = -Infinity,
    minStep = 0,
    maxStep = 0,
    sum = 0;
  s.values.forEach((v, i) => {
    if (v < min) {
      min = v;
      minStep = s.steps[i];
    }
    if (v > max) {
      max = v;
      maxStep = s.steps[i];
    }
    sum += v;
  });
  const n = s.values.length;
  return {
    name: s.name,
    points: n,
    first: s.values[0],
    last: s.values[n - 1],
    lastStep: s.steps[n - 1],
    min,
    minStep,
    max,
    maxStep,
    mean: sum / n,
  };
}

const leaf = (name: string) => name.slice(name.lastIndexOf('/') + 1);

export function buildReport(run: string): RunReport {
  const metricsFile = metricsFileOf(run);
  const rows = readMetrics(metricsFile);
  if (!rows.length) throw new Error(`${metricsFile}: no metrics rows yet`);
  const series = metricSeries(rows);
  const groups = new Map<string, string[]>();
  for (const s of series) {
    const k = leaf(s.name);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s.name);
  }
  const keys = [...groups.keys()]
    .sort((a, b) => {
      const ia = ORDER.indexOf(a),
        ib = ORDER.indexOf(b);
      return (ia < 0 ? ORDER.length : ia) - (ib < 0 ? ORDER.length : ib);
    })
    .filter((k) => k !== 'tokens' && k !== 'epoch'); // counters, not curves worth a chart (they are in the summary)
  const r: RunReport = {
    run,
    metricsFile,
    generated: new Date().toISOString(),
    rows: rows.length,
    lastStep: rows.reduce((a, x) => Math.max(a, x.step), 0),
    tokens: series.find((s) => s.name === 'tokens')?.values.at(-1),
    elapsedS: rows.reduce<number | undefined>(
      (a, x) => (x.elapsedS !== undefined ? Math.max(a ?? 0, x.elapsedS) : a),
      undefined,
    ),
    series,
    summary: series.map(summarize),
    charts: keys.map((k) => {
      const names = groups.get(k)!,
        base = TITLES[k] ?? k;
      // a lone eval curve keeps its full name in the title (eval/heldout/ppl, not just "perplexity")
      return { title: names.length === 1 && names[0] !== k ? `${base}: ${names[0]}` : base, series: names };
    }),
  };
  const cfgFile = statSync(run).isDirectory() ? join(run, 'config.json') : null;
  if (cfgFile && existsSync(cfgFile)) {
    try {
      const c = JSON.parse(readFileSync(cfgFile, 'utf8'));
      if (c.model)
        r.model = { name: c.model.name, kind: c.model.kind, seqLen: c.model.seqLen, vocabSize: c.model.vocabSize };
      if (c.hyper)
        r.train = {
          totalSteps: c.hyper.totalSteps,
          lr: c.hyper.lr,
          microBatch: c.hyper.microBatch,
          gradAccum: c.hyper.gradAccum,
          backend: c.backend,
        };
    } catch (e) {
      throw new Error(`${cfgFile}: ${(e as Error).message}`);
    }
  }
  return r;
}

// ---------------------------------------------------------------- formatting
/** a number for people: 4 significant digits, exponent form when tiny or huge. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e7) return v.toExponential(2);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

export function formatReport(r: RunReport): string {
  const out: string[] = [];
  const m = r.model;
  out.push(
    `run ${r.run}${m ? `: ${m.name ?? '?'} (${m.kind ?? '?'} kind${m.seqLen ? `, context ${m.seqLen}` : ''})` : ''}`,
  );
  const parts = [
    `step ${r.lastStep.toLocaleString('en-US')}${r.train?.totalSteps ? ` of ${r.train.totalSteps.toLocaleString('en-US')}` : ''}`,
  ];
  if (r.tokens !== undefined) parts.push(`${fmtNum(r.tokens)} tokens`);
  if (r.elapsedS !== undefined) parts.push(`${fmtDuration(r.elapsedS)} of training`);
  parts.push(`${r.rows} metrics rows`);
  out.push(parts.join(', '));
  const head = ['metric', 'points', 'first', 'last', 'min (step)', 'max (step)'];
  const rows = r.summary.map((s) => [
    s.name,
    String(s.points),
    fmtNum(s.first),
    fmtNum(s.last),
    `${fmtNum(s.min)} (${s.minStep})`,
    `${fmtNum(s.max)} (${s.maxStep})`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  out.push('', line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line));
  return out.join('\n');
}

// ---------------------------------------------------------------- HTML
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** about `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n,
    mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** at most ~`max` points of a curve for drawing: each bucket of consecutive points keeps its min and max, in order. */
export function downsample(steps: number[], values: number[], max = 1500): { steps: number[]; values: number[] } {
  if (steps.length <= max) return { steps, values };
  const buckets = Math.floor(max / 2),
    per = steps.length / buckets;
  const os: number[] = [],
    ov: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * per),
      hi = Math.min(steps.length, Math.floor((b + 1) * per));
    let mn = lo,
      mx = lo;
    for (let i = lo; i < hi; i++) {
      if (values[i] < values[mn]) mn = i;
      if (values[i] > values[mx]) mx = i;
    }
    for (const i of mn === mx ? [mn] : mn < mx ? [mn, mx] : [mx, mn]) {
      os.push(steps[i]);
      ov.push(values[i]);
    }
  }
  return { steps: os, values: ov };
}

const COLORS = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#9c755f'];

/** one line chart (inline SVG) of one or more series over steps. */
export function lineChartSvg(id: string, title: string, series: Series[]): string {
  const W = 560,
    H = 260,
    L = 64,
    R = 16,
    T = 38,
    B = 36;
  const steps = series.flatMap((s) => s.steps),
    vals = series.flatMap((s) => s.values);
  let x0 = Math.min(...steps),
    x1 = Math.max(...steps),
    y0 = Math.min(...vals),
    y1 = Math.max(...vals);
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 === y0) {
    const d = Math.abs(y0) * 0.1 || 1;
    y0 -= d;
    y1 += d;
  } else {
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  const X = (v: number) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const p: string[] = [
    `<svg class="chart line" id="${esc(id)}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<text class="ct" x="${L}" y="16">${esc(title)}</text>`,
    `<rect class="frame" x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#ccc"/>`,
  ];
  for (const v of niceTicks(y0, y1)) {
    const y = Y(v).toFixed(1);
    p.push(
      `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/><text class="tick" x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fmtNum(v))}</text>`,
    );
  }
  for (const v of niceTicks(x0, x1, 6).filter((v) => Number.isInteger(v))) {
    const x = X(v).toFixed(1);
    p.push(
      `<line x1="${x}" x2="${x}" y1="${H - B}" y2="${H - B + 4}" stroke="#999"/><text class="tick" x="${x}" y="${H - B + 16}" text-anchor="middle">${esc(fmtNum(v))}</text>`,
    );
  }
  p.push(`<text class="tick" x="${W - R}" y="${H - 4}" text-anchor="end">step</text>`);
  series.forEach((full, i) => {
    const color = COLORS[i % COLORS.length];
    const s = downsample(full.steps, full.values);
    const pts = s.steps.map((st, j) => `${X(st).toFixed(1)},${Y(s.values[j]).toFixed(1)}`);
    if (pts.length > 1)
      p.push(
        `<polyline class="series" data-name="${esc(full.name)}" fill="none" stroke="${color}" stroke-width="1.6" points="${pts.join(' ')}"/>`,
      );
    if (pts.length <= 60)
      for (const q of pts) {
        const [cx, cy] = q.split(',');
        p.push(`<circle class="pt" cx="${cx}" cy="${cy}" r="2.2" fill="${color}"/>`);
      }
  });
  if (series.length > 1) {
    // legend under the title, right-aligned, outside the plot area
    let x = W - R;
    for (let i = series.length - 1; i >= 0; i--) {
      const w = 6.2 * series[i].name.length;
      p.push(
        `<text class="legend" x="${x.toFixed(1)}" y="${T - 6}" text-anchor="end">${esc(series[i].name)}</text><rect x="${(x - w - 14).toFixed(1)}" y="${T - 11}" width="10" height="3" fill="${COLORS[i % COLORS.length]}"/>`,
      );
      x -= w + 24;
    }
  }
  p.push('</svg>');
  return p.join('');
}

export function renderHtml(r: RunReport): string {
  const byName = new Map(r.series.map((s) => [s.name, s]));
  const charts = r.charts.map(
    (c, i) =>
      `<figure>${lineChartSvg(
        `chart-${i}`,
        c.title,
        c.series.map((n) => byName.get(n)!),
      )}</figure>`,
  );
  const m = r.model;
  const cards: [string, string][] = [
    [
      'step',
      `${r.lastStep.toLocaleString('en-US')}${r.train?.totalSteps ? ` / ${r.train.totalSteps.toLocaleString('en-US')}` : ''}`,
    ],
  ];
  if (r.tokens !== undefined) cards.push(['tokens', fmtNum(r.tokens)]);
  if (r.elapsedS !== undefined) cards.push(['training time', fmtDuration(r.elapsedS)]);
  const loss = r.summary.find((s) => s.name === 'loss');
  if (loss) cards.push(['last loss', fmtNum(loss.last)]);
  const tps = r.summary.find((s) => s.name === 'tokens_per_s');
  if (tps) cards.push(['mean tokens/s', fmtNum(Math.round(tps.mean))]);
  const table = `<table id="summary"><thead><tr>${['metric', 'points', 'first', 'last', 'min', 'at step', 'max', 'at step'].map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${r.summary
    .map(
      (s) =>
        `<tr><td>${esc(s.name)}</td>${[s.points, s.first, s.last, s.min, s.minStep, s.max, s.maxStep].map((v) => `<td class="num">${esc(fmtNum(v))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
  // JSON inside <script type="application/json"> is data, not code; "<" is escaped so no "</script>" can close it
  // (long curves embedded as drawn: downsampled)
  const data = JSON.stringify({
    ...r,
    series: r.series.map((x) => ({ name: x.name, ...downsample(x.steps, x.values) })),
  }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>steel report: ${esc(r.run)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}.charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}
svg.chart{display:block;max-width:100%;height:auto}svg .ct{font-weight:600;font-size:13px}svg .tick,svg .legend{font-size:11px;fill:#444}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #e3e3e3;padding:3px 8px;text-align:left}th{background:#f6f6f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
</style></head><body>
<h1>steel report</h1>
<div class="meta">run <code>${esc(r.run)}</code>${m ? ` · model ${esc(m.name ?? '?')} (${esc(m.kind ?? '?')} kind${m.seqLen ? `, context ${m.seqLen}` : ''})` : ''}${r.train?.backend ? ` · backend ${esc(r.train.backend)}` : ''} · ${r.rows} metrics rows · generated ${esc(r.generated)}</div>
<div class="cards">${cards.map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
<section id="curves"><h2>Curves</h2><div class="charts">${charts.join('\n')}</div></section>
<section id="metrics"><h2>All metrics</h2>${table}</section>
<script type="application/json" id="report-data">${data}</script>
</body></html>
`;
}
