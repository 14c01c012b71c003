import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { readRecords, recordToDocument, expandInput, detectFormat, readLines, type ReadItem } from './index.ts';
import { zstdCompressChunk } from '../writers/index.ts';
import { decodeUtf8 } from './jsonl.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

const td = (f: string) => fileURLToPath(new URL(`./testdata/${f}`, import.meta.url));
const tmp = () => tmpDir('steel-read-');

async function collect(file: string, opts = {}): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const it of readRecords(file, opts)) out.push(it);
  return out;
}
const records = (items: ReadItem[]) =>
  items.filter((i) => i.kind === 'record') as Extract<ReadItem, { kind: 'record' }>[];
const rejects = (items: ReadItem[]) =>
  items.filter((i) => i.kind === 'reject') as Extract<ReadItem, { kind: 'reject' }>[];

test('JSONL written by other tools: plain, .gz (python gzip) and .zst (zstd CLI, file and stdin) read identically', async () => {
  const plain = await collect(td('cli.jsonl'));
  assert.equal(plain.length, 200);
  assert.deepEqual(records(plain)[4].record, { id: 'z5', text: '第5条记录 record 5 xxxxx' });
  assert.equal(records(plain)[199].loc.line, 200);
  // cli-stdin.jsonl.zst has no content size in its frame header (streaming decoder path)
  for (const f of ['cli.jsonl.gz', 'cli.jsonl.zst', 'cli-stdin.jsonl.zst']) {
    const items = await collect(td(f));
    assert.deepEqual(
      items.map((i) => (i.kind === 'record' ? [i.loc.line, i.record] : i)),
      plain.map((i) => (i.kind === 'record' ? [i.loc.line, i.record] : i)),
      f,
    );
  }
});

test('JSONL .zst of many independent frames, lines spanning chunk and frame boundaries, a 3 MB line', async () => {
  const dir = tmp();
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++) lines.push(JSON.stringify({ id: `d${i}`, text: `文档 ${i} `.repeat(1 + (i % 13)) }));
  lines.push(JSON.stringify({ id: 'big', text: '大'.repeat(1_000_000) }));
  lines.push(JSON.stringify({ id: 'last', text: 'end' }));
  const raw = Buffer.from(lines.join('\n') + '\n');
  // frames cut at arbitrary byte offsets (not at line ends)
  const frames: Uint8Array[] = [];
  for (let off = 0; off < raw.length; off += 77_777)
    frames.push(await zstdCompressChunk(raw.subarray(off, off + 77_777)));
  writeFileSync(join(dir, 'a.jsonl.zst'), Buffer.concat(frames));
  writeFileSync(
    join(dir, 'a.jsonl.gz'),
    Buffer.concat([gzipSync(raw.subarray(0, 1000)), gzipSync(raw.subarray(1000))]),
  );
  // plain: read into one reused buffer, the 3 MB line over several reads
  writeFileSync(join(dir, 'a.jsonl'), raw);
  for (const f of ['a.jsonl.zst', 'a.jsonl.gz', 'a.jsonl']) {
    const recs = records(await collect(join(dir, f)));
    assert.equal(recs.length, 5002, f);
    assert.equal(recs[1234].record.id, 'd1234');
    assert.equal((recs[5000].record.text as string).length, 1_000_000);
    assert.equal(recs[5001].loc.line, 5002);
  }
});

