import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeDocs } from '../pipeline/writers/index.ts';
import { run as tokenizerCmd } from '../cli/commands/tokenizer.ts';
import { run as inspectCmd } from '../cli/commands/inspect.ts';
import { LocalExecutor } from '../pipeline/executor.ts';
import { tokenizeToShards } from './tokenize.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [],
    err: string[] = [];
  const log = console.log,
    error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await fn();
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('cli: steel tokenizer verify/export/ids/train and steel inspect --json/--html', async () => {
  const root = tmpDir('steel-cli-');
  try {
    const docs = Array.from({ length: 30 }, (_, i) => ({
      id: `d${i}`,
      source: i % 2 ? 'a' : 'b',
      lang: i % 2 ? 'zh' : 'en',
      meta: {},
      text: i % 2 ? `中文文档第${i}号，钢铁。` : `English document number ${i}.`,
    }));
    const f = join(root, 'docs', 'part-00000.jsonl.zst');
    await writeDocs(f, docs);
    const shards = join(root, 'shards');
    await tokenizeToShards([f], shards, {
      executor: new LocalExecutor({ progress: { quiet: true } }),
      workers: 1,
      workDir: join(root, 'w'),
      log: () => {},
    });

    let r = await capture(() => tokenizerCmd(['verify', shards]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ok: 1 shard\(s\), 30 documents/);

    r = await capture(() =>
      tokenizerCmd(['export', '--format', 'litgpt', '--chunk-size', '64', shards, join(root, 'lit')]),
    );
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(join(root, 'lit', 'train_0000000000.bin')));
    r = await capture(() => tokenizerCmd(['export', '--format', 'megatron', shards, join(root, 'meg', 'x')]));
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(join(root, 'meg', 'x.idx')));
    await assert.rejects(
      tokenizerCmd(['export', '--format', 'nope', shards, join(root, 'z')]),
      /--format must be megatron or litgpt/,
    );

    r = await capture(() => tokenizerCmd(['ids', '你好，世界']));
    assert.equal(r.out.split('\n')[0], '[108386,3837,99489]');

    r = await capture(() => inspectCmd([shards, '--json', '--html', join(root, 'r.html')]));
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out);
    assert.equal(rep.totals.documents, 30);
    assert.match(readFileSync(join(root, 'r.html'), 'utf8'), /<svg class="chart"/);

    // corrupt shard: verify fails with the file named
    const shard = join(shards, 'shard-00000.arrow');
    const b = readFileSync(shard);
    b[100] ^= 1;
    writeFileSync(shard, b);
    r = await capture(() => tokenizerCmd(['verify', shards]));
    assert.equal(r.code, 1);
    assert.match(r.err, /shard-00000\.arrow: sha256/);

    // bad input line: rejected with file and line, the other records encoded
    const bad = join(root, 'bad.jsonl');
    writeFileSync(bad, '{"id":"a","text":"ok"}\n{"id":"b","text":"fine"}\n{"id": broken\n');
    const br = await tokenizeToShards([bad], join(root, 'bad-shards'), {
      executor: new LocalExecutor({ progress: { quiet: true } }),
      workers: 1,
      workDir: join(root, 'bw'),
      log: () => {},
    });
    assert.equal(br.documents, 2);
    assert.deepEqual(
      br.rejects.map((x) => [x.file, x.line]),
      [[bad, 3]],
    );
    assert.match(br.rejects[0]!.error, /bad JSON/);
    assert.match(readFileSync(join(root, 'bad-shards', 'rejects', 'tokenize.jsonl'), 'utf8'), /bad\.jsonl","line":3/);

    // train: plain-text input
    const txt = join(root, 'corpus.txt');
    writeFileSync(
      txt,
      Array.from(
        { length: 200 },
        (_, i) => (i % 2 ? `钢铁是怎样炼成的，第${i}段。\n` : `The steel was tempered, paragraph ${i}.\n`) + '\n',
      ).join(''),
    );
    r = await capture(() =>
      tokenizerCmd(['train', '--input', txt, '--vocab-size', '400', '--out', join(root, 'tok.json'), '--json']),
    );
    assert.equal(r.code, 0, r.err);
    const tr = JSON.parse(r.out);
    assert.equal(tr.roundTrip.failures, 0);
    assert.ok(tr.vocabSize <= 400 && tr.merges > 50);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
