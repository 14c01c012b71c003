/**
 * Worker entry of the Slurm tests' array tasks: the composition root's registry plus the test task, with the test
 * hooks the test passed in the job's environment injected (pipeline/test-fixtures/hooks.ts).
 */
import { tasks } from '../../cli/tasks.ts';
import { injectTestHooksFromEnv } from '../test-fixtures/hooks.ts';
import { taskRegistry } from '../task.ts';
import { runWorker } from '../worker.ts';
import { squareTask } from './test-tasks.ts';

injectTestHooksFromEnv();
await runWorker({ ...tasks, ...taskRegistry([squareTask]) });
