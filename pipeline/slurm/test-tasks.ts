/** The task used by pipeline/slurm/slurm.test.ts (served by the worker entry slurm/test-worker.ts). */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask } from '../task.ts';
import { testHooks } from '../settings.ts';

interface Args {
  dir: string;
  failRank?: number;
  sleepMs?: number;
}

export const squareTask = defineTask('test.slurm-square', async (rank, world, args: Args, ctx) => {
  appendFileSync(join(args.dir, 'runs.txt'), `${rank}\n`);
  ctx.log(`hello from ${rank}`);
  ctx.progress(1, 2);
  if (args.sleepMs) await new Promise((r) => setTimeout(r, args.sleepMs));
  if (rank === args.failRank) throw new Error(`boom in rank ${rank}`);
  writeFileSync(join(args.dir, `out-${rank}.txt`), `${rank * rank}\n`);
  ctx.progress(2, 2);
  return {
    rank,
    world,
    square: rank * rank,
    job: process.env.SLURM_ARRAY_JOB_ID ?? null,
    extra: testHooks().echo ?? null,
  };
});
