import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeGroups, pairsCompared, SketchPairs, type CandidateWriters } from './buckets.ts';
import { sketchJaccard } from '../minhash.ts';
import { CAND_EST_SCALE, fileOf, groupOfFile, type Numbering } from './common.ts';
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
  for (const numPerm of [256, 250, 40]) {
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

test('SketchPairs.emit: the candidate records cand wrote, per group, in its order', () => {
  let s = 0x1b873593;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  const docs = [7, 0, 30, 12, 25];
  const offsets = [0];
  for (const d of docs) offsets.push(offsets[offsets.length - 1]! + d);
  const num: Numbering = { offsets, indexDocs: 0, runs: docs.map(() => 1) };
  for (const [groups, groupOf] of [
    [3, [0, 0, 1, 1, 2]],
    [1, [0, 0, 0, 0, 0]],
  ] as const) {
    const cfg = { inputs: docs.map((_, i) => `f${i}`), groups, groupOf: [...groupOf] } as DedupConfig;
    const ng = nodeGroups(cfg, num);
    for (const numPerm of [256, 40]) {
      const words = Math.ceil(numPerm / 16);
      const width = 4 + words;
      const sk = new SketchPairs(numPerm);
      const maxDiff = sk.maxDiff(0.8 - 0.15);
      sk.prepareEmit(num, ng, groups, maxDiff);
      const got: number[][] = Array.from({ length: groups }, () => []);
      const cw: CandidateWriters = {
        ws: got.map((into) => ({
          writeMany: (w: Uint32Array, n: number, at: number) => into.push(...w.subarray(at, at + 3 * n)),
        })),
        count: 0,
      };
      const want: number[][] = Array.from({ length: groups }, () => []);
      let wantCands = 0;
      let gotCands = 0;
      // buckets of several sizes (one bigger than a call of the kernel writes); a bucket's members are documents of
      // any file, sketches near one another
      for (const [n, cap] of [
        [2, 2000],
        [60, 2000],
        [300, 5],
        [240, 2000],
      ] as const) {
        const g = new Uint32Array(n * width);
        for (let i = 0; i < n; i++) {
          let f = rnd() % docs.length;
          while (docs[f] === 0) f = rnd() % docs.length;
          g[i * width + 2] = f;
          g[i * width + 3] = rnd() % docs[f]!;
          for (let w = 0; w < words; w++) {
            const from = i > 0 && rnd() % 8 !== 0 ? g[(rnd() % i) * width + 4 + w]! : rnd();
            g[i * width + 4 + w] = rnd() % 4 === 0 ? from ^ (3 << (2 * (rnd() % 16))) : from;
          }
        }
        const reps = Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 2);
        const node = (i: number) => offsets[g[i * width + 2]!]! + g[i * width + 3]!;
        for (let x = 0; x < reps.length; x++)
          for (let y = 0; y < Math.min(x, cap); y++) {
            const est = sketchJaccard(g, reps[x]! * width + 4, g, reps[y]! * width + 4, numPerm);
            const u = node(reps[x]!);
            const v = node(reps[y]!);
            if (est < 0.8 - 0.15 || u === v) continue;
            const lo = Math.min(u, v);
            const hi = Math.max(u, v);
            const e = Math.round(est * CAND_EST_SCALE);
            const gl = groupOfFile(cfg, fileOf(num, lo)[0]);
            const gh = groupOfFile(cfg, fileOf(num, hi)[0]);
            want[gl]!.push(lo, hi, e);
            if (gh !== gl) want[gh]!.push(hi, lo, e);
            wantCands++;
          }
        gotCands += sk.emit(g, n, width, reps, cap, maxDiff, cw);
      }
      assert.ok(wantCands > 1000, `${wantCands} candidates`);
      assert.equal(gotCands, wantCands);
      assert.deepEqual(got, want, `numPerm ${numPerm}, ${groups} groups`);
      assert.equal(
        cw.count,
        got.reduce((a, w) => a + w.length / 3, 0),
      );
    }
  }
});
