/**
 * The staged dedup tasks (run through the executor; each is `(rank, world, args, ctx) => stats`).
 *
 *  1. signatures  (one task per input file)  sig/b{B}/f{F}.bin sorted by (key, doc) + sig/info/f{F}.bin
 *  2. buckets     (one task per band)        k-way merge of a band's runs -> candidate edges edges/from-b{B}/to-p{P}.bin
 *  3. cc rounds   (one task per partition)   alternating large-star / small-star (Kiveris et al.) until every
 *                                            component is a star around its smallest node; cc/r{R}/from-p{P}/to-p{Q}.bin
 *  4. route/join/reduce (partitions, groups) attach length / score / id to every clustered node, pick the keeper
 *  5. filter      (one task per file group)  kept docs -> docs/part-GGGGG.jsonl.zst, duplicates, excluded
 *  6. index       (one task per band + 1)    signatures of kept documents for later runs
 *
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read. A rerun skips finished tasks (executor markers) and finished files.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../pipeline/task.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { type DedupConfig, INDEX_FILE, layout } from './config.ts';
import { readDocuments, type DocReject } from '../pipeline/readers/index.ts';
import { JsonlWriter } from '../pipeline/writers/index.ts';
import { MinHasher, sketchJaccard } from './minhash.ts';
import { RecordReader, RecordWriter, readAllRecords, CorruptIntermediateError } from './runfile.ts';
import { blockRanges, hamming, simhash, tableKey, tables } from './simhash.ts';
import { charShingles, normalise, shingleMode, wordShingles } from './text.ts';

const pad = (n: number, w = 5) => String(n).padStart(w, '0');
/** Sorted run `run` of input file `file` for band `band` (a file spills a new run whenever its sort buffer fills). */
export const sigPath = (cfg: DedupConfig, band: number, file: number, run = 0) => join(cfg.workDir, 'sig', `b${pad(band, 3)}`, `f${pad(file)}.r${pad(run, 4)}.bin`);
/** Every sorted run of a band (all input files). */
export function bandRuns(cfg: DedupConfig, num: Numbering, band: number): string[] {
  const out: string[] = [];
  for (let fi = 0; fi < cfg.inputs.length; fi++) for (let r = 0; r < num.runs[fi]!; r++) out.push(sigPath(cfg, band, fi, r));
  return out;
}
export const infoPath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', 'info', `f${pad(file)}.bin`);
const fileDonePath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', 'done', `f${pad(file)}.json`);

let xx: Promise<import('xxhash-wasm').XXHashAPI> | undefined;
async function xxhash() {
  if (!xx) xx = import('xxhash-wasm').then((m) => m.default());
  return xx;
}

