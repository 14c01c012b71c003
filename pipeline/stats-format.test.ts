/** pipeline/stats.ts' counts with thousands separators: as toLocaleString('en-US') writes them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupThousands as n } from './stats.ts';

test('stats: counts grouped as toLocaleString("en-US") groups them', () => {
  const xs = [0, -0, 1, 9, 10, 99, 100, 999, 1000, 1001, 12345, 999999, 1000000, 1234567, -1, -1000, -1234567];
  for (let k = 1; k < 2 ** 53; k = k * 7 + 3) xs.push(k, -k);
  xs.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 60, 0.5, 1234.5678, NaN, Infinity, -Infinity);
  for (const x of xs) assert.equal(n(x), x.toLocaleString('en-US'), String(x));
});
