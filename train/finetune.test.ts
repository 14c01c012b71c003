// Fine-tuning end to end on CPU, CI-sized: a randomly initialised small model learns a digit-reversal chat task by
// SFT (held-out exact match rises from 0), DPO on preference pairs raises held-out preference accuracy and margin;
// resume is exact; the stored reference log-probs are checked against data and model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuBackend } from './backends/cpu.ts';
import { getPreset, UNK_RAW_ID } from './config.ts';
import { saveModel } from './checkpoint.ts';
import { openModel } from './load.ts';
import { finetune, STEEL_DPO, STEEL_SFT } from './finetune.ts';
import { chatExactMatch, pairLogProbs, preferenceMetrics } from './chat-eval.ts';
import { QWEN_EOS, QWEN_IM_START, QWEN_PAD } from './trainer.ts';
import { buildFtShards, readFtManifest } from '../tokenizer/sft.ts';
import { encodeTexts, loadTokenizer } from '../tokenizer/encode.ts';
import { makeTask, writeTask } from '../bench/chat-task.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const { tok } = loadTokenizer('qwen');

async function setup(kind: 'steel' | 'dense') {
  const dir = tmpDir('steel-ft-');
  const task = makeTask({ train: 40, heldout: 16, digits: 2, seed: 3 });
  writeTask(join(dir, 'task'), task);
  const sft = await buildFtShards({
    inputs: [join(dir, 'task', 'sft-train.jsonl')],
    outDir: join(dir, 'sft'),
    task: 'sft',
    cutoff: 64,
  });
  await buildFtShards({
    inputs: [join(dir, 'task', 'dpo-train.jsonl')],
    outDir: join(dir, 'dpo'),
    task: 'dpo',
    cutoff: 64,
  });
  // a compact vocabulary over the task's ids (as a pretrained small model has), held-out prompts included
  const ids = new Set<number>([QWEN_PAD, QWEN_EOS, QWEN_IM_START, UNK_RAW_ID]);
  for (const it of [...task.train, ...task.heldout])
    for (const t of (
      await encodeTexts(tok, [`${it.prompt}\n${it.answer}\nYou are a helpful assistant.system user assistant`], null)
    )[0])
      ids.add(t);
  const vocab = Int32Array.from([...ids].sort((a, b) => a - b));
  const base = getPreset(kind === 'steel' ? 'small' : 'small-dense').model;
  const c = {
    ...base,
    compactVocab: true,
    vocabCap: undefined,
    vocabSize: vocab.length,
    padId: vocab.indexOf(QWEN_PAD),
    eosId: vocab.indexOf(QWEN_EOS),
    numLayers: 1,
    hiddenSize: 48,
    headDim: 12,
  };
  const be = new CpuBackend(c);
  await be.init(5);
  const model = join(dir, 'start.safetensors');
  await saveModel(model, be, vocab);
  assert.ok(sft.stats.kept === 40 && sft.stats.truncated === 0);
  return { dir, task, model };
}

