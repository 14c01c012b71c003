/**
 * Stage 1, signatures (one task per input file): sig/f{F}.bin (one section file: per band, runs sorted by (key, doc)),
 * sig/info/f{F}.bin.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';
import { layout, type DedupConfig } from '../config.ts';
import { readDocuments, type CorruptFile, type DocReject, type InputFileError } from '../../pipeline/readers/index.ts';
import type { Document } from '../../pipeline/document.ts';
import { RejectsWriter } from '../../pipeline/writers/index.ts';
import { MinHasher } from '../minhash.ts';
import { RecordWriter, SectionFileWriter } from '../runfile.ts';
import { blockRanges, simhash, tableKey, tables } from '../simhash.ts';
import { normalise, wordShingles } from '../text.ts';
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
  minhashMode,
  linesPath,
} from './common.ts';

export interface SigArgs {
  cfg: DedupConfig;
  /**
   * An input file that cannot be read to its end: its documents before the damage are signed and the file is recorded
   * (SignedFile.corrupt, OUT/rejects/) when true (`steel dedup`); otherwise its error stops the run (--strict, and a
   * recipe's dedup step, which reads the run's own files).
   */
  keepCorrupt?: boolean;
}

/** A corrupt input file as signed: its record, with the size and mtime it had (a rerun redoes it once they change). */
export type SignedCorrupt = CorruptFile & { size: number; mtime_ms: number };

/**
 * The rejects of input `fi` (pipeline/writers RejectsWriter lines): its records that are not documents, and the file
 * itself when it could not be read to its end. `steel dedup`: DIR/rejects/.
 */
export const rejectsPath = (cfg: DedupConfig, fi: number) =>
  join(cfg.outDir, 'rejects', `${cfg.stage}-f${pad(fi)}.jsonl`);

/** What the signatures of one input file came to (sig/done/fFFFFF.json, written last). */
export interface SignedFile {
  file: number;
  docs: number;
  bytes: number;
  rejected: number;
  runs: number;
  unsigned?: number;
  /** The settings the file was signed with (signerKey); absent in files of older runs (then config.json guards). */
  key?: string;
  /** The file could not be read to its end: the documents above are those before the damage. */
  corrupt?: SignedCorrupt;
}

/**
 * Everything the signature files of input `fi` depend on: the settings (partitions and the files' groups aside: fixed
 * when the run opens, after a map phase has signed its files) and the file.
 */
export function signerKey(cfg: DedupConfig, fi: number): string {
  return JSON.stringify({ ...cfg, partitions: 0, groupOf: undefined, file: fi });
}

/** The finished signatures of input `fi` under these settings, if they are all in place. */
export function signedFile(cfg: DedupConfig, fi: number): SignedFile | undefined {
  const done = fileDonePath(cfg, fi);
  if (!existsSync(done)) return undefined;
  const prev = JSON.parse(readFileSync(done, 'utf8')) as SignedFile;
  return prev.key === undefined || prev.key === signerKey(cfg, fi) ? prev : undefined;
}

