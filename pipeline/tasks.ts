/** The executor tasks of this area (map phases and the built-in global ops), for the task registry (cli/tasks.ts). */
import { repartitionTask } from './global-tasks.ts';
import { mapTask } from './map-task.ts';

export const pipelineTasks = [mapTask, repartitionTask] as const;
