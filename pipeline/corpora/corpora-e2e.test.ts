// End to end: files in each corpus's published format (Parquet for Zhihu-KOL, JSONL for BELLE and WanJuan) read by the
// project's readers and unified by the corpus adapters inside a real `prep` run; drops and rejects are accounted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { decompress } from 'fzstd';
import { runPipeline } from '../runner.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

function readDocs(dir: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl.zst'))
    .sort()) {
    const txt = Buffer.from(decompress(readFileSync(join(dir, f)))).toString('utf8');
    for (const l of txt.split('\n')) if (l) out.push(JSON.parse(l));
  }
  return out;
}

test('prep with corpus adapters: Zhihu parquet, BELLE and WanJuan JSONL; drops and rejects accounted', async () => {
  const dir = tmpDir('steel-corpora-e2e-');
  const md = (up: string) =>
    JSON.stringify({
      question_id: 1,
      answer_id: 2,
      url: 'https://www.zhihu.com/question/1/answer/2',
      upvotes: up,
      answer_creation_time: '2021-10-18T15:12:44.000Z',
    });
  parquetWriteFile({
    filename: join(dir, 'zhihu.parquet'),
    columnData: [
      {
        name: 'INSTRUCTION',
        data: ['如何看待PayPal正式进入中国？', '摇滚乐给你们带来了什么？', '坏数据？'],
        type: 'STRING',
      },
      {
        name: 'RESPONSE',
        data: ['PayPal不仅是美国支付巨头，也是国际支付巨头。', '什么也没带来。', '答'],
        type: 'STRING',
      },
      { name: 'SOURCE', data: ['Zhihu', 'Zhihu', 'Zhihu'], type: 'STRING' },
      { name: 'METADATA', data: [md('赞同 2.3 万'), md('赞同 12'), '{oops'], type: 'STRING' },
    ],
  });
  writeFileSync(
    join(dir, 'belle.jsonl'),
    [
      JSON.stringify({
        id: '66182880',
        conversations: [
          { from: 'human', value: '你好，介绍一下你自己。' },
          { from: 'assistant', value: '我是一个AI助手。' },
        ],
      }),
      '{"id": "broken json',
      JSON.stringify({ id: '2', conversations: [{ from: 'assistant', value: '没有问题的回答' }] }),
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(dir, 'wanjuan.jsonl'),
    [
      JSON.stringify({ id: 'w1', content: '# 标题\n正文内容，足够长的一段中文文本。' }),
      JSON.stringify({
        id: 'w2',
        q_main: '1+1等于几？',
        option_a: '1',
        option_b: '2',
        std_ans: 'B',
        answer_detail: '简单加法。',
      }),
    ].join('\n') + '\n',
  );
  const out = join(dir, 'out');
  const stats = await runPipeline({
    recipe: 'basic',
    outDir: out,
    workers: 1,
    quiet: true,
    inputs: [
      `zhihu-kol=${join(dir, 'zhihu.parquet')}`,
      `belle-3.5m=${join(dir, 'belle.jsonl')}`,
      `wanjuan-1.0-zh=${join(dir, 'wanjuan.jsonl')}`,
    ],
  });
  assert.equal(stats.read, 8);
  assert.equal(stats.kept, 4);
  assert.deepEqual(stats.dropped_by_rule, { zhihu_upvotes: 1 });
  assert.equal(stats.rejected, 3, JSON.stringify(stats.rejected_by_error));
  assert.ok(stats.invariant.ok);
  const docs = readDocs(join(out, 'docs'));
  const bySource = (s: string) => docs.filter((d) => d.source === s);
  assert.equal(bySource('zhihu-kol').length, 1);
  assert.equal((bySource('zhihu-kol')[0]!.meta as Record<string, unknown>).upvotes, 23000);
  assert.match(
    bySource('belle-3.5m')[0]!.text as string,
    /^<\|im_start\|>system\nYou are a helpful assistant\.<\|im_end\|>\n<\|im_start\|>user\n你好,介绍一下你自己。/,
  );
  assert.ok(
    bySource('wanjuan-1.0-zh').some((d) => d.text === '1+1等于几?\nA. 1\nB. 2\n标准答案:B\n解析:简单加法。'),
    'exam row flattened (the basic recipe NFKC-folds our full-width colon afterwards)',
  );
  const rejects = readdirSync(join(out, 'rejects')).flatMap((f) =>
    readFileSync(join(out, 'rejects', f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
  const msgs = rejects.map((r) => `${r.file ?? ''}:${r.line ?? ''} ${r.error ?? ''}`).join('\n');
  assert.match(msgs, /zhihu\.parquet:3 .*METADATA is not valid JSON/);
  assert.match(msgs, /belle\.jsonl:3 .*assistant turn without a user turn/);
  assert.match(msgs, /belle\.jsonl:2 /);
});
