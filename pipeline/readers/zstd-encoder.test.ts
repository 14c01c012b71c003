import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decompress as fzstd } from 'fzstd';
import { ZstdDecoder, ZstdEncoder, scanFrame, zstdCompress } from './zstd.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';
import { zstdSample as sample } from '../test-fixtures/zstd-sample.ts';

/** The content of one frame, by our decoder (checking the declared size) and by fzstd, which must agree. */
function roundTrip(frame: Uint8Array, n: number, name: string): Uint8Array {
  const s = scanFrame(frame, true);
  assert.ok(s.kind === 'frame' && s.end === frame.length, `${name}: one whole frame`);
  assert.equal(s.contentSize, n, `${name}: the content size is declared`);
  const d = new ZstdDecoder().decompress(frame, n);
  assert.deepEqual(fzstd(frame), d, `${name}: fzstd reads the same`);
  return d;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('ZstdEncoder round trip: levels 1, 3 and 19, empty, one byte, several MiB, incompressible, one byte repeated', () => {
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(42)],
    ['text, 1000 bytes', sample(1000, 1)],
    ['text, 300 kB', sample(300_000, 2)],
    ['text, 6 MiB', sample(6 << 20, 3)],
    ['random bytes, 500 kB', sample(500_000, 4, true)],
    ['one byte repeated, 2 MB', new Uint8Array(2_000_000).fill(7)],
  ];
  const z = new ZstdEncoder();
  for (const level of [1, 3, 19])
    for (const [name, raw] of inputs) {
      if (level === 19 && raw.length > 1 << 20) continue; // level 19 takes seconds per MiB
      const frame = z.compress(raw, level);
      assert.deepEqual(roundTrip(frame, raw.length, `${name}, level ${level}`), new Uint8Array(raw));
      if (name.startsWith('random')) assert.ok(frame.length <= raw.length + 100, 'incompressible: stored raw');
      if (name.startsWith('text')) assert.ok(frame.length < raw.length * 0.6, `${name}, level ${level}: compressed`);
    }
});

test('ZstdEncoder gives libzstd v1.5.6 frames, the same with its context reused across sizes and levels', () => {
  // sha256 of ZSTD_compress(level) over the same bytes by libzstd v1.5.6 built natively (x86-64, gcc): 1.5 MB at
  // levels 1 and 3, its first 300 kB at level 19
  const raw = sample(1_500_000, 7);
  const small = raw.subarray(0, 300_000);
  const want: Record<number, string> = {
    1: 'd7ab924fdcc6c93d9802d986f065cae372bdecc90a29f11e33d469edd100036c',
    3: '96d6ebb49ba756af2f615a891261da2f93868336b21e3d8259b0f1f02528f601',
    19: '39a198492b38360cbd3cbf11b091fd81e4e7394cc029b8cf3da0a2134566699c',
  };
  for (const level of [1, 3]) assert.equal(sha256(new ZstdEncoder().compress(raw, level)), want[level]);
  assert.equal(sha256(new ZstdEncoder().compress(small, 19)), want[19]);
  // one encoder through a sequence of sizes and levels (its workspace and buffers growing, then reused for smaller
  // inputs and other levels) gives what a fresh encoder gives for each
  const reused = new ZstdEncoder();
  const calls: [Uint8Array, number][] = [
    [sample(50_000, 8), 1],
    [raw, 3],
    [sample(3_000, 9), 3],
    [sample(4 << 20, 10), 1],
    [small, 19],
    [sample(200, 11), 1],
    [raw, 1],
    [new Uint8Array(0), 3],
    [raw, 3],
  ];
  for (const [i, [data, level]] of calls.entries()) {
    const frame = reused.compress(data, level);
    assert.deepEqual(frame, new ZstdEncoder().compress(data, level), `call ${i}: ${data.length} bytes, level ${level}`);
    assert.deepEqual(roundTrip(frame, data.length, `call ${i}`), new Uint8Array(data));
  }
  assert.equal(sha256(reused.compress(raw, 1)), want[1]);
  // the process's encoder is one of these
  assert.equal(sha256(zstdCompress(raw, 3)), want[3]);
  assert.equal(sha256(zstdCompress(raw)), want[3], 'level 3 by default');
});

test('the zstd CLI reads ZstdEncoder frames, one after another in a file', (t) => {
  if (spawnSync('zstd', ['--version']).status !== 0) return t.skip('no zstd CLI');
  const parts = [sample(1 << 20, 12), sample(70_000, 13, true), new Uint8Array(0), sample(900_000, 14)];
  const file = join(tmpDir('steel-zstd-enc-'), 'f.jsonl.zst');
  writeFileSync(file, Buffer.concat(parts.map((p, i) => zstdCompress(p, i % 2 ? 1 : 3))));
  const r = spawnSync('zstd', ['-dc', file], { maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, String(r.stderr));
  assert.ok(r.stdout.equals(Buffer.concat(parts)));
});
