import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WantedLines } from './verify.ts';

/** The wanted lines WantedLines hands on for `text` cut into chunks of `size` bytes, and the chunks it took. */
function wanted(text: string, want: Map<number, number>, size: number): { got: string[]; chunks: number } {
  const bytes = Buffer.from(text);
  const got: string[] = [];
  const scan = new WantedLines(want, (node, line, b) => got.push(`${node}@${line}:${Buffer.from(b).toString()}`));
  let chunks = 0;
  for (let at = 0; at < bytes.length; at += size) {
    chunks++;
    if (!scan.chunk(bytes.subarray(at, Math.min(bytes.length, at + size)))) return { got, chunks };
  }
  scan.end();
  return { got, chunks };
}

test('WantedLines hands on the wanted lines whole, however the bytes are cut, and stops after the last', () => {
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
