import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, decodeIds, QWEN_EOS_ID } from './encode.ts';
import { buildFtShards, encodeChatPrompt, encodeChats, FtShardRows, readFtManifest } from './sft.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const { tok } = loadTokenizer('qwen');
const conv = [
  { role: 'user' as const, content: '1+1=?' },
  { role: 'assistant' as const, content: '2' },
  { role: 'user' as const, content: 'reverse abc' },
  { role: 'assistant' as const, content: 'cba' },
];

test('Qwen chat template: default system prompt, loss only on assistant content and its <|im_end|>', async () => {
  const [e] = await encodeChats(tok, [conv]);
  assert.equal(
    await decodeIds(tok, e.tokens),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n1+1=?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\nreverse abc<|im_end|>\n<|im_start|>assistant\ncba<|im_end|>\n',
  );
  const sup: number[] = [];
  e.mask.forEach((m, i) => {
    if (m) sup.push(e.tokens[i]);
  });
  assert.equal(await decodeIds(tok, sup), '2<|im_end|>cba<|im_end|>');
  assert.equal(sup.filter((t) => t === QWEN_EOS_ID).length, 2);
  // the generation prompt is the training prefix, token for token
  const p = await encodeChatPrompt(tok, conv.slice(0, 3));
  const idx = e.tokens.length - 4; // "cba" "<|im_end|>" "\n" -> prompt ends right before the reply
  assert.deepEqual([...p], [...e.tokens.subarray(0, p.length)]);
  assert.ok(p.length <= idx + 2);
});

test('sft-data: shards with a loss-mask column, truncation counted, bad records rejected with file and line, pyarrow reads it', async (t) => {
  const dir = tmpDir('steel-sft-');
  const inp = join(dir, 'chat.jsonl');
  const long = 'word '.repeat(200);
  writeFileSync(
    inp,
    [
      JSON.stringify({ id: 'a', source: 's1', text: 'x', meta: { messages: conv } }),
      JSON.stringify({
        id: 'b',
        source: 's1',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'bot', content: 'yo' },
        ],
      }),
      JSON.stringify({
        id: 'c',
        source: 's2',
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: long },
        ],
      }),
      JSON.stringify({
        id: 'd',
        source: 's2',
        messages: [
          { role: 'user', content: long },
          { role: 'assistant', content: 'late' },
        ],
      }),
      JSON.stringify({
        id: 'e',
        source: 's2',
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: '' },
        ],
      }),
      '{oops',
    ].join('\n') + '\n',
  );
  const out = join(dir, 'out');
  const m = await buildFtShards({ inputs: [inp], outDir: out, task: 'sft', cutoff: 64 });
  assert.equal(m.stats.read, 6);
  assert.equal(m.stats.kept, 2);
  assert.equal(m.stats.truncated, 1);
  assert.deepEqual(m.stats.dropped, { no_supervised_tokens_within_cutoff: 1 });
  assert.equal(m.stats.rejected, 3);
  const rej = readFileSync(join(out, 'rejects.jsonl'), 'utf8');
  assert.match(rej, /chat\.jsonl","line":2,"error":"messages\[1\]: unknown role \\"bot\\"/);
  assert.match(rej, /"line":5,"error":"messages\[1\]: empty assistant turn/);
  assert.match(rej, /"line":6/);
  const man = readFtManifest(out);
  const rows = await FtShardRows.open(out, ['id', 'tokens', 'loss_mask']);
  assert.equal(rows.n, 2);
  assert.deepEqual([rows.text(0, 'id'), rows.text(1, 'id')], ['a', 'c']);
  assert.equal(rows.list(1, 'tokens').length, 64);
  assert.equal(rows.list(0, 'loss_mask').length, rows.list(0, 'tokens').length);
  const mask0 = [...rows.list(0, 'loss_mask')];
  rows.close();
  // a changed shard is refused on open, also after an earlier open remembered it as verified
  const bad = join(dir, 'bad');
  cpSync(out, bad, { recursive: true });
  (await FtShardRows.open(bad, ['tokens'])).close();
  const f = join(out, man.shards[0].file);
  const b = readFileSync(f);
  b[b.length - 20] ^= 1;
  writeFileSync(join(bad, man.shards[0].file), b);
  await assert.rejects(() => FtShardRows.open(bad, ['tokens']), /sha256 .* differs from manifest/);

  const probe = spawnSync('python3', ['-c', 'import pyarrow'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('# SKIP pyarrow check: python3 with pyarrow not available');
    t.skip('pyarrow');
    return;
  }
  const py = `import pyarrow.ipc as ipc, json, sys
t = ipc.open_file(sys.argv[1]).read_all()
print(json.dumps({"cols": t.column_names, "types": [str(x.type) for x in t.schema], "mask0": t.column("loss_mask")[0].as_py(), "n": t.num_rows, "fmt": t.schema.metadata[b"steel.format"].decode()}))`;
  const r = spawnSync('python3', ['-c', py, f], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.cols, ['id', 'source', 'tokens', 'loss_mask']);
  assert.deepEqual(j.types.slice(2), ['list<item: uint32 not null>', 'list<item: uint8 not null>']);
  assert.deepEqual(j.mask0, mask0);
  assert.equal(j.n, 2);
  assert.equal(j.fmt, 'steel-sft-v1');
});

