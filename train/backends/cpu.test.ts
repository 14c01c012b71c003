import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend } from './cpu.ts';
import { getPreset, type ModelConfig } from '../config.ts';
import { Rng } from '../rng.ts';

function tokens(c: ModelConfig, B: number, T: number, seed: number): Int32Array {
  const r = new Rng(seed);
  const t = new Int32Array(B * (T + 1));
  for (let i = 0; i < t.length; i++) t[i] = r.int(c.vocabSize);
  t[3] = c.padId; // one ignored target
  return t;
}

async function gradCheck(preset: string): Promise<void> {
  const c = getPreset(preset).model;
  const be = new CpuBackend(c, { dtype: 'float64' });
  await be.init(7);
  // make norms/biases/scale non-trivial so their gradients are exercised
  const r = new Rng(99);
  for (const p of be.params())
    if (!p.name.includes('embed') && (p.name.includes('norm') || p.name.includes('bias') || p.name.endsWith('scale'))) {
      const a = be.paramRaw(p.name);
      for (let i = 0; i < a.length; i++) a[i] += 0.1 * r.normal();
    }
  const B = 2,
    T = 8;
  const tok = tokens(c, B, T, 5);
  await be.zeroGrad();
  be.lossAndGrad(tok, B, T, 1, true);
  let worst = 0,
    checked = 0;
  for (const p of be.params()) {
    const w = be.paramRaw(p.name),
      g = be.gradRaw(p.name);
    const picks = new Set<number>();
    picks.add(0);
    for (let k = 0; k < 3; k++) picks.add(r.int(p.size));
    if (p.name.includes('embed')) picks.add(tok[0] * c.hiddenSize + 1);
    for (const i of picks) {
      const h = 1e-5,
        old = w[i];
      w[i] = old + h;
      const lp = be.lossAndGrad(tok, B, T, 1, false);
      w[i] = old - h;
      const lm = be.lossAndGrad(tok, B, T, 1, false);
      w[i] = old;
      const num = (lp - lm) / (2 * h);
      const err = Math.abs(num - g[i]) / Math.max(1e-6, Math.abs(num) + Math.abs(g[i]));
      if (Math.abs(num - g[i]) > 1e-8) worst = Math.max(worst, err);
      assert.ok(
        err < 1e-5 || Math.abs(num - g[i]) < 1e-8,
        `${preset}: ${p.name}[${i}] analytic ${g[i]} vs numeric ${num}`,
      );
      checked++;
    }
  }
  assert.ok(checked > 50);
}

test('finite-difference gradient check, Steel kind (Soft-MoE v3 + SENet experts)', async () => {
  await gradCheck('tiny');
});
test('finite-difference gradient check, dense kind (SwiGLU, GQA)', async () => {
  await gradCheck('tiny-dense');
});

test('KV-cache decoding: one feed of T tokens is the full forward (both kinds); token by token differs for the Steel kind only', async () => {
  for (const preset of ['tiny-dense', 'tiny']) {
    const c = { ...getPreset(preset).model, initStd: 0.3 }; // large weights so the FFN matters
    const be = new CpuBackend(c);
    await be.init(3);
    const T = 10,
      r = new Rng(1);
    const t = new Int32Array(T);
    for (let i = 0; i < T; i++) t[i] = r.int(c.vocabSize);
    const full = await be.forward(t, 1, T);
    const diff = (a: Float32Array) => {
      let m = 0;
      for (let j = 0; j < c.vocabSize; j++) m = Math.max(m, Math.abs(a[j] - full[(T - 1) * c.vocabSize + j]));
      return m;
    };
    const prefill = be.startDecode(T);
    assert.ok(
      diff(await prefill.feed(t)) < 1e-5,
      `${preset}: prefill of the whole sequence should equal the forward pass`,
    );
    // prefill 6, then 4 single steps: the Steel kind's Soft-MoE then sees the last tokens one at a time
    const steps = be.startDecode(T);
    let last = await steps.feed(t.subarray(0, 6));
    for (let i = 6; i < T; i++) last = await steps.feed([t[i]]);
    assert.equal(steps.length, T);
    if (preset === 'tiny-dense') assert.ok(diff(last) < 1e-5, `dense decode differs by ${diff(last)}`);
    else
      assert.ok(diff(last) > 1e-4, `${diff(last)}: Soft-MoE decode (m=1) should differ from the full-sequence forward`);
  }
});

