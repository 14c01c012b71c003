/** Task functions used by pipeline/executor.test.ts. */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskContext } from '../executor-types.ts';

interface Args {
  dir: string;
  failRank?: number;
  dieRank?: number;
}

export async function square(rank: number, world: number, args: Args, ctx: TaskContext) {
  appendFileSync(join(args.dir, 'runs.txt'), `${rank}\n`);
  ctx.log(`hello from ${rank}`);
  ctx.progress(1, 1);
  if (rank === args.failRank) throw new Error(`boom in rank ${rank}`);
  if (rank === args.dieRank) process.exit(3);
  await new Promise((r) => setTimeout(r, 20));
  return { rank, world, square: rank * rank, pid: process.pid };
}
