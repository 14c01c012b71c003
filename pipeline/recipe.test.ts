import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { didYouMean, loadRecipe, parseRecipe, resolveSteps, type RecipeInput } from './recipe.ts';
import { OperatorRegistry } from './registry.ts';
import type { GlobalOp, MapOp } from './stage.ts';
import { tmpDir } from './test-fixtures/tmp-dir.ts';

// A length filter shaped like filters/' text_length, a text-changing mapper, and a terminal step shaped like tokenize.
const textLength: MapOp = {
  kind: 'map',
  name: 'text_length',
  description: 'length filter',
  params: z.object({
    rule: z.string().default('text_length'),
    min: z.number().nullable().default(10),
    max: z.number().nullable().default(null),
    min_repeat_length: z.number().int().default(2),
  }),
  create: () => (docs) => docs,
};
const upper: MapOp = {
  kind: 'map',
  name: 'upper',
  description: 'changes text',
  params: z.object({}),
  create: () => (docs) => docs,
};
const tokenize: GlobalOp = {
  kind: 'global',
  name: 'tokenize',
  description: 'writes shards',
  params: z.object({ out: z.string().default('shards') }),
  terminal: true,
  run: async () => ({ outputFiles: [], stats: { read: 0, kept: 0, dropped: {}, rejected: 0 } }),
};
const registry = new OperatorRegistry([async () => ({ ops: [textLength, upper, tokenize] })]);
const resolve = (steps: RecipeInput['steps']) => resolveSteps(parseRecipe({ name: 'r', steps }), registry);

test('did you mean: data-juicer bound names map to min/max, typos to the nearest name', () => {
  const known = ['rule', 'min', 'max', 'langs'];
  assert.equal(didYouMean('min_len', known), 'min');
  assert.equal(didYouMean('max_ratio', known), 'max');
  assert.equal(didYouMean('lang', known), 'langs');
  assert.equal(didYouMean('rulez', known), 'rule');
  assert.equal(didYouMean('tokenizer', known), undefined);
  assert.equal(didYouMean('text_length_filter', ['text_length', 'clean_html']), 'text_length');
  assert.equal(didYouMean('clean_html_mapper', ['text_length', 'clean_html']), 'clean_html');
});

test('unknown parameters are errors naming the step, with a suggestion and the known names', async () => {
  await assert.rejects(resolve([{ op: 'upper' }, { op: 'text_length', params: { min_len: 50 } }]), (e: Error) => {
    assert.match(e.message, /recipe "r" step 2 \(text_length\): unknown parameter "min_len" \(did you mean "min"\?\)/);
    assert.match(e.message, /text_length takes: rule, min, max, min_repeat_length/);
    return true;
  });
  await assert.rejects(
    resolve([{ op: 'upper', params: { x: 1 } }]),
    /unknown parameter "x" \(upper takes: no parameters\)/,
  );
  await assert.rejects(
    resolve([{ op: 'text_lenght' }]),
    /step 1: unknown operator "text_lenght".*\(did you mean "text_length"\?\)/,
  );
  // the names as written still work
  const ok = await resolve([{ op: 'text_length', params: { min: 5, max: 9 } }]);
  assert.deepEqual(ok[0].rawParams, { rule: 'text_length', min: 5, max: 9, min_repeat_length: 2 });
});

test('min above max and negative lengths are refused; equal bounds and null are fine', async () => {
  await assert.rejects(
    resolve([{ op: 'text_length', params: { min: 500, max: 50 } }]),
    /step 1 \(text_length\): bad params: min \(500\) is above max \(50\)/,
  );
  await assert.rejects(resolve([{ op: 'text_length', params: { min: -1 } }]), /min is -1: .*cannot be negative/);
  await assert.rejects(
    resolve([{ op: 'text_length', params: { min_repeat_length: -3 } }]),
    /min_repeat_length is -3: .*cannot be negative/,
  );
  await resolve([{ op: 'text_length', params: { min: 50, max: 50 } }]);
  await resolve([{ op: 'text_length', params: { min: null, max: 0 } }]);
});

test('operator order: nothing that changes documents may follow tokenize', async () => {
  await assert.rejects(
    resolve([{ op: 'text_length' }, { op: 'tokenize' }, { op: 'upper' }]),
    /step 3 \(upper\) comes after step 2 \(tokenize\).*move tokenize after every step that changes or drops documents/,
  );
  // two terminal steps in a row (e.g. shards for two tokenizers) are fine
  await resolve([{ op: 'upper' }, { op: 'tokenize' }, { op: 'tokenize', params: { out: 'shards2' } }]);
});

test('errors name the recipe file', async () => {
  const dir = tmpDir('steel-recipe-');
  const file = join(dir, 'dj.yaml');
  writeFileSync(file, 'name: dj\nsteps:\n  - op: upper\n  - op: text_length\n    params: { max_len: 100 }\n');
  await assert.rejects(resolveSteps(loadRecipe(file), registry), (e: Error) => {
    assert.ok(
      e.message.startsWith(`recipe "dj" (${file}) step 2 (text_length): unknown parameter "max_len"`),
      e.message,
    );
    assert.match(e.message, /did you mean "max"/);
    return true;
  });
});
