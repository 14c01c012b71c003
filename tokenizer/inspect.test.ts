import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDocs } from '../pipeline/writers/index.ts';
import { LocalExecutor } from '../pipeline/executor.ts';
import { tokenizeToShards } from './tokenize.ts';
import { inspectDir, formatReport, renderHtml } from './inspect.ts';
import { openInChromium, type OpenedPage } from '../pipeline/browser-check.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

/** A prep-like output folder: stats.json, docs/ (with dup_cluster_size), shards/. */
async function makeRun(root: string) {
  const docs = [];
  for (let i = 0; i < 60; i++) {
    const zh = i % 3 !== 0;
    docs.push({
      id: `d${i}`,
      source: zh ? 'wiki-zh' : 'books-en',
      lang: zh ? 'zh' : 'en',
      meta: { dup_cluster_size: i % 10 === 0 ? 3 : i % 4 === 0 ? 2 : 1 },
      text: zh
        ? `钢铁是怎样炼成的？𠀀第${i}章。`.repeat(1 + (i % 9))
        : `Chapter ${i}: <b>steel</b> & "iron". `.repeat(1 + (i % 6)),
    });
  }
  await writeDocs(join(root, 'docs', 'part-00000.jsonl.zst'), docs.slice(0, 30));
  await writeDocs(join(root, 'docs', 'part-00001.jsonl.zst'), docs.slice(30));
  writeFileSync(
    join(root, 'stats.json'),
    JSON.stringify({
      recipe: 'test',
      read: 75,
      kept: 60,
      dropped: 12,
      rejected: 3,
      dropped_by_rule: { alnum_ratio: 7, 'lang_id<script>': 5 },
    }),
  );
  await tokenizeToShards(
    [join(root, 'docs', 'part-00000.jsonl.zst'), join(root, 'docs', 'part-00001.jsonl.zst')],
    join(root, 'shards'),
    {
      executor: new LocalExecutor({ progress: { quiet: true } }),
      workers: 1,
      workDir: join(root, '.state', 'tok'),
      log: () => {},
    },
  );
  return docs;
}