test('AdamW step: clipping returns the pre-clip norm and moves the loss down', async () => {
  const c = getPreset('tiny').model;
  const be = new CpuBackend(c);
  await be.init(11);
  const tok = tokens(c, 2, 8, 2);
  const opt = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05, gradClip: 1.0 };
  let first = 0,
    last = 0;
  for (let i = 0; i < 15; i++) {
    await be.zeroGrad();
    const l = await be.forwardBackward(tok, 2, 8);
    if (i === 0) first = l;
    last = l;
    const n = await be.step(opt);
    assert.ok(Number.isFinite(n) && n > 0);
  }
  assert.ok(last < first - 0.5, `loss ${first} -> ${last}`);
  const st = await be.getOptimizerState();
  assert.equal(st.step, 15);
});

test('row-parallel GEMM over worker threads is bitwise identical to the serial kernel', async () => {
  const { gemmSerial, gemmABt } = await import('./ops.ts');
  const { setCpuThreads } = await import('./pool.ts');
  const r = new Rng(4);
  for (const [N, M, K, acc] of [
    [203, 1031, 64, false],
    [256, 515, 96, true],
  ] as const) {
    const A = Float32Array.from({ length: N * K }, () => r.normal()),
      B = Float32Array.from({ length: M * K }, () => r.normal());
    const init = Float32Array.from({ length: N * M }, () => r.normal());
    const c1 = Float32Array.from(init),
      c2 = Float32Array.from(init);
    gemmSerial(A, B, c1, N, M, K, acc);
    assert.equal(setCpuThreads(3), 3);
    gemmABt(A, B, c2, N, M, K, acc);
    setCpuThreads(1);
    assert.ok(Buffer.from(c1.buffer).equals(Buffer.from(c2.buffer)), `${N}x${M}x${K} differs`);
  }
});

test('finite-difference gradient check of per-token loss weights (0/1 mask, negative DPO-style coefficients) and sequenceLogProbs', async () => {
  for (const preset of ['tiny', 'tiny-dense']) {
    const c = getPreset(preset).model;
    const be = new CpuBackend(c, { dtype: 'float64' });
    await be.init(11);
    const B = 2,
      T = 6,
      r = new Rng(4);
    const tok = tokens(c, B, T, 9);
    const w = new Float32Array(B * T);
    for (let i = 0; i < w.length; i++) w[i] = i % 3 === 0 ? 0 : (i < T ? 0.7 : -0.4) * (1 + 0.1 * (i % 2));
    w[T - 1] = 0; // row 0's last target: never an input either
    await be.zeroGrad();
    const loss = be.weightedLossAndGrad(tok, B, T, w, 1, true).loss;
    // the loss equals -sum over rows of sequenceLogProbs with the same weights
    const seq = await be.sequenceLogProbs(tok, B, T, w);
    assert.ok(Math.abs(loss + seq[0] + seq[1]) < 1e-9 * Math.max(1, Math.abs(loss)), `loss ${loss} vs seq ${[...seq]}`);
    // zero-weight positions do not count: changing their targets leaves the loss unchanged
    const tok2 = tok.slice();
    tok2[T] = (tok2[T] + 1) % c.vocabSize; // target of row 0's last position (weight 0)
    assert.equal(be.weightedLossAndGrad(tok2, B, T, w, 1, false).loss, loss);
    let checked = 0;
    for (const p of be.params()) {
      const a = be.paramRaw(p.name),
        g = be.gradRaw(p.name);
      for (let k = 0; k < 2; k++) {
        const i = r.int(p.size),
          h = 1e-5,
          old = a[i];
        a[i] = old + h;
        const lp = be.weightedLossAndGrad(tok, B, T, w, 1, false).loss;
        a[i] = old - h;
        const lm = be.weightedLossAndGrad(tok, B, T, w, 1, false).loss;
        a[i] = old;
        const num = (lp - lm) / (2 * h);
        const err = Math.abs(num - g[i]) / Math.max(1e-6, Math.abs(num) + Math.abs(g[i]));
        assert.ok(
          err < 1e-5 || Math.abs(num - g[i]) < 1e-8,
          `${preset}: ${p.name}[${i}] analytic ${g[i]} vs numeric ${num}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 20);
    await assert.rejects(() => be.sequenceLogProbs(tok, B, T, new Float32Array(3)), /expected 2x6 values/);
  }
});
