import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, truncateSync, statSync, existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from 'fzstd';
import { LocalExecutor } from '../pipeline/executor.ts';
import type { RunTasksOptions } from '../pipeline/executor-types.ts';
import type { Task, TaskResult } from '../pipeline/task.ts';
import { OperatorRegistry, PIPELINE_OPS } from '../pipeline/registry.ts';
import { runPipeline } from '../pipeline/runner.ts';
import { setTestHooks } from '../pipeline/settings.ts';
import { HOOKED_WORKER, TEST_HOOKS_ENV, testHooksEnv } from '../pipeline/test-fixtures/hooks.ts';
import { randomEn, randomZh, writeFixture } from './fixtures.ts';
import { seededRandom } from './minhash.ts';
import { charShingles, jaccardSorted, uniqueSorted } from './text.ts';
import { buildConfig, exactParams, minhashParams, simhashParams } from './params.ts';
import { runDedup } from './run.ts';
import { sigPath } from './tasks.ts';
import { layout, type DedupConfig, type DedupMethod } from './config.ts';
import { readAllRecords, sectionRange, RecordWriter } from './runfile.ts';
import { IndexRuns, mergeRuns, readIndexManifest } from './stages/common.ts';
import { writtenSetsOf } from './stages/verify.ts';

const quiet = { progress: { quiet: true } };
const noLog = () => {};

function readDocsDir(out: string): { id: string; text: string; meta: Record<string, unknown> }[] {
  const dir = join(out, 'docs');
  const docs = [];
  for (const f of readdirSync(dir).sort()) {
    const t = Buffer.from(decompress(readFileSync(join(dir, f)))).toString('utf8');
    for (const l of t.split('\n')) if (l) docs.push(JSON.parse(l));
  }
  return docs;
}
function dupMap(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of readFileSync(join(out, 'duplicates.jsonl'), 'utf8').split('\n'))
    if (l) m.set(JSON.parse(l).id, JSON.parse(l).duplicate_of);
  return m;
}

function cfgFor(method: DedupMethod, inputs: string[], out: string, params: Record<string, unknown> = {}): DedupConfig {
  const schema = method === 'exact' ? exactParams : method === 'minhash' ? minhashParams : simhashParams;
  return buildConfig(method, schema.parse(params), { inputs, workDir: join(out, 'work'), outDir: out });
}