test('SFT then DPO learn the digit-reversal chat task (Steel kind, CPU, CI-sized)', async () => {
  const { dir, task, model } = await setup('steel');
  const items = task.heldout.map((x) => ({ prompt: x.prompt, answer: x.answer }));
  const m0 = await openModel(model);
  const before = await chatExactMatch(m0.backend, m0.vocabIds, tok, items, { fullForward: true, maxTokens: 4 });
  assert.equal(before.accuracy, 0);
  const hyper = { ...STEEL_SFT, lr: 3e-3, epochs: 30, globalBatch: 8, microBatch: 8, warmupRatio: 0.05, seed: 1 };
  const r = await finetune({
    task: 'sft',
    from: model,
    dataDir: join(dir, 'sft'),
    outDir: join(dir, 'run-sft'),
    hyper,
    quiet: true,
    ckptEvery: 1000,
  });
  assert.equal(r.step, 150);
  const metrics = readFileSync(join(dir, 'run-sft', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(
    metrics[0].loss > 2 && metrics[metrics.length - 1].loss < 0.5 * metrics[0].loss,
    `loss ${metrics[0].loss} -> ${metrics[metrics.length - 1].loss}`,
  );
  assert.ok(metrics.every((m) => m.supervised_tokens > 0));
  const m1 = await openModel(join(dir, 'run-sft'));
  const after = await chatExactMatch(m1.backend, m1.vocabIds, tok, items, { fullForward: true, maxTokens: 4 });
  assert.ok(
    after.accuracy >= 0.5,
    `held-out exact match after SFT ${after.accuracy} (${JSON.stringify(after.samples)})`,
  );

  // DPO from the SFT model: held-out preference accuracy and reward margin rise
  const pairs = task.heldout.map((x) => ({
    prompt: [{ role: 'user' as const, content: x.prompt }],
    chosen: x.answer,
    rejected: x.wrong,
  }));
  const ref = await pairLogProbs(m1.backend, m1.vocabIds, tok, pairs);
  const dh = { ...STEEL_DPO, lr: 1e-3, epochs: 4, globalBatch: 8, microBatch: 4, warmupRatio: 0, seed: 1 };
  await finetune({
    task: 'dpo',
    from: join(dir, 'run-sft'),
    dataDir: join(dir, 'dpo'),
    outDir: join(dir, 'run-dpo'),
    hyper: dh,
    quiet: true,
  });
  const m2 = await openModel(join(dir, 'run-dpo'));
  const pol = await pairLogProbs(m2.backend, m2.vocabIds, tok, pairs);
  const pm0 = preferenceMetrics(ref, ref, 0.1),
    pm = preferenceMetrics(pol, ref, 0.1);
  assert.equal(pm0.margin, 0);
  assert.ok(pm.margin > 0.05 && pm.accuracy > 0.5, `held-out margin ${pm.margin}, accuracy ${pm.accuracy}`);
  const dm = readFileSync(join(dir, 'run-dpo', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok('reward_margin' in dm[0] && 'preference_accuracy' in dm[0]);
  assert.ok(Math.abs(dm[0].loss - Math.log(2)) < 1e-6, `first DPO loss ${dm[0].loss} is log 2 (policy = reference)`);
  // the reference log-probs sit beside the data, tied to data and model
  const refs = readdirSync(join(dir, 'dpo', 'reference'));
  assert.equal(refs.length, 1);
});

test('fine-tuning resumes exactly; reference log-probs are refused for other data', async () => {
  const { dir, model } = await setup('dense');
  const hyper = { ...STEEL_SFT, lr: 3e-3, epochs: 2, globalBatch: 8, microBatch: 4, seed: 2 };
  await finetune({ task: 'sft', from: model, dataDir: join(dir, 'sft'), outDir: join(dir, 'a'), hyper, quiet: true });
  await finetune({
    task: 'sft',
    from: model,
    dataDir: join(dir, 'sft'),
    outDir: join(dir, 'b'),
    hyper,
    quiet: true,
    steps: 4,
  });
  const r = await finetune({
    task: 'sft',
    dataDir: join(dir, 'sft'),
    outDir: join(dir, 'b'),
    hyper,
    quiet: true,
    resume: true,
  });
  assert.equal(r.step, 10);
  const a = await openModel(join(dir, 'a')),
    b = await openModel(join(dir, 'b'));
  for (const p of a.backend.params())
    assert.deepEqual(await b.backend.getParam(p.name), await a.backend.getParam(p.name), p.name);
  const la = readFileSync(join(dir, 'a', 'metrics.jsonl'), 'utf8'),
    lb = readFileSync(join(dir, 'b', 'metrics.jsonl'), 'utf8');
  const strip = (s: string) =>
    s
      .trim()
      .split('\n')
      .map((l) => {
        const j = JSON.parse(l);
        return [j.step, j.loss, j.grad_norm];
      });
  const steps = new Set(strip(la).map((r) => r[0]));
  assert.deepEqual(
    strip(lb).filter((r) => steps.has(r[0])),
    strip(la),
  ); // b also logged step 4, where its first part stopped

  const dh = { ...STEEL_DPO, lr: 1e-3, epochs: 1, globalBatch: 8, microBatch: 4 };
  await finetune({
    task: 'dpo',
    from: model,
    dataDir: join(dir, 'dpo'),
    outDir: join(dir, 'd1'),
    hyper: dh,
    quiet: true,
  });
  const rf = join(dir, 'dpo', 'reference', readdirSync(join(dir, 'dpo', 'reference'))[0]);
  assert.ok(existsSync(rf));
  // the data changes (a new shard set): the stored reference no longer matches
  const man = readFtManifest(join(dir, 'dpo'));
  writeFileSync(join(dir, 'dpo', 'manifest.json'), JSON.stringify({ ...man, data_sha256: 'f'.repeat(64) }));
  await assert.rejects(
    () =>
      finetune({
        task: 'dpo',
        from: model,
        dataDir: join(dir, 'dpo'),
        outDir: join(dir, 'd2'),
        hyper: dh,
        quiet: true,
      }),
    /made for other data/,
  );
  await assert.rejects(
    () =>
      finetune({ task: 'sft', from: model, dataDir: join(dir, 'dpo'), outDir: join(dir, 'd3'), hyper, quiet: true }),
    /steel-dpo-v1 data, but sft needs steel-sft-v1/,
  );
});
