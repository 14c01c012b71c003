/**
 * Stage 4c, reduce (one task per partition): pick each cluster's keeper.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { RecordReader } from '../runfile.ts';
import {
  pad,
  bitsFloat,
  crashPoint,
  fileOf,
  groupOfFile,
  PartitionedWriter,
  inputFilesFor,
  type PostArgs,
} from './common.ts';

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
  const newDocs = num.offsets[num.offsets.length - 1]!;
  const outDir = join(cfg.workDir, 'reduce', `from-${pad(rank)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.groups, 3, true, (r) => groupOfFile(cfg, fileOf(num, r[0]!)[0]));
  const rec = new Uint32Array(3);
  let clusters = 0;
  let maxSize = 0;
  try {
    for (let s = 0; s < order.length;) {
      let e = s;
      while (e < order.length && centres[order[e]!] === centres[order[s]!]) e++;
      // members s..e-1 (sorted by node; a node appears once)
      let best = order[s]!;
      const better = (a: number, b: number): boolean => {
        const ai = nodes[a]! >= newDocs;
        const bi = nodes[b]! >= newDocs;
        if (ai !== bi) return ai; // documents already in the index always win
        if (cfg.keep === 'longest' && lens[a] !== lens[b]) return lens[a]! > lens[b]!;
        if (cfg.keep === 'quality' && scores[a] !== scores[b]) return scores[a]! > scores[b]!;
        return nodes[a]! < nodes[b]!;
      };
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
  ctx.progress(1, 1);
  return { clusters, maxSize, members: order.length };
}

export const reduceTask = defineTask('dedup.reduce', runReduce);
