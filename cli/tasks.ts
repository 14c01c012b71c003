/**
 * The task registry: every executor task of every area, by name (composition root; pipeline/ does not import the
 * areas above it). Worker processes and Slurm array tasks resolve the task they are sent by name here
 * (cli/worker.ts). To add a task: `defineTask('area.name', fn)` next to its code, add it to the area's list, and
 * the list here.
 */
import { taskRegistry } from '../pipeline/task.ts';
import { pipelineTasks } from '../pipeline/tasks.ts';
import { dedupTasks } from '../dedup/tasks.ts';
import { tokenizerTasks } from '../tokenizer/tasks.ts';
import { operators } from './operators.ts';

export const tasks = taskRegistry([...pipelineTasks(operators), ...dedupTasks, ...tokenizerTasks]);

/** Name → task type (its args and result): `Tasks['dedup.buckets']`. */
export type Tasks = typeof tasks;
