// The Steel recipe's operators reproduce data-juicer's documented behaviour: inputs and expected outputs below are
// data-juicer's own unit-test examples (tests/ops/filter, tests/ops/mapper), run through our operators with the same
// parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as M from './mappers.ts';
import * as S from './stats.ts';
import { isDjSpecial } from './text.ts';
import { specs } from './ops.ts';
import type { FilterSpec } from './framework.ts';
import { firstViolation } from './framework.ts';
import type { Document } from '../pipeline/document.ts';

const PUNCT = '，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►';

/** Run one of our filter specs like data-juicer's filter op: keep the texts whose statistics are inside the range. */
function keep(name: string, params: Record<string, unknown>, texts: string[], lang?: string): string[] {
  const spec = specs.get(name) as FilterSpec;
  const p = spec.params.parse(params);
  return texts.filter((text) => {
    const doc: Document = { id: 'x', text, source: 't', meta: {}, ...(lang ? { lang } : {}) };
    const st = spec.compute(doc, p) as Record<string, number>;
    return !firstViolation(spec.rules(p), st, lang);
  });
}

test('alphanumeric_filter (char mode, [0.2, 0.9])', () => {
  const texts = [
    'a=1\nb\nc=1+2+3+5\nd=6',
    "Today is Sund Sund Sund Sunda and it's a happy day!\nYou know",
    'a v s e e f g a qkc',
    PUNCT,
    'Do you need a cup of coffee?',
    'emoji表情测试下😊，😸31231\n',
  ];
  assert.deepEqual(keep('alnum_ratio', { min: 0.2, max: 0.9 }, texts), [
    texts[0],
    texts[1],
    texts[2],
    texts[4],
    texts[5],
  ]);
});

test('character_repetition_filter (rep_len 5, max 0.4)', () => {
  const texts = [
    "Today is Sund Sund Sund Sund Sund Sunda and it's a happy day!",
    'a v s e c s f e f g a a a a a a a a a a',
    PUNCT,
    '中文也是一个字算一个长度',
  ];
  assert.deepEqual(keep('char_repetition', { rep_len: 5, min: 0, max: 0.4 }, texts), [
    PUNCT,
    '中文也是一个字算一个长度',
  ]);
});

test('special_characters_filter (data-juicer list, max 0.25)', () => {
  const texts = [
    "Today is Sunday and it's a happy day!",
    "Today is Sund Sund Sund Sund Sunda and it's a happy day!",
    'a v s e c s f e f g a qkc',
    PUNCT,
    'Do you need a cup of coffee?',
    'emoji表情测试下😊，😸31231',
  ];
  assert.deepEqual(keep('special_char_ratio', { mode: 'datajuicer', min: 0, max: 0.25 }, texts), [
    texts[0],
    texts[1],
    texts[4],
  ]);
});

test('word_repetition_filter (en, rep_len 3, max 0.2)', () => {
  const texts = [
    "Today is Sunday Sunday Sunday Sunday Sunday and it's a happy day!",
    "Today is Sunday Sunday Sunday and it's a happy day!",
    "Today is Sund Sund Sund Sund Sund Sunda and it's a happy day!",
    "plusieurs èrdash@hqbchd.ckd d'accéder à ces wwwasdasd fonc",
    'This proposed a novel proposed pretraining proposed pretraining.',
  ];
  assert.deepEqual(keep('word_repetition', { words: 'datajuicer', rep_len: 3, min: 0, max: 0.2 }, texts), [
    texts[1],
    texts[3],
    texts[4],
  ]);
});

test('word_repetition_filter (zh): space-split words see one "word" per sentence; jieba words catch the repetition', () => {
  const texts = [
    '去除字母、数字、下划线占比过低或过高的代码',
    '欢迎来到阿里巴巴巴巴巴巴巴巴',
    '使用片段分词器对每个页面进行分词，使用语言模型计算每个段落的困惑度得分',
    '根据算子使用使用使用使用安装方案确定',
    '基于前一步结果，在同一个聚类中找出那些过长文档为假正例，暂不进行滤除',
  ];
  // Steel ran it without tokenization: nothing is ever repeated, everything is kept
  assert.deepEqual(keep('word_repetition', { words: 'datajuicer', rep_len: 3, max: 0.2 }, texts, 'zh'), texts);
  // with jieba words the repeated 使用 is caught (data-juicer's own zh case used sentencepiece pieces); jieba reads
  // 阿里巴巴|巴巴|巴巴|巴巴, so the 巴巴 run only repeats at word 2-grams
  assert.deepEqual(keep('word_repetition', { words: 'jieba', rep_len: 3, max: 0.2 }, texts, 'zh'), [
    texts[0],
    texts[1],
    texts[2],
    texts[4],
  ]);
  assert.deepEqual(keep('word_repetition', { words: 'jieba', rep_len: 2, max: 0.2 }, texts, 'zh'), [
    texts[0],
    texts[2],
    texts[4],
  ]);
});

