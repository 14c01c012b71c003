import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  loadLid,
  codeScore,
  traditionalShare,
  identify,
  sampleWindows,
  windowSpans,
  unitClass,
  bmpUnitClassTable,
  scriptCounts,
  LID_MODEL_PATH,
} from './lid.ts';
import { loadFastText } from './fasttext.ts';
import { codePoints } from './text.ts';
import { readSample } from './harness.ts';
import { specs } from './ops.ts';
import { filterOp, type FilterSpec } from './framework.ts';
import type { Document } from '../pipeline/document.ts';

/**
 * The test's reference: the script units of a text in one pass on the string: Han characters, kana, Hangul syllables/jamo, and Latin-script words (runs of
 * Latin letters). One CJK character is counted as one unit like one Latin word, so `cjk / (cjk + latinWords)` is the
 * CJK share of the content ("a page with a Chinese body"), not of the characters (a Latin word is ~5 characters).
 */
function scriptUnits(
  text: string,
  cls: (c: number) => number = unitClass,
): { han: number; kana: number; hangul: number; latinWords: number } {
  const n = [0, 0, 0, 0, 0];
  let latinWords = 0,
    inWord = false;
  const L = text.length;
  for (let i = 0; i < L; i++) {
    let c = text.charCodeAt(i);
    // a high surrogate takes the next unit, whatever it is
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < L) {
      c = ((c - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00) + 0x10000;
      i++;
    }
    const k = cls(c);
    if (k === 1) {
      if (!inWord) latinWords++;
      inWord = true;
      continue;
    }
    inWord = false;
    n[k]++;
  }
  return { han: n[4], kana: n[2], hangul: n[3], latinWords };
}

test('fastText lid.176 identifies Chinese and English', async () => {
  const m = await loadLid();
  assert.equal(m.predict('这是一个中文句子，我们在测试语言识别。')[0].label, 'zh');
  assert.equal(m.predict('This is an English sentence about language identification.')[0].label, 'en');
  const top3 = m.predict('Bonjour tout le monde, ceci est un texte en français.', 3);
  assert.equal(top3.length, 3);
  assert.equal(top3[0].label, 'fr');
  assert.ok(top3[0].score >= top3[1].score);
});

test('code detector and Simplified/Traditional share', () => {
  const code = 'def main():\n    x = 1\n    return x\n\nif __name__ == "__main__":\n    main()\n';
  assert.ok(codeScore(code).lineRatio >= 0.6);
  assert.ok(codeScore('今天天气很好。\n我们去公园散步。\n').lineRatio < 0.2);
  assert.ok(traditionalShare('這是一個繁體中文的測試，網絡與軟體。') > 0.9);
  assert.ok(traditionalShare('这是一个简体中文的测试，网络与软件。') < 0.1);
  assert.equal(traditionalShare('中文'), 0.5); // no script-distinctive characters
});

test('Simplified/Traditional counts equal their definition (Han from U+3400, the table of zh-script-chars.json)', async () => {
  const data = JSON.parse(readFileSync(new URL('./zh-script-chars.json', import.meta.url), 'utf8')) as {
    traditional: string;
    simplified: string;
  };
  const trad = new Set([...data.traditional]);
  const simp = new Set([...data.simplified]);
  const plain = (t: string, max: number) => {
    let han = 0,
      tr = 0,
      si = 0;
    for (const c of [...t].slice(0, max))
      if (c.codePointAt(0)! >= 0x3400 && /\p{Script=Han}/u.test(c)) {
        han++;
        if (trad.has(c)) tr++;
        else if (simp.has(c)) si++;
      }
    return { han, trad: tr, simp: si };
  };
  const astral = [...data.traditional, ...data.simplified].filter((c) => c.codePointAt(0)! > 0xffff).slice(0, 3);
  const texts = [
    '這是一個繁體中文的測試，網絡與軟體。',
    '这是一个简体中文的测试，网络与软件。〇〆⺀ abc 𠀀' + astral.join(''),
    '\ud840 孤 \udc00 ' + astral.join(' ') + ' 們们',
  ];
  for (const { docs } of await readSample(undefined, 60)) for (const d of docs) texts.push(d.text);
  assert.ok(astral.length > 0 && texts.length > 100);
  for (const t of texts)
    for (const max of [Infinity, 5000, 7]) {
      codePoints('x' + t); // another text decoded last
      assert.deepEqual(scriptCounts(t, max), plain(t, max), JSON.stringify(t.slice(0, 40)));
    }
});

async function runOp(name: string, params: Record<string, unknown>, docs: Document[]) {
  const spec = specs.get(name) as FilterSpec;
  const op = filterOp(spec);
  const stage = await op.create(op.params.parse(params));
  const dropped: [string, string, number | string | undefined][] = [];
  const kept: Document[] = [];
  const ctx = {
    rank: 0,
    world: 1,
    outDir: '',
    drop: (d: Document, r: string, v?: number | string) => dropped.push([d.id, r, v]),
    log: () => {},
  };
  for await (const d of stage(
    (async function* () {
      yield* docs;
    })(),
    ctx,
  ))
    kept.push(d);
  return { kept, dropped };
}

