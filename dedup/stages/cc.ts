/**
 * Stage 3, connected components, two ways:
 *  - rounds (one task per partition and round): alternating large-star / small-star rounds (Kiveris et al.) until
 *    every component is a star around its smallest node; cc/r{R}/from-p{P}/to-p{Q}.bin. Memory per task: its
 *    partition's edges, so any number of edges.
 *  - in memory (one task, for a small edge set: dedup/run.ts's size rule): every edge read at once, the components by
 *    union-find, and stages 4a–c (route, join, reduce) done in the same task: reduce/from-00000/to-g{G}.bin, the same
 *    records as the rounds and the reduce tasks write (the filter looks them up by node).
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { type DedupConfig } from '../config.ts';
import { RecordReader, CorruptIntermediateError } from '../runfile.ts';
import {
  pad,
  bitsFloat,
  crashPoint,
  fileOf,
  loadInfo,
  PartitionedWriter,
  inputFilesFor,
  type PostArgs,
} from './common.ts';
import { writeKeepers } from './reduce.ts';
import { releaseWrittenSets } from './verify.ts';

export interface CcArgs {
  cfg: DedupConfig;
  /** Folders holding `from-*` producer folders whose `to-${pad(rank)}.bin` files are this task's input. */
  inputDir: string;
  outputDir: string;
  mode: 'large' | 'small';
  totalNodes: number;
}

/**
 * One task per node partition p (nodes u with u % P == p). Reads its directed edges (u -> v), builds adjacency lists
 * with a counting sort on u / P (memory: this partition's edges + N / P counters), and applies
 *   large-star: m = min(N(u) ∪ {u}); emit (v, m) for every neighbour v > u
 *   small-star: (edges keyed by their larger end) m = min(N(u) ∪ {u}); emit (v, m) for v in N(u) ∪ {u}, v ≠ m
 * Large-star output is keyed by the larger end (input of small-star); small-star output goes both ways.
 * `unstable` counts nodes that are not yet a star leaf / star centre (0 in a large-star round = converged).
 */
