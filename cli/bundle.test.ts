import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompress as zstdDecompress } from 'fzstd';
import { CACHE_RUN_BYTES, cacheRun, prepWarmUp } from './bundle.ts';
import { DEFAULT_RECIPE } from '../pipeline/runner.ts';
import { loadRecipe } from '../pipeline/recipe.ts';

// A worker runs prepWarmUp's steps quietly (a failure only ends them: pipeline/worker.ts runWarmUp), so a step broken
// by a renamed module or export would go unseen but for this test: every step runs without an error.
test("prepWarmUp's steps all run: the map task, each of the default recipe's steps, jieba, the kernels", async () => {
  let n = 0;
  for await (const _ of prepWarmUp()) n++;
  // the map task's step, one per recipe step, jieba's; the kernels' last piece ends the iteration
  assert.equal(n, 2 + loadRecipe(DEFAULT_RECIPE).steps.length);
});

// scripts/build.mjs runs cacheRun before it writes the code cache (a failure there leaves a cache of the modules only,
// with a warning): the prep runs to its end on the sample's first lines, written as whole lines.
test("cacheRun: a prep of the bundled sample's first lines, in the folder it is given", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-cache-run-test-'));
  try {
    await cacheRun(dir);
    const inputs = readdirSync(join(dir, 'in'));
    assert.equal(inputs.length, 8);
    for (const f of inputs) {
      const text = Buffer.from(zstdDecompress(readFileSync(join(dir, 'in', f))));
      assert.ok(text.length > 0 && text.length <= CACHE_RUN_BYTES + (128 << 10), `${f}: ${text.length} bytes`);
      assert.equal(text.at(-1), 10, `${f} does not end with a whole line`);
      for (const line of text.toString('utf8').trimEnd().split('\n')) JSON.parse(line);
    }
    const stats = JSON.parse(readFileSync(join(dir, 'out', 'stats.json'), 'utf8')) as Record<string, number>;
    assert.ok(stats.read > 100, `read ${stats.read}`);
    assert.equal(stats.read, stats.kept + stats.dropped + stats.rejected);
    assert.ok(stats.kept > 0 && stats.dropped > 0);
    assert.ok(readdirSync(join(dir, 'out', 'shards')).length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
