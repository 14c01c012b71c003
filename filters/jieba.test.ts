import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildDict,
  countStopUnits,
  dictFromBytes,
  dictToBytes,
  jiebaCut,
  jiebaSpans,
  lnInt,
  loadDict,
  stopUnitCount,
  wellFormed,
  xxh64,
} from './jieba.ts';
import { hashString, jiebaSpanWords, jiebaWords, whitespaceSpans, wordUnitClass, Words } from './text.ts';
import { flaggedRatio, gopherQuality, hashWords, stopwordCount, wordRepetition } from './stats.ts';
import { FLAGGED, STOPWORDS } from './wordlists.ts';
import { readSample } from './harness.ts';

/** @node-rs/jieba (jieba-rs, native) with the same dictionary: the oracle. */
function oracle(): (text: string) => string[] {
  const require = createRequire(import.meta.url);
  const { Jieba } = require('@node-rs/jieba') as {
    Jieba: { withDict(d: Uint8Array): { cut(s: string | Uint8Array, hmm?: boolean): string[] } };
  };
  const { dict } = require('@node-rs/jieba/dict') as { dict: Uint8Array };
  const j = Jieba.withDict(dict);
  return (text) => j.cut(Buffer.from(text, 'utf8'), false);
}

/**
 * The kernel tests' texts: `own`, documents `picks` of each Chinese file of the sample, and all of them joined and
 * repeated (longer than the kernel's first buffers).
 */
async function kernelTexts(own: string[], picks: number[]): Promise<string[]> {
  const texts = [...own];
  for (const { file, docs } of await readSample())
    if (file.includes('-zh')) for (const k of picks) texts.push(docs[k]!.text);
  texts.push(texts.join('\n').repeat(8));
  return texts;
}

test('jieba in TypeScript: the same tokens as @node-rs/jieba on real documents (the bundled sample)', async () => {
  const ref = oracle();
  const sample = await readSample();
  let docs = 0,
    tokens = 0;
  for (const { file, docs: ds } of sample) {
    // every Chinese document, every 8th English one (raw text: markup, tables, commands, full-width forms)
    for (let i = 0; i < ds.length; i += file.includes('-zh') ? 1 : 8) {
      const want = ref(ds[i].text);
      const got = jiebaCut(ds[i].text);
      if (got.length !== want.length || got.some((w, k) => w !== want[k])) {
        let k = 0;
        while (got[k] === want[k]) k++;
        assert.deepEqual(got.slice(k, k + 8), want.slice(k, k + 8), `${file} document ${i} token ${k}`);
      }
      docs++;
      tokens += want.length;
    }
  }
  assert.ok(docs > 3000 && tokens > 2_000_000, `compared ${docs} documents, ${tokens} tokens`);
});

test('jieba in TypeScript: edge cases match @node-rs/jieba', () => {
  const ref = oracle();
  const cases = [
    '',
    '   ',
    '我们中出了一个叛徒',
    '南京市长江大桥',
    'C++和c#是编程语言，AT&T是公司。iPhone 15 Pro Max售价9999元！',
    'abc123def 4S店 1号店 T恤 卡拉OK',
    'line one\r\nline two\rthree\n\n四\t五',
    'lone \ud800 surrogate 和 \udc00 低位, pair 😀 ok 𠀀𠀁 (CJK extension B) 㐀',
    '全角　空格和\u00a0不换行空格，《书名》「引号」……——',
    'ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３',
    '日本語のテキストと한국어 텍스트',
    'a.b_c%d-e+f#g&h',
    '中'.repeat(5000),
  ];
  for (const text of cases) assert.deepEqual(jiebaCut(text), ref(text), JSON.stringify(text.slice(0, 40)));
  // words for the filters: whitespace tokens left out
  assert.deepEqual(jiebaWords('我们 在\n北京'), ['我们', '在', '北京']);
});

