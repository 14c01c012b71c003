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

/**
 * Work a local worker may do before its first task comes (cli/bundle.ts: what a prep's first map task loads): an
 * iterator of steps, each `next()` one piece of work. The steps run one at a time, each after a turn of the event
 * loop, and stop at the first task: that task starts when the step in progress is done, and loads what is left itself.
 */
export type WarmUp = () => AsyncIterator<unknown>;

/** Run as the worker this process was started to be (IPC child or Slurm array task). */
export async function runWorker(registry: Readonly<Record<string, TaskLoader>>, warmUp?: WarmUp): Promise<void> {
  if (process.send) {
    serveIpc(registry, warmUp);
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

/**
 * A local worker process: tasks arrive over IPC until the parent says exit or disconnects. `warmUp` runs while none
 * has come (see WarmUp).
 */
export function serveIpc(registry: Readonly<Record<string, TaskLoader>>, warmUp?: WarmUp): void {
  process.on('disconnect', () => process.exit(0));
  let asked = false;
  // tasks run one at a time, in the order they arrive (the parent may send the next before this one is done), the
  // first after the warm-up's step in progress
  let running = warmUp ? runWarmUp(warmUp(), () => asked) : Promise.resolve();
  process.on('message', (msg: ToWorker) => {
    asked = true;
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
 * Runs `steps` one at a time, each after a turn of the event loop (setImmediate: a message already read is handled
 * first), until they end or `stop()`; resolves then. A step that fails ends the warm-up without a word: it only
 * loaded early what a task loads anyway, and the task that needs it meets the failure and reports it.
 */
export function runWarmUp(steps: AsyncIterator<unknown>, stop: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const next = (): void => {
      if (stop()) {
        void steps.return?.().catch(() => undefined);
        return resolve();
      }
      steps.next().then(
        (r) => (r.done ? resolve() : void setImmediate(next)),
        () => resolve(),
      );
    };
    setImmediate(next);
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
