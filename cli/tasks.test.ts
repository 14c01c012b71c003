import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tasks } from './tasks.ts';

/** Every module that defines executor tasks; a task defined there but missing from the registry fails here. */
const AREAS = ['../pipeline/map-task.ts', '../pipeline/global-tasks.ts', '../dedup/tasks.ts', '../tokenizer/tasks.ts'];

test('the task registry holds every task the areas define, each under its own name', async () => {
  const defined = new Set<string>();
  for (const m of AREAS) {
    for (const v of Object.values(await import(m))) {
      if (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string' && typeof (v as { run?: unknown }).run === 'function') {
        const t = v as { name: string };
        defined.add(t.name);
        assert.equal((tasks as Record<string, unknown>)[t.name], v, `${m}: task "${t.name}" is not registered in cli/tasks.ts`);
      }
    }
  }
  assert.deepEqual([...defined].sort(), Object.keys(tasks).sort());
  assert.ok(defined.has('pipeline.map') && defined.has('dedup.signatures') && defined.has('tokenizer.encode'));
});