test('words_num_filter: data-juicer splits on spaces (a Chinese sentence is one word), jieba counts real words', () => {
  const zh = '使用片段分词器对每个页面进行分词，使用语言模型计算每个段落的困惑度得分';
  assert.equal(S.djWords(zh, false).length, 1);
  assert.equal(S.djWords("Today is Sunday and it's a happy day!", false).length, 8);
  // numbers and punctuation-only tokens are stripped away by data-juicer's special characters
  assert.deepEqual(S.djWords('2023 -- hello, world!', false), ['hello', 'world']);
  assert.deepEqual(keep('word_count', { words: 'datajuicer', min: 10 }, [zh], 'zh'), []);
  assert.deepEqual(keep('word_count', { words: 'auto', min: 10 }, [zh], 'zh'), [zh]);
});

test('average_line_length / maximum_line_length / text_length use Python semantics (code points, splitlines)', () => {
  assert.equal(S.avgLineLength('a\r\nbb\x0bccc'), 9 / 3);
  assert.equal(S.maxLineLength('短\n😊😊😊\nab'), 3);
  assert.equal(S.textLength('😊中a'), 3);
});

test('punctuation_normalization_mapper', () => {
  assert.equal(M.punctuationNormalization(PUNCT), ',.,""""""""""\'::?!();- - . ~\'...-<>[]%-');
});

test('remove_repeat_sentences_mapper', () => {
  const text =
    '今天天气真不错，阳光明媚，适合出去散步。小明说：“今天天气真不错，我们去海边吧。” 小红回答说：“好主意！” 但是，小李觉得：“今天天气真不错，我们去爬山吧。” 今天天气真不错，阳光明媚，适合出去散步。昨天下了一整天的雨，今天终于放晴了。昨天下了一整天的雨，今天终于放晴了。';
  const want =
    '今天天气真不错，阳光明媚，适合出去散步。小明说：“今天天气真不错，我们去海边吧。” 小红回答说：“好主意！” 但是，小李觉得：“今天天气真不错，我们去爬山吧。”昨天下了一整天的雨，今天终于放晴了。';
  assert.equal(M.removeRepeatSentences(text, 2, false, true), want);
  const en = 'Life is short. Life is short. Be kind! be kind!';
  assert.equal(M.removeRepeatSentences(en, 2, false, true), 'Life is short. Be kind! be kind!');
  assert.equal(M.removeRepeatSentences(en, 2, true, true), 'Life is short. Be kind!');
});

test('clean_links_mapper', () => {
  const cases: [string, string][] = [
    ['ftp://user:password@ftp.example.com:21/', ''],
    ['FTP://www.example.com/path/to/file.txt', ''],
    ['Ftp://example.com/my-page.HTMl', ''],
    ['HttpS://example.Com/my-page.HTML?param1=value1&param2=value2', ''],
    ['This is a test,https://www.example.com/file.html?param1=value1&param2=value2', 'This is a test,'],
    ['这是个测试,https://example.com', '这是个测试,'],
    ['This is a sample@example for test', 'This is a sample@example for test'],
    ['abcd:/e f is a sample for test', 'abcd:/e f is a sample for test'],
    ['abcd://ef is a sample for test', ' is a sample for test'],
    ['This is a test,http测试://www.example.com/file.html?param1=value1', 'This is a test,'],
    ['This is a test,http://www.测试.com/path/file.html?param1=value1&param2=value2', 'This is a test,'],
    ['这是一个测试', '这是一个测试'],
    [PUNCT, PUNCT],
  ];
  for (const [i, o] of cases) assert.equal(M.cleanLinks(i), o, i);
  assert.equal(M.cleanLinks('abcd://ef is a sample for test', '<LINKS>'), '<LINKS> is a sample for test');
});

