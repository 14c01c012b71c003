/**
 * Every preset trains on what `steel prep` writes: the test presets (vocab 64) on Qwen-tokenized shards of the
 * bundled sample fall back to a capped compact vocabulary of their size instead of failing on ids up to 151,935.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPipeline, REPO_ROOT } from '../pipeline/runner.ts';
import { OperatorRegistry, PIPELINE_OPS } from '../pipeline/registry.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
import { PRESETS, getPreset } from './config.ts';
import { train } from './trainer.ts';

const operators = new OperatorRegistry([...PIPELINE_OPS, () => import('../tokenizer/ops.ts')]);

test('the vocab-64 presets train a few steps on shards steel prep made from the sample', async () => {
  const dir = tmpDir('steel-presets-prep-');
  const sample = join(REPO_ROOT, 'corpora-manifests', 'sample', 'debian-reference-zh-cn.jsonl.zst');
  await runPipeline({
    recipe: { name: 'prep-and-tokenize', steps: [{ op: 'nfkc' }, { op: 'tokenize' }] },
    inputs: [`sample=${sample}`],
    outDir: join(dir, 'prep'),
    workers: 1,
    quiet: true,
    operators,
    log: () => {},
  });
  const shards = join(dir, 'prep', 'shards');
  assert.ok(JSON.parse(readFileSync(join(shards, 'manifest.json'), 'utf8')).tokenizer.vocab_size > 64);
  const small = Object.keys(PRESETS).filter((n) => getPreset(n).model.vocabSize <= 64);
  assert.deepEqual(small.sort(), ['tiny', 'tiny-dense']);
  for (const name of small) {
    const p = getPreset(name);
    const out = join(dir, name);
    const r = await train({
      model: p.model,
      hyper: { ...p.train, logEvery: 1, ckptEvery: 1000 },
      dataDir: shards,
      outDir: out,
      backend: 'cpu',
      steps: 3,
      quiet: true,
    });
    assert.equal(r.stoppedBy, 'done', name);
    const losses = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).loss as number);
    assert.equal(losses.length, 3, name);
    assert.ok(losses.every(Number.isFinite), `${name}: ${losses}`);
    const vocab = JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8'));
    assert.ok(vocab.size <= 64, `${name}: compact vocabulary of ${vocab.size} ids fits the preset`);
    assert.ok(existsSync(join(out, 'config.json')));
  }
});
