/**
 * THE worker entry: every local worker process (forked by LocalExecutor) and every Slurm array task runs this module.
 * It only loads the task registry and serves it (pipeline/worker.ts); executors find it as WORKER_ENTRY
 * (pipeline/executor.ts). A compiled build runs the JavaScript of this file in its place.
 */
import { runWorker } from '../pipeline/worker.ts';
import { tasks } from './tasks.ts';

await runWorker(tasks);
