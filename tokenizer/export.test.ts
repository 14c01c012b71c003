import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ShardWriter, buildManifest, writeManifest, type TokenizerInfo } from './shards.ts';
import { exportMegatron, readMegatronIndex, readMegatronSequence, exportLitgpt, readLitgptChunk } from './export.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const TOK: TokenizerInfo = { name: 'qwen', sha256: '0'.repeat(64), vocab_size: 151936, eos_id: 151645, pad_id: 151643 };

function makeShards(dir: string) {
  const docs: Uint32Array[] = [];
  const w = new ShardWriter(dir, { tokenizer: TOK, maxShardBytes: 4000, batchTokens: 100 });
  for (let i = 0; i < 60; i++) {
    const t = new Uint32Array(1 + ((i * 37) % 50));
    for (let j = 0; j < t.length - 1; j++) t[j] = (i * 1000 + j * 7919) % 151643;
    t[t.length - 1] = 151645;
    docs.push(t);
    w.add({ id: `d${i}`, source: 's', lang: 'zh', tokens: t });
  }
  const shards = w.finish();
  assert.ok(shards.length > 1);
  writeManifest(dir, buildManifest(TOK, shards));
  return docs;
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
const checker = new URL('./check_exports.py', import.meta.url).pathname;

test('export: Megatron .bin/.idx read back (own reader and numpy reader)', async () => {
  const root = tmpDir('steel-exp-');
  try {
    const docs = makeShards(join(root, 'shards'));
    const prefix = join(root, 'meg', 'data_text_document');
    const sum = await exportMegatron(join(root, 'shards'), prefix);
    const total = docs.reduce((a, d) => a + d.length, 0);
    assert.equal(sum.documents, docs.length);
    assert.equal(statSync(`${prefix}.bin`).size, total * 4);
    const idx = readMegatronIndex(`${prefix}.idx`);
    assert.equal(idx.version, 1);
    assert.equal(idx.dtypeCode, 4);
    assert.equal(idx.sequenceCount, docs.length);
    assert.equal(idx.documentCount, docs.length + 1);
    assert.deepEqual(
      Array.from(idx.documentIndices, Number),
      Array.from({ length: docs.length + 1 }, (_, i) => i),
    );
    assert.equal(statSync(`${prefix}.idx`).size, 34 + docs.length * 12 + (docs.length + 1) * 8);
    for (let i = 0; i < docs.length; i++)
      assert.deepEqual(Array.from(readMegatronSequence(prefix, idx, i)), Array.from(docs[i]));
    if (!hasNumpy) {
      console.log('# SKIP numpy cross-check of the Megatron export: python3 with numpy not available');
      return;
    }
    const r = spawnSync('python3', [checker, 'megatron', prefix], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    const py = JSON.parse(r.stdout);
    assert.equal(py.dtype, 'int32');
    assert.deepEqual(
      py.sequences,
      docs.map((d) => Array.from(d)),
    );
    assert.equal(py.doc_idx.length, docs.length + 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('export: lit-gpt LITPKDS chunks read back; tail padded with 151643', async () => {
  const root = tmpDir('steel-exp-');
  try {
    const docs = makeShards(join(root, 'shards'));
    const stream = docs.flatMap((d) => Array.from(d));
    const chunkSize = 257;
    const sum = await exportLitgpt(join(root, 'shards'), join(root, 'lit'), { chunkSize, prefix: 'train_steel' });
    assert.equal(sum.chunks, Math.ceil(stream.length / chunkSize));
    assert.equal(sum.padding, sum.chunks * chunkSize - stream.length);
    assert.match(sum.files[0], /train_steel_0000000000\.bin$/);
    const back: number[] = [];
    for (const f of sum.files) {
      const c = readLitgptChunk(f);
      assert.equal(c.version, 1);
      assert.equal(c.dtypeCode, 4);
      assert.equal(c.chunkSize, chunkSize);
      assert.equal(statSync(f).size, 24 + chunkSize * 4);
      back.push(...c.tokens);
    }
    assert.deepEqual(back.slice(0, stream.length), stream);
    assert.ok(back.slice(stream.length).every((t) => t === 151643));
    if (!hasNumpy) {
      console.log('# SKIP numpy cross-check of the lit-gpt export: python3 with numpy not available');
      return;
    }
    const r = spawnSync('python3', [checker, 'litgpt', ...sum.files], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    const py = JSON.parse(r.stdout) as { dtype: string; chunk_size: number; tokens: number[] }[];
    assert.equal(py[0].dtype, 'int32');
    assert.deepEqual(
      py.flatMap((c) => c.tokens),
      back,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
