/**
 * Stage 5, filter (one task per file group): kept docs -> docs/part-GGGGG.jsonl.zst, duplicates, excluded.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { readDocuments } from '../../pipeline/readers/index.ts';
import { JsonlWriter } from '../../pipeline/writers/index.ts';
import { RecordReader, RecordWriter } from '../runfile.ts';
import { pad, crashPoint, groupOfFile, inputFilesFor, type PostArgs, docsPartPath, keptPath } from './common.ts';

/** Group task: stream the group's input files, keep one document per cluster, write duplicates and exclusions. */
async function runFilter(rank: number, _world: number, args: PostArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const decisions = new Map<number, { keeper: number; size: number; keeperId: string }>();
  for (const f of inputFilesFor(join(cfg.workDir, 'reduce'), rank)) {
    const r = new RecordReader(f);
    while (r.next()) decisions.set(r.rec[0]!, { keeper: r.rec[1]!, size: r.rec[2]!, keeperId: r.str });
  }
  const out = new JsonlWriter(docsPartPath(cfg, rank));
  const excl = new JsonlWriter(join(cfg.excludedDir, `${cfg.stage}-part-${pad(rank)}.jsonl.zst`));
  const dups = new JsonlWriter(join(cfg.workDir, 'dups', `g${pad(rank)}.jsonl`));
  const stats = { read: 0, kept: 0, dropped: 0, rejected: 0 };
  const keptWriters: RecordWriter[] = [];
  try {
    for (let fi = 0; fi < cfg.inputs.length; fi++) {
      if (groupOfFile(cfg, fi) !== rank) continue;
      const kw = new RecordWriter(keptPath(cfg, fi), 1);
      keptWriters.push(kw);
      let word = 0;
      let d = 0;
      for await (const { doc } of readDocuments(cfg.inputs[fi]!, { ...cfg.reader, onReject: () => stats.rejected++ })) {
        const node = num.offsets[fi]! + d;
        if (node >= num.offsets[fi + 1]!)
          throw new Error(`${cfg.inputs[fi]}: more documents than when signatures were computed (input changed?)`);
        stats.read++;
        const dec = decisions.get(node);
        if (dec && dec.keeper !== node) {
          stats.dropped++;
          await dups.write({ id: doc.id, duplicate_of: dec.keeperId, cluster_size: dec.size, rule: cfg.rule });
          await excl.write({
            stage: cfg.stage,
            rule: cfg.rule,
            value: dec.keeperId,
            id: doc.id,
            text: doc.text,
            source: doc.source,
            ...(doc.lang ? { lang: doc.lang } : {}),
            meta: doc.meta,
          });
        } else {
          stats.kept++;
          word |= 1 << (d & 31);
          await out.write({
            id: doc.id,
            text: doc.text,
            source: doc.source,
            ...(doc.lang ? { lang: doc.lang } : {}),
            meta: { ...doc.meta, dup_cluster_size: dec ? dec.size : 1 },
          });
        }
        d++;
        if ((d & 31) === 0) {
          kw.write([word >>> 0]);
          word = 0;
        }
      }
      if ((d & 31) !== 0) kw.write([word >>> 0]);
      if (num.offsets[fi]! + d !== num.offsets[fi + 1]!)
        throw new Error(
          `${cfg.inputs[fi]}: ${d} documents, signatures saw ${num.offsets[fi + 1]! - num.offsets[fi]!} (input changed?)`,
        );
      ctx.progress(stats.read);
    }
    crashPoint('filter');
    for (const kw of keptWriters) kw.close();
    await out.close();
    await excl.close();
    await dups.close();
  } catch (e) {
    for (const kw of keptWriters) kw.abort();
    await out.abort();
    await excl.abort();
    await dups.abort();
    throw e;
  }
  return stats;
}

export const filterTask = defineTask('dedup.filter', runFilter);
