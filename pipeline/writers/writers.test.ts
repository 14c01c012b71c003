import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decompress } from 'fzstd';
import { JsonlWriter, ExclusionWriter, RejectsWriter, openDocWriter, zstdCompressChunk, docLine } from './index.ts';
import { jsonString, jsonTextBytes } from './jsonl.ts';
import { ParquetDocWriter } from './parquet.ts';
import { readRecords, recordToDocument } from '../readers/index.ts';
import type { Document } from '../document.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

const tmp = () => tmpDir('steel-write-');
const docs: Document[] = Array.from({ length: 3000 }, (_, i) => ({
  id: `d${i}`,
  text: `第 ${i} 篇文档。` + 'text '.repeat(i % 50),
  source: i % 2 ? 'zh' : 'en',
  ...(i % 3 ? { lang: 'zh' } : {}),
  meta: { i, tags: ['a', String(i)] },
}));

async function readDocs(file: string): Promise<Document[]> {
  const out: Document[] = [];
  for await (const it of readRecords(file)) {
    assert.equal(it.kind, 'record');
    if (it.kind === 'record') out.push(recordToDocument(it.record, it.loc));
  }
  return out;
}

function countZstdFrames(buf: Uint8Array): number {
  // walk frame headers: each independent frame decompresses alone
  let n = 0;
  for (let i = 0; i + 4 <= buf.length; i++)
    if (buf[i] === 0x28 && buf[i + 1] === 0xb5 && buf[i + 2] === 0x2f && buf[i + 3] === 0xfd) n++;
  return n;
}

test('JSONL .zst writer: independent ~chunk-size frames, readable by our reader and by zstd one-shot', async () => {
  const dir = tmp();
  const p = join(dir, 'out.jsonl.zst');
  const w = openDocWriter(p);
  for (const d of docs) await w.write(d);
  assert.equal(existsSync(p), false, 'final name must not exist before close');
  await w.close();
  assert.deepEqual(await readDocs(p), docs);
  const buf = readFileSync(p);
  const text = Buffer.from(decompress(buf)).toString('utf8');
  assert.equal(text.split('\n').length - 1, docs.length);
  assert.deepEqual(JSON.parse(text.split('\n')[1]), {
    id: 'd1',
    text: docs[1].text,
    source: 'zh',
    lang: 'zh',
    meta: { i: 1, tags: ['a', '1'] },
  });
  // small chunks -> many frames
  const p2 = join(dir, 'small.jsonl.zst');
  const w2 = new JsonlWriter(p2, { chunkBytes: 16 * 1024 });
  for (const d of docs) await w2.write(d);
  await w2.close();
  assert.ok(countZstdFrames(readFileSync(p2)) >= 10);
  assert.deepEqual(await readDocs(p2), docs);
  const zstdCli = spawnSync('zstd', ['-dc', p2]);
  if (zstdCli.status === 0) assert.equal(zstdCli.stdout.toString('utf8').split('\n').length - 1, docs.length);
});

test('JSONL .gz and plain writers', async () => {
  const dir = tmp();
  for (const name of ['out.jsonl.gz', 'out.jsonl']) {
    const p = join(dir, name);
    const w = new JsonlWriter(p, { chunkBytes: 8 * 1024 });
    for (const d of docs) await w.write(d);
    await w.close();
    const raw = name.endsWith('.gz') ? gunzipSync(readFileSync(p)) : readFileSync(p);
    assert.equal(raw.toString('utf8').trim().split('\n').length, docs.length);
    assert.deepEqual(
      await readDocs(p),
      docs.map((d) => ({ ...d })),
    );
  }
});