test('JSONL .zst of one frame larger than the buffer the reader reads into (4.5 MB compressed)', async () => {
  const dir = tmp();
  let r = 7;
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/');
  const bytes = new Uint8Array(6_000_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = alphabet[(r = (Math.imul(r, 1664525) + 1013904223) >>> 0) >>> 26];
  const noise = Buffer.from(bytes).toString('latin1');
  const lines = [JSON.stringify({ id: 'a', text: 'first' }), JSON.stringify({ id: 'big', text: noise }), '{"id":"z"}'];
  const frame = await zstdCompressChunk(Buffer.from(lines.join('\n') + '\n'), 1);
  assert.ok(frame.length > 4_000_000, `one frame of ${frame.length} bytes`);
  writeFileSync(join(dir, 'one.jsonl.zst'), frame);
  const recs = records(await collect(join(dir, 'one.jsonl.zst')));
  assert.deepEqual(
    recs.map((x) => x.record.id),
    ['a', 'big', 'z'],
  );
  assert.equal(recs[1].record.text, noise);
});

test('JSONL malformed records become rejects with file and line; neighbours survive', async () => {
  const dir = tmp();
  const f = join(dir, 'bad.jsonl');
  const good = (id: string) => Buffer.from(JSON.stringify({ id, text: 'ok ' + id }) + '\n');
  writeFileSync(
    f,
    Buffer.concat([
      Buffer.from('\ufeff'),
      good('a'), // 1 (with BOM)
      Buffer.from('{"id": "b", "text": "unterminated\n'), // 2 bad JSON
      Buffer.from('\n'), // 3 blank: skipped
      Buffer.from('{"id":"c","text":"'),
      Buffer.from([0xe4, 0xb8]),
      Buffer.from('"}\n'), // 4 invalid UTF-8 (truncated sequence)
      Buffer.from('[1,2]\n'), // 5 not an object
      Buffer.from('{"id":"d","text":"crlf"}\r\n'), // 6 CRLF ok
      Buffer.from('{"id":"e","body":"no text"}\n'), // 7 missing text (document-level)
      Buffer.from('{"id":"f","text":42}\n'), // 8 non-string text (document-level)
      Buffer.from('{"id":"g","text":"last, no newline"}'), // 9
    ]),
  );
  const items = await collect(f);
  const rej = rejects(items);
  assert.deepEqual(
    rej.map((r) => [r.loc.line, r.error.split(':')[0]]),
    [
      [2, 'bad JSON'],
      [4, 'invalid UTF-8 byte sequence'],
      [5, 'not a JSON object (got array)'],
    ],
  );
  assert.ok(rej.every((r) => r.loc.file === f));
  assert.match(rej[1].raw!, /"id":"c"/);
  const recs = records(items);
  assert.deepEqual(
    recs.map((r) => r.loc.line),
    [1, 6, 7, 8, 9],
  );
  assert.equal(recs[0].record.id, 'a');
  // document conversion rejects missing and non-string text
  const conv = recs.map((r) => {
    try {
      return recordToDocument(r.record, r.loc).id;
    } catch (e) {
      return `ERR ${(e as Error).message}`;
    }
  });
  assert.deepEqual(conv, [
    'a',
    'd',
    'ERR missing text field "text"',
    'ERR text field "text" is not a string (got number)',
    'g',
  ]);
});

test('declared encodings: GBK JSONL and text, GB18030 text', async () => {
  const recs = records(await collect(td('gbk.jsonl'), { encoding: 'gbk' }));
  assert.deepEqual(
    recs.map((r) => r.record.text),
    ['中文编码测试：北京欢迎你', '第二行，简体字'],
  );
  // read as UTF-8, the same bytes are invalid and become rejects, not garbage
  const asUtf8 = await collect(td('gbk.jsonl'));
  assert.equal(rejects(asUtf8).length, 2);
  const t = records(await collect(td('gbk.txt'), { encoding: 'gbk' }));
  assert.equal(t[0].record.text, '这是一个用GBK编码的文本文件。\n第二段。\n');
  const g = records(await collect(td('gb18030.txt'), { encoding: 'gb18030' }));
  assert.equal(g[0].record.text, 'GB18030 四字节字符：𠀀 和 €。\n');
  await assert.rejects(collect(td('gbk.txt'), { encoding: 'no-such-enc' }), /unknown encoding "no-such-enc"/);
});

test('Parquet written by pyarrow (zstd and snappy, 2 row groups): rows, row numbers, text field, types', async () => {
  for (const f of ['pyarrow-zstd.parquet', 'pyarrow-snappy.parquet']) {
    const items = await collect(td(f));
    const recs = records(items);
    assert.equal(recs.length, 5, f);
    assert.deepEqual(
      recs.map((r) => r.loc.line),
      [1, 2, 3, 4, 5],
    );
    assert.equal(recs[0].record.content, '北京是中华人民共和国的首都。');
    const docs = recs.map((r) => {
      try {
        return recordToDocument(r.record, r.loc, { textField: 'content' });
      } catch (e) {
        return (e as Error).message;
      }
    });
    assert.equal(docs[2], 'missing text field "content"');
    const d4 = docs[3] as { id: string; text: string; meta: Record<string, unknown> };
    assert.equal(d4.id, 'doc-4');
    assert.equal(d4.text, '繁體中文：臺灣');
    assert.equal(d4.meta.n, 2 ** 40); // int64 -> safe number
    assert.equal(d4.meta.url, 'https://tw.example/4');
    const only = records(await collect(td(f), { columns: ['id'] }));
    assert.deepEqual(Object.keys(only[0].record), ['id']);
  }
});

test('Arrow IPC written by pyarrow: file and stream formats, two batches', async () => {
  for (const f of ['pyarrow-file.arrow', 'pyarrow-stream.arrows']) {
    const recs = records(await collect(td(f)));
    assert.equal(recs.length, 5, f);
    assert.deepEqual(
      recs.map((r) => r.record.id),
      ['doc-1', 'doc-2', 'doc-3', 'doc-4', 'doc-5'],
    );
    assert.equal(recs[4].record.content, 'line one\nline two');
    assert.equal(recs[4].loc.line, 5);
    assert.deepEqual(recs[0].record.tags, ['a']);
    const d = recordToDocument(recs[3].record, recs[3].loc, { textField: 'content' });
    assert.equal(d.meta.n, 2 ** 40);
    // meta: false (tokenization) leaves meta empty, the rest as before
    const lean = recordToDocument(recs[3].record, recs[3].loc, { textField: 'content', meta: false });
    assert.deepEqual(lean, { ...d, meta: {} });
  }
});

test('plain text files and folders: one document per file; invalid UTF-8 file is one reject', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'b.txt'), 'second file\nline 2\n');
  writeFileSync(join(dir, 'a.md'), '# first');
  writeFileSync(join(dir, 'sub', 'c.txt'), Buffer.from([0x61, 0xff, 0x62]));
  writeFileSync(join(dir, '.hidden'), 'skip me');
  const files = expandInput(dir);
  assert.deepEqual(files, [join(dir, 'a.md'), join(dir, 'b.txt'), join(dir, 'sub', 'c.txt')]);
  const all: ReadItem[] = [];
  for (const f of files) all.push(...(await collect(f)));
  assert.deepEqual(
    records(all).map((r) => r.record.text),
    ['# first', 'second file\nline 2\n'],
  );
  assert.equal(rejects(all).length, 1);
  assert.equal(rejects(all)[0].loc.file, join(dir, 'sub', 'c.txt'));
  assert.match(rejects(all)[0].error, /invalid UTF-8/);
  const doc = recordToDocument(records(all)[0].record, records(all)[0].loc);
  assert.equal(doc.source, 'a');
  assert.equal(doc.meta.path, join(dir, 'a.md'));
});

