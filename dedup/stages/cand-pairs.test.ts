import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangePairs, dropSpare, spareWords } from './cand-pairs.ts';

/** What RangePairs must give for records (u, v, estimate): the marks, and each pair once as u · 2³² + v, ascending. */
function expected(recs: number[], first: number, end: number, atLeast: number) {
  const marks = new Uint8Array(Math.max(0, end - first));
  const likely = new Set<number>();
  const others = new Set<number>();
  for (let i = 0; i + 2 < recs.length; i += 3) {
    const [u, v, est] = [recs[i]!, recs[i + 1]!, recs[i + 2]!];
    const inU = u >= first && u < end;
    if (inU) marks[u - first] = 1;
    if (v >= first && v < end) marks[v - first] = 1;
    if (!inU || u > v) continue;
    (est >= atLeast ? likely : others).add(u * 2 ** 32 + v);
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { marks: [...marks], likely: sorted(likely), others: sorted(others) };
}

/** Pairs u, v, u, v, … as u · 2³² + v. */
const asNumbers = (w: Uint32Array) =>
  Array.from({ length: w.length / 2 }, (_, i) => w[2 * i]! * 2 ** 32 + w[2 * i + 1]!);

test('RangePairs marks the range candidates and gives each likely and other pair once, ascending', () => {
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  // the range at 0 and near 2^32; u inside and outside it, v anywhere in 32 bits or near u; a u's pairs sorted by
  // insertion (≤ 32) or by the heapsort (more: few u); repeats out of order; records passed in runs of several sizes
  for (const [n, first, span, uSpan, vSpan, run] of [
    [0, 0, 0, 1, 1, 3],
    [1, 5, 10, 1, 1, 1],
    [2_000, 0, 40, 60, 300, 7],
    [5_000, 1000, 3, 5, 2 ** 16, 1000],
    [20_000, 2 ** 32 - 600, 500, 600, 2 ** 32, 4096],
    [20_000, 77, 1, 1, 2 ** 32, 999],
    [3_000, 0, 1_500, 3_000, 2 ** 32, 3_000],
    [3_000, 9, 200, 400, 40, 64],
  ] as const) {
    const recs: number[] = [];
    for (let i = 0; i < n; i++) {
      const u = first + Math.floor(rnd() * uSpan) - (first > 0 ? Math.floor(uSpan / 8) : 0);
      const v = Math.floor(rnd() * vSpan);
      const est = Math.floor(rnd() * 1000);
      // a record again (another band), later
      for (let r = rnd() < 0.3 ? 2 : 1; r > 0; r--) recs.push(u >>> 0, v >>> 0, est);
    }
    for (let i = recs.length / 3 - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      for (let w = 0; w < 3; w++) [recs[3 * i + w], recs[3 * j + w]] = [recs[3 * j + w]!, recs[3 * i + w]!];
    }
    const all = Uint32Array.from(recs);
    const rp = new RangePairs(first, first + span, 700, all.length / 3 + 5);
    for (let at = 0; at < all.length; at += 3 * run) rp.scan(all.subarray(at, Math.min(all.length, at + 3 * run)));
    const got = rp.finish();
    const want = expected(recs, first, first + span, 700);
    assert.deepEqual([...got.marks], want.marks, `${n} records: marks`);
    assert.deepEqual(asNumbers(got.likely), want.likely, `${n} records: likely pairs`);
    assert.deepEqual(asNumbers(got.others), want.others, `${n} records: other pairs`);
  }
});

test('RangePairs refuses more records than it was made for', () => {
  const rp = new RangePairs(0, 10, 1, 2);
  rp.scan(Uint32Array.of(1, 2, 3, 2, 3, 4));
  assert.throws(() => rp.scan(Uint32Array.of(1, 2, 3)), /more than the 2 records/);
});

test('a released RangePairs hands its memory on once (spareWords), grown as needed; dropSpare drops it', () => {
  const rp = new RangePairs(0, 10, 1, 4);
  rp.scan(Uint32Array.of(1, 2, 3, 2, 3, 0));
  const got = rp.finish();
  assert.deepEqual([...got.likely], [1, 2]);
  rp.release();
  const a = spareWords(16);
  assert.equal(a.length, 16);
  assert.equal(a.buffer, got.likely.buffer, 'the kernel memory itself');
  const b = spareWords(16);
  assert.notEqual(b.buffer, got.likely.buffer, 'taken once only');
  const rp2 = new RangePairs(0, 10, 1, 2);
  rp2.finish();
  rp2.release();
  const big = spareWords(1 << 20);
  assert.equal(big.length, 1 << 20, 'grown past the kernel memory');
  big[(1 << 20) - 1] = 7;
  assert.equal(big[(1 << 20) - 1], 7);
  const rp3 = new RangePairs(0, 10, 1, 2);
  const g3 = rp3.finish();
  rp3.release();
  dropSpare();
  assert.notEqual(spareWords(8).buffer, g3.marks.buffer);
  assert.notEqual(spareWords(8).buffer, g3.likely.buffer);
});