test('JSONL writers: the bytes are the UTF-8 of the JSON lines, across chunks of any size and any characters', async () => {
  const dir = tmp();
  // chunks of very different sizes (the writer reuses one buffer), astral and unpaired surrogates, CJK, controls
  const texts = Array.from({ length: 400 }, (_, i) => {
    const parts = ['中文', 'é', '😀', '\ud800', '\udc00x', '\n\t"\\', 'ascii', '\u2028'];
    return Array.from({ length: (i * 37) % 900 }, (_, k) => parts[(i + k) % parts.length]).join('');
  });
  const lines = texts.map((text, i) => JSON.stringify({ id: `t${i}`, text }) + '\n');
  const want = Buffer.from(lines.join(''), 'utf8');
  for (const name of ['u.jsonl', 'u.jsonl.zst', 'u.jsonl.gz']) {
    const p = join(dir, name);
    const w = new JsonlWriter(p, { chunkBytes: 3000 });
    for (let i = 0; i < texts.length; i++) await w.write({ id: `t${i}`, text: texts[i] });
    await w.close();
    const buf = readFileSync(p);
    const raw = name.endsWith('.zst') ? Buffer.from(decompress(buf)) : name.endsWith('.gz') ? gunzipSync(buf) : buf;
    assert.ok(raw.equals(want), name);
    assert.equal(w.rawBytes, want.length);
  }
});

test('JSONL writer: a line written in two parts (json, tail) is the joined line; frames cut where whole lines cut them', async () => {
  const dir = tmp();
  const lines = Array.from({ length: 300 }, (_, i) => [
    JSON.stringify({ id: `p${i}`, text: '中文 😀 \ud800 '.repeat(i % 40), meta: { i } }).slice(0, -1),
    i % 3 ? `,"n":${i}}` : '}',
  ]);
  // the frames as the writer cuts them: a frame ends once its lines' lengths (UTF-16 units + newline) reach chunkBytes
  const chunkBytes = 2000;
  const frames: string[] = [];
  let cur = '';
  for (const [a, b] of lines) {
    cur += a + b + '\n';
    if (cur.length >= chunkBytes) {
      frames.push(cur);
      cur = '';
    }
  }
  if (cur) frames.push(cur);
  const want = Buffer.concat(await Promise.all(frames.map((f) => zstdCompressChunk(Buffer.from(f, 'utf8'), 3))));
  for (const split of [true, false]) {
    const p = join(dir, `parts-${split}.jsonl.zst`);
    const w = new JsonlWriter(p, { chunkBytes });
    for (const [a, b] of lines) await (split ? w.writeLine(a!, b) : w.writeLine(a! + b!));
    await w.close();
    assert.ok(readFileSync(p).equals(want), `split=${split}`);
    assert.equal(w.rawBytes, Buffer.byteLength(frames.join(''), 'utf8'));
  }
});

test('jsonString: the UTF-8 of JSON.stringify of any string (escapes, surrogates, every BMP unit), the text counted', () => {
  const b = Buffer.alloc(6 * 70000 + 9);
  const check = (s: string) => {
    // written at an offset: the count is of what this call wrote
    const n = jsonString(s, b, 7);
    assert.equal(
      b.subarray(7, n).toString('latin1'),
      Buffer.from(JSON.stringify(s), 'utf8').toString('latin1'),
      JSON.stringify(s),
    );
    assert.equal(jsonTextBytes(n - 7), Buffer.byteLength(s, 'utf8'), `bytes of ${JSON.stringify(s)}`);
  };
  for (const s of [
    '',
    '"',
    '\\',
    '\b\f\n\r\t',
    '\u0000\u0001\u001f\u007f',
    '\u2028\u2029',
    '\ud800',
    '\udfff',
    'a\udc00b',
    '\ud83d\ude00',
    '\ud83d',
    'x\ud83d',
    '\ude00\ud83d',
    '\ud83d\ud83d\ude00',
    'é中😀',
    '\uffff\ufeff',
  ])
    check(s);
  // every code unit alone, and all of them in one string
  const all = Array.from({ length: 0x10000 }, (_, c) => String.fromCharCode(c));
  for (const s of all) check(s);
  check(all.join(''));
});

