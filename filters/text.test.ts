import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CHAR_TABLES_MAGIC,
  CHAR_TABLES_URL,
  HashCounter,
  SpanSet,
  bmpTablesByDefinition,
  charFlags,
  cpCounts,
  C_LETTER,
  C_PUNCT,
  C_SYMBOL,
  cpLength,
  hasAlnum,
  isAlnum,
  isDjSpecial,
  isSpecialCategory,
  codePoints,
  jiebaWords,
  whitespaceSpans,
  wordStrings,
  wordsFromList,
  wordsOf,
  Words,
  wordUnitClass,
  wordUnitClasses,
  sentenceClasses,
  SENTENCE_CLASS_OTHER,
  isPunctChar,
} from './text.ts';
import * as S from './stats.ts';
import { isJsSpace } from '../pipeline/document.ts';
import { readSample } from './harness.ts';

test('the BMP tables in use (filters/char-tables.bin where it is current) are their definitions', () => {
  const { flags, bits, words, sentences } = bmpTablesByDefinition();
  const inUseWords = wordUnitClasses(),
    inUseSentences = sentenceClasses();
  for (let cp = 0; cp < 0x10000; cp++) {
    assert.equal(charFlags(cp), flags[cp], `flags of U+${cp.toString(16)}`);
    assert.equal(inUseWords[cp], wordUnitClass(cp), `word unit class of U+${cp.toString(16)}`);
    assert.equal(words[cp], wordUnitClass(cp), `word unit class of U+${cp.toString(16)} by definition`);
    // scanSentences' classes: 1 counts, 3 Han, 0 JavaScript whitespace, 4 its own branch
    const own =
      cp === 10 || cp === 13 || cp === 0x3002 || cp === 0xff01 || cp === 0xff1f || (cp >= 0xd800 && cp < 0xdc00);
    const s = own
      ? SENTENCE_CLASS_OTHER
      : (isJsSpace(cp) ? 0 : 1) | (/\p{Script=Han}/u.test(String.fromCharCode(cp)) ? 2 : 0);
    assert.equal(inUseSentences[cp], s, `sentence class of U+${cp.toString(16)}`);
    assert.equal(sentences[cp], s, `sentence class of U+${cp.toString(16)} by definition`);
    const c = cpCounts(String.fromCharCode(cp));
    const got = (c.alnum ? 1 : 0) | (c.special ? 2 : 0) | (c.djSpecial ? 4 : 0) | (c.space ? 8 : 0);
    assert.equal(got, bits[cp], `count bits of U+${cp.toString(16)}`);
  }
  // the committed file is the generator's output for the Unicode version it records (run filters/gen-char-tables.ts)
  const file = readFileSync(CHAR_TABLES_URL);
  assert.equal(file.toString('latin1', 0, 16), CHAR_TABLES_MAGIC);
  if (file.toString('latin1', 16, 32).replace(/\0+$/, '') === process.versions.unicode)
    assert.ok(
      file.subarray(32).equals(Buffer.concat([flags, bits, words, sentences])),
      'filters/char-tables.bin is stale',
    );
});

/** Deterministic random strings over an alphabet that exercises the edge cases (spaces, breaks, surrogates, case). */
function randomTexts(count: number, seed = 7): string[] {
  let s = seed;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const alphabet = [
    ...'ab AB的了是在我们。！？，|-•…\n\n\r\t',
    '\u3000',
    '\u00a0',
    '\u2028',
    '\u0085',
    '\ufeff',
    '\u001c',
    '😀',
    '𠀀',
    '\ud800',
    '\udc00',
    'The',
    'İ',
    'É',
    '...',
    '1',
  ];
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let t = '';
    const n = Math.floor(rnd() * 60);
    for (let i = 0; i < n; i++) t += alphabet[Math.floor(rnd() * alphabet.length)];
    out.push(t);
  }
  return out;
}

let corpus: string[] | undefined;
async function texts(): Promise<string[]> {
  if (!corpus) {
    corpus = randomTexts(3000);
    for (const { docs } of await readSample(undefined, 150)) for (const d of docs) corpus.push(d.text);
  }
  return corpus;
}

test('whitespace words as spans equal the split on /[\\s\\p{Z}]+/u', async () => {
  for (const t of await texts()) {
    const want = t.split(/[\s\p{Z}]+/u).filter((x) => x !== '');
    assert.deepEqual(wordStrings(whitespaceSpans(t)), want, JSON.stringify(t.slice(0, 60)));
  }
});

