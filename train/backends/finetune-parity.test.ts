// Fine-tuning losses against PyTorch (fixtures written by scripts/fixtures/torch-finetune-fixtures.py): per-sequence
// summed log-probs, masked mean cross-entropy and the sigmoid DPO loss, with every parameter's gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from './cpu.ts';
import { getPreset } from '../config.ts';
import { SafetensorsFile } from '../safetensors.ts';
import { weightedLoss } from '../backend.ts';
import { dpoLoss, seqLossWeights, sftWeights } from '../objectives.ts';

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
  test(`PyTorch parity (${kind} kind): sequence log-probs, masked CE and DPO loss with every gradient within 1e-4`, async () => {
    const f = new SafetensorsFile(
      fileURLToPath(new URL(`../fixtures/torch-finetune-${kind}.safetensors`, import.meta.url)),
    );
    const be = weightedLoss(new CpuBackend(getPreset(preset).model));
    for (const p of be.params()) await be.setParam(p.name, f.float32(p.name));
    const B = Number(f.metadata.B),
      T = Number(f.metadata.T),
      beta = Number(f.metadata.beta);
    const tokens = f.int32('input.tokens'),
      mask = f.float32('input.mask'),
      ref = f.float32('input.ref');
    const seq = await be.sequenceLogProbs(tokens, B, T, mask);
    assert.ok(
      relErr(seq, f.float32('output.seq_logps')) < 1e-5,
      `seq log-probs ${[...seq]} vs ${[...f.float32('output.seq_logps')]}`,
    );

    let supervised = 0;
    for (const m of mask) supervised += m;
    await be.zeroGrad();
    const sft = await be.forwardBackward(tokens, B, T, 1, sftWeights(mask, supervised));
    const tl = f.float32('output.sft_loss')[0];
    assert.ok(Math.abs(sft - tl) / tl < 1e-5, `sft loss ${sft} vs torch ${tl}`);
    for (const p of be.params()) {
      const e = relErr(await be.getGrad(p.name), f.float32('grad_sft.' + p.name));
      assert.ok(e < 1e-4, `sft grad ${p.name} rel err ${e}`);
    }

    const d = dpoLoss(seq, ref, beta);
    const td = f.float32('output.dpo_loss')[0];
    assert.ok(Math.abs(d.loss - td) / td < 1e-5, `dpo loss ${d.loss} vs torch ${td}`);
    await be.zeroGrad();
    await be.forwardBackward(tokens, B, T, 1, seqLossWeights(d.dSeq, mask, T));
    for (const p of be.params()) {
      const e = relErr(await be.getGrad(p.name), f.float32('grad_dpo.' + p.name));
      assert.ok(e < 1e-4, `dpo grad ${p.name} rel err ${e}`);
    }
    f.close();
  });
}
