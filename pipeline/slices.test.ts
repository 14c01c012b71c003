import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cjkShare, planFile, textKind } from './slices.ts';
import { scanFrame, zstdDecoder } from './readers/zstd.ts';
import { readRecords } from './readers/index.ts';
import type { FileSlice } from './readers/types.ts';
import { zstdCompressChunk } from './writers/index.ts';
import { tmpDir } from './test-fixtures/tmp-dir.ts';

/** Every item of a read, as comparable data (records with their lines, rejects with their lines and errors). */
async function items(file: string, slice?: FileSlice): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const it of readRecords(file, slice ? { slice } : {}))
    out.push(it.kind === 'record' ? [it.loc.line, it.record] : [it.loc.line, it.error, it.raw]);
  return out;
}

/** The same zstd frame without its content size in the header (as `zstd` writes from a pipe); content <= 128 KiB. */
function withoutContentSize(frame: Uint8Array): Uint8Array {
  const fhd = frame[4];
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const didSize = [0, 1, 2, 4][fhd & 3];
  const fcsSize = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag];
  const did = 5 + (single ? 0 : 1);
  const windowDescriptor = single ? (17 - 10) << 3 : frame[5];
  return Buffer.concat([
    frame.subarray(0, 4),
    Uint8Array.of(fhd & 0x1f, windowDescriptor),
    frame.subarray(did, did + didSize),
    frame.subarray(did + didSize + fcsSize),
  ]);
}

/** JSONL bytes: records of 20 B to 3 kB (some longer than a frame), a blank line, bad JSON, invalid UTF-8. */
function jsonl(n: number, endNewline: boolean): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 17) parts.push(Buffer.from('\n'));
    else if (i === 40) parts.push(Buffer.from('{"id":"bad","text":"broken\n'));
    else if (i === 77) parts.push(Buffer.from('{"id":"utf","text":"x'), Buffer.of(0xc3, 0x28), Buffer.from('"}\n'));
    else
      parts.push(Buffer.from(JSON.stringify({ id: `d${i}`, text: `第${i}段 `.repeat(1 + ((i * 37) % 300)) }) + '\n'));
  }
  const raw = Buffer.concat(parts);
  return endNewline ? raw : raw.subarray(0, raw.length - 1);
}

test('slices of a multi-frame zstd file (with and without content sizes) and of a plain file read exactly the records of the whole file', async () => {
  const dir = tmpDir('steel-slices-');
  const raw = jsonl(300, true);
  const frames: Uint8Array[] = [];
  // frames cut at arbitrary byte offsets: lines straddle frame boundaries and cuts
  for (let off = 0; off < raw.length; off += 3001) frames.push(await zstdCompressChunk(raw.subarray(off, off + 3001)));
  const files = {
    zst: join(dir, 'a.jsonl.zst'),
    nosize: join(dir, 'b.jsonl.zst'),
    plain: join(dir, 'c.jsonl'),
  };
  writeFileSync(files.zst, Buffer.concat(frames));
  writeFileSync(files.nosize, Buffer.concat(frames.map(withoutContentSize)));
  const plainRaw = jsonl(300, false); // no newline at the end
  writeFileSync(files.plain, plainRaw);
  for (const [name, file] of Object.entries(files)) {
    const plan = planFile(file, undefined, 40_000);
    assert.equal(plan.text, name === 'plain' ? plainRaw.length : raw.length, name);
    const slices = plan.slices!;
    assert.ok(slices.length >= 5, `${name}: ${slices.length} slices`);
    assert.deepEqual(
      slices.map((s) => s.bytes === undefined),
      slices.map((_, i) => i === slices.length - 1),
    );
    if (name !== 'plain')
      assert.ok(
        slices.some((s) => s.skip > 0 && s.offset > 0),
        `${name}: a line straddles a cut`,
      );
    else assert.ok(slices.every((s) => s.skip === 0));
    const whole = await items(file);
    assert.equal(whole.length, 299, name); // the blank line is no record
    const sliced: unknown[] = [];
    for (const s of slices) {
      const part = await items(file, s);
      assert.ok(part.length > 0, `${name}: slice from line ${s.line} is not empty`);
      sliced.push(...part);
    }
    assert.deepEqual(sliced, whole, name);
    // the rejects keep their lines
    assert.deepEqual(
      sliced.filter((x) => (x as unknown[]).length === 3).map((x) => (x as unknown[])[0]),
      [41, 78],
    );
  }
  // a file of one frame, a small file and a gzip file stay whole
  assert.equal(planFile(files.plain, undefined, 1 << 20).slices, undefined);
  writeFileSync(join(dir, 'one.jsonl.zst'), await zstdCompressChunk(raw));
  assert.deepEqual(planFile(join(dir, 'one.jsonl.zst'), undefined, 40_000), { text: raw.length });
  assert.equal(planFile(files.plain, 'text', 40_000).slices, undefined);
});