test('jieba words as spans: a lone surrogate reads as U+FFFD at its offset; the source keeps the text length', () => {
  const t = '标签\ud800文本 \udc00x';
  const w = wordsOf(t, 'jieba');
  assert.equal(w.src.length, t.length);
  assert.deepEqual(wordStrings(w), ['标签', '\ufffd', '文本', '\ufffd', 'x']);
  assert.deepEqual(jiebaWords(t), wordStrings(w));
  assert.equal(wordsOf('abc def', 'jieba').src, 'abc def'); // a well-formed text is its own source
});

test('the counts of the code-point decode equal the per-character definitions, and follow the text decoded', async () => {
  const ts = await texts();
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k];
    const cps = [...t].map((c) => c.codePointAt(0)!);
    const n = cps.length;
    const share = (f: (c: number) => boolean) => (n ? cps.filter(f).length / n : 0);
    // another text decoded in between: the counts must be those of the text asked about
    codePoints(ts[(k + 1) % ts.length] + 'x');
    assert.equal(S.alnumRatio(t), share(isAlnum), JSON.stringify(t.slice(0, 60)));
    codePoints(ts[(k + 7) % ts.length] + 'y');
    assert.equal(S.specialCharRatio(t, 'category'), share(isSpecialCategory));
    assert.equal(S.specialCharRatio(t, 'datajuicer'), share(isDjSpecial));
    codePoints('z' + t);
    // JavaScript's \s is isJsSpace
    assert.equal(S.nonSpaceChars(t), [...t].filter((c) => !/^\s$/u.test(c)).length);
    assert.equal(S.alnumTokenRatio(t, 7), cps.filter(isAlnum).length / 7);
  }
});

test('SpanSet: membership equals a Set of the span strings', () => {
  const ts = randomTexts(400, 3);
  const set = new SpanSet();
  for (const t of ts) {
    const ref = new Set<string>();
    set.reset(t, t.length);
    for (let b = 0; b < t.length; b += 2) {
      const e = Math.min(t.length, b + 1 + (b % 5));
      const x = t.slice(b, e);
      assert.equal(set.add(b, e), ref.has(x));
      ref.add(x);
    }
    for (const probe of ['a', 'ab', '的了', ' ', '\n\n', t.slice(0, 3)])
      if (probe) assert.equal(set.has(probe, 0, probe.length), ref.has(probe));
  }
  const fixed = SpanSet.of(['的', '我们', 'the', '']);
  assert.equal(fixed.has('x我们y', 1, 3), true);
  assert.equal(fixed.has('them', 0, 3), true);
  assert.equal(fixed.has('them', 0, 4), false);
});

test("HashCounter: counts and first-insertion order equal a Map's, across growth from its small start and shrinking", () => {
  const c = new HashCounter();
  // key counts 3, 40, 3000 (the table grows from its first 64 slots), then 5 again (a smaller table in the same arrays)
  for (const n of [3, 40, 3000, 5, 700]) {
    c.reset(n);
    const ref = new Map<string, number>();
    for (let i = 0; i < 3 * n; i++) {
      const k = (i * 7919) % n; // each key three times, interleaved
      const h1 = Math.imul(k, 0x9e3779b1) >>> 0,
        h2 = (k * 31 + 7) >>> 0;
      const key = `${h1}:${h2 & 0x1fffff}`;
      const want = (ref.get(key) ?? 0) + 1;
      ref.set(key, want);
      assert.equal(c.add(h1, h2), want);
    }
    assert.equal(c.size, ref.size);
  }
});

test('n-gram statistic names: made at load up to 32 words, and beyond', () => {
  assert.equal(S.ngramKey('top', 2), 'top_2gram');
  assert.equal(S.ngramKey('dup', 10), 'dup_10gram');
  assert.equal(S.ngramKey('dup_outside', 5), 'dup_5gram_outside');
  assert.equal(S.ngramKey('dup', 40), 'dup_40gram');
  assert.equal(S.ngramKey('dup_outside', 40), 'dup_40gram_outside');
});