test("jsonString: random mixes of the kernel's 8-unit runs (ASCII, 3-byte) and the units it takes one at a time", () => {
  // units of each kind the kernel tells apart; runs of them long and short, so that an 8-unit window holds one kind,
  // two, or a pair cut by the window's end
  const kinds = [
    'abcxyz 019~\u007f',
    '"\\\b\f\n\r\t\u0000\u001f\u0020',
    '\u0080\u00e9\u07ff',
    '\u0800中文字\ud7ff\ue000\uffff\u2028\u3002',
    '\ud83d\ude00\ud800\udc00\udbff\udfff',
    '\ud800\udbff\udc00\udfff',
  ].map((k) => [...k]);
  let seed = 21;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const b = Buffer.alloc(6 * 4096 + 9);
  let lone = 0;
  let three = 0;
  for (let t = 0; t < 3000; t++) {
    let s = '';
    const runs = 1 + rand(8);
    for (let r = 0; r < runs; r++) {
      const kind = kinds[rand(kinds.length)]!;
      const len = rand(4) === 0 ? 1 + rand(3) : 1 + rand(20);
      for (let i = 0; i < len; i++) s += kind[rand(kind.length)]!;
    }
    const n = jsonString(s, b, 3);
    const want = Buffer.from(JSON.stringify(s), 'utf8');
    assert.ok(b.subarray(3, n).equals(want), `${JSON.stringify(s)}: ${b.subarray(3, n).toString('hex')}`);
    assert.equal(jsonTextBytes(n - 3), Buffer.byteLength(s, 'utf8'), `bytes of ${JSON.stringify(s)}`);
    if (/(?:[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/.test(s)) lone++;
    if (/[\u0800-\ud7ff\ue000-\uffff]{8}/.test(s)) three++;
  }
  // the mixes hold what they are for
  assert.ok(lone > 300 && three > 300, `${lone} with a lone surrogate, ${three} with 8 3-byte units in a row`);
});

test('document and exclusion lines: the bytes JSON.stringify of the line object gives, odd fields included', async () => {
  const dir = tmp();
  const odd: Document[] = [
    ...docs.slice(0, 50),
    { id: 'a', text: 'x\n"y"\ud800', source: 's', meta: {} },
    { id: 'b', text: '', source: 's', lang: '', meta: { n: 1.5, s: 'q"\n' } },
    { id: 'c', text: 't', source: 's', lang: 'en', meta: undefined as unknown as Record<string, unknown> },
    { id: 'd', text: 't', source: 's', meta: null as unknown as Record<string, unknown> },
    { id: 'e', text: 't', source: 's', meta: { toJSON: () => ({ z: 1 }) } as unknown as Record<string, unknown> },
    { id: 5 as unknown as string, text: 't', source: 's', meta: {} },
    { id: 'g', text: 't', source: undefined as unknown as string, meta: {} },
    { id: 'h', text: 't', source: 's', lang: 7 as unknown as string, meta: {} },
  ];
  const p = join(dir, 'docs.jsonl');
  const w = openDocWriter(p);
  // each write resolves to the text's UTF-8 length (the map phase's write stage counts it), by either path
  for (const d of odd) assert.equal(await w.write(d), Buffer.byteLength(d.text, 'utf8'), `bytes of ${d.id}`);
  await w.close();
  assert.equal(readFileSync(p, 'utf8'), odd.map((d) => JSON.stringify(docLine(d)) + '\n').join(''));
  const x = join(dir, 'excluded.jsonl');
  const ex = new ExclusionWriter(x);
  for (const [i, d] of odd.entries())
    await ex.write(d, 'st"age', 'rule', i % 3 === 0 ? undefined : i % 3 === 1 ? i / 7 : 'v');
  await ex.close();
  const want = odd.map((d, i) => {
    const value = i % 3 === 0 ? undefined : i % 3 === 1 ? i / 7 : 'v';
    const o = {
      stage: 'st"age',
      rule: 'rule',
      ...(value !== undefined ? { value } : {}),
      id: d.id,
      text: d.text,
      source: d.source,
      ...(d.lang ? { lang: d.lang } : {}),
      meta: d.meta,
    };
    return JSON.stringify(o) + '\n';
  });
  assert.equal(readFileSync(x, 'utf8'), want.join(''));
  // writeText's frames end where the joined line's UTF-16 units (escapes counted) reach chunkBytes, as writeLine's do
  const texts = Array.from({ length: 200 }, (_, i) => '中\n"😀\u0001\ud800a'.repeat(i % 30));
  const chunkBytes = 1500;
  const frames: string[] = [];
  let cur = '';
  for (const t of texts) {
    cur += `{"t":${JSON.stringify(t)}}\n`;
    if (cur.length >= chunkBytes) {
      frames.push(cur);
      cur = '';
    }
  }
  if (cur) frames.push(cur);
  const zwant = Buffer.concat(await Promise.all(frames.map((f) => zstdCompressChunk(Buffer.from(f, 'utf8'), 3))));
  const zp = join(dir, 'text.jsonl.zst');
  const zw = new JsonlWriter(zp, { chunkBytes });
  for (const t of texts) await zw.writeText('{"t":', t, '}');
  await zw.close();
  assert.ok(readFileSync(zp).equals(zwant));
});

test('Parquet writer: row groups, readable back (hyparquet) with the same documents', async () => {
  const dir = tmp();
  const p = join(dir, 'out.parquet');
  const w = new ParquetDocWriter(p, { rowGroupRows: 700 });
  for (const d of docs) await w.write(d);
  assert.equal(existsSync(p), false);
  await w.close();
  assert.deepEqual(await readDocs(p), docs);
  const { parquetMetadataAsync, asyncBufferFromFile } = await import('hyparquet');
  const md = await parquetMetadataAsync(await asyncBufferFromFile(p));
  assert.equal(md.row_groups.length, 5);
  // openDocWriter's Parquet writer resolves each write to the text's UTF-8 length too
  const q = join(dir, 'q.parquet');
  const dw = openDocWriter(q);
  for (const d of docs.slice(0, 20)) assert.equal(await dw.write(d), Buffer.byteLength(d.text, 'utf8'));
  await dw.close();
  assert.deepEqual(await readDocs(q), docs.slice(0, 20));
});

test('exclusion and rejects writers: created lazily, one line per item with reason', async () => {
  const dir = tmp();
  const ex = new ExclusionWriter(join(dir, 'excluded', 'part-00000.jsonl.zst'));
  const rj = new RejectsWriter(join(dir, 'rejects', 'part-00000.jsonl'));
  await ex.close();
  await rj.close();
  assert.equal(existsSync(join(dir, 'excluded')), false, 'nothing dropped -> no file');
  const ex2 = new ExclusionWriter(join(dir, 'excluded', 'part-00001.jsonl.zst'));
  await ex2.write(docs[1], 'filter', 'alnum_ratio', 0.12);
  await ex2.close();
  const line = JSON.parse(
    Buffer.from(decompress(readFileSync(join(dir, 'excluded', 'part-00001.jsonl.zst'))))
      .toString()
      .trim(),
  );
  assert.deepEqual(line, {
    stage: 'filter',
    rule: 'alnum_ratio',
    value: 0.12,
    id: 'd1',
    text: docs[1].text,
    source: 'zh',
    lang: 'zh',
    meta: docs[1].meta,
  });
  const rj2 = new RejectsWriter(join(dir, 'rejects', 'part-00001.jsonl'));
  await rj2.write({ file: '/x/a.jsonl', line: 7 }, 'read', 'bad JSON: Unexpected token', '{oops');
  await rj2.close();
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'rejects', 'part-00001.jsonl'), 'utf8')), {
    file: '/x/a.jsonl',
    line: 7,
    error: 'bad JSON: Unexpected token',
    stage: 'read',
    raw: '{oops',
  });
});

test('atomic outputs: abort and a killed writer process leave no final-named file', async () => {
  const dir = tmp();
  const p = join(dir, 'a.jsonl.zst');
  const w = openDocWriter(p);
  for (const d of docs) await w.write(d);
  await w.abort();
  assert.deepEqual(readdirSync(dir), []);
  // a child process writes ~5 MB then dies before close()
  const script = join(dir, 'killme.mts');
  const writers = fileURLToPath(new URL('./index.ts', import.meta.url));
  writeFileSync(
    script,
    `import { openDocWriter } from ${JSON.stringify(writers)};\n` +
      `const w = openDocWriter(${JSON.stringify(join(dir, 'b.jsonl.zst'))});\n` +
      `for (let i = 0; i < 20000; i++) await w.write({ id: 'x' + i, text: 'y'.repeat(250) + Math.random(), source: 's', meta: {} });\n` +
      `process.kill(process.pid, 'SIGKILL');\n`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
  const left = readdirSync(dir).filter((n) => n !== 'killme.mts');
  assert.equal(left.includes('b.jsonl.zst'), false);
  assert.equal(left.length, 1, 'only the hidden temp file remains');
  assert.match(left[0], /^\.b\.jsonl\.zst\..*\.tmp$/);
});
