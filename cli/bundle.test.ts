import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepWarmUp } from './bundle.ts';
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
