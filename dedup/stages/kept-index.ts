/**
 * Stage 6, index (bandTasks(cfg, 1) tasks over the bands and info.bin): signatures of the kept documents, for deduplicating later data against this run.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { INDEX_FILE, layout, type DedupConfig } from '../config.ts';
import { RecordReader, RecordWriter, readAllRecords } from '../runfile.ts';
import {
  bandRuns,
  infoPath,
  crashPoint,
  type Numbering,
  mergeRuns,
  indexBandPath,
  type PostArgs,
  keptPath,
  type RunFile,
} from './common.ts';

export interface IndexArgs extends PostArgs {
  newIndexDir: string;
}

/** Kept flags of every new document (one bit per node) and the index number of each kept one. */
function loadKept(cfg: DedupConfig, num: Numbering) {
  const F = cfg.inputs.length;
  const N = num.offsets[F]!;
  const bits = new Uint32Array(Math.ceil(N / 32) + 1);
  for (let fi = 0; fi < F; fi++) {
    const { words } = readAllRecords(keptPath(cfg, fi));
    const base = num.offsets[fi]!;
    const n = num.offsets[fi + 1]! - base;
    for (let d = 0; d < n; d++) if ((words[d >> 5]! >>> (d & 31)) & 1) bits[(base + d) >> 5]! |= 1 << ((base + d) & 31);
  }
  // rank prefix per 32-node word
  const before = new Uint32Array(bits.length + 1);
  const pc = (x: number) => {
    x = x - ((x >>> 1) & 0x55555555);
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
  };
  for (let w = 0; w < bits.length; w++) before[w + 1] = before[w]! + pc(bits[w]!);
  const isKept = (node: number) => ((bits[node >> 5]! >>> (node & 31)) & 1) === 1;
  const rankOf = (node: number) => before[node >> 5]! + pc(bits[node >> 5]! & ((1 << (node & 31)) - 1));
  return { isKept, rankOf, keptTotal: before[bits.length]! };
}

/** Items rank, rank + world, ... of 0..bands: band b < bands: its runs' kept documents (old index first); b = bands: info.bin (len, score, id). */
async function runIndex(rank: number, world: number, args: IndexArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const { bands, width } = layout(cfg);
  const kept = loadKept(cfg, num);
  const M = num.indexDocs;
  for (let b = rank; b <= bands; b += world) {
    if (b === bands) {
      const w = new RecordWriter(join(args.newIndexDir, 'info.bin'), 2, true);
      if (cfg.indexDir && M > 0) {
        const r = new RecordReader(join(cfg.indexDir, 'info.bin'));
        while (r.next()) w.write(r.rec, 0, r.str);
      }
      for (let fi = 0; fi < cfg.inputs.length; fi++) {
        const r = new RecordReader(infoPath(cfg, fi));
        let d = 0;
        while (r.next()) {
          if (kept.isKept(num.offsets[fi]! + d)) w.write(r.rec, 0, r.str);
          d++;
        }
      }
      w.close();
      continue;
    }
    const runs: (string | RunFile)[] = bandRuns(cfg, num, b);
    if (cfg.indexDir && M > 0) runs.push(indexBandPath(cfg.indexDir, b));
    const w = new RecordWriter(indexBandPath(args.newIndexDir, b), width);
    const rec = new Uint32Array(width);
    try {
      mergeRuns(runs, width, (g, n) => {
        for (let i = 0; i < n; i++) {
          const o = i * width;
          const file = g[o + 2]!;
          let idx: number;
          if (file === INDEX_FILE) idx = g[o + 3]!;
          else {
            const node = num.offsets[file]! + g[o + 3]!;
            if (!kept.isKept(node)) continue;
            idx = M + kept.rankOf(node);
          }
          rec.set(g.subarray(o, o + width));
          rec[2] = INDEX_FILE;
          rec[3] = idx;
          w.write(rec);
        }
      });
      crashPoint('index');
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
    ctx.progress(b + 1, bands + 1);
  }
  return { indexDocs: M + kept.keptTotal };
}

export const indexTask = defineTask('dedup.index', runIndex);
