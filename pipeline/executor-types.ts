/**
 * Executors run `count` tasks (ranks 0..count-1) of one named step. A task is a typed definition from
 * pipeline/task.ts (`defineTask`); it runs in this process, in a worker process (local executor) or in a Slurm array
 * job. Each finished rank leaves a completion marker `${stateDir}/${name}/${rank}.json` holding its result, and a
 * rerun skips ranks that have one (pipeline/markers.ts, shared by both executors).
 */
import type { Task, TaskResult } from './task.ts';

export type { TaskContext } from './task.ts';

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
  /** Run every rank of `task` with the same `args`; the results come back in rank order. */
  runTasks<A, R extends TaskResult>(task: Task<string, A, R>, args: NoInfer<A>, opts: RunTasksOptions): Promise<R[]>;
}
