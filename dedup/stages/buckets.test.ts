import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeGroups } from './buckets.ts';
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
