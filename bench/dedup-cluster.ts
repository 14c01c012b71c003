/**
 * Clustering benchmark: a synthetic candidate-pair graph (default 20M documents, 50M pairs) clustered by the
 * partitioned large-star / small-star rounds of dedup/stages/cc.ts through the LocalExecutor, then checked against an
 * in-memory union-find (the check holds the whole graph; the clustering tasks do not).
 *
 *   npx tsx bench/dedup-cluster.ts [--nodes 20000000] [--edges 50000000] [--workers 2] [--dir /tmp/steel-dedup-cluster]
 *
 * Graph: half of the documents are singletons; the rest form clusters with power-law sizes (2 … 200,000; random
 * recursive trees plus random extra intra-cluster pairs up to the edge budget) and 10 long chains (paths of 10,000
 * documents, the worst case for label propagation). Node ids are scattered by a random bijection.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalExecutor } from '../pipeline/executor.ts';
import { RecordReader, RecordWriter } from '../dedup/runfile.ts';
import { seededRandom } from '../dedup/minhash.ts';
import { runClustering } from '../dedup/run.ts';
import { buildConfig, minhashParams } from '../dedup/params.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20000000' },
    edges: { type: 'string', default: '50000000' },
    workers: { type: 'string', default: '2' },
    partitions: { type: 'string', default: '0' },
    producers: { type: 'string', default: '8' },
    dir: { type: 'string', default: '/tmp/steel-dedup-cluster' },
  },
});
const N = Number(values.nodes);
const E = Number(values.edges);
const workers = Number(values.workers);
const P = Number(values.partitions) || Math.max(workers, Math.ceil(N / 2_000_000));
const PRODUCERS = Number(values.producers);
const dir = values.dir!;
rmSync(dir, { recursive: true, force: true });
const rnd = seededRandom(99);
const rand = () => rnd() / 2 ** 32;
const t0 = performance.now();

// scatter: node(i) = (i * A + B) mod N, A coprime with N
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
let A = 2654435761 % N;
while (gcd(A, N) !== 1) A++;
const B = 12345 % N;
const scatter = (i: number) => Number((BigInt(i) * BigInt(A) + BigInt(B)) % BigInt(N));

// union-find for the check
const parent = new Int32Array(N);
for (let i = 0; i < N; i++) parent[i] = i;
const find = (x: number): number => {
  while (parent[x] !== x) {
    parent[x] = parent[parent[x]!]!;
    x = parent[x]!;
  }
  return x;
};

const edgesDir = join(dir, 'edges');
const writers: RecordWriter[][] = Array.from({ length: PRODUCERS }, (_, pr) =>
  Array.from(
    { length: P },
    (_, q) =>
      new RecordWriter(
        join(edgesDir, `from-${String(pr).padStart(5, '0')}`, `to-${String(q).padStart(5, '0')}.bin`),
        2,
        false,
        1 << 15,
      ),
  ),
);
const rec = new Uint32Array(2);
let written = 0;
const addEdge = (i: number, j: number) => {
  const u = scatter(i);
  const v = scatter(j);
  const pr = written % PRODUCERS;
  rec[0] = u;
  rec[1] = v;
  writers[pr]![u % P]!.write(rec);
  rec[0] = v;
  rec[1] = u;
  writers[pr]![v % P]!.write(rec);
  written++;
  const a = find(u);
  const b = find(v);
  if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
};

// 10 chains of 10,000
let next = 0;
const CHAIN = Math.min(10_000, Math.floor(N / 100));
for (let c = 0; c < 10; c++) {
  for (let k = 1; k < CHAIN; k++) addEdge(next + k - 1, next + k);
  next += CHAIN;
}
// power-law clusters over half the nodes; tree edges first, then extra pairs up to E
const clustered = Math.floor(N / 2);
const clusters: [number, number][] = [];
while (next < clustered) {
  const s = Math.min(
    clustered - next,
    Math.max(2, Math.min(200_000, Math.floor(2 / Math.pow(rand() || 1e-9, 1 / 1.3)))),
  );
  if (s < 2) break;
  clusters.push([next, s]);
  for (let k = 1; k < s; k++) addEdge(next + k, next + Math.floor(rand() * k));
  next += s;
}
const treeEdges = written;
const extraPerNode = Math.max(0, (E - written) / Math.max(1, next - 10 * CHAIN));
for (const [start, s] of clusters) {
  let extra = Math.floor(s * extraPerNode + rand());
  while (extra-- > 0 && written < E) addEdge(start + Math.floor(rand() * s), start + Math.floor(rand() * s));
}
while (written < E) {
  const [start, s] = clusters[Math.floor(rand() * clusters.length)]!;
  addEdge(start + Math.floor(rand() * s), start + Math.floor(rand() * s));
}
for (const ws of writers) for (const w of ws) w.close();
const genS = (performance.now() - t0) / 1000;
console.error(
  `generated ${N} nodes, ${written} pairs (${treeEdges} tree edges, ${clusters.length} clusters + 10 chains of ${CHAIN}) in ${genS.toFixed(1)} s; ${P} partitions`,
);

// cluster
const cfg = {
  ...buildConfig('minhash', minhashParams.parse({}), { inputs: [], workDir: dir, outDir: dir }),
  partitions: P,
};
const t1 = performance.now();
const state = join(dir, '.state');
mkdirSync(state, { recursive: true });
const logLines: string[] = [];
const { starsDir, rounds } = await runClustering(
  cfg,
  new LocalExecutor({ progress: { quiet: true } }),
  edgesDir,
  N,
  workers,
  state,
  (m) => {
    logLines.push(m);
    console.error(m);
  },
);
const clusterS = (performance.now() - t1) / 1000;

// check: every leaf maps to the smallest node of its component; every non-singleton non-minimum node is a leaf
const minOf = new Int32Array(N).fill(-1);
for (let i = 0; i < N; i++) {
  const r = find(i);
  if (minOf[r] === -1 || i < minOf[r]!) minOf[r] = i;
}
const compSize = new Int32Array(N);
for (let i = 0; i < N; i++) compSize[find(i)]!++;
let expectedLeaves = 0;
for (let i = 0; i < N; i++) if (compSize[find(i)]! > 1 && minOf[find(i)] !== i) expectedLeaves++;
let leaves = 0;
let bad = 0;
for (let q = 0; q < P; q++) {
  for (let pr = 0; pr < P; pr++) {
    const r = new RecordReader(
      join(starsDir, `from-${String(pr).padStart(5, '0')}`, `to-${String(q).padStart(5, '0')}.bin`),
    );
    for (let c = r.nextChunk(); c; c = r.nextChunk()) {
      for (let i = 0; i < c.length; i += 2) {
        leaves++;
        if (minOf[find(c[i]!)] !== c[i + 1]) bad++;
      }
    }
  }
}
const peakRss = logLines.map((l) => Number(/peak RSS ≤ (\d+)/.exec(l)?.[1] ?? 0)).reduce((a, b) => Math.max(a, b), 0);
const ok = bad === 0 && leaves === expectedLeaves;
console.log(
  JSON.stringify(
    {
      nodes: N,
      pairs: written,
      partitions: P,
      workers,
      rounds,
      clusteringSeconds: Math.round(clusterS),
      generationSeconds: Math.round(genS),
      peakTaskRssMB: peakRss,
      benchProcessPeakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      leaves,
      expectedLeaves,
      wrongLabels: bad,
      correct: ok,
    },
    null,
    1,
  ),
);
if (!ok) process.exitCode = 1;
rmSync(dir, { recursive: true, force: true });
