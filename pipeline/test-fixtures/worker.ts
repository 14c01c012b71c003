/** Worker entry for pipeline/executor.test.ts: serves the fixture tasks only. */
import { runWorker } from '../worker.ts';
import { testTasks } from './executor-tasks.ts';

await runWorker(testTasks);
