import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Executor, RunTasksOptions, TaskContext, TaskSpec } from './executor-types.ts';
import { writeFileAtomic } from './fsutil.ts';
import { moduleFile, nodeEntry } from './node-entry.ts';
import { Progress, type ProgressOptions } from './progress.ts';

/** What a completion marker `${stateDir}/${name}/${rank}.json` holds. */
export interface TaskMarker {
  name: string;
  rank: number;
  world: number;
  seconds: number;
  finishedAt: string;
  stats: Record<string, unknown>;
}

export interface TaskFailure {
  rank: number;
  message: string;
  stack?: string;
}

/** Thrown by runTasks when one or more tasks failed (after every other task finished). */
export class TaskFailedError extends Error {
  constructor(
    readonly step: string,
    readonly failures: TaskFailure[],
    readonly count: number,
  ) {
    const lines = failures
      .sort((a, b) => a.rank - b.rank)
      .map((f) => `  rank ${f.rank}: ${f.message}`);
    super(`step "${step}": ${failures.length} of ${count} task(s) failed:\n${lines.join('\n')}`);
    this.name = 'TaskFailedError';
  }
}

export interface LocalExecutorOptions {
  /**
   * Run tasks in this process instead of worker processes: "auto" (default) runs in-process when workers == 1,
   * "always" / "never" force it. Env STEEL_EXECUTOR=process forces worker processes.
   */
  inProcess?: 'auto' | 'always' | 'never';
  /** Progress display options (unit, quiet...). */
  progress?: ProgressOptions;
  /** Also called for every task log line (besides stderr and the step's log file). */
  onLog?: (rank: number, message: string) => void;
}

export function markerPath(stateDir: string, name: string, rank: number): string {
  return join(stateDir, name, `${rank}.json`);
}

/** Read a completion marker; undefined when absent or unreadable. */
export function readMarker(path: string): TaskMarker | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TaskMarker;
  } catch {
    return undefined;
  }
}

export const WORKER_ENTRY = fileURLToPath(new URL('./executor-worker.ts', import.meta.url));

/**
 * Import the task module and run one task, then write its completion marker atomically.
 * Shared by the in-process path and the worker processes.
 */
export async function runOneTask(
  spec: TaskSpec,
  name: string,
  stateDir: string,
  rank: number,
  world: number,
  ctx: TaskContext,
  /** Called after the task returned, before its marker is written (the Slurm task's test fault hook). */
  beforeMarker?: () => void,
): Promise<TaskMarker> {
  const t0 = performance.now();
  const mod = await import(pathToFileURL(moduleFile(spec.module)).href);
  const fn = mod[spec.fn];
  if (typeof fn !== 'function') throw new Error(`module ${spec.module} has no exported function "${spec.fn}"`);
  const stats = ((await fn(rank, world, spec.args, ctx)) ?? {}) as Record<string, unknown>;
  beforeMarker?.();
  const marker: TaskMarker = {
    name,
    rank,
    world,
    seconds: (performance.now() - t0) / 1000,
    finishedAt: new Date().toISOString(),
    stats,
  };
  writeFileAtomic(markerPath(stateDir, name, rank), JSON.stringify(marker, null, 1) + '\n');
  return marker;
}

type WorkerMsg =
  | { type: 'log'; rank: number; message: string }
  | { type: 'progress'; rank: number; done: number; total?: number }
  | { type: 'done'; rank: number; marker: TaskMarker }
  | { type: 'error'; rank: number; message: string; stack?: string };

/**
 * Runs the tasks of a step on this machine: `workers` child processes (pipeline/executor-worker, started as
 * nodeEntry says), each taking the next pending rank until none is left. A rank with a completion marker is skipped.
 * A failing task is reported with its rank and message; the others still run, then runTasks throws TaskFailedError.
 */
export class LocalExecutor implements Executor {
  constructor(private readonly opts: LocalExecutorOptions = {}) {}