test('lang_id tags lang + meta.lang_score + stats, drops below the per-language threshold', async () => {
  const docs: Document[] = [
    { id: 'zh', text: '北京是中华人民共和国的首都，也是全国的政治和文化中心。', source: 's', meta: {} },
    {
      id: 'en',
      text: 'London is the capital and largest city of England and the United Kingdom.',
      source: 's',
      meta: {},
    },
    { id: 'de', text: 'Berlin ist die Hauptstadt der Bundesrepublik Deutschland.', source: 's', meta: {} },
    { id: 'code', text: 'int main() {\n  int x = 0;\n  return x;\n}\n', source: 's', meta: {} },
  ];
  const r = await runOp(
    'lang_id',
    { thresholds: { zh: 0.5, en: 0.5, code: 0.5 }, default_threshold: 1.01 },
    structuredClone(docs),
  );
  assert.deepEqual(
    r.kept.map((d) => [d.id, d.lang]),
    [
      ['zh', 'zh'],
      ['en', 'en'],
      ['code', 'code'],
    ],
  );
  assert.equal(r.dropped.length, 1);
  assert.equal(r.dropped[0][0], 'de');
  assert.equal(r.dropped[0][1], 'lang_id');
  for (const d of r.kept) {
    assert.equal(typeof d.meta.lang_score, 'number');
    assert.equal((d.meta.stats as Record<string, number>).lang_id, d.meta.lang_score);
  }
  // tag only: nothing dropped
  const t = await runOp('lang_id', { action: 'tag', default_threshold: 1.01 }, structuredClone(docs));
  assert.equal(t.kept.length, 4);
  assert.equal(t.kept[2].lang, 'de');
});

test('zh_script tags Hans/Hant and can keep Simplified only', async () => {
  const docs: Document[] = [
    { id: 'hans', text: '这是一个简体中文的测试，网络与软件。', source: 's', lang: 'zh', meta: {} },
    { id: 'hant', text: '這是一個繁體中文的測試，網絡與軟體。', source: 's', lang: 'zh', meta: {} },
    { id: 'en', text: 'English is not looked at.', source: 's', lang: 'en', meta: {} },
  ];
  const r = await runOp('zh_script', {}, structuredClone(docs));
  assert.deepEqual(
    r.kept.map((d) => d.meta.script),
    ['Hans', 'Hant', undefined],
  );
  const s = await runOp('zh_script', { max: 0.5 }, structuredClone(docs));
  assert.deepEqual(
    s.kept.map((d) => d.id),
    ['hans', 'en'],
  );
  assert.equal(s.dropped[0][1], 'zh_script');
});

test('lang_id reads the whole document: an English header over a Chinese body is zh, a shell-heavy Chinese page is not code', async () => {
  const body =
    '本章介绍如何在系统中配置网络接口。首先需要确认网卡驱动已经加载，然后编辑配置文件，最后重新启动网络服务使设置生效。' +
    '如果使用无线网络，还需要安装相应的固件包并设置加密方式。';
  const header =
    'Network configuration\n\nSee also: ifupdown(8), interfaces(5), NetworkManager(8), systemd-networkd(8).\n\n';
  const mixed =
    header +
    'This chapter is partly translated from the English original, version 2.100. Permission is granted to copy, ' +
    'distribute and/or modify this document under the terms of the GNU General Public License, version 2 or any later ' +
    'version. This document is distributed in the hope that it will be useful, but without any warranty; without even ' +
    'the implied warranty of merchantability or fitness for a particular purpose.\n\n' +
    [body, body, body, body, body, body].join('\n\n');
  assert.equal(mixed.slice(0, 500).replace(/[^\p{Script=Han}]/gu, ''), ''); // its head is English
  const shell = [
    '下面的例子演示了如何列出目录内容并查看磁盘使用情况，这些命令在所有发行版中都可以使用。',
    '$ ls -l /etc/network',
    '$ df -h /',
    '$ sudo systemctl restart networking',
    '命令执行以后，终端会输出每个文件的权限、所有者和大小，以及每个文件系统的已用空间与可用空间。',
    '$ du -sh /var/log',
    '如果输出中出现错误信息，请检查配置文件的语法并查看系统日志以确定问题的原因。',
  ].join('\n');
  const r = await runOp('lang_id', { action: 'tag' }, [
    { id: 'mixed', text: mixed, source: 's', meta: {} },
    { id: 'shell', text: shell, source: 's', meta: {} },
    { id: 'code', text: 'int main() {\n  int x = 0;\n  x += 1;\n  return x;\n}\n', source: 's', meta: {} },
  ]);
  assert.deepEqual(
    r.kept.map((d) => [d.id, d.lang]),
    [
      ['mixed', 'zh'],
      ['shell', 'zh'],
      ['code', 'code'],
    ],
  );
});

