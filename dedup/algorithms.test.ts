import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { MinHasher, collisionProbability, optimalParams, sketchJaccard, seededRandom } from './minhash.ts';
import { charShingles, jaccardSorted, normalise, shingleMode, uniqueSorted, wordShingles } from './text.ts';
import { simhash, hamming, tables, blockRanges, tableKey } from './simhash.ts';
import { RecordReader, RecordWriter, readAllRecords, CorruptIntermediateError } from './runfile.ts';
import { randomZh, editChars } from './fixtures.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test('optimal bands × rows: S-curve is low below the threshold and high above it', () => {
  const p = optimalParams(0.8, 256);
  assert.ok(p.bands * p.rows <= 256);
  assert.ok(collisionProbability(0.5, p) < 0.05);
  assert.ok(collisionProbability(0.95, p) > 0.95);
  const q = optimalParams(0.5, 128);
  assert.ok(collisionProbability(0.5, q) > collisionProbability(0.5, p), 'a lower threshold catches more at J = 0.5');
});

test('minhash estimates Jaccard without bias; the 2-bit sketch tracks it; seeds are deterministic', () => {
  const rnd = seededRandom(42);
  const mh = new MinHasher({ bands: 16, rows: 16 }, 1);
  const mh2 = new MinHasher({ bands: 16, rows: 16 }, 1);
  let errFull = 0;
  let errSketch = 0;
  const n = 60;
  for (let t = 0; t < n; t++) {
    const a = randomZh(rnd, 1500);
    const b = editChars(rnd, a, (t % 10) / 100);
    const J = jaccardSorted(uniqueSorted(charShingles(a, 5)), uniqueSorted(charShingles(b, 5)));
    mh.compute(charShingles(a, 5));
    mh2.compute(charShingles(a, 5));
    assert.deepEqual(mh.sig, mh2.sig, 'same seed, same signature');
    const sa = mh.sig.slice();
    const ka = mh.sketch.slice();
    mh.compute(charShingles(b, 5));
    let eq = 0;
    for (let k = 0; k < 256; k++) if (sa[k] === mh.sig[k]) eq++;
    errFull += eq / 256 - J;
    errSketch += Math.abs(sketchJaccard(ka, 0, mh.sketch, 0, 256) - J);
  }
  assert.ok(Math.abs(errFull / n) < 0.02, `mean bias ${errFull / n}`);
  assert.ok(errSketch / n < 0.05, `sketch mean abs error ${errSketch / n}`);
});

test('shingles: character n-grams for zh, word n-grams otherwise; normalisation options', () => {
  assert.equal(shingleMode('zh', 'abc'), 'char');
  assert.equal(shingleMode('en', '中文中文'), 'word');
  assert.equal(shingleMode(undefined, '这是一个中文句子 with a few words'), 'char');
  assert.equal(shingleMode(undefined, 'plain english text here'), 'word');
  assert.equal(charShingles('一二三四五六', 5).length, 2);
  assert.deepEqual(Array.from(charShingles('ABCDE', 5)), Array.from(charShingles('abcde', 5)));
  assert.equal(wordShingles('one two three four five six', 5).length, 2);
  assert.deepEqual(
    Array.from(wordShingles('One, two; three four five', 5)),
    Array.from(wordShingles('one two three four five', 5)),
  );
  assert.equal(normalise(' A  b,1 ', { lowercase: true, whitespace: true, punctuation: true, digits: true }), 'a b 0');
  assert.equal(
    normalise(' A  b,1 ', { lowercase: false, whitespace: false, punctuation: false, digits: false }),
    ' A  b,1 ',
  );
});

