// Fine-tuning corpora: each adapter on a fixture in its published layout (scripts/fixtures/make-chat-fixtures.py),
// inside one real `prep` run; every record is kept, dropped (with the rule) or rejected (with file and line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decompress } from 'fzstd';
import { runPipeline } from '../runner.ts';
import { getCorpus } from './index.ts';
import { renderChatML, validateMessages, validatePreference } from '../chat.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

const FIX = fileURLToPath(new URL('./test-fixtures/chat/', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

function readDocs(dir: string): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl.zst'))
    .sort()) {
    const txt = Buffer.from(decompress(readFileSync(join(dir, f)))).toString('utf8');
    for (const l of txt.split('\n')) if (l) out.push(JSON.parse(l));
  }
  return out;
}

test('chat schema: unknown role, empty assistant turn, order and identical preference replies are errors', () => {
  assert.throws(
    () =>
      validateMessages([
        { role: 'user', content: 'a' },
        { role: 'tool', content: 'b' },
      ]),
    /unknown role "tool"/,
  );
  assert.throws(
    () =>
      validateMessages([
        { role: 'user', content: 'a' },
        { role: 'assistant', content: ' ' },
      ]),
    /empty assistant turn/,
  );
  assert.throws(() => validateMessages([{ role: 'assistant', content: 'a' }]), /assistant turn where a user turn/);
  assert.throws(() => validateMessages([{ role: 'user', content: 'a' }]), /must end with an assistant turn/);
  assert.throws(() => validatePreference([{ role: 'user', content: 'q' }], 'same', ' same'), /identical/);
  assert.equal(
    renderChatML([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
    ]),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\na<|im_end|>\n',
  );
});

