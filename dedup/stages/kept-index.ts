/**
 * Stage 6, index (one task): the kept documents' signatures, for deduplicating later data against this run. The
 * signature records are not copied: index/src/ links each input file's signature section file and the filter's kept
 * bits of its documents (and carries a previous index's sources the same way); index/manifest.json (written by
 * dedup/run.ts) lists them (IndexSource), and a later run reads only the kept documents' records, numbered as index
 * documents (IndexRuns). info.bin: length, score and id of every index document.
 * Every file is written under a temporary name and renamed when complete (or linked from one); every intermediate is
 * checksummed and verified when read.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import type { DedupConfig } from '../config.ts';
import { RecordReader, RecordWriter, readAllRecords } from '../runfile.ts';
import {
  infoPath,
  crashPoint,
  type Numbering,
  type PostArgs,
  keptPath,
  sigPath,
  pad,
  RankBits,
  readIndexManifest,
  indexSources,
  linkOrCopy,
  type IndexSource,
} from './common.ts';

export interface IndexArgs extends PostArgs {
  newIndexDir: string;
}

/** Kept flags of every new document (one bit per node), with the rank of each among the kept. */
function loadKept(cfg: DedupConfig, num: Numbering): RankBits {
  const F = cfg.inputs.length;
  const N = num.offsets[F]!;
  const bits = new Uint32Array(Math.ceil(N / 32) + 1);
  for (let fi = 0; fi < F; fi++) {
    const { words } = readAllRecords(keptPath(cfg, fi));
    const base = num.offsets[fi]!;
    const n = num.offsets[fi + 1]! - base;
    for (let d = 0; d < n; d++) if ((words[d >> 5]! >>> (d & 31)) & 1) bits[(base + d) >> 5]! |= 1 << ((base + d) & 31);
  }
  return new RankBits(bits, N);
}

/** The index's sources (IndexSource) linked under newIndexDir/src/, and info.bin. */
async function runIndex(_rank: number, _world: number, args: IndexArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const kept = loadKept(cfg, num);
  const M = num.indexDocs;
  const dir = args.newIndexDir;
  // a killed attempt's links are replaced
  rmSync(join(dir, 'src'), { recursive: true, force: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  const sources: IndexSource[] = [];
  const link = (from: string, name: string) => {
    linkOrCopy(from, join(dir, 'src', name));
    return `src/${name}`;
  };
  // the previous index's documents first, numbered as they were there
  if (cfg.indexDir && M > 0) {
    const old = readIndexManifest(cfg.indexDir);
    for (const s of indexSources(old)) {
      const k = `s${pad(sources.length)}`;
      if (s.kind === 'sig') {
        sources.push({
          ...s,
          sig: link(join(cfg.indexDir, s.sig), `${k}.sig.bin`),
          kept: link(join(cfg.indexDir, s.kept), `${k}.kept.bin`),
        });
      } else {
        mkdirSync(join(dir, 'src', k));
        for (let b = 0; b < old.bands; b++)
          link(join(cfg.indexDir, s.dir, `b${pad(b, 3)}.bin`), `${k}/b${pad(b, 3)}.bin`);
        sources.push({ kind: 'bands', dir: `src/${k}` });
      }
    }
  }
  // then this run's kept documents in node order (a file without signature records, e.g. SimHash documents too short
  // to sign, still numbers its kept documents)
  for (let fi = 0; fi < cfg.inputs.length; fi++) {
    const docs = num.offsets[fi + 1]! - num.offsets[fi]!;
    const base = M + kept.rank(num.offsets[fi]!);
    if (num.runs[fi]! === 0 || M + kept.rank(num.offsets[fi + 1]!) === base) continue;
    const k = `s${pad(sources.length)}`;
    const sig = link(sigPath(cfg, fi), `${k}.sig.bin`);
    sources.push({ kind: 'sig', sig, kept: link(keptPath(cfg, fi), `${k}.kept.bin`), runs: num.runs[fi]!, docs, base });
  }
  const w = new RecordWriter(join(dir, 'info.bin'), 2, true);
  try {
    if (cfg.indexDir && M > 0) {
      const r = new RecordReader(join(cfg.indexDir, 'info.bin'));
      while (r.next()) w.write(r.rec, 0, r.str);
    }
    for (let fi = 0; fi < cfg.inputs.length; fi++) {
      const r = new RecordReader(infoPath(cfg, fi));
      let d = 0;
      while (r.next()) {
        if (kept.has(num.offsets[fi]! + d)) w.write(r.rec, 0, r.str);
        d++;
      }
    }
    crashPoint('index');
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  ctx.progress(1, 1);
  return { indexDocs: M + kept.count, sources };
}

export const indexTask = defineTask('dedup.index', runIndex);