function getPath(o: Record<string, unknown>, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const f32 = new Float32Array(1);
const f32u = new Uint32Array(f32.buffer);
export function floatBits(x: number): number {
  f32[0] = x;
  return f32u[0]!;
}
export function bitsFloat(b: number): number {
  f32u[0] = b;
  return f32[0]!;
}

/** Growable u32 array. */
class U32List {
  a: Uint32Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Uint32Array(cap);
  }
  push(x: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
}

/**
 * Test hook: when STEEL_DEDUP_CRASH names this point, the process dies here (mid-task, with outputs half written),
 * like a killed worker. Points: signatures, buckets, cc-large, cc-small, join, reduce, filter, index.
 */
function crashPoint(name: string): void {
  if (process.env.STEEL_DEDUP_CRASH === name) {
    process.stderr.write(`dedup: simulated crash at ${name}\n`);
    process.exit(86);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. signatures

export interface SigArgs {
  cfg: DedupConfig;
}

/** One task per input file (rank = file index, world = number of files). */
async function runSignatures(rank: number, world: number, args: SigArgs, ctx: TaskContext) {
  const cfg = args.cfg;
  const stats = { files: [] as { file: number; docs: number; bytes: number; rejected: number; runs: number }[], seconds: 0 };
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
    if (existsSync(bd)) for (const n of readdirSync(bd)) if (n.startsWith(`f${pad(fi)}.`)) rmSync(join(bd, n), { force: true });
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
      const w = new RecordWriter(sigPath(cfg, b, fi, runs), width, false, Math.max(4096, Math.min(1 << 16, n * width + 16)));
      for (let i = 0; i < n; i++) w.write(a, idx[i]! * width);
      if (b === 1) crashPoint('signatures');
      w.close();
      l.n = 0;
    }
    runs++;
    buffered = 0;
  };
  const info = new RecordWriter(infoPath(cfg, fi), 2, true);
  const rejects: DocReject[] = [];
  let docs = 0;
  let bytes = 0;
  const mh = cfg.method === 'minhash' ? new MinHasher({ bands: cfg.minhash.bands, rows: cfg.minhash.rows }, cfg.minhash.seed) : undefined;
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
    for await (const { doc } of readDocuments(path, { onReject: (r) => rejects.push(r) })) {
      const d = docs++;
      bytes += Buffer.byteLength(doc.text, 'utf8');
      const q = cfg.keep === 'quality' ? Number(getPath(doc.meta, cfg.qualityKey)) : 0;
      info.write([doc.text.length, floatBits(Number.isFinite(q) ? q : -Infinity)], 0, doc.id);
      if (mh) {
        const mode = cfg.minhash.shingles === 'auto' ? shingleMode(doc.lang, doc.text) : cfg.minhash.shingles;
        mh.compute(mode === 'char' ? charShingles(doc.text, cfg.minhash.charNgram) : wordShingles(doc.text, cfg.minhash.wordNgram));
        for (let b = 0; b < bands; b++) {
          push(b, mh.bandHi[b]!, mh.bandLo[b]!, d);
          const l = recs[b]!;
          for (let w = 0; w < mh.sketch.length; w++) l.push(mh.sketch[w]!);
        }
      } else if (hx) {
        const h = hx.h64(normalise(doc.text, cfg.exact));
        push(0, Number(h >> 32n), Number(h & 0xffffffffn), d);
      } else {
        const [hi, lo] = simhash(doc.text, cfg.simhash);
        for (let t = 0; t < simTables.length; t++) {
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
  } catch (e) {
    info.abort();
    throw e;
  }
  if (rejects.length) {
    const rw = new JsonlWriter(join(cfg.workDir, 'sig', 'rejects', `f${pad(fi)}.jsonl`));
    for (const r of rejects) await rw.write({ ...r, stage: 'dedup-read' });
    await rw.close();
  }
  const st = { file: fi, docs, bytes, rejected: rejects.length, runs };
  writeFileAtomic(fileDonePath(cfg, fi), JSON.stringify(st));
  ctx.log(`${path}: ${docs} docs signed (${runs} sorted run(s) per band)${rejects.length ? `, ${rejects.length} rejected` : ''}`);
  return st;
}

// ---------------------------------------------------------------------------------------------------------------
// node numbering

export interface Numbering {
  /** offsets[i] = first node of input file i; offsets[F] = number of new documents. */
  offsets: number[];
  /** documents in the previous index (nodes offsets[F] .. offsets[F] + indexDocs). */
  indexDocs: number;
  /** sorted runs per band of each input file. */
  runs: number[];
}

export function nodeOf(num: Numbering, file: number, doc: number): number {
  return file === INDEX_FILE ? num.offsets[num.offsets.length - 1]! + doc : num.offsets[file]! + doc;
}

/** File index of a node (INDEX_FILE for index documents) and its document number in that file. */
export function fileOf(num: Numbering, node: number): [number, number] {
  const o = num.offsets;
  const F = o.length - 1;
  if (node >= o[F]!) return [INDEX_FILE, node - o[F]!];
  let lo = 0;
  let hi = F - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (o[mid]! <= node) lo = mid;
    else hi = mid - 1;
  }
  // skip empty files that share the offset
  while (lo + 1 < F && o[lo + 1]! <= node) lo++;
  return [lo, node - o[lo]!];
}

export function groupOfFile(cfg: DedupConfig, file: number): number {
  return file === INDEX_FILE ? cfg.inputs.length % cfg.groups : file % cfg.groups;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. buckets

export interface BucketArgs {
  cfg: DedupConfig;
  num: Numbering;
}

/** Compare (key hi, key lo, file (index file first), doc) of two records. */
function cmpRec(a: Uint32Array, b: Uint32Array): number {
  return a[0]! - b[0]! || a[1]! - b[1]! || ((a[2]! + 1) >>> 0) - ((b[2]! + 1) >>> 0) || a[3]! - b[3]!;
}

/**
 * Merge sorted runs; calls `onGroup` with every maximal run of records that share a key. A group holds at most
 * `maxGroup` records in memory: later records of the same key go to `onOverflow(rec, group, n)` one by one.
 */
function mergeRuns(
  paths: string[],
  width: number,
  onGroup: (recs: Uint32Array, n: number) => void,
  maxGroup = Infinity,
  onOverflow?: (rec: Uint32Array, group: Uint32Array, n: number) => void,
): number {
  const readers: RecordReader[] = [];
  try {
    for (const p of paths) {
      const r = new RecordReader(p, 1 << 16);
      if (r.width !== width) throw new CorruptIntermediateError(p, `record width ${r.width}, expected ${width}`);
      readers.push(r);
    }
    // binary heap of reader indices
    const heap: number[] = [];
    const less = (i: number, j: number) => cmpRec(readers[i]!.rec, readers[j]!.rec) < 0;
    const up = (k: number) => {
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (!less(heap[k]!, heap[p]!)) break;
        [heap[k], heap[p]] = [heap[p]!, heap[k]!];
        k = p;
      }
    };
    const down = (k: number) => {
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === k) break;
        [heap[k], heap[m]] = [heap[m]!, heap[k]!];
        k = m;
      }
    };
    for (let i = 0; i < readers.length; i++) {
      if (readers[i]!.next()) {
        heap.push(i);
        up(heap.length - 1);
      }
    }
    let group = new Uint32Array(width * 64);
    let gn = 0;
    let total = 0;
    let prev = new Uint32Array(width);
    const flush = () => {
      if (gn > 0) onGroup(group, gn);
      gn = 0;
    };
    while (heap.length) {
      const i = heap[0]!;
      const rec = readers[i]!.rec;
      if (total > 0 && cmpRec(prev, rec) > 0) throw new CorruptIntermediateError(paths[i]!, 'records out of order');
      if (gn > 0 && (group[0] !== rec[0] || group[1] !== rec[1])) flush();
      if (gn >= maxGroup && onOverflow) {
        onOverflow(rec, group, gn);
        prev.set(rec);
        total++;
        if (readers[i]!.next()) down(0);
        else {
          heap[0] = heap[heap.length - 1]!;
          heap.pop();
          if (heap.length) down(0);
        }
        continue;
      }
      if ((gn + 1) * width > group.length) {
        const g = new Uint32Array(group.length * 2);
        g.set(group);
        group = g;
      }
      group.set(rec, gn * width);
      prev.set(rec);
      gn++;
      total++;
      if (readers[i]!.next()) down(0);
      else {
        heap[0] = heap[heap.length - 1]!;
        heap.pop();
        if (heap.length) down(0);
      }
    }
    flush();
    return total;
  } finally {
    for (const r of readers) r.close();
  }
}

