// filters/ftfy.ts against ftfy itself: filters/ftfy-fixtures.json holds ftfy.fix_text's output (6.3.1, defaults, as
// data-juicer's fix_unicode_mapper calls it) on crafted strings and real sample lines, some turned into mojibake; it
// is produced by filters/dj-parity/gen_ftfy_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  badnessAlternatives,
  fixText,
  fixEncoding,
  ftfyFixer,
  isBad,
  isBadnessChar,
  tokenRanges,
  unescapeHtml,
  type FtfyConfig,
} from './ftfy.ts';

const fixtures = createRequire(import.meta.url)('./ftfy-fixtures.json') as { ftfy: string; cases: [string, string][] };

test('fix_text matches ftfy on every fixture (crafted, real sample lines, mojibake of them)', () => {
  assert.ok(fixtures.cases.length > 500);
  const wrong = fixtures.cases
    .filter(([i, o]) => fixText(i) !== o)
    .map(([i, o]) => ({ input: i, ftfy: o, steel: fixText(i) }));
  assert.deepEqual(wrong.slice(0, 5), []);
});

test("the issue's cases: ligatures, width folding, entities, terminal escapes, C1 controls, no false repair", () => {
  assert.equal(fixText('ﬁle ﬂow'), 'file flow');
  assert.equal(fixText('ｶﾀｶﾅ｡｢｣ ￠￡￥'), 'カタカナ。「」 ¢£¥');
  assert.equal(fixText('ＬＯＵＤ　ＮＯＩＳＥＳ'), 'LOUD NOISES');
  assert.equal(fixText('a &amp; b &#x2019;'), "a & b '");
  assert.equal(fixText('a &amp; b <i>'), 'a &amp; b <i>'); // a "<" means real HTML: entities stay
  assert.equal(fixText('\x1b[31mred\x1b[0m'), 'red');
  assert.equal(fixText('\x80 5 \x93q\x94'), '€ 5 "q"');
  assert.equal(fixText('ŉ ﬁ'), "'n fi"); // the ligature fix writes U+02BC, which the quote fix then uncurls
  assert.equal(fixText('¥ì¥¹'), '¥ì¥¹'); // not mojibake by ftfy's heuristic
  assert.equal(isBad('cafÃ©'), true);
  assert.equal(isBad('café'), false);
  assert.equal(fixEncoding('âœ” No problems'), '✔ No problems');
  assert.equal(fixEncoding('ä¸­æ–‡'), '中文');
  assert.equal(unescapeHtml('&#59; &#65a; &AMP;'), '&#59; &#65a; &');
});

test('fix_text options: zh-web keeps width, quotes and full-width CJK punctuation', () => {
  const cfg = { fixCharacterWidth: false, uncurlQuotes: false };
  assert.equal(fixText('你好，世界！“引号”', cfg), '你好，世界！“引号”');
  assert.equal(fixText('你好，世界！“引号”'), '你好,世界!"引号"');
  assert.equal(fixText('ä¸­æ–‡ ﬁ', { ...cfg, fixEncoding: false }), 'ä¸­æ–‡ fi');
});

const T = createRequire(import.meta.url)('./ftfy-tables.json') as { badness: string; badnessChars: string };
const BADNESS = new RegExp(T.badness, 'u');

test("isBad's pre-test reads the badness regex right: its alternatives, and each class on every code unit", () => {
  const alts = badnessAlternatives();
  assert.ok(alts.length > 30);
  const rebuilt = alts.map((a) => a.map((x) => (x.optional ? `(?:${x.tok})?` : x.tok)).join('')).join('|');
  assert.equal(`(?:${rebuilt})`, T.badness);
  const toks = new Set(alts.flat().map((x) => x.tok));
  toks.delete('^');
  for (const tok of toks) {
    const re = new RegExp(`^${tok}$`, 'u');
    const r = tokenRanges(tok);
    const inRanges = new Uint8Array(0x10000);
    for (let k = 0; k < r.length; k += 2) for (let c = r[k]; c <= r[k + 1]; c++) inRanges[c] = 1;
    const wrong: number[] = [];
    for (let c = 0; c < 0x10000; c++)
      if ((c < 0xd800 || c > 0xdfff) && inRanges[c] !== (re.test(String.fromCharCode(c)) ? 1 : 0)) wrong.push(c);
    assert.deepEqual(wrong.slice(0, 5), [], tok.slice(0, 80));
  }
  // the table of BADNESS_CHARS (where a match must have one) is their class, on every code unit but the surrogates
  const one = new RegExp('^[' + T.badnessChars + ']$', 'u');
  const wrong: number[] = [];
  for (let c = 0; c < 0x10000; c++)
    if ((c < 0xd800 || c > 0xdfff) && isBadnessChar(c) !== one.test(String.fromCharCode(c))) wrong.push(c);
  assert.deepEqual(wrong.slice(0, 5), []);
});