/** Literal definitions over word strings (what the span statistics replace). */
const ref = {
  alnumWords: (ws: string[]) => ws.filter(hasAlnum).length,
  stop: (ws: string[], stop: Set<string>) =>
    ws.filter((w) => stop.has(w) || (w.charCodeAt(0) < 128 && w !== w.toLowerCase() && stop.has(w.toLowerCase())))
      .length,
  /** n_words, summed lengths and alphabetic words over the words that are not only punctuation/symbols/space */
  quality(ws: string[]) {
    let n = 0,
      len = 0,
      alpha = 0;
    for (const w of ws) {
      const cps = [...w];
      if (cps.every((c) => charFlags(c.codePointAt(0)!) & (C_PUNCT | C_SYMBOL) || /\s/u.test(c))) continue;
      n++;
      len += cps.length;
      if (cps.some((c) => charFlags(c.codePointAt(0)!) & C_LETTER)) alpha++;
    }
    return { n, mean: n ? len / n : 0, alpha: n ? alpha / n : 0 };
  },
  /** duplicated "\n"-separated lines with a non-space character: their code points */
  dupLineChars(t: string) {
    const seen = new Set<string>();
    let chars = 0;
    for (const l of t.split('\n')) {
      if (!/[^ \t\r\v\f\u00a0\u3000\u2000-\u200a]/.test(l)) continue;
      if (seen.has(l)) chars += cpLength(l);
      else seen.add(l);
    }
    return chars;
  },
  /** findDuplicates over the parts with a letter or digit */
  dups(parts: string[]) {
    const seen = new Set<string>();
    let n = 0,
      elems = 0;
    for (const p of parts) {
      if (!hasAlnum(p)) continue;
      n++;
      if (seen.has(p)) elems++;
      else seen.add(p);
    }
    return n ? elems / n : 0;
  },
};

test('word and line statistics over spans equal their definitions over strings', async () => {
  const stop = new Set(['的', '了', '是', 'the', 'of', '我们', 'a']);
  for (const t of await texts()) {
    for (const mode of ['whitespace', 'jieba'] as const) {
      const w = wordsOf(t, mode);
      const ws = wordStrings(w);
      const lists = wordsFromList(ws);
      const what = `${mode} ${JSON.stringify(t.slice(0, 60))}`;
      assert.equal(S.countAlnumWords(w), ref.alnumWords(ws), what);
      assert.equal(S.stopwordCount(w, stop), ref.stop(ws, stop), what);
      const q = S.gopherQuality(t, w),
        r = ref.quality(ws);
      assert.deepEqual([q.n_words, q.mean_word_length, q.alpha_words_ratio], [r.n, r.mean, r.alpha], what);
      // spans of the text and spans of the concatenated strings give the same statistics
      assert.deepEqual(S.gopherQuality(t, lists), q, what);
      assert.equal(S.wordRepetition(lists, 3, true), S.wordRepetition(w, 3, true), what);
    }
    const fw = S.finewebQuality(t, wordsOf(t, 'whitespace'));
    const nonNl = cpLength(t) - (t.split('\n').length - 1);
    const anyLine = t.split('\n').some((l) => /[^ \t\r\v\f\u00a0\u3000\u2000-\u200a]/.test(l));
    assert.equal(fw.char_dup_ratio, anyLine && nonNl ? ref.dupLineChars(t) / nonNl : 0, JSON.stringify(t));
    const gr = S.gopherRepetition(t, wordsOf(t, 'jieba'), [], [], '');
    assert.equal(gr.dup_line_frac, ref.dups(t.split(/\n+/)), JSON.stringify(t));
    assert.equal(gr.dup_para_frac, ref.dups(t.trim().split(/\n{2,}/)), JSON.stringify(t));
  }
});

test('wordUnitClass: 4 exactly for the surrogates, else its letter and punctuation bits, over every code unit', () => {
  for (let c = 0; c < 0x10000; c++) {
    const want = c >= 0xd800 && c <= 0xdfff ? 4 : ((charFlags(c) & C_LETTER) !== 0 ? 1 : 0) | (isPunctChar(c) ? 2 : 0);
    if (wordUnitClass(c) !== want) assert.fail(`unit ${c.toString(16)}: ${wordUnitClass(c)}, want ${want}`);
  }
});

test("Words: a new one has its defaults after the module's load (which stores each field of another one again)", () => {
  const w = new Words();
  assert.equal(w.src, '');
  assert.equal(w.n, 0);
  assert.equal(w.start.length, 256);
  assert.equal(w.end.length, 256);
  for (const k of ['h1', 'h2', 'lowered', 'lowerEx', 'qualEx', 'letterFirst'] as const) assert.equal(w[k].length, 0, k);
  assert.equal(w.cum.length, 1);
  for (const k of ['hashedGen', 'loweredGen', 'qualGen', 'letterFirstGen'] as const) assert.equal(w[k], -1, k);
  for (const k of ['loweredN', 'lowerExN', 'qualWords', 'qualLen', 'qualAlpha', 'qualExN', 'letterFirstN'] as const)
    assert.equal(w[k], 0, k);
});
