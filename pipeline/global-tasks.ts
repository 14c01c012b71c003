/** Task functions of the built-in global ops (run through the executor). */
import { join } from 'node:path';
import { defineTask, type TaskContext } from './task.ts';
import { readRecords, recordToDocument } from './readers/index.ts';
import { openDocWriter, RejectsWriter } from './writers/index.ts';
import { partName } from './map-task.ts';

export interface RepartitionArgs {
  inputFiles: string[];
  workDir: string;
  outDir: string;
}

/** Task r of P: keeps the documents whose global index (over all inputs, in order) is r mod P. */
async function runRepartition(rank: number, world: number, args: RepartitionArgs, ctx: TaskContext) {
  const out = openDocWriter(join(args.workDir, partName(rank)));
  const rejects = new RejectsWriter(join(args.outDir, 'rejects', `repartition-${partName(rank, '.jsonl')}`));
  let index = 0;
  let read = 0;
  let kept = 0;
  let rejected = 0;
  try {
    for (const [fi, f] of args.inputFiles.entries()) {
      for await (const it of readRecords(f, { format: 'jsonl' })) {
        const mine = index++ % world === rank;
        if (!mine) continue;
        read++;
        if (it.kind === 'reject') {
          rejected++;
          await rejects.write(it.loc, 'repartition', it.error, it.raw);
          continue;
        }
        try {
          await out.write(recordToDocument(it.record, it.loc));
          kept++;
        } catch (e) {
          rejected++;
          await rejects.write(it.loc, 'repartition', (e as Error).message);
        }
      }
      ctx.progress(fi + 1, args.inputFiles.length);
    }
    await rejects.close();
    await out.close();
  } catch (e) {
    await Promise.allSettled([out.abort(), rejects.abort()]);
    throw e;
  }
  return { read, kept, rejected, file: join(args.workDir, partName(rank)) };
}

export const repartitionTask = defineTask('pipeline.repartition', runRepartition);
