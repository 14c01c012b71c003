import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../train/backend.ts';
import { getPreset, UNK_RAW_ID } from '../train/config.ts';
import { checkCausal } from '../train/causal.ts';
import { loadTokenizer } from '../tokenizer/encode.ts';
import { scoreContinuation, BackendModel } from './lm.ts';

async function tiny(preset: 'tiny' | 'tiny-dense', seed = 3) {
  const be = await loadBackend('cpu', { ...getPreset(preset).model, seqLen: 64, initStd: 0.3 }); // at 0.02 the leak is below float32 resolution
  await be.init(seed);
  return be;
}

test("Steel kind: scoring cannot leak a later answer token into an earlier token's score (a one-pass scorer would)", async () => {
  const be = await tiny('tiny');
  const ctx = Int32Array.from([5, 9, 2, 33, 7]);
  const a = Int32Array.from([11, 12, 13, 14]),
    b = Int32Array.from([11, 12, 13, 50]);
  const ra = await scoreContinuation(be, ctx, a, 'incremental'),
    rb = await scoreContinuation(be, ctx, b, 'incremental');
  assert.deepEqual(ra.lps.slice(0, 3), rb.lps.slice(0, 3)); // bit-identical: token 4 cannot reach tokens 1-3
  assert.notEqual(ra.lps[3], rb.lps[3]);
  // the leak is real in one forward pass over the whole sequence (Soft-MoE mixes all positions): that is why
  const leak = await checkCausal(be, { T: 9, position: 8 });
  assert.ok(leak.maxDiffBefore > 0, 'the Steel kind is not causal in a full pass');
  await assert.rejects(scoreContinuation(be, ctx, a, 'full'), /would leak the answer/);
  assert.throws(() => new BackendModel(be, loadTokenizer('qwen'), null, 'x', { scoring: 'full' }), /dense kind only/);
});

test('dense kind: one-pass scoring equals KV-cache scoring', async () => {
  const be = await tiny('tiny-dense');
  const ctx = Int32Array.from([5, 9, 2, 33, 7, 8]);
  const cont = Int32Array.from([11, 40, 13]);
  const inc = await scoreContinuation(be, ctx, cont, 'incremental'),
    full = await scoreContinuation(be, ctx, cont, 'full');
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(inc.lps[i] - full.lps[i]) < 1e-5, `${inc.lps[i]} vs ${full.lps[i]}`);
  assert.equal(inc.greedy, full.greedy);
  const leak = await checkCausal(be, { T: 9, position: 8 });
  assert.equal(leak.maxDiffBefore, 0);
});

test('BackendModel: lm-evaluation-harness context/continuation split, shared prefill = separate scoring, generation', async () => {
  const tk = loadTokenizer('qwen');
  // a compact vocabulary: a few real ids + unk, so a tiny model can read Qwen-tokenized text
  const m0 = new BackendModel(await tiny('tiny-dense'), tk, null, 'probe');
  const ids = [
    ...new Set([...(await m0.encode('答案： A B C D')), ...(await m0.encode(' A')), ...(await m0.encode(' B'))]),
  ];
  const vocabIds = Int32Array.from([
    UNK_RAW_ID,
    ...ids,
    ...Array.from({ length: 64 - 1 - ids.length }, (_, i) => 151000 + i),
  ]).sort();
  for (const kind of ['tiny', 'tiny-dense'] as const) {
    const be = await tiny(kind, 7);
    const m = new BackendModel(be, tk, vocabIds, kind);
    assert.equal(m.scoring, kind === 'tiny-dense' ? 'full' : 'incremental');
    const p = await m.encodePair('问题\n答案： ', 'A');
    assert.deepEqual(p.cont, await m.encode(' A')); // trailing space moves to the continuation
    const reqs = ['A', 'B', 'C', 'D'].map((l) => ({ context: '问题\n答案：', continuation: ` ${l}` }));
    const all = await m.loglik(reqs);
    for (let i = 0; i < 4; i++) {
      const [one] = await m.loglik([reqs[i], { context: 'other', continuation: ' x y' }]);
      assert.ok(Math.abs(one.logprob - all[i].logprob) < 1e-6);
      assert.ok(all[i].logprob < 0);
    }
    const reply = await m.chat([{ role: 'user', content: '答案' }], { maxTokens: 5 });
    const reply2 = await m.generate(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n答案<|im_end|>\n<|im_start|>assistant\n',
      { maxTokens: 5 },
    );
    assert.equal(reply, reply2); // the segment-wise chat encoding equals the whole-text encoding here
    assert.equal(typeof reply, 'string');
    await be.dispose();
  }
});