  async runTasks(spec: TaskSpec, o: RunTasksOptions): Promise<Record<string, unknown>[]> {
    if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`runTasks: bad task count ${o.count}`);
    const dir = join(o.stateDir, o.name);
    mkdirSync(dir, { recursive: true });
    const results: (Record<string, unknown> | undefined)[] = new Array(o.count).fill(undefined);
    const pending: number[] = [];
    for (let r = 0; r < o.count; r++) {
      const m = readMarker(markerPath(o.stateDir, o.name, r));
      if (m) {
        if (m.world !== o.count) {
          throw new Error(
            `step "${o.name}": ${dir} holds markers of a run with ${m.world} tasks, this run has ${o.count}; ` +
              `rerun with the same settings or remove that folder`,
          );
        }
        results[r] = m.stats;
      } else pending.push(r);
    }
    const progress = new Progress(o.name, o.count, this.opts.progress, o.count - pending.length);
    if (o.count - pending.length > 0 && pending.length > 0) {
      progress.log(`[${o.name}] resuming: ${o.count - pending.length} of ${o.count} task(s) already done`);
    }
    const logFile = join(dir, 'tasks.log');
    const log = (rank: number, message: string, detail?: string) => {
      const line = `[${o.name} ${rank}/${o.count}] ${message}`;
      try {
        appendFileSync(logFile, `${new Date().toISOString()} ${line}\n${detail ? detail.replace(/^/gm, '    ') + '\n' : ''}`);
      } catch {
        /* logging must never fail a task */
      }
      this.opts.onLog?.(rank, message);
      progress.log(line);
    };
    const failures: TaskFailure[] = [];
    const workers = Math.max(1, Math.min(o.workers || 1, pending.length));
    const mode = process.env.STEEL_EXECUTOR === 'process' ? 'never' : (this.opts.inProcess ?? 'auto');
    const inProcess = mode === 'always' || (mode === 'auto' && (o.workers || 1) <= 1);
    try {
      if (pending.length === 0) return results as Record<string, unknown>[];
      if (inProcess) {
        for (const rank of pending) {
          const ctx: TaskContext = {
            rank,
            world: o.count,
            log: (m) => log(rank, m),
            progress: (d, t) => progress.update(rank, d, t),
          };
          try {
            const marker = await runOneTask(spec, o.name, o.stateDir, rank, o.count, ctx);
            results[rank] = marker.stats;
            progress.taskFinished(rank);
          } catch (e) {
            const err = e as Error;
            failures.push({ rank, message: err?.message ?? String(e), stack: err?.stack });
            log(rank, `FAILED: ${err?.message ?? String(e)}`, err?.stack);
          }
        }
      } else {
        await this.runPool(spec, o, pending, workers, results, failures, progress, log);
      }
    } finally {
      progress.stop();
    }
    if (failures.length) throw new TaskFailedError(o.name, failures, o.count);
    return results as Record<string, unknown>[];
  }

  private runPool(
    spec: TaskSpec,
    o: RunTasksOptions,
    pending: number[],
    workers: number,
    results: (Record<string, unknown> | undefined)[],
    failures: TaskFailure[],
    progress: Progress,
    log: (rank: number, message: string, detail?: string) => void,
  ): Promise<void> {
    const queue = [...pending];
    const entry = nodeEntry(WORKER_ENTRY);
    return new Promise<void>((resolve) => {
      let alive = 0;
      const spawn = () => {
        const child: ChildProcess = fork(entry.file, [], {
          execArgv: entry.execArgv,
          env: { ...process.env, STEEL_WORKER: '1' },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        alive++;
        let current: number | undefined;
        const next = () => {
          const rank = queue.shift();
          if (rank === undefined) {
            current = undefined;
            child.send({ type: 'exit' });
            return;
          }
          current = rank;
          child.send({ type: 'task', rank, world: o.count, spec, name: o.name, stateDir: o.stateDir });
        };
        child.on('message', (msg: WorkerMsg) => {
          switch (msg.type) {
            case 'log':
              log(msg.rank, msg.message);
              break;
            case 'progress':
              progress.update(msg.rank, msg.done, msg.total);
              break;
            case 'done':
              results[msg.rank] = msg.marker.stats;
              progress.taskFinished(msg.rank);
              next();
              break;
            case 'error':
              failures.push({ rank: msg.rank, message: msg.message, stack: msg.stack });
              log(msg.rank, `FAILED: ${msg.message} (stack in tasks.log)`, msg.stack);
              next();
              break;
          }
        });
        let finished = false;
        const onGone = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
          if (finished) return;
          finished = true;
          alive--;
          if (current !== undefined) {
            const why = err ? err.message : signal ? `signal ${signal}` : `exit code ${code}`;
            const message = `worker process ${child.pid} died while running the task (${why})`;
            failures.push({ rank: current, message });
            log(current, `FAILED: ${message}`);
            current = undefined;
            if (queue.length) spawn();
          }
          if (alive === 0) resolve();
        };
        child.on('exit', (code, signal) => onGone(code, signal));
        child.on('error', (err) => onGone(null, null, err));
        next();
      };
      for (let i = 0; i < workers; i++) spawn();
    });
  }
}
