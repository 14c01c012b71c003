import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalExecutor } from '../pipeline/executor.ts';
import { writeDocs } from '../pipeline/writers/index.ts';
import { loadTokenizer, encodeTexts } from './encode.ts';
import { readManifest, verifyManifest, iterShardDocs } from './shards.ts';
import { tokenizeToShards } from './tokenize.ts';
import { tokenize } from './ops.ts';
import { encodedPath } from './tasks.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

function sampleDocs(part: number, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const zh = i % 2 === 0;
    out.push({
      id: `p${part}-${i}`,
      source: zh ? 'zh-src' : 'en-src',
      lang: zh ? 'zh' : 'en',
      meta: {},
      text: zh
        ? `第${part}部分第${i}篇：钢铁是怎样炼成的。`.repeat(1 + (i % 7))
        : `Part ${part} doc ${i}: the quick brown fox. `.repeat(1 + (i % 5)),
    });
  }
  return out;
}

async function collectDocs(dir: string) {
  const m = readManifest(dir);
  const docs: { id: string; source: string; lang: string | null; tokens: number[] }[] = [];
  for (const s of m.shards)
    for await (const d of iterShardDocs(join(dir, s.file))) docs.push({ ...d, tokens: Array.from(d.tokens) });
  return docs;
}

test('tokenize: parallel worker processes → shards equal direct encoding; seeded shuffle; GlobalOp', async () => {
  const root = tmpDir('steel-tok-');
  try {
    const files: string[] = [];
    const all: ReturnType<typeof sampleDocs> = [];
    for (let p = 0; p < 3; p++) {
      const docs = sampleDocs(p, 40);
      all.push(...docs);
      const f = join(root, 'docs', `part-${String(p).padStart(5, '0')}.jsonl.zst`);
      await writeDocs(f, docs);
      files.push(f);
    }
    const ex = new LocalExecutor({ inProcess: 'never', progress: { quiet: true } });
    const out = join(root, 'shards');
    const res = await tokenizeToShards(files, out, {
      executor: ex,
      workers: 2,
      workDir: join(root, 'work'),
      maxShardBytes: 20_000,
      log: () => {},
    });
    assert.equal(res.documents, 120);
    verifyManifest(out);
    const m = readManifest(out);
    assert.ok(m.shards.length >= 2, 'small max_shard_bytes makes several shards');
    assert.equal(m.tokenizer.eos_id, 151645);
    const got = await collectDocs(out);
    const { tok } = loadTokenizer('qwen');
    const want = await encodeTexts(
      tok,
      all.map((d) => d.text),
      151645,
    );
    assert.deepEqual(
      got.map((d) => d.id),
      all.map((d) => d.id),
      'unshuffled order = input order',
    );
    for (let i = 0; i < all.length; i++) assert.deepEqual(got[i].tokens, Array.from(want[i]));
    const zhTokens = want.reduce((a, t, i) => a + (all[i].lang === 'zh' ? t.length : 0), 0);
    assert.equal(m.totals.langs.zh, zhTokens);
    assert.equal(m.totals.sources['zh-src'], zhTokens);
    assert.equal(existsSync(join(root, 'work', 'parts')), false, 'intermediates removed');

    // seeded shuffle: same multiset, different order, deterministic
    const sh = async (dir: string, seed: number) => {
      await tokenizeToShards(files, dir, {
        executor: new LocalExecutor({ progress: { quiet: true } }),
        workers: 1,
        workDir: join(root, `w-${seed}-${dir.length}`),
        maxShardBytes: 20_000,
        shuffle: true,
        seed,
        shuffleBucketBytes: 15_000,
        log: () => {},
      });
      return collectDocs(dir);
    };
    const s1 = await sh(join(root, 'sh1'), 7);
    const s2 = await sh(join(root, 'sh2'), 7);
    const s3 = await sh(join(root, 'sh3'), 8);
    assert.ok((readManifest(join(root, 'sh1')).build?.shuffle_buckets as number) >= 2);
    assert.deepEqual(
      s1.map((d) => d.id),
      s2.map((d) => d.id),
      'same seed, same order',
    );
    assert.notDeepEqual(
      s1.map((d) => d.id),
      s3.map((d) => d.id),
    );
    assert.notDeepEqual(
      s1.map((d) => d.id),
      all.map((d) => d.id),
    );
    assert.deepEqual([...s1.map((d) => d.id)].sort(), [...all.map((d) => d.id)].sort());
    const byId = new Map(got.map((d) => [d.id, d.tokens]));
    for (const d of s1) assert.deepEqual(d.tokens, byId.get(d.id));

    // the GlobalOp (what `steel prep` runs as its last step)
    const params = tokenize.params.parse({});
    const r = await tokenize.run(params, {
      inputFiles: files,
      workDir: join(root, 'opwork'),
      outDir: join(root, 'run'),
      workers: 1,
      executor: new LocalExecutor({ progress: { quiet: true } }),
      log: () => {},
    });
    assert.equal(r.stats.read, 120);
    assert.equal(r.stats.kept, 120);
    assert.deepEqual(r.outputFiles, files);
    assert.equal(readManifest(join(root, 'run', 'shards')).totals.tokens, res.tokens);
    assert.ok(readdirSync(join(root, 'run', 'shards')).includes('shard-00000.arrow'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('tokenize sink: one add function for every file a process encodes (a class); a closed file recorded, an aborted one not', async () => {
  const root = tmpDir('steel-sink-');
  const inputFiles = [join(root, 'a.jsonl'), join(root, 'b.jsonl')];
  const workDir = join(root, 'work');
  const params = tokenize.params.parse({});
  const open = (rank: number) => tokenize.mapSink!(params, { rank, inputFiles, workDir, outDir: root, workers: 1 });
  const s0 = await open(0);
  const s1 = await open(1);
  // a new function per file would be a new call target for the optimised code of the step feeding the sinks
  assert.equal(s0.add, s1.add);
  const docs = sampleDocs(0, 5);
  docs.forEach((d, i) => s0.add(d, i + 1));
  await s0.close();
  s1.add(docs[0]!, 1);
  s1.abort();
  const parts = join(workDir, 'parts');
  const r = JSON.parse(readFileSync(encodedPath(parts, 0), 'utf8')) as { documents: number; tokens: number };
  const { tok, info } = loadTokenizer('qwen');
  assert.equal(r.documents, docs.length);
  assert.equal(
    r.tokens,
    docs.reduce((a, d) => a + tok.encodeWithEos(d.text, info.eos_id).length, 0),
  );
  assert.ok(!existsSync(encodedPath(parts, 1)));
});
