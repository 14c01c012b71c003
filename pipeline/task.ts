/**
 * Typed executor tasks. A task is defined once, next to the code it runs:
 *
 *   export const squareTask = defineTask('demo.square', async (rank, world, args: { n: number }, ctx) => ({
 *     sq: rank * rank,
 *   }));
 *
 * and run through an executor by its definition, never by a module path or a function name:
 *
 *   const results = await executor.runTasks(squareTask, { n: 3 }, { name: 'sq', stateDir, count: 4, workers: 2 });
 *   results[0].sq; // typed: renaming a result field (or the task) fails to compile here
 *
 * Worker processes (local or Slurm) receive only the task's name and load it from the task registry assembled at the
 * composition root (cli/tasks.ts: name → loader, so a worker imports only the modules of the tasks it runs; the
 * worker entry is cli/worker.ts). pipeline/ itself never imports the areas above it.
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

/** How a registry holds a task: a loader, so a worker imports only the modules of the tasks it is sent. */
export type TaskLoader<T extends Task = Task> = () => Promise<T>;

/**
 * Name → loader of that task, typed: `Awaited<ReturnType<Registry['dedup.buckets']>>` is that task's type (its args
 * and result). Workers resolve the name they are sent with loadTask.
 */
export type TaskRegistry<T extends Task = Task> = { readonly [K in T['name']]: TaskLoader<Extract<T, { name: K }>> };

/** Name → task type of a registry: `TasksOf<typeof registry>['dedup.buckets']`. */
export type TasksOf<R> = { readonly [K in keyof R]: R[K] extends TaskLoader<infer T> ? T : never };

/**
 * A registry of tasks already loaded (`taskRegistry([squareTask, cubeTask])`, as tests' worker entries use); a
 * name defined twice is an error. The composition root's registry (cli/tasks.ts) uses lazyTasks instead.
 */
export function taskRegistry<const T extends readonly Task[]>(tasks: T): TaskRegistry<T[number]> {
  const out: Record<string, TaskLoader> = {};
  const seen = new Map<string, Task>();
  for (const t of tasks) {
    if (seen.has(t.name) && seen.get(t.name) !== t) throw new Error(`task "${t.name}" is defined twice`);
    seen.set(t.name, t);
    out[t.name] = () => Promise.resolve(t);
  }
  return Object.freeze(out) as TaskRegistry<T[number]>;
}

/**
 * A registry of loaders by name (`{ 'dedup.cc': async () => (await import('../dedup/stages/cc.ts')).ccTask }`): each
 * module is imported when a worker is first sent that task. The types check that every loader yields the task of its
 * own name (a loader under the wrong name does not compile); loadTask checks it again at run time.
 */
export function lazyTasks<const L extends { readonly [K in keyof L]: TaskLoader<Task<K & string>> }>(loaders: L): L {
  return Object.freeze({ ...loaders });
}

/**
 * The task a worker was asked to run, by name, loaded; a clear error when this registry has no such task (or its
 * loader yields a task of another name).
 */
export async function loadTask(registry: Readonly<Record<string, TaskLoader>>, name: string): Promise<Task> {
  const load = Object.prototype.hasOwnProperty.call(registry, name) ? registry[name] : undefined;
  if (!load)
    throw new Error(
      `unknown task "${name}" (this worker's registry has: ${Object.keys(registry).sort().join(', ') || 'none'})`,
    );
  const t = await load();
  if (t?.name !== name) throw new Error(`task registry: the loader of "${name}" yields task "${t?.name}"`);
  return t;
}