async function runCc(rank: number, world: number, args: CcArgs, ctx: TaskContext) {
  // sets a verify-sets task of this worker process held for a verify task it did not run
  releaseWrittenSets();
  const { cfg, mode } = args;
  const P = cfg.partitions;
  const p = rank;
  const files = inputFilesFor(args.inputDir, p);
  // load edges
  const readers = files.map((f) => new RecordReader(f, 1 << 18));
  let E = 0;
  for (const r of readers) E += r.count;
  const src = new Uint32Array(E);
  const dst = new Uint32Array(E);
  let k = 0;
  for (const r of readers) {
    if (r.width !== 2) throw new CorruptIntermediateError(r.path, `record width ${r.width}, expected 2`);
    for (let c = r.nextChunk(); c !== null; c = r.nextChunk()) {
      for (let i = 0; i < c.length; i += 2) {
        const u = c[i]!;
        if (u % P !== p) throw new CorruptIntermediateError(r.path, `edge key ${u} does not belong to partition ${p}`);
        src[k] = u;
        dst[k++] = c[i + 1]!;
      }
    }
  }
  const nLocal = Math.ceil(args.totalNodes / P) + 1;
  const start = new Uint32Array(nLocal + 1);
  for (let i = 0; i < E; i++) start[Math.floor(src[i]! / P) + 1]!++;
  for (let i = 0; i < nLocal; i++) start[i + 1]! += start[i]!;
  const fillPos = start.slice(0, nLocal);
  const adj = new Uint32Array(E);
  for (let i = 0; i < E; i++) adj[fillPos[Math.floor(src[i]! / P)]!++] = dst[i]!;
  const outDir = join(args.outputDir, `from-${pad(p)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, P, 2);
  const rec = new Uint32Array(2);
  const emit = (a: number, b: number) => {
    rec[0] = a;
    rec[1] = b;
    pw.write(rec);
  };
  let unstable = 0;
  let nodes = 0;
  try {
    for (let l = 0; l < nLocal; l++) {
      const s = start[l]!;
      const e = start[l + 1]!;
      if (s === e) continue;
      nodes++;
      const u = l * P + p;
      const nb = adj.subarray(s, e);
      let n = e - s;
      if (n === 2) {
        if (nb[0]! > nb[1]!) nb.reverse();
        if (nb[0] === nb[1]) n = 1;
      } else if (n > 2) {
        nb.sort();
        // unique in place
        n = 0;
        for (let i = 0; i < nb.length; i++) if (i === 0 || nb[i] !== nb[n - 1]) nb[n++] = nb[i]!;
      }
      const m = Math.min(u, nb[0]!);
      if (mode === 'large') {
        const hasSmaller = nb[0]! < u;
        if (hasSmaller && n > 1) unstable++;
        for (let i = 0; i < n; i++) {
          const v = nb[i]!;
          if (v > u) emit(v, m);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const v = nb[i]!;
          if (v !== m) {
            emit(v, m);
            emit(m, v);
          }
        }
        if (u !== m) {
          emit(u, m);
          emit(m, u);
        }
      }
    }
    crashPoint(`cc-${mode}`);
    pw.close();
  } catch (err) {
    pw.abort();
    throw err;
  }
  ctx.progress(1, 1);
  return {
    edgesIn: E,
    edgesOut: pw.count,
    nodes,
    unstable,
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** The in-memory clustering's arguments: `edgesDir` holds the `from-*` producer folders of every partition's edges. */
export interface CcMemoryArgs extends Omit<PostArgs, 'starsDir'> {
  mode: 'memory';
  edgesDir: string;
}

/** Every edge under `edgesDir` (the `to-*` files of partitions 0 … P − 1), both ends of edge i at 2i and 2i + 1. */
function readAllEdges(edgesDir: string, partitions: number): Uint32Array {
  const readers = [];
  for (let p = 0; p < partitions; p++) for (const f of inputFilesFor(edgesDir, p)) readers.push(new RecordReader(f));
  let E = 0;
  for (const r of readers) {
    if (r.width !== 2) throw new CorruptIntermediateError(r.path, `record width ${r.width}, expected 2`);
    E += r.count;
  }
  const ends = new Uint32Array(2 * E);
  let k = 0;
  for (const r of readers) {
    for (let c = r.nextChunk(); c !== null; c = r.nextChunk()) {
      ends.set(c, k);
      k += c.length;
    }
  }
  return ends;
}

/**
 * Connected components of the graph whose edge i joins ends[2i] and ends[2i + 1]: the distinct nodes (ascending) and
 * each one's component as the index (into `nodes`) of its smallest node. Union-find: a root is its set's smallest
 * index, so the clusters and centres are those of the rounds (a star around the component's smallest node).
 */
export function components(ends: Uint32Array): { nodes: Uint32Array; root: Uint32Array } {
  const sorted = ends.slice().sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i]!;
  const nodes = sorted.subarray(0, n);
  const indexOf = (x: number): number => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (nodes[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const root = new Uint32Array(n);
  for (let i = 0; i < n; i++) root[i] = i;
  const find = (x: number): number => {
    while (root[x] !== x) {
      const up = root[root[x]!]!;
      root[x] = up;
      x = up;
    }
    return x;
  };
  for (let i = 0; i < ends.length; i += 2) {
    const a = find(indexOf(ends[i]!));
    const b = find(indexOf(ends[i + 1]!));
    if (a < b) root[b] = a;
    else if (b < a) root[a] = b;
  }
  for (let i = 0; i < n; i++) root[i] = find(i);
  return { nodes, root };
}

/**
 * One task: every edge, its components by union-find, each clustered document's length / score / id, and each
 * cluster's keeper (reduce.ts's writeKeepers) as reduce/from-00000/. Memory: the edges and their distinct nodes, and
 * the info of every document (loadInfo of each group).
 */
async function runCcMemory(args: CcMemoryArgs, ctx: TaskContext) {
  releaseWrittenSets();
  const { cfg, num } = args;
  const ends = readAllEdges(args.edgesDir, cfg.partitions);
  const { nodes, root } = components(ends);
  // members of clusters of two or more, by centre then node (the nodes ascend: a counting sort by root keeps that)
  const n = nodes.length;
  const start = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) start[root[i]! + 1]!++;
  let members = 0;
  for (let i = 0; i < n; i++) if (start[i + 1]! < 2) start[i + 1] = 0;
  for (let i = 0; i < n; i++) {
    members += start[i + 1]!;
    start[i + 1]! += start[i]!;
  }
  const centres = new Uint32Array(members);
  const member = new Uint32Array(members);
  const lens = new Uint32Array(members);
  const scores = new Float64Array(members);
  const ids: string[] = new Array<string>(members);
  const fill = start.slice(0, n);
  const info: ReturnType<typeof loadInfo> = new Map();
  for (let g = 0; g < cfg.groups; g++) for (const [f, fi] of loadInfo(cfg, num, g)) info.set(f, fi);
  for (let i = 0; i < n; i++) {
    const r = root[i]!;
    if (start[r + 1] === start[r]) continue; // a node on its own (an edge to itself)
    const j = fill[r]!++;
    const node = nodes[i]!;
    const [file, doc] = fileOf(num, node);
    const fi = info.get(file);
    if (!fi || doc >= fi.ids.length)
      throw new Error(`dedup clustering: node ${node} (file ${file}, doc ${doc}) has no document info`);
    centres[j] = nodes[r]!;
    member[j] = node;
    lens[j] = fi.len[doc]!;
    scores[j] = bitsFloat(fi.score[doc]!);
    ids[j] = fi.ids[doc]!;
  }
  crashPoint('cc-memory');
  const order = Array.from({ length: members }, (_, i) => i);
  // this task alone writes reduce/ (a reduce task's folder of an earlier, interrupted run is replaced)
  rmSync(join(cfg.workDir, 'reduce'), { recursive: true, force: true });
  const outDir = join(cfg.workDir, 'reduce', `from-${pad(0)}`);
  const st = writeKeepers(cfg, num, { centres, nodes: member, lens, scores, ids }, order, outDir);
  ctx.progress(1, 1);
  return { ...st, members, edgesIn: ends.length / 2, nodes: n };
}

/** A round task's result, or the in-memory task's (`clusters` in it). */
export type CcResult = Awaited<ReturnType<typeof runCc>> | Awaited<ReturnType<typeof runCcMemory>>;

export const ccTask = defineTask(
  'dedup.cc',
  (rank: number, world: number, args: CcArgs | CcMemoryArgs, ctx): Promise<CcResult> =>
    args.mode === 'memory' ? runCcMemory(args, ctx) : runCc(rank, world, args, ctx),
);
