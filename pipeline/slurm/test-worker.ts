/** Worker entry of the Slurm tests' array tasks: the composition root's registry plus the test task. */
import { tasks } from '../../cli/tasks.ts';
import { taskRegistry } from '../task.ts';
import { runWorker } from '../worker.ts';
import { squareTask } from './test-tasks.ts';

await runWorker({ ...tasks, ...taskRegistry([squareTask]) });