test('glob inputs: *, ?, [..], {a,b}, **; sorted; no match is an error', async () => {
  const dir = tmp();
  for (const p of ['x/1.jsonl', 'x/2.jsonl.zst', 'x/y/3.jsonl', 'x/y/z/4.parquet', 'x/5.txt', 'w/6.jsonl']) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), '');
  }
  const rel = (ps: string[]) => ps.map((p) => p.slice(dir.length + 1));
  assert.deepEqual(rel(expandInput(join(dir, 'x/*.jsonl'))), ['x/1.jsonl']);
  assert.deepEqual(rel(expandInput(join(dir, 'x/**/*.jsonl'))), ['x/1.jsonl', 'x/y/3.jsonl']);
  assert.deepEqual(rel(expandInput(join(dir, '**/*.{jsonl,parquet}'))), [
    'w/6.jsonl',
    'x/1.jsonl',
    'x/y/3.jsonl',
    'x/y/z/4.parquet',
  ]);
  assert.deepEqual(rel(expandInput(join(dir, 'x/[12].*'))), ['x/1.jsonl', 'x/2.jsonl.zst']);
  assert.deepEqual(rel(expandInput(join(dir, 'x/?.txt'))), ['x/5.txt']);
  assert.throws(() => expandInput(join(dir, 'x/*.csv')), /matched no files/);
  assert.throws(() => expandInput(join(dir, 'nope.jsonl')), /input not found/);
  assert.equal(detectFormat('a/b.jsonl.zst'), 'jsonl');
  assert.equal(detectFormat('a/b.parquet'), 'parquet');
  assert.equal(detectFormat('a/b.arrow'), 'arrow');
  assert.equal(detectFormat('a/b.txt.gz'), 'text');
});

