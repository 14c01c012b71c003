import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeGroups, pairsCompared, SketchPairs } from './buckets.ts';
import { sketchJaccard } from '../minhash.ts';
import { fileOf, groupOfFile, type Numbering } from './common.ts';
import type { DedupConfig } from '../config.ts';

/** The group of every node, and of the first index documents, as fileOf + groupOfFile give it. */
function expected(cfg: DedupConfig, num: Numbering): number[] {
  const n = num.offsets[num.offsets.length - 1]! + num.indexDocs;
  return Array.from({ length: n }, (_, node) => groupOfFile(cfg, fileOf(num, node)[0]));
}

test('nodeGroups: every node in the group of its file, empty files and index documents included', () => {
  const cases: { docs: number[]; groupOf: number[]; groups: number; indexDocs: number }[] = [
    { docs: [3, 0, 0, 4, 2, 5], groupOf: [0, 0, 1, 1, 2, 3], groups: 4, indexDocs: 2 },
    { docs: [0, 0, 2, 0, 3], groupOf: [0, 0, 0, 1, 1], groups: 2, indexDocs: 0 },
    { docs: [5], groupOf: [0], groups: 1, indexDocs: 3 },
    { docs: [1, 1, 1, 1, 1], groupOf: [0, 1, 2, 0, 1], groups: 3, indexDocs: 1 },
    { docs: [2, 3, 0], groupOf: [0, 1, 1], groups: 2, indexDocs: 0 },
  ];
  for (const c of cases) {
    const offsets = [0];
    for (const d of c.docs) offsets.push(offsets[offsets.length - 1]! + d);
    const cfg = { inputs: c.docs.map((_, i) => `f${i}`), groups: c.groups, groupOf: c.groupOf } as DedupConfig;
    const num: Numbering = { offsets, indexDocs: c.indexDocs, runs: c.docs.map(() => 1) };
    const g = nodeGroups(cfg, num);
    const want = expected(cfg, num);
    assert.deepEqual(
      want.map((_, node) => g.of(node)),
      want,
      JSON.stringify(c),
    );
  }
});

test('SketchPairs: the pairs and estimates of sketchJaccard over the distinct members, in the same order', () => {
  let s = 0x2545f491;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  for (const numPerm of [256, 250, 40, 16]) {
    const words = Math.ceil(numPerm / 16);
    const width = 4 + words;
    const sk = new SketchPairs(numPerm);
    for (const [n, cap] of [
      [2, 2000],
      [40, 2000],
      [300, 7],
      // more pairs than one call of the kernel writes (OUT_PAIRS)
      [400, 2000],
    ] as const) {
      // sketches near one another: each a copy of an earlier one with some of its words changed
      const g = new Uint32Array(n * width);
      for (let i = 0; i < n; i++)
        for (let w = 0; w < words; w++) {
          const from = i > 0 && rnd() % 4 !== 0 ? g[(rnd() % i) * width + 4 + w]! : rnd();
          g[i * width + 4 + w] = rnd() % 3 === 0 ? from ^ (1 << (rnd() % 32)) : from;
        }
      const reps = Array.from({ length: n }, (_, i) => i).filter((i) => i % 5 !== 3);
      for (const min of [0.65, 0.8, 0, 1.01]) {
        const maxDiff = sk.maxDiff(min);
        const want: [number, number, number][] = [];
        for (let x = 0; x < reps.length; x++)
          for (let y = 0; y < Math.min(x, cap); y++) {
            const est = sketchJaccard(g, reps[x]! * width + 4, g, reps[y]! * width + 4, numPerm);
            if (est >= min) want.push([reps[x]!, reps[y]!, est]);
          }
        const got: [number, number, number][] = [];
        if (maxDiff >= 0) sk.each(g, n, width, reps, cap, maxDiff, (x, y, d) => got.push([x, y, sk.estOf[d]!]));
        assert.deepEqual(got, want, `numPerm ${numPerm}, ${n} members, cap ${cap}, min ${min}`);
        if (min === 0) assert.equal(got.length, pairsCompared(reps.length, cap));
      }
    }
  }
});