test('jieba dictionary: a repeated word takes the later frequency; characters without a word score 1/total', () => {
  // total 4 + 16 + 4 = 24 (the first 甲乙 line is overridden): 甲乙 (4/24) beats 甲 + 乙 (4/24 · 16/24); with the
  // first frequency it would lose (1/25 against 4/25 · 16/25)
  const d = buildDict('甲乙 1\n甲 4 n\n乙 16\n甲乙 4\n');
  assert.equal(d.single, -lnInt(24));
  assert.deepEqual(
    jiebaCut('甲乙丙甲', () => false, d),
    ['甲乙', '丙', '甲'],
  );
  assert.deepEqual(
    jiebaCut('甲乙', () => false, buildDict('甲乙 1\n甲 4 n\n乙 16\n')),
    ['甲', '乙'],
  );
  // single letters and digits join; a dictionary word does not
  assert.deepEqual(
    jiebaCut('ab甲9c', () => false, buildDict('b甲 100\n')),
    ['a', 'b甲', '9c'],
  );
  // full children tables (1, 2, 4 and 8 children): a code unit that is not a child ends the search
  for (const kids of ['乙', '乙丙', '乙丙丁戊', '乙丙丁戊己庚辛壬']) {
    const d = buildDict([...kids].map((k) => `甲${k} 5\n`).join('') + '甲 1\n');
    for (const k of kids)
      assert.deepEqual(
        jiebaCut(`甲${k}`, () => false, d),
        [`甲${k}`],
      );
    for (const other of ['癸', '子', 'a', '\u4e00'])
      assert.deepEqual(
        jiebaCut(`甲${other}`, () => false, d),
        ['甲', other],
      );
  }
  assert.throws(() => buildDict('词 x\n'), /line 1 `词 x`: frequency x is not an integer/);
});

test('lnInt: correctly rounded natural logarithm (where V8 Math.log is one ulp off)', () => {
  assert.equal(lnInt(1), 0);
  assert.equal(lnInt(2), Math.LN2);
  assert.equal(lnInt(10), Math.LN10);
  // ln 3 = 1.09861228866810969139...: the nearest double is 1.0986122886681098 (Math.log gives ...096)
  assert.equal(lnInt(3), 1.0986122886681098);
  assert.equal(lnInt(48), 3.871201010907891);
  assert.equal(lnInt(185), 5.220355825078324);
  for (let x = 1; x < 5000; x += 7) assert.ok(Math.abs(lnInt(x) - Math.log(x)) <= 2 ** -52 * Math.log(x) * 2);
});

test("the cache file's check: the kernel's hash64 is XXH64 (seed 0), as the xxhash-wasm package computes it", async () => {
  const { h64Raw } = await (await import('xxhash-wasm')).default();
  // every tail length of the 32-byte stripes, 8-byte words and 4-byte word, and a long input
  for (const n of [0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 31, 32, 33, 36, 40, 63, 64, 100, 4099, 1 << 20]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (Math.imul(i, 2654435761) >>> 23) ^ n;
    assert.equal(xxh64(b), h64Raw(b, 0n), `${n} bytes`);
  }
});