test('readLines: two .zst files read in turn, line by line (lent chunks decoded piece by piece), bad bytes and an unterminated last line', async () => {
  const dir = tmp();
  const make = (tag: string) => {
    const ls: string[] = [];
    // ~1.5 MB per frame: many 60 KiB pieces per chunk, a line longer than a piece, mixed one- and three-byte text
    for (let i = 0; i < 4000; i++)
      ls.push(JSON.stringify({ id: `${tag}${i}`, text: `${tag} 行 ${i} `.repeat(1 + (i % 37)) }));
    ls[1500] = JSON.stringify({ id: `${tag}1500`, text: `${tag}长`.repeat(70_000) });
    return ls;
  };
  const a = make('a');
  const b = make('b');
  const bad = Buffer.from('{"id":"x","text":"é"}'); // é is C3 A9: its A9 becomes FF below
  const rawA = Buffer.concat([
    Buffer.from(a.slice(0, 3000).join('\n') + '\n'),
    bad,
    Buffer.from('\n' + a.slice(3000).join('\n')),
  ]);
  rawA[rawA.indexOf(bad) + bad.length - 3] = 0xff; // one byte of line 3001 not UTF-8
  const rawB = Buffer.from(b.join('\n') + '\n');
  const frames = async (raw: Buffer) => {
    const out: Uint8Array[] = [];
    for (let off = 0; off < raw.length; off += 1_500_000)
      out.push(await zstdCompressChunk(raw.subarray(off, off + 1_500_000)));
    return Buffer.concat(out);
  };
  writeFileSync(join(dir, 'a.jsonl.zst'), await frames(rawA));
  writeFileSync(join(dir, 'b.jsonl.zst'), await frames(rawB));
  const ia = readLines(join(dir, 'a.jsonl.zst'))[Symbol.asyncIterator]();
  const ib = readLines(join(dir, 'b.jsonl.zst'))[Symbol.asyncIterator]();
  const gotA: (string | undefined)[] = [];
  const gotB: (string | undefined)[] = [];
  let errA: { line: number; error?: string } | undefined;
  for (;;) {
    const x = await ia.next();
    const y = await ib.next();
    if (!x.done) {
      if (x.value.error) errA = x.value;
      else gotA.push(x.value.text);
    }
    if (!y.done) gotB.push(y.value.text);
    if (x.done && y.done) break;
  }
  assert.deepEqual(gotA, a);
  assert.deepEqual(gotB, b);
  assert.equal(errA?.line, 3001);
  assert.match(errA?.error ?? '', /invalid UTF-8/);
});