test('minhash removes planted near-duplicates, keeps the first, records cluster sizes', async () => {
  const dir = tmpDir('dd-mh-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 30 });
  const out = join(dir, 'out');
  const r = await runDedup(cfgFor('minhash', fx.files, out), new LocalExecutor({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: noLog,
  });
  const dups = dupMap(out);
  assert.equal(r.dropped, fx.planted.size, 'every planted duplicate (and nothing else) removed');
  for (const [d, o] of fx.planted) assert.equal(dups.get(d), o, `${d} -> ${o}`);
  const kept = readDocsDir(out);
  assert.equal(kept.length, r.kept);
  const byId = new Map(kept.map((d) => [d.id, d]));
  for (const o of fx.planted.values()) {
    const size = 1 + [...fx.planted.values()].filter((x) => x === o).length;
    assert.equal(byId.get(o)?.meta.dup_cluster_size, size, `cluster size of ${o}`);
  }
  assert.equal(
    kept.find((d) => !fx.planted.has(d.id) && ![...fx.planted.values()].includes(d.id))?.meta.dup_cluster_size,
    1,
  );
  assert.ok(existsSync(join(out, 'index', 'manifest.json')));
  // a tiny sort buffer spills many sorted runs per file: same result
  const out2 = join(dir, 'out-spill');
  const r2 = await runDedup(
    cfgFor('minhash', fx.files, out2, { sort_buffer_mb: 0.02 }),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    { workers: 1, log: noLog },
  );
  const sig0 = sigPath({ ...cfgFor('minhash', fx.files, out2), workDir: join(out2, 'work') }, 0);
  const bands = layout(cfgFor('minhash', fx.files, out2)).bands;
  assert.ok(sectionRange(sig0, 3 * bands).end > 0, 'several runs written');
  assert.deepEqual([...dupMap(out2)].sort(), [...dups].sort());
  assert.equal(r2.kept, r.kept);
});

test('exact dedup normalises case and whitespace; keep=longest keeps the longer copy', async () => {
  const dir = tmpDir('dd-ex-');
  const p = join(dir, 'a.jsonl');
  writeFileSync(
    p,
    [
      { id: 'a', text: 'Hello   World' },
      { id: 'b', text: 'hello world ' },
      { id: 'c', text: 'hello, world' },
      { id: 'd', text: 'something else' },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n') + '\n{broken json\n',
  );
  const out = join(dir, 'out');
  const r = await runDedup(
    cfgFor('exact', [p], out, { keep: 'longest' }),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    { workers: 1, log: noLog },
  );
  assert.deepEqual([r.read, r.kept, r.dropped, r.rejected], [4, 3, 1, 1]);
  assert.deepEqual([...dupMap(out)], [['b', 'a']]);
  const out2 = join(dir, 'out2');
  const r2 = await runDedup(
    cfgFor('exact', [p], out2, { punctuation: true }),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    { workers: 1, log: noLog },
  );
  assert.equal(r2.dropped, 2, 'with punctuation removed, "hello, world" is a duplicate too');
  assert.equal(readDocsDir(out2).find((d) => d.id === 'a')?.meta.dup_cluster_size, 3);
  // keep=quality: the highest meta score of the cluster wins
  const q = join(dir, 'q.jsonl');
  writeFileSync(
    q,
    [
      { id: 'x', text: 'same text', meta: { s: { q: 0.2 } } },
      { id: 'y', text: 'SAME text', meta: { s: { q: 0.9 } } },
      { id: 'z', text: 'same  text', meta: {} },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n'),
  );
  const out3 = join(dir, 'out3');
  await runDedup(
    cfgFor('exact', [q], out3, { keep: 'quality', quality_key: 's.q' }),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    { workers: 1, log: noLog },
  );
  assert.deepEqual([...dupMap(out3)].sort(), [
    ['x', 'y'],
    ['z', 'y'],
  ]);
  assert.equal(readDocsDir(out3)[0]!.meta.dup_cluster_size, 3);
});

test('buckets larger than the in-memory group limit still link every member', async () => {
  const dir = tmpDir('dd-big-');
  const p = join(dir, 'a.jsonl');
  const base = randomZh(seededRandom(3), 600);
  writeFileSync(
    p,
    Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `d${i}`, text: i % 2 ? base : base + '！' })).join('\n'),
  );
  setTestHooks({ dedupMaxGroup: 4 }); // the tasks run in this process
  try {
    for (const m of ['exact', 'minhash', 'simhash'] as const) {
      const out = join(dir, m);
      const r = await runDedup(
        cfgFor(m, [p], out, m === 'simhash' ? { tokenization: 'character' } : {}),
        new LocalExecutor({ inProcess: 'always', ...quiet }),
        { workers: 1, log: noLog },
      );
      assert.equal(r.dropped, m === 'exact' ? 38 : 39, m);
    }
  } finally {
    setTestHooks(undefined);
  }
});

test('simhash skips and counts documents without shingles (short or unsegmented Chinese) instead of clustering them', async () => {
  const dir = tmpDir('dd-sh-');
  const p = join(dir, 'a.jsonl');
  // short, unrelated Chinese pages (fewer than 6 space tokens each): none is a duplicate of another
  const shortZh = [
    '今天天气很好，我们去公园散步。',
    '这本书讲的是明朝的历史。',
    '请在下午三点以前提交报告。',
    '北京的冬天比上海冷得多。',
    '他每天早上六点起床跑步。',
    '这个软件支持中文和英文界面。',
    '火车晚点了二十分钟。',
    '我最喜欢的水果是西瓜。',
    '会议改到下周二举行。',
    '图书馆周末也开放。',
    '这道菜需要放一点盐和糖。',
    '孩子们在操场上踢足球。',
  ];
  const base =
    'the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence near the river bank. ' +
    'later that morning the farmer walks to the market in town, sells two baskets of apples and buys new boots for the winter. ' +
    'in the evening he returns home, feeds the chickens, repairs the gate and reads the newspaper by the fire until dawn';
  const docs = [
    ...shortZh.map((text, i) => ({ id: `zh${i}`, text })),
    { id: 'en-a', text: base },
    { id: 'en-b', text: base.replace('dawn', 'dusk') },
    {
      id: 'en-c',
      text: 'a completely different english sentence about compilers parsers and the registers of a virtual machine',
    },
  ];
  writeFileSync(p, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  const space = await runDedup(cfgFor('simhash', [p], join(dir, 'space'), { tokenization: 'space' }), ex, {
    workers: 1,
    log: noLog,
  });
  assert.deepEqual(
    [...dupMap(join(dir, 'space'))],
    [['en-b', 'en-a']],
    'space tokens: only the true near-duplicate pair is removed',
  );
  assert.equal(space.unsigned, shortZh.length, 'every short Chinese document is counted as skipped (no shingles)');
  assert.equal(space.kept, docs.length - 1);
  const stats = JSON.parse(readFileSync(join(dir, 'space', 'dedup-stats.json'), 'utf8'));
  assert.equal(stats.unsigned, shortZh.length);
  // default (auto: character windows for Chinese): the short Chinese pages get shingles and stay apart; a Chinese
  // near-duplicate pair is found
  const q = join(dir, 'b.jsonl');
  const zhLong =
    '这是一段用来测试近似重复检测的中文文本，它没有空格，但是内容足够长，可以生成很多字符窗口。我们希望算法能够找到它的近似副本。';
  writeFileSync(
    q,
    [
      ...shortZh.map((text, i) => ({ id: `zh${i}`, text })),
      { id: 'zl-a', text: zhLong },
      { id: 'zl-b', text: zhLong.replace(/。$/, '！') },
      { id: 'tiny', text: '你好' },
    ]
      .map((d) => JSON.stringify(d))
      .join('\n'),
  );
  const chr = await runDedup(cfgFor('simhash', [q], join(dir, 'char')), ex, {
    workers: 1,
    log: noLog,
  });
  assert.deepEqual([...dupMap(join(dir, 'char'))], [['zl-b', 'zl-a']]);
  assert.equal(chr.unsigned, 1, 'a 2-character document has no 6-character window');
});

test('dedup against a previous run index removes new documents that duplicate kept ones', async () => {
  const dir = tmpDir('dd-ix-');
  const fx = writeFixture(join(dir, 'in'), { files: 2, perFile: 20, seed: 3 });
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  const a = join(dir, 'a');
  await runDedup(cfgFor('minhash', [fx.files[0]!], a), ex, { workers: 1, log: noLog });
  const keptA = readDocsDir(a);
  // new data: the second file plus a lightly edited copy of two documents kept by run A
  const extra = join(dir, 'in', 'new.jsonl');
  writeFileSync(
    extra,
    keptA
      .slice(0, 2)
      .map((d, i) => JSON.stringify({ id: `new-${i}`, text: d.text + ' 完' }))
      .join('\n') + '\n',
  );
  const b = join(dir, 'b');
  const rb = await runDedup(cfgFor('minhash', [fx.files[1]!, extra], b, { index: a }), ex, { workers: 1, log: noLog });
  const dups = dupMap(b);
  assert.equal(dups.get('new-0'), keptA[0]!.id);
  assert.equal(dups.get('new-1'), keptA[1]!.id);
  assert.ok(!readDocsDir(b).some((d) => d.id.startsWith('new-')));
  const man = JSON.parse(readFileSync(join(b, 'index', 'manifest.json'), 'utf8'));
  assert.equal(man.docs, keptA.length + rb.kept, 'the new index holds the old kept docs and the new kept docs');
});

/** Every band's records of a run's index as a later run reads them (merged, as a version-1 index held them). */
function indexRecords(out: string): number[][] {
  const dir = join(out, 'index');
  const ix = new IndexRuns(dir);
  const { bands, width } = readIndexManifest(dir);
  return Array.from({ length: bands }, (_, b) => {
    const recs: number[] = [];
    mergeRuns(ix.band(b), width, (g, n) => recs.push(...g.subarray(0, n * width)));
    return recs;
  });
}

/** Rewrite a run's index as a version-1 index (each band's records merged into bands/bBBB.bin), as older runs wrote it. */
function toVersion1(out: string): void {
  const dir = join(out, 'index');
  const man = readIndexManifest(dir);
  indexRecords(out).forEach((recs, b) => {
    const w = new RecordWriter(join(dir, 'bands', `b${String(b).padStart(3, '0')}.bin`), man.width);
    w.writeMany(Uint32Array.from(recs), recs.length / man.width);
    w.close();
  });
  rmSync(join(dir, 'src'), { recursive: true });
  const { sources: _s, ...v1 } = man;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...v1, version: 1 }));
}

