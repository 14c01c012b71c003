import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decompress as fzstd } from 'fzstd';
import { ZstdDecoder, scanFrame, zstdDecompressStream } from './zstd.ts';
import { zstdCompressChunk } from '../writers/index.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';
import { zstdSample as sample } from '../test-fixtures/zstd-sample.ts';

test('ZstdDecoder (libzstd in wasm) gives what fzstd gives: levels, sizes, random bytes, checksummed frames', async () => {
  const d = new ZstdDecoder();
  const cases: [string, Uint8Array][] = [];
  for (const level of [-5, 1, 3, 9, 19])
    for (const [n, seed] of [
      [1, 1],
      [1000, 2],
      [300_000, 3],
      [2_500_000, 4],
    ] as const)
      cases.push([`level ${level}, ${n} bytes`, await zstdCompressChunk(sample(n, seed + level), level)]);
  cases.push(['random bytes (raw blocks)', await zstdCompressChunk(sample(200_000, 9, true), 3)]);
  cases.push(['one byte repeated (RLE blocks)', await zstdCompressChunk(new Uint8Array(500_000).fill(7), 3)]);
  // written by the zstd CLI: a content checksum after the last block
  const cli = readFileSync(fileURLToPath(new URL('./testdata/cli.jsonl.zst', import.meta.url)));
  assert.equal((cli[4] >> 2) & 1, 1, 'cli.jsonl.zst has a checksum');
  cases.push(['zstd CLI frame with checksum', cli]);
  // small, large, small again: the buffers grow and are reused
  for (const [name, frame] of [...cases, ...cases.slice(0, 3)]) {
    const want = fzstd(frame);
    assert.deepEqual(d.decompress(frame, want.length), want, name);
  }
});

test('ZstdDecoder rejects a damaged frame, a wrong size and a bad checksum', async () => {
  const d = new ZstdDecoder();
  const raw = sample(400_000, 5);
  const frame = await zstdCompressChunk(raw, 3);
  assert.throws(() => d.decompress(frame, raw.length - 1), /zstd/);
  assert.throws(() => d.decompress(frame.subarray(0, frame.length - 10), raw.length), /zstd/);
  const cli = Buffer.from(readFileSync(fileURLToPath(new URL('./testdata/cli.jsonl.zst', import.meta.url))));
  const size = fzstd(cli).length;
  cli[cli.length - 1] ^= 0xff; // the checksum
  assert.throws(() => d.decompress(cli, size), /zstd: .*checksum/i);
  // still good after the errors
  assert.deepEqual(d.decompress(frame, raw.length), new Uint8Array(raw));
});

test('ZstdDecoder.head: the first blocks of a frame, at least the bytes asked for (all of a shorter frame), from any prefix', async () => {
  const d = new ZstdDecoder();
  const raw = new Uint8Array(sample(1_000_000, 6));
  const frame = await zstdCompressChunk(raw, 3);
  for (const want of [1, 65_536, 300_000]) {
    const h = d.head(frame, want);
    assert.ok(h.length >= want && h.length < want + (128 << 10), `want ${want}: ${h.length} bytes`);
    assert.deepEqual(h, raw.subarray(0, h.length), `want ${want}`);
  }
  // the whole of a frame shorter than asked for; the CLI's frame with its checksum checked
  assert.deepEqual(d.head(frame, 2_000_000), raw);
  const cli = readFileSync(fileURLToPath(new URL('./testdata/cli.jsonl.zst', import.meta.url)));
  assert.deepEqual(d.head(cli, 1 << 30), fzstd(cli));
  // a prefix ending inside a block: the whole blocks before it
  const cut = d.head(frame.subarray(0, frame.length >> 1), 2_000_000);
  assert.ok(cut.length > 0 && cut.length < raw.length, `${cut.length} bytes from half the frame`);
  assert.deepEqual(cut, raw.subarray(0, cut.length));
  // random bytes (raw blocks); not a frame: an error naming zstd
  const rnd = new Uint8Array(sample(300_000, 7, true));
  assert.deepEqual(d.head(await zstdCompressChunk(rnd, 3), 65_536), rnd.subarray(0, 131_072));
  assert.throws(() => d.head(new Uint8Array(64).fill(1), 10), /zstd/);
  assert.deepEqual(d.decompress(frame, raw.length), raw, 'whole frames after head');
});

