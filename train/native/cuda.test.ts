// CUDA backend tests. Without the built addon (train/native/build/steel_cuda.node; CI machines have no nvcc and no GPU)
// the GPU tests are skipped, saying so. Once the addon is built they run, and fail (not skip) when it does not load or
// finds no usable GPU. On a GPU host: train/native/build.sh, then node scripts/run-tests.mjs train/native (the full
// parity/benchmark suite is train/native/run-gpu-checks.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CpuBackend } from '../backends/cpu.ts';
import { getPreset, paramShapes } from '../config.ts';
import { addonPath, available, CudaBackend, loadAddon } from './index.ts';

/** loadAddon's error for an addon path that does not exist (taken before anything loads, and caches, the real addon). */
function missingAddonError(): string {
  const saved = process.env.STEEL_CUDA_ADDON;
  process.env.STEEL_CUDA_ADDON = '/nonexistent/steel-test/steel_cuda.node';
  try {
    loadAddon();
    return 'loadAddon did not throw';
  } catch (e) {
    return (e as Error).message;
  } finally {
    if (saved === undefined) delete process.env.STEEL_CUDA_ADDON;
    else process.env.STEEL_CUDA_ADDON = saved;
  }
}
const missingError = missingAddonError();

const addon = addonPath();
const built = existsSync(addon);
if (!built)
  console.log(`# SKIP CUDA backend tests: the native addon is not built (${addon} is missing; train/native/build.sh)`);
const opts = built ? {} : { skip: `native addon not built (${addon} is missing)` };

function rel(a: Float32Array, b: Float32Array): number {
  let n = 0,
    d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / Math.max(d, 1e-30));
}

test('a missing native addon is a clear error naming the file and how to build it', () => {
  assert.equal(
    missingError,
    'cuda backend: native addon not built (/nonexistent/steel-test/steel_cuda.node is missing; run train/native/build.sh on a GPU host)',
  );
});

test('the built addon loads and finds a usable GPU', opts, () => {
  const a = available();
  assert.ok(a.ok, `${addon} is built but does not load: ${a.reason}`);
  const be = new CudaBackend(getPreset('tiny').model);
  assert.ok(be.info(), 'CudaBackend.info() reports the device'); // throws the driver's message when no GPU is usable
});

test('cuda backend matches the CPU backend on the tiny model (loss, logits, grads, AdamW step)', opts, async () => {
  const cfg = getPreset('tiny').model;
  const cpu = new CpuBackend(cfg, { threads: 1 }),
    gpu = new CudaBackend(cfg);
  await cpu.init(3);
  await gpu.init(3);
  const B = 2,
    T = cfg.seqLen;
  const toks = new Int32Array(B * (T + 1)).map((_, i) => (i * 7 + 3) % cfg.vocabSize);
  const lc = await cpu.forwardBackward(toks, B, T),
    lg = await gpu.forwardBackward(toks, B, T);
  assert.ok(Math.abs(lc - lg) / lc < 5e-3, `loss cpu ${lc} gpu ${lg}`);
  assert.ok(rel(await gpu.forward(toks.subarray(0, T), 1, T), await cpu.forward(toks.subarray(0, T), 1, T)) < 1e-2);
  for (const p of paramShapes(cfg)) {
    if (p.shape.length === 1 && p.shape[0] === 1) continue; // the Soft-MoE scale is a cancelling sum: bf16 noise
    const e = rel(await gpu.getGrad(p.name), await cpu.getGrad(p.name));
    assert.ok(e < 3e-2, `${p.name}: grad rel err ${e}`);
  }
  const o = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05, gradClip: 1 };
  const nc = await cpu.step(o),
    ng = await gpu.step(o);
  assert.ok(Math.abs(nc - ng) / nc < 1e-2, `grad norm cpu ${nc} gpu ${ng}`);
  const name = paramShapes(cfg)[1].name;
  assert.ok(rel(await gpu.getParam(name), await cpu.getParam(name)) < 1e-2);
});

test('cuda backend rejects bad input with a JS exception', opts, async () => {
  const cfg = getPreset('tiny').model;
  const gpu = new CudaBackend(cfg);
  await gpu.init(1);
  await assert.rejects(() => gpu.forwardBackward(new Int32Array(5), 2, 16), /expected 2x17 tokens/);
  const bad = new Int32Array(2 * 17).fill(cfg.vocabSize + 3);
  await assert.rejects(() => gpu.forwardBackward(bad, 2, 16), /outside the vocabulary/);
  await assert.rejects(() => gpu.setParam('nope', new Float32Array(1)), /no parameter named/);
});

test(
  'KV-cache decoding on the GPU matches the CPU decoder (logits per step, greedy ids, context limit)',
  opts,
  async () => {
    for (const name of ['tiny', 'tiny-dense']) {
      const cfg = getPreset(name).model;
      const cpu = new CpuBackend(cfg, { threads: 1 }),
        gpu = new CudaBackend(cfg);
      await cpu.init(5);
      await gpu.init(5);
      const prompt = Int32Array.from({ length: 6 }, (_, i) => (i * 5 + 2) % cfg.vocabSize);
      const sc = cpu.startDecode(10),
        sg = gpu.startDecode(10);
      // prefill (Soft-MoE over the prompt), one token, then a 2-token feed mid-way
      for (const feed of [prompt, [3], [4, 7]]) {
        const e = rel(await sg.feed(feed), await sc.feed(feed));
        assert.ok(e < 2e-2, `${name}: logits rel err ${e} after feeding ${feed.length}`);
      }
      assert.equal(sg.length, 9);
      await assert.rejects(() => sg.feed([1, 2]), /context full/);
      sg.dispose();
      sc.dispose();
      const bs = gpu.startBatchDecode(2, 8);
      const two = Int32Array.from([...prompt, ...prompt.map((t) => (t + 1) % cfg.vocabSize)]);
      const lg = bs.feed(two, 6),
        ids = bs.feedGreedy(Int32Array.from([1, 2]), 1);
      assert.equal(lg.length, 2 * cfg.vocabSize);
      assert.equal(ids.length, 2);
      bs.dispose();
      assert.throws(() => bs.feed(two, 6), /disposed/);
      await gpu.dispose();
    }
  },
);
