import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { decompress } from 'fzstd';
import { getCorpus, localFiles } from '../../pipeline/corpora/index.ts';
import type { Document } from '../../pipeline/document.ts';
import {
  decodeEntities,
  groupFortunes,
  htmlToText,
  removeDivs,
  roffInline,
  roffToText,
  splitFortunes,
  splitHtmlSections,
} from './convert.ts';

// ------------------------------------------------------------------ the committed sample

async function loadSample(): Promise<Map<string, Document[]>> {
  const c = await getCorpus('sample');
  assert.ok(c);
  const byFile = new Map<string, Document[]>();
  for (const f of localFiles(c)!) {
    const lines = Buffer.from(decompress(readFileSync(f)))
      .toString('utf8')
      .split('\n')
      .filter(Boolean);
    byFile.set(
      basename(f),
      lines.map((l, i) => {
        const r = c.adapt(JSON.parse(l), { file: f, line: i + 1 });
        assert.ok(!('drop' in r), `${f}:${i + 1} dropped by the sample adapter`);
        return r as Document;
      }),
    );
  }
  return byFile;
}

test('bundled sample: size limit, counts per file, valid documents with license metadata', async () => {
  const c = await getCorpus('sample');
  const files = localFiles(c!)!;
  const total = files.reduce((a, f) => a + statSync(f).size, 0);
  assert.ok(total <= 15e6, `sample is ${total} bytes, limit 15 MB`);
  assert.ok(total >= 2e6, `sample is suspiciously small: ${total} bytes`);
  const byFile = await loadSample();
  // COUNTS.md is written by the converter: the committed files must match it.
  const counts = new Map<string, number>();
  for (const m of readFileSync(new URL('./COUNTS.md', import.meta.url), 'utf8').matchAll(
    /^\| (\S+\.jsonl\.zst) \| [^|]+ \| (\d+) \|/gm,
  ))
    counts.set(m[1]!, Number(m[2]));
  assert.equal(counts.size, byFile.size);
  const ids = new Set<string>();
  let n = 0;
  for (const [file, docs] of byFile) {
    assert.equal(docs.length, counts.get(file), `${file}: document count differs from COUNTS.md`);
    for (const d of docs) {
      assert.ok(!ids.has(d.id), `duplicate id ${d.id}`);
      ids.add(d.id);
      assert.ok(d.text.length > 0 && !d.text.includes('\r'));
      assert.ok(d.lang === 'zh' || d.lang === 'en');
      for (const k of ['package', 'version', 'path', 'license'])
        assert.equal(typeof d.meta[k], 'string', `${d.id}: meta.${k}`);
      n++;
    }
  }
  assert.equal(n, counts.size && [...counts.values()].reduce((a, b) => a + b, 0));
  const sources = new Set([...byFile.values()].flat().map((d) => d.source));
  assert.deepEqual([...sources].sort(), [
    'debian-reference-en',
    'debian-reference-zh-cn',
    'debian-reference-zh-tw',
    'fortunes-en',
    'fortunes-zh',
    'manpages-en',
    'manpages-zh',
  ]);
});

test('bundled sample has what later stages need: traditional Chinese, near-duplicates, code, markup, full-width punctuation', async () => {
  const byFile = await loadSample();
  const all = [...byFile.values()].flat();
  const get = (id: string) => all.find((d) => d.id === id);
  // Same section in simplified and traditional Chinese.
  const cn = get('debian-reference-zh-cn/ch01.zh-cn.html#_unix_file_basics');
  const tw = get('debian-reference-zh-tw/ch01.zh-tw.html#_unix_file_basics');
  assert.ok(cn && tw, 'zh-cn / zh-tw versions of one section');
  assert.match(tw.text, /[們這個檔為]/, 'traditional characters in zh-tw');
  assert.match(cn.text, /[们这个档为]/, 'simplified characters in zh-cn');
  // Same man page in zh_CN and zh_TW.
  assert.ok(get('manpages-zh/zh_CN/ls.1') && get('manpages-zh/zh_TW/ls.1'));
  // Code and markup remnants.
  assert.ok(
    all.some((d) => d.text.includes('<pre class="screen">')),
    'pre blocks',
  );
  assert.ok(
    all.some((d) => /<code>[^<]+<\/code>/.test(d.text)),
    'inline code tags',
  );
  assert.ok(
    all.some((d) => /<a href="https?:\/\/[^"]+">/.test(d.text)),
    'links',
  );
  assert.ok(
    all.some((d) => d.source === 'fortunes-zh' && d.text.includes('\u001b[')),
    'ANSI escapes in fortunes-zh',
  );
  // Not NFKC-folded: full-width punctuation survives.
  assert.ok(all.some((d) => d.lang === 'zh' && /[，。：（）]/.test(d.text)));
  // English is present in volume.
  assert.ok(all.filter((d) => d.lang === 'en').length > 1000);
});

// ------------------------------------------------------------------ converter units