test('identify: kana decide Japanese, Traditional Chinese without kana is zh, windows cover the whole text', async () => {
  const m = await loadLid();
  const opts = { windows: 3, width: 300, detectCode: true, codeLineRatio: 0.6 };
  assert.equal(identify(m, '選擇路徑\n\n設定檔案的路徑。', opts).lang, 'zh');
  assert.equal(
    identify(m, 'ディレクトリの内容をリスト表示する。デフォルトは現在のディレクトリです。', opts).lang,
    'ja',
  );
  const u = scriptUnits('Hello world, 你好 こんにちは 한국');
  assert.deepEqual(u, { han: 2, kana: 5, hangul: 2, latinWords: 2 });
  const text = 'a'.repeat(1000) + '\n' + 'b'.repeat(1000) + '\n' + 'c'.repeat(1000);
  const ws = sampleWindows(text, 3, 300);
  assert.equal(ws.length, 3);
  assert.ok(ws[0].startsWith('a') && ws[1].includes('b') && ws[2].endsWith('c'));
  assert.deepEqual(sampleWindows('short', 3, 300), ['short']);
});

test('identify reads the document in the kernel: its units and windowed predictions equal scriptUnits and predict of the slices', async () => {
  const m = await loadLid();
  const opts = { windows: 3, width: 300, detectCode: false, codeLineRatio: 0.6 };
  const asArray = (u: ReturnType<typeof scriptUnits>) => [u.han, u.kana, u.hangul, u.latinWords];
  const texts = [
    '',
    'abc déf × ÷ ÀÿĀɏ ɐ',
    'カタカナ・ー ひらがな 한국어 ᄀᇿ 中文 〇々 㐀',
    '𠀀𪜀 astral Han, 😀 emoji, 𝐀 math',
    'lone \ud800 high, \udc00 low, high then ASCII \ud800A, high then Han \ud800一, at the end \ud800',
    '\udbff\udbff\udfff',
  ];
  for (const { docs } of await readSample()) for (let i = 0; i < docs.length; i += 3) texts.push(docs[i].text);
  let windows = 0;
  for (const text of texts) {
    identify(m, text, opts); // gives the model its classes
    m.setText(text);
    assert.deepEqual([...m.units(0, text.length)], asArray(scriptUnits(text)), JSON.stringify(text.slice(0, 40)));
    const sp = windowSpans(text, 3, 300);
    const got = [];
    for (let q = 0; q < sp.length; q += 2) {
      const w = text.slice(sp[q], sp[q + 1]);
      assert.deepEqual([...m.units(sp[q], sp[q + 1])], asArray(scriptUnits(w)));
      got.push({ w, p: m.predictAt(sp[q], sp[q + 1], 3) });
    }
    for (const { w, p } of got) assert.deepEqual(p, m.predict(w, 3));
    windows += got.length;
  }
  assert.ok(windows > 5000, `compared ${windows} windows`);
  assert.deepEqual(scriptUnits('é x 中 \ud800一 カ・'), { han: 2, kana: 1, hangul: 0, latinWords: 2 });
});

test('units: eight code units at a time where the class table is uniform, one by one elsewhere, from any offset', () => {
  const pieces = [
    'ab',
    'Word ',
    '中文字',
    '，',
    '“',
    '—',
    'x',
    '\u3000',
    '１２',
    'é',
    'カ',
    '한',
    '\ud840\udc00',
    '\ud800',
    ' ',
    '\n',
  ];
  let seed = 7;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const texts: string[] = [];
  for (let t = 0; t < 300; t++) {
    let s = '';
    for (let q = rnd(40); q > 0; q--) s += pieces[rnd(pieces.length)];
    texts.push(s);
  }
  const asArray = (u: ReturnType<typeof scriptUnits>) => [u.han, u.kana, u.hangul, u.latinWords];
  const std = new Uint8Array(0x10000).map((_, c) => unitClass(c));
  // the table identify gives the kernel (made from text.ts's Han flags, not unitClass per code point)
  assert.deepEqual(bmpUnitClassTable(), std);
  // the standard classes, then a table where a Han character is a Latin letter and a CJK punctuation mark Hangul
  // (their ranges are not uniform there: those units go one by one)
  const odd = std.slice();
  odd[0x5b57] = 1; // 字
  odd[0x3000] = 3;
  for (const table of [std, odd]) {
    const m = loadFastText(LID_MODEL_PATH);
    m.useUnitClasses(table, unitClass);
    const cls = (c: number) => (c < 0x10000 ? table[c] : unitClass(c));
    for (const text of texts) {
      m.setText(text);
      for (let s = 0; s <= Math.min(9, text.length); s++) {
        const w = text.slice(s);
        assert.deepEqual([...m.units(s, text.length)], asArray(scriptUnits(w, cls)), JSON.stringify(w));
      }
    }
  }
});

test('code punctuation density: the ASCII table counts what a character class counts', async () => {
  const re = /[{}()[\];=<>$/\\|&_*]/g;
  const texts = ['', '{}()[];=<>$/\\|&_*', '｛｝（）【】；＝ code: x = a[i] * b; // y', '\u017b\u0100{'];
  for (const { docs } of await readSample()) for (let i = 0; i < docs.length; i += 7) texts.push(docs[i].text);
  for (const t of texts) {
    const want = t.length ? (t.match(re) ?? []).length / t.length : 0;
    assert.equal(codeScore(t).symbolDensity, want);
  }
});