test('decodeUtf8 gives what a fatal TextDecoder gives, or undefined where it throws', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const want = (b: Uint8Array) => {
    try {
      return fatal.decode(b);
    } catch {
      return undefined;
    }
  };
  // a fixed LCG: the same cases each run
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const edge = [
    [0xef, 0xbb, 0xbf], // byte order mark (kept, as ignoreBOM keeps it)
    [0xc2, 0x80], // U+0080
    [0xdf, 0xbf], // U+07FF
    [0xe0, 0xa0, 0x80], // U+0800
    [0xed, 0x9f, 0xbf], // U+D7FF
    [0xee, 0x80, 0x80], // U+E000
    [0xef, 0xbf, 0xbe], // U+FFFE
    [0xef, 0xbf, 0xbf], // U+FFFF
    [0xef, 0xbf, 0xbd], // U+FFFD itself
    [0xf0, 0x90, 0x80, 0x80], // U+10000
    [0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
    [0xed, 0xa0, 0x80], // a high surrogate: invalid
    [0xed, 0xbf, 0xbf], // a low surrogate: invalid
    [0xc0, 0x80], // overlong: invalid
    [0xc1, 0xbf], // overlong: invalid
    [0xe0, 0x9f, 0xbf], // overlong: invalid
    [0xf0, 0x8f, 0xbf, 0xbf], // overlong: invalid
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF: invalid
    [0xf5, 0x80, 0x80, 0x80], // invalid lead
    [0xff],
    [0x80], // a lone continuation byte
    [0xe4, 0xb8], // truncated
    [0xf0, 0x9f, 0x98], // truncated
  ];
  const text = ['plain ascii', '\n', '"', '中文字符', 'é', 'ÿ', '😊', '\u0000', '\u007f', '\ufeff', ''];
  let valid = 0;
  let invalid = 0;
  for (let k = 0; k < 4000; k++) {
    const parts: Buffer[] = [];
    const n = 1 + rnd(12);
    for (let i = 0; i < n; i++) {
      const r = rnd(10);
      if (r < 5) parts.push(Buffer.from(text[rnd(text.length)], 'utf8'));
      else if (r < 8 || k % 2) parts.push(Buffer.from(edge[rnd(11)]));
      else if (r < 9) parts.push(Buffer.from(edge[rnd(edge.length)]));
      else parts.push(Buffer.from(Array.from({ length: 1 + rnd(6) }, () => rnd(256))));
    }
    const b = new Uint8Array(Buffer.concat(parts)); // a Uint8Array, as the reader's pieces are
    const got = decodeUtf8(b, fatal);
    assert.equal(got, want(b), `case ${k}: bytes ${Buffer.from(b).toString('hex')}`);
    if (got === undefined) invalid++;
    else if (!Buffer.from(b).every((c) => c < 0x80)) valid++;
  }
  // both paths taken many times: valid non-ASCII pieces and rejected ones
  assert.ok(valid > 1000 && invalid > 500, `${valid} valid, ${invalid} invalid`);
  for (const e of edge) {
    const b = Buffer.from([0x61, ...e, 0x62]);
    assert.equal(decodeUtf8(b, fatal), want(b), Buffer.from(e).toString('hex'));
  }
});

test('readLines reports a truncated .zst clearly', async () => {
  const dir = tmp();
  const z = await zstdCompressChunk(Buffer.from('{"text":"a"}\n'.repeat(1000)));
  writeFileSync(join(dir, 't.jsonl.zst'), z.subarray(0, z.length - 5));
  await assert.rejects(async () => {
    for await (const _ of readLines(join(dir, 't.jsonl.zst'))) void _;
  }, /t\.jsonl\.zst: truncated or corrupt zstd stream/);
});

test('a .json file holding a JSON array is streamed element by element; bad elements are rejects', async () => {
  const dir = tmp();
  const elems = Array.from({ length: 3000 }, (_, i) =>
    JSON.stringify({ id: `a${i}`, text: `元素 ${i} [with] {braces}, "quotes" and \\\\ ` + 'x'.repeat(i % 50) }),
  );
  writeFileSync(join(dir, 'arr.json'), '\ufeff [\n' + elems.join(',\n') + '\n]\n');
  writeFileSync(join(dir, 'arr.json.zst'), await zstdCompressChunk(Buffer.from('[' + elems.join(',') + ']')));
  for (const f of ['arr.json', 'arr.json.zst']) {
    const items = await collect(join(dir, f));
    assert.equal(rejects(items).length, 0, f);
    const recs = records(items);
    assert.equal(recs.length, 3000);
    assert.deepEqual(recs[1234].record, JSON.parse(elems[1234]));
    assert.equal(recs[2999].loc.line, 3000);
  }
  writeFileSync(
    join(dir, 'bad.json'),
    Buffer.concat([
      Buffer.from('[{"text":"ok"}, {"text": bad}, 42, {"text":"'),
      Buffer.from([0xff]),
      Buffer.from('"}, {"text":"end"}, {"text": "trunc'),
    ]),
  );
  const items = await collect(join(dir, 'bad.json'));
  assert.deepEqual(
    items.map((i) => (i.kind === 'record' ? `${i.loc.line}:ok` : `${i.loc.line}:${i.error.split(':')[0]}`)),
    [
      '1:ok',
      '2:bad JSON',
      '3:not a JSON object (got number)',
      '4:invalid UTF-8 byte sequence',
      '5:ok',
      '6:truncated JSON array (end of file before the closing "]")',
    ],
  );
  // a .json file of one object per line is still JSONL
  writeFileSync(join(dir, 'lines.json'), '{"text":"a"}\n{"text":"b"}\n');
  assert.deepEqual(
    records(await collect(join(dir, 'lines.json'))).map((r) => r.record.text),
    ['a', 'b'],
  );
});

