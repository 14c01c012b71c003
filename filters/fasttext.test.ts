import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expf, loadFastText } from './fasttext.ts';
import { LID_MODEL_PATH } from './lid.ts';
import { readSample } from './harness.ts';

type Pred = { label: string; score: number }[];

/** fastText's own build (WebAssembly, fasttext.wasm.js) as the oracle: one line of text, top-k labels. */
async function oracle(modelPath?: string): Promise<(text: string, k: number) => Pred> {
  const { getLIDModel } = await import('fasttext.wasm.js');
  const ft = await (await getLIDModel(modelPath ? { modelPath: pathToFileURL(modelPath).href } : {})).load();
  return (text, k) => {
    // fastText's predictLine reads one line: newlines would end it, so they are given as spaces
    const v = ft.predict(text.replace(/[\r\n]+/g, ' '), k, 0) as unknown as {
      size(): number;
      get(i: number): [number, string];
      delete(): void;
    };
    const out: Pred = [];
    for (let i = 0; i < v.size(); i++) {
      const e = v.get(i);
      out.push({ label: String(e[1]).replace('__label__', ''), score: e[0] });
    }
    v.delete();
    return out;
  };
}

test('lid.176 (fasttext.ts and its kernel): labels and probabilities bit-identical to fastText on real documents', async () => {
  const ref = await oracle();
  const model = loadFastText(LID_MODEL_PATH);
  // every 8th document of each bundled sample file (zh-cn, zh-tw, en: man pages, Debian reference, fortunes), its
  // first 500 characters (what lang_id reads) and the whole text, top 3
  const sample = await readSample();
  let n = 0;
  for (const { file, docs } of sample) {
    for (let i = 0; i < docs.length; i += 8) {
      for (const text of [docs[i].text.slice(0, 500), docs[i].text]) {
        const want = ref(text, 3);
        assert.deepEqual(model.predict(text, 3), want, `${file} document ${i} (${text.length} chars)`);
        n++;
      }
    }
  }
  assert.ok(n > 1500, `compared ${n} predictions`);
});

test('lid.176 (fasttext.ts and its kernel): edge cases of fastText tokenisation match', async () => {
  const ref = await oracle();
  const model = loadFastText(LID_MODEL_PATH);
  const cases = [
    '',
    '   \t  ',
    'hello',
    'a </s> b c d',
    '__label__zh 这是中文 __label__en',
    'NUL\u0000separated\u0000words',
    'vertical\u000btab and form\u000cfeed',
    'lone \ud800 surrogate and \udc00 low one, pair 😀 ok',
    'ends with a lone surrogate \ud83d',
    // astral characters whose n-grams lid.176 keeps (Cantonese), also after a lone surrogate that takes their high half
    '佢哋喺𨋢度等緊𠮶個人',
    '𠮶 𡃁 𨋢 𠱁 𠵱',
    '\ud800𠮶個 \udc00𨋢度 𠮶\ud800',
    'full-width　space and\u00a0nbsp are not separators',
    'x'.repeat(20000),
    '中文'.repeat(3000) + ' english words here',
    // more distinct tokens than the token cache holds (it is cleared when full), then the first ones again
    Array.from({ length: 40000 }, (_, i) => `w${i.toString(36)}`).join(' ') + ' w0 w1 w2 hello world',
  ];
  for (const text of cases) {
    for (const k of [1, 3, 200])
      assert.deepEqual(model.predict(text, k), ref(text, k), JSON.stringify(text.slice(0, 60)));
  }
});

test('lid.176: n-gram rows through the ranked kept buckets match fastText on single random tokens', async () => {
  // each token alone: its row is the sum of its word row (if any) and its n-grams' rows, so a kept bucket given the
  // wrong rank (the first, second or third word of its entry, any bit) changes the token's probabilities
  const ref = await oracle();
  const model = loadFastText(LID_MODEL_PATH);
  const alphabet = [
    ...'abcdefghijklmnopqrstuvwxyzéüßçñøåкирлица的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年',
  ];
  let seed = 12345;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (let t = 0; t < 3000; t++) {
    let w = '';
    for (let q = 2 + rnd(5); q > 0; q--) w += alphabet[rnd(alphabet.length)];
    const want = ref(w, 3);
    assert.deepEqual(model.predict(w, 3), want, JSON.stringify(w));
  }
});