/** P output files of one producer: record (a, b) goes to partition a % P. */
class PartitionedWriter {
  readonly ws: RecordWriter[];
  count = 0;
  constructor(
    dir: string,
    readonly parts: number,
    width: number,
    withString = false,
    private readonly partOf: (rec: ArrayLike<number>) => number = (r) => r[0]! % parts,
  ) {
    const chunk = Math.max(4096, Math.floor((1 << 21) / parts));
    this.ws = Array.from({ length: parts }, (_, q) => new RecordWriter(join(dir, `to-${pad(q)}.bin`), width, withString, chunk));
  }
  write(rec: ArrayLike<number>, str?: string): void {
    this.ws[this.partOf(rec)]!.write(rec, 0, str);
    this.count++;
  }
  close(): void {
    for (const w of this.ws) w.close();
  }
  abort(): void {
    for (const w of this.ws) w.abort();
  }
}

export function indexBandPath(indexDir: string, band: number): string {
  return join(indexDir, 'bands', `b${pad(band, 3)}.bin`);
}

/** Distinct members of one bucket compared pairwise (beyond that, with the first MAX_PAIRWISE only). */
const MAX_PAIRWISE = 2000;
/** Records of one bucket held in memory by the bucket merge. */
const MAX_GROUP = 200_000;