test('HTML sections: headings split, TOC removed, remnants kept', () => {
  const html = `<html><body><div class="chapter"><h1 class="title"><a id="c1"/>第 1 章 教程</h1>
<div class="toc"><p><strong>目录</strong></p><dl><dt><div class="x">1.1 入门</div></dt></dl></div>
<p>本章介绍 Debian 系统的
基础知识，适合第一次使用的读者。</p>
<div class="section"><h2 class="title"><a id="_s1"/>1.1. 入门</h2><p>运行 <code class="literal">ls -l</code> 查看&lt;文件&gt;，参见 <a class="ulink" href="https://example.org/x">手册</a> 和 <a class="xref" href="#c1">第 1 章</a>。</p>
<div class="itemizedlist"><ul><li class="listitem"><p>第一项</p></li></ul></div>
<pre class="screen">$ echo "a &amp; b"
a &amp; b</pre>
<table><tr><th>目录</th><th>用途</th></tr><tr><td><code class="literal">/etc</code></td><td>配置</td></tr></table>
</div></div></body></html>`;
  const secs = splitHtmlSections(html);
  assert.deepEqual(
    secs.map((s) => s.anchor),
    ['c1', '_s1'],
  );
  assert.equal(secs[0]!.text, '第 1 章 教程\n\n本章介绍 Debian 系统的基础知识，适合第一次使用的读者。');
  const s = secs[1]!.text;
  assert.ok(
    s.startsWith(
      '1.1. 入门\n\n运行 <code>ls -l</code> 查看<文件>，参见 <a href="https://example.org/x">手册</a> 和 第 1 章。',
    ),
    s,
  );
  assert.ok(s.includes('\n- 第一项\n'), s);
  assert.ok(s.includes('<pre class="screen">\n$ echo "a & b"\na & b\n</pre>'), s);
  assert.ok(s.includes('| 目录 | 用途 |') && s.includes('| <code>/etc</code> | 配置 |'), s);
  assert.ok(!s.includes('目录</strong>'));
  assert.equal(
    removeDivs('<div class="toc"><div>x</div></div>y<div class="keep">z</div>', /^toc$/),
    'y<div class="keep">z</div>',
  );
  assert.equal(decodeEntities('&#x4e2d;&#25991;&amp;&nbsp;&bogus;'), '中文&\u00a0&bogus;');
  assert.equal(htmlToText('<p>a\n  b</p><p>中\n文</p>'), 'a b\n\n中文');
});

test('HTML tables: a row is one line even when its cells hold paragraphs (LibreOffice help)', () => {
  const html = `<p>常量如下。</p>
<table border="1">
 <tr>
  <th class="tableheadcell">
     <p class="tableheadintable">常量</p>
  </th>
  <th class="tableheadcell">
     <p class="tableheadintable">值</p>
  </th>
 </tr>
 <tr>
  <td class="tablecontentcell">
     <p class="tablecontent">SCRIPTISEMBEDDED</p>
  </td>
  <td class="tablecontentcell">
     <p class="tablecontent">在文档中</p><p class="tablecontent">仅 Basic</p><br/>
  </td>
 </tr>
</table>
<p>后文。</p>`;
  assert.equal(htmlToText(html), '常量如下。\n\n| 常量 | 值 |\n| SCRIPTISEMBEDDED | 在文档中 仅 Basic |\n\n后文。');
  // a one-cell row is a layout box (DocBook's notes in debian-reference): its paragraphs stay lines
  assert.equal(htmlToText('<table><tr><td><p>注意：</p><p>第二段。</p></td></tr></table>'), '|\n注意：\n\n第二段。\n|');
});

test('roff: man page rendered to text, SPDX license read, no-fill blocks kept', () => {
  const src = `.\\" SPDX-License-Identifier: GPL-2.0-or-later
.TH LS 1 2022 "GNU coreutils" "用户命令"
.SH 名称
ls \\- 列出目录内容
.SH 概述
.B ls
[\\fI\\,选项\\/\\fR]... [\\fI\\,文件\\/\\fR]...
.SH 描述
列出给定文件（默认为当前目录）的信息。
如果既没有指定
.BR \\-cftuvSUX
也没有指定 \\fB\\-\\-sort\\fP，则按字母排序。
.TP
\\fB\\-a\\fR, \\fB\\-\\-all\\fR
不隐藏任何以 . 开始的项目
.PP
Example:
.nf
.RS
$ ls \\-la /tmp
total 0
.RE
.fi
See \\(lqinfo ls\\(rq \\(em more.
.TS
l l.
a\tb
.TE
`;
  const page = roffToText(src);
  assert.equal(page.name, 'LS');
  assert.equal(page.section, '1');
  assert.equal(page.spdx, 'GPL-2.0-or-later');
  assert.equal(
    page.text,
    [
      'LS(1)',
      '',
      '名称',
      'ls - 列出目录内容',
      '',
      '概述',
      'ls [选项]... [文件]...',
      '',
      '描述',
      '列出给定文件（默认为当前目录）的信息。如果既没有指定 -cftuvSUX 也没有指定 --sort，则按字母排序。',
      '',
      '-a, --all',
      '不隐藏任何以 . 开始的项目',
      '',
      'Example:',
      '$ ls -la /tmp',
      'total 0',
      'See “info ls” — more.',
      '',
      'a | b',
    ].join('\n'),
  );
  assert.equal(roffInline('\\fBbold\\fP \\(bu \\[u4E2D] \\e \\*(lqq\\*(rq'), 'bold • 中 \\ “q”');
});

test('fortunes: split on % lines and grouped', () => {
  const entries = splitFortunes('one\n%\ntwo\nlines\n%\n\n%\nthree\n');
  assert.deepEqual(entries, ['one', 'two\nlines', 'three']);
  assert.deepEqual(groupFortunes(['a', 'b', 'c'], 2), [['a', 'b'], ['c']]);
  assert.deepEqual(groupFortunes(['x'.repeat(10), 'y'.repeat(10), 'z'], 8, 15), [
    ['x'.repeat(10)],
    ['y'.repeat(10), 'z'],
  ]);
});