test('lid.176 with blocks of more than 16 kept n-gram buckets: predictions match fastText on the same model file', async () => {
  // the kernel compares the low bytes of a 256-bucket block's kept buckets 16 at once, and lid.176 keeps at most 16 of
  // any block; here every bucket of one block in 16 that lid.176 does not list is given a pair (a row of another
  // pair), so those blocks keep 256 buckets, and both fastText and the kernel read the changed file
  const good = readFileSync(LID_MODEL_PATH);
  const bucket = good.readInt32LE(40);
  const size = good.readInt32LE(64);
  const pruneSize = Number(good.readBigInt64LE(84));
  let o = 92;
  for (let i = 0; i < size; i++) o = good.indexOf(0, o) + 10;
  const listed = new Set<number>();
  for (let i = 0; i < pruneSize; i++) listed.add(good.readInt32LE(o + 8 * i));
  const extra: number[] = [];
  for (let b = 0; 256 * b < bucket; b += 16)
    for (let h = 256 * b; h < Math.min(bucket, 256 * b + 256); h++)
      if (!listed.has(h)) extra.push(h, good.readInt32LE(o + 8 * (h % pruneSize) + 4));
  const pairs = Buffer.from(new Int32Array(extra).buffer);
  const end = o + 8 * pruneSize;
  const dense = Buffer.concat([good.subarray(0, end), pairs, good.subarray(end)]);
  dense.writeBigInt64LE(BigInt(pruneSize + extra.length / 2), 84);
  const dir = mkdtempSync(join(tmpdir(), 'steel-ft-'));
  try {
    const f = join(dir, 'dense.ftz');
    writeFileSync(f, dense);
    const ref = await oracle(f);
    const model = loadFastText(f);
    const alphabet = [
      ...'abcdefghijklmnopqrstuvwxyzéüßçñкирлица的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年',
    ];
    let seed = 777;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    let changed = 0;
    const plain = loadFastText(LID_MODEL_PATH);
    for (let t = 0; t < 1500; t++) {
      let w = '';
      for (let q = 2 + rnd(5); q > 0; q--) w += alphabet[rnd(alphabet.length)];
      const want = ref(w, 3);
      assert.deepEqual(model.predict(w, 3), want, JSON.stringify(w));
      if (JSON.stringify(plain.predict(w, 3)) !== JSON.stringify(want)) changed++;
    }
    // the added buckets take part: most tokens have an n-gram in one of the dense blocks
    assert.ok(changed > 500, `${changed} of 1500 predictions changed by the added pairs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a quantizer of another shape (16 sub-vectors of 1 float): the rows decoded from their codes match fastText', async () => {
  // lid.176's product quantizer (8 sub-vectors of 2 floats) rewritten as 16 of 1 float with the same centroid values:
  // the rows, and so the predictions, are lid.176's, decoded by the kernel (decodeRows) for another sub-vector size;
  // fastText's own build reads the rewritten file as the oracle
  const good = readFileSync(LID_MODEL_PATH);
  const size = good.readInt32LE(64);
  const pruneSize = Number(good.readBigInt64LE(84));
  let o = 92;
  for (let i = 0; i < size; i++) o = good.indexOf(0, o) + 10;
  const q = o + 8 * pruneSize; // quantized (1), qnorm, rows (i64), cols (i64), codesize (i32), codes, the quantizer
  assert.equal(good[q], 1);
  const rows = Number(good.readBigInt64LE(q + 2));
  const codesize = good.readInt32LE(q + 18);
  const codes = good.subarray(q + 22, q + 22 + codesize);
  const pq = q + 22 + codesize;
  const [dim, nsubq, dsub, lastdsub] = [0, 4, 8, 12].map((k) => good.readInt32LE(pq + k));
  assert.deepEqual([dim, nsubq, dsub, lastdsub, codesize], [16, 8, 2, 2, rows * 8]);
  const cent = new Float32Array(
    good.buffer.slice(good.byteOffset + pq + 16, good.byteOffset + pq + 16 + 4 * dim * 256),
  );
  const codes1 = Buffer.alloc(rows * 16);
  for (let r = 0; r < rows; r++)
    for (let m = 0; m < 8; m++) codes1[r * 16 + 2 * m] = codes1[r * 16 + 2 * m + 1] = codes[r * 8 + m];
  const cent1 = new Float32Array(dim * 256);
  for (let m = 0; m < 8; m++)
    for (let k = 0; k < 256; k++)
      for (let j = 0; j < 2; j++) cent1[(2 * m + j) * 256 + k] = cent[(m * 256 + k) * 2 + j];
  const head = Buffer.from(good.subarray(0, q + 22));
  head.writeInt32LE(rows * 16, q + 18);
  const shape = Buffer.from(new Int32Array([16, 16, 1, 1]).buffer);
  const file = Buffer.concat([head, codes1, shape, Buffer.from(cent1.buffer), good.subarray(pq + 16 + 4 * dim * 256)]);
  const dir = mkdtempSync(join(tmpdir(), 'steel-ft-'));
  try {
    const f = join(dir, 'sub1.ftz');
    writeFileSync(f, file);
    const ref = await oracle(f);
    const model = loadFastText(f);
    const plain = loadFastText(LID_MODEL_PATH);
    const docs = (await readSample()).flatMap((s) => s.docs.slice(0, 40).map((d) => d.text.slice(0, 600)));
    docs.push('the quick brown fox', '中文的句子', 'x', '');
    for (const t of docs) {
      const want = ref(t, 3);
      assert.deepEqual(model.predict(t.replace(/[\r\n]+/g, ' '), 3), want, JSON.stringify(t.slice(0, 80)));
      assert.deepEqual(plain.predict(t.replace(/[\r\n]+/g, ' '), 3), want);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// the kernels in C (this one, filters/jieba.ts's, filters/stats.ts's n-gram sweep, dedup/minhash.ts's, the MinHash
// buckets step's (dedup/stages/buckets.ts) and the JSONL writer's text kernel, pipeline/writers/jsonl.ts), paths from
// the repository root
for (const kernel of [
  'filters/fasttext-kernel',
  'filters/jieba-kernel',
  'filters/ngram-kernel',
  'dedup/minhash-kernel',
  'dedup/stages/bucket-kernel',
  'pipeline/writers/json-kernel',
])
  test(`${kernel}.wasm is the build of ${kernel}.c (rebuilt when clang is installed)`, (t) => {
    const sh = fileURLToPath(new URL(`../${kernel}.sh`, import.meta.url));
    const wasm = fileURLToPath(new URL(`../${kernel}.wasm`, import.meta.url));
    // the bytes are those of the clang that built the committed file (Debian 12's clang 14); another version compiles
    // the same source to other bytes
    const version = ['clang', 'clang-14']
      .map((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).stdout ?? '')
      .find((v) => v.includes('clang version'));
    const hasLld = ['wasm-ld', 'wasm-ld-14'].some((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
    if (!version || !hasLld) return t.skip('clang or wasm-ld not installed (apt-get install clang lld)');
    if (!/clang version 14\./.test(version))
      return t.skip(`the .wasm was built by clang 14, this is ${version.split('\n')[0]}`);
    const out = mkdtempSync(join(tmpdir(), 'ft-kernel-'));
    try {
      const r = spawnSync('bash', [sh, join(out, 'k.wasm')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        readFileSync(join(out, 'k.wasm')).equals(readFileSync(wasm)),
        `the committed .wasm is stale: run bash ${kernel}.sh`,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

test('lid.176: a damaged model file is refused (the kernel walks the dictionary and the kept buckets)', () => {
  const good = readFileSync(LID_MODEL_PATH);
  // the header (64 bytes of arguments, then size, nwords, nlabels, ntokens, pruneSize), the dictionary's entries
  const size = good.readInt32LE(64);
  let o = 92;
  for (let i = 0; i < size; i++) o = good.indexOf(0, o) + 10;
  const pairsAt = o;
  const dir = mkdtempSync(join(tmpdir(), 'steel-ft-'));
  try {
    const load = (b: Buffer) => {
      const f = join(dir, 'm.ftz');
      writeFileSync(f, b);
      return () => loadFastText(f);
    };
    assert.equal(loadFastText(LID_MODEL_PATH).labels.length, 176);
    assert.throws(load(good.subarray(0, 2000)), /truncated dictionary/);
    assert.throws(load(good.subarray(0, good.length - 1)), /unexpected matrix layout/);
    // a label entry (type 1) made a word: the words are no longer the first nwords entries
    const label = Buffer.from(good);
    label[good.indexOf('__label__', 92) + good.subarray(good.indexOf('__label__', 92)).indexOf(0) + 9] = 0;
    assert.throws(load(label), /inconsistent dictionary/);
    // the last (bucket, row) pair, read first, given a row past the input matrix
    const pruneSize = Number(good.readBigInt64LE(84));
    const far = Buffer.from(good);
    far.writeInt32LE(0x7fffffff, pairsAt + 8 * (pruneSize - 1) + 4);
    const bucket = good.readInt32LE(pairsAt + 8 * (pruneSize - 1));
    assert.throws(load(far), new RegExp(`n-gram bucket ${bucket} has row 2147483647, past the input matrix`));
    // of two such pairs, the later is named
    const two = Buffer.from(far);
    two.writeInt32LE(0x7ffffffe, pairsAt + 4);
    assert.throws(load(two), new RegExp(`n-gram bucket ${bucket} has row 2147483647, past the input matrix`));
    two.writeInt32LE(good.readInt32LE(pairsAt + 8 * (pruneSize - 1) + 4), pairsAt + 8 * (pruneSize - 1) + 4);
    assert.throws(load(two), new RegExp(`n-gram bucket ${good.readInt32LE(pairsAt)} has row 2147483646, past`));
    // such a pair followed by a good pair of its bucket is no error: the last pair of a bucket decides
    const first = Buffer.alloc(8);
    first.writeInt32LE(good.readInt32LE(pairsAt), 0);
    first.writeInt32LE(0x7fffffff, 4);
    const shadowed = Buffer.concat([good.subarray(0, pairsAt), first, good.subarray(pairsAt)]);
    shadowed.writeBigInt64LE(BigInt(pruneSize + 1), 84);
    const m = load(shadowed)();
    const text = 'the kept buckets of a model whose pairs name a bucket twice 中文';
    assert.deepEqual(m.predict(text, 5), loadFastText(LID_MODEL_PATH).predict(text, 5));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('expf: musl-exact float exponential (spot values; monotone; over/underflow)', () => {
  assert.equal(expf(0), 1);
  assert.equal(expf(1), Math.fround(Math.E));
  assert.equal(expf(-1), Math.fround(1 / Math.E));
  assert.equal(expf(100), Infinity);
  assert.equal(expf(-200), 0);
  let prev = 0;
  for (let x = -20; x <= 20; x += 0.001) {
    const y = expf(Math.fround(x));
    assert.equal(y, Math.fround(y));
    assert.ok(y >= prev, `monotone at ${x}`);
    // within one float ulp of the double exponential
    assert.ok(Math.abs(y - Math.exp(Math.fround(x))) <= Math.abs(y) * 2 ** -23, `accuracy at ${x}`);
    prev = y;
  }
});