/** One task per band: merge the band's sorted runs, emit candidate edges (both directions) by node partition. */
async function runBuckets(rank: number, world: number, args: BucketArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const { bands, width, payload } = layout(cfg);
  const out = { bands: [] as number[], records: 0, buckets: 0, edges: 0, compared: 0, cappedBuckets: 0, overflow: 0 };
  for (let b = rank; b < bands; b += world) {
    const runs = bandRuns(cfg, num, b);
    if (cfg.indexDir) runs.push(indexBandPath(cfg.indexDir, b));
    const dir = join(cfg.workDir, 'edges', `from-${pad(b)}`);
    rmSync(dir, { recursive: true, force: true });
    const pw = new PartitionedWriter(dir, cfg.partitions, 2);
    const e = new Uint32Array(2);
    const edge = (u: number, v: number) => {
      if (u === v) return;
      e[0] = u;
      e[1] = v;
      pw.write(e);
      e[0] = v;
      e[1] = u;
      pw.write(e);
      out.edges++;
    };
    const numPerm = cfg.minhash.bands * cfg.minhash.rows;
    try {
      out.records += mergeRuns(runs, width, (g, n) => {
        if (n < 2) return;
        out.buckets++;
        const node = (i: number) => nodeOf(num, g[i * width + 2]!, g[i * width + 3]!);
        if (cfg.method === 'exact' || (cfg.method === 'minhash' && !cfg.minhash.verify)) {
          const first = node(0);
          for (let i = 1; i < n; i++) edge(first, node(i));
          return;
        }
        // verified buckets: identical payloads collapse onto their first member; distinct payloads compared pairwise
        const reps: number[] = [];
        const seen = new Map<string, number>();
        for (let i = 0; i < n; i++) {
          const o = i * width + 4;
          let k = '';
          for (let w = 0; w < payload; w++) k += g[o + w]!.toString(36) + ',';
          const r = seen.get(k);
          if (r !== undefined) edge(node(r), node(i));
          else {
            seen.set(k, i);
            reps.push(i);
          }
        }
        // a bucket with very many distinct members: each is compared with the first MAX_PAIRWISE only (bounded time)
        if (reps.length > MAX_PAIRWISE) out.cappedBuckets++;
        for (let x = 0; x < reps.length; x++) {
          const ox = reps[x]! * width + 4;
          for (let y = 0; y < Math.min(x, MAX_PAIRWISE); y++) {
            const oy = reps[y]! * width + 4;
            out.compared++;
            const ok =
              cfg.method === 'simhash'
                ? hamming(g[ox]!, g[ox + 1]!, g[oy]!, g[oy + 1]!) <= cfg.simhash.distance
                : sketchJaccard(g, ox, g, oy, numPerm) >= cfg.minhash.verifyThreshold;
            if (ok) edge(node(reps[x]!), node(reps[y]!));
          }
        }
      }, Number(process.env.STEEL_DEDUP_MAX_GROUP) || MAX_GROUP, (rec, g, n) => {
        // bucket larger than MAX_GROUP records: compare with the first MAX_PAIRWISE held records only
        out.overflow++;
        const u = nodeOf(num, rec[2]!, rec[3]!);
        if (cfg.method === 'exact' || (cfg.method === 'minhash' && !cfg.minhash.verify)) return edge(nodeOf(num, g[2]!, g[3]!), u);
        for (let y = 0; y < Math.min(n, MAX_PAIRWISE); y++) {
          const oy = y * width + 4;
          const ok =
            cfg.method === 'simhash'
              ? hamming(rec[4]!, rec[5]!, g[oy]!, g[oy + 1]!) <= cfg.simhash.distance
              : sketchJaccard(rec, 4, g, oy, numPerm) >= cfg.minhash.verifyThreshold;
          if (ok) return edge(nodeOf(num, g[y * width + 2]!, g[y * width + 3]!), u);
        }
      });
      crashPoint('buckets');
      pw.close();
    } catch (err) {
      pw.abort();
      throw err;
    }
    out.bands.push(b);
    ctx.progress(out.bands.length);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. connected components: alternating large-star / small-star rounds over node partitions

export interface CcArgs {
  cfg: DedupConfig;
  /** Folders holding `from-*` producer folders whose `to-${pad(rank)}.bin` files are this task's input. */
  inputDir: string;
  outputDir: string;
  mode: 'large' | 'small';
  totalNodes: number;
}

function inputFilesFor(dir: string, part: number): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.startsWith('from-')) continue;
    const p = join(dir, name, `to-${pad(part)}.bin`);
    if (!existsSync(p)) throw new CorruptIntermediateError(p, 'missing (producer folder incomplete)');
    out.push(p);
  }
  return out;
}

