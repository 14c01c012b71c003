import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_OPTIMAL,
  MinHasher,
  collisionProbability,
  optimalParams,
  searchParams,
  sketchJaccard,
  seededRandom,
} from './minhash.ts';
import { lshFor, minhashParams } from './params.ts';
import {
  charShingles,
  fmix32,
  jaccardSorted,
  normalise,
  shingleMode,
  sortedSet,
  uniqueSorted,
  wordShingles,
} from './text.ts';
import { simhash, hamming, tables, blockRanges, tableKey } from './simhash.ts';
import {
  RecordReader,
  RecordWriter,
  readAllRecords,
  CorruptIntermediateError,
  SectionFileWriter,
  sectionRange,
  verifyRecordFile,
} from './runfile.ts';
import { randomZh, editChars } from './fixtures.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
import {
  checkProfile,
  Forest,
  openPairs,
  readSetsFile,
  rangeNodes,
  likelyNear,
  rangeHomes,
  readProfile,
  setsIndexes,
  verifyHomes,
  setCheck,
  candShare,
  setsTaskOf,
  setsTasks,
  verifyPlan,
} from './stages/verify.ts';
import type { DedupConfig } from './config.ts';
import { recordOrder } from './stages/signatures.ts';
import { cmpRec, fileGroups, mergeRuns } from './stages/common.ts';
import { distinctPayloads } from './stages/buckets.ts';
import { RangePairs } from './stages/cand-pairs.ts';

test('optimal bands × rows: S-curve is low below the threshold and high above it', () => {
  const p = optimalParams(0.8, 256);
  assert.ok(p.bands * p.rows <= 256);
  assert.ok(collisionProbability(0.5, p) < 0.05);
  assert.ok(collisionProbability(0.95, p) > 0.95);
  const q = optimalParams(0.5, 128);
  assert.ok(collisionProbability(0.5, q) > collisionProbability(0.5, p), 'a lower threshold catches more at J = 0.5');
});