test('jieba dictionary cache: the binary form reads back the same trie; a damaged or foreign file is rebuilt', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-jieba-'));
  try {
    const src = join(dir, 'dict.txt');
    writeFileSync(src, '甲乙 1\n甲 4 n\n乙 16\n甲乙 4\n丙丁戊 7\n');
    const cache = join(dir, 'cache');
    const built = buildDict(readFileSync(src, 'utf8'));
    const first = loadDict(src, cache); // builds and writes the cache
    const [file] = readdirSync(cache);
    assert.match(file, /^jieba-trie-v6-[0-9a-f]{16}\.bin$/);
    const again = loadDict(src, cache); // reads it back
    for (const d of [first, again]) {
      for (const k of ['rec', 'rootRec', 'scores'] as const) assert.deepEqual(d[k], built[k], k);
      assert.equal(d.single, built.single);
      assert.deepEqual(
        jiebaCut('甲乙丙丁戊甲', () => false, d),
        ['甲乙', '丙丁戊', '甲'],
      );
    }
    const bytes = readFileSync(join(cache, file));
    const sha = bytes.subarray(40, 72);
    assert.ok(dictFromBytes(bytes, sha));
    // one flipped payload byte, a truncated file, another dictionary's hash: never used
    const bad = Buffer.from(bytes);
    bad[bad.length - 3] ^= 1;
    assert.equal(dictFromBytes(bad, sha), null);
    assert.equal(dictFromBytes(bytes.subarray(0, bytes.length - 2), sha), null);
    assert.equal(dictFromBytes(bytes, Buffer.alloc(32)), null);
    // a damaged cache file is replaced by a good one
    writeFileSync(join(cache, file), bad);
    assert.deepEqual(loadDict(src, cache).rec, built.rec);
    const rewritten = readFileSync(join(cache, file));
    assert.deepEqual(rewritten, Buffer.from(dictToBytes(built, sha, rewritten.subarray(104, 128))));
    // the header's stamp is the dictionary file's size, modification time (ns) and inode
    const st = statSync(src, { bigint: true });
    assert.deepEqual(
      [0, 8, 16].map((o) => rewritten.readBigUInt64LE(104 + o)),
      [st.size, st.mtimeNs, st.ino],
    );
    // while the stamp is unchanged the dictionary is not read: a cache file whose recorded source SHA-256 no longer
    // matches is still used (and left as it is) ...
    const foreign = Buffer.from(rewritten);
    foreign.fill(0, 40, 72);
    writeFileSync(join(cache, file), foreign);
    assert.deepEqual(loadDict(src, cache).rec, built.rec);
    assert.deepEqual(readFileSync(join(cache, file)), foreign);
    // ... once the dictionary file's stamp changes, its bytes are hashed and compared: rebuilt and rewritten here
    utimesSync(src, new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.deepEqual(loadDict(src, cache).rec, built.rec);
    const restamped = readFileSync(join(cache, file));
    assert.deepEqual(restamped.subarray(40, 72), sha);
    assert.notDeepEqual(restamped.subarray(104, 128), rewritten.subarray(104, 128));
    // a touched dictionary with the same bytes reuses the trie and refreshes the stamp
    utimesSync(src, new Date(2002, 1, 1), new Date(2002, 1, 1));
    assert.deepEqual(loadDict(src, cache).rec, built.rec);
    assert.deepEqual(readFileSync(join(cache, file)).subarray(128), restamped.subarray(128));
    assert.equal(readFileSync(join(cache, file)).readBigUInt64LE(112), statSync(src, { bigint: true }).mtimeNs);
    // a changed dictionary: a new trie
    writeFileSync(src, '甲乙 1\n甲 4 n\n乙 16\n');
    assert.deepEqual(
      jiebaCut('甲乙', () => false, loadDict(src, cache)),
      ['甲', '乙'],
    );
    // an unaligned copy reads back too
    const odd = Buffer.alloc(bytes.length + 1);
    bytes.copy(odd, 1);
    assert.deepEqual(dictFromBytes(odd.subarray(1), sha)?.rec, built.rec);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jieba segmentation kernel: tokens left out by their first code unit, the drop tables of several predicates, long texts', async () => {
  const texts = await kernelTexts(
    ['中文 分词\r\n测试\t\u3000全角 空格 a b  c', 'lone \ud800 high 汉字\udc00 low, 𠀀 astral 😀', '\r\n\r\r\n\n'],
    [0, 7],
  );
  // more predicates than the kernel keeps tables for: each is rebuilt when it comes back (a predicate sees the first
  // code unit of tokens outside Han runs only)
  const preds = [32, 10, 13, 9, 0x3000, 0x2c].map((u) => (c: number) => c === u || c === 0xfffd);
  const b = { start: new Int32Array(0), end: new Int32Array(0), n: 0 };
  for (let round = 0; round < 2; round++)
    for (const drop of preds)
      for (const text of texts) {
        const src = jiebaSpans(text, drop, b) ? wellFormed(text) : text;
        const got = [];
        for (let k = 0; k < b.n; k++) got.push(src.slice(b.start[k], b.end[k]));
        const want = jiebaCut(text).filter((w) => !drop(w.charCodeAt(0)));
        assert.deepEqual(got, want, JSON.stringify(text.slice(0, 30)));
      }
  assert.ok(texts.at(-1)!.length > 20000);
});

test('jieba segmentation kernel: a unit class that does not make every U+4E00-9FFF a letter (1) is refused, naming the first such unit', () => {
  // the kernel takes those units as class 1 without reading the class table; the check reads the table built from the
  // class, so a class that differs there in one unit is caught
  const w = new Words();
  for (const u of [0x4e00, 0x4e2d, 0x9fff]) {
    const bad = (c: number) => (c === u ? 0 : wordUnitClass(c));
    assert.throws(
      () => jiebaSpans('中文 words', () => false, w, undefined, w, bad),
      new RegExp(`unit class 0 of U\\+${u.toString(16)},`),
    );
  }
  // the class of the pipeline passes, and so does one that differs only outside the range
  const outside = (c: number) => (c === 0x4dff || c === 0xa000 ? 0 : wordUnitClass(c));
  for (const cls of [wordUnitClass, outside]) {
    jiebaSpans('中文 words', () => false, w, undefined, w, cls);
    assert.equal(w.n, 3);
  }
});

test("jieba segmentation kernel: the words' hashes and code-point lengths it makes (hashSpans) are stats.ts hashWords'", async () => {
  const texts = await kernelTexts(
    [
      '中文 分词 with ASCII words, 数字 12345 and 𠀀𠀁 astral 😀 characters',
      'surrogate pairs inside a Han run: 汉字𠀀字𪚥汉 and alone 😀😀',
      'lone \ud800 high 汉字', // a lone surrogate: no kernel hashes, stats.ts hashes the well-formed words
      '',
    ],
    [0, 3],
  );
  const w = new Words();
  for (const text of texts) {
    jiebaSpanWords(text, w);
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
    assert.equal(w.hashedGen === w.gen, !lone, JSON.stringify(text.slice(0, 30)));
    if (lone) continue;
    const got = [w.h1.slice(0, w.n), w.h2.slice(0, w.n), w.cum.slice(0, w.n + 1)];
    w.h1.fill(0);
    w.h2.fill(0);
    w.cum.fill(0);
    hashWords(w);
    assert.deepEqual(got, [w.h1.slice(0, w.n), w.h2.slice(0, w.n), w.cum.slice(0, w.n + 1)], text.slice(0, 30));
    assert.ok(w.n === 0 || w.cum[w.n] > 0);
  }
});

test('jieba segmentation kernel: the words it lists as starting with an ASCII letter are those, and flaggedRatio over them is flaggedRatio over every word', async () => {
  const texts = await kernelTexts(
    [
      'porn 色情 Porn中文 PORN sex Sex 中文sex 𠀀sex 😀 xxx 成人 anal é porn',
      'only 中文 words here 和 English, x86_64 C++ GNU/Linux',
      '',
    ],
    [0, 2],
  );
  const latin = new Set(FLAGGED.filter((x) => !/\p{Script=Han}/u.test(x)).map((x) => x.toLowerCase()));
  const w = new Words();
  let listed = 0;
  for (const text of texts) {
    jiebaSpanWords(text, w);
    assert.equal(w.letterFirstGen, w.gen);
    const want: number[] = [];
    for (let i = 0; i < w.n; i++) if (/^[A-Za-z]/.test(w.word(i))) want.push(i);
    assert.deepEqual([...w.letterFirst.subarray(0, w.letterFirstN)], want, JSON.stringify(text.slice(0, 30)));
    listed += want.length;
    const fromKernel = flaggedRatio(text, w, latin, null);
    w.letterFirstGen = -1;
    assert.equal(fromKernel, flaggedRatio(text, w, latin, null), JSON.stringify(text.slice(0, 30)));
  }
  assert.ok(listed > 100);
  jiebaSpanWords('porn 色情 Porn中文 PORN', w);
  assert.ok(w.letterFirstN >= 3);
  assert.equal(flaggedRatio('', w, latin, null) * w.n, 3); // porn, Porn, PORN
  // an entry starting with another ASCII unit: every word is read
  jiebaSpanWords('4chan porn 色情 9x 4chan', w);
  assert.equal(flaggedRatio('', w, new Set(['4chan', '9x', 'porn']), null) * w.n, 4);
});

test("jieba segmentation kernel: the lower-cased words' hashes (word_repetition's) are those of the words lower-cased when lowerable", async () => {
  const texts = await kernelTexts(
    [
      'ABC中文 Ａbc ＡＢＣ Éte ÉCOLE Σigma ΣΑΣ İstanbul Ёлка Ⅻ ǅ Ǆ mixedCase中文词 HTTP服务器 and lower 中文',
      'Capitals next to other units: AÉ Aé A中 Ａ中 İA ΩA Ա Արմ x86_64 C++ GNU/Linux',
      'Tabs\tand\nLines, 𠀀A 😀B',
    ],
    [1, 5],
  );
  const lowerable = /[A-Z\u00c0-\u024f\u0370-\u052f]/;
  const w = new Words();
  let ex = 0;
  for (const text of texts) {
    jiebaSpanWords(text, w);
    assert.equal(w.loweredGen, w.gen);
    ex += w.lowerExN;
    // the words' hashes with the kernel's changes over them, and toLowerCase's for the words it left
    const got1 = w.h1.slice(0, w.n),
      got2 = w.h2.slice(0, w.n);
    for (let q = 0; q < 3 * w.loweredN; q += 3) {
      assert.match(w.word(w.lowered[q]), /^[\x00-\x7f]*[A-Z][\x00-\x7f]*$/);
      got1[w.lowered[q]] = w.lowered[q + 1];
      got2[w.lowered[q]] = w.lowered[q + 2];
    }
    for (let q = 0; q < w.lowerExN; q++) {
      const word = w.word(w.lowerEx[q]);
      assert.match(word, /[\u00c0-\u024f\u0370-\u052f]|[A-Z][^]*[^\x00-\x7f]|[^\x00-\x7f][^]*[A-Z]/);
      got1[w.lowerEx[q]] = hashString(word.toLowerCase()) | 0;
      got2[w.lowerEx[q]] = hashString(word.toLowerCase(), 0x12345678) | 0;
    }
    for (let i = 0; i < w.n; i++) {
      const word = w.word(i);
      const l = lowerable.test(word) ? word.toLowerCase() : word;
      assert.deepEqual([got1[i], got2[i]], [hashString(l) | 0, hashString(l, 0x12345678) | 0], JSON.stringify(word));
    }
  }
  assert.ok(ex > 0); // words that the kernel left to toLowerCase
  // word_repetition over the kernel's changes equals it over lowerHashes' (the words' own hashes, lowered in JavaScript)
  for (const text of [...texts, 'Linux linux LINUX 中文 ÉCOLE école Σigma σigma HTTP http 中文 '.repeat(3)])
    for (const n of [1, 2, 5]) {
      jiebaSpanWords(text, w);
      const fromKernel = wordRepetition(w, n, true);
      w.loweredGen = -1;
      assert.equal(fromKernel, wordRepetition(w, n, true), JSON.stringify(text.slice(0, 30)));
    }
  jiebaSpanWords('Linux linux LINUX', w);
  assert.equal(wordRepetition(w, 1, true), 1);
});

test("gopherQuality's word sums made with the hashes (jieba's kernel, stats.ts hashWords; by text.ts wordUnitClass) are those of the words' own loop", async () => {
  const texts = await kernelTexts(
    [
      '中文，分词。（括号）…… with ASCII words, 数字 12345 -- ... • and 𠀀𠀁 astral 😀 characters 😀😀 ©® ★☆ ——',
      'surrogate pairs inside a Han run: 汉字𠀀字𪚥汉 and alone 😀😀 |||| ### !!!',
      '纯标点：，。、；「」『』【】',
      '',
    ],
    [0, 2],
  );
  const w = new Words();
  let astral = 0;
  for (const text of texts) {
    jiebaSpanWords(text, w);
    assert.equal(w.qualGen, w.gen);
    astral += w.qualExN;
    const fromKernel = gopherQuality(text, w);
    w.qualGen = -1; // the same words through the loop over every word
    const own = gopherQuality(text, w);
    assert.deepEqual(fromKernel, own, JSON.stringify(text.slice(0, 30)));
    if (text) assert.ok(own.n_words > 0 && own.alpha_words_ratio > 0);
    // and stats.ts hashWords' sums, over these words and over the text's whitespace words
    for (const words of [w, whitespaceSpans(text)]) {
      words.hashedGen = -1;
      hashWords(words);
      assert.equal(words.qualGen, words.gen);
      const fromHashes = gopherQuality(text, words);
      words.qualGen = -1;
      assert.deepEqual(fromHashes, gopherQuality(text, words), JSON.stringify(text.slice(0, 30)));
    }
  }
  assert.ok(astral > 0); // words with an astral character, left to stats.ts
});

test("stopwordCount through the words' hashes (jieba's kernel's, or gopherQuality's) equals it through the stop set's own hashing", async () => {
  const zh = new Set(STOPWORDS.zh.map((x) => x.toLowerCase())),
    en = new Set(STOPWORDS.en.map((x) => x.toLowerCase()));
  const texts = ['The cat and THE dog 的 了 是 我们 在 A a I i 中文 Ｔhe É the ThE tHE AND And ANDé Être', '', '的'];
  for (const { docs } of await readSample()) texts.push(docs[0].text, docs[4].text);
  const w = new Words();
  let seen = 0;
  for (const text of texts)
    for (const [mode, stop] of [
      ['jieba', zh],
      ['jieba', en],
      ['whitespace', en],
    ] as const) {
      if (mode === 'jieba') jiebaSpanWords(text, w);
      else whitespaceSpans(text, w);
      w.hashedGen = -1;
      const own = stopwordCount(w, stop);
      hashWords(w);
      const hashed = stopwordCount(w, stop);
      assert.equal(hashed, own, `${mode}: ${JSON.stringify(text.slice(0, 30))}`);
      // the definition: a word or its toLowerCase in the set
      let ref = 0;
      for (let i = 0; i < w.n; i++) if (stop.has(w.word(i)) || stop.has(w.word(i).toLowerCase())) ref++;
      assert.equal(own, ref, `${mode}: ${JSON.stringify(text.slice(0, 30))}`);
      seen += own;
    }
  assert.ok(seen > 100);
});

test("stopwordCount of a list of one-unit words (the zh list) counted by jieba's kernel as it hashes the words equals the words' own count", async () => {
  const texts = await kernelTexts(
    ['的 了 是 我们 在 的的 中文 Ｔhe É 的\u0301 人人 人 他', '', '的', '的\ud800了 是', 'plain ASCII words only'],
    [0, 1, 3],
  );
  // the kernel's count for flags registered with jieba.ts, against the definition
  const flags = new Uint8Array(0x10000);
  for (const c of '的了是人') flags[c.charCodeAt(0)] = 1;
  const fn = (c: number) => flags[c];
  countStopUnits(fn);
  const w = new Words();
  let counted = 0,
    lones = 0;
  for (const text of texts) {
    const lone = jiebaSpanWords(text, w).letterFirstGen !== w.gen;
    lones += +lone;
    let ref = 0;
    for (let i = 0; i < w.n; i++) if (w.end[i] - w.start[i] === 1 && flags[w.src.charCodeAt(w.start[i])]) ref++;
    assert.equal(stopUnitCount(w, fn), lone ? -1 : ref, JSON.stringify(text.slice(0, 30)));
    assert.equal(
      stopUnitCount(w, () => 0),
      -1,
    );
    counted += lone ? 0 : ref;
  }
  assert.ok(counted > 100);
  // stopwordCount: a one-unit list registers itself (from the next segmentation on); a list with a longer or an ASCII
  // entry does not; each gives the definition's count, by the kernel while the words are jieba's hashed ones
  const zh = new Set(STOPWORDS.zh);
  const mixed = new Set([...STOPWORDS.zh, '我们', 'the']);
  const x = new Words();
  jiebaSpanWords('的', x);
  stopwordCount(x, zh);
  let viaKernel = 0;
  for (const text of texts)
    for (const stop of [zh, mixed]) {
      jiebaSpanWords(text, w);
      const ref = () => {
        let k = 0;
        for (let i = 0; i < w.n; i++) if (stop.has(w.word(i)) || stop.has(w.word(i).toLowerCase())) k++;
        return k;
      };
      const first = stopwordCount(w, stop);
      if (stop === zh && w.letterFirstGen === w.gen) {
        // the kernel's count is the one returned: with the spans emptied, it is still the words' count
        const n = w.n;
        w.n = 0;
        assert.equal(stopwordCount(w, stop), first);
        w.n = n;
        viaKernel++;
      }
      assert.equal(first, ref(), JSON.stringify(text.slice(0, 30)));
      w.letterFirstGen = -1;
      assert.equal(stopwordCount(w, stop), first);
      // words refilled another way are counted by their own pass
      whitespaceSpans(text, w);
      assert.equal(stopwordCount(w, stop), ref());
    }
  // every text but those with a lone surrogate (the one above, and all of them joined)
  assert.equal(lones, 2);
  assert.equal(viaKernel, texts.length - lones);
});
