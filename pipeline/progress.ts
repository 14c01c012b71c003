/**
 * Progress displays and the number formats every area prints (counts, bytes, durations: rounded, with units).
 * `Progress`: a step made of tasks, a redrawn bar on a terminal (stderr is a TTY), a one-line log every ~10 s
 * otherwise; silent when STEEL_QUIET=1 or `quiet` is set. `CollectProgress`: downloads, per file and overall.
 */
import { setting } from './settings.ts';

export interface ProgressOptions {
  quiet?: boolean;
  /** Name of the unit counted by task progress reports ("bytes" shows MB, MB/s). */
  unit?: string;
  /** Interval of the one-line logs when stderr is not a terminal (ms). */
  logIntervalMs?: number;
  stream?: NodeJS.WriteStream;
}

/** A count rounded with a unit suffix: 950, 12.3k, 4.56M, 1.23G. */
export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/** Bytes rounded in binary units: 512 B, 1.5 KiB, 12.3 MiB, 4.56 GiB, 1.20 TiB. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n >= 2 ** 40) return `${(n / 2 ** 40).toFixed(2)} TiB`;
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** A duration in seconds, rounded: 4.2s, 42s, 3m05s, 2h07m ("?" when unknown). */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A text progress bar: `[#####-----]` for a fraction in 0..1. */
export function fmtBar(frac: number, width: number): string {
  const f = Math.min(1, Math.max(0, frac));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export class Progress {
  private done = new Map<number, number>();
  private totals = new Map<number, number>();
  private tasksDone = 0;
  private readonly finished = new Set<number>();
  private readonly start = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private readonly stream: NodeJS.WriteStream;
  private lastLen = 0;

  constructor(
    private readonly label: string,
    private readonly taskCount: number,
    private readonly opts: ProgressOptions = {},
    private readonly alreadyDone = 0,
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.quiet = opts.quiet ?? setting('quiet');
    this.tty = !!this.stream.isTTY && !setting('progressLines');
    this.tasksDone = alreadyDone;
    if (this.quiet) return;
    const interval = this.tty ? 250 : (opts.logIntervalMs ?? setting('progressIntervalMs')!);
    this.timer = setInterval(() => this.render(), interval);
    this.timer.unref();
  }

  update(rank: number, done: number, total?: number): void {
    this.done.set(rank, done);
    if (total !== undefined) this.totals.set(rank, total);
  }

  taskFinished(rank: number): void {
    this.tasksDone++;
    this.finished.add(rank);
    const t = this.totals.get(rank);
    if (t !== undefined) this.done.set(rank, t);
  }

  /** Print a line above the bar (or plainly). */
  log(line: string): void {
    if (this.quiet) return;
    if (this.tty && this.lastLen) this.stream.write('\r' + ' '.repeat(this.lastLen) + '\r');
    this.stream.write(line + '\n');
    if (this.tty) this.render();
  }

  line(): string {
    let sumDone = 0;
    let sumTotal = 0;
    for (const v of this.done.values()) sumDone += v;
    for (const v of this.totals.values()) sumTotal += v;
    const el = (Date.now() - this.start) / 1000;
    const bytes = this.opts.unit === 'bytes';
    const fmt = bytes ? fmtBytes : fmtCount;
    const parts = [`${this.label}: tasks ${this.tasksDone}/${this.taskCount}`];
    if (sumDone > 0 || sumTotal > 0) {
      const allTotals = this.totals.size + this.alreadyDone >= this.taskCount;
      let p = `${fmt(sumDone)}${sumTotal && allTotals ? ' / ' + fmt(sumTotal) : ''}${bytes ? '' : ' ' + (this.opts.unit ?? 'units')}`;
      if (el > 0 && sumDone > 0) p += ` (${fmt(sumDone / el)}/s)`;
      parts.push(p);
    }
    parts.push(fmtDuration(el));
    return parts.join(' | ');
  }

  private fraction(): number {
    if (!this.taskCount) return 1;
    // finished tasks count 1; running tasks that report a total count done/total; the rest 0
    let f = this.tasksDone;
    for (const [r, t] of this.totals) {
      if (this.finished.has(r) || t <= 0) continue;
      f += Math.min(1, (this.done.get(r) ?? 0) / t);
    }
    return Math.min(1, f / this.taskCount);
  }

  render(): void {
    if (this.quiet) return;
    if (!this.tty) {
      this.stream.write(`[progress] ${this.line()}\n`);
      return;
    }
    const f = Math.min(1, this.fraction());
    const bar = `${fmtBar(f, 24)} ${(f * 100).toFixed(0).padStart(3)}% `;
    let s = bar + this.line();
    const cols = this.stream.columns || 120;
    if (s.length > cols - 1) s = s.slice(0, cols - 1);
    this.stream.write('\r' + s + ' '.repeat(Math.max(0, this.lastLen - s.length)));
    this.lastLen = s.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.quiet) return;
    if (this.tty) {
      this.render();
      this.stream.write('\n');
      this.lastLen = 0;
    } else if (this.tasksDone > this.alreadyDone) {
      this.stream.write(`[progress] ${this.line()}\n`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Downloads (steel collect): per file and overall (bytes, rate, ETA). On a terminal a block of bars is redrawn in
// place; otherwise one line per file start/finish and an overall line every `intervalMs`.

export type ProgressMode = 'tty' | 'lines' | 'none';

interface Active {
  label: string;
  size?: number;
  done: number;
  start: number;
  startBytes: number;
}

/** Rate over a sliding window of recent samples (bytes/s). */
class Rate {
  private samples: [number, number][] = [];
  constructor(private readonly windowMs = 10_000) {}
  add(t: number, total: number) {
    this.samples.push([t, total]);
    while (this.samples.length > 2 && t - this.samples[0]![0] > this.windowMs) this.samples.shift();
  }
  get(): number {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0]!;
    const [t1, b1] = this.samples[this.samples.length - 1]!;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

export class CollectProgress {
  readonly mode: ProgressMode;
  private active = new Map<string, Active>();
  private bytes = 0;
  /** Bytes already on disk before this run (resumed or skipped), not counted in the rate. */
  private preexisting = 0;
  private filesDone = 0;
  private filesFailed = 0;
  private readonly start = Date.now();
  private readonly rate = new Rate();
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;

  constructor(
    private readonly label: string,
    private totalBytes: number,
    private readonly totalFiles: number,
    opts: { mode?: ProgressMode | 'auto'; stream?: NodeJS.WriteStream; intervalMs?: number } = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    const m = opts.mode ?? 'auto';
    this.mode = m === 'auto' ? (this.stream.isTTY ? 'tty' : 'lines') : m;
    if (this.mode === 'none') return;
    const every = this.mode === 'tty' ? 200 : (opts.intervalMs ?? 10_000);
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }
  private readonly stream: NodeJS.WriteStream;

  /** Files that need nothing (already verified): counted as done. */
  skipped(bytes: number) {
    this.filesDone++;
    this.preexisting += bytes;
    this.bytes += bytes;
  }

  fileStart(label: string, offset: number, size: number | undefined) {
    this.active.set(label, { label, size, done: offset, start: Date.now(), startBytes: offset });
    this.preexisting += offset;
    this.bytes += offset;
    if (this.mode === 'lines') {
      this.print(
        `[collect] ${label}: start${offset ? ` (resuming at ${fmtBytes(offset)})` : ''}${size !== undefined ? `, ${fmtBytes(size)}` : ''}`,
      );
    }
  }

  addTotal(bytes: number) {
    this.totalBytes += bytes;
  }

  fileBytes(label: string, n: number) {
    const a = this.active.get(label);
    if (a) a.done += n;
    this.bytes += n;
  }

  /** Bytes thrown away (restart or refetch). */
  fileReset(label: string, n: number) {
    const a = this.active.get(label);
    if (a) {
      a.done -= n;
      a.startBytes = Math.min(a.startBytes, a.done);
    }
    this.bytes -= n;
  }

  fileDone(label: string, ok: boolean, note = '') {
    const a = this.active.get(label);
    this.active.delete(label);
    if (ok) this.filesDone++;
    else this.filesFailed++;
    if (this.mode === 'lines' || (this.mode === 'tty' && !ok)) {
      const el = a ? (Date.now() - a.start) / 1000 : 0;
      const got = a ? a.done - a.startBytes : 0;
      const rate = el > 0 ? ` at ${fmtBytes(got / el)}/s` : '';
      this.print(
        `[collect] ${label}: ${ok ? `done${a ? `, ${fmtBytes(a.done)}${rate}` : ''}` : 'FAILED'}${note ? ` ${note}` : ''}`,
      );
    }
  }

  log(line: string) {
    if (this.mode !== 'none') this.print(line);
  }

  overall(): string {
    const el = (Date.now() - this.start) / 1000;
    const rate = this.rate.get();
    const left = this.totalBytes - this.bytes;
    const eta = rate > 0 && left > 0 ? fmtDuration(left / rate) : left <= 0 ? '0s' : '?';
    const pct = this.totalBytes > 0 ? ` (${((100 * this.bytes) / this.totalBytes).toFixed(1)}%)` : '';
    const failed = this.filesFailed ? `, ${this.filesFailed} failed` : '';
    return (
      `${this.label}: ${this.filesDone}/${this.totalFiles} files${failed}, ${fmtBytes(this.bytes)} / ${fmtBytes(this.totalBytes)}${pct}, ` +
      `${fmtBytes(rate)}/s, ETA ${eta}, elapsed ${fmtDuration(el)}`
    );
  }

  private fileLine(a: Active, width: number): string {
    const el = (Date.now() - a.start) / 1000;
    const rate = el > 0 ? (a.done - a.startBytes) / el : 0;
    const frac = a.size ? Math.min(1, a.done / a.size) : 0;
    const barW = 20;
    const bar = a.size ? `${fmtBar(frac, barW)} ${(frac * 100).toFixed(0).padStart(3)}%` : '[ ?? ]';
    const eta = a.size && rate > 0 ? fmtDuration((a.size - a.done) / rate) : '?';
    const s = `  ${bar} ${fmtBytes(a.done)}${a.size ? '/' + fmtBytes(a.size) : ''} ${fmtBytes(rate)}/s ETA ${eta} ${a.label}`;
    return s.length > width ? s.slice(0, width) : s;
  }

  private clear() {
    if (this.drawn > 0) this.stream.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw() {
    const width = (this.stream.columns || 120) - 1;
    const frac = this.totalBytes > 0 ? Math.min(1, Math.max(0, this.bytes / this.totalBytes)) : 0;
    const head = `${fmtBar(frac, 30)} ${this.overall()}`;
    const lines = [head.slice(0, width), ...[...this.active.values()].slice(0, 16).map((a) => this.fileLine(a, width))];
    this.stream.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }

  private print(line: string) {
    if (this.mode === 'tty') {
      this.clear();
      this.stream.write(line + '\n');
      this.draw();
    } else this.stream.write(line + '\n');
  }

  private tick() {
    this.rate.add(Date.now(), this.bytes - this.preexisting);
    if (this.mode === 'tty') {
      this.clear();
      this.draw();
    } else if (this.mode === 'lines') this.print(`[collect] ${this.overall()}`);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty') this.clear();
  }
}