test('prep over every fine-tuning corpus fixture: chat schema out, bad rows rejected with file and line', async () => {
  for (const n of [
    'infinity-instruct-zh',
    'wanjuan-exam-plain',
    'wanjuan-exam-cot',
    'better-ruozhiba',
    'self-cognition',
    'code-feedback',
    'webinstructsub',
    'openhermes-2.5',
    'openbookqa',
    'ai2-arc',
    'logiqa',
    'ultrafeedback-chinese',
    'ultrafeedback-binarized-preferences',
  ]) {
    const c = await getCorpus(n);
    assert.ok(c, `manifest ${n}`);
    assert.equal(c.manifest.task, n.startsWith('ultrafeedback') ? 'preference' : 'sft', n);
  }
  const tmp = tmpDir('steel-chat-corpora-');
  const out = join(tmp, 'out');
  const f = (n: string) => join(FIX, n);
  copyFileSync(f('wanjuan-exam.jsonl'), join(tmp, 'wanjuan-exam-cot.jsonl')); // one file, one corpus per prep input
  const stats = await runPipeline({
    recipe: 'basic',
    outDir: out,
    workers: 1,
    quiet: true,
    inputs: [
      `infinity-instruct-zh=${f('infinity-instruct.parquet')}`,
      `wanjuan-exam-plain=${f('wanjuan-exam.jsonl')}`,
      `wanjuan-exam-cot=${join(tmp, 'wanjuan-exam-cot.jsonl')}`,
      `better-ruozhiba=${f('better-ruozhiba.jsonl')}`,
      `self-cognition=${join(REPO, 'corpora-manifests/self-cognition/template.jsonl')}`,
      `code-feedback=${f('code-feedback.jsonl')}`,
      `webinstructsub=${f('webinstructsub.parquet')}`,
      `openhermes-2.5=${f('openhermes.parquet')}`,
      `openbookqa=${f('openbookqa.parquet')}`,
      `ai2-arc=${f('ai2-arc.parquet')}`,
      `logiqa=${f('logiqa.parquet')}`,
      `ultrafeedback-chinese=${f('ultrafeedback-chinese.parquet')}`,
      `ultrafeedback-binarized-preferences=${f('ultrafeedback-binarized-preferences.parquet')}`,
    ],
  });
  assert.equal(stats.read, 39);
  assert.equal(stats.kept, 28);
  assert.deepEqual(stats.dropped_by_rule, { not_chinese: 1 });
  assert.equal(stats.rejected, 10, JSON.stringify(stats.rejected_by_error));
  assert.ok(stats.invariant.ok);
  const docs = readDocs(join(out, 'docs'));
  const of = (s: string) => docs.filter((d) => d.source === s);
  const msgs = (s: string, i = 0) => of(s)[i]!.meta.messages;

  assert.equal(of('infinity-instruct-zh').length, 2);
  assert.deepEqual(
    msgs('infinity-instruct-zh').map((m: any) => m.role),
    ['user', 'assistant'],
  );
  assert.equal(msgs('infinity-instruct-zh')[1].content, 'Hello.');
  assert.equal(of('infinity-instruct-zh').find((d) => d.meta.messages.length === 4)!.meta.source, 'Subjective');
  assert.deepEqual(
    of('wanjuan-exam-plain')
      .map((d) => d.meta.messages[1].content)
      .sort(),
    ['答案：A', '答案：B'],
  );
  assert.equal(msgs('wanjuan-exam-plain')[0].content, '下列属于哺乳动物的是\nA. 鲸\nB. 鲨鱼\nC. 金枪鱼');
  assert.ok(of('wanjuan-exam-cot').some((d) => d.meta.messages[1].content === '解析：鲸用肺呼吸、胎生哺乳。\n答案：A'));
  assert.equal(msgs('better-ruozhiba')[1].content, '能,人本来就只有一个心脏。'); // NFKC folds the full-width comma (Steel's normalisation)
  const selfc = of('self-cognition');
  assert.equal(selfc.length, 12);
  assert.ok(
    selfc.every((d) => !JSON.stringify(d.meta.messages).includes('{{')),
    'placeholders filled',
  );
  assert.ok(selfc.some((d) => d.meta.messages[1].content === 'My name is Steel-LLM.'));
  assert.equal(msgs('code-feedback').length, 4);
  assert.deepEqual(
    of('webinstructsub')
      .map((d) => d.meta.messages[0].content)
      .sort(),
    ['Find the derivative of x^2.', 'What is 3 × 4?'],
  );
  assert.deepEqual(msgs('openhermes-2.5')[0], { role: 'system', content: 'You are an expert.' });
  assert.match(
    of('openhermes-2.5')[0]!.text,
    /^<\|im_start\|>system\nYou are an expert\.<\|im_end\|>\n<\|im_start\|>user\nName a prime\./,
  );
  assert.equal(
    msgs('openbookqa')[0].content,
    'The sun is responsible for\nA. puppies learning new tricks\nB. plants sprouting\nC. a bucket filling\nD. rocks',
  );
  assert.equal(msgs('openbookqa')[1].content, 'Answer: B');
  assert.equal(msgs('ai2-arc')[1].content, 'Answer: 2');
  assert.equal(msgs('logiqa')[0].content.split('\n')[0], 'All cats are animals. Tom is a cat.');
  assert.equal(msgs('logiqa')[1].content, 'Answer: B');
  const uz = of('ultrafeedback-chinese')[0]!.meta;
  assert.deepEqual(
    [uz.chat, uz.prompt, uz.chosen, uz.rejected],
    [
      'preference',
      [{ role: 'user', content: '用一句话介绍长城。' }],
      '长城是中国古代修建的军事防御工程。',
      '长城是一条河。',
    ],
  );
  const ua = of('ultrafeedback-binarized-preferences')[0]!.meta;
  assert.deepEqual(
    [ua.prompt[0].content, ua.chosen, ua.rejected, ua.chosen_avg_rating],
    ['Name the capital of France.', 'Paris.', 'Lyon.', 5],
  );

  const rejects = readdirSync(join(out, 'rejects')).flatMap((x) =>
    readFileSync(join(out, 'rejects', x), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
  const lines = rejects.map((r) => `${r.file ?? ''}:${r.line ?? ''} ${r.error ?? ''}`).join('\n');
  for (const re of [
    /infinity-instruct\.parquet:3 .*empty assistant turn/,
    /wanjuan-exam(-cot)?\.jsonl:3 .*empty answer/,
    /better-ruozhiba\.jsonl:2 .*empty assistant turn/,
    /code-feedback\.jsonl:2 .*unknown role "tool"/,
    /openhermes\.parquet:2 .*unknown role "narrator"/,
    /openbookqa\.parquet:2 .*answerKey "E"/,
    /logiqa\.parquet:2 .*correct_option/,
    /ultrafeedback-chinese\.parquet:2 .*identical/,
    /ultrafeedback-binarized-preferences\.parquet:2 .*chosen: empty/,
  ]) {
    assert.match(lines, re);
  }
});
