import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import {
  ShardWriter,
  buildManifest,
  writeManifest,
  readManifest,
  verifyManifest,
  readShardTokens,
  iterShardDocs,
  sha256File,
  type TokenizerInfo,
  type ShardDoc,
} from './shards.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const TOK: TokenizerInfo = {
  name: 'test',
  sha256: 'ab'.repeat(32),
  vocab_size: 151936,
  eos_id: 151645,
  pad_id: 151643,
};

function makeDocs(n: number, seed = 1): ShardDoc[] {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const docs: ShardDoc[] = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(rnd() * 300);
    const t = new Uint32Array(len);
    for (let j = 0; j < len - 1; j++) t[j] = Math.floor(rnd() * 151643);
    t[len - 1] = 151645;
    docs.push({
      id: `doc-${i}-文档`,
      source: i % 3 === 0 ? 'wiki-zh' : 'code',
      lang: i % 5 === 0 ? null : i % 2 ? 'zh' : 'en',
      tokens: t,
    });
  }
  return docs;
}

test('shards: write, roll, manifest, read back exactly', async () => {
  const dir = tmpDir('steel-shards-');
  try {
    const docs = makeDocs(2000);
    const w = new ShardWriter(dir, { tokenizer: TOK, maxShardBytes: 400_000, batchTokens: 10_000 });
    for (const d of docs) w.add(d);
    const shards = w.finish();
    assert.ok(shards.length >= 3, `expected several shards, got ${shards.length}`);
    const m = buildManifest(TOK, shards);
    writeManifest(dir, m);
    // no temp files left
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
    );
    const totalTokens = docs.reduce((a, d) => a + d.tokens.length, 0);
    const m2 = readManifest(dir);
    assert.equal(m2.totals.tokens, totalTokens);
    assert.equal(m2.totals.documents, docs.length);
    const bySource: Record<string, number> = {};
    for (const d of docs) bySource[d.source] = (bySource[d.source] ?? 0) + d.tokens.length;
    assert.deepEqual(m2.totals.sources, bySource);
    for (const s of m2.shards) {
      assert.ok(s.bytes <= 400_000, `${s.file} is ${s.bytes} bytes`);
      assert.equal(sha256File(join(dir, s.file)), s.sha256);
    }
    assert.equal(verifyManifest(dir).ok, true);

    // flat token stream + doc offsets, and per-doc metadata, equal what was written
    let di = 0;
    for (const s of m2.shards) {
      const r = await readShardTokens(join(dir, s.file), { withMeta: true });
      assert.equal(r.numDocs, s.documents);
      assert.equal(r.tokens.length, s.tokens);
      assert.equal(r.metadata['steel.format'], 'steel-shards-v1');
      assert.equal(Number(r.metadata['steel.num_tokens']), s.tokens);
      assert.equal(Number(r.metadata['steel.num_documents']), s.documents);
      assert.equal(r.metadata['steel.eos_id'], '151645');
      for (let i = 0; i < r.numDocs; i++, di++) {
        const d = docs[di];
        assert.equal(r.ids![i], d.id);
        assert.equal(r.sources![i], d.source);
        assert.equal(r.langs![i], d.lang ?? null);
        assert.deepEqual(r.tokens.subarray(r.docOffsets[i], r.docOffsets[i + 1]), d.tokens);
      }
      // the whole file also loads with the generic Arrow reader, and its schema metadata is the patched one
      const table = tableFromIPC(readFileSync(join(dir, s.file)));
      assert.equal(table.numRows, s.documents);
      assert.equal(table.schema.metadata.get('steel.num_tokens'), String(s.tokens).padStart(15, '0'));
    }
    assert.equal(di, docs.length);
    // per-document iteration
    let k = 0;
    for await (const d of iterShardDocs(join(dir, m2.shards[1].file))) {
      assert.equal(d.id, docs[m2.shards[0].documents + k].id);
      k++;
    }
    assert.equal(k, m2.shards[1].documents);

    // tampering is detected
    const f = join(dir, m2.shards[0].file);
    const buf = readFileSync(f);
    buf[buf.length >> 1] ^= 0xff;
    writeFileSync(f, buf);
    assert.throws(() => verifyManifest(dir), /sha256 .* differs from manifest/);
    writeFileSync(f, buf.subarray(0, 100));
    assert.throws(() => verifyManifest(dir), /100 bytes, manifest says/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The documents of every shard in `dir`'s manifest, in order. */
async function readBack(dir: string): Promise<{ id: string; tokens: number[] }[]> {
  const out: { id: string; tokens: number[] }[] = [];
  for (const s of readManifest(dir).shards) {
    const r = await readShardTokens(join(dir, s.file), { withMeta: true });
    for (let i = 0; i < r.numDocs; i++)
      out.push({ id: r.ids![i]!, tokens: [...r.tokens.subarray(r.docOffsets[i], r.docOffsets[i + 1])] });
  }
  return out;
}

test("shards: a finished or aborted writer's buffers are reused by the next, never by two open writers", async () => {
  const root = tmpDir('steel-shards-spare-');
  try {
    const storeOf = (w: ShardWriter) => (w as unknown as { tokenStore: { flat: Uint32Array } }).tokenStore.flat;
    const want = (docs: ShardDoc[]) => docs.map((d) => ({ id: d.id, tokens: Array.from(d.tokens) }));
    // two writers open at once (the shuffle's scatter), their adds interleaved: each has its own store
    const a = makeDocs(600, 3),
      b = makeDocs(500, 4);
    const wa = new ShardWriter(join(root, 'a'), { tokenizer: TOK, batchTokens: 5_000 });
    const wb = new ShardWriter(join(root, 'b'), { tokenizer: TOK, batchTokens: 5_000 });
    assert.notEqual(storeOf(wa).buffer, storeOf(wb).buffer);
    for (let i = 0; i < 600; i++) {
      wa.add(a[i]!);
      if (i < 500) wb.add(b[i]!);
    }
    const storeA = storeOf(wa).buffer;
    writeManifest(join(root, 'a'), buildManifest(TOK, wa.finish()));
    // the next writer takes the finished one's store, and its shards hold only its own documents
    const c = makeDocs(40, 5);
    const wc = new ShardWriter(join(root, 'c'), { tokenizer: TOK, batchTokens: 5_000 });
    assert.equal(storeOf(wc).buffer, storeA);
    for (const d of c) wc.add(d);
    writeManifest(join(root, 'b'), buildManifest(TOK, wb.finish()));
    writeManifest(join(root, 'c'), buildManifest(TOK, wc.finish()));
    assert.deepEqual(await readBack(join(root, 'a')), want(a));
    assert.deepEqual(await readBack(join(root, 'b')), want(b));
    assert.deepEqual(await readBack(join(root, 'c')), want(c));
    // an aborted writer gives its store back too (once: a second abort, or finish, gives nothing)
    const wd = new ShardWriter(join(root, 'd'), { tokenizer: TOK, batchTokens: 5_000 });
    for (const d of makeDocs(100, 6)) wd.add(d);
    const storeD = storeOf(wd).buffer;
    wd.abort();
    wd.abort();
    assert.deepEqual(wd.finish(), []);
    const we = new ShardWriter(join(root, 'e'), { tokenizer: TOK, batchTokens: 5_000 });
    const wf = new ShardWriter(join(root, 'f'), { tokenizer: TOK, batchTokens: 5_000 });
    assert.equal(storeOf(we).buffer, storeD);
    assert.notEqual(storeOf(wf).buffer, storeD);
    const e = makeDocs(30, 7);
    for (const d of e) we.add(d);
    writeManifest(join(root, 'e'), buildManifest(TOK, we.finish()));
    assert.deepEqual(await readBack(join(root, 'e')), want(e));
    wf.abort();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("shards: a batch's string columns: reused from batch to batch, nulls where the last batch had values, long and odd ids", async () => {
  const dir = tmpDir('steel-shards-cols-');
  try {
    // 10 tokens a document and batches of 100 tokens: a batch is 10 documents
    const tokens = (i: number) => Uint32Array.from({ length: 10 }, (_, j) => i * 10 + j);
    const docs: ShardDoc[] = [];
    // batch 1: every lang set; batch 2: nulls (their validity bits were set by batch 1) and an empty lang
    for (let i = 0; i < 20; i++)
      docs.push({
        id: `d${i}`,
        source: 's',
        lang: i < 10 ? 'zh' : i === 11 ? '' : i % 2 ? 'en' : null,
        tokens: tokens(i),
      });
    // batch 3: an id longer than the column's first byte buffer, a lone surrogate, an empty id, 4-byte characters
    const long = '文'.repeat(400_000);
    const odd = [long, 'x\ud800y', '', '😀'.repeat(3), 'tail'];
    for (let k = 0; k < 10; k++) docs.push({ id: odd[k % 5]! + k, source: `src-${k % 3}`, tokens: tokens(20 + k) });
    // batch 4 (last, 3 documents): shorter than the batches before it
    for (let i = 30; i < 33; i++) docs.push({ id: `e${i}`, source: 's', lang: 'en', tokens: tokens(i) });
    const w = new ShardWriter(dir, { tokenizer: TOK, batchTokens: 100 });
    for (const d of docs) w.add(d);
    const shards = w.finish();
    assert.equal(shards.length, 1);
    const r = await readShardTokens(join(dir, shards[0]!.file), { withMeta: true });
    assert.equal(r.numDocs, docs.length);
    // what TextEncoder writes (a lone surrogate becomes U+FFFD), decoded
    const utf8 = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s));
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i]!;
      assert.equal(r.ids![i], utf8(d.id), `id of document ${i}`);
      assert.equal(r.sources![i], d.source, `source of document ${i}`);
      assert.equal(r.langs![i], d.lang ?? null, `lang of document ${i}`);
      assert.deepEqual(r.tokens.subarray(r.docOffsets[i], r.docOffsets[i + 1]), d.tokens);
    }
    assert.equal(r.ids![21], 'x\ufffdy1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shards: empty shard set and oversize document', async () => {
  const dir = tmpDir('steel-shards-');
  try {
    const w = new ShardWriter(dir, { tokenizer: TOK, maxShardBytes: 100_000 });
    assert.throws(
      () => w.add({ id: 'big', source: 's', tokens: new Uint32Array(30_000) }),
      /document big .* larger than one shard/,
    );
    assert.deepEqual(w.finish(), []);
    writeManifest(dir, buildManifest(TOK, []));
    assert.equal(readManifest(dir).totals.tokens, 0);
    assert.throws(() => readManifest(join(dir, 'nope')), /no manifest.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shards: readable by pyarrow (file and stream readers), metadata and types as specified', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const probe = spawnSync('python3', ['-c', 'import pyarrow'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('# SKIP pyarrow check: python3 with pyarrow not available (pip install pyarrow)');
    t.skip('pyarrow not installed');
    return;
  }
  const dir = tmpDir('steel-shards-');
  try {
    const docs = makeDocs(300, 7);
    const w = new ShardWriter(dir, { tokenizer: TOK, maxShardBytes: 100_000, batchTokens: 5000 });
    for (const d of docs) w.add(d);
    writeManifest(dir, buildManifest(TOK, w.finish()));
    const r = spawnSync('python3', [new URL('./check_shards.py', import.meta.url).pathname, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout);
    assert.ok(out.shards.length >= 2);
    assert.deepEqual(out.problems, []);
    const s0 = out.shards[0];
    assert.deepEqual(s0.types, {
      id: 'string',
      source: 'string',
      lang: 'string',
      tokens: 'list<item: uint32 not null>',
    });
    assert.equal(s0.metadata['steel.format'], 'steel-shards-v1');
    assert.equal(s0.metadata['steel.vocab_size'], '151936');
    assert.equal(s0.first.id, docs[0].id);
    assert.deepEqual(s0.first.tokens, Array.from(docs[0].tokens));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