/**
 * One task per node partition p (nodes u with u % P == p). Reads its directed edges (u -> v), builds adjacency lists
 * with a counting sort on u / P (memory: this partition's edges + N / P counters), and applies
 *   large-star: m = min(N(u) ∪ {u}); emit (v, m) for every neighbour v > u
 *   small-star: (edges keyed by their larger end) m = min(N(u) ∪ {u}); emit (v, m) for v in N(u) ∪ {u}, v ≠ m
 * Large-star output is keyed by the larger end (input of small-star); small-star output goes both ways.
 * `unstable` counts nodes that are not yet a star leaf / star centre (0 in a large-star round = converged).
 */
async function runCc(rank: number, world: number, args: CcArgs, ctx: TaskContext) {
  const { cfg, mode } = args;
  const P = cfg.partitions;
  const p = rank;
  const files = inputFilesFor(args.inputDir, p);
  // load edges
  const readers = files.map((f) => new RecordReader(f, 1 << 18));
  let E = 0;
  for (const r of readers) E += r.count;
  const src = new Uint32Array(E);
  const dst = new Uint32Array(E);
  let k = 0;
  for (const r of readers) {
    if (r.width !== 2) throw new CorruptIntermediateError(r.path, `record width ${r.width}, expected 2`);
    for (let c = r.nextChunk(); c !== null; c = r.nextChunk()) {
      for (let i = 0; i < c.length; i += 2) {
        const u = c[i]!;
        if (u % P !== p) throw new CorruptIntermediateError(r.path, `edge key ${u} does not belong to partition ${p}`);
        src[k] = u;
        dst[k++] = c[i + 1]!;
      }
    }
  }
  const nLocal = Math.ceil(args.totalNodes / P) + 1;
  const start = new Uint32Array(nLocal + 1);
  for (let i = 0; i < E; i++) start[Math.floor(src[i]! / P) + 1]!++;
  for (let i = 0; i < nLocal; i++) start[i + 1]! += start[i]!;
  const fillPos = start.slice(0, nLocal);
  const adj = new Uint32Array(E);
  for (let i = 0; i < E; i++) adj[fillPos[Math.floor(src[i]! / P)]!++] = dst[i]!;
  const outDir = join(args.outputDir, `from-${pad(p)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, P, 2);
  const rec = new Uint32Array(2);
  const emit = (a: number, b: number) => {
    rec[0] = a;
    rec[1] = b;
    pw.write(rec);
  };
  let unstable = 0;
  let nodes = 0;
  try {
    for (let l = 0; l < nLocal; l++) {
      const s = start[l]!;
      const e = start[l + 1]!;
      if (s === e) continue;
      nodes++;
      const u = l * P + p;
      const nb = adj.subarray(s, e);
      let n = e - s;
      if (n === 2) {
        if (nb[0]! > nb[1]!) nb.reverse();
        if (nb[0] === nb[1]) n = 1;
      } else if (n > 2) {
        nb.sort();
        // unique in place
        n = 0;
        for (let i = 0; i < nb.length; i++) if (i === 0 || nb[i] !== nb[n - 1]) nb[n++] = nb[i]!;
      }
      const m = Math.min(u, nb[0]!);
      if (mode === 'large') {
        const hasSmaller = nb[0]! < u;
        if (hasSmaller && n > 1) unstable++;
        for (let i = 0; i < n; i++) {
          const v = nb[i]!;
          if (v > u) emit(v, m);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const v = nb[i]!;
          if (v !== m) {
            emit(v, m);
            emit(m, v);
          }
        }
        if (u !== m) {
          emit(u, m);
          emit(m, u);
        }
      }
    }
    crashPoint(`cc-${mode}`);
    pw.close();
  } catch (err) {
    pw.abort();
    throw err;
  }
  ctx.progress(1, 1);
  return { edgesIn: E, edgesOut: pw.count, nodes, unstable, maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) };
}

// ---------------------------------------------------------------------------------------------------------------
// 4. route / join / reduce

export interface PostArgs {
  cfg: DedupConfig;
  num: Numbering;
  /** Folder of the converged round (edges leaf -> centre keyed by leaf). */
  starsDir: string;
}

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

/** Length, score and id of every document of the given files (and of the index, when the group owns it). */
function loadInfo(cfg: DedupConfig, num: Numbering, group: number) {
  const m = new Map<number, { len: Uint32Array; score: Uint32Array; ids: string[] }>();
  const load = (file: number, path: string) => {
    const r = new RecordReader(path);
    const len = new Uint32Array(r.count);
    const score = new Uint32Array(r.count);
    const ids: string[] = new Array(r.count);
    let i = 0;
    while (r.next()) {
      len[i] = r.rec[0]!;
      score[i] = r.rec[1]!;
      ids[i++] = r.str;
    }
    m.set(file, { len, score, ids });
  };
  for (let fi = 0; fi < cfg.inputs.length; fi++) if (groupOfFile(cfg, fi) === group) load(fi, infoPath(cfg, fi));
  if (cfg.indexDir && num.indexDocs > 0 && groupOfFile(cfg, INDEX_FILE) === group) load(INDEX_FILE, join(cfg.indexDir, 'info.bin'));
  return m;
}

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
        if (!fi || doc >= fi.ids.length) throw new Error(`dedup join: node ${node} (file ${file}, doc ${doc}) has no document info`);
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
    for (let s = 0; s < order.length; ) {
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

// ---------------------------------------------------------------------------------------------------------------
// 5. filter

export const docsPartPath = (cfg: DedupConfig, g: number) => join(cfg.outDir, 'docs', `part-${pad(g)}.jsonl.zst`);
export const keptPath = (cfg: DedupConfig, fi: number) => join(cfg.workDir, 'kept', `f${pad(fi)}.bin`);

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
      for await (const { doc } of readDocuments(cfg.inputs[fi]!, { onReject: () => stats.rejected++ })) {
        const node = num.offsets[fi]! + d;
        if (node >= num.offsets[fi + 1]!) throw new Error(`${cfg.inputs[fi]}: more documents than when signatures were computed (input changed?)`);
        stats.read++;
        const dec = decisions.get(node);
        if (dec && dec.keeper !== node) {
          stats.dropped++;
          await dups.write({ id: doc.id, duplicate_of: dec.keeperId, cluster_size: dec.size, rule: cfg.rule });
          await excl.write({ stage: cfg.stage, rule: cfg.rule, value: dec.keeperId, id: doc.id, text: doc.text, source: doc.source, ...(doc.lang ? { lang: doc.lang } : {}), meta: doc.meta });
        } else {
          stats.kept++;
          word |= 1 << (d & 31);
          await out.write({ id: doc.id, text: doc.text, source: doc.source, ...(doc.lang ? { lang: doc.lang } : {}), meta: { ...doc.meta, dup_cluster_size: dec ? dec.size : 1 } });
        }
        d++;
        if ((d & 31) === 0) {
          kw.write([word >>> 0]);
          word = 0;
        }
      }
      if ((d & 31) !== 0) kw.write([word >>> 0]);
      if (num.offsets[fi]! + d !== num.offsets[fi + 1]!) throw new Error(`${cfg.inputs[fi]}: ${d} documents, signatures saw ${num.offsets[fi + 1]! - num.offsets[fi]!} (input changed?)`);
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

// ---------------------------------------------------------------------------------------------------------------
// 6. index of kept documents (for deduplicating later data against this run)

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
    return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
  };
  for (let w = 0; w < bits.length; w++) before[w + 1] = before[w]! + pc(bits[w]!);
  const isKept = (node: number) => ((bits[node >> 5]! >>> (node & 31)) & 1) === 1;
  const rankOf = (node: number) => before[node >> 5]! + pc(bits[node >> 5]! & ((1 << (node & 31)) - 1));
  return { isKept, rankOf, keptTotal: before[bits.length]! };
}

/** Ranks 0..bands-1: band runs of kept documents (old index first); rank `bands`: info.bin (len, score, id). */
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
    const runs = bandRuns(cfg, num, b);
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

// ---------------------------------------------------------------------------------------------------------------
// Task definitions (registered at the composition root, cli/tasks.ts)

export const signaturesTask = defineTask('dedup.signatures', runSignatures);
export const bucketsTask = defineTask('dedup.buckets', runBuckets);
export const ccTask = defineTask('dedup.cc', runCc);
export const routeTask = defineTask('dedup.route', runRoute);
export const joinTask = defineTask('dedup.join', runJoin);
export const reduceTask = defineTask('dedup.reduce', runReduce);
export const filterTask = defineTask('dedup.filter', runFilter);
export const indexTask = defineTask('dedup.index', runIndex);

/** Every task of this area, for the task registry. */
export const dedupTasks = [signaturesTask, bucketsTask, ccTask, routeTask, joinTask, reduceTask, filterTask, indexTask] as const;
