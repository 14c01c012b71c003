/**
 * The fine-tuning learning test at full size (numbers in BENCHMARKS.md): a model pretrained on the bundled sample
 * (`steel train --preset small`) is fine-tuned on the digit-reversal chat task (bench/chat-task.ts, Chinese and English
 * prompts): held-out exact match before and after SFT (greedy, chat template, stop at <|im_end|>), then DPO on preference
 * pairs (chosen = correct reversal, rejected = a wrong one): held-out preference accuracy and reward margin.
 *
 * Usage: node --import tsx bench/finetune-learning.ts --model RUN_DIR --work DIR [--digits 3] [--train 600]
 *          [--heldout 100] [--sft-epochs 12] [--sft-lr 2e-3] [--batch 16] [--dpo-epochs 2] [--dpo-lr 5e-4]
 *          [--sft-steps N]     stop SFT after N steps (the cosine schedule still spans every epoch)
 *          [--sft-run DIR]     skip SFT training: use this SFT run / checkpoint (made with the same task options)
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildFtShards } from '../tokenizer/sft.ts';
import { loadTokenizer } from '../tokenizer/encode.ts';
import { finetune, STEEL_DPO, STEEL_SFT } from '../train/finetune.ts';
import { openModel } from '../train/load.ts';
import { chatExactMatch, pairLogProbs, preferenceMetrics } from '../train/chat-eval.ts';
import { makeTask, writeTask } from './chat-task.ts';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' },
    work: { type: 'string' },
    digits: { type: 'string', default: '3' },
    train: { type: 'string', default: '600' },
    heldout: { type: 'string', default: '100' },
    'sft-epochs': { type: 'string', default: '12' },
    'sft-lr': { type: 'string', default: '2e-3' },
    batch: { type: 'string', default: '16' },
    'dpo-epochs': { type: 'string', default: '2' },
    'dpo-lr': { type: 'string', default: '5e-4' },
    'sft-steps': { type: 'string' },
    'sft-run': { type: 'string' },
  },
});
if (!v.model || !v.work) {
  console.error('usage: bench/finetune-learning.ts --model PRETRAINED_RUN --work DIR [options]');
  process.exit(2);
}
const W = v.work;
rmSync(W, { recursive: true, force: true });
mkdirSync(W, { recursive: true });
const cpu0 = process.cpuUsage(),
  t0 = performance.now();
const { tok } = loadTokenizer('qwen');
const task = makeTask({ train: Number(v.train), heldout: Number(v.heldout), digits: Number(v.digits), seed: 7 });
writeTask(join(W, 'task'), task);
const sft = await buildFtShards({
  inputs: [join(W, 'task', 'sft-train.jsonl')],
  outDir: join(W, 'sft-data'),
  task: 'sft',
  cutoff: 64,
});
await buildFtShards({
  inputs: [join(W, 'task', 'dpo-train.jsonl')],
  outDir: join(W, 'dpo-data'),
  task: 'dpo',
  cutoff: 64,
});
const items = task.heldout.map((x) => ({ prompt: x.prompt, answer: x.answer }));
const zh = items.filter((_, i) => task.heldout[i].lang === 'zh'),
  en = items.filter((_, i) => task.heldout[i].lang === 'en');
const evalModel = async (path: string) => {
  const m = await openModel(path);
  const full = await chatExactMatch(m.backend, m.vocabIds, tok, items, {
    fullForward: true,
    maxTokens: Number(v.digits) + 2,
  });
  const fzh = await chatExactMatch(m.backend, m.vocabIds, tok, zh, {
    fullForward: true,
    maxTokens: Number(v.digits) + 2,
  });
  const fen = await chatExactMatch(m.backend, m.vocabIds, tok, en, {
    fullForward: true,
    maxTokens: Number(v.digits) + 2,
  });
  const kv = await chatExactMatch(m.backend, m.vocabIds, tok, items, {
    fullForward: false,
    maxTokens: Number(v.digits) + 2,
  });
  return { m, full: full.accuracy, zh: fzh.accuracy, en: fen.accuracy, kv: kv.accuracy, samples: full.samples };
};
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const e0 = await evalModel(v.model);
console.log(
  `held-out exact match before SFT: ${pct(e0.full)} (zh ${pct(e0.zh)}, en ${pct(e0.en)}; KV-cache decoding ${pct(e0.kv)}); e.g. ${JSON.stringify(e0.samples[0])}`,
);
const ts = performance.now();
const sftRun = v['sft-run'] ?? join(W, 'sft-run');
if (!v['sft-run']) {
  await finetune({
    task: 'sft',
    from: v.model,
    dataDir: join(W, 'sft-data'),
    outDir: sftRun,
    log: (m) => console.log(m),
    logEvery: 25,
    steps: v['sft-steps'] ? Number(v['sft-steps']) : undefined,
    hyper: {
      ...STEEL_SFT,
      lr: Number(v['sft-lr']),
      epochs: Number(v['sft-epochs']),
      globalBatch: Number(v.batch),
      microBatch: Number(v.batch),
    },
  });
} else console.log(`SFT: using ${sftRun}`);
const sftS = (performance.now() - ts) / 1000;
const e1 = await evalModel(sftRun);
console.log(
  `held-out exact match after SFT:  ${pct(e1.full)} (zh ${pct(e1.zh)}, en ${pct(e1.en)}; KV-cache decoding ${pct(e1.kv)}); e.g. ${JSON.stringify(e1.samples.slice(0, 3))}`,
);

const pairs = task.heldout.map((x) => ({
  prompt: [{ role: 'user' as const, content: x.prompt }],
  chosen: x.answer,
  rejected: x.wrong,
}));
const ref = await pairLogProbs(e1.m.backend, e1.m.vocabIds, tok, pairs);
const prefer = (p: { chosen: Float64Array; rejected: Float64Array }) =>
  p.chosen.reduce((a, c, i) => a + (c > p.rejected[i] ? 1 : 0), 0) / p.chosen.length;
const td = performance.now();
await finetune({
  task: 'dpo',
  from: sftRun,
  dataDir: join(W, 'dpo-data'),
  outDir: join(W, 'dpo-run'),
  log: (m) => console.log(m),
  logEvery: 10,
  hyper: {
    ...STEEL_DPO,
    lr: Number(v['dpo-lr']),
    epochs: Number(v['dpo-epochs']),
    globalBatch: Number(v.batch),
    microBatch: Number(v.batch) / 2,
  },
});
const dpoS = (performance.now() - td) / 1000;
const e2 = await evalModel(join(W, 'dpo-run'));
const pol = await pairLogProbs(e2.m.backend, e2.m.vocabIds, tok, pairs);
const pm = preferenceMetrics(pol, ref, STEEL_DPO.beta),
  p0 = preferenceMetrics(ref, ref, STEEL_DPO.beta);
const cpu = process.cpuUsage(cpu0);
console.log(
  `\n== fine-tuning learning test (${Number(v.digits)}-digit reversal, ${sft.stats.kept} training conversations, ${items.length} held-out) ==`,
);
console.log(
  `held-out exact match: pretrained ${pct(e0.full)} -> SFT ${pct(e1.full)} (zh ${pct(e1.zh)}, en ${pct(e1.en)}) -> DPO ${pct(e2.full)}; with KV-cache decoding ${pct(e0.kv)} -> ${pct(e1.kv)} -> ${pct(e2.kv)}`,
);
console.log(
  `held-out DPO reward accuracy ${pct(p0.accuracy)} -> ${pct(pm.accuracy)}, reward margin ${p0.margin.toFixed(3)} -> ${pm.margin.toFixed(3)} (beta ${STEEL_DPO.beta}); log p(chosen) > log p(rejected): ${pct(prefer(ref))} -> ${pct(prefer(pol))}`,
);
console.log(
  `time: SFT ${sftS.toFixed(0)} s, DPO ${dpoS.toFixed(0)} s, total ${((performance.now() - t0) / 1000).toFixed(0)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(0)} CPU-s`,
);
