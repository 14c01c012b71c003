/**
 * Stage 1, signatures (one task per input file): sig/b{B}/f{F}.rRRRR.bin sorted by (key, doc), sig/info/f{F}.bin.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';
import { layout, type DedupConfig } from '../config.ts';
import { readDocuments, type DocReject } from '../../pipeline/readers/index.ts';
import { JsonlWriter } from '../../pipeline/writers/index.ts';
import { MinHasher } from '../minhash.ts';
import { RecordWriter } from '../runfile.ts';
import { blockRanges, simhash, tableKey, tables } from '../simhash.ts';
import { normalise } from '../text.ts';
import {
  pad,
  sigPath,
  infoPath,
  fileDonePath,
  xxhash,
  getPath,
  floatBits,
  U32List,
  crashPoint,
  minhashShingles,
  linesPath,
} from './common.ts';

export interface SigArgs {
  cfg: DedupConfig;
}

/** One task per input file (rank = file index, world = number of files). */
async function runSignatures(rank: number, world: number, args: SigArgs, ctx: TaskContext) {
  const cfg = args.cfg;
  const stats = {
    files: [] as { file: number; docs: number; bytes: number; rejected: number; runs: number; unsigned?: number }[],
    seconds: 0,
  };
  const t0 = performance.now();
  for (let fi = rank; fi < cfg.inputs.length; fi += world) {
    const done = fileDonePath(cfg, fi);
    if (existsSync(done)) {
      // finished by an earlier (killed) run of this task: its outputs are all in place
      const prev = JSON.parse((await import('node:fs')).readFileSync(done, 'utf8'));
      stats.files.push(prev);
      continue;
    }
    stats.files.push(await signFile(cfg, fi, ctx));
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

async function signFile(cfg: DedupConfig, fi: number, ctx: TaskContext) {
  const path = cfg.inputs[fi]!;
  const { bands, width } = layout(cfg);
  const recs: U32List[] = Array.from({ length: bands }, () => new U32List(4096));
  // leftovers of a killed attempt at this file
  for (let b = 0; b < bands; b++) {
    const bd = join(cfg.workDir, 'sig', `b${pad(b, 3)}`);
    if (existsSync(bd))
      for (const n of readdirSync(bd)) if (n.startsWith(`f${pad(fi)}.`)) rmSync(join(bd, n), { force: true });
  }
  const limitWords = Math.max(1024, Math.floor(cfg.sortBufferMB * 262144));
  let runs = 0;
  let buffered = 0;
  // sort each band's buffered records by (key, doc) and write them as one run
  const spill = () => {
    for (let b = 0; b < bands; b++) {
      const l = recs[b]!;
      const a = l.a;
      const n = l.n / width;
      const idx = new Uint32Array(n);
      for (let i = 0; i < n; i++) idx[i] = i;
      idx.sort((x, y) => {
        const ox = x * width;
        const oy = y * width;
        return a[ox]! - a[oy]! || a[ox + 1]! - a[oy + 1]! || a[ox + 3]! - a[oy + 3]!;
      });
      const w = new RecordWriter(
        sigPath(cfg, b, fi, runs),
        width,
        false,
        Math.max(4096, Math.min(1 << 16, n * width + 16)),
      );
      for (let i = 0; i < n; i++) w.write(a, idx[i]! * width);
      if (b === 1) crashPoint('signatures');
      w.close();
      l.n = 0;
    }
    runs++;
    buffered = 0;
  };
  const info = new RecordWriter(infoPath(cfg, fi), 2, true);
  // MinHash verification re-reads candidate documents by their line
  const lines = cfg.method === 'minhash' && cfg.minhash.verify ? new RecordWriter(linesPath(cfg, fi), 1) : undefined;
  const lineRec = new Uint32Array(1);
  const rejects: DocReject[] = [];
  let docs = 0;
  let bytes = 0;
  let unsigned = 0;
  const mh =
    cfg.method === 'minhash'
      ? new MinHasher({ bands: cfg.minhash.bands, rows: cfg.minhash.rows }, cfg.minhash.seed)
      : undefined;
  const hx = cfg.method === 'exact' ? await xxhash() : undefined;
  const simTables = cfg.method === 'simhash' ? tables(cfg.simhash.blocks, cfg.simhash.distance) : [];
  const ranges = cfg.method === 'simhash' ? blockRanges(cfg.simhash.blocks) : [];
  const push = (b: number, hi: number, lo: number, doc: number) => {
    const l = recs[b]!;
    l.push(hi);
    l.push(lo);
    l.push(fi);
    l.push(doc);
  };
  try {
    for await (const { doc, line } of readDocuments(path, { ...cfg.reader, onReject: (r) => rejects.push(r) })) {
      const d = docs++;
      if (lines) {
        lineRec[0] = line;
        lines.write(lineRec);
      }
      bytes += Buffer.byteLength(doc.text, 'utf8');
      const q = cfg.keep === 'quality' ? Number(getPath(doc.meta, cfg.qualityKey)) : 0;
      info.write([doc.text.length, floatBits(Number.isFinite(q) ? q : -Infinity)], 0, doc.id);
      if (mh) {
        mh.compute(minhashShingles(cfg, doc.text, doc.lang));
        for (let b = 0; b < bands; b++) {
          push(b, mh.bandHi[b]!, mh.bandLo[b]!, d);
          const l = recs[b]!;
          for (let w = 0; w < mh.sketch.length; w++) l.push(mh.sketch[w]!);
        }
      } else if (hx) {
        const h = hx.h64(normalise(doc.text, cfg.exact));
        push(0, Number(h >> 32n), Number(h & 0xffffffffn), d);
      } else {
        const h = simhash(doc.text, cfg.simhash, doc.lang);
        // no shingles: no signature records, so the document is never a candidate (kept, counted)
        if (!h) unsigned++;
        const [hi, lo] = h ?? [0, 0];
        for (let t = 0; h && t < simTables.length; t++) {
          const [k1, k2] = tableKey(hi, lo, simTables[t]!, ranges, t);
          push(t, k1, k2, d);
          recs[t]!.push(hi);
          recs[t]!.push(lo);
        }
      }
      buffered += bands * width;
      if (buffered >= limitWords) spill();
      if (d % 256 === 0) ctx.progress(bytes);
    }
    if (buffered > 0 || runs === 0) spill();
    info.close();
    lines?.close();
  } catch (e) {
    info.abort();
    lines?.abort();
    throw e;
  }
  if (rejects.length) {
    const rw = new JsonlWriter(join(cfg.workDir, 'sig', 'rejects', `f${pad(fi)}.jsonl`));
    for (const r of rejects) await rw.write({ ...r, stage: 'dedup-read' });
    await rw.close();
  }
  const st = { file: fi, docs, bytes, rejected: rejects.length, runs, unsigned };
  writeFileAtomic(fileDonePath(cfg, fi), JSON.stringify(st));
  ctx.log(
    `${path}: ${docs} docs signed (${runs} sorted run(s) per band)${unsigned ? `, ${unsigned} without shingles (kept unclustered)` : ''}${rejects.length ? `, ${rejects.length} rejected` : ''}`,
  );
  return st;
}

export const signaturesTask = defineTask('dedup.signatures', runSignatures);