test('clean_links_mapper: the anchored search equals the global regex replace on random texts', () => {
  const regexOnly = (t: string, r: string) => M.regexReplace(t, M.LINK_PATTERN, r);
  const pieces = [
    'http://',
    'https://a.b/c',
    'www.',
    'WwW1.',
    'example.com/',
    'a.bc/',
    'mailto:x',
    'key:value',
    ':',
    '/',
    '//',
    '(',
    ')',
    '(x)',
    '<',
    '>',
    ' ',
    '\t',
    '\u3000',
    '\ufeff',
    '测试',
    'é',
    '_',
    '-',
    '.',
    'w',
    'ww',
    'Www',
    'x9',
    'ab',
    'abcde',
    'x.abcd',
    '.Z',
    ':%',
    '%',
    '“',
    '”',
    ';',
    ',',
    '😊',
    '\ud800',
    '\n',
  ];
  // an anchor at either end of the text (the anchor test reads no unit outside it)
  for (const text of [
    ':',
    'a:',
    ':a',
    'ab:',
    'x:/',
    '/',
    'ab/',
    '/ab',
    '.ab/',
    'x.ab/',
    'x.abcd/',
    '.abcde/',
    'www',
    'a www',
  ])
    for (const r of ['', '<LINK>']) assert.equal(M.cleanLinks(text, r), regexOnly(text, r), JSON.stringify(text));
  let s = 7;
  const rnd = (n: number) => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n;
  for (let t = 0; t < 6000; t++) {
    let text = '';
    const len = rnd(25);
    for (let i = 0; i < len; i++) text += pieces[rnd(pieces.length)];
    for (const r of ['', '<LINK>']) assert.equal(M.cleanLinks(text, r), regexOnly(text, r), JSON.stringify(text));
  }
});

test('clean_email_mapper: the search around each "@" equals the global regex replace on random texts', () => {
  const pieces = [
    'a',
    'B',
    '9',
    '.',
    '-',
    '+',
    '_',
    '@',
    '@@',
    'x.com',
    '.org',
    'mail',
    'é',
    '测试',
    ' ',
    '\n',
    '😊',
    ',',
  ];
  let s = 11;
  const rnd = (n: number) => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n;
  let changed = 0;
  for (let t = 0; t < 6000; t++) {
    let text = '';
    const len = rnd(30);
    for (let i = 0; i < len; i++) text += pieces[rnd(pieces.length)];
    for (const r of ['', '<EMAIL>']) {
      const want = text.replace(new RegExp(M.EMAIL_PATTERN, 'gu'), () => r);
      assert.equal(M.cleanEmail(text, r), want, JSON.stringify(text));
      // clean_email's step (filters/ops.ts) calls regexReplace with the recipe's pattern
      assert.equal(M.regexReplace(text, M.EMAIL_PATTERN, r), want, JSON.stringify(text));
      if (want !== text) changed++;
    }
  }
  assert.ok(changed > 300, String(changed));
});

test('clean_email_mapper and clean_ip_mapper', () => {
  assert.equal(M.cleanEmail('happy day euqdh@cjqi.com'), 'happy day ');
  assert.equal(M.cleanEmail('请联系 abc-d_e.f@example.org 获取'), '请联系  获取');
  assert.equal(M.cleanEmail('a@b.c', '<EMAIL>'), '<EMAIL>');
  assert.equal(M.cleanIp('test of ip 234.128.124.123'), 'test of ip ');
  assert.equal(M.cleanIp('ipv6 FE80:0000:0000:0000:0202:B3FF:FE1E:8329 end'), 'ipv6  end');
  assert.equal(M.cleanIp('version 1.2 stays'), 'version 1.2 stays');
});

test('clean_copyright_mapper', () => {
  const cases: [string, string][] = [
    [
      '这是一段 /* 多行注释\n注释内容copyright\n*/ 的文本。另外还有一些 // 单行注释。',
      '这是一段  的文本。另外还有一些 // 单行注释。',
    ],
    [
      '如果多行/*注释中没有\n关键词,那么\n这部分注释也不会\n被清除*/\n会保留下来',
      '如果多行/*注释中没有\n关键词,那么\n这部分注释也不会\n被清除*/\n会保留下来',
    ],
    ['//if start with\n//that will be cleaned \n evenly', ' evenly'],
    ['http://www.nasosnsncc.com', 'http://www.nasosnsncc.com'],
    ['#if start with\nthat will be cleaned \n#evenly', 'that will be cleaned \n#evenly'],
    ['--if start with\n--that will be cleaned \n#evenly', ''],
  ];
  for (const [i, o] of cases) assert.equal(M.cleanCopyright(i), o);
});