test('isBad equals the badness regex on random strings of its characters, ASCII, CJK, astral and lone surrogates', () => {
  const chars = [
    ...new Set(T.badness.match(/\\u\{[0-9a-f]+\}/g)!.map((e) => String.fromCodePoint(parseInt(e.slice(3, -1), 16)))),
  ];
  const alphabet = [...chars, ...'aZ .,?!\n\t0中文，😀\ud800\udc00'.split(''), ' ', '\u00a0', '\n', 'Â', 'Ã'];
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let bad = 0;
  const wrong: string[] = [];
  for (let k = 0; k < 200_000; k++) {
    let s = '';
    const n = 1 + rnd(12);
    for (let j = 0; j < n; j++) s += alphabet[rnd(alphabet.length)];
    const want = BADNESS.test(s);
    if (want) bad++;
    if (isBad(s) !== want) wrong.push(s);
    if (isBad(s, true) !== (want || /\n[\u00c2\u00c3] /.test(s))) wrong.push('segments: ' + s);
  }
  // line starts with "Ã " or "Â " (isBad's segmentStarts), in a small alphabet where they are frequent
  const small = ['\n', 'Â', 'Ã', ' ', 'a', '©', '中'];
  let starts = 0;
  for (let k = 0; k < 20_000; k++) {
    let s = '';
    for (let j = 1 + rnd(8); j > 0; j--) s += small[rnd(small.length)];
    const want = BADNESS.test(s) || /\n[\u00c2\u00c3] /.test(s);
    if (/\n[\u00c2\u00c3] /.test(s)) starts++;
    if (isBad(s, true) !== want) wrong.push('segments: ' + s);
  }
  assert.deepEqual(wrong.slice(0, 5), []);
  assert.ok(bad > 10_000, `only ${bad} bad strings`);
  assert.ok(starts > 200, `only ${starts} line starts`);
  for (const [i] of fixtures.cases) assert.equal(isBad(i), BADNESS.test(i), i);
});

test("the fixers' pre-test: lone surrogates only, each fixer's characters only when it is on", () => {
  assert.equal(fixText('a😀b'), 'a😀b');
  assert.equal(fixText('a\ud800b'), 'a\ufffdb');
  assert.equal(fixText('😀\udc00'), '😀\ufffd');
  assert.equal(fixText('\udc00😀\ud83d'), '\ufffd😀\ufffd');
  assert.equal(fixText('中文\u201c引号\u201d', { uncurlQuotes: false }), '中文\u201c引号\u201d');
  assert.equal(fixText('中文\u201c引号\u201d'), '中文"引号"');
  assert.equal(fixText('a\rb\u2028c', { fixLineBreaks: false }), 'a\rb\u2028c');
  assert.equal(fixText('a\rb\u2028c'), 'a\nb\nc');
  assert.equal(fixText('\ufb01\u0007', { fixLatinLigatures: false }), '\ufb01');
  assert.equal(fixText('\ufb01\u0007', { removeControlChars: false, normalization: null }), 'fi\u0007');
});

test('ftfyFixer (the quiet-unit scan first) gives fixText’s result on the fixtures, crafted texts and sample documents', async () => {
  const { readSample } = await import('./harness.ts');
  const { nfkcKeepCjkPunct, NFKC_KEEP_CJK_PUNCT } = await import('./mappers.ts');
  const texts = fixtures.cases.map(([i]) => i);
  texts.push(
    'a &amp; b',
    'a & b; c &x',
    'a &amp; b <i>',
    '&#x2019;',
    'nbsp\u00a0here',
    'Ã  bad\nÂ  line',
    '\x1b[1mbold\x1b[0m',
    'lone \ud800 x',
    'pair 😀 ok',
    '全角，标点！ＡＢＣ　１２３',
    'ﬁ ligature',
    'ŉ: a ligature that gives a quote',
    '\x1b[31m\x93q\x94 \r\n',
    'e\u0301 combining',
    '한국어 ᄀ jamo',
    'plain ascii text',
    // badness characters only, and texts the fixers make bad (their next round repairs the encoding)
    'a │ table ┼ “quoted” • item',
    'cafÃ\u0007© au lait',
    'cafÃ\u00a0© au lait “q”',
    'Ã\u0007 bad at a line start\nâ\u0007€\u0007œ x',
    // a unit the normalisation changes (U+00A0, "…", "²") after or before a fixer's units, badness characters, an
    // entity or surrogates: the scan from there on gives the fixers' bits of the whole text
    '\x1b[1mbold\x1b[0m then\u00a0nbsp',
    'ﬁ ligature, then … and ²',
    'nbsp\u00a0then ﬁ and \x1b[0m',
    '“q” │ then\u00a0nbsp',
    'nbsp\u00a0then “q” │',
    'nbsp\u00a0then Ã© bad',
    'nbsp\u00a0then &amp; entity',
    'x\u00a0y \udc00 lone low',
    'x\u00a0y lone high \ud800',
    'x\u00a0😀\udc00 pair then lone low',
    '\u00a0\ud83d\ud83d\ude00 high, pair',
    '\u00a0😀 pair only',
    '',
  );
  for (const s of await readSample(undefined, 150)) for (const d of s.docs) texts.push(d.text);
  const configs: Partial<FtfyConfig>[] = [
    {},
    { normalization: 'NFKC', uncurlQuotes: false },
    { normalization: 'NFD', fixLineBreaks: false },
    { normalization: null, fixEncoding: false, unescapeHtml: false },
    { normalization: NFKC_KEEP_CJK_PUNCT, fixCharacterWidth: false, uncurlQuotes: false },
    // a function normalisation without its inert units: fixText's path for every text
    { normalization: (t: string) => nfkcKeepCjkPunct(t), fixCharacterWidth: false, uncurlQuotes: false },
  ];
  for (const c of configs) {
    const fix = ftfyFixer(c);
    for (const t of texts) assert.equal(fix(t), fixText(t, c), JSON.stringify(t.slice(0, 80)));
  }
});
