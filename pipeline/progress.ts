/**
 * Progress display for a step made of tasks: a redrawn bar on a terminal (stderr is a TTY), a one-line log every
 * ~10 s otherwise. Silent when STEEL_QUIET=1 or `quiet` is set.
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

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtDuration(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
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
    const width = 24;
    const filled = Math.round(f * width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% `;
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
