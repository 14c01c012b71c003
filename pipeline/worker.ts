/**
 * The worker side of the executors. A worker entry module (the composition root's is cli/worker.ts) imports a task
 * registry and calls `runWorker(registry)`; the same entry serves both kinds of worker:
 *
 *  - a local worker process, forked by LocalExecutor with an IPC channel: it receives tasks (a registry name, args,
 *    rank) over IPC, runs them one at a time, writes each completion marker and reports log/progress/done/error back;
 *  - a Slurm array task, started by the job script as `node ENTRY SPEC_FILE RANKS_FILE ARRAY_INDEX`
 *    (pipeline/slurm/slurm-task.ts).
 *
 * Tasks are looked up by name only; the parent never sends module paths or function names.
 */
import { closeSync, openSync } from 'node:fs';
import { runOneTask, type TaskMarker } from './markers.ts';
import { loadTask, type TaskContext, type TaskLoader } from './task.ts';

/** Parent → worker. */
export type ToWorker =
  | {
      type: 'task';
      task: string;
      args: unknown;
      rank: number;
      world: number;
      name: string;
      stateDir: string;
      /**
       * Created (O_EXCL) just before the task starts; when it exists already the parent has taken the task back (to run
       * it elsewhere): the worker answers `skipped` and does not run it.
       */
      claim?: string;
    }
  | { type: 'exit' };

/** Worker → parent. */
export type FromWorker =
  | { type: 'log'; rank: number; message: string }
  | { type: 'progress'; rank: number; done: number; total?: number }
  | { type: 'done'; rank: number; marker: TaskMarker }
  | { type: 'error'; rank: number; message: string; stack?: string }
  | { type: 'skipped'; rank: number };

/** Run as the worker this process was started to be (IPC child or Slurm array task). */
export async function runWorker(registry: Readonly<Record<string, TaskLoader>>): Promise<void> {
  if (process.send) {
    serveIpc(registry);
    return;
  }
  const { runSlurmArrayTask } = await import('./slurm/slurm-task.ts');
  process.exitCode = await runSlurmArrayTask(registry, process.argv.slice(2));
}

function send(msg: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

/** A local worker process: tasks arrive over IPC until the parent says exit or disconnects. */
export function serveIpc(registry: Readonly<Record<string, TaskLoader>>): void {
  process.on('disconnect', () => process.exit(0));
  // tasks run one at a time, in the order they arrive (the parent may send the next before this one is done)
  let running = Promise.resolve();
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'exit') {
      // not synchronously: an 'exit' that arrived before this listener was attached is delivered from a loop over the
      // channel's pending messages, which fails if the channel is gone when it returns
      setImmediate(() => process.disconnect());
      return;
    }
    running = running.then(() => runTask(registry, msg));
  });
}

/**
 * Creates the claim file `path` (O_EXCL): false when it exists, i.e. another lane claimed the task first (the parent
 * took it back, or the worker started it). LocalExecutor's and its workers' one test-and-set.
 */
export function claimFile(path: string): boolean {
  try {
    closeSync(openSync(path, 'wx'));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** One task sent by the parent: run it, write its completion marker, answer done or error. */
async function runTask(
  registry: Readonly<Record<string, TaskLoader>>,
  msg: Extract<ToWorker, { type: 'task' }>,
): Promise<void> {
  const { rank, world } = msg;
  let last = 0;
  const ctx: TaskContext = {
    rank,
    world,
    log: (message) => void send({ type: 'log', rank, message }),
    progress: (done, total) => {
      const now = Date.now();
      if (now - last < 200 && (total === undefined || done < total)) return;
      last = now;
      void send({ type: 'progress', rank, done, total });
    },
  };
  try {
    if (msg.claim !== undefined && !claimFile(msg.claim)) return await send({ type: 'skipped', rank });
    const task = await loadTask(registry, msg.task);
    const marker = await runOneTask(task, msg.args, msg.name, msg.stateDir, rank, world, ctx);
    await send({ type: 'done', rank, marker });
  } catch (e) {
    const err = e as Error;
    await send({ type: 'error', rank, message: err?.message ?? String(e), stack: err?.stack });
  }
}
