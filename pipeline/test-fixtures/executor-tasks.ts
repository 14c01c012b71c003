/** Tasks used by pipeline/executor.test.ts (served by the worker entry test-fixtures/worker.ts). */
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, taskRegistry, type TaskContext } from '../task.ts';

interface Args {
  dir: string;
  failRank?: number;
  dieRank?: number;
  /** This rank waits (polling) until every rank of the step has started, i.e. until runs.txt has `world` lines. */
  holdRank?: number;
  /** [a, b] pairs: rank a waits (polling) until rank b has finished (fails after 60 s rather than hang). */
  waitFor?: [number, number][];
}

function started(dir: string): number {
  const p = join(dir, 'runs.txt');
  return existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n').length : 0;
}

export const squareTask = defineTask('test.square', async (rank, world, args: Args, ctx) => {
  // a process runs one task at a time, even with the next one already sent to it
  const busy = join(args.dir, `busy-${process.pid}`);
  if (existsSync(busy)) throw new Error(`rank ${rank} started while rank ${readFileSync(busy, 'utf8')} was running`);
  writeFileSync(busy, String(rank));
  try {
    return await square(rank, world, args, ctx);
  } finally {
    rmSync(busy);
  }
});

async function square(rank: number, world: number, args: Args, ctx: TaskContext) {
  appendFileSync(join(args.dir, 'runs.txt'), `${rank}\n`);
  ctx.log(`hello from ${rank}`);
  ctx.progress(1, 1);
  while (rank === args.holdRank && started(args.dir) < world) await new Promise((r) => setTimeout(r, 10));
  for (const [a, b] of args.waitFor ?? []) {
    if (a !== rank) continue;
    const until = Date.now() + 60_000;
    while (!existsSync(join(args.dir, `done-${b}`))) {
      if (Date.now() > until) throw new Error(`rank ${rank}: rank ${b} never finished`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  if (rank === args.failRank) throw new Error(`boom in rank ${rank}`);
  if (rank === args.dieRank) process.exit(3);
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(join(args.dir, `done-${rank}`), '');
  return { rank, world, square: rank * rank, pid: process.pid };
}

/** Not in this worker's registry: asking a worker for it fails clearly. */
export const unregisteredTask = defineTask('test.unregistered', async () => ({}));

export const testTasks = taskRegistry([squareTask]);
