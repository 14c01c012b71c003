import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WantedLines } from './verify.ts';

/**
 * The wanted lines WantedLines hands on for `text` cut into chunks of `size` bytes, and the chunks it took. Each chunk
 * is lent, as the zstd reader lends its decoder's memory: one buffer, overwritten after each call.
 */
function wanted(text: string, want: Map<number, number>, size: number): { got: string[]; chunks: number } {
  const bytes = Buffer.from(text);
  const got: string[] = [];
  const scan = new WantedLines(want, (node, line, b) => got.push(`${node}@${line}:${Buffer.from(b).toString()}`));
  const lent = new Uint8Array(size);
  let chunks = 0;
  for (let at = 0; at < bytes.length; at += size) {
    chunks++;
    const n = Math.min(bytes.length, at + size) - at;
    lent.set(bytes.subarray(at, at + n));
    const more = scan.chunk(lent.subarray(0, n));
    lent.fill(0x23); // '#': what the next read would leave there
    if (!more) return { got, chunks };
  }
  scan.end();
  return { got, chunks };
}

test('WantedLines hands on the wanted lines whole, however the (lent) bytes are cut, and stops after the last', () => {
  const text = 'a1\nbb22\nccc333\ndddd4444\neeeee55555';
  for (const size of [1, 2, 3, 5, 8, 64]) {
    // lines 2 and 4: cut across chunks; the file not read past line 4
    const mid = wanted(
      text,
      new Map([
        [2, 10],
        [4, 11],
      ]),
      size,
    );
    assert.deepEqual(mid.got, ['10@2:bb22', '11@4:dddd4444'], `chunks of ${size}`);
    assert.equal(mid.chunks, Math.ceil(text.indexOf('\neeeee') / size + 1e-9) || 1, `chunks of ${size} read`);
    // the first line, and the last one, which has no newline
    const ends = wanted(
      text,
      new Map([
        [1, 0],
        [5, 7],
      ]),
      size,
    );
    assert.deepEqual(ends.got, ['0@1:a1', '7@5:eeeee55555'], `chunks of ${size}`);
  }
});