test('planning a zstd file reads each of its bytes once, frames larger than a read included', async () => {
  const dir = tmpDir('steel-slices-once-');
  // 6 frames of ~600 KB of text that barely compresses (more than one 256 KiB read each), lines across frames
  const line = () => JSON.stringify({ text: randomBytes(3000).toString('base64') }) + '\n';
  const raw = Buffer.from(Array.from({ length: 1200 }, line).join(''));
  const frames: Uint8Array[] = [];
  for (let off = 0; off < raw.length; off += 600_000)
    frames.push(await zstdCompressChunk(raw.subarray(off, off + 600_000)));
  const file = join(dir, 'big.jsonl.zst');
  writeFileSync(file, Buffer.concat(frames));
  const size = fs.statSync(file).size;
  zstdDecoder(); // its module's file read before the count
  let read = 0;
  const real = fs.readSync;
  const spy = mock.method(fs, 'readSync', (...a: Parameters<typeof fs.readSync>) => {
    const n = (real as (...b: unknown[]) => number)(...a);
    read += n;
    return n;
  });
  syncBuiltinESMExports();
  let plan;
  try {
    plan = planFile(file, undefined, 1 << 20);
  } finally {
    spy.mock.restore();
    syncBuiltinESMExports();
  }
  assert.equal(plan.text, raw.length);
  assert.equal(plan.slices?.length, Math.ceil(raw.length / (1 << 20)));
  assert.ok(size > 6 * (256 << 10) && read === size, `${read} bytes read of a ${size}-byte file`);
});

/** A plan's slices without their file offsets (which differ between the compressed forms of one text). */
function cuts(plan: { text: number; slices?: FileSlice[] }): unknown {
  return { text: plan.text, slices: plan.slices?.map(({ offset: _, ...s }) => s) };
}

/** Every item of each slice of a file, in order. */
async function sliceItems(file: string, slices: FileSlice[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const s of slices) out.push(...(await items(file, s)));
  return out;
}

test('unsized frames (`zstd` from a pipe, checksummed) are planned into the slices of their sized twin; a damaged one ends the cuts and its reading is a clear error', async () => {
  const dir = tmpDir('steel-slices-');
  const td = (f: string) => readFileSync(fileURLToPath(new URL(`./readers/testdata/${f}`, import.meta.url)));
  const text = td('cli.jsonl');
  const sized = td('cli.jsonl.zst');
  const unsized = td('cli-stdin.jsonl.zst'); // the same text, no content size, an XXH64 checksum
  assert.equal(unsized[4] >> 6, 0, 'no content size');
  assert.equal((unsized[4] >> 2) & 1, 1, 'a checksum');
  const copies = 9;
  const a = join(dir, 'a.jsonl.zst');
  const b = join(dir, 'b.jsonl.zst');
  writeFileSync(a, Buffer.concat(Array<Buffer>(copies).fill(sized)));
  writeFileSync(b, Buffer.concat(Array<Buffer>(copies).fill(unsized)));
  const pa = planFile(a, undefined, 20_000);
  const pb = planFile(b, undefined, 20_000);
  assert.equal(pb.text, text.length * copies);
  assert.ok(pb.slices!.length >= 4, `${pb.slices!.length} slices`);
  assert.deepEqual(cuts(pb), cuts(pa));
  assert.ok(
    pb.slices!.every((s) => s.offset % unsized.length === 0 && s.skip === 0),
    'cut at frame boundaries',
  );
  const whole = await items(b);
  assert.equal(whole.length, 200 * copies);
  assert.deepEqual(await sliceItems(b, pb.slices!), whole);
  assert.deepEqual(await sliceItems(a, pa.slices!), whole);

  // the sixth frame's checksum damaged: no cut at or after it; the slices before it read, the last one reports it
  const bad = Buffer.concat(Array<Buffer>(copies).fill(unsized));
  bad[6 * unsized.length - 1] ^= 0xff;
  writeFileSync(b, bad);
  const pc = planFile(b, undefined, 20_000);
  assert.equal(pc.text, text.length * 5);
  assert.ok(pc.slices!.length >= 2 && pc.slices!.every((s) => s.offset < 5 * unsized.length));
  assert.deepEqual(await sliceItems(b, pc.slices!.slice(0, -1)), whole.slice(0, pc.slices!.at(-1)!.line - 1));
  await assert.rejects(
    items(b, pc.slices!.at(-1)),
    /b\.jsonl\.zst.*: truncated or corrupt zstd stream: zstd: .*checksum/i,
  );
  await assert.rejects(items(b), /b\.jsonl\.zst.*: truncated or corrupt zstd stream: zstd: .*checksum/i);
});