/** One task per input file (rank = file index, world = number of files). */
async function runSignatures(rank: number, world: number, args: SigArgs, ctx: TaskContext) {
  const cfg = args.cfg;
  const stats = { files: [] as SignedFile[], seconds: 0 };
  const t0 = performance.now();
  for (let fi = rank; fi < cfg.inputs.length; fi += world) {
    // finished by an earlier (killed) run of this task, or by the map phase that wrote the file: outputs in place
    const prev = signedFile(cfg, fi);
    stats.files.push(prev ?? (await signFile(cfg, fi, ctx, args.keepCorrupt)));
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

async function signFile(cfg: DedupConfig, fi: number, ctx: TaskContext, keepCorrupt = false): Promise<SignedFile> {
  const path = cfg.inputs[fi]!;
  const signer = await FileSigner.open(cfg, fi);
  const rejects: DocReject[] = [];
  let corrupt: SignedCorrupt | undefined;
  rmSync(rejectsPath(cfg, fi), { force: true });
  const onCorrupt = keepCorrupt
    ? (e: InputFileError, read: number) => {
        const st = statSync(path);
        corrupt = { ...e.corruptFile(read), size: st.size, mtime_ms: st.mtimeMs };
        ctx.log(e.keptNote(read));
      }
    : undefined;
  try {
    const opts = { ...cfg.reader, onReject: (r: DocReject) => rejects.push(r), onCorrupt };
    for await (const { doc, line } of readDocuments(path, opts)) {
      signer.add(doc, line);
      if (signer.docs % 256 === 1) ctx.progress(signer.bytes);
    }
  } catch (e) {
    signer.abort();
    throw e;
  }
  if (rejects.length || corrupt) {
    const rw = new RejectsWriter(rejectsPath(cfg, fi));
    for (const r of rejects) await rw.write(r, 'dedup-read', r.error);
    if (corrupt) await rw.writeCorruptFile(corrupt);
    await rw.close();
  }
  const st = signer.close(rejects.length, corrupt);
  ctx.log(
    `${path}: ${st.docs} docs signed (${st.runs} sorted run(s) per band)${st.unsigned ? `, ${st.unsigned} without shingles (kept unclustered)` : ''}${rejects.length ? `, ${rejects.length} rejected` : ''}`,
  );
  return st;
}

/**
 * The MinHasher of these settings, one per process: a signer per file made its own (the seeded probe table and a
 * kernel instance, ~5 ms each in a fresh process). Signers use it one document at a time (add reads its outputs
 * before returning), so files signed in turn share it.
 */
function minHasher(bands: number, rows: number, seed: number): MinHasher {
  const key = `${bands} ${rows} ${seed}`;
  let m = hashers.get(key);
  if (!m) hashers.set(key, (m = new MinHasher({ bands, rows }, seed)));
  return m;
}
const hashers = new Map<string, MinHasher>();

/**
 * The signatures of one input file, document by document (in file order, with each document's line): sig/fF.bin
 * (per band, sorted runs), sig/info/fF.bin (length, score, id), sig/lines/fF.bin (MinHash verification re-reads
 * candidates by line), then sig/done/fF.json. Used by the signatures task, which reads the file, and by the map phase
 * that writes the file (dedup/ops.ts mapSink), which hands it the documents as it writes them.
 */
export class FileSigner {
  docs = 0;
  bytes = 0;
  unsigned = 0;
  private runs = 0;
  private buffered = 0;
  private readonly bands: number;
  private readonly width: number;
  private readonly recs: U32List[];
  private readonly limitWords: number;
  private readonly sf: SectionFileWriter;
  private readonly info: RecordWriter;
  private readonly lines?: RecordWriter;
  private readonly lineRec = new Uint32Array(1);
  private readonly infoRec = new Uint32Array(2);
  private readonly mh?: MinHasher;
  private readonly simTables: ReturnType<typeof tables>;
  private readonly ranges: ReturnType<typeof blockRanges>;
  // add's settings, copied off the task's config: the config objects of a process's tasks have different layouts
  // (built, spread, parsed), and add's optimised code, which read them per document, was thrown away at the next
  // task's first document ("wrong map" at cfg.keep)
  private readonly byQuality: boolean;
  private readonly qualityKey: string;
  private readonly shingles: DedupConfig['minhash']['shingles'];
  private readonly charNgram: number;
  private readonly wordNgram: number;

  static async open(cfg: DedupConfig, fi: number): Promise<FileSigner> {
    return new FileSigner(cfg, fi, cfg.method === 'exact' ? await xxhash() : undefined);
  }

  private constructor(
    private readonly cfg: DedupConfig,
    private readonly fi: number,
    private readonly hx: Awaited<ReturnType<typeof xxhash>> | undefined,
  ) {
    const { bands, width } = layout(cfg);
    this.bands = bands;
    this.width = width;
    this.recs = Array.from({ length: bands }, () => new U32List(4096));
    this.limitWords = Math.max(1024, Math.floor(cfg.sortBufferMB * 262144));
    // leftovers of a killed attempt at this file (the done file first: it vouches for the others)
    rmSync(fileDonePath(cfg, fi), { force: true });
    rmSync(sigPath(cfg, fi), { force: true });
    this.sf = new SectionFileWriter(sigPath(cfg, fi));
    this.info = new RecordWriter(infoPath(cfg, fi), 2, true);
    // MinHash verification re-reads candidate documents by their line
    if (cfg.method === 'minhash' && cfg.minhash.verify) this.lines = new RecordWriter(linesPath(cfg, fi), 1);
    if (cfg.method === 'minhash') this.mh = minHasher(cfg.minhash.bands, cfg.minhash.rows, cfg.minhash.seed);
    this.simTables = cfg.method === 'simhash' ? tables(cfg.simhash.blocks, cfg.simhash.distance) : [];
    this.ranges = cfg.method === 'simhash' ? blockRanges(cfg.simhash.blocks) : [];
    this.byQuality = cfg.keep === 'quality';
    this.qualityKey = cfg.qualityKey;
    this.shingles = cfg.minhash.shingles;
    this.charNgram = cfg.minhash.charNgram;
    this.wordNgram = cfg.minhash.wordNgram;
  }

  private push(b: number, hi: number, lo: number, doc: number): void {
    const l = this.recs[b]!;
    l.push(hi);
    l.push(lo);
    l.push(this.fi);
    l.push(doc);
  }

  /** The next document of the file (doc numbers follow the calls), found at `line`. */
  add(doc: Document, line: number): void {
    const cfg = this.cfg;
    const bands = this.bands;
    const d = this.docs++;
    if (this.lines) {
      this.lineRec[0] = line;
      this.lines.write(this.lineRec);
    }
    this.bytes += Buffer.byteLength(doc.text, 'utf8');
    const q = this.byQuality ? Number(getPath(doc.meta, this.qualityKey)) : 0;
    this.infoRec[0] = doc.text.length;
    this.infoRec[1] = floatBits(Number.isFinite(q) ? q : -Infinity);
    this.info.write(this.infoRec, 0, doc.id);
    const mh = this.mh;
    if (mh) {
      if (minhashMode(this.shingles, doc.text, doc.lang) === 'char') mh.computeChars(doc.text, this.charNgram);
      else mh.compute(wordShingles(doc.text, this.wordNgram));
      // per band: key hi, key lo, file, doc, then the sketch (the record push and a word-by-word copy wrote)
      const sketch = mh.sketch;
      const width = 4 + sketch.length;
      for (let b = 0; b < bands; b++) {
        const l = this.recs[b]!;
        const a = l.reserve(width);
        const o = l.n;
        a[o] = mh.bandHi[b]!;
        a[o + 1] = mh.bandLo[b]!;
        a[o + 2] = this.fi;
        a[o + 3] = d;
        // one native copy: a loop over the words made a heap number of most of them until it was optimised
        a.set(sketch, o + 4);
        l.n = o + width;
      }
    } else if (this.hx) {
      const h = this.hx.h64(normalise(doc.text, cfg.exact));
      this.push(0, Number(h >> 32n), Number(h & 0xffffffffn), d);
    } else {
      const h = simhash(doc.text, cfg.simhash, doc.lang);
      // no shingles: no signature records, so the document is never a candidate (kept, counted)
      if (!h) this.unsigned++;
      const [hi, lo] = h ?? [0, 0];
      for (let t = 0; h && t < this.simTables.length; t++) {
        const [k1, k2] = tableKey(hi, lo, this.simTables[t]!, this.ranges, t);
        this.push(t, k1, k2, d);
        this.recs[t]!.push(hi);
        this.recs[t]!.push(lo);
      }
    }
    this.buffered += bands * this.width;
    if (this.buffered >= this.limitWords) this.spill();
  }

  /** Sort each band's buffered records by (key, doc) and write them as one run (section runs × bands + band). */
  private spill(): void {
    const width = this.width;
    for (let b = 0; b < this.bands; b++) {
      const l = this.recs[b]!;
      const a = l.a;
      const n = l.n / width;
      const idx = recordOrder(a, n, width);
      const w = new RecordWriter(
        this.sf.path,
        width,
        false,
        Math.max(4096, Math.min(1 << 16, n * width + 16)),
        this.sf,
      );
      writeOrdered(w, a, idx, n, width);
      if (b === 1) crashPoint('signatures');
      w.close();
      l.n = 0;
    }
    this.runs++;
    this.buffered = 0;
  }

  /** Commit every output, the done file last; `rejected`: records of the file that were not documents. */
  close(rejected = 0, corrupt?: SignedCorrupt): SignedFile {
    try {
      if (this.buffered > 0 || this.runs === 0) this.spill();
      this.sf.close();
      this.info.close();
      this.lines?.close();
    } catch (e) {
      this.abort();
      throw e;
    }
    const st: SignedFile = {
      file: this.fi,
      docs: this.docs,
      bytes: this.bytes,
      rejected,
      runs: this.runs,
      unsigned: this.unsigned,
      key: signerKey(this.cfg, this.fi),
      ...(corrupt ? { corrupt } : {}),
    };
    writeFileAtomic(fileDonePath(this.cfg, this.fi), JSON.stringify(st));
    return st;
  }

  abort(): void {
    this.sf.abort();
    this.info.abort();
    this.lines?.abort();
  }
}

/**
 * The records of `a` in the order `idx`: a loop of its own, compiled on-stack alone; inside spill, its on-stack code
 * was spill's, thrown away at spill's first statement after the loop (which had never run).
 */
function writeOrdered(w: RecordWriter, a: Uint32Array, idx: Uint32Array, n: number, width: number): void {
  for (let i = 0; i < n; i++) w.write(a, idx[i]! * width);
}

let order = new Uint32Array(0);
let orderTmp = new Uint32Array(0);
const counts = new Uint32Array(256);

/**
 * The order of `n` records of `width` words in `a` by (key hi, key lo, doc): records are pushed in doc order, so a
 * stable radix sort on hi (four byte passes) orders them but for records of equal hi (the same band of near-copies),
 * which a comparator sort then orders by (lo, doc). A view into a reused array (valid until the next call); a
 * comparator sort of the whole was ~90% of a spill's sorting.
 */
export function recordOrder(a: Uint32Array, n: number, width: number): Uint32Array {
  if (order.length < n) {
    order = new Uint32Array(n);
    orderTmp = new Uint32Array(n);
  }
  let src = order;
  let dst = orderTmp;
  for (let i = 0; i < n; i++) src[i] = i;
  for (let shift = 0; shift < 32; shift += 8) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(a[src[i]! * width]! >>> shift) & 255]!++;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = counts[b]!;
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const r = src[i]!;
      dst[counts[(a[r * width]! >>> shift) & 255]!++] = r;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  // four passes: the order is back in `order`
  for (let i = 0; i < n - 1;) {
    const hi = a[src[i]! * width]!;
    let j = i + 1;
    while (j < n && a[src[j]! * width]! === hi) j++;
    if (j - i > 1)
      src.subarray(i, j).sort((x, y) => a[x * width + 1]! - a[y * width + 1]! || a[x * width + 3]! - a[y * width + 3]!);
    i = j;
  }
  return src.subarray(0, n);
}
/**
 * Feedback before the first compile: V8 allocates a function's feedback vector only after its first call has run a
 * while, so the growth of `order` at the first call's start was never recorded, and the compiled sort was thrown away
 * at the next growth (and at the first run of equal his). Two small sorts at load (the second grows) record both.
 */
for (const n of [64, 128]) {
  const a = new Uint32Array(4 * n);
  for (let i = 0; i < n; i++) a[4 * i] = i & 7;
  recordOrder(a, n, 4);
}

export const signaturesTask = defineTask('dedup.signatures', runSignatures);
