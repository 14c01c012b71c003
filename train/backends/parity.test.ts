// Forward/backward parity with PyTorch (fixtures written by scripts/fixtures/torch-fixtures.py):
// dense kind = transformers' Qwen2ForCausalLM, Steel kind = a plain PyTorch Soft-MoE v3 + SENet module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from './cpu.ts';
import { getPreset } from '../config.ts';
import { SafetensorsFile } from '../safetensors.ts';

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

for (const [kind, preset] of [
  ['dense', 'tiny-dense'],
  ['steel', 'tiny'],
] as const) {
  test(`PyTorch parity (${kind} kind): logits, loss and every gradient within 1e-4`, async () => {
    const f = new SafetensorsFile(fileURLToPath(new URL(`../fixtures/torch-${kind}.safetensors`, import.meta.url)));
    const c = getPreset(preset).model;
    const be = new CpuBackend(c);
    let n = 0;
    for (const p of be.params()) {
      assert.ok(f.has(p.name), `fixture lacks ${p.name}`);
      const w = f.float32(p.name);
      assert.equal(w.length, p.size, `${p.name} size`);
      await be.setParam(p.name, w);
      n++;
    }
    // every fixture parameter is one of ours (names match HF / Steel)
    const theirs = [...f.tensors.keys()].filter(
      (k) => !k.startsWith('grad.') && !k.startsWith('input.') && !k.startsWith('output.'),
    );
    assert.equal(theirs.length, n);
    const B = Number(f.metadata.B),
      T = Number(f.metadata.T);
    const tokens = f.int32('input.tokens');
    const inp = new Int32Array(B * T);
    for (let b = 0; b < B; b++) inp.set(tokens.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    const logits = await be.forward(inp, B, T);
    const el = relErr(logits, f.float32('output.logits'));
    assert.ok(el < 1e-4, `logits rel err ${el}`);
    await be.zeroGrad();
    const loss = await be.forwardBackward(tokens, B, T);
    const tl = f.float32('output.loss')[0];
    assert.ok(Math.abs(loss - tl) / tl < 1e-5, `loss ${loss} vs torch ${tl}`);
    let worst = 0;
    for (const p of be.params()) {
      const e = relErr(await be.getGrad(p.name), f.float32('grad.' + p.name));
      worst = Math.max(worst, e);
      assert.ok(e < 1e-4, `grad ${p.name} rel err ${e}`);
    }
    f.close();
  });
}