test('expand_macro_mapper', () => {
  const src = [
    '\\documentclass{article}',
    '\\newcommand{\\theHalgorithm}{\\arabic{algorithm}}',
    '\\newcommand{\\cmark}{\\ding{51}\\xspace}%',
    '\\def \\alambic {\\includegraphics[height=1.52ex]{img/alembic-crop.pdf}\\xspace}',
    '\\newcommand\\imagenet{ImageNet}',
    'We use \\alambic here and \\imagenet there.',
  ].join('\n');
  const want = [
    '\\documentclass{article}',
    '\\newcommand{\\arabic{algorithm}}{\\arabic{algorithm}}',
    '\\newcommand{\\cmark}{\\ding{51}\\xspace}%',
    '\\def \\includegraphics[height=1.52ex]{img/alembic-crop.pdf}\\xspace {\\includegraphics[height=1.52ex]{img/alembic-crop.pdf}\\xspace}',
    '\\newcommand\\imagenet{ImageNet}',
    'We use \\includegraphics[height=1.52ex]{img/alembic-crop.pdf}\\xspace here and \\imagenet there.',
  ].join('\n');
  assert.equal(M.expandMacro(src), want);
});

test('whitespace_normalization_mapper', () => {
  const spaces14 = '\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f';
  const text = 'x \t' + spaces14 + '\u3000\u200B\u200C\u200D\u2060\ufffc\u0084y';
  assert.equal(M.whitespaceNormalization(text), 'x' + ' '.repeat(23) + 'y');
  assert.equal(M.whitespaceNormalization('  第一行\n第二行\t结束 \n'), '第一行\n第二行 结束');
  // random texts against data-juicer's regex: half of them one-byte strings (Latin-1 pieces: the tab, U+00A0 and
  // U+0084 looked for by indexOf), half with wider units
  const various = new RegExp(
    '[\\t\\u00a0\\u2000-\\u200a\\u202f\\u205f\\u3000\\u200b\\u200c\\u200d\\u2060\\ufffc\\u0084]',
    'g',
  );
  const pieces = [
    'a',
    'bc ',
    ' ',
    '\n',
    '\t',
    '\u00a0',
    '\u0084',
    'é',
    '\u0085',
    '中',
    '\u3000',
    '\u200b',
    '\u2009',
    '\ufffc',
  ];
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let k = 0; k < 4000; k++) {
    let t = '';
    for (let n = 1 + rnd(10); n > 0; n--) t += pieces[rnd(k % 2 ? 9 : pieces.length)];
    assert.equal(M.whitespaceNormalization(t), M.pyStrip(t).replace(various, ' '), JSON.stringify(t));
  }
});

test('clean_html_mapper: an HTML5 parse, the text nodes under <body> (what selectolax gives data-juicer)', async () => {
  await M.loadParse5();
  assert.equal(M.cleanHtml('<ul><li>甲</li><li>乙</li></ul><p>a &amp; b</p>'), '\n*甲\n*乙a & b');
  // script/style text is text: kept in the body, lost with the rest of <head> when the document starts with it
  assert.equal(
    M.cleanHtml('hello <script>var x=1;</script> <style>a{}</style> world<!-- c -->'),
    'hello var x=1; a{} world',
  );
  assert.equal(M.cleanHtml('<script>var x=1;</script><b>粗体</b><!-- c -->'), '粗体');
  // "<" + letter opens a tag, also in prose and shell examples; <?xml ...?> is a bogus comment
  assert.equal(M.cleanHtml('a $ </etc/motd pager'), 'a $ ');
  assert.equal(M.cleanHtml('cat <<EOF\nx\nEOF'), 'cat <');
  assert.equal(M.cleanHtml('a < b and c<d'), 'a < b and c');
  assert.equal(M.cleanHtml('<?xml version="1.0"?><a>b</a>'), 'b');
  // a stray <title> in the body swallows the rest as its text; a leading one goes to <head>
  assert.equal(M.cleanHtml('x <title>y\nz'), 'x y\nz');
  assert.equal(M.cleanHtml('<title>T</title>body'), 'body');
  // leading HTML whitespace is dropped even without markup; CR LF -> LF; table text is foster-parented
  assert.equal(M.cleanHtml('  lead\n'), 'lead\n');
  assert.equal(M.cleanHtml('a\r\nb\rc'), 'a\nb\nc');
  assert.equal(M.cleanHtml('x<table>cell<tr><td>td</td></tr>after</table>'), 'xcellaftertd');
  assert.equal(M.cleanHtml('Tom &amp Jerry &notit; &notin;'), 'Tom & Jerry ¬it; ∉');
  assert.equal(M.cleanHtml('<template>tt</template>q'), 'q'); // in <head>
  assert.equal(M.cleanHtml('a<template>tt</template>q'), 'attq');
  assert.equal(M.cleanHtml('x<template><p>in</p>t</template>y'), 'xinty');
  assert.equal(M.cleanHtml('<frameset>f</frameset>'), '');
});

