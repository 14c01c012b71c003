/**
 * Stage 4b, join (one task per file group): attach length / score / id to every clustered node of the group.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { RecordReader } from '../runfile.ts';
import { pad, crashPoint, fileOf, PartitionedWriter, inputFilesFor, type PostArgs, loadInfo } from './common.ts';

/** Group task: attach length, score and id; send (centre, node, len, score, id) to the centre's partition. */
async function runJoin(rank: number, _world: number, args: PostArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const info = loadInfo(cfg, num, rank);
  const outDir = join(cfg.workDir, 'join', `from-${pad(rank)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.partitions, 4, true);
  const seen = new Set<number>();
  const rec = new Uint32Array(4);
  try {
    for (const f of inputFilesFor(join(cfg.workDir, 'route'), rank)) {
      const r = new RecordReader(f);
      while (r.next()) {
        const node = r.rec[0]!;
        if (seen.has(node)) continue;
        seen.add(node);
        const [file, doc] = fileOf(num, node);
        const fi = info.get(file);
        if (!fi || doc >= fi.ids.length)
          throw new Error(`dedup join: node ${node} (file ${file}, doc ${doc}) has no document info`);
        rec[0] = r.rec[1]!;
        rec[1] = node;
        rec[2] = fi.len[doc]!;
        rec[3] = fi.score[doc]!;
        pw.write(rec, fi.ids[doc]!);
      }
    }
    crashPoint('join');
    pw.close();
  } catch (e) {
    pw.abort();
    throw e;
  }
  ctx.progress(1, 1);
  return { nodes: seen.size };
}

export const joinTask = defineTask('dedup.join', runJoin);
