/**
 * Typed executor tasks. A task is defined once, next to the code it runs:
 *
 *   export const squareTask = defineTask('demo.square', async (rank, world, args: { n: number }, ctx) => ({ sq: rank * rank }));
 *
 * and run through an executor by its definition, never by a module path or a function name:
 *
 *   const results = await executor.runTasks(squareTask, { n: 3 }, { name: 'sq', stateDir, count: 4, workers: 2 });
 *   results[0].sq; // typed: renaming a result field (or the task) fails to compile here
 *
 * Worker processes (local or Slurm) receive only the task's name and look it up in the task registry assembled at the
 * composition root (cli/tasks.ts; the worker entry is cli/worker.ts). pipeline/ itself never imports the areas above it.
 */

export interface TaskContext {
  rank: number;
  world: number;
  log(message: string): void;
  /** Report progress (units of work done so far, e.g. bytes or documents) for the progress display. */
  progress(done: number, total?: number): void;
}

/**
 * What a task returns: its stats, stored in the completion marker and sent from worker to parent as JSON, so plain
 * data only (numbers, strings, booleans, null, arrays and objects of those).
 */
export type TaskResult = object;

export type TaskFn<A, R extends TaskResult> = (rank: number, world: number, args: A, ctx: TaskContext) => Promise<R>;

/** A task: a unique name (how workers find it) and the function run for every rank. */
export interface Task<N extends string = string, A = any, R extends TaskResult = any> {
  readonly name: N;
  readonly run: TaskFn<A, R>;
}

export type TaskArgsOf<T> = T extends Task<string, infer A, TaskResult> ? A : never;
export type TaskResultOf<T> = T extends Task<string, unknown, infer R> ? R : never;

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

/** Define a task. Names are `area.task` (lower case, dot-separated), unique in the registry. */
export function defineTask<const N extends string, A, R extends TaskResult>(name: N, run: TaskFn<A, R>): Task<N, A, R> {
  if (!NAME.test(name))
    throw new Error(`task name "${name}" must look like "area.task" (lower case, dots between parts)`);
  return Object.freeze({ name, run });
}

/** Name → task, typed: `Registry['dedup.buckets']` is that task's type (its args and result). */
export type TaskRegistry<T extends Task = Task> = { readonly [K in T['name']]: Extract<T, { name: K }> };

/**
 * Assemble a registry from the areas' task lists (`taskRegistry([...dedupTasks, ...tokenizerTasks])`); a name
 * defined twice is an error.
 */
export function taskRegistry<const T extends readonly Task[]>(tasks: T): TaskRegistry<T[number]> {
  const out: Record<string, Task> = {};
  for (const t of tasks) {
    if (out[t.name] && out[t.name] !== t) throw new Error(`task "${t.name}" is defined twice`);
    out[t.name] = t;
  }
  return Object.freeze(out) as TaskRegistry<T[number]>;
}

/** The task a worker was asked to run, by name; a clear error when this registry has no such task. */
export function resolveTask(registry: Readonly<Record<string, Task>>, name: string): Task {
  const t = Object.prototype.hasOwnProperty.call(registry, name) ? registry[name] : undefined;
  if (!t)
    throw new Error(
      `unknown task "${name}" (this worker's registry has: ${Object.keys(registry).sort().join(', ') || 'none'})`,
    );
  return t;
}