/** All the bytes zstdDecompressStream gives for `file` (read `step` bytes at a time), each chunk copied. */
async function streamAll(file: Uint8Array, step = 1 << 20): Promise<Uint8Array> {
  let pos = 0;
  const read = async (into: Uint8Array, at: number, len: number) => {
    const n = Math.min(len, step, file.length - pos);
    into.set(file.subarray(pos, pos + n), at);
    pos += n;
    return n;
  };
  const out: Buffer[] = [];
  for await (const c of zstdDecompressStream(read, undefined, true)) out.push(Buffer.from(c));
  return new Uint8Array(Buffer.concat(out));
}

test('a frame that declares no content size is decoded whole by the wasm decoder, into the bound of its blocks', async () => {
  // a frame made by hand: no content size (window descriptor 1 MiB), two raw blocks and an RLE block, then a frame
  // with a declared size after it
  const rnd = sample(200_000, 11, true);
  const block = (last: number, type: number, size: number) => [
    (size << 3) | (type << 1) | last,
    (size >> 5) & 0xff,
    (size >> 13) & 0xff,
  ];
  const unsized = new Uint8Array([
    ...[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50],
    ...block(0, 0, 131_072),
    ...rnd.subarray(0, 131_072),
    ...block(0, 0, 68_928),
    ...rnd.subarray(131_072),
    ...block(1, 1, 5_000),
    0x61,
  ]);
  const s = scanFrame(unsized);
  assert.deepEqual(s, { kind: 'frame', end: unsized.length, contentSize: -1, cap: 3 * 131_072 });
  const want = Buffer.concat([rnd, Buffer.alloc(5_000, 0x61)]);
  assert.deepEqual(new ZstdDecoder().decompressUnsized(unsized, s.kind === 'frame' ? s.cap : 0), new Uint8Array(want));
  const sized = await zstdCompressChunk(sample(300_000, 12), 3);
  const file = Buffer.concat([unsized, sized]);
  const all = new Uint8Array(Buffer.concat([want, sample(300_000, 12)]));
  assert.deepEqual(await streamAll(file), all);
  assert.deepEqual(await streamAll(file, 4096), all, 'the frames read in small pieces');
});

test('a stream compressed by the zstd CLI from a pipe (no content size declared) reads back', async (t) => {
  if (spawnSync('zstd', ['--version']).status !== 0) return t.skip('no zstd CLI');
  const raw = sample(3_000_000, 13);
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: raw, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, String(r.stderr));
  const frame = new Uint8Array(r.stdout);
  const s = scanFrame(frame);
  assert.equal(s.kind, 'frame');
  assert.equal(s.kind === 'frame' && s.contentSize, -1, 'the CLI declared no size');
  assert.deepEqual(await streamAll(frame), new Uint8Array(raw));
});

for (const part of ['decoder', 'encoder']) {
  test(`zstd-${part}.wasm is the build of zstd-${part}.c (rebuilt when ZSTD_SRC names the zstd v1.5.6 sources)`, (t) => {
    const src = process.env.ZSTD_SRC;
    if (!src) return t.skip('ZSTD_SRC not set (a copy of https://github.com/facebook/zstd at v1.5.6)');
    const version = ['clang', 'clang-14']
      .map((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).stdout ?? '')
      .find((v) => v.includes('clang version'));
    if (!version || !/clang version 14\./.test(version))
      return t.skip('the .wasm was built by clang 14 (apt-get install clang lld)');
    const out = join(tmpDir('steel-zstd-'), 'z.wasm');
    const sh = fileURLToPath(new URL(`./zstd-${part}.sh`, import.meta.url));
    const r = spawnSync('bash', [sh, out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      readFileSync(out).equals(readFileSync(fileURLToPath(new URL(`./zstd-${part}.wasm`, import.meta.url)))),
      `the committed .wasm is stale: run ZSTD_SRC=... bash pipeline/readers/zstd-${part}.sh`,
    );
  });
}