test('inspect: prep folder and shard folder reports (tables, JSON)', async () => {
  const root = tmpDir('steel-insp-');
  try {
    const docs = await makeRun(root);
    const r = await inspectDir(root);
    assert.equal(r.kind, 'prep');
    assert.equal(r.totals.documents, 60);
    const zhChars = docs.filter((d) => d.lang === 'zh').reduce((a, d) => a + [...d.text].length, 0); // code points: 𠀀 (CJK Ext B) is one
    assert.equal(r.byLang.find((x) => x.name === 'zh')!.chars, zhChars);
    assert.equal(r.bySource.find((x) => x.name === 'wiki-zh')!.documents, 40);
    assert.ok(r.totals.tokens! > 60 && r.totals.charsPerToken! > 1);
    assert.equal(r.histograms.chars!.total, 60);
    assert.equal(r.histograms.tokens!.total, 60);
    assert.equal(
      r.histograms.tokens!.counts.reduce((a, b) => a + b, 0),
      60,
    );
    assert.equal(r.topTokens![0].count >= r.topTokens![1].count, true);
    assert.ok(
      r.topTokens!.some((t) => t.id === 151645 && t.count === 60 && t.text === '<|im_end|>'),
      'eos once per document',
    );
    assert.deepEqual(r.dupClusters!.clusters, [
      { size: 1, count: 42 },
      { size: 2, count: 12 },
      { size: 3, count: 6 },
    ]);
    assert.equal(r.dupClusters!.duplicatesRemoved, 12 + 12);
    assert.deepEqual(r.drops!.byRule, [
      { rule: 'alnum_ratio', documents: 7 },
      { rule: 'lang_id<script>', documents: 5 },
    ]);
    const txt = formatReport(r);
    assert.match(txt, /per source/);
    assert.match(txt, /alnum_ratio\s+7/);
    assert.match(txt, /wiki-zh\s+40/);
    JSON.parse(JSON.stringify(r));

    const s = await inspectDir(join(root, 'shards'));
    assert.equal(s.kind, 'shards');
    assert.equal(s.totals.documents, 60);
    assert.equal(s.totals.tokens, r.totals.tokens);
    assert.ok(s.totals.chars! > 0, 'characters estimated by decoding');
    // every document decoded (60 < the sample size): each source's characters are exact, in code points
    const cp = (src: string) => docs.filter((d) => d.source === src).reduce((a, d) => a + [...d.text].length, 0);
    assert.equal(s.bySource.find((x) => x.name === 'wiki-zh')!.chars, cp('wiki-zh'));
    assert.equal(s.bySource.find((x) => x.name === 'books-en')!.chars, cp('books-en'));
    assert.equal(s.histograms.chars!.max, r.histograms.chars!.max);
    assert.ok(Math.abs(s.totals.charsPerToken! - r.totals.charsPerToken!) / r.totals.charsPerToken! < 0.05);
    await assert.rejects(inspectDir(join(root, 'docs')), /neither a prep output folder/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('inspect: a prep folder without shards, dedup or a readable stats.json says what it could not report', async () => {
  const root = tmpDir('steel-insp-');
  await makeRun(root);
  // docs only, stats.json damaged: characters without tokens, a note for each missing part
  const bare = join(root, 'bare');
  cpSync(join(root, 'docs'), join(bare, 'docs'), { recursive: true });
  writeFileSync(join(bare, 'stats.json'), '{"read": 7');
  const r = await inspectDir(bare);
  assert.equal(r.kind, 'prep');
  assert.equal(r.totals.documents, 60);
  assert.ok(r.totals.chars! > 0);
  assert.equal(r.totals.tokens, undefined);
  assert.equal(r.topTokens, undefined);
  assert.equal(r.drops, undefined);
  assert.ok(r.bySource.every((x) => x.tokens === undefined && x.charsPerToken === undefined && x.chars! > 0));
  assert.equal(r.dupClusters?.documentsWithField, 60);
  assert.equal(r.notes.length, 2);
  assert.match(r.notes[0], /no OUT\/shards\/ \(the recipe has no tokenize step\)/);
  assert.match(r.notes[1], /stats\.json: unreadable/);
  // an unfinished tokenization, and documents without dup_cluster_size
  const half = join(root, 'half');
  mkdirSync(join(half, 'shards'), { recursive: true });
  await writeDocs(join(half, 'docs', 'part-00000.jsonl.zst'), [
    { id: 'a', source: 's', lang: 'en', meta: {}, text: 'steel and iron' },
  ]);
  const h = await inspectDir(half);
  assert.equal(h.dupClusters, undefined);
  assert.deepEqual(h.notes, [
    'OUT/shards/ has no manifest.json (tokenization unfinished?): tokens not reported',
    'no meta.dup_cluster_size in the documents (no dedup step in the recipe?)',
  ]);
  assert.deepEqual(h.bySource, [{ name: 's', documents: 1, chars: 14 }]);
});

test('inspect: HTML report renders in headless Chromium with charts and no errors', async (t) => {
  const root = tmpDir('steel-insp-');
  let opened: OpenedPage | null = null;
  try {
    await makeRun(root);
    const r = await inspectDir(root);
    const html = renderHtml(r);
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=["']?https?:/i, 'no external resources');
    const file = join(root, 'report.html');
    writeFileSync(file, html);
    opened = await openInChromium(t, file, 'the inspect HTML report');
    if (!opened) return;
    const { page, errors, requests } = opened;
    assert.equal(await page.title(), `steel inspect: ${root}`);
    const svgs = await page.locator('svg.chart').count();
    assert.ok(svgs >= 6, `expected >= 6 charts, got ${svgs}`);
    const bars = await page.locator('svg.chart rect').count();
    assert.ok(bars > 20, `${bars} bars`);
    // charts are laid out with a real size
    const box = await page.locator('#sources svg.chart').boundingBox();
    assert.ok(box && box.width > 300 && box.height > 40, JSON.stringify(box));
    assert.match(
      await page.locator('#drops').innerText(),
      /lang_id<script>/,
      'rule names are escaped text, not markup',
    );
    const data = JSON.parse((await page.locator('#report-data').textContent()) ?? '{}');
    assert.equal(data.totals.documents, 60);
    if (process.env.STEEL_SCREENSHOT) await page.screenshot({ path: process.env.STEEL_SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
  } finally {
    await opened?.close();
    rmSync(root, { recursive: true, force: true });
  }
});