/**
 * An unsized frame of raw blocks of at most `block` bytes each: its bound (blocks times 128 KiB) is over the caps of
 * whole decoding once it has more than 1024 blocks, however little it holds. `reserved`: the block of that index
 * gets the reserved block type (damage).
 */
function rawBlocksFrame(content: Uint8Array, block: number, reserved = -1): Buffer {
  const parts: Uint8Array[] = [Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3)];
  for (let at = 0, i = 0; at < content.length; at += block, i++) {
    const n = Math.min(block, content.length - at);
    const h = ((n << 3) | ((i === reserved ? 3 : 0) << 1) | (at + n >= content.length ? 1 : 0)) >>> 0;
    parts.push(Uint8Array.of(h & 0xff, (h >> 8) & 0xff, h >> 16), content.subarray(at, at + n));
  }
  return Buffer.concat(parts);
}

test('an unsized frame over the caps of whole decoding is planned streaming (the slices of its sized twin); damage in it ends the cuts before it', async () => {
  const dir = tmpDir('steel-slices-');
  const raw = jsonl(300, true);
  const parts: Buffer[] = [];
  for (let off = 0; off < raw.length; off += 60_000) parts.push(raw.subarray(off, off + 60_000));
  const big = (i: number) => i % 2 === 1 && i < parts.length - 1; // 1200 raw blocks of 50 bytes
  const sized = join(dir, 'a.jsonl.zst');
  const unsized = join(dir, 'b.jsonl.zst');
  writeFileSync(sized, Buffer.concat(await Promise.all(parts.map((p) => zstdCompressChunk(p)))));
  const frames = await Promise.all(
    parts.map(async (p, i) => (big(i) ? rawBlocksFrame(p, 50) : withoutContentSize(await zstdCompressChunk(p)))),
  );
  assert.ok(
    frames.filter((_, i) => big(i)).every((f) => scanFrame(f).kind === 'stream'),
    'over the caps',
  );
  writeFileSync(unsized, Buffer.concat(frames));
  const pa = planFile(sized, undefined, 50_000);
  const pb = planFile(unsized, undefined, 50_000);
  assert.equal(pb.text, raw.length);
  assert.ok(pb.slices!.length >= 5, `${pb.slices!.length} slices`);
  assert.deepEqual(cuts(pb), cuts(pa));
  const whole = await items(sized);
  assert.deepEqual(await items(unsized), whole);
  assert.deepEqual(await sliceItems(unsized, pb.slices!), whole);
  // the fourth frame (a big one) damaged in its 1000th block: the cuts and the text end before it
  frames[3] = rawBlocksFrame(parts[3], 50, 1000);
  writeFileSync(unsized, Buffer.concat(frames));
  const pc = planFile(unsized, undefined, 50_000);
  assert.equal(pc.text, 3 * 60_000);
  const end = frames[0].length + frames[1].length + frames[2].length;
  assert.ok(pc.slices!.every((s) => s.offset < end));
  await assert.rejects(items(unsized, pc.slices!.at(-1)), /b\.jsonl\.zst.*: truncated or corrupt zstd stream/);
});

