/** Tasks used by pipeline/executor.test.ts (served by the worker entry test-fixtures/worker.ts). */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, taskRegistry } from '../task.ts';

interface Args {
  dir: string;
  failRank?: number;
  dieRank?: number;
}

export const squareTask = defineTask('test.square', async (rank, world, args: Args, ctx) => {
  appendFileSync(join(args.dir, 'runs.txt'), `${rank}\n`);
  ctx.log(`hello from ${rank}`);
  ctx.progress(1, 1);
  if (rank === args.failRank) throw new Error(`boom in rank ${rank}`);
  if (rank === args.dieRank) process.exit(3);
  await new Promise((r) => setTimeout(r, 20));
  return { rank, world, square: rank * rank, pid: process.pid };
});

/** Not in this worker's registry: asking a worker for it fails clearly. */
export const unregisteredTask = defineTask('test.unregistered', async () => ({}));

export const testTasks = taskRegistry([squareTask]);
