import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWarmUp } from './worker.ts';

/** A warm-up of `n` steps that records each step it runs and whether it was closed early. */
function steps(n: number, log: string[], failAt = -1) {
  return (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new Error('step failed');
        log.push(`step ${i}`);
        yield;
      }
    } finally {
      log.push('closed');
    }
  })();
}

test('runWarmUp runs every step, one per turn of the event loop, then resolves', async () => {
  const log: string[] = [];
  const done = runWarmUp(steps(3, log), () => false);
  // nothing runs synchronously: a task message already read would be handled first
  assert.deepEqual(log, []);
  await done;
  assert.deepEqual(log, ['step 0', 'step 1', 'step 2', 'closed']);
});

test('runWarmUp stops at the first task: the step in progress ends, no other starts', async () => {
  const log: string[] = [];
  let asked = false;
  const done = runWarmUp(
    (async function* () {
      const inner = steps(5, log);
      for (;;) {
        const r = await inner.next();
        if (r.done) return;
        if (log.length === 2) asked = true; // a task came during the second step
        yield;
      }
    })(),
    () => asked,
  );
  await done;
  assert.deepEqual(log, ['step 0', 'step 1']);
});

test('runWarmUp ends quietly at a step that fails', async () => {
  const log: string[] = [];
  await runWarmUp(steps(4, log, 2), () => false);
  assert.deepEqual(log, ['step 0', 'step 1', 'closed']);
});