test("optimal bands × rows: the stored default entry is the search's result for minhash_dedup's defaults", () => {
  const d = minhashParams.parse({});
  const { lshThreshold } = lshFor(d);
  assert.equal(DEFAULT_OPTIMAL.key, `${lshThreshold} ${d.num_perm} 0.5 0.5`);
  assert.deepEqual(searchParams(lshThreshold, d.num_perm, 0.5, 0.5), DEFAULT_OPTIMAL.params);
  assert.deepEqual(optimalParams(lshThreshold, d.num_perm), DEFAULT_OPTIMAL.params);
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

test('minhash on short texts: empty bins are filled by densification, so near-copies still agree', () => {
  const mh = new MinHasher({ bands: 25, rows: 10 }, 1);
  const a = 'install the package with apt-get install foo';
  mh.compute(charShingles(a, 5));
  const sa = mh.sig.slice();
  assert.ok(!sa.includes(0xffffffff), 'every bin has a value');
  mh.compute(charShingles(a.replace('foo', 'fob'), 5));
  let eq = 0;
  for (let k = 0; k < 250; k++) if (sa[k] === mh.sig[k]) eq++;
  const J = jaccardSorted(uniqueSorted(charShingles(a, 5)), uniqueSorted(charShingles(a.replace('foo', 'fob'), 5)));
  assert.ok(Math.abs(eq / 250 - J) < 0.15, `agreement ${eq / 250} vs J ${J}`);
  mh.compute(new Uint32Array(0));
  assert.ok(
    mh.sig.every((x) => x === 0xffffffff),
    'no shingles: the all-ones signature',
  );
});

test('character shingles: lowercased, whitespace runs collapsed and trimmed, one pass without strings', () => {
  const ref = (text: string, n: number) => {
    const t = text.toLowerCase().replace(/\s+/gu, ' ').trim();
    if (!t) return [];
    if (t.length < n) return [t];
    return Array.from({ length: t.length - n + 1 }, (_, i) => t.slice(i, i + n));
  };
  for (const text of ['  Hello\t\n World  ', '一二三四五六', 'ab', '', '   ', 'a  b\u3000c d e f g', 'x y']) {
    for (const n of [1, 3, 5]) {
      const want = ref(text, n);
      const got = Array.from(charShingles(text, n));
      assert.equal(got.length, want.length, `${JSON.stringify(text)} n=${n}`);
      // equal n-grams hash equally, different ones differently
      for (let i = 0; i < want.length; i++)
        for (let j = 0; j < want.length; j++) assert.equal(got[i] === got[j], want[i] === want[j]);
    }
  }
  assert.equal(charShingles('hello world', 5)[0], charShingles('xx hello world', 5)[3], 'position-independent');
});

test('character shingles: the same hashes of the lowercased, collapsed text for any characters (sigma, U+0130, astral, lone surrogates)', () => {
  // the hashes of the n-grams of the lowercased text, whitespace runs collapsed and trimmed: a polynomial over code
  // units, fmix32 (the signatures of an earlier run's index, --index, depend on them)
  const fmix = fmix32;
  const ref = (text: string, n: number, lowercase = true, shortWhole = true) => {
    const t = (lowercase ? text.toLowerCase() : text).replace(/\s+/gu, ' ').trim();
    const P = 0x01000193;
    const poly = (s: string) => {
      let h = 0;
      for (let i = 0; i < s.length; i++) h = (Math.imul(h, P) + s.charCodeAt(i)) | 0;
      return h;
    };
    if (!t) return [];
    if (t.length < n) return shortWhole ? [fmix(poly(t) ^ Math.imul(0x9747b28c ^ t.length, 0x9e3779b1))] : [];
    const seed = Math.imul(0x9747b28c ^ n, 0x9e3779b1);
    return Array.from({ length: t.length - n + 1 }, (_, i) => fmix(poly(t.slice(i, i + n)) ^ seed));
  };
  const texts = [
    'ΣΑΣ ΟΔΟΣ σΣ. ΣΣ Σ', // capital sigma: final or not by its neighbours
    'İstanbul İİ i̇', // U+0130: two units in lowercase
    '𐐀𐐁 ABC 𐐨 𞤀 😀', // astral letters lowercase as pairs
    'A\uD800B \uDC00C', // lone surrogates
    'ÀÉÎ ǅǈ ẞ ß ﬀ Ω K Å\u00a0\u2028x\u3000y\ufeffz',
  ];
  // every BMP code unit, in upper-case context and next to whitespace
  for (let c = 0; c < 0x10000; c += 61)
    texts.push(`AB${String.fromCharCode(...Array.from({ length: 61 }, (_, k) => c + k))} Cd`);
  for (const text of texts)
    for (const n of [1, 5, 7]) {
      assert.deepEqual(Array.from(charShingles(text, n)), ref(text, n), `${JSON.stringify(text.slice(0, 12))} n=${n}`);
      assert.deepEqual(Array.from(charShingles(text, n, false, false)), ref(text, n, false, false));
    }
  assert.deepEqual(Array.from(charShingles('AB', 5, true, false)), []);
});

/**
 * The signature by the formulas (one-permutation hashing, densification by the seeded probe sequences, 2-bit sketch,
 * band hashes), in JavaScript: what the kernel (dedup/minhash-kernel.c) must give bit for bit.
 */
function refSignature(sh: Uint32Array, bands: number, rows: number, seed: number) {
  const K = bands * rows;
  const rnd = seededRandom(seed);
  const sa = rnd();
  const sb = rnd();
  const borrow = Array.from({ length: K * 32 }, () => Math.floor((rnd() / 2 ** 32) * K));
  const sig = new Uint32Array(K).fill(0xffffffff);
  for (const x of sh) {
    const h = fmix32(x ^ sa);
    const bin = Math.floor((h * K) / 2 ** 32);
    let v = Math.imul(h ^ sb, 0x27d4eb2f);
    v ^= v >>> 15;
    v = Math.imul(v, 0x165667b1);
    v = (v ^ (v >>> 13)) >>> 0;
    sig[bin] = Math.min(sig[bin]!, v);
  }
  const filled = Array.from(sig, (v) => v !== 0xffffffff);
  if (filled.some((f) => f) && filled.some((f) => !f))
    for (let k = 0; k < K; k++) {
      if (filled[k]) continue;
      let j = borrow.slice(k * 32, k * 32 + 32).find((c) => filled[c]) ?? -1;
      if (j < 0) for (j = (k + 1) % K; !filled[j]; j = (j + 1) % K);
      sig[k] = sig[j]!;
    }
  const sketch = new Uint32Array(Math.ceil(K / 16));
  for (let k = 0; k < K; k++) sketch[k >> 4]! |= (sig[k]! & 3) << ((k & 15) * 2);
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  const bandHi = new Uint32Array(bands);
  const bandLo = new Uint32Array(bands);
  for (let b = 0; b < bands; b++) {
    let h1 = 0x243f6a88 ^ b;
    let h2 = 0x85a308d3 ^ Math.imul(b, 0x9e3779b1);
    for (let r = 0; r < rows; r++) {
      const x = sig[b * rows + r]!;
      h1 = rotl(Math.imul(h1 ^ x, 0x01000193), 13);
      h2 = rotl(Math.imul(h2 ^ fmix32(x ^ 0x5bd1e995), 0x27d4eb2f), 17);
    }
    bandHi[b] = fmix32(h1 ^ rows);
    bandLo[b] = fmix32(h2 ^ h1);
  }
  return { sig, sketch, bandHi, bandLo };
}

test('minhash kernel: signatures, sketches and band hashes equal the formulas; computeChars equals compute(charShingles)', () => {
  const rnd = seededRandom(7);
  const texts = [
    '',
    '   ',
    'a',
    'abcd',
    'Hello  World\t\n',
    'ΣΑΣ ΟΔΟΣ σΣ İstanbul 𐐀𐐁 😀 A\uD800B \uDC00C \u00a0\u2028x\u3000y\ufeffz',
    randomZh(rnd, 3000),
    // longer than the kernel's first scratch (64 KiB): its memory grows and the views are made again
    randomZh(rnd, 40000) + ' ' + 'Abc def '.repeat(5000),
  ];
  for (const [bands, rows, seed] of [
    [32, 8, 1],
    [7, 3, 5],
    [1, 1, 2],
  ] as const) {
    const mh = new MinHasher({ bands, rows }, seed);
    for (const text of texts)
      for (const n of [1, 5, 9]) {
        const want = refSignature(charShingles(text, n), bands, rows, seed);
        const count = mh.computeChars(text, n);
        const what = `${bands}x${rows} ${JSON.stringify(text.slice(0, 12))} n=${n}`;
        assert.equal(count, charShingles(text, n).length, what);
        assert.deepEqual(Array.from(mh.sig), Array.from(want.sig), what);
        assert.deepEqual(Array.from(mh.sketch), Array.from(want.sketch), what);
        assert.deepEqual(Array.from(mh.bandHi), Array.from(want.bandHi), what);
        assert.deepEqual(Array.from(mh.bandLo), Array.from(want.bandLo), what);
        const words = wordShingles(text, n);
        mh.compute(words);
        assert.deepEqual(Array.from(mh.bandLo), Array.from(refSignature(words, bands, rows, seed).bandLo), what);
      }
  }
});

test('sortedSet: the distinct values in ascending order (radix passes skipped where every value shares a byte)', () => {
  const rnd = seededRandom(11);
  const cases = [
    new Uint32Array(0),
    Uint32Array.of(5),
    Uint32Array.of(3, 3, 3),
    Uint32Array.of(0xffffffff, 0, 0x80000000, 0x7fffffff, 0, 0xffffffff),
    Uint32Array.from({ length: 5000 }, () => rnd()),
    Uint32Array.from({ length: 5000 }, () => rnd() % 300), // the upper bytes all zero
    Uint32Array.from({ length: 5000 }, () => 0xabcd0000 | (rnd() & 0xff00)), // only byte 1 differs
    Uint32Array.from({ length: 70000 }, () => rnd() % 20000),
  ];
  for (const a of cases) assert.deepEqual(Array.from(sortedSet(a)), Array.from(uniqueSorted(a)), `n=${a.length}`);
  const text = randomZh(rnd, 20000) + ' abc abc abc abc';
  const want = Array.from(uniqueSorted(charShingles(text, 5)));
  assert.deepEqual(Array.from(sortedSet(charShingles(text, 5))), want, "charShingles' own view");
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

test('simhash: bit majority over distinct shingles; near-copies are close, unrelated texts far; no shingles, no hash', () => {
  const o = { tokenization: 'auto' as const, window: 6, lowercase: true };
  const rnd = seededRandom(7);
  const dist = (x: string, y: string) => {
    const a = simhash(x, o)!;
    const b = simhash(y, o)!;
    return hamming(a[0], a[1], b[0], b[1]);
  };
  let near = 0;
  for (let t = 0; t < 20; t++) {
    const a = randomZh(rnd, 800);
    near += dist(a, editChars(rnd, a, 0.0025));
    assert.ok(dist(a, randomZh(rnd, 800)) > 12, 'unrelated texts are far apart');
  }
  assert.ok(near / 20 <= 5, `a 0.25% character edit moves few bits (mean ${near / 20})`);
  // case and whitespace runs do not matter; a repeated line counts once
  const en = 'The quick brown fox jumps over the lazy dog again and again until the evening';
  assert.deepEqual(simhash(en.toUpperCase(), o), simhash(en, o));
  assert.deepEqual(simhash('甲乙丙丁戊己庚辛壬癸 子丑寅卯', o), simhash('甲乙丙丁戊己庚辛壬癸   子丑寅卯', o));
  assert.equal(
    simhash('这是一段没有空格的中文文本，长度足够。', { ...o, tokenization: 'space' }),
    null,
    'no 6 space tokens: no shingles, no hash',
  );
  assert.equal(simhash('one two three four five', { ...o, tokenization: 'space' }), null);
  assert.notEqual(simhash('one two three four five', o), null, 'auto: too few space tokens, character windows');
  assert.notEqual(simhash('这是一段没有空格的中文文本，长度足够。', o), null, 'auto: character windows for Chinese');
  assert.equal(simhash('你好', o), null, 'fewer characters than the window');
  // 15 tables for 6 blocks / distance 4; two hashes within distance 4 share a key in some table
  const t = tables(6, 4);
  assert.equal(t.length, 15);
  const r = blockRanges(6);
  const a: [number, number] = [0x12345678, 0x9abcdef0];
  const b: [number, number] = [(a[0] ^ (1 << 3) ^ (1 << 20)) >>> 0, (a[1] ^ (1 << 7) ^ (1 << 30)) >>> 0];
  assert.equal(hamming(a[0], a[1], b[0], b[1]), 4);
  assert.ok(t.some((tb, i) => String(tableKey(a[0], a[1], tb, r, i)) === String(tableKey(b[0], b[1], tb, r, i))));
});

test('signing: the records of a spill ordered by (key hi, key lo, doc), equal his and los included', () => {
  const width = 6;
  for (const n of [0, 1, 2, 700, 5000]) {
    const a = new Uint32Array(n * width);
    let seed = 12345 + n;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < n; i++) {
      // a third of the records share one of 8 his (near-copies), some of those one of 3 los; his over the whole range
      a[i * width] = i % 3 ? rnd() : [0, 1, 0xffffffff, 0x80000000, 0x00ff00ff, 256, 65536, 0x7fffffff][rnd() % 8]!;
      a[i * width + 1] = i % 3 ? rnd() : [7, 0xfffffffe, 0][rnd() % 3]!;
      a[i * width + 2] = 3;
      a[i * width + 3] = i;
    }
    const want = Array.from({ length: n }, (_, i) => i).sort(
      (x, y) =>
        a[x * width]! - a[y * width]! || a[x * width + 1]! - a[y * width + 1]! || a[x * width + 3]! - a[y * width + 3]!,
    );
    assert.deepEqual([...recordOrder(a, n, width)], want, `n = ${n}`);
  }
});

test('record files: a string is its UTF-8 length, then its bytes zero-padded to whole words, also in a reused buffer', () => {
  const dir = tmpDir('dd-rs-');
  // a first file leaves its buffer (non-zero words) in the pool for the second
  const dirty = new RecordWriter(join(dir, 'd.bin'), 1, false, 4096);
  for (let i = 0; i < 4096; i++) dirty.write([0xffffffff]);
  dirty.close();
  const strs = [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    'abcde',
    'é',
    '文',
    '文档x',
    '\u{1f600}',
    'x\ud800y',
    'x'.repeat(5000),
    '档'.repeat(3000),
    'y'.repeat(20000),
  ];
  const p = join(dir, 's.bin');
  const w = new RecordWriter(p, 1, true, 4096);
  for (let i = 0; i < strs.length; i++) w.write([i], 0, strs[i]);
  w.close();
  const words: number[] = [];
  for (let i = 0; i < strs.length; i++) {
    const b = new TextEncoder().encode(strs[i]);
    const padded = new Uint8Array(Math.ceil(b.length / 4) * 4);
    padded.set(b);
    words.push(i, b.length, ...new Uint32Array(padded.buffer));
  }
  const file = readFileSync(p);
  const body = new Uint32Array(file.buffer, file.byteOffset + 16, words.length);
  assert.deepEqual([...body], words);
  const r = new RecordReader(p);
  for (let i = 0; r.next(); i++) assert.equal(r.str, new TextDecoder().decode(new TextEncoder().encode(strs[i])));
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

/** The record files' body checksum as one plain loop (the format's definition), to pin the blocked one in runfile.ts. */
function referenceChecksum(words: Uint32Array): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x2545f491;
  for (const w of words) {
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h1 = (h1 << 5) | (h1 >>> 27);
    h2 = Math.imul(h2 + w, 0x9e3779b1);
    h2 ^= h2 >>> 15;
  }
  let h = h1 ^ Math.imul(h2, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('record files: the footer checksum is the one-loop checksum of the body, across block and chunk boundaries', () => {
  const dir = tmpDir('dd-ck-');
  const rnd = seededRandom(7);
  for (const n of [0, 1, 4095, 4096, 4097, 12289]) {
    for (const chunk of [1 << 16, 1000]) {
      const body = new Uint32Array(n);
      for (let i = 0; i < n; i++) body[i] = Math.floor(rnd() * 2 ** 32);
      const p = join(dir, `c${n}-${chunk}.bin`);
      const w = new RecordWriter(p, 1, false, chunk);
      w.writeMany(body, n);
      w.close();
      const file = readFileSync(p);
      const checksum = file.readUInt32LE(file.length - 8);
      assert.equal(checksum, referenceChecksum(body), `${n} words, chunks of ${chunk}`);
      assert.deepEqual(readAllRecords(p).words, body);
    }
  }
});

test('record files: writeMany copies blocks that may end inside a record; the file is that of one write per record', () => {
  const dir = tmpDir('dd-wm-');
  const rnd = seededRandom(9);
  const width = 20;
  const n = 301;
  const src = Uint32Array.from({ length: 3 + n * width }, () => rnd());
  // chunks of 64 words (records of 20 cut inside), then an offset into the source and a second call
  const a = new RecordWriter(join(dir, 'a.bin'), width, false, 64);
  a.writeMany(src, 100, 3);
  a.writeMany(src, n - 100, 3 + 100 * width);
  a.close();
  const b = new RecordWriter(join(dir, 'b.bin'), width, false, 64);
  for (let r = 0; r < n; r++) b.write(src, 3 + r * width);
  b.close();
  assert.equal(a.records, n);
  assert.ok(readFileSync(join(dir, 'a.bin')).equals(readFileSync(join(dir, 'b.bin'))));
  assert.deepEqual(readAllRecords(join(dir, 'a.bin')).words, src.subarray(3));
});

test('section files: record files back to back, each read alone by its section; a damaged section or table is reported', () => {
  const dir = tmpDir('dd-sf-');
  const p = join(dir, 's.bin');
  const sf = new SectionFileWriter(p);
  for (let k = 0; k < 5; k++) {
    const w = new RecordWriter(p, 2, k === 3, 16, sf);
    for (let i = 0; i < k * 40; i++) w.write([k, i], 0, k === 3 ? `s${i}` : undefined);
    w.close();
  }
  new RecordWriter(p, 2, false, 16, sf).write([0, 0]);
  assert.throws(() => sf.close(), /still open/);
  assert.ok(!readdirSync(dir).includes('s.bin'), 'nothing under the final name before close');
  const sf2 = new SectionFileWriter(p);
  for (let k = 0; k < 5; k++) {
    const w = new RecordWriter(p, 2, k === 3, 16, sf2);
    for (let i = 0; i < k * 40; i++) w.write([k, i], 0, k === 3 ? `s${i}` : undefined);
    w.close();
  }
  sf2.close();
  sf.abort();
  assert.deepEqual(readdirSync(dir), ['s.bin'], 'one file, no temp left');
  for (const k of [4, 0, 3, 1]) {
    const r = new RecordReader(p, 64, sectionRange(p, k));
    let i = 0;
    while (r.next()) {
      assert.deepEqual([...r.rec], [k, i]);
      if (k === 3) assert.equal(r.str, `s${i}`);
      i++;
    }
    assert.equal(i, k * 40, `section ${k}`);
  }
  assert.equal(verifyRecordFile(p, sectionRange(p, 2)).count, 80);
  assert.throws(() => sectionRange(p, 5), /no section 5/);
  const orig = readFileSync(p);
  const flipped = Buffer.from(orig);
  flipped[sectionRange(p, 2).start + 20] ^= 1;
  writeFileSync(p, flipped);
  assert.throws(() => verifyRecordFile(p, sectionRange(p, 2)), /checksum mismatch/);
  assert.equal(verifyRecordFile(p, sectionRange(p, 1)).count, 40, 'the other sections still read');
  writeFileSync(p, orig.subarray(0, orig.length - 10));
  assert.throws(
    () => sectionRange(p, 0),
    (e: Error) => e instanceof CorruptIntermediateError && e.message.includes(p) && /truncated/.test(e.message),
  );
  const badTable = Buffer.from(orig);
  badTable[orig.length - 20] ^= 1;
  writeFileSync(p, badTable);
  assert.throws(() => sectionRange(p, 0), /section table checksum/);
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

test('Forest (verify union-find) joins exactly what a naive labelling joins', () => {
  const u32 = seededRandom(3);
  const rnd = () => u32() / 2 ** 32;
  for (let round = 0; round < 20; round++) {
    const n = 60;
    const label = Array.from({ length: n }, (_, i) => i * 1000 + 7); // node ids far apart, as in a real task
    const comp = Array.from({ length: n }, (_, i) => i);
    const f = new Forest();
    for (let e = 0; e < 40; e++) {
      const a = Math.floor(rnd() * n);
      const b = Math.floor(rnd() * n);
      assert.equal(f.same(label[a]!, label[b]!), comp[a] === comp[b], `round ${round} edge ${e}: before joining`);
      f.join(label[a]!, label[b]!);
      const from = comp[b]!;
      for (let i = 0; i < n; i++) if (comp[i] === from) comp[i] = comp[a]!;
    }
    assert.ok(new Set(comp).size < n - 20, 'edges joined components');
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) assert.equal(f.same(label[i]!, label[j]!), comp[i] === comp[j], `${i} ${j}`);
  }
});

test('Forest slots: each node one slot for good, past the arrays first made; by slots as by nodes', () => {
  const f = new Forest();
  const n = 5000;
  const node = (i: number) => 7 + i * 977;
  const slots = Array.from({ length: n }, (_, i) => f.slot(node(i)));
  assert.equal(new Set(slots).size, n, 'a slot a node');
  // odd nodes joined in a chain, even ones left alone
  for (let i = 3; i < n; i += 2) f.joinSlots(f.slot(node(i - 2)), slots[i]!);
  for (let i = 0; i < n; i += 97) assert.equal(f.slot(node(i)), slots[i], `node ${i}: the same slot`);
  assert.ok(f.sameSlots(slots[1]!, slots[n - 1]!) && f.same(node(1), node(n - 1)));
  assert.ok(!f.sameSlots(slots[0]!, slots[2]!) && !f.same(node(1), node(2)));
});

test('setCheck: a signed 32-bit word, the same bits as stored in an index (read back as w | 0)', () => {
  const u32 = seededRandom(11);
  let high = 0;
  for (let n = 0; n < 200; n++) {
    const set = Uint32Array.from({ length: n }, () => u32());
    const c = setCheck(set);
    assert.equal(c, c | 0, `set of ${n}: a signed 32-bit integer`);
    if (c < 0) high++;
    const stored = Uint32Array.of(c);
    assert.equal(stored[0]! | 0, c, `set of ${n}: the word read back`);
  }
  // about half the checks have the high bit (unsigned, they were the values that threw the loop's code away)
  assert.ok(high > 50 && high < 150, `${high} of 200 with the high bit`);
});

test("verifyPlan cuts the candidate pairs into ranges of about equal cost at the profiles' blocks, none empty", () => {
  // two groups' profiles (first node, cost of each non-empty block), given in any order
  assert.deepEqual(
    verifyPlan(
      [
        [400, 40],
        [0, 10, 100, 10, 200, 10, 300, 10],
      ],
      2,
      500,
    ),
    {
      bounds: [0, 400, 500],
      sizes: [40, 40],
    },
  );
  assert.deepEqual(verifyPlan([[0, 10, 100, 10]], 1, 500), { bounds: [0, 500], sizes: [20] }, 'one task: one range');
  assert.deepEqual(verifyPlan([[], []], 4, 500), { bounds: [0, 500], sizes: [0] }, 'no pairs: one range');
  // one block heavier than the others' share: no empty range, fewer ranges than tasks
  assert.deepEqual(verifyPlan([[10, 1000, 20, 1]], 4, 30), { bounds: [0, 20, 30], sizes: [1000, 1] });
  const u32 = seededRandom(21);
  for (let round = 0; round < 200; round++) {
    const blocks: number[] = [];
    for (let node = u32() % 5; node < 3000; node += 1 + (u32() % 100)) blocks.push(node, 1 + (u32() % 50));
    const tasks = 1 + (u32() % 8);
    const { bounds, sizes } = verifyPlan([blocks], tasks, 3000);
    const total = blocks.reduce((a, x, i) => a + (i % 2 ? x : 0), 0);
    assert.equal(bounds[0], 0);
    assert.equal(bounds.at(-1), 3000);
    assert.ok(bounds.length - 1 <= tasks && sizes.length === bounds.length - 1, `round ${round}`);
    for (let k = 1; k < bounds.length; k++) assert.ok(bounds[k]! > bounds[k - 1]!, `round ${round}: increasing`);
    // each range's cost is its blocks' (a block in the range of its first node), within a block of the share
    for (let k = 0; k < sizes.length; k++) {
      let cost = 0;
      for (let i = 0; i < blocks.length; i += 2)
        if (blocks[i]! >= bounds[k]! && blocks[i]! < bounds[k + 1]!) cost += blocks[i + 1]!;
      assert.equal(sizes[k], cost, `round ${round} range ${k}`);
      assert.ok(cost > 0 && cost <= total / tasks + 50, `round ${round} range ${k}: ${cost} of ${total}`);
    }
    if (tasks > 1 && blocks.length / 2 >= 4 * tasks) assert.ok(sizes.length > 1, `round ${round}: split`);
  }
});

test("setsTasks gives each verify-sets task a node range of about equal estimated cost (the candidates' text), cut inside a file", () => {
  // 8 files of 100 documents in 4 groups of 2 (2 workers): 2 tasks
  const cfg = { inputs: Array.from({ length: 8 }, (_, i) => `f${i}`), groups: 4, groupOf: [0, 0, 1, 1, 2, 2, 3, 3] };
  const num = { offsets: Array.from({ length: 9 }, (_, i) => i * 100), indexDocs: 0, runs: [] };
  const C = cfg as unknown as DedupConfig;
  // cand/ bytes of r records a document (12 bytes a record, 200 documents a group): candShare r / (r + 5)
  const cand = (...r: number[]) => r.map((x) => 12 * x * 200);
  assert.equal(candShare(cand(45)[0]!, 200), 0.9);
  assert.equal(candShare(0, 200), 0);
  assert.equal(candShare(0, 0), 0);
  const text = new Array<number>(8).fill(10_000);
  // a file's cost: its text × its group's candShare, and CAND_BYTE_COST (0.33) of its group's cand/ bytes by its
  // documents: files 0, 1: 9,000 + 17,820; 2-5: 5,000 + 1,980; 6, 7: 0. The share (40,780) ends 13,960 into file 1,
  // of which the second task also pays SETS_RESCAN (10%) of the part before: 55 documents
  const r = setsTasks(C, num, cand(45, 5, 5, 0), text);
  assert.deepEqual(r.bounds, [0, 155, 800]);
  assert.deepEqual(
    r.sizes.map((x) => Math.round(x * 10) / 10),
    [41_571, 41_464.1],
  );
  // by text: file 0 of 28,000 bytes costs 43,020, and the share ends 23 documents into file 1
  assert.deepEqual(setsTasks(C, num, cand(45, 5, 5, 0), [28_000, ...text.slice(1)]).bounds, [0, 123, 800]);
  // a share's end within SETS_SNAP (5%) of a file's end: the range ends there (51,780 is 1,860 before file 1's end)
  assert.deepEqual(setsTasks(C, num, cand(45, 5, 5, 0), [10_000, 10_000, 21_000, 21_000, 21_000, 21_000, 0, 0]), {
    bounds: [0, 200, 800],
    sizes: [53_640, 49_920],
  });
  // without the files' text: their documents
  assert.deepEqual(setsTasks(C, num, cand(45, 5, 5, 0)).bounds, [0, 124, 800]);
  // no candidates: ranges by documents
  assert.deepEqual(setsTasks(C, num, [0, 0, 0, 0]).bounds, [0, 400, 800]);
  // one worker (2 groups): one task
  const one = { ...cfg, groups: 2, groupOf: [0, 0, 0, 0, 1, 1, 1, 1] } as unknown as DedupConfig;
  assert.deepEqual(setsTasks(one, num, [24_000, 24_000], text), { bounds: [0, 800], sizes: [55_840] });
  // 3 workers over 2 files: 3 ranges, two of them inside the first file (later ones a little shorter: SETS_RESCAN)
  const three = { inputs: ['a', 'b'], groups: 6, groupOf: [0, 3] } as unknown as DedupConfig;
  const n3 = { offsets: [0, 90, 100], indexDocs: 0, runs: [] };
  assert.deepEqual(setsTasks(three, n3, [900, 0, 0, 0, 0, 0]).bounds, [0, 32, 63, 100]);
  // no documents: one empty range
  assert.deepEqual(
    setsTasks(C, { offsets: new Array<number>(9).fill(0), indexDocs: 0, runs: [] }, [0, 0, 0, 0]).bounds,
    [0, 0],
  );
  // a corpus of 200,000 input files (no spread of one argument per file: past ~100k it overflows the stack)
  const F = 200_000;
  const big = {
    inputs: new Array<string>(F).fill('f'),
    groups: 4,
    groupOf: Array.from({ length: F }, (_, i) => i >> 16),
  };
  const bigNum = { offsets: Array.from({ length: F + 1 }, (_, i) => i * 10), indexDocs: 0, runs: [] };
  const b = setsTasks(big as unknown as DedupConfig, bigNum, [10, 10, 10, 10], new Array<number>(F).fill(100));
  assert.equal(b.sizes.length, 2);
  assert.equal(b.bounds.length, 3);
});

test("setsTaskOf finds the sets task of a node from the ranges' bounds", () => {
  const bounds = [0, 320, 321, 800];
  assert.deepEqual(
    [0, 319, 320, 321, 799, 800, 5000].map((n) => setsTaskOf(bounds, n)),
    [0, 0, 1, 2, 2, -1, -1],
  );
  assert.equal(setsTaskOf([0, 0], 0), -1);
});

test('jaccardSorted(a, b, t) stops early below t and answers >= t as the full merge, at J = t exactly too', () => {
  const u32 = seededRandom(9);
  const rnd = () => u32() / 2 ** 32;
  const sorted = (xs: number[]) => uniqueSorted(Uint32Array.from(xs));
  let early = 0;
  for (let round = 0; round < 400; round++) {
    const n = 1 + Math.floor(rnd() * 600);
    const base = Array.from({ length: n }, () => Math.floor(rnd() * 2 ** 32));
    const keep = rnd();
    const a = sorted(base.filter(() => rnd() < 0.5 + keep / 2).concat(base.slice(0, 1)));
    const b = sorted(base.filter(() => rnd() < 0.5 + keep / 2).concat(base.slice(0, 1)));
    const J = jaccardSorted(a, b);
    for (const t of [0.5, 0.7, 0.8, 0.9, J]) {
      assert.equal(
        jaccardSorted(a, b, t) >= t,
        J >= t,
        `round ${round}, |a| ${a.length}, |b| ${b.length}, J ${J}, t ${t}`,
      );
      if (jaccardSorted(a, b, t) !== J) early++; // stopped early: a bound, not the Jaccard
    }
  }
  assert.ok(early > 100, 'merges below the threshold stopped early');
  // J = 4 / 5 exactly
  assert.equal(jaccardSorted(sorted([1, 2, 3, 4, 5]), sorted([1, 2, 3, 4]), 0.8), 0.8);
  assert.equal(jaccardSorted(sorted([]), sorted([]), 1), 1);
});

test('jaccardSorted of large sets (two merges, split at a value) equals the one-merge Jaccard, and answers >= t alike', () => {
  const u32 = seededRandom(31);
  const rnd = () => u32() / 2 ** 32;
  const sorted = (xs: number[]) => uniqueSorted(Uint32Array.from(xs));
  // the Jaccard by one plain merge
  const plain = (a: Uint32Array, b: Uint32Array) => {
    let i = 0;
    let j = 0;
    let inter = 0;
    while (i < a.length && j < b.length) {
      if (a[i]! === b[j]!) {
        inter++;
        i++;
        j++;
      } else if (a[i]! < b[j]!) i++;
      else j++;
    }
    const union = a.length + b.length - inter;
    return union === 0 ? 1 : inter / union;
  };
  for (let round = 0; round < 300; round++) {
    const n = 200 + Math.floor(rnd() * 3000);
    const base = Array.from({ length: n }, () => Math.floor(rnd() * 2 ** 32));
    const keep = rnd();
    // some pairs skewed: b's values mostly above or below a's middle, so one merge ends long before the other
    const skew = round % 3 === 0 ? (x: number) => x > 2 ** 31 || rnd() < 0.2 : () => true;
    const a = sorted(base.filter(() => rnd() < 0.5 + keep / 2));
    const b = sorted(
      base.filter((x) => rnd() < 0.5 + keep / 2 && skew(x)).concat(round % 5 === 0 ? [0, 2 ** 32 - 1] : []),
    );
    const J = plain(a, b);
    assert.equal(jaccardSorted(a, b), J, `round ${round}, |a| ${a.length}, |b| ${b.length}`);
    assert.equal(jaccardSorted(b, a), J);
    for (const t of [0.5, 0.7, 0.8, 0.9, J])
      assert.equal(jaccardSorted(a, b, t) >= t, J >= t, `round ${round}, t ${t}`);
  }
  const same = sorted(Array.from({ length: 1000 }, (_, i) => i * 7));
  assert.equal(jaccardSorted(same, same, 0.8), 1);
});

test('buckets: members with equal payloads collapse onto the first, whatever their hashes collide with', () => {
  const rnd = seededRandom(21);
  const width = 6;
  const payload = 2;
  // 300 members over 40 payloads: many repeats
  const kinds = Array.from({ length: 40 }, () => [rnd(), rnd()]);
  const n = 300;
  const g = new Uint32Array(n * width);
  for (let i = 0; i < n; i++) g.set(kinds[rnd() % kinds.length]!, i * width + 4);
  // the reference: payloads as strings
  const refReps: number[] = [];
  const refSame: [number, number][] = [];
  const first = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = `${g[i * width + 4]},${g[i * width + 5]}`;
    const r = first.get(k);
    if (r === undefined) {
      first.set(k, i);
      refReps.push(i);
    } else refSame.push([r, i]);
  }
  for (const hash of [undefined, () => 7, (w: Uint32Array, o: number) => w[o]! & 3]) {
    const same: [number, number][] = [];
    const reps = distinctPayloads(g, n, width, payload, (r, i) => same.push([r, i]), hash);
    assert.deepEqual(reps, refReps);
    assert.deepEqual(same, refSame);
  }
});

test('cmpRec and mergeRuns order records over the whole 32-bit range (index file first), differences past 2^31 included', () => {
  const words = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  const recs: Uint32Array[] = [];
  for (const k of words)
    for (const f of [0, 5, 0xffffffff])
      for (const d of [0, 0xffffffff]) recs.push(Uint32Array.of(k, k ^ 0x80000000, f, d));
  // the definition: (key hi, key lo, file with the index file (0xffffffff) first, doc), as exact numbers
  const key = (r: Uint32Array) => [r[0]!, r[1]!, (r[2]! + 1) % 2 ** 32, r[3]!];
  const ref = (a: Uint32Array, b: Uint32Array) => {
    const x = key(a),
      y = key(b);
    for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
    return 0;
  };
  for (const a of recs) for (const b of recs) assert.equal(Math.sign(cmpRec(a, b)), ref(a, b), `${a} vs ${b}`);
  // three sorted runs merged: every record once, in order, grouped by key
  const sorted = [...recs].sort(ref);
  const dir = tmpDir('dd-mr-');
  const runs = [0, 1, 2].map((q) => {
    const p = join(dir, `r${q}.bin`);
    const w = new RecordWriter(p, 4);
    for (let i = q; i < sorted.length; i += 3) w.write(sorted[i]!);
    w.close();
    return p;
  });
  const got: number[][] = [];
  const groups: number[] = [];
  const total = mergeRuns(runs, 4, (g, n) => {
    groups.push(n);
    for (let i = 0; i < n; i++) got.push([...g.subarray(i * 4, i * 4 + 4)]);
  });
  assert.equal(total, recs.length);
  assert.deepEqual(
    got,
    sorted.map((r) => [...r]),
  );
  assert.deepEqual(
    groups,
    words.map(() => 6),
  );
});

test('fileGroups: consecutive files, every group used, about equal bytes; the slices of one large file share groups', () => {
  const check = (sizes: number[], groups: number) => {
    const g = fileGroups(sizes, groups);
    assert.equal(g.length, sizes.length);
    assert.equal(g[0], 0);
    for (let i = 1; i < g.length; i++) assert.ok(g[i]! - g[i - 1]! === 0 || g[i]! - g[i - 1]! === 1, `${g}`);
    assert.equal(g.at(-1), Math.min(groups, sizes.length) - 1, `every group used: ${g}`);
    return g;
  };
  // equal files: equal counts
  assert.deepEqual(check([1, 1, 1, 1, 1, 1, 1, 1], 2), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(check([1, 1, 1, 1, 1, 1, 1, 1], 4), [0, 0, 1, 1, 2, 2, 3, 3]);
  // four slices of one large file, then small files: two groups take two slices each (one boundary inside the
  // file), where file % groups put every pair of neighbouring slices in two groups
  assert.deepEqual(check([10, 10, 10, 10, 1, 1, 1, 1, 1, 1, 1, 1, 1], 2), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  // one file larger than the rest together: the others still fill the groups after it
  assert.deepEqual(check([100, 1, 1], 3), [0, 1, 2]);
  assert.deepEqual(check([100, 1, 1, 1], 2), [0, 1, 1, 1]);
  // empty files: by count
  assert.deepEqual(check([0, 0, 0, 0], 2), [0, 0, 1, 1]);
  // random sizes: the largest group holds at most the mean plus the largest file
  for (let seed = 1; seed <= 20; seed++) {
    let x = seed;
    const sizes = Array.from({ length: 5 + seed }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31), 1 + (x % 1000)));
    const groups = 1 + (seed % 4);
    const g = check(sizes, groups);
    const bytes = Array.from({ length: groups }, (_, k) => sizes.reduce((a, s, i) => a + (g[i] === k ? s : 0), 0));
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(Math.max(...bytes) <= total / groups + Math.max(...sizes), `${bytes}`);
  }
});

test('a verify range keeps the likely pairs near its own pairs: those with an end among its nodes, one step out', () => {
  // two sets tasks' likely pairs: a cluster of nodes 0-3 with one pair to 25, and another source's pairs 20-35
  const likely = [Uint32Array.of(0, 1, 0, 2, 1, 2, 3, 25), Uint32Array.of(20, 21, 21, 22, 25, 26, 26, 35, 30, 31)];
  const keep = (lo: number, hi: number, others: number[]) => {
    const parts = [...likely, Uint32Array.from(others)];
    const near = rangeNodes(parts, 2, lo, hi, 40);
    const ends = near.slice();
    const kept = likely.map((w) => [...likelyNear(w, near, ends)]);
    const ones = (m: Uint8Array) => [...m.keys()].filter((x) => m[x] === 1);
    return { near: ones(near), kept, ends: ones(ends) };
  };
  // range [0, 10): its pairs' ends, its likely pairs' (3-25), and 26 one step out (25-26); 26-35 kept, as it touches
  // 26 (35's set then loaded); the other source's other pairs left
  assert.deepEqual(keep(0, 10, [0, 5, 1, 9]), {
    near: [0, 1, 2, 3, 5, 9, 25, 26],
    kept: [
      [0, 1, 0, 2, 1, 2, 3, 25],
      [25, 26, 26, 35],
    ],
    ends: [0, 1, 2, 3, 5, 9, 25, 26, 35],
  });
  // range [20, 40): its own and 3 (3-25 touches 25); the first cluster's inner pairs left
  assert.deepEqual(keep(20, 40, [20, 22, 30, 33]), {
    near: [3, 20, 21, 22, 25, 26, 30, 31, 33, 35],
    kept: [
      [3, 25],
      [20, 21, 21, 22, 25, 26, 26, 35, 30, 31],
    ],
    ends: [3, 20, 21, 22, 25, 26, 30, 31, 33, 35],
  });
  // every pair near: the same array
  const all = new Uint8Array(40).fill(1);
  assert.equal(likelyNear(likely[0]!, all, all), likely[0]);
});

test('readSetsFile gives every set of a sets file as written (or those of the nodes wanted), read in runs of any size, and names a damaged set', () => {
  const dir = tmpDir('dd-readsets-');
  const path = join(dir, 's.bin');
  const data = new RecordWriter(path, 1);
  const index = new RecordWriter(join(dir, 's.idx.bin'), 4);
  const want: number[][] = [];
  let start = 0;
  let seed = 3;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  // empty and small sets, one larger than a read (1 << 18 words), ~0.6 M words in all: several reads
  const sizes = [5, 0, 3000, 1, (1 << 18) + 7, 2900, ...Array.from({ length: 400 }, (_, i) => (i * 37) % 3000)];
  for (const n of sizes) {
    const set = new Uint32Array(n).map(() => rnd());
    data.writeMany(set, n);
    index.write(Uint32Array.of(100 + want.length, start, n, setCheck(set)));
    want.push([...set]);
    start += n;
  }
  data.close();
  index.close();
  const ix = readAllRecords(join(dir, 's.idx.bin')).words;
  assert.deepEqual(
    readSetsFile(path, ix).map((s) => [...s!]),
    want,
  );
  // the nodes wanted only (every third, and the large set's, node 104): the others not read
  const mask = new Uint8Array(100 + sizes.length);
  for (let k = 0; k < sizes.length; k++) if (k % 3 === 0 || k === 4) mask[100 + k] = 1;
  assert.deepEqual(
    Array.from(readSetsFile(path, ix, mask), (s) => (s ? [...s] : undefined)),
    want.map((w, k) => (mask[100 + k] ? w : undefined)),
  );
  // into a spent RangePairs' memory (spareWords, grown to the file's body): the same sets
  const rp = new RangePairs(0, 4, 1, 1);
  const spent = rp.finish();
  rp.release();
  const inSpare = readSetsFile(path, ix);
  assert.deepEqual(
    inSpare.map((s) => [...s!]),
    want,
  );
  assert.equal(spent.others.buffer.byteLength, 0, 'the kernel memory grown for the body (its old buffer detached)');
  // a flipped word in the large set (node 104, words 3006 ..): named
  const bytes = readFileSync(path);
  bytes[16 + (3006 + 10) * 4] ^= 0x04;
  writeFileSync(path, bytes);
  assert.throws(
    () => readSetsFile(path, ix),
    (e: Error) =>
      e instanceof CorruptIntermediateError && e.message.includes(path) && /node 104 fails its check/.test(e.message),
  );
  assert.throws(() => readSetsFile(path, ix, mask), /node 104 fails its check/);
  // not wanted: not read
  mask[104] = 0;
  assert.equal(readSetsFile(path, ix, mask)[4], undefined);
});

/** Labels of nodes 0 .. n - 1 joined by `pairs` ([u, v] each): a naive relabelling, for the union-finds' tests. */
function components(n: number, pairs: readonly (readonly [number, number])[]): Int32Array {
  const label = Int32Array.from({ length: n }, (_, i) => i);
  for (const [u, v] of pairs) {
    const [from, to] = [label[u]!, label[v]!];
    if (from !== to) for (let x = 0; x < n; x++) if (label[x] === from) label[x] = to;
  }
  return label;
}

test("openPairs keeps exactly the other pairs whose ends the task's likely pairs leave apart", () => {
  const u32 = seededRandom(23);
  for (const [first, end, nodes, nLikely, nOthers] of [
    [0, 50, 80, 30, 200],
    [1000, 1400, 2000, 300, 3000],
    [7, 8, 9, 0, 1],
    [5, 40, 40, 0, 0],
  ] as const) {
    const pair = (): [number, number] => {
      const u = first + (u32() % (end - first));
      return u + 1 < nodes ? [u, u + 1 + (u32() % (nodes - u - 1))] : [first, first + 1];
    };
    const sorted = (ps: [number, number][]) => Float64Array.from(new Set(ps.map(([u, v]) => u * 2 ** 32 + v))).sort();
    const likelyPairs = Array.from({ length: nLikely }, pair);
    const likely = sorted(likelyPairs);
    const others = sorted(Array.from({ length: nOthers }, pair));
    const label = components(nodes, likelyPairs);
    const want = [...others].filter((p) => label[Math.floor(p / 2 ** 32)] !== label[p % 2 ** 32]);
    const words = (ps: Float64Array) =>
      Uint32Array.from([...ps].flatMap((p) => [Math.floor(p / 2 ** 32), p % 2 ** 32]));
    assert.deepEqual(
      openPairs(words(likely), words(others), first, nodes),
      words(Float64Array.from(want)),
      `${first}..${end} of ${nodes}`,
    );
    if (nLikely > 20) assert.ok(want.length < others.length && want.length > 0, 'some joined, some not');
  }
});

test("each verify range's home is the sets task with most of its sets' words; the reads outside it move the cut", () => {
  const dir = tmpDir('dd-homes-');
  mkdirSync(join(dir, 'vsets'));
  // sets task 0: nodes 0-99 of 10 words each; task 1: nodes 100-149 of 100 words each
  const sizes = (t: number) => (t === 0 ? { from: 0, n: 100, words: 10 } : { from: 100, n: 50, words: 100 });
  for (const t of [0, 1]) {
    const w = new RecordWriter(join(dir, 'vsets', `s0000${t}.idx.bin`), 4);
    const { from, n, words } = sizes(t);
    for (let k = 0; k < n; k++) w.write(Uint32Array.of(from + k, k * words, words, 0));
    w.close();
  }
  const args = {
    cfg: { workDir: dir } as DedupConfig,
    num: { offsets: [0, 150], indexDocs: 0, runs: [1] },
    sets: [0, 100, 150],
    ranges: 2,
  };
  // pairs' costs even over the nodes: cut at 75
  const even = Array.from({ length: 150 }, (_, x) => [x, 100]).flat();
  const first = verifyPlan([even], 2, 150);
  assert.deepEqual(first.bounds, [0, 75, 150]);
  // [0, 75): 750 words of task 0; [75, 150): 250 of task 0, 5000 of task 1
  const indexes = setsIndexes(args);
  assert.deepEqual(rangeHomes(first, indexes), [0, 1]);
  assert.deepEqual(verifyHomes(first, indexes, [111, 222]), [111, 222]);
  // the second range reads back the sets of nodes 75-99 (task 0's): 8 words of merge a word read
  const reads = readProfile(first, indexes, 150);
  assert.deepEqual(reads, Array.from({ length: 25 }, (_, k) => [75 + k, 80]).flat());
  // so the cut moves up: the second range has fewer pairs
  assert.deepEqual(verifyPlan([even, reads], 2, 150).bounds, [0, 80, 150]);
});

test("checkProfile counts each other pair that no task's likely pairs join and the sizes leave open, by its sets' words", () => {
  const dir = tmpDir('dd-checkprofile-');
  mkdirSync(join(dir, 'vsets'));
  const u32 = seededRandom(31);
  const nodes = 3000;
  const cut = 1700;
  const size = Array.from({ length: nodes }, () => 50 + (u32() % 20));
  // a few sizes far apart: those pairs are decided by size
  for (let x = 0; x < nodes; x += 97) size[x] = 500;
  const pairIn = (a: number, b: number): [number, number] => {
    const u = a + (u32() % (b - a));
    return [u, u + 1 + (u32() % (nodes - u - 1))];
  };
  const likely = [
    Array.from({ length: 900 }, () => pairIn(0, cut)),
    Array.from({ length: 500 }, () => pairIn(cut, nodes - 1)),
  ];
  const others = [
    Array.from({ length: 4000 }, () => pairIn(0, cut)),
    Array.from({ length: 3000 }, () => pairIn(cut, nodes - 1)),
  ];
  const cfg = { workDir: dir, minhash: { threshold: 0.8 } } as DedupConfig;
  const file = (t: number, ext: string) => join(dir, 'vsets', `s0000${t}.${ext}`);
  const writePairs = (path: string, ps: [number, number][]) => {
    const w = new RecordWriter(path, 2);
    for (const p of [...new Set(ps.map(([u, v]) => u * 2 ** 32 + v))].sort((x, y) => x - y))
      w.write(Uint32Array.of(Math.floor(p / 2 ** 32), p % 2 ** 32));
    w.close();
  };
  for (const t of [0, 1]) {
    const ix = new RecordWriter(file(t, 'idx.bin'), 4);
    for (let x = t ? cut : 0; x < (t ? nodes : cut); x++) ix.write(Uint32Array.of(x, 0, size[x]!, 0));
    ix.close();
    writePairs(file(t, 'likely.bin'), likely[t]!);
    writePairs(file(t, 'pairs.bin'), others[t]!);
    const own = components(nodes, likely[t]!);
    writePairs(
      file(t, 'open.bin'),
      others[t]!.filter(([u, v]) => own[u] !== own[v]),
    );
  }
  // every task's likely pairs join: a pair joined only through the other task's is no check
  const label = components(nodes, [...likely[0]!, ...likely[1]!]);
  const block = Math.ceil(nodes / 1024);
  const want = new Map<number, number>();
  for (const p of new Set([...others[0]!, ...others[1]!].map(([u, v]) => u * 2 ** 32 + v))) {
    const [u, v] = [Math.floor(p / 2 ** 32), p % 2 ** 32];
    const [a, b] = [size[u]!, size[v]!];
    if (label[u] === label[v] || Math.min(a, b) < 0.8 * Math.max(a, b)) continue;
    want.set(Math.floor(u / block) * block, (want.get(Math.floor(u / block) * block) ?? 0) + a + b);
  }
  const flat = [...want].sort((x, y) => x[0] - y[0]).flat();
  const args = { cfg, num: { offsets: [0, cut, nodes] } as never, sets: [0, cut, nodes], ranges: 2 };
  assert.deepEqual(checkProfile(args, nodes), flat);
  assert.ok(flat.length > 20, 'blocks with checks');
  // a sets task of a run with one range wrote no open pairs: its pairs file gives the same profile
  rmSync(file(1, 'open.bin'));
  assert.deepEqual(checkProfile(args, nodes), flat);
  rmSync(file(0, 'pairs.bin'));
  rmSync(file(0, 'open.bin'));
  assert.throws(
    () => checkProfile(args, nodes),
    (e: Error) => e instanceof CorruptIntermediateError && e.message.includes('s00000.pairs.bin'),
  );
});