test('dpo-data: prompt / chosen / rejected columns; identical replies rejected', async () => {
  const dir = tmpDir('steel-dpo-');
  const inp = join(dir, 'pairs.jsonl');
  writeFileSync(
    inp,
    [
      JSON.stringify({
        id: 'p1',
        source: 'zh',
        prompt: [{ role: 'user', content: '1+2=?' }],
        chosen: '3',
        rejected: '4',
      }),
      JSON.stringify({
        id: 'p2',
        source: 'zh',
        prompt: [{ role: 'user', content: 'x' }],
        chosen: 'same',
        rejected: 'same',
      }),
    ].join('\n') + '\n',
  );
  const m = await buildFtShards({ inputs: [inp], outDir: join(dir, 'o'), task: 'dpo', cutoff: 64 });
  assert.equal(m.stats.kept, 1);
  assert.match(
    readFileSync(join(dir, 'o', 'rejects.jsonl'), 'utf8'),
    /"line":2,"error":"chosen and rejected are identical"/,
  );
  const r = await FtShardRows.open(join(dir, 'o'), ['prompt', 'chosen', 'rejected']);
  assert.equal(
    await decodeIds(tok, r.list(0, 'prompt')),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n1+2=?<|im_end|>\n<|im_start|>assistant\n',
  );
  assert.equal(await decodeIds(tok, r.list(0, 'chosen')), '3<|im_end|>');
  assert.equal(await decodeIds(tok, r.list(0, 'rejected')), '4<|im_end|>');
  r.close();
});

