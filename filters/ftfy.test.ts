// filters/ftfy.ts against ftfy itself: filters/ftfy-fixtures.json holds ftfy.fix_text's output (6.3.1, defaults, as
// data-juicer's fix_unicode_mapper calls it) on crafted strings and real sample lines, some turned into mojibake; it
// is produced by filters/dj-parity/gen_ftfy_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fixText, fixEncoding, isBad, unescapeHtml } from './ftfy.ts';

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
