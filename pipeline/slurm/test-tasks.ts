/** Task functions used by pipeline/slurm/slurm.test.ts (run inside Slurm array jobs). */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskContext } from '../executor-types.ts';

interface Args {
  dir: string;
  failRank?: number;
  sleepMs?: number;
}

export async function square(rank: number, world: number, args: Args, ctx: TaskContext) {
  appendFileSync(join(args.dir, 'runs.txt'), `${rank}\n`);
  ctx.log(`hello from ${rank}`);
  ctx.progress(1, 2);
  if (args.sleepMs) await new Promise((r) => setTimeout(r, args.sleepMs));
  if (rank === args.failRank) throw new Error(`boom in rank ${rank}`);
  writeFileSync(join(args.dir, `out-${rank}.txt`), `${rank * rank}\n`);
  ctx.progress(2, 2);
  return { rank, world, square: rank * rank, job: process.env.SLURM_ARRAY_JOB_ID ?? null, extra: process.env.STEEL_TEST_EXTRA ?? null };
}