test('an empty slice reads nothing; a slice that no longer matches its file is an error, not a corrupt file', async () => {
  const dir = tmpDir('steel-slices-');
  const raw = jsonl(120, true);
  const file = join(dir, 'a.jsonl');
  writeFileSync(file, raw);
  const slices = planFile(file, undefined, 30_000).slices!;
  assert.ok(slices.length >= 3);
  const last = slices[slices.length - 1];
  // the last line's slice, starting at the end of the file: empty
  assert.deepEqual(await items(file, { offset: raw.length, skip: 0, line: last.line + 10_000, start: raw.length }), []);
  assert.deepEqual(await items(file, { ...last, bytes: 0, lines: 0 }), []);
  // one more line in the first slice: its line count no longer matches; a later slice's start moved: not a line start
  const changed = Buffer.from(raw);
  changed[raw.indexOf('段') - 1] = 0x0a;
  writeFileSync(file, changed);
  await assert.rejects(items(file, slices[0]), /holds \d+ lines, not \d+: the file changed since it was sliced/);
  writeFileSync(file, Buffer.concat([Buffer.from('x'), raw.subarray(0, raw.length - 1)]));
  await assert.rejects(items(file, { ...slices[1], skip: 1, offset: slices[1].offset - 1 }), /does not start a line/);
  await assert.rejects(items(file, slices[1]), /the file changed since it was sliced/);
});

test('textKind: 1 for Chinese text (raw, or as JSON escapes; plain, zstd with or without a content size, gzip), 0 for English, columnar or unreadable files', async () => {
  const dir = tmpDir('steel-kind-');
  const zh = Buffer.from(
    Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `z${i}`, text: `第${i}段：中文的文本 see man(1)` })).join(
      '\n',
    ),
  );
  const en = Buffer.from(
    Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ id: `e${i}`, text: `Paragraph ${i}: English text — ok` }),
    ).join('\n'),
  );
  const escaped = Buffer.from(
    zh.toString('utf8').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`),
  );
  const write = (name: string, b: Uint8Array) => {
    writeFileSync(join(dir, name), b);
    return join(dir, name);
  };
  assert.equal(await textKind(write('zh.jsonl', zh), undefined), 1);
  assert.equal(await textKind(write('en.jsonl', en), undefined), 0);
  assert.equal(await textKind(write('esc.jsonl', escaped), undefined), 1);
  assert.equal(await textKind(write('esc-en.jsonl', Buffer.from(JSON.stringify({ t: 'caf\\u00e9' }))), undefined), 0);
  assert.equal(await textKind(write('zh.jsonl.zst', await zstdCompressChunk(zh)), undefined), 1);
  assert.equal(
    await textKind(write('zh-nosize.jsonl.zst', withoutContentSize(await zstdCompressChunk(zh))), undefined),
    1,
  );
  assert.equal(await textKind(write('en.jsonl.zst', await zstdCompressChunk(en)), undefined), 0);
  assert.equal(await textKind(write('zh.jsonl.gz', gzipSync(zh)), undefined), 1);
  assert.equal(await textKind(write('zh.parquet', zh), undefined), 0);
  assert.equal(await textKind(join(dir, 'missing.jsonl.zst'), undefined), 0);
  assert.equal(await textKind(write('bad.jsonl.zst', Buffer.from('not zstd at all')), undefined), 0);
  // after a skippable frame; only the first 64 KiB of text count (one frame: English, then Chinese, and the reverse)
  const skip = Buffer.alloc(24);
  skip.writeUInt32LE(0x184d2a50, 0);
  skip.writeUInt32LE(16, 4);
  assert.equal(
    await textKind(write('skip-zh.jsonl.zst', Buffer.concat([skip, await zstdCompressChunk(zh)])), undefined),
    1,
  );
  const many = (b: Buffer) => Buffer.concat(Array.from({ length: Math.ceil(100_000 / b.length) }, () => b));
  const enZh = Buffer.concat([many(en), many(zh), many(zh), many(zh)]);
  const zhEn = Buffer.concat([many(zh), many(en), many(en), many(en)]);
  assert.equal(await textKind(write('en-zh.jsonl.zst', await zstdCompressChunk(enZh)), undefined), 0);
  assert.equal(await textKind(write('zh-en.jsonl.zst', await zstdCompressChunk(zhEn)), undefined), 1);
  assert.equal(await textKind(write('en-zh.jsonl', enZh), undefined), 0);
  assert.equal(cjkShare(Buffer.from('')), 0);
});
