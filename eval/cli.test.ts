// steel eval --task: benchmarks through the CLI, results written beside the seed and protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFixtures, writeFixtureArchives, CEVAL_VAL, MMLU_TEST } from './fixtures.ts';
import { tinyQwenModel } from './testutil.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const CLI = fileURLToPath(new URL('../cli/steel.js', import.meta.url));
const steel = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
};

test('steel eval --task ceval,mmlu on fixtures: JSON + table + items, protocol and seed beside them; bad input named', async () => {
  const dir = tmpDir('steel-evalcli-');
  try {
    writeFixtures(join(dir, 'bench'));
    const texts = [...Object.values(CEVAL_VAL).flat(), ...Object.values(MMLU_TEST).flat()].map((q) => q.join('\n'));
    await tinyQwenModel(
      'tiny',
      [...texts, '答案：', 'Answer:', ' A B C D', '以下是中国关于考试的单项选择题，请选出其中的正确答案。'],
      { path: join(dir, 'model.safetensors') },
    );
    const out = join(dir, 'res');
    const r = steel(
      'eval',
      '--model',
      join(dir, 'model.safetensors'),
      '--task',
      'ceval,mmlu',
      '--bench-dir',
      join(dir, 'bench'),
      '--protocol',
      'loglik',
      '--limit',
      '1',
      '--subjects',
      'law,physician',
      '--out',
      out,
      '--seed',
      '7',
    );
    // --subjects applies to every task: mmlu has no "law"
    assert.notEqual(r.code, 0);
    assert.match(r.err, /MMLU has no subject "law"/);
    const r2 = steel(
      'eval',
      '--model',
      join(dir, 'model.safetensors'),
      '--task',
      'ceval',
      '--bench-dir',
      join(dir, 'bench'),
      '--protocol',
      'loglik',
      '--limit',
      '1',
      '--out',
      out,
      '--seed',
      '7',
    );
    assert.equal(r2.code, 0, r2.err);
    const j = JSON.parse(readFileSync(join(out, 'ceval.json'), 'utf8'));
    assert.equal(j.protocol, 'loglik');
    assert.equal(j.seed, 7);
    assert.equal(j.shots, 0);
    assert.equal(j.split, 'val');
    assert.equal(j.items, 5); // first item of each of the 5 subjects
    assert.deepEqual(Object.keys(j.categories).sort(), ['Hard', 'Humanities', 'Other', 'STEM', 'Social Science']);
    const items = readFileSync(join(out, 'ceval.items.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(items.length, 5);
    for (const it of items) {
      assert.equal(it.logprobs.length, 4);
      assert.equal(it.pred, 'ABCD'[it.logprobs.indexOf(Math.max(...it.logprobs))]);
    }
    assert.ok(existsSync(join(out, 'ceval.md')));
    assert.match(r2.out, /## C-Eval \(val, loglik, 0-shot, first 1 per subject\)/);
    assert.match(r2.err, /5 items in .* s \(loglik, incremental scoring\)/);
    // chat-gen with a short budget, the 3 questions decoded in batches of 2 and 1
    const r3 = steel(
      'eval',
      '--model',
      join(dir, 'model.safetensors'),
      '--task',
      'mmlu',
      '--bench-dir',
      join(dir, 'bench'),
      '--limit',
      '1',
      '--max-new-tokens',
      '3',
      '--gen-batch',
      '2',
      '--json',
    );
    assert.equal(r3.code, 0, r3.err);
    const j3 = JSON.parse(r3.out)[0];
    assert.equal(j3.protocol, 'chat-gen');
    assert.equal(j3.maxNewTokens, 3);
    assert.equal(j3.items, 3);
    // missing benchmark folder
    const r4 = steel(
      'eval',
      '--model',
      join(dir, 'model.safetensors'),
      '--task',
      'cmmlu',
      '--bench-dir',
      join(dir, 'nowhere'),
    );
    assert.notEqual(r4.code, 0);
    assert.match(r4.err, /no CMMLU layout here/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('steel train: the --eval-* options need --eval-every; --eval-every needs something to evaluate', () => {
  const a = steel(
    'train',
    '--preset',
    'tiny',
    '--data',
    '/nonexistent',
    '--out',
    '/nonexistent-out',
    '--eval-task',
    'ceval',
  );
  assert.notEqual(a.code, 0);
  assert.match(a.err, /the --eval-\* options need --eval-every N/);
  const b = steel(
    'train',
    '--preset',
    'tiny',
    '--data',
    '/nonexistent',
    '--out',
    '/nonexistent-out',
    '--eval-every',
    '5',
  );
  assert.notEqual(b.code, 0);
  assert.match(b.err, /--eval-every needs --eval-data DIR/);
  const c = steel(
    'train',
    '--preset',
    'tiny',
    '--data',
    '/nonexistent',
    '--out',
    '/nonexistent-out',
    '--eval-every',
    '5',
    '--eval-task',
    'gsm8k',
  );
  assert.match(c.err, /unknown task "gsm8k"/);
});

test('steel eval on the collected fixture archive gives hand-checkable scores: a model whose logits are all zero picks A everywhere', async () => {
  const dir = tmpDir('steel-evalzero-');
  try {
    writeFixtureArchives(join(dir, 'bench')); // as steel collect leaves them: ceval-exam.zip, not unpacked
    const texts = Object.values(CEVAL_VAL)
      .flat()
      .map((q) => q.join('\n'));
    const { be, vocabIds } = await tinyQwenModel('tiny-dense', [
      ...texts,
      '答案：',
      ' A B C D',
      '以下是中国关于考试的单项选择题，请选出其中的正确答案。',
    ]);
    await be.setParam('model.norm.weight', new Float32Array(be.config.hiddenSize)); // final hidden state 0 -> logits 0 -> ties -> A
    const { saveModel } = await import('../train/checkpoint.ts');
    await saveModel(join(dir, 'zero.safetensors'), be, vocabIds);
    const r = steel(
      'eval',
      '--model',
      join(dir, 'zero.safetensors'),
      '--task',
      'ceval',
      '--bench-dir',
      join(dir, 'bench'),
      '--protocol',
      'loglik',
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out)[0];
    // share of A answers in the val fixture: computer_network 1/4, advanced_mathematics 1/2, marxism 2/2, law 0/2, physician 0/2
    assert.deepEqual(Object.fromEntries(Object.entries(j.subjects).map(([k, s]) => [k, (s as { acc: number }).acc])), {
      computer_network: 0.25,
      advanced_mathematics: 0.5,
      marxism: 1,
      law: 0,
      physician: 0,
    });
    assert.deepEqual(j.categories, {
      STEM: { subjects: 2, acc: 0.375 },
      'Social Science': { subjects: 1, acc: 1 },
      Humanities: { subjects: 1, acc: 0 },
      Other: { subjects: 1, acc: 0 },
      Hard: { subjects: 1, acc: 0.5 },
    });
    assert.equal(j.average, 0.35);
    assert.equal(j.micro, 4 / 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
