/**
 * Independent oracle: `steel eval --protocol loglik` against lm-evaluation-harness on the same exported dense model.
 *   npx tsx eval/oracle/compare.ts [SUBJECT:ZH_TITLE:SHOTS ...]     (needs python3 with lm_eval, torch, transformers)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../../train/backend.ts';
import { saveModel } from '../../train/checkpoint.ts';
import { getPreset } from '../../train/config.ts';
import { writeFixtures } from '../fixtures.ts';

const CLI = fileURLToPath(new URL('../../cli/steel.js', import.meta.url));
const ORACLE = fileURLToPath(new URL('./lm_eval_oracle.py', import.meta.url));

export const hasLmEval = () =>
  spawnSync('python3', ['-c', 'import lm_eval, torch, transformers, datasets'], { encoding: 'utf8' }).status === 0;

export interface OracleComparison {
  items: number;
  maxAbsDiff: number;
  steelAcc: number;
  harnessAcc: number;
  samePred: boolean;
}

/** exports a tiny dense model (full Qwen vocabulary) and compares steel's loglik with the harness on one subject. */
export async function compareWithHarness(
  dir: string,
  subject: string,
  zhTitle: string,
  shots: number,
): Promise<OracleComparison> {
  const be = await loadBackend('cpu', {
    ...getPreset('tiny-dense').model,
    vocabSize: 151936,
    seqLen: 512,
    initStd: 0.3,
    padId: 151643,
    eosId: 151645,
  });
  await be.init(5);
  await saveModel(join(dir, 'model.safetensors'), be, null);
  await be.dispose();
  const bench = writeFixtures(join(dir, 'bench'));
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
      env: { ...process.env, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' },
    });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stderr}`);
    return r;
  };
  run(process.execPath, [
    CLI,
    'export',
    '--model',
    join(dir, 'model.safetensors'),
    '--format',
    'hf',
    '--out',
    join(dir, 'hf'),
  ]);
  run(process.execPath, [
    CLI,
    'eval',
    '--model',
    join(dir, 'hf'),
    '--task',
    'ceval',
    '--bench-dir',
    join(dir, 'bench'),
    '--subjects',
    subject,
    '--protocol',
    'loglik',
    '--shots',
    String(shots),
    '--out',
    join(dir, 'steel'),
  ]);
  run('python3', [ORACLE, join(dir, 'hf'), bench.ceval, subject, zhTitle, String(shots), join(dir, 'oracle.json')]);
  const steelItems = readFileSync(join(dir, 'steel', 'ceval.items.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const steel = JSON.parse(readFileSync(join(dir, 'steel', 'ceval.json'), 'utf8'));
  const h = JSON.parse(readFileSync(join(dir, 'oracle.json'), 'utf8'));
  assert.equal(h.items.length, steelItems.length);
  let maxAbsDiff = 0,
    samePred = true;
  steelItems.forEach((s: { logprobs: number[]; pred: string }, i: number) => {
    const hl: number[] = h.items[i].logliks;
    for (let k = 0; k < 4; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(s.logprobs[k] - hl[k]));
    samePred &&= s.pred === 'ABCD'[hl.indexOf(Math.max(...hl))];
  });
  return { items: steelItems.length, maxAbsDiff, steelAcc: steel.subjects[subject].acc, harnessAcc: h.acc, samePred };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const specs = process.argv.slice(2).length
    ? process.argv.slice(2)
    : ['computer_network:计算机网络:0', 'computer_network:计算机网络:1', 'law:法学:2'];
  for (const spec of specs) {
    const [subject, title, shots] = spec.split(':');
    const dir = mkdtempSync(join(tmpdir(), 'steel-oracle-'));
    try {
      const t0 = performance.now();
      const c = await compareWithHarness(dir, subject, title, Number(shots));
      console.log(
        `${subject} ${shots}-shot: ${c.items} items x 4 options, max |steel - harness| ${c.maxAbsDiff.toExponential(2)} nats, ` +
          `accuracy steel ${c.steelAcc} / harness ${c.harnessAcc}, same predictions: ${c.samePred} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