test('an index links the signatures of the kept documents; chained runs and a version-1 index find the same duplicates', async () => {
  const dir = tmpDir('dd-ix2-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 20, seed: 5 });
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  const edited = (docs: { text: string }[], i: number, tag: string) =>
    JSON.stringify({ id: tag, text: docs[i]!.text + ' 完' });
  // A: file 0 (with its planted duplicates dropped); B: file 1 against A, plus near-copies of two documents A kept
  const a = join(dir, 'a');
  const ra = await runDedup(cfgFor('minhash', [fx.files[0]!], a), ex, { workers: 1, log: noLog });
  assert.ok(ra.dropped > 0, 'run A drops documents: its index must skip them');
  const keptA = readDocsDir(a);
  const inB = join(dir, 'in', 'b.jsonl');
  writeFileSync(inB, [edited(keptA, 0, 'b-0'), edited(keptA, 1, 'b-1')].join('\n') + '\n');
  const b = join(dir, 'b');
  const rb = await runDedup(cfgFor('minhash', [fx.files[1]!, inB], b, { index: a }), ex, { workers: 1, log: noLog });
  const keptB = readDocsDir(b);
  const manB = readIndexManifest(join(b, 'index'));
  assert.equal(manB.version, 2);
  assert.equal(manB.docs, keptA.length + rb.kept);
  // the sources: A's file, then B's input file 0 (its second file's documents were all dropped: no source)
  assert.deepEqual(
    manB.sources!.map((s) => (s.kind === 'sig' ? [s.docs, s.base] : [])),
    [
      [ra.read, 0],
      [rb.read - 2, keptA.length],
    ],
  );
  // each band holds one record per index document (A's kept, then B's), read from the linked signature files
  const bRecs = indexRecords(b);
  assert.equal(bRecs[0]!.length / manB.width, manB.docs);
  // C: near-copies of a document A kept and of one B kept, against B's index (A's documents carried)
  const inC = join(dir, 'in', 'c.jsonl');
  writeFileSync(inC, [edited(keptA, 2, 'c-a'), edited(keptB, 0, 'c-b'), edited(keptA, 3, 'c-x')].join('\n') + '\n');
  const c1 = join(dir, 'c1');
  await runDedup(cfgFor('minhash', [inC], c1, { index: b }), ex, { workers: 1, log: noLog });
  const dups = dupMap(c1);
  assert.equal(dups.get('c-a'), keptA[2]!.id);
  assert.equal(dups.get('c-b'), keptB[0]!.id);
  assert.equal(dups.get('c-x'), keptA[3]!.id);
  // the same against B's index rewritten as version 1, and C's index carries its band files
  toVersion1(b);
  const c2 = join(dir, 'c2');
  const rc2 = await runDedup(cfgFor('minhash', [inC], c2, { index: b }), ex, { workers: 1, log: noLog });
  assert.deepEqual([...dupMap(c2)].sort(), [...dups].sort());
  assert.deepEqual(indexRecords(c2), indexRecords(c1));
  assert.equal(rc2.kept, 0);
  assert.deepEqual(
    readIndexManifest(join(c2, 'index')).sources!.map((s) => s.kind),
    ['bands'],
  );
});

test('a run killed in each stage resumes to the same result as an uninterrupted run', async () => {
  const dir = tmpDir('dd-kill-');
  const fx = writeFixture(join(dir, 'in'), { files: 2, perFile: 24, seed: 11 });
  const ref = join(dir, 'ref');
  await runDedup(cfgFor('minhash', fx.files, ref), new LocalExecutor({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: noLog,
  });
  const out = join(dir, 'out');
  // a fresh executor per run: its worker processes keep the hooks they started with, and serve every step of a run
  const executor = () => new LocalExecutor({ inProcess: 'never', ...quiet, worker: HOOKED_WORKER }); // injects the hooks
  // the clustering in memory (this graph's size), and through the rounds (memoryClusteringEdges -1)
  const crashes: [string, number?][] = [
    ['signatures'],
    ['buckets'],
    ['verify-sets'],
    ['verify'],
    ['cc-memory'],
    ['cc-large', -1],
    ['cc-small', -1],
    ['join', -1],
    ['reduce', -1],
    ['reduce'],
    ['filter'],
    ['index'],
  ];
  for (const [c, memoryClusteringEdges] of crashes) {
    Object.assign(process.env, testHooksEnv({ dedupCrash: c })); // for the worker processes
    const ex = executor();
    try {
      await assert.rejects(
        runDedup(cfgFor('minhash', fx.files, out), ex, { workers: 1, log: noLog, memoryClusteringEdges }),
        /died while running/,
        `crash at ${c}`,
      );
    } finally {
      delete process.env[TEST_HOOKS_ENV];
      ex.close();
    }
  }
  const ex = executor();
  try {
    await runDedup(cfgFor('minhash', fx.files, out), ex, { workers: 1, log: noLog });
  } finally {
    ex.close();
  }
  const byId = (a: { id: string }[]) => a.sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.deepEqual(byId(readDocsDir(out)), byId(readDocsDir(ref)));
  assert.deepEqual([...dupMap(out)].sort(), [...dupMap(ref)].sort());
  assert.deepEqual(readFileSync(join(out, 'index', 'info.bin')), readFileSync(join(ref, 'index', 'info.bin')));
  assert.deepEqual(indexRecords(out), indexRecords(ref));
  // no temporary files left in the output
  assert.ok(!readdirSync(join(out, 'docs')).some((n) => n.endsWith('.tmp')));
});

test('a truncated or altered intermediate is detected, named, and never used', async () => {
  const dir = tmpDir('dd-bad-');
  const fx = writeFixture(join(dir, 'in'), { files: 2, perFile: 12, seed: 5 });
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  const out = join(dir, 'out');
  const cfg = cfgFor('minhash', fx.files, out);
  await runDedup(cfg, ex, { workers: 1, log: noLog });
  // damage the signature file of a finished signatures step, then rerun the later steps from scratch
  const resolved = { ...cfg, workDir: join(dir, 'out', 'work') };
  const victim = sigPath(resolved, 1);
  const rerunLater = () => {
    for (const d of readdirSync(join(out, 'work', '.state')))
      if (d !== 'dedup-signatures') require_rm(join(out, 'work', '.state', d));
  };
  const orig = readFileSync(victim);
  truncateSync(victim, statSync(victim).size - 7);
  rerunLater();
  await assert.rejects(
    runDedup(cfg, ex, { workers: 1, log: noLog }),
    (e: Error) => e.message.includes(victim) && /truncated|size/.test(e.message),
  );
  const flipped = Buffer.from(orig);
  flipped[40] ^= 0x10;
  writeFileSync(victim, flipped);
  await assert.rejects(
    runDedup(cfg, ex, { workers: 1, log: noLog }),
    (e: Error) => e.message.includes(victim) && /checksum/.test(e.message),
  );
  writeFileSync(victim, orig);
  const r = await runDedup(cfg, ex, { workers: 1, log: noLog });
  assert.ok(r.dropped > 0);
});

import { rmSync } from 'node:fs';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
function require_rm(p: string) {
  rmSync(p, { recursive: true, force: true });
}

test('minhash defaults find English near-copies with character-level edits (and nothing else)', async () => {
  const dir = tmpDir('dd-en-');
  const rnd = seededRandom(31);
  const docs: { id: string; text: string; lang: string }[] = [];
  const planted = new Map<string, string>();
  for (let i = 0; i < 40; i++) docs.push({ id: `o${i}`, text: randomEn(rnd, 150), lang: 'en' });
  // typo-level edits: 1% of the characters substituted, deleted or doubled (J of character 5-grams ≈ 0.9)
  for (let i = 0; i < 20; i++) {
    const a = Array.from(docs[i]!.text);
    for (let k = 0; k < Math.round(a.length * 0.01); k++) {
      const p = rnd() % a.length;
      const op = rnd() % 3;
      if (op === 0) a[p] = 'x';
      else if (op === 1) a[p] = '';
      else a[p] = a[p]! + a[p]!;
    }
    docs.push({ id: `e${i}`, text: a.join(''), lang: 'en' });
    planted.set(`e${i}`, `o${i}`);
  }
  const p = join(dir, 'in.jsonl');
  writeFileSync(p, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const r = await runDedup(
    cfgFor('minhash', [p], join(dir, 'out')),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    {
      workers: 1,
      log: noLog,
    },
  );
  assert.deepEqual([...dupMap(join(dir, 'out'))].sort(), [...planted].sort());
  assert.equal(r.dropped, planted.size);
});

test('simhash defaults never merge unrelated short Chinese pages (real fortunes)', async () => {
  const dir = tmpDir('dd-shzh-');
  const src = new URL('../corpora-manifests/sample/fortunes-zh.jsonl.zst', import.meta.url).pathname;
  const texts = Buffer.from(decompress(readFileSync(src)))
    .toString('utf8')
    .split('\n')
    .filter((l) => l)
    .flatMap((l) => (JSON.parse(l).text as string).split(/\n\s*\n/))
    .map((t) => t.replace(/\u001b\[[0-9;]*m/g, '').trim())
    .filter((t) => t.length >= 20 && t.length < 200 && /\p{Script=Han}/u.test(t))
    .slice(0, 1500);
  const p = join(dir, 'in.jsonl');
  writeFileSync(p, texts.map((text, i) => JSON.stringify({ id: `f${i}`, text })).join('\n') + '\n');
  const r = await runDedup(
    cfgFor('simhash', [p], join(dir, 'out')),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    {
      workers: 1,
      log: noLog,
    },
  );
  assert.ok(texts.length > 1000, `${texts.length} pages`);
  assert.equal(r.read, texts.length);
  assert.ok(
    r.read - r.unsigned > 0.95 * texts.length,
    'the short Chinese pages are signed (character windows), not skipped',
  );
  const grams = (t: string) => uniqueSorted(charShingles(t, 5));
  for (const [id, of] of dupMap(join(dir, 'out'))) {
    const J = jaccardSorted(grams(texts[Number(id.slice(1))]!), grams(texts[Number(of.slice(1))]!));
    assert.ok(J >= 0.5, `${id} removed as a duplicate of ${of} at character 5-gram Jaccard ${J.toFixed(2)}`);
  }
});

test('verification re-reads only the candidate lines of a JSONL file: BOM, blank lines and CRLF keep their numbering', async () => {
  const dir = tmpDir('dd-lines-');
  const rnd = seededRandom(5);
  const a = randomEn(rnd, 200);
  const lines = [
    JSON.stringify({ id: 'x0', text: randomEn(rnd, 200) }),
    '',
    JSON.stringify({ id: 'a', text: a }),
    JSON.stringify({ id: 'x1', text: randomEn(rnd, 200) }),
    '',
    '',
    JSON.stringify({ id: 'b', text: a.replace(/e/, 'E').slice(0, -3) }),
  ];
  const p = join(dir, 'in.jsonl');
  writeFileSync(p, '\ufeff' + lines.join('\r\n') + '\r\n');
  const r = await runDedup(
    cfgFor('minhash', [p], join(dir, 'out')),
    new LocalExecutor({ inProcess: 'always', ...quiet }),
    {
      workers: 1,
      log: noLog,
    },
  );
  assert.deepEqual([...dupMap(join(dir, 'out'))], [['b', 'a']]);
  assert.equal(r.read, 4);
});

test('in a recipe, the map phase signs the documents it writes: the signatures step reads nothing, same files and result as reading them; a map task killed while signing resumes to the same result', async () => {
  const dir = tmpDir('dd-sink-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 24, seed: 13 });
  const operators = new OperatorRegistry([...PIPELINE_OPS, () => import('./ops.ts')]);
  const recipe = { name: 'sink', steps: [{ op: 'nfkc' }, { op: 'minhash_dedup' }] };
  const out = join(dir, 'out');
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  const stats = await runPipeline({
    recipe,
    inputs: fx.files,
    outDir: out,
    workers: 1,
    quiet: true,
    operators,
    executor: ex,
  });
  const work = join(out, '.state', 'p1-minhash_dedup', 'work');
  assert.ok(!existsSync(join(work, '.state', 'dedup-signatures')), 'no signatures step ran');
  assert.ok(
    stats.tasks.every((t) => (t.sink_cpu_seconds ?? 0) > 0),
    'every map task signed its documents',
  );
  assert.equal(stats.dropped_by_rule.minhash_dup, fx.planted.size);
  // the signatures step reading the map phase's files writes the same files
  const parts = stats.tasks.map((t) => t.outputs.docs);
  const ref = join(dir, 'ref');
  await runDedup(cfgFor('minhash', parts, ref), ex, { workers: 1, log: noLog });
  assert.ok(existsSync(join(ref, 'work', '.state', 'dedup-signatures')));
  for (const f of readdirSync(join(ref, 'work', 'sig'), { recursive: true }) as string[]) {
    if (!f.endsWith('.bin')) continue;
    assert.deepEqual(readFileSync(join(work, 'sig', f)), readFileSync(join(ref, 'work', 'sig', f)), f);
  }
  assert.deepEqual(
    readFileSync(join(out, '.state', 'p1-minhash_dedup', 'duplicates.jsonl'), 'utf8'),
    readFileSync(join(ref, 'duplicates.jsonl'), 'utf8'),
  );
  // killed while signing (worker processes): the rerun resumes to the same documents
  const out2 = join(dir, 'out2');
  const hooked = () => new LocalExecutor({ inProcess: 'never', ...quiet, worker: HOOKED_WORKER });
  Object.assign(process.env, testHooksEnv({ dedupCrash: 'signatures' }));
  const ex1 = hooked();
  try {
    await assert.rejects(
      runPipeline({ recipe, inputs: fx.files, outDir: out2, workers: 2, quiet: true, operators, executor: ex1 }),
      /died while running/,
    );
  } finally {
    delete process.env[TEST_HOOKS_ENV];
    ex1.close();
  }
  const ex2 = hooked();
  try {
    await runPipeline({ recipe, inputs: fx.files, outDir: out2, workers: 2, quiet: true, operators, executor: ex2 });
  } finally {
    ex2.close();
  }
  const byId = (a: { id: string }[]) => a.sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.deepEqual(byId(readDocsDir(out2)), byId(readDocsDir(out)));
});

test('minhash verify re-reads candidate lines that span the read chunks of a plain JSONL file', async () => {
  const dir = tmpDir('dd-span-');
  const rnd = seededRandom(5);
  const orig = { id: 'orig', text: randomEn(rnd, 400) };
  const copy = { id: 'copy', text: orig.text.replace(/ the /, ' THE  ') }; // J = 1 after lowercasing and collapsing
  const lines: string[] = [JSON.stringify(orig)];
  let bytes = Buffer.byteLength(lines[0]!) + 1;
  // fillers up to just before the 1 MiB read chunk of a plain file, then the copy across it, then more fillers
  for (let i = 0; bytes < (1 << 20) - 1000; i++) {
    const l = JSON.stringify({ id: `f${i}`, text: randomEn(rnd, 150) });
    lines.push(l);
    bytes += Buffer.byteLength(l) + 1;
  }
  const copyLine = JSON.stringify(copy);
  assert.ok(bytes < 1 << 20 && bytes + Buffer.byteLength(copyLine) > 1 << 20, 'the copy spans the chunk boundary');
  lines.push(copyLine);
  for (let i = 0; i < 50; i++) lines.push(JSON.stringify({ id: `g${i}`, text: randomEn(rnd, 150) }));
  const file = join(dir, 'in.jsonl');
  writeFileSync(file, lines.join('\n')); // the last line unterminated
  const out = join(dir, 'out');
  const r = await runDedup(cfgFor('minhash', [file], out), new LocalExecutor({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: noLog,
  });
  assert.deepEqual([...dupMap(out)], [['copy', 'orig']]);
  assert.equal(r.kept, lines.length - 1);
});

test('minhash verify checks n - 1 pairs of a cluster of n near-identical documents and none of sets too different in size', async () => {
  const dir = tmpDir('dd-forest-');
  const rnd = seededRandom(11);
  const base = randomEn(rnd, 400);
  const lines: string[] = [];
  // 8 copies that differ in one word each: J ≥ 0.8 for every pair
  for (let i = 0; i < 8; i++) lines.push(JSON.stringify({ id: `c${i}`, text: base.replace(/ \S+ /, ` w${i}x `) }));
  // the base and half as many words again: J ≈ 0.74, below the threshold by the sets' sizes alone
  lines.push(JSON.stringify({ id: 'longer', text: `${base} ${randomEn(rnd, 200)}` }));
  for (let i = 0; i < 40; i++) lines.push(JSON.stringify({ id: `f${i}`, text: randomEn(rnd, 150) }));
  const file = join(dir, 'in.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const out = join(dir, 'out');
  const logs: string[] = [];
  const r = await runDedup(cfgFor('minhash', [file], out), new LocalExecutor({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: (m: string) => logs.push(m),
  });
  assert.deepEqual(
    [...dupMap(out)].sort(),
    Array.from({ length: 7 }, (_, i) => [`c${i + 1}`, 'c0']),
  );
  assert.equal(r.kept, lines.length - 7);
  const [verified, pairs, connected, bySize] = verifyCounts(logs);
  assert.equal(verified, 7, 'a spanning tree of the cluster: 7 edges');
  assert.ok(connected! > 0, 'some candidate pairs of the cluster are not checked');
  assert.ok(bySize! > 0, "the longer document's pairs are decided by the sets' sizes");
  assert.equal(
    connected! + bySize!,
    pairs! - 7,
    'every candidate pair is an edge of the tree, not checked, or decided by size',
  );
});

test('minhash buckets record a candidate pair as u < v for the group of u, and reversed for the group of v only across groups', async () => {
  const dir = tmpDir('dd-cand-');
  const rnd = seededRandom(14);
  const base = randomEn(rnd, 400);
  const copy = (i: number) => base.replace(/ \S+ /, ` w${i}x `);
  const fill = (n: number) => Array.from({ length: n }, () => randomEn(rnd, 150));
  // file 0 (group 0): a0, a1 and fillers; file 1 (group 1): fillers, then b0. J ≥ 0.8 for each of the three pairs;
  // (a0, a1) and (a0, b0) are candidates (in this seed (a1, b0) shares no band)
  const texts = [
    [copy(0), copy(1), ...fill(15)],
    [...fill(15), copy(2)],
  ];
  const files = texts.map((t, f) => {
    const file = join(dir, `in${f}.jsonl`);
    writeFileSync(file, t.map((text, i) => JSON.stringify({ id: `f${f}-${i}`, text })).join('\n') + '\n');
    return file;
  });
  const out = join(dir, 'out');
  const cfg = { ...cfgFor('minhash', files, out), groups: 2 };
  await runDedup(cfg, new LocalExecutor({ inProcess: 'always', ...quiet }), { workers: 1, log: noLog });
  assert.deepEqual([...dupMap(out)].sort(), [
    ['f0-1', 'f0-0'],
    ['f1-15', 'f0-0'],
  ]);
  // nodes: a0 0, a1 1, b0 32. The distinct records by group: group 0 holds the pairs as u < v, group 1 the pair
  // across the groups reversed (for its sets task to read b0); no (1, 0)
  const byGroup = [0, 1].map((g) => {
    const recs: string[] = [];
    for (const from of readdirSync(join(out, 'work', 'cand'))) {
      const f = join(out, 'work', 'cand', from, `to-0000${g}.bin`);
      if (!existsSync(f)) continue;
      const w = readAllRecords(f).words;
      for (let i = 0; i < w.length; i += 3) recs.push(`${w[i]}-${w[i + 1]}`);
    }
    return [...new Set(recs)].sort(); // a pair's record in every band it shares
  });
  assert.deepEqual(byGroup, [['0-1', '0-32'], ['32-0']]);
});

/** verify's log line: verified, distinct pairs, not checked, decided by size. */
function verifyCounts(logs: string[]): number[] {
  const line = logs.find((l) => l.startsWith('verify: '));
  const m =
    /^verify: (\d+) of (\d+) distinct candidate pairs .*, (\d+) not checked .*, (\d+) below it by their sets' sizes/.exec(
      line ?? '',
    );
  assert.ok(m, line);
  return m.slice(1).map(Number);
}

test('minhash verify takes the pairs whose sketch estimate reaches the threshold first, and skips a weaker pair they join', async () => {
  const dir = tmpDir('dd-order-');
  const rnd = seededRandom(12);
  const base = randomEn(rnd, 400).split(' ');
  const edit = (from: number) => base.map((w, i) => (i >= from && i < from + EDITS ? `${w}q` : w)).join(' ');
  const EDITS = 24;
  // a (first node) and c differ from b in different words: J(a, b) 0.875 and J(b, c) 0.876 above the threshold (sketch
  // estimates 0.802 and 0.818), J(a, c) 0.79 below (estimate 0.698: still a candidate). In node order (a, c) comes
  // before (b, c) and is checked; after the pairs whose estimate reaches the threshold, a and c are already joined
  const lines = [edit(20), base.join(' '), edit(300)].map((text, i) => JSON.stringify({ id: `d${i}`, text }));
  for (let i = 0; i < 30; i++) lines.push(JSON.stringify({ id: `f${i}`, text: randomEn(rnd, 150) }));
  const file = join(dir, 'in.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const logs: string[] = [];
  const out = join(dir, 'out');
  await runDedup(cfgFor('minhash', [file], out), new LocalExecutor({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: (m: string) => logs.push(m),
  });
  assert.deepEqual([...dupMap(out)].sort(), [
    ['d1', 'd0'],
    ['d2', 'd0'],
  ]);
  assert.deepEqual(verifyCounts(logs), [2, 3, 1, 0], '2 edges, the third pair not checked');
});

test('minhash verify reads the shingle sets whole or set by set with the same result, and detects a damaged sets file', async () => {
  const dir = tmpDir('dd-sets-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 30 });
  const runs: { dups: [string, string][]; counts: number[] }[] = [];
  try {
    for (const budget of [undefined, 0]) {
      setTestHooks(budget === undefined ? undefined : { dedupSetsInMemory: budget });
      const out = join(dir, `out-${budget ?? 'default'}`);
      const logs: string[] = [];
      const cfg = cfgFor('minhash', fx.files, out);
      const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
      await runDedup(cfg, ex, { workers: 1, log: (m: string) => logs.push(m) });
      runs.push({ dups: [...dupMap(out)].sort(), counts: verifyCounts(logs) });
      // a flipped word in a sets file: named, and never used (read whole or set by set, each set is checked against
      // the index's check word)
      const sets = join(out, 'work', 'vsets', 's00000.bin');
      const orig = readFileSync(sets);
      const flipped = Buffer.from(orig);
      flipped[orig.length - 40] ^= 0x10;
      const state = join(out, 'work', '.state');
      for (const d of readdirSync(state))
        if (!['dedup-signatures', 'dedup-buckets', 'dedup-verify-sets'].includes(d)) require_rm(join(state, d));
      writeFileSync(sets, flipped);
      await assert.rejects(
        runDedup(cfg, ex, { workers: 1, log: noLog }),
        (e: Error) => e.message.includes(sets) && /fails its check/.test(e.message),
      );
    }
  } finally {
    setTestHooks(undefined);
  }
  assert.ok(runs[0]!.dups.length > 0 && runs[0]!.counts[0]! > 0);
  assert.deepEqual(runs[1], runs[0]);
});

test('minhash verify in the process that wrote the sets files takes the sets as written, and only while a file is unchanged', async () => {
  const dir = tmpDir('dd-held-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 30 });
  const out = join(dir, 'out');
  const vsets = join(out, 'work', 'vsets');
  let checked = 0;
  // before the verify step: each sets task's held sets equal its file's, in its index's order; a file touched since is not taken
  class Spy extends LocalExecutor {
    override async runTasks<A, R extends TaskResult>(task: Task<string, A, R>, args: NoInfer<A>, o: RunTasksOptions) {
      if (o.name === 'dedup-verify') {
        const groups = readdirSync(vsets).filter((n) => n.endsWith('.idx.bin')).length;
        assert.ok(groups >= 1);
        for (let g = 0; g < groups; g++) {
          const path = join(vsets, `s0000${g}.bin`);
          const held = writtenSetsOf(path);
          const words = readAllRecords(path).words;
          const ix = readAllRecords(join(vsets, `s0000${g}.idx.bin`)).words;
          assert.ok(held, path);
          assert.equal(held.length, ix.length / 4);
          for (let k = 0; k < held.length; k++)
            assert.deepEqual(held[k], words.slice(ix[4 * k + 1]!, ix[4 * k + 1]! + ix[4 * k + 2]!));
          checked += held.length;
        }
        const last = join(vsets, `s0000${groups - 1}.bin`);
        utimesSync(last, new Date(), new Date(Date.now() + 5000));
        assert.equal(writtenSetsOf(last), undefined, 'a changed file is read');
      }
      return super.runTasks(task, args, o);
    }
  }
  const logs: string[] = [];
  await runDedup(cfgFor('minhash', fx.files, out), new Spy({ inProcess: 'always', ...quiet }), {
    workers: 1,
    log: (m: string) => logs.push(m),
  });
  assert.ok(checked > 0 && verifyCounts(logs)[0]! > 0);
  assert.equal(writtenSetsOf(join(vsets, 's00000.bin')), undefined, 'dropped after the verify stage');
  // the same duplicates as a run that reads every set from its file
  const out2 = join(dir, 'out-read');
  try {
    setTestHooks({ dedupSetsInMemory: 0 });
    await runDedup(cfgFor('minhash', fx.files, out2), new LocalExecutor({ inProcess: 'always', ...quiet }), {
      workers: 1,
      log: noLog,
    });
  } finally {
    setTestHooks(undefined);
  }
  assert.deepEqual([...dupMap(out)].sort(), [...dupMap(out2)].sort());
});

/**
 * Two files of near-duplicate clusters among fillers: each cluster a base text and variants with 24 of its 400 words
 * edited at another place (base–variant J ≈ 0.88, a candidate pair estimated at the threshold or above; variant–variant
 * J ≈ 0.79, many of them candidates estimated below it), the clusters' documents spread over both files.
 */
function clusterFiles(dir: string): string[] {
  const rnd = seededRandom(31);
  const files: string[][] = [[], []];
  for (let c = 0; c < 6; c++) {
    const base = randomEn(rnd, 400).split(' ');
    const edit = (from: number) => base.map((w, i) => (i >= from && i < from + 24 ? `${w}q` : w)).join(' ');
    for (let v = 0; v < 6; v++) files[(c + v) % 2]!.push(v === 0 ? base.join(' ') : edit(v * 60));
    for (let i = 0; i < 4; i++) files[i % 2]!.push(randomEn(rnd, 150));
  }
  return files.map((texts, f) => {
    const file = join(dir, `in${f}.jsonl`);
    writeFileSync(file, texts.map((text, i) => JSON.stringify({ id: `f${f}-${i}`, text })).join('\n') + '\n');
    return file;
  });
}

test('minhash verify split over ranges by the workers checks every pair once, with the result of one task', async () => {
  const dir = tmpDir('dd-ranges-');
  const files = clusterFiles(dir);
  const runs = [];
  for (const workers of [1, 2, 3]) {
    const out = join(dir, `out-${workers}`);
    const logs: string[] = [];
    const cfg = { ...cfgFor('minhash', files, out), groups: 2 };
    await runDedup(cfg, new LocalExecutor({ inProcess: 'always', ...quiet }), {
      workers,
      log: (m: string) => logs.push(m),
    });
    const plan = JSON.parse(readFileSync(join(out, 'work', '.state', 'verify-plan.json'), 'utf8')) as {
      bounds: number[];
    };
    runs.push({ dups: [...dupMap(out)].sort(), counts: verifyCounts(logs), ranges: plan.bounds.length - 1 });
  }
  assert.ok(runs[0]!.dups.length >= 30, 'the clusters found');
  assert.deepEqual(
    runs.map((r) => r.ranges),
    [1, 2, 3],
    'a range per worker',
  );
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.dups, runs[0]!.dups);
    assert.equal(r.counts[1], runs[0]!.counts[1], 'every distinct candidate pair counted once, by its range');
  }
  const [verified, pairs, connected, bySize] = runs[0]!.counts;
  assert.ok(pairs! - connected! - bySize! > verified!, 'pairs below the threshold checked');
});

test('the sets step writes each other pair once, by u and v, which verify takes from it; a damaged or missing pairs file is named', async () => {
  const dir = tmpDir('dd-pairs-');
  const files = clusterFiles(dir);
  const out = join(dir, 'out');
  const cfg = { ...cfgFor('minhash', files, out), groups: 2 };
  const logs: string[] = [];
  const ex = new LocalExecutor({ inProcess: 'always', ...quiet });
  await runDedup(cfg, ex, { workers: 2, log: (m: string) => logs.push(m) });
  const vsets = join(out, 'work', 'vsets');
  const pairsFiles = readdirSync(vsets).filter((n) => n.endsWith('.pairs.bin'));
  assert.deepEqual(pairsFiles, ['s00000.pairs.bin'], 'one sets task (two groups), one pairs file');
  const other = readAllRecords(join(vsets, pairsFiles[0]!));
  const likely = readAllRecords(join(vsets, 's00000.likely.bin'));
  assert.equal(other.width, 2);
  const w = other.words;
  for (let i = 0; i < w.length; i += 2) {
    assert.ok(w[i]! < w[i + 1]!, 'u < v');
    if (i > 0) assert.ok(w[i - 2]! < w[i]! || (w[i - 2] === w[i] && w[i - 1]! < w[i + 1]!), 'by u and v, each once');
  }
  assert.ok(other.count > 0 && likely.count > 0);
  assert.equal(other.count + likely.count, verifyCounts(logs)[1], 'every distinct candidate pair in one of the files');
  const dups = [...dupMap(out)].sort();
  // verify again from the sets step's files: a flipped word, then a missing file, named and not used
  const path = join(vsets, pairsFiles[0]!);
  const orig = readFileSync(path);
  const rerunVerify = () => {
    for (const d of readdirSync(join(out, 'work', '.state')))
      if (!['dedup-signatures', 'dedup-buckets', 'dedup-verify-sets', 'verify-plan.json'].includes(d))
        require_rm(join(out, 'work', '.state', d));
  };
  const flipped = Buffer.from(orig);
  flipped[orig.length - 40] ^= 0x10;
  writeFileSync(path, flipped);
  rerunVerify();
  await assert.rejects(
    runDedup(cfg, ex, { workers: 2, log: noLog }),
    (e: Error) => e.message.includes(path) && /checksum/.test(e.message),
  );
  require_rm(path);
  await assert.rejects(
    runDedup(cfg, ex, { workers: 2, log: noLog }),
    (e: Error) => e.message.includes(path) && /missing/.test(e.message),
  );
  writeFileSync(path, orig);
  await runDedup(cfg, ex, { workers: 2, log: noLog });
  assert.deepEqual([...dupMap(out)].sort(), dups);
});

test('a verify step killed with 2 workers resumes with 1 worker on the recorded ranges, to the same result', async () => {
  const dir = tmpDir('dd-ranges-kill-');
  const files = clusterFiles(dir);
  const cfg = (out: string) => ({ ...cfgFor('minhash', files, out), groups: 2 });
  const ref = join(dir, 'ref');
  await runDedup(cfg(ref), new LocalExecutor({ inProcess: 'always', ...quiet }), { workers: 1, log: noLog });
  const out = join(dir, 'out');
  Object.assign(process.env, testHooksEnv({ dedupCrash: 'verify' }));
  const ex = new LocalExecutor({ inProcess: 'never', ...quiet, worker: HOOKED_WORKER });
  try {
    await assert.rejects(runDedup(cfg(out), ex, { workers: 2, log: noLog }), /died while running/);
  } finally {
    delete process.env[TEST_HOOKS_ENV];
    ex.close();
  }
  const planPath = join(out, 'work', '.state', 'verify-plan.json');
  const plan = readFileSync(planPath, 'utf8');
  assert.equal((JSON.parse(plan) as { bounds: number[] }).bounds.length, 3, 'two ranges recorded');
  await runDedup(cfg(out), new LocalExecutor({ inProcess: 'always', ...quiet }), { workers: 1, log: noLog });
  assert.equal(readFileSync(planPath, 'utf8'), plan, 'the recorded plan kept');
  assert.deepEqual(
    readdirSync(join(out, 'work', 'edges')).filter((d) => d.startsWith('from-v')),
    ['from-v00000', 'from-v00001'],
  );
  assert.deepEqual([...dupMap(out)].sort(), [...dupMap(ref)].sort());
  const byId = (a: { id: string }[]) => a.sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.deepEqual(byId(readDocsDir(out)), byId(readDocsDir(ref)));
  // a damaged plan is named, not used
  writeFileSync(planPath, '{"bounds":[0,5,5],"sizes":[1,1]}');
  require_rm(join(out, 'work', '.state', 'dedup-verify'));
  await assert.rejects(
    runDedup(cfg(out), new LocalExecutor({ inProcess: 'always', ...quiet }), { workers: 1, log: noLog }),
    (e: Error) => e.message.includes(planPath) && /not a verify plan/.test(e.message),
  );
});

test('the filter step with several workers gives its tasks an estimate of their cost: the bytes they keep, a share of those they read, and the documents they keep', async () => {
  const dir = tmpDir('dd-fcost-');
  const rnd = seededRandom(5);
  // group 0: the larger input, ten near-copies of one document (nine dropped); group 1: ten distinct documents
  const base = randomEn(rnd, 2000).split(' ');
  const copies = Array.from({ length: 10 }, (_, v) => base.map((w, i) => (i === v ? `${w}q` : w)).join(' '));
  const distinct = Array.from({ length: 10 }, () => randomEn(rnd, 1000));
  const files = [copies, distinct].map((texts, f) => {
    const file = join(dir, `in${f}.jsonl`);
    writeFileSync(file, texts.map((text, i) => JSON.stringify({ id: `f${f}-${i}`, text })).join('\n') + '\n');
    return file;
  });
  const given = new Map<number, number[] | undefined>();
  class Spy extends LocalExecutor {
    override runTasks<A, R extends TaskResult>(task: Task<string, A, R>, args: NoInfer<A>, o: RunTasksOptions) {
      if (o.name === 'dedup-filter') given.set(o.workers, o.sizes);
      return super.runTasks(task, args, o);
    }
  }
  const counts = [];
  for (const workers of [1, 2]) {
    const out = join(dir, `out-${workers}`);
    const r = await runDedup(
      { ...cfgFor('minhash', files, out), groups: 2 },
      new Spy({ inProcess: 'always', ...quiet }),
      {
        workers,
        log: noLog,
      },
    );
    counts.push([r.read, r.kept, r.dropped]);
  }
  assert.deepEqual(counts[0], [20, 11, 9], 'nine near-copies dropped');
  assert.deepEqual(counts[1], counts[0]);
  assert.equal(given.get(1), undefined, 'one worker: rank order, no estimate');
  const sizes = given.get(2);
  assert.ok(sizes, 'two workers: an estimate per group');
  const bytes = [copies, distinct].map((t) => t.reduce((a, s) => a + Buffer.byteLength(s), 0));
  // a kept document also costs 1000 bytes' worth: one kept in group 0, ten in group 1
  const expect = [bytes[0]! / 10 + 0.3 * bytes[0]! + 1000, bytes[1]! + 0.3 * bytes[1]! + 10 * 1000];
  for (let g = 0; g < 2; g++)
    assert.ok(Math.abs(sizes[g]! - expect[g]!) < 1e-6 * expect[g]!, `group ${g}: ${sizes[g]}`);
  assert.ok(sizes[1]! > sizes[0]!, 'the group of distinct documents first, though its input is smaller');
});

test('the filter estimate counts the documents a group keeps: many short documents go before a few long ones of more bytes', async () => {
  const dir = tmpDir('dd-fdocs-');
  const rnd = seededRandom(7);
  // group 0: two long distinct documents; group 1: thirty short distinct ones, fewer bytes in all
  const long = Array.from({ length: 2 }, () => randomEn(rnd, 3000));
  const short = Array.from({ length: 30 }, () => randomEn(rnd, 150));
  const files = [long, short].map((texts, f) => {
    const file = join(dir, `in${f}.jsonl`);
    writeFileSync(file, texts.map((text, i) => JSON.stringify({ id: `f${f}-${i}`, text })).join('\n') + '\n');
    return file;
  });
  const bytes = [long, short].map((t) => t.reduce((a, s) => a + Buffer.byteLength(s), 0));
  assert.ok(bytes[0]! > bytes[1]!, 'group 0 holds more text');
  let sizes: number[] | undefined;
  class Spy extends LocalExecutor {
    override runTasks<A, R extends TaskResult>(task: Task<string, A, R>, args: NoInfer<A>, o: RunTasksOptions) {
      if (o.name === 'dedup-filter') sizes = o.sizes;
      return super.runTasks(task, args, o);
    }
  }
  const out = join(dir, 'out');
  const r = await runDedup(
    { ...cfgFor('minhash', files, out), groups: 2 },
    new Spy({ inProcess: 'always', ...quiet }),
    {
      workers: 2,
      log: noLog,
    },
  );
  assert.deepEqual([r.read, r.kept], [32, 32], 'nothing dropped');
  assert.ok(sizes, 'two workers: an estimate per group');
  assert.ok(sizes[1]! > sizes[0]!, `the group of thirty short documents first (${sizes.join(', ')})`);
});
