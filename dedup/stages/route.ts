/**
 * Stage 4a, route (one task per partition): every clustered node with its centre, sent to the group of its file.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { RecordReader } from '../runfile.ts';
import { pad, fileOf, groupOfFile, PartitionedWriter, inputFilesFor, type PostArgs } from './common.ts';

/** Partition task: every clustered node (leaf or centre) with its centre, sent to the group of the node's file. */
async function runRoute(rank: number, _world: number, args: PostArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const outDir = join(cfg.workDir, 'route', `from-${pad(rank)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.groups, 2, false, (r) => groupOfFile(cfg, fileOf(num, r[0]!)[0]));
  const rec = new Uint32Array(2);
  try {
    for (const f of inputFilesFor(args.starsDir, rank)) {
      const r = new RecordReader(f);
      while (r.next()) {
        const leaf = r.rec[0]!;
        const centre = r.rec[1]!;
        rec[0] = leaf;
        rec[1] = centre;
        pw.write(rec);
        rec[0] = centre;
        pw.write(rec);
      }
    }
    pw.close();
  } catch (e) {
    pw.abort();
    throw e;
  }
  ctx.progress(1, 1);
  return { records: pw.count };
}

export const routeTask = defineTask('dedup.route', runRoute);