test('dpo-data with a mix and small shards: mix drops by rule, long prompts keep their end, shards roll over, old outputs go', async () => {
  const dir = tmpDir('steel-dpo-');
  const inp = join(dir, 'pairs.jsonl');
  const long = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
  const pair = (id: string, source: string, prompt: string, inMeta = false) => {
    const p = { prompt: [{ role: 'user', content: prompt }], chosen: 'yes', rejected: 'no' };
    return JSON.stringify(inMeta ? { id, source, meta: p } : { id, source, ...p });
  };
  writeFileSync(
    inp,
    [
      pair('1', 'zh', 'a?'),
      pair('2', 'zh', long),
      pair('3', 'en', 'b?'), // ratio 0: never kept
      pair('4', 'other', 'c?'), // not in the mix
      pair('5', 'zh', 'd?', true), // a prep output document: the pair in meta
      pair('6', 'zh', 'e?'),
      pair('7', 'zh', 'f?'),
    ].join('\n') + '\n',
  );
  const out = join(dir, 'o');
  mkdirSync(out);
  writeFileSync(join(out, 'shard-00007.arrow'), 'from an earlier build');
  writeFileSync(join(out, 'notes.txt'), 'not ours');
  const mix = { task: 'preference' as const, sources: { zh: 1, en: 0 } };
  const m = await buildFtShards({ inputs: [inp], outDir: out, task: 'dpo', cutoff: 24, mix, rowsPerShard: 2 });
  assert.deepEqual(m.stats.dropped, { mix_ratio: 1, not_in_mix: 1 });
  assert.equal(m.stats.kept, 5);
  assert.equal(m.stats.truncated, 1);
  assert.deepEqual(
    m.shards.map((s) => s.rows),
    [2, 2, 1],
  );
  assert.equal(
    m.stats.tokens,
    m.shards.reduce((a, s) => a + s.tokens, 0),
  );
  assert.equal(existsSync(join(out, 'shard-00007.arrow')), false);
  assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'not ours');
  const r = await FtShardRows.open(out, ['id', 'prompt', 'chosen', 'rejected']);
  assert.deepEqual(
    Array.from({ length: r.n }, (_, i) => r.text(i, 'id')),
    ['1', '2', '5', '6', '7'],
  );
  // the long prompt: its last cutoff - reply tokens kept (at least half the cutoff), ending with the assistant header
  const [p, c, j] = ['prompt', 'chosen', 'rejected'].map((col) => r.list(1, col));
  const full = await encodeChatPrompt(tok, [{ role: 'user', content: long }]);
  assert.equal(p.length, Math.max(12, 24 - Math.max(c.length, j.length)));
  assert.deepEqual([...p], [...full.subarray(full.length - p.length)]);
  assert.equal(await decodeIds(tok, c), 'yes<|im_end|>');
  r.close();
});

test('mix files: Steel ratios (English at 20%, ZH:EN 4:1 for DPO), sampling by record id; self-cognition filled from flags', async () => {
  const { readMix, run } = await import('../cli/commands/sft-data.ts');
  const { mixKeeps } = await import('./sft.ts');
  const root = new URL('../corpora-manifests/mixes/', import.meta.url).pathname;
  const s = readMix(join(root, 'steel-chat-v2-sft.yaml'));
  assert.equal(s.task, 'sft');
  for (const en of ['code-feedback', 'webinstructsub', 'openhermes-2.5']) assert.equal(s.sources[en], 0.2);
  assert.equal(s.sources['infinity-instruct-zh'], 1);
  const d = readMix(join(root, 'steel-chat-dpo.yaml'));
  assert.ok(
    Math.abs(
      (58_000 * d.sources['ultrafeedback-chinese']) / (64_000 * d.sources['ultrafeedback-binarized-preferences']) - 4,
    ) < 0.05,
    'ZH:EN 4:1 at the published sizes',
  );
  let kept = 0;
  for (let i = 0; i < 5000; i++) if (mixKeeps(s, 'code-feedback', String(i)) === true) kept++;
  assert.ok(kept > 900 && kept < 1100, `20% of 5000 -> ${kept}`);
  assert.equal(mixKeeps(s, 'code-feedback', '17'), mixKeeps(s, 'code-feedback', '17'));
  assert.equal(mixKeeps(s, 'not-listed', '1'), 'not_in_mix');
  const dir = tmpDir('steel-selfc-');
  assert.equal(
    await run(['self-cognition', '--name', 'Iron-7B', '--author', 'Foundry Lab', '--out', join(dir, 'sc.jsonl')]),
    0,
  );
  const rows = readFileSync(join(dir, 'sc.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 12);
  assert.ok(rows.some((r) => r.messages[1].content === 'My name is Iron-7B.'));
  assert.ok(rows.every((r) => !JSON.stringify(r).includes('{{')));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'task: sft\nsources: {a: 1.5}\n');
  assert.throws(() => readMix(bad), /bad\.yaml: invalid mix file: sources\.a/);
});