test('remove_specific_chars_mapper also deletes "|" (data-juicer joins the characters with "|" inside a class)', () => {
  const chars = '◆●■►▼▲▴∆▻▷❖♡□';
  assert.equal(M.removeSpecificChars('◆●■►▼▲▴∆▻▷❖♡□中文', chars), '中文');
  assert.equal(M.removeSpecificChars('passwd | grep root', chars), 'passwd  grep root');
  assert.equal(M.removeSpecificChars('a|b◆', '◆'), 'a|b'); // one character: no "|" in the class
});

test("special_characters list is data-juicer's: invisible characters and emoji 2.2.0 single code points", () => {
  for (const cp of [0xad, 0x81, 0x9d, 0x2002, 0x200b, 0x202f, 0xfeff, 0x2139, 0x1f600, 0x4e00, 0x4e0a, 0x58eb])
    assert.ok(isDjSpecial(cp), cp.toString(16));
  // regional-indicator letters and emoji newer than emoji 2.2.0 are not in it
  for (const cp of [0x1f1e8, 0x1f1f3, 0x1fae9, 0x9e, 0x200c, 0x4e2d]) assert.ok(!isDjSpecial(cp), cp.toString(16));
  assert.equal(S.specialCharRatio('a\u00adb\u200bc', 'datajuicer'), 2 / 5);
});

test('chinese_convert_mapper: OpenCC 1.1.6 t2s (what data-juicer pinned) or opencc-js 1.4.2', async () => {
  await M.loadOpenCC();
  assert.equal(M.chineseConvert('這是一個繁體中文的測試', 't2s'), '这是一个繁体中文的测试');
  assert.equal(M.chineseConvert('这是一个简体中文的测试', 's2t'), '這是一個簡體中文的測試');
  assert.equal(M.chineseConvert('幷', 't2s'), '并');
  assert.equal(M.openccT2s116('這是一個繁體中文的測試'), '这是一个繁体中文的测试');
  assert.equal(M.openccT2s116('幷'), '幷'); // not in OpenCC 1.1.6's TSCharacters
  // the longest TSPhrases entry wins over character-by-character conversion (乾 alone would become 干)
  assert.equal(M.openccT2s116('乾元 乾乾淨淨 一目瞭然 😀頭髮'), '乾元 干干净净 一目了然 😀头发');
  assert.equal(M.openccT2s116('abc\0這個'), 'abc'); // OpenCC reads a C string: a NUL ends the text
  const spec = specs.get('chinese_convert')!;
  assert.throws(() => spec.params.parse({ mode: 's2t', dictionary: 'opencc-1.1.6' }));
});

test('fix_unicode_mapper (Steel mode) is ftfy.fix_text; zh-web mode keeps CJK punctuation, quotes and width', () => {
  const steel = {
    normalization: 'NFC' as const,
    fixEncoding: true,
    fixCharacterWidth: true,
    uncurlQuotes: true,
    fixLineBreaks: true,
    removeControlChars: true,
  };
  assert.equal(M.fixUnicode('âœ” No problems', steel), '✔ No problems');
  assert.equal(M.fixUnicode('ä¸­æ–‡', steel), '中文');
  assert.equal(M.fixUnicode('你好，世界！“引号”', steel), '你好,世界!"引号"');
  assert.equal(M.fixUnicode('ﬁ ｶﾀｶﾅ ￥ &amp; \x1b[31m\x80\x93', steel), 'fi カタカナ ¥ & €"');
  assert.equal(M.fixUnicode('¥ì¥¹', steel), '¥ì¥¹');
  const zh = { ...steel, normalization: 'NFKC_keep_cjk_punct' as const, fixCharacterWidth: false, uncurlQuotes: false };
  assert.equal(M.fixUnicode('你好，世界！“引号”ＡＢＣ１２３', zh), '你好，世界！“引号”ABC123');
});

test("pyStrip strips Python's str.strip() whitespace, every code unit checked", () => {
  // CPython's Py_UNICODE_ISSPACE over the BMP
  const py = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029]);
  for (let c = 0x2000; c <= 0x200a; c++) py.add(c);
  for (const c of [0x202f, 0x205f, 0x3000]) py.add(c);
  for (let c = 0; c < 0x10000; c++) {
    const u = String.fromCharCode(c);
    assert.equal(M.pyStrip(`${u}${u}x${u}y${u}`), py.has(c) ? `x${u}y` : `${u}${u}x${u}y${u}`, `U+${c.toString(16)}`);
  }
  assert.equal(M.pyStrip(' \u3000 '), '');
  assert.equal(M.pyStrip('\u200bx\u200b'), '\u200bx\u200b');
});
