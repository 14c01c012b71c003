/**
 * Executors run `count` tasks of one named step. A task is a function exported by a module:
 *   export async function myTask(rank: number, world: number, args: A, ctx: TaskContext): Promise<Record<string, unknown>>
 * It runs in a worker process (local executor) or a Slurm array job. The returned stats are written with the
 * completion marker `${doneDir}/${rank}.json`; a rerun skips ranks that have a marker.
 */
export interface TaskSpec {
  /** Absolute path of the module's .ts source as seen from the running code (workers load it through moduleFile). */
  module: string;
  /** Name of the exported task function. */
  fn: string;
  /** JSON-serialisable arguments passed to every rank. */
  args: unknown;
}

export interface TaskContext {
  rank: number;
  world: number;
  log(message: string): void;
  /** Report progress (units of work done so far, e.g. bytes or documents) for the progress display. */
  progress(done: number, total?: number): void;
}

export interface RunTasksOptions {
  /** Step name; markers go to `${stateDir}/${name}/`. */
  name: string;
  /** Folder for completion markers and task logs. */
  stateDir: string;
  count: number;
  /** Max tasks running at once (local executor: worker processes). */
  workers: number;
}

export interface Executor {
  runTasks(spec: TaskSpec, opts: RunTasksOptions): Promise<Record<string, unknown>[]>;
}
