/**
 * The task registry: every executor task of every area, by name (composition root; pipeline/ does not import the
 * areas above it). Worker processes and Slurm array tasks load the task they are sent by name here (cli/worker.ts);
 * each entry is a loader, so a worker imports only the modules of the tasks it actually runs (a worker's start-up is
 * Node plus pipeline/worker.ts, see bench/results/startup.md). To add a task: `defineTask('area.name', fn)` next to
 * its code and a loader here under the same name (the types reject a loader filed under another task's name;
 * cli/tasks.test.ts checks that every task an area defines is here).
 */
import { lazyTasks, type TasksOf } from '../pipeline/task.ts';

export const tasks = lazyTasks({
  // the map task resolves recipe operators in the composition root's list
  'pipeline.map': async () =>
    (await import('../pipeline/map-task.ts')).mapTask((await import('./operators.ts')).operators),
  'pipeline.repartition': async () => (await import('../pipeline/global-tasks.ts')).repartitionTask,
  'dedup.signatures': async () => (await import('../dedup/stages/signatures.ts')).signaturesTask,
  'dedup.buckets': async () => (await import('../dedup/stages/buckets.ts')).bucketsTask,
  'dedup.verify-sets': async () => (await import('../dedup/stages/verify.ts')).verifySetsTask,
  'dedup.verify': async () => (await import('../dedup/stages/verify.ts')).verifyTask,
  'dedup.cc': async () => (await import('../dedup/stages/cc.ts')).ccTask,
  'dedup.route': async () => (await import('../dedup/stages/route.ts')).routeTask,
  'dedup.join': async () => (await import('../dedup/stages/join.ts')).joinTask,
  'dedup.reduce': async () => (await import('../dedup/stages/reduce.ts')).reduceTask,
  // the filter opens the next recipe step's sink (tokenization) with the composition root's operators
  'dedup.filter': async () =>
    (await import('../dedup/stages/filter.ts')).filterTask((await import('./operators.ts')).operators),
  'dedup.index': async () => (await import('../dedup/stages/kept-index.ts')).indexTask,
  'tokenizer.encode': async () => (await import('../tokenizer/tasks.ts')).tokenizeTask,
  'tokenizer.scatter': async () => (await import('../tokenizer/tasks.ts')).scatterTask,
  'tokenizer.gather': async () => (await import('../tokenizer/tasks.ts')).gatherTask,
  'tokenizer.count-words': async () => (await import('../tokenizer/tasks.ts')).countWordsTask,
});

/** Name → task type (its args and result): `Tasks['dedup.buckets']`. */
export type Tasks = TasksOf<typeof tasks>;