test('simhash follows simhash-py / data-juicer: md5 shingle hashes, bit majority; a text without shingles has no simhash', () => {
  const text = 'the quick brown fox jumps over the lazy dog again and again';
  const toks = text.split(' ');
  const counts = new Array(64).fill(0);
  for (let i = 0; i + 6 <= toks.length; i++) {
    const h = BigInt(
      '0x' +
        createHash('md5')
          .update(toks.slice(i, i + 6).join(' '))
          .digest('hex')
          .slice(0, 16),
    );
    for (let b = 0; b < 64; b++) counts[b] += (h >> BigInt(b)) & 1n ? 1 : -1;
  }
  let want = 0n;
  for (let b = 0; b < 64; b++) if (counts[b] > 0) want |= 1n << BigInt(b);
  const [hi, lo] = simhash(text.toUpperCase(), { tokenization: 'space', window: 6, lowercase: true })!;
  assert.equal((BigInt(hi) << 32n) | BigInt(lo), want);
  assert.equal(
    simhash('这是一段没有空格的中文文本，长度足够。', { tokenization: 'space', window: 6, lowercase: true }),
    null,
    'no 6 space tokens: no shingles, no hash',
  );
  assert.equal(simhash('one two three four five', { tokenization: 'space', window: 6, lowercase: true }), null);
  assert.notEqual(
    simhash('这是一段没有空格的中文文本，长度足够。', { tokenization: 'character', window: 6, lowercase: true }),
    null,
  );
  // 15 tables for 6 blocks / distance 4; two hashes within distance 4 share a key in some table
  const t = tables(6, 4);
  assert.equal(t.length, 15);
  const r = blockRanges(6);
  const a: [number, number] = [0x12345678, 0x9abcdef0];
  const b: [number, number] = [(a[0] ^ (1 << 3) ^ (1 << 20)) >>> 0, (a[1] ^ (1 << 7) ^ (1 << 30)) >>> 0];
  assert.equal(hamming(a[0], a[1], b[0], b[1]), 4);
  assert.ok(t.some((tb, i) => String(tableKey(a[0], a[1], tb, r, i)) === String(tableKey(b[0], b[1], tb, r, i))));
});

test('record files: round trip; truncation, bit flips and bad headers are reported with the path', () => {
  const dir = tmpDir('dd-rf-');
  const p = join(dir, 'x.bin');
  const w = new RecordWriter(p, 3, true, 64);
  for (let i = 0; i < 500; i++) w.write([i, i * 2, 0xffffffff - i], 0, i % 3 ? `id-${i}` : '文档');
  w.close();
  assert.deepEqual(readdirSync(dir), ['x.bin'], 'no temp file left');
  const r = new RecordReader(p, 128);
  let i = 0;
  while (r.next()) {
    assert.equal(r.rec[2], 0xffffffff - i);
    assert.equal(r.str, i % 3 ? `id-${i}` : '文档');
    i++;
  }
  assert.equal(i, 500);
  const orig = readFileSync(p);
  const read = () => {
    const rr = new RecordReader(p);
    while (rr.next());
  };
  writeFileSync(p, orig.subarray(0, orig.length - 10));
  assert.throws(read, (e: Error) => e instanceof CorruptIntermediateError && e.message.includes(p));
  const flipped = Buffer.from(orig);
  flipped[100] ^= 1;
  writeFileSync(p, flipped);
  assert.throws(read, /checksum mismatch/);
  const badHead = Buffer.from(orig);
  badHead[0] = 0;
  writeFileSync(p, badHead);
  assert.throws(read, /header magic/);
  const q = join(dir, 'y.bin');
  const w2 = new RecordWriter(q, 2);
  w2.write([1, 2]);
  w2.close();
  const buf = readFileSync(q);
  buf[16] = 9; // body word
  writeFileSync(q, buf);
  assert.throws(() => readAllRecords(q), /checksum/);
});

test('JSONL.zst written in frames reads back intact across read-chunk boundaries', async () => {
  const { JsonlWriter } = await import('../pipeline/writers/index.ts');
  const { readDocuments } = await import('../pipeline/readers/index.ts');
  const dir = tmpDir('dd-io-');
  const p = join(dir, 'x.jsonl.zst');
  const w = new JsonlWriter(p);
  const rnd = seededRandom(9);
  const texts: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const t = randomZh(rnd, 800);
    texts.push(t);
    await w.write({ id: `d${i}`, text: t, source: 's', meta: {} });
  }
  await w.close();
  assert.ok(
    readFileSync(p).length > 1 << 20,
    `compressed file (${readFileSync(p).length} B) spans more than one 1 MB read chunk`,
  );
  let i = 0;
  const rejects: unknown[] = [];
  for await (const { doc } of readDocuments(p, { onReject: (r) => rejects.push(r) })) {
    assert.equal(doc.text, texts[i], `doc ${i}`);
    i++;
  }
  assert.equal(i, texts.length);
  assert.equal(rejects.length, 0);
});
