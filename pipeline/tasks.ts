/** The executor tasks of this area (map phases and the built-in global ops), for the task registry (cli/tasks.ts). */
import { repartitionTask } from './global-tasks.ts';
import { mapTask } from './map-task.ts';
import type { OperatorRegistry } from './registry.ts';

/** The map task resolves recipe operators in `operators` (the composition root's list). */
export function pipelineTasks(operators: OperatorRegistry) {
  return [mapTask(operators), repartitionTask] as const;
}
