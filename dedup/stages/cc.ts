/**
 * Stage 3, connected components (one task per partition and round): alternating large-star / small-star rounds
 * (Kiveris et al.) until every component is a star around its smallest node; cc/r{R}/from-p{P}/to-p{Q}.bin.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { type DedupConfig } from '../config.ts';
import { RecordReader, CorruptIntermediateError } from '../runfile.ts';
import { pad, crashPoint, PartitionedWriter, inputFilesFor } from './common.ts';
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

export const ccTask = defineTask('dedup.cc', runCc);
