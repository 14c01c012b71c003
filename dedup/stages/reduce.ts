/**
 * Stage 4c, reduce (one task per partition): pick each cluster's keeper.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { type DedupConfig } from '../config.ts';
import { RecordReader } from '../runfile.ts';
import {
  pad,
  bitsFloat,
  crashPoint,
  fileOf,
  groupOfFile,
  PartitionedWriter,
  inputFilesFor,
  type Numbering,
  type PostArgs,
} from './common.ts';

/** Clustered documents: member i is node nodes[i] of the cluster centred on centres[i], with its length, score, id. */
export interface Members {
  centres: ArrayLike<number>;
  nodes: ArrayLike<number>;
  lens: ArrayLike<number>;
  scores: ArrayLike<number>;
  ids: readonly string[];
}

/**
 * The keeper decisions of the members in `order` (sorted by centre, then node; a node appears once) as reduce/ records
 * (node, keeper, cluster size; the keeper's id) in `outDir`, one file per group, sent to each node's group. Written
 * completely or not at all; returns the clusters and the largest one's size.
 */
export function writeKeepers(
  cfg: DedupConfig,
  num: Numbering,
  m: Members,
  order: ArrayLike<number>,
  outDir: string,
): { clusters: number; maxSize: number } {
  const { centres, nodes, lens, scores, ids } = m;
  const newDocs = num.offsets[num.offsets.length - 1]!;
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.groups, 3, true, (r) => groupOfFile(cfg, fileOf(num, r[0]!)[0]));
  const rec = new Uint32Array(3);
  let clusters = 0;
  let maxSize = 0;
  const better = (a: number, b: number): boolean => {
    const ai = nodes[a]! >= newDocs;
    const bi = nodes[b]! >= newDocs;
    if (ai !== bi) return ai; // documents already in the index always win
    if (cfg.keep === 'longest' && lens[a] !== lens[b]) return lens[a]! > lens[b]!;
    if (cfg.keep === 'quality' && scores[a] !== scores[b]) return scores[a]! > scores[b]!;
    return nodes[a]! < nodes[b]!;
  };
  try {
    for (let s = 0; s < order.length;) {
      let e = s;
      while (e < order.length && centres[order[e]!] === centres[order[s]!]) e++;
      // members s..e-1 (sorted by node; a node appears once)
      let best = order[s]!;
      for (let i = s + 1; i < e; i++) if (better(order[i]!, best)) best = order[i]!;
      const size = e - s;
      clusters++;
      if (size > maxSize) maxSize = size;
      for (let i = s; i < e; i++) {
        const j = order[i]!;
        rec[0] = nodes[j]!;
        rec[1] = nodes[best]!;
        rec[2] = size;
        pw.write(rec, ids[best]!);
      }
      s = e;
    }
    crashPoint('reduce');
    pw.close();
  } catch (e) {
    pw.abort();
    throw e;
  }
  return { clusters, maxSize };
}

/** Partition task: per cluster (centre), choose the keeper and count members; send decisions to each node's group. */
async function runReduce(rank: number, _world: number, args: PostArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const centres: number[] = [];
  const nodes: number[] = [];
  const lens: number[] = [];
  const scores: number[] = [];
  const ids: string[] = [];
  for (const f of inputFilesFor(join(cfg.workDir, 'join'), rank)) {
    const r = new RecordReader(f);
    while (r.next()) {
      centres.push(r.rec[0]!);
      nodes.push(r.rec[1]!);
      lens.push(r.rec[2]!);
      scores.push(bitsFloat(r.rec[3]!));
      ids.push(r.str);
    }
  }
  const order = Array.from(centres.keys()).sort((a, b) => centres[a]! - centres[b]! || nodes[a]! - nodes[b]!);
  const outDir = join(cfg.workDir, 'reduce', `from-${pad(rank)}`);
  const st = writeKeepers(cfg, num, { centres, nodes, lens, scores, ids }, order, outDir);
  ctx.progress(1, 1);
  return { ...st, members: order.length };
}

export const reduceTask = defineTask('dedup.reduce', runReduce);
