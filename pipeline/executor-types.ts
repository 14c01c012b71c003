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
  /**
   * An estimate of each rank's work (e.g. its bytes of text): the local executor with several workers starts the
   * largest pending tasks first, so the last to finish is a small one. Results still come back in rank order.
   */
  sizes?: number[];
  /**
   * A kind of each rank's work (e.g. whether its text is Chinese): tasks of one kind share a process's warm-up (code
   * compiled, tables loaded), so the local executor with several workers keeps a lane to the kind it runs while that
   * kind has pending tasks, and gives a lane's first task a kind no other lane runs when there is one. A hint for the
   * order of tasks only.
   */
  kinds?: number[];
  /**
   * The process (pid) each rank would rather run in, or undefined: where its inputs are held in memory (e.g. what an
   * earlier step's task left there). The local executor with several workers gives a lane the first pending task that
   * prefers its process, else the next one, as without; with `kinds` too, this decides. A hint for the order of tasks only.
   */
  prefer?: (number | undefined)[];
}

/** What one task run by an executor used (from its completion marker). */
export interface TaskUsage {
  step: string;
  rank: number;
  seconds: number;
  /** CPU time (user + system) of the process while it ran the task. */
  cpu_seconds: number;
  /** Peak resident set size of the process that ran the task, as of the task's end. */
  peak_rss_bytes: number;
  /** Ran in the executor's own process (its CPU time is then part of that process's). */
  in_process: boolean;
}

export interface Executor {
  /** Run every rank of `task` with the same `args`; the results come back in rank order. */
  runTasks<A, R extends TaskResult>(task: Task<string, A, R>, args: NoInfer<A>, opts: RunTasksOptions): Promise<R[]>;
  /** Every task this executor has run (not those skipped for a completion marker), in the order they finished. */
  readonly usage: TaskUsage[];
  /** Release what the executor keeps between steps (idle worker processes). */
  close?(): void;
  /**
   * The run's steps from now on run one task at a time: let its idle worker processes go now when such steps run in
   * this process (they then exit while the run finishes, not after it), as close() does.
   */
  release?(): void;
}
