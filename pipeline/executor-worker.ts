/**
 * Worker process of the LocalExecutor (started as pipeline/node-entry.ts says). Receives tasks over IPC, runs them one
 * at a time, writes each completion marker, and reports done/error/log/progress messages back to the parent.
 */
import { runOneTask } from './executor.ts';
import type { TaskSpec, TaskContext } from './executor-types.ts';

interface TaskMsg {
  type: 'task';
  rank: number;
  world: number;
  spec: TaskSpec;
  name: string;
  stateDir: string;
}

function send(msg: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

process.on('disconnect', () => process.exit(0));

process.on('message', async (msg: TaskMsg | { type: 'exit' }) => {
  if (msg.type === 'exit') {
    // not synchronously: an 'exit' that arrived before this listener was attached is delivered from a loop over the
    // channel's pending messages, which fails if the channel is gone when it returns
    setImmediate(() => process.disconnect());
    return;
  }
  const { rank, world } = msg;
  let last = 0;
  const ctx: TaskContext = {
    rank,
    world,
    log: (message) => void send({ type: 'log', rank, message }),
    progress: (done, total) => {
      const now = Date.now();
      if (now - last < 200 && (total === undefined || done < total)) return;
      last = now;
      void send({ type: 'progress', rank, done, total });
    },
  };
  try {
    const marker = await runOneTask(msg.spec, msg.name, msg.stateDir, rank, world, ctx);
    await send({ type: 'done', rank, marker });
  } catch (e) {
    const err = e as Error;
    await send({ type: 'error', rank, message: err?.message ?? String(e), stack: err?.stack });
  }
});
