/** Paths, node numbering and helpers shared by the dedup stages (dedup/stages/*.ts). */
import { copyFileSync, existsSync, linkSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { INDEX_FILE, layout, type DedupConfig } from '../config.ts';
import {
  RecordReader,
  RecordWriter,
  CorruptIntermediateError,
  sectionRange,
  readAllRecords,
  type ByteRange,
} from '../runfile.ts';
import { testHooks } from '../../pipeline/settings.ts';
import { charShingles, shingleMode, wordShingles } from '../text.ts';
import { popcount32 } from '../simhash.ts';

/** The MinHash shingles of a document under the run's settings: character or word n-grams. */
export function minhashMode(
  shingles: DedupConfig['minhash']['shingles'],
  text: string,
  lang: string | undefined,
): 'char' | 'word' {
  return shingles === 'auto' ? shingleMode(lang, text) : shingles;
}

/** The MinHash shingle hashes of a document under the run's settings (a view into a reused buffer). */
export function minhashShingles(cfg: DedupConfig, text: string, lang: string | undefined): Uint32Array {
  return minhashMode(cfg.minhash.shingles, text, lang) === 'char'
    ? charShingles(text, cfg.minhash.charNgram)
    : wordShingles(text, cfg.minhash.wordNgram);
}

export const pad = (n: number, w = 5) => String(n).padStart(w, '0');

/**
 * The signature records of input file `file`: one section file (dedup/runfile.ts) whose section run × bands + band is
 * the band's sorted run `run` (a file spills a new run whenever its sort buffer fills).
 */
export const sigPath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', `f${pad(file)}.bin`);

/** A sorted run to merge: a record file, or one section of a section file. */
export interface RunFile {
  path: string;
  section?: number;
  /**
   * A version-2 index's run (an input file's signature records): only the documents set here are read, each as index
   * document `base + rank` (IndexRunReader).
   */
  kept?: KeptDocs;
}

/** Every sorted run of a band (all input files). */
export function bandRuns(cfg: DedupConfig, num: Numbering, band: number): RunFile[] {
  const { bands } = layout(cfg);
  const out: RunFile[] = [];
  for (let fi = 0; fi < cfg.inputs.length; fi++)
    for (let r = 0; r < num.runs[fi]!; r++) out.push({ path: sigPath(cfg, fi), section: r * bands + band });
  return out;
}

/**
 * Tasks of the steps that work band by band (buckets, index): as many as partitions (at least one per worker, see
 * dedup/run.ts), each taking bands rank, rank + world, ..., so a step's fixed cost (markers, output files) is paid
 * per task, not per band.
 */
export function bandTasks(cfg: DedupConfig, extra = 0): number {
  return Math.max(1, Math.min(layout(cfg).bands + extra, cfg.partitions));
}

export const infoPath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', 'info', `f${pad(file)}.bin`);

/** Line (record) number of each document of an input file, for re-reading only some of them (stage verify). */
export const linesPath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', 'lines', `f${pad(file)}.bin`);

export const fileDonePath = (cfg: DedupConfig, file: number) => join(cfg.workDir, 'sig', 'done', `f${pad(file)}.json`);

let xx: Promise<import('xxhash-wasm').XXHashAPI> | undefined;

export async function xxhash() {
  if (!xx) xx = import('xxhash-wasm').then((m) => m.default());
  return xx;
}

export function getPath(o: Record<string, unknown>, path: string): unknown {
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
export class U32List {
  a: Uint32Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Uint32Array(cap);
  }
  push(x: number): void {
    const a = this.n === this.a.length ? this.reserve(1) : this.a;
    a[this.n++] = x;
  }
  /** Room for `k` more words (the array grown by doubling); the array. */
  reserve(k: number): Uint32Array {
    if (this.n + k > this.a.length) {
      let cap = Math.max(1, this.a.length * 2);
      while (cap < this.n + k) cap *= 2;
      const b = new Uint32Array(cap);
      b.set(this.a.subarray(0, this.n));
      this.a = b;
    }
    return this.a;
  }
}

/**
 * Test hook: when the test hook dedupCrash (pipeline/settings.ts) names this point, the process dies here (mid-task, with outputs half written),
 * like a killed worker. Points: signatures, buckets, verify-sets, verify, cc-large, cc-small, cc-memory, join, reduce, filter,
 * index.
 */
export function crashPoint(name: string): void {
  if (testHooks().dedupCrash === name) {
    process.stderr.write(`dedup: simulated crash at ${name}\n`);
    process.exit(86);
  }
}

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

/**
 * The last index i < n of ascending `a` with a[i] <= x (a binary search; a[0] <= x is the caller's: 0 otherwise): the
 * file of a node (fileOf), a node's group (buckets.ts NodeGroups), a node's verify sets task (verify.ts setsTaskOf).
 */
export function lastAtMost(a: ArrayLike<number>, x: number, n: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (a[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** File index of a node (INDEX_FILE for index documents) and its document number in that file. */
export function fileOf(num: Numbering, node: number): [number, number] {
  const o = num.offsets;
  const F = o.length - 1;
  if (node >= o[F]!) return [INDEX_FILE, node - o[F]!];
  let lo = lastAtMost(o, node, F);
  // skip empty files that share the offset
  while (lo + 1 < F && o[lo + 1]! <= node) lo++;
  return [lo, node - o[lo]!];
}

/** The group of an input file (DedupConfig.groupOf); a previous run's index has the group after the last file's. */
export function groupOfFile(cfg: DedupConfig, file: number): number {
  if (file === INDEX_FILE) return cfg.inputs.length % cfg.groups;
  const g = cfg.groupOf?.[file];
  if (g === undefined) throw new Error(`dedup: no group for input file ${file} (the run's groups were not assigned)`);
  return g;
}

/**
 * Groups of consecutive files with about equal bytes: file i goes to the group its byte midpoint falls in, moved so
 * that the groups stay consecutive and none is empty (there are at least as many files as groups).
 */
export function fileGroups(sizes: number[], groups: number): number[] {
  const F = sizes.length;
  const total = sizes.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  let before = 0;
  let prev = 0;
  for (let i = 0; i < F; i++) {
    const mid = total > 0 ? (before + sizes[i]! / 2) / total : (i + 0.5) / F;
    before += sizes[i]!;
    const want = Math.floor(mid * groups);
    // at most one group further than the previous file's, and far enough that the files left fill the groups left
    const lo = Math.max(prev, groups - (F - i));
    const hi = i === 0 ? 0 : Math.min(prev + 1, groups - 1);
    prev = Math.min(hi, Math.max(lo, want));
    out.push(prev);
  }
  return out;
}

/** Compare (key hi, key lo, file (index file first), doc) of two records. */
export function cmpRec(a: Uint32Array, b: Uint32Array): number {
  // compared, not subtracted: the difference of two words is not a 32-bit integer ("lost precision" threw the
  // optimised merge away). The keys' words are read and compared on every call: records of one key hi and another
  // key lo are rare, and their comparison, first reached in optimised code, threw the merge loop away ("Insufficient
  // type feedback").
  const a0 = a[0]!,
    b0 = b[0]!,
    a1 = a[1]!,
    b1 = b[1]!;
  const lt0 = a0 < b0,
    lt1 = a1 < b1;
  if (a0 !== b0) return lt0 ? -1 : 1;
  if (a1 !== b1) return lt1 ? -1 : 1;
  const fa = (a[2]! + 1) >>> 0,
    fb = (b[2]! + 1) >>> 0;
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a[3]! < b[3]! ? -1 : a[3]! > b[3]! ? 1 : 0;
}

/**
 * The binary heap of mergeRuns (reader indices, the least record first, `size` of them), module functions: closures
 * made per merge were new call targets to the merge loop's optimised code, thrown away ("wrong call target") at the
 * next merge.
 */
function heapLess(readers: RecordReader[], i: number, j: number): boolean {
  return cmpRec(readers[i]!.rec, readers[j]!.rec) < 0;
}
function heapUp(heap: Int32Array, readers: RecordReader[], k: number): void {
  while (k > 0) {
    const p = (k - 1) >> 1;
    if (!heapLess(readers, heap[k]!, heap[p]!)) break;
    const t = heap[k]!;
    heap[k] = heap[p]!;
    heap[p] = t;
    k = p;
  }
}
function heapDown(heap: Int32Array, size: number, readers: RecordReader[], k: number): void {
  for (;;) {
    const l = 2 * k + 1;
    const r = l + 1;
    let m = k;
    if (l < size && heapLess(readers, heap[l]!, heap[m]!)) m = l;
    if (r < size && heapLess(readers, heap[r]!, heap[m]!)) m = r;
    if (m === k) break;
    const t = heap[k]!;
    heap[k] = heap[m]!;
    heap[m] = t;
    k = m;
  }
}

/** One merge of mergeRuns: its readers' heap and the group being gathered (one shape for every merge). */
class RunMerge {
  /** Reader indices, a binary heap of `size`, the least record first. */
  readonly heap: Int32Array;
  size = 0;
  group: Uint32Array;
  /** Records in `group`. */
  gn = 0;
  /** Records merged. */
  total = 0;
  /** The last record merged (the runs' order is checked). */
  readonly prev: Uint32Array;
  constructor(
    readonly readers: RecordReader[],
    readonly width: number,
    readonly paths: string[],
    readonly onGroup: (recs: Uint32Array, n: number) => void,
    readonly maxGroup: number,
    readonly onOverflow: ((rec: Uint32Array, group: Uint32Array, n: number) => void) | undefined,
  ) {
    this.group = new Uint32Array(width * 64);
    this.prev = new Uint32Array(width);
    this.heap = new Int32Array(readers.length);
    for (let i = 0; i < readers.length; i++) {
      if (readers[i]!.next()) {
        this.heap[this.size++] = i;
        heapUp(this.heap, readers, this.size - 1);
      }
    }
  }
}

/**
 * Merge sorted runs; calls `onGroup` with every maximal run of records that share a key. A group holds at most
 * `maxGroup` records in memory: later records of the same key go to `onOverflow(rec, group, n)` one by one.
 */
export function mergeRuns(
  runs: (string | RunFile)[],
  width: number,
  onGroup: (recs: Uint32Array, n: number) => void,
  maxGroup = Infinity,
  onOverflow?: (rec: Uint32Array, group: Uint32Array, n: number) => void,
): number {
  const readers: RecordReader[] = [];
  const paths = runs.map((x) => (typeof x === 'string' ? x : x.path));
  try {
    for (const x of runs) readers.push(openRun(x, width));
    const m = new RunMerge(readers, width, paths, onGroup, maxGroup, onOverflow);
    mergeLoop(m);
    if (m.gn > 0) onGroup(m.group, m.gn);
    return m.total;
  } finally {
    for (const r of readers) r.close();
  }
}

/**
 * mergeRuns' loop, a function of its own that does nothing before or after its loop: in one function with the
 * merge's setup and end, the loop's optimised code (compiled on stack in the process's first merge) met the setup
 * at the next merge, which had run before V8 kept feedback for it, and was thrown away ("Insufficient type
 * feedback"). A run's end is not a branch of its own: the heap's top is taken off by one code path either way.
 */
function mergeLoop(m: RunMerge): void {
  while (m.size > 0) {
    const heap = m.heap;
    const readers = m.readers;
    const width = m.width;
    const i = heap[0]!;
    const rec = readers[i]!.rec;
    if (m.total > 0 && cmpRec(m.prev, rec) > 0) throw new CorruptIntermediateError(m.paths[i]!, 'records out of order');
    if (m.gn > 0 && (m.group[0] !== rec[0] || m.group[1] !== rec[1])) {
      m.onGroup(m.group, m.gn);
      m.gn = 0;
    }
    // read on every record: read only past maxGroup (rare), the read first ran in optimised code and threw it away
    const onOverflow = m.onOverflow;
    if (m.gn >= m.maxGroup && onOverflow) onOverflow(rec, m.group, m.gn);
    else {
      if ((m.gn + 1) * width > m.group.length) {
        const g = new Uint32Array(m.group.length * 2);
        g.set(m.group);
        m.group = g;
      }
      m.group.set(rec, m.gn * width);
      m.gn++;
    }
    m.prev.set(rec);
    m.total++;
    // the top reader's next record, or (at its run's end) the heap's last reader in its place
    const more = readers[i]!.next();
    const size = m.size;
    const last = size - 1;
    heap[0] = heap[more ? 0 : last]!;
    m.size = more ? size : last;
    heapDown(heap, m.size, readers, 0);
  }
}

/** Bytes mergeRuns reads of a run at a time. */
const RUN_CHUNK = 1 << 16;

/** A MinHash candidate record's third word (cand/, stage buckets -> verify): the pair's sketch estimate of J × this, rounded. */
export const CAND_EST_SCALE = 0x10000;

/** P output files of one producer: record (a, b) goes to partition a % P. */
export class PartitionedWriter {
  readonly ws: RecordWriter[];
  count = 0;
  constructor(
    dir: string,
    readonly parts: number,
    width: number,
    withString = false,
    private readonly partOf: (rec: ArrayLike<number>) => number = (r) => r[0]! % parts,
  ) {
    // at most 64K words (256 KB) buffered per output: a writer per band and partition is made and zero-filled each time
    const chunk = Math.max(4096, Math.min(1 << 16, Math.floor((1 << 21) / parts)));
    this.ws = Array.from(
      { length: parts },
      (_, q) => new RecordWriter(join(dir, `to-${pad(q)}.bin`), width, withString, chunk),
    );
  }
  write(rec: ArrayLike<number>, str?: string): void {
    this.ws[this.partOf(rec)]!.write(rec, 0, str);
    this.count++;
  }
  private readonly edge = new Uint32Array(2);
  /** An undirected edge as its two directed records (u, v) and (v, u), each to its own partition. */
  writeEdge(u: number, v: number): void {
    const e = this.edge;
    e[0] = u;
    e[1] = v;
    this.write(e);
    e[0] = v;
    e[1] = u;
    this.write(e);
  }
  close(): void {
    for (const w of this.ws) w.close();
  }
  abort(): void {
    for (const w of this.ws) w.abort();
  }
}

/** A reader of one sorted run (a file, or a section of a section file) of `width`-word records. */
function openRun(x: string | RunFile, width: number): RecordReader {
  const path = typeof x === 'string' ? x : x.path;
  const range = typeof x === 'string' || x.section === undefined ? undefined : sectionRange(x.path, x.section);
  const r =
    typeof x !== 'string' && x.kept
      ? new IndexRunReader(path, x.kept, range)
      : new RecordReader(path, RUN_CHUNK, range);
  if (r.width !== width) {
    r.close();
    throw new CorruptIntermediateError(r.path, `record width ${r.width}, expected ${width}`);
  }
  return r;
}

/** A set of positions 0 … n − 1 as bits (32 per word), with the rank (set positions before) of each. */
export class RankBits {
  private readonly before: Uint32Array;
  constructor(
    readonly bits: Uint32Array,
    readonly n: number,
  ) {
    const w = Math.ceil(n / 32);
    if (bits.length < w) throw new Error(`RankBits: ${bits.length} words for ${n} positions`);
    if (n % 32) bits[w - 1]! &= (1 << (n % 32)) - 1; // nothing past n
    this.before = new Uint32Array(w + 1);
    for (let i = 0; i < w; i++) this.before[i + 1] = this.before[i]! + popcount32(bits[i]!);
  }
  get count(): number {
    return this.before[this.before.length - 1]!;
  }
  has(i: number): boolean {
    return ((this.bits[i >> 5]! >>> (i & 31)) & 1) === 1;
  }
  /** Set positions before i. */
  rank(i: number): number {
    return this.before[i >> 5]! + popcount32(this.bits[i >> 5]! & ((1 << (i & 31)) - 1));
  }
}

/** The kept documents of an input file as a version-2 index holds them: index documents base, base + 1, … */
export interface KeptDocs {
  kept: RankBits;
  base: number;
}

/**
 * A version-2 index's run: an input file's signature records (key, file, doc, payload), of which only the kept
 * documents are read, each as (key, INDEX_FILE, base + its rank among the kept, payload) — the records a version-1 index
 * band held for them, in the same order.
 */
class IndexRunReader extends RecordReader {
  constructor(
    path: string,
    private readonly docs: KeptDocs,
    range?: ByteRange,
  ) {
    super(path, RUN_CHUNK, range);
  }
  override next(): boolean {
    const { kept, base } = this.docs;
    const rec = this.rec;
    while (super.next()) {
      const d = rec[3]!;
      if (d >= kept.n) throw new CorruptIntermediateError(this.path, `document ${d} of ${kept.n}`);
      if (!kept.has(d)) continue;
      rec[2] = INDEX_FILE;
      rec[3] = base + kept.rank(d);
      return true;
    }
    return false;
  }
}

/** index/manifest.json of a dedup run (dedup/run.ts indexStage). */
export interface IndexManifest {
  format: 'steel-dedup-index';
  /** 1: the band records merged into bands/bBBB.bin; 2: `sources`. */
  version: 1 | 2;
  fingerprint: Record<string, unknown>;
  docs: number;
  bands: number;
  width: number;
  sources?: IndexSource[];
}

/**
 * Where a version-2 index's band records are (paths relative to the index folder). `sig`: an input file's signature
 * section file (`runs` sorted runs per band) and the kept bits of its `docs` documents (the filter's), both linked
 * from the run's work folder by the index stage instead of merged into new files: its kept documents are index
 * documents base, base + 1, … in document order. `bands`: the merged band files of a version-1 index (records (key,
 * INDEX_FILE, index document, payload)), carried by a run that deduplicated against it.
 */
export type IndexSource =
  { kind: 'sig'; sig: string; kept: string; runs: number; docs: number; base: number } | { kind: 'bands'; dir: string };

export function readIndexManifest(indexDir: string): IndexManifest {
  const m = JSON.parse(readFileSync(join(indexDir, 'manifest.json'), 'utf8')) as IndexManifest;
  if (m.format !== 'steel-dedup-index' || (m.version !== 1 && m.version !== 2))
    throw new Error(`${indexDir}: not a dedup index of a known version (${m.format} ${m.version})`);
  return m;
}

/** The sources of an index (a version-1 index: its bands/ folder). */
export function indexSources(m: IndexManifest): IndexSource[] {
  return m.version === 1 ? [{ kind: 'bands', dir: 'bands' }] : (m.sources ?? []);
}

/** An index opened for reading its band runs (its sources' kept bits loaded once). */
export class IndexRuns {
  private readonly sources: { s: IndexSource; kept?: KeptDocs }[];
  private readonly bands: number;
  constructor(readonly dir: string) {
    const m = readIndexManifest(dir);
    this.bands = m.bands;
    this.sources = indexSources(m).map((s) => {
      if (s.kind !== 'sig') return { s };
      const { words } = readAllRecords(join(dir, s.kept));
      if (words.length < Math.ceil(s.docs / 32))
        throw new CorruptIntermediateError(join(dir, s.kept), `${words.length} words for ${s.docs} documents`);
      return { s, kept: { kept: new RankBits(words, s.docs), base: s.base } };
    });
  }
  /** The runs of band b: records (key, INDEX_FILE, index document, payload), each run sorted. */
  band(b: number): RunFile[] {
    const out: RunFile[] = [];
    for (const { s, kept } of this.sources) {
      if (s.kind === 'bands') out.push({ path: join(this.dir, s.dir, `b${pad(b, 3)}.bin`) });
      else
        for (let r = 0; r < s.runs; r++) out.push({ path: join(this.dir, s.sig), section: r * this.bands + b, kept });
    }
    return out;
  }
}

/** A hard link to `from` at `to` (a copy where the file system cannot link: another device, no links). */
export function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

export function inputFilesFor(dir: string, part: number): string[] {
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

export interface PostArgs {
  cfg: DedupConfig;
  num: Numbering;
  /** Folder of the converged round (edges leaf -> centre keyed by leaf). */
  starsDir: string;
}

/** Length, score and id of every document of the given files (and of the index, when the group owns it). */
export function loadInfo(cfg: DedupConfig, num: Numbering, group: number) {
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
  if (cfg.indexDir && num.indexDocs > 0 && groupOfFile(cfg, INDEX_FILE) === group)
    load(INDEX_FILE, join(cfg.indexDir, 'info.bin'));
  return m;
}

export const docsPartPath = (cfg: DedupConfig, g: number) => join(cfg.outDir, 'docs', `part-${pad(g)}.jsonl.zst`);

export const keptPath = (cfg: DedupConfig, fi: number) => join(cfg.workDir, 'kept', `f${pad(fi)}.bin`);
