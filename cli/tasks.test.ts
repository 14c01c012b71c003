import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapTask } from '../pipeline/map-task.ts';
import { filterTask } from '../dedup/stages/filter.ts';
import { operators } from './operators.ts';
import { tasks } from './tasks.ts';
import { loadTask } from '../pipeline/task.ts';

/** Every module that defines executor tasks; a task defined there but missing from the registry fails here. */
const AREAS = ['../pipeline/global-tasks.ts', '../dedup/tasks.ts', '../tokenizer/tasks.ts'];

test('the task registry holds every task the areas define, each under its own name', async () => {
  const defined = new Set<string>();
  for (const m of AREAS) {
    for (const v of Object.values(await import(m))) {
      if (
        v &&
        typeof v === 'object' &&
        typeof (v as { name?: unknown }).name === 'string' &&
        typeof (v as { run?: unknown }).run === 'function'
      ) {
        const t = v as { name: string };
        defined.add(t.name);
        const load = (tasks as Record<string, () => Promise<unknown>>)[t.name];
        assert.ok(load, `${m}: task "${t.name}" is not registered in cli/tasks.ts`);
        assert.equal(await load(), v, `${m}: cli/tasks.ts loads another task under "${t.name}"`);
      }
    }
  }
  // the map task and the dedup filter resolve recipe operators (a next step's sink) in the composition root's list
  assert.equal(await tasks['pipeline.map'](), mapTask(operators));
  defined.add('pipeline.map');
  assert.equal(await tasks['dedup.filter'](), filterTask(operators));
  defined.add('dedup.filter');
  assert.deepEqual([...defined].sort(), Object.keys(tasks).sort());
  for (const name of Object.keys(tasks)) assert.equal((await loadTask(tasks, name)).name, name);
  assert.ok(defined.has('dedup.signatures') && defined.has('tokenizer.encode'));
});

test('the composition root lists every operator once; the core alone knows only its own', async () => {
  const all = await operators.all();
  for (const name of ['nfkc', 'repartition', 'alnum_ratio', 'minhash_dedup', 'tokenize'])
    assert.ok(all.has(name), name);
  const { pipelineOperators } = await import('../pipeline/registry.ts');
  await assert.rejects(pipelineOperators.get('minhash_dedup'), /unknown operator "minhash_dedup"/);
  assert.equal((await pipelineOperators.get('nfkc')).name, 'nfkc');
});
