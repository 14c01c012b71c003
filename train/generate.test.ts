import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend, type Backend } from './backend.ts';
import { getPreset } from './config.ts';
import { generate, generateBatch, startRaggedDecode } from './generate.ts';

async function tiny(preset: 'tiny' | 'tiny-dense'): Promise<Backend> {
  const be = await loadBackend('cpu', { ...getPreset(preset).model, seqLen: 64, initStd: 0.3 });
  await be.init(7);
  return be;
}

// prompts of different lengths (a ragged batch)
const PROMPTS = [
  [5, 9, 2, 33, 7],
  [11, 3],
  [40, 41, 42, 43, 44, 45, 46, 47, 48],
  [6, 6, 6, 1],
].map((p) => Int32Array.from(p));

for (const kind of ['tiny', 'tiny-dense'] as const) {
  test(`generateBatch (${kind}): each sequence as generate() alone: greedy with stops and bans, seeded sampling`, async () => {
    const be = await tiny(kind);
    const base = { maxTokens: 10, temperature: 0, topP: 1, seed: 0 };
    const free = await generateBatch(be, PROMPTS, base);
    assert.deepEqual(
      free.map((r) => r.length),
      [10, 10, 10, 10],
    );
    assert.ok(new Set(free.map((r) => r.join())).size > 1, 'the prompts lead to different continuations');
    // a stop id that ends sequence 0 at its 3rd token (others end elsewhere or run on), and a ban on sequence 1's first
    const o = { ...base, stopIds: [free[0][2]], banIds: [free[1][0]] };
    const batched = await generateBatch(be, PROMPTS, o);
    for (let b = 0; b < PROMPTS.length; b++)
      assert.deepEqual(batched[b], await generate(be, PROMPTS[b], o), `row ${b}`);
    assert.equal(batched[0].length <= 3, true);
    assert.ok(
      batched.some((r) => r.length === 10),
      'some sequence runs on after another stopped',
    );
    assert.ok(!batched.flat().includes(free[1][0]), 'the banned id is never chosen');
    assert.notDeepEqual(batched[1], free[1]);
    // sampling: each sequence with its own seed, the same tokens as generate() with that seed, whatever the batch
    const s = { maxTokens: 8, temperature: 0.9, topP: 0.9, seed: 0, stopIds: [free[2][1]], seeds: [3, 4, 5, 6] };
    const sampled = await generateBatch(be, PROMPTS, s);
    for (let b = 0; b < PROMPTS.length; b++)
      assert.deepEqual(sampled[b], await generate(be, PROMPTS[b], { ...s, seed: s.seeds[b] }), `sampled row ${b}`);
    assert.deepEqual((await generateBatch(be, PROMPTS.slice(2), { ...s, seeds: [5, 6] }))[1], sampled[3]);
    assert.deepEqual(await generateBatch(be, PROMPTS, s), sampled, 'reproducible');
    // fewer slots than prompts: greedy slots take the next prompt when their sequence ends, sampling decodes in
    // consecutive batches; every row is still the prompt's own
    for (const batch of [1, 3]) {
      assert.deepEqual(await generateBatch(be, PROMPTS, { ...o, batch }), batched, `greedy, ${batch} slots`);
      assert.deepEqual(await generateBatch(be, PROMPTS, { ...s, batch }), sampled, `sampled, batches of ${batch}`);
    }
    await be.dispose();
  });
}

test('ragged decoder on a backend without one: prefill logits per sequence, steps, misuse errors', async () => {
  const be = await tiny('tiny-dense');
  const V = be.config.vocabSize;
  const s = startRaggedDecode(be, 2, 12);
  const l0 = await s.prefill([PROMPTS[0], PROMPTS[1]]);
  const one = be.startDecode!(12);
  assert.deepEqual(l0.subarray(V, 2 * V), await one.feed(PROMPTS[1]));
  const l1 = await s.step([-1, 4]); // sequence 0 has ended
  assert.deepEqual(l1.subarray(V, 2 * V), await one.feed([4]));
  assert.ok(l1.subarray(0, V).every((x) => x === 0));
  await assert.rejects(s.prefill([PROMPTS[0], PROMPTS[1]]), /fresh session/);
  await assert.rejects(s.step([1]), /expected 2 tokens/);
  s.dispose();
  one.dispose();
  // greedy() over more prompts than slots: each prompt's own greedy ids, in prompt order
  const q = startRaggedDecode(be, 2, 16);
  const got = await q.greedy(PROMPTS.slice(0, 3), 4, [], []);
  assert.equal(got.length, 3);
  for (let i = 0; i < 3; i++)
    assert.deepEqual(got[i], await generate(be, PROMPTS[i], { maxTokens: 4, temperature: 0, topP: 1, seed: 0 }));
  await assert.rejects(q.greedy(PROMPTS.slice(0, 3), 4, [], []), /fresh session/);
  q.dispose();
  await assert.rejects(startRaggedDecode(be, 2, 16).greedy([PROMPTS[0]], 4, [], []), /at least 2 prompts/);
  await assert.rejects(
    generateBatch(be, [new Int32Array(0)], { maxTokens: 2, temperature: 0, topP: 1, seed: 0 }),
    /empty prompt/,
  );
  await be.dispose();
});
