import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRETOKENIZE_RE } from './bpe.ts';
import { BMP_CLASSES, BMP_RUNS, pieceEnd, WS_CHARS } from './pretokenize.ts';
import { readDocuments } from '../pipeline/readers/index.ts';

/** The pieces of the regex (the reference) and of the scanner. */
function both(text: string): [string[], string[]] {
  const re = text.match(PRETOKENIZE_RE) ?? [];
  const sc: string[] = [];
  for (let i = 0; i < text.length;) {
    const e = pieceEnd(text, i, text.length);
    sc.push(text.slice(i, e));
    i = e;
  }
  return [re, sc];
}

test('pretokenize: the scanner cuts every document of the bundled sample where the regex does', async () => {
  const dir = fileURLToPath(new URL('../corpora-manifests/sample', import.meta.url));
  let docs = 0,
    pieces = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl.zst'))) {
    for await (const { doc } of readDocuments(join(dir, f))) {
      const [re, sc] = both(doc.text);
      assert.deepEqual(sc, re, `${f}: ${doc.id}`);
      docs++;
      pieces += re.length;
    }
  }
  assert.ok(docs > 6000 && pieces > 3_000_000, `${docs} documents, ${pieces} pieces`);
});

test('pretokenize: the scanner equals the regex on edge cases and random strings of tricky characters', () => {
  const cases = [
    '',
    "'s 'S 'T 're 'RE 'Ve 'll 'LL 'd 'm 'x ' '",
    "don't I'm they're we've you'll he'd '",
    'a\r\n\r\n  b \n\t x  \t\n',
    '   ',
    ' \u3000\u00a0 word\u2028\u2029 \u0085x',
    '😀😀 𝐀𝐁𝐂 x𝐀 𝟙𝟚 (𝐀) \ud800 \udc00x \ud83d',
    '12 345 ①② ½ ٣ 一二三',
    '\ufeffbom \u200bzw ab\u200bcd',
    '  (hello) !!!\r\n\r\n?? ...\n',
    '中文，标点。混合English混合123',
  ];
  for (const c of cases) {
    const [re, sc] = both(c);
    assert.deepEqual(sc, re, JSON.stringify(c));
  }
  // random strings over an alphabet of each class's boundary cases
  const alphabet = [
    ...["'", 's', 'S', 'r', 'e', 'l', 'L', 'v', 'd', 'm', 't', 'x', '中', 'é', 'ß'],
    ...['1', '٣', '①', '𝟙', '½'],
    ...[' ', ' ', '\t', '\r', '\n', '\u3000', '\u00a0', '\u0085', '\u2028', '\u000b', '\u000c'],
    ...['(', '!', '.', '，', '\ufeff', '\u200b', '😀', '𝐀', '\ud800', '\udc00', '\u0301', '_', '-'],
  ];
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let n = 0; n < 20000; n++) {
    let s = '';
    const len = 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    const [re, sc] = both(s);
    assert.deepEqual(sc, re, JSON.stringify(s));
  }
});

test('pretokenize: the scanner equals the regex around every BMP code point and every 16th astral one', () => {
  for (let cp = 0; cp < 0x110000; cp += cp < 0x10000 ? 1 : 16) {
    const c = String.fromCodePoint(cp);
    const s = `x${c}x ${c}${c} '${c} ${c}1\n${c}\r`;
    const [re, sc] = both(s);
    if (sc.length !== re.length || sc.some((p, i) => p !== re[i])) assert.deepEqual(sc, re, `U+${cp.toString(16)}`);
  }
});

test('pretokenize: a contraction is cut at the segment end n, whatever follows it in the string', () => {
  const words = ["'s", "'S", "'re", "'RE", "'ve", "'ll", "'Ll", "'lx", "'rx", "'x", "'", "''"];
  for (const w of words) {
    const s = `${w}ll e`;
    for (let n = 1; n <= s.length; n++) {
      // the segment s[0..n) pretokenized on its own
      assert.equal(pieceEnd(s, 0, n), pieceEnd(s.slice(0, n), 0, n), `${JSON.stringify(s)} n=${n}`);
    }
  }
  assert.equal(pieceEnd("'rex", 0, 4), 3);
  assert.equal(pieceEnd("'llx", 0, 4), 3);
  assert.equal(pieceEnd("'lex", 0, 4), 4); // not 'll: an apostrophe before letters
  assert.equal(pieceEnd("'rex", 0, 2), 2);
  assert.equal(pieceEnd("'Dx", 0, 3), 2);
});

test("pretokenize: BMP_RUNS is the class table V8's \\p{L} / \\p{N} give (rerun on a Node with other Unicode data)", () => {
  const t = new Uint8Array(0x10000);
  const units = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) units[c] = c >= 0xd800 && c < 0xe000 ? 0x20 : c;
  const all = new TextDecoder('utf-16le').decode(units);
  for (const [re, k] of [
    [/\p{L}+/gu, 1],
    [/\p{N}+/gu, 2],
  ] as const)
    for (const m of all.matchAll(re)) t.fill(k, m.index, m.index + m[0].length);
  for (let c = 0xd800; c < 0xe000; c++) t[c] = 0;
  for (const ch of WS_CHARS) t[ch.charCodeAt(0)] = 3;
  t[10] = t[13] = 4;
  let runs = '';
  for (let c = 1, start = 0; c <= 0x10000; c++)
    if (c === 0x10000 || t[c] !== t[start]) {
      runs += `${runs ? ',' : ''}${t[start]}${(c - start).toString(36)}`;
      start = c;
    }
  assert.equal(BMP_RUNS, runs, 'Unicode data changed: set BMP_RUNS in tokenizer/pretokenize.ts to this');
  assert.deepEqual(BMP_CLASSES, t);
  assert.equal(BMP_CLASSES[0x4e2d], 1); // 中
  assert.equal(BMP_CLASSES[0x3000], 3);
});
