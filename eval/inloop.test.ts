import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeShards } from '../train/testutil.ts';
import { train } from '../train/trainer.ts';
import { getPreset } from '../train/config.ts';
import { openModel } from '../train/load.ts';
import { evaluate } from '../train/evaluate.ts';
import { writeFixtures } from './fixtures.ts';
import { makeInLoopEval } from './inloop.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test('steel train --eval-every: held-out perplexity and a C-Eval subset in metrics.jsonl; training numbers unchanged', async () => {
  const dir = tmpDir('steel-inloop-');
  try {
    makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 20, seed: 4 });
    makeShards(join(dir, 'heldout'), { shards: 1, docsPerShard: 8, seed: 99 });
    writeFixtures(join(dir, 'bench'));
    const p = getPreset('small'); // compact vocabulary with an unk class: the Qwen-tokenized questions map onto it
    const hyper = { ...p.train, microBatch: 2, logEvery: 1 };
    const evalHook = makeInLoopEval({
      dataDir: join(dir, 'heldout'),
      maxBlocks: 3,
      tasks: ['ceval'],
      benchDir: join(dir, 'bench'),
      limit: 1,
    });
    const a = await train({
      model: p.model,
      hyper,
      dataDir: join(dir, 'data'),
      outDir: join(dir, 'a'),
      backend: 'cpu',
      steps: 4,
      quiet: true,
      evalEvery: 3,
      evalHook,
    });
    const b = await train({
      model: p.model,
      hyper,
      dataDir: join(dir, 'data'),
      outDir: join(dir, 'b'),
      backend: 'cpu',
      steps: 4,
      quiet: true,
    });
    assert.equal(a.loss, b.loss); // evaluating does not disturb training
    const rows = readFileSync(join(dir, 'a', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const evals = rows.filter((r) => r.kind === 'eval');
    assert.deepEqual(
      evals.map((r) => [r.step, r.split ?? r.task]),
      [
        [3, 'heldout'],
        [3, 'ceval'],
        [4, 'heldout'],
        [4, 'ceval'],
      ],
    );
    // the step-4 held-out row is the perplexity of the final checkpoint
    const m = await openModel(join(dir, 'a'));
    const ref = await evaluate(m.backend, m.vocabIds, join(dir, 'heldout'), { maxBlocks: 3 });
    assert.ok(Math.abs(evals[2].loss - ref.loss) < 1e-9, `${evals[2].loss} vs ${ref.loss}`);
    assert.equal(evals[3].items, 5); // first item of each of the 5 fixture subjects
    assert.equal(evals[3].protocol, 'loglik');
    assert.ok(evals[3].acc >= 0 && evals[3].acc <= 1);
    assert.deepEqual(Object.keys(evals[3].categories).sort(), [
      'Hard',
      'Humanities',
      'Other',
      'STEM',
      'Social Science',
    ]);
    assert.throws(() => makeInLoopEval({}), /--eval-every needs --eval-data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
