/**
 * Completion markers and resume, written once for every executor (local and Slurm): a finished rank leaves
 * `${stateDir}/${step}/${rank}.json` (written atomically, holding the task's result); a rerun skips the ranks that have
 * one and takes their results from it, and refuses markers of a run with another task count.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './fsutil.ts';
import type { Task, TaskContext, TaskResult } from './task.ts';
import type { TaskUsage } from './executor-types.ts';

/** What a completion marker `${stateDir}/${name}/${rank}.json` holds. */
export interface TaskMarker<R extends TaskResult = Record<string, unknown>> {
  name: string;
  rank: number;
  world: number;
  seconds: number;
  /** CPU time (user + system) of the process while it ran the task. */
  cpu_seconds: number;
  /** Peak resident set size of the process that ran the task, as of the task's end. */
  peak_rss_bytes: number;
  finishedAt: string;
  stats: R;
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
    const lines = failures.sort((a, b) => a.rank - b.rank).map((f) => `  rank ${f.rank}: ${f.message}`);
    super(`step "${step}": ${failures.length} of ${count} task(s) failed:\n${lines.join('\n')}`);
    this.name = 'TaskFailedError';
  }
}

export function markerPath(stateDir: string, name: string, rank: number): string {
  return join(stateDir, name, `${rank}.json`);
}

/** Read a completion marker; undefined when absent or unreadable. */
export function readMarker<R extends TaskResult = Record<string, unknown>>(path: string): TaskMarker<R> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TaskMarker<R>;
  } catch {
    return undefined;
  }
}

/** A step's state before it runs: the results of finished ranks and the ranks still to run. */
export interface StepProgress<R> {
  /** results[rank]: the result of a finished rank, undefined for a pending one. */
  results: (R | undefined)[];
  pending: number[];
}

/** Scan a step's markers (resume): finished ranks are not run again; markers of another task count are an error. */
export function scanMarkers<R extends TaskResult>(stateDir: string, name: string, count: number): StepProgress<R> {
  if (!Number.isInteger(count) || count < 0) throw new Error(`runTasks: bad task count ${count}`);
  const results: (R | undefined)[] = new Array(count).fill(undefined);
  const pending: number[] = [];
  for (let r = 0; r < count; r++) {
    const m = readMarker<R>(markerPath(stateDir, name, r));
    if (m) {
      if (m.world !== count) {
        throw new Error(
          `step "${name}": ${join(stateDir, name)} holds markers of a run with ${m.world} tasks, this run has ${count}; ` +
            `rerun with the same settings or remove that folder`,
        );
      }
      results[r] = m.stats;
    } else pending.push(r);
  }
  return { results, pending };
}

/** The line every executor logs when a step resumes with some ranks already done. */
export function resumeLine(name: string, count: number, pending: number): string {
  return `[${name}] resuming: ${count - pending} of ${count} task(s) already done`;
}

/**
 * Run one rank of a task, then write its completion marker atomically. Shared by the in-process path, the local
 * worker processes and the Slurm array tasks.
 */
export async function runOneTask<A, R extends TaskResult>(
  task: Task<string, A, R>,
  args: A,
  name: string,
  stateDir: string,
  rank: number,
  world: number,
  ctx: TaskContext,
  /** Called after the task returned, before its marker is written (the Slurm task's test fault hook). */
  beforeMarker?: () => void,
): Promise<TaskMarker<R>> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const stats = ((await task.run(rank, world, args, ctx)) ?? {}) as R;
  beforeMarker?.();
  const c = process.cpuUsage(c0);
  const marker: TaskMarker<R> = {
    name,
    rank,
    world,
    seconds: (performance.now() - t0) / 1000,
    cpu_seconds: (c.user + c.system) / 1e6,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    finishedAt: new Date().toISOString(),
    stats,
  };
  writeFileAtomic(markerPath(stateDir, name, rank), JSON.stringify(marker, null, 1) + '\n');
  return marker;
}

/** The usage record of a finished task's marker. */
export function usageOf(m: TaskMarker<TaskResult>, inProcess: boolean): TaskUsage {
  return {
    step: m.name,
    rank: m.rank,
    seconds: m.seconds,
    cpu_seconds: m.cpu_seconds ?? 0,
    peak_rss_bytes: m.peak_rss_bytes ?? 0,
    in_process: inProcess,
  };
}
