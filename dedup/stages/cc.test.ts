import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from 'fzstd';
import { LocalExecutor } from '../../pipeline/executor.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';
import { buildConfig, minhashParams } from '../params.ts';
import { seededRandom } from '../minhash.ts';
import { writeFixture } from '../fixtures.ts';
import { runClustering, runDedup } from '../run.ts';
import { RecordReader } from '../runfile.ts';
import { components } from './cc.ts';
import { PartitionedWriter, inputFilesFor, pad } from './common.ts';

const quiet = { progress: { quiet: true } };
const noLog = () => {};

/** leaf → centre of every clustered node but the centres, from union-find. */
function starsOf(ends: Uint32Array): Map<number, number> {
  const { nodes, root } = components(ends);
  const size = new Map<number, number>();
  for (const r of root) size.set(r, (size.get(r) ?? 0) + 1);
  const m = new Map<number, number>();
  for (let i = 0; i < nodes.length; i++)
    if (root[i] !== i && size.get(root[i]!)! > 1) m.set(nodes[i]!, nodes[root[i]!]!);
  return m;
}

test('union-find gives the components as stars around their smallest node', () => {
  // 1-5-3 and 9-7, 4 alone (an edge to itself), 2-2-8 (repeated edge)
  const ends = Uint32Array.from([5, 1, 3, 5, 9, 7, 4, 4, 8, 2, 2, 8]);
  const { nodes, root } = components(ends);
  assert.deepEqual([...nodes], [1, 2, 3, 4, 5, 7, 8, 9]);
  assert.deepEqual(
    [...root].map((r) => nodes[r]),
    [1, 2, 1, 4, 1, 7, 2, 7],
  );
  assert.deepEqual(
    [...starsOf(ends)].sort((a, b) => a[0] - b[0]),
    [
      [3, 1],
      [5, 1],
      [8, 2],
      [9, 7],
    ],
  );
});

test('the in-memory clustering and the large-star / small-star rounds give the same clusters on random graphs', async () => {
  const rnd = seededRandom(7);
  const rand = (n: number) => rnd() % n;
  for (const [N, E, P] of [
    [60, 40, 1],
    [500, 300, 3],
    [2000, 2500, 4],
  ] as const) {
    const dir = tmpDir('dd-ccmem-');
    const cfg = {
      ...buildConfig('minhash', minhashParams.parse({ partitions: P }), {
        inputs: [],
        workDir: join(dir, 'work'),
        outDir: dir,
      }),
      partitions: P,
    };
    const ends: number[] = [];
    // random pairs, a chain (the rounds' worst case), edges to themselves
    for (let i = 0; i < E; i++) ends.push(rand(N), rand(N));
    const chain = Array.from({ length: 30 }, () => rand(N));
    for (let i = 1; i < chain.length; i++) ends.push(chain[i - 1]!, chain[i]!);
    ends.push(3, 3);
    // the edges as a verify step writes them: two producers, both directions, keyed by the first end's partition
    for (let t = 0; t < 2; t++) {
      const pw = new PartitionedWriter(join(dir, 'work', 'edges', `from-v${pad(t)}`), P, 2);
      for (let i = t * 2; i < ends.length; i += 4) pw.writeEdge(ends[i]!, ends[i + 1]!);
      pw.close();
    }
    const { starsDir } = await runClustering(
      cfg,
      new LocalExecutor({ inProcess: 'always', ...quiet }),
      join(dir, 'work', 'edges'),
      N,
      2,
      join(dir, 'work', '.state'),
      noLog,
    );
    const rounds = new Map<number, number>();
    for (let p = 0; p < P; p++)
      for (const f of inputFilesFor(starsDir, p))
        for (const r = new RecordReader(f); r.next();) {
          assert.ok(!rounds.has(r.rec[0]!), `leaf ${r.rec[0]} once`);
          rounds.set(r.rec[0]!, r.rec[1]!);
        }
    const mem = starsOf(Uint32Array.from(ends));
    assert.ok(mem.size > 10);
    assert.deepEqual(
      [...mem].sort((a, b) => a[0] - b[0]),
      [...rounds].sort((a, b) => a[0] - b[0]),
      `N ${N}, E ${E}, P ${P}`,
    );
  }
});

function docsOf(out: string): string[] {
  const lines: string[] = [];
  for (const f of readdirSync(join(out, 'docs')).sort())
    lines.push(
      ...Buffer.from(decompress(readFileSync(join(out, 'docs', f))))
        .toString('utf8')
        .split('\n'),
    );
  return lines;
}

/** Every keeper decision of reduce/ (node, keeper, size, keeper id), sorted. */
function decisionsOf(out: string, groups: number): string[] {
  const d: string[] = [];
  for (let g = 0; g < groups; g++)
    for (const f of inputFilesFor(join(out, 'work', 'reduce'), g)) {
      for (const r = new RecordReader(f); r.next();) d.push(`${g} ${[...r.rec].join(' ')} ${r.str}`);
    }
  return d.sort();
}

test('a dedup run clustered in memory writes the same documents, duplicates and decisions as one through the rounds', async () => {
  const dir = tmpDir('dd-ccrun-');
  const fx = writeFixture(join(dir, 'in'), { files: 3, perFile: 30, seed: 3 });
  for (const [workers, partitions, keep] of [
    [1, 0, 'first'],
    [2, 3, 'longest'],
  ] as const) {
    const res = [];
    for (const memoryClusteringEdges of [-1, undefined]) {
      const out = join(dir, `out-${workers}-${memoryClusteringEdges ?? 'mem'}`);
      const cfg = buildConfig('minhash', minhashParams.parse({ partitions, keep }), {
        inputs: fx.files,
        workDir: join(out, 'work'),
        outDir: out,
      });
      const r = await runDedup(cfg, new LocalExecutor({ inProcess: 'always', ...quiet }), {
        workers,
        log: noLog,
        memoryClusteringEdges,
      });
      const steps = readdirSync(join(out, 'work', '.state'));
      assert.equal(steps.includes('dedup-clusters'), memoryClusteringEdges === undefined);
      assert.equal(steps.includes('dedup-cc-000'), memoryClusteringEdges !== undefined);
      res.push({
        r,
        docs: docsOf(out),
        dups: readFileSync(join(out, 'duplicates.jsonl'), 'utf8'),
        decisions: decisionsOf(out, r.outputFiles.length),
      });
    }
    const [rounds, mem] = res as [(typeof res)[0], (typeof res)[0]];
    assert.ok(rounds.r.ccRounds > 1);
    assert.equal(mem.r.ccRounds, 0);
    assert.ok(mem.r.dropped > 0 && mem.decisions.length > mem.r.clusters);
    for (const k of ['read', 'kept', 'dropped', 'clusters', 'maxClusterSize'] as const)
      assert.equal(mem.r[k], rounds.r[k], k);
    assert.deepEqual(mem.decisions, rounds.decisions);
    assert.deepEqual(mem.docs, rounds.docs);
    assert.equal(mem.dups, rounds.dups);
  }
});