test('recordToDocument: JSON meta kept as parsed (no copy) only where a copy through jsonSafe would be the same', () => {
  const loc = { file: 'x.jsonl', line: 1 };
  // a JSON-parsed record: its meta object is the document's
  const rec = JSON.parse('{"text":"t","meta":{"a":1,"b":[1,{"c":null}],"s":"x"},"extra":{"k":[true]}}');
  const d = recordToDocument(rec, loc);
  assert.equal(d.meta, rec.meta);
  assert.deepEqual(d.meta, { a: 1, b: [1, { c: null }], s: 'x', extra: { k: [true] } });
  // containers deeper than 8 levels become null, as jsonSafe makes them
  let deep: unknown = { leaf: 1 };
  for (let i = 0; i < 10; i++) deep = { n: deep };
  const dd = recordToDocument({ text: 't', meta: deep as Record<string, unknown> }, loc);
  let x = dd.meta as Record<string, unknown>;
  for (let i = 0; i < 8; i++) x = x.n as Record<string, unknown>;
  assert.deepEqual(x, { n: null });
  // values JSON has not (bigint, Date, non-finite numbers, undefined) are converted; a "__proto__" key is not kept
  const when = new Date(Date.UTC(2026, 0, 2));
  const m = recordToDocument(
    { text: 't', meta: { big: 5n, when, inf: Infinity, u: undefined, arr: [undefined] } },
    loc,
  );
  assert.deepEqual(m.meta, { big: 5, when: when.toISOString(), inf: 'Infinity', arr: [null] });
  const p = recordToDocument(JSON.parse('{"text":"t","meta":{"__proto__":{"z":1},"a":2}}'), loc);
  assert.deepEqual(Object.keys(p.meta), ['a']);
  assert.equal(Object.hasOwn(p.meta, '__proto__'), false);
});

test('JSONL: a reader left after its first record closes its file (the lines are taken by next(), closed with it)', async (t) => {
  if (process.platform !== 'linux') return t.skip('counts /proc/self/fd');
  const { readdirSync } = await import('node:fs');
  const dir = tmpDir('steel-read-');
  const plain = join(dir, 'a.jsonl');
  writeFileSync(plain, Array.from({ length: 50 }, (_, i) => JSON.stringify({ text: `t${i}` })).join('\n') + '\n');
  const zst = join(dir, 'b.jsonl.zst');
  writeFileSync(
    zst,
    await zstdCompressChunk(Buffer.from(Array.from({ length: 50 }, (_, i) => `{"text":"z${i}"}\n`).join(''))),
  );
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let k = 0; k < 40; k++) {
    for await (const it of readRecords(k % 2 ? plain : zst)) {
      assert.equal(it.kind, 'record');
      break;
    }
  }
  // each reader's file handle is closed when its consumer stops (an unclosed one stays open until a GC)
  assert.ok(fds() - before < 5, `${fds() - before} descriptors left open by 40 readers stopped early`);
  // and one read to the end still gives every line
  let n = 0;
  for await (const it of readRecords(zst)) if (it.kind === 'record') n++;
  assert.equal(n, 50);
});
