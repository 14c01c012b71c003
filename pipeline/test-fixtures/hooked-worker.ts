/** cli/worker.ts for tests: injects the test hooks its parent test passed (./hooks.ts), then serves the same tasks. */
import { tasks } from '../../cli/tasks.ts';
import { runWorker } from '../worker.ts';
import { injectTestHooksFromEnv } from './hooks.ts';

injectTestHooksFromEnv();
await runWorker(tasks);
