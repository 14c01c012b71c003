/**
 * Stage 2, buckets (bandTasks tasks, each over bands rank, rank + world, ...): k-way merge of each band's sorted runs ->
 * edges edges/from-{T}/to-{P}.bin, and with MinHash exact verification the candidate pairs cand/from-{T}/to-{G}.bin
 * (by file group; records u, v and the pair's sketch estimate × CAND_EST_SCALE: u < v in the group of u, and v, u
 * in the group of v when that is another) for stage verify.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { INDEX_FILE, layout, type DedupConfig } from '../config.ts';
import { sketchJaccard } from '../minhash.ts';
import { hamming } from '../simhash.ts';
import {
  pad,
  bandRuns,
  crashPoint,
  lastAtMost,
  type Numbering,
  nodeOf,
  groupOfFile,
  mergeRuns,
  PartitionedWriter,
  IndexRuns,
  type RunFile,
  CAND_EST_SCALE,
} from './common.ts';
import { testHooks } from '../../pipeline/settings.ts';
import { instantiate, type KernelMemory } from '../../pipeline/wasm.ts';

export interface BucketArgs {
  cfg: DedupConfig;
  num: Numbering;
}

/** Distinct members of one bucket compared pairwise (beyond that, with the first MAX_PAIRWISE only). */
const MAX_PAIRWISE = 2000;

/**
 * MinHash with exact verification: pairs whose sketch estimate is below threshold − PREFILTER_MARGIN are not
 * verified (the estimate's standard deviation is ~0.03 at J 0.8 with 250 bins, so this margin is 5 of them).
 */
export const PREFILTER_MARGIN = 0.15;

/** Records of one bucket held in memory by the bucket merge. */
const MAX_GROUP = 200_000;

/**
 * The members (0 … n − 1, records of `width` words in g, the payload at word 4) whose payload no earlier member has, in
 * order; `same(r, i)` is called for every other member i, with r the first member of its payload.
 */
export function distinctPayloads(
  g: Uint32Array,
  n: number,
  width: number,
  payload: number,
  same: (r: number, i: number) => void,
  hash = payloadHash,
): number[] {
  const reps: number[] = [];
  // payload hash -> the first members with that hash (one per distinct payload)
  const seen = new Map<number, number | number[]>();
  for (let i = 0; i < n; i++) {
    const o = i * width + 4;
    const h = hash(g, o, payload);
    const r = seen.get(h);
    const s = r === undefined ? -1 : samePayloadAs(g, o, payload, r, width);
    if (s >= 0) same(s, i);
    else {
      if (r === undefined) seen.set(h, i);
      else if (typeof r === 'number') seen.set(h, [r, i]);
      else r.push(i);
      reps.push(i);
    }
  }
  return reps;
}

function payloadHash(g: Uint32Array, o: number, payload: number): number {
  let h = 0x9e3779b9;
  for (let w = 0; w < payload; w++) h = Math.imul(h ^ g[o + w]!, 0x01000193) ^ (h >>> 15);
  return h;
}

/** The member among `r` (one member or several) whose payload equals the one at g[o]; -1 if none. */
function samePayloadAs(g: Uint32Array, o: number, payload: number, r: number | number[], width: number): number {
  if (typeof r === 'number') return equalWords(g, o, r * width + 4, payload) ? r : -1;
  for (const m of r) if (equalWords(g, o, m * width + 4, payload)) return m;
  return -1;
}

function equalWords(g: Uint32Array, a: number, b: number, n: number): boolean {
  for (let w = 0; w < n; w++) if (g[a + w] !== g[b + w]) return false;
  return true;
}

/**
 * The file group of every node (groupOfFile of its file; index documents the index's group), by runs of consecutive
 * nodes in one group: a candidate pair looks up both its nodes, millions of times a step, where fileOf's search and
 * pair cost ~10% of the task.
 */
export class NodeGroups {
  /** starts[k]: the first node of run k (starts[0] = 0); groups[k] its group. */
  readonly starts: Uint32Array;
  readonly groups: Uint32Array;
  constructor(starts: number[], groups: number[]) {
    this.starts = Uint32Array.from(starts);
    this.groups = Uint32Array.from(groups);
  }
  /** The group of node n (n ≥ 0). */
  of(n: number): number {
    return this.groups[lastAtMost(this.starts, n, this.starts.length)]!;
  }
}

/** The runs of nodes in one file group (NodeGroups), from the numbering and cfg.groupOf. */
export function nodeGroups(cfg: DedupConfig, num: Numbering): NodeGroups {
  const F = cfg.inputs.length;
  const starts: number[] = [];
  const groups: number[] = [];
  // a file without documents has no node: its group is never asked for
  const add = (start: number, g: number) => {
    if (groups.length === 0 || groups[groups.length - 1] !== g) {
      starts.push(start);
      groups.push(g);
    }
  };
  for (let fi = 0; fi < F; fi++)
    if (num.offsets[fi + 1]! > num.offsets[fi]!) add(num.offsets[fi]!, groupOfFile(cfg, fi));
  add(num.offsets[F]!, groupOfFile(cfg, INDEX_FILE));
  return new NodeGroups(starts, groups);
}

/** The bucket kernel's exports (dedup/stages/bucket-kernel.c, built by bucket-kernel.sh; the .wasm is committed). */
interface BucketKernel extends KernelMemory {
  pairs(
    g: number,
    width: number,
    words: number,
    lastMask: number,
    reps: number,
    r: number,
    x0: number,
    cap: number,
    maxDiff: number,
    out: number,
    outCap: number,
  ): number;
  pairCount(): number;
  emit(
    e: number,
    g: number,
    width: number,
    words: number,
    lastMask: number,
    reps: number,
    r: number,
    x0: number,
    cap: number,
    maxDiff: number,
  ): number;
}

/** Where SketchPairs.emit writes a bucket's candidate records: per group a writer of 3-word records. */
export interface CandidateWriters {
  readonly ws: readonly { writeMany(words: Uint32Array, nRecords: number, offset: number): void }[];
  count: number;
}

/** Records per group one call of the kernel's emit may write: at least MAX_PAIRWISE, the most pairs of one member. */
const EMIT_RECORDS = 1 << 14;

/** Pairs a call of the kernel may write (its output: 3 words a pair); at least MAX_PAIRWISE, the most one member has. */
const OUT_PAIRS = 1 << 15;

/**
 * MinHash sketches compared in the bucket kernel: a bucket's distinct members pairwise, as runBuckets' loop over them
 * did with sketchJaccard (about 40% of the step's CPU in a profile of the 75 MB set), only the pairs that may pass
 * handed back.
 */
export class SketchPairs {
  private readonly k: BucketKernel;
  private mem: Uint32Array;
  private readonly words: number;
  private readonly lastMask: number;
  /** estOf[d]: sketchJaccard of two sketches with d of their numPerm slots different. */
  readonly estOf: Float64Array;

  constructor(readonly numPerm: number) {
    this.k = instantiate<BucketKernel>(new URL('./bucket-kernel.wasm', import.meta.url));
    this.mem = new Uint32Array(this.k.memory.buffer);
    this.words = Math.ceil(numPerm / 16);
    const rest = numPerm % 16;
    this.lastMask = rest ? ((1 << (rest * 2)) - 1) >>> 0 : 0xffffffff;
    this.estOf = new Float64Array(numPerm + 1);
    for (let d = 0; d <= numPerm; d++) {
      // sketchJaccard's arithmetic on its count of equal slots
      const f = (numPerm - d) / numPerm;
      this.estOf[d] = Math.max(0, (4 * f - 1) / 3);
    }
  }

  /** Byte address of emit's tables (bucket-kernel.c Emit), and the first word after them; set by prepareEmit. */
  private emitAt = -1;
  private emitEnd = 0;
  private groups = 0;
  private countsAt = 0;
  private outAt = 0;

  /**
   * Tables for emit(): the nodes' numbering (no index documents), the groups of the nodes, the candidate record's
   * estimate (buckets.ts cand: est × CAND_EST_SCALE, rounded) of each count of differing slots up to maxDiff.
   */
  prepareEmit(num: Numbering, groupOf: NodeGroups, groups: number, maxDiff: number): void {
    const F = num.offsets.length - 1;
    const runs = groupOf.starts.length;
    let at = (this.k.__heap_base.value + 15) >>> 2;
    const e = at;
    at += 9;
    const offsetsAt = at;
    at += F + 1;
    const startsAt = at;
    at += runs;
    const groupsAt = at;
    at += runs;
    const estAt = at;
    at += Math.max(0, maxDiff + 1);
    const countsAt = at;
    at += groups;
    const outAt = (at + 3) & ~3;
    at = outAt + 3 * groups * EMIT_RECORDS;
    this.reserve(at * 4);
    const mem = this.mem;
    mem.set(
      [offsetsAt * 4, startsAt * 4, groupsAt * 4, runs, estAt * 4, groups, outAt * 4, EMIT_RECORDS, countsAt * 4],
      e,
    );
    for (let f = 0; f <= F; f++) mem[offsetsAt + f] = num.offsets[f]!;
    mem.set(groupOf.starts, startsAt);
    mem.set(groupOf.groups, groupsAt);
    for (let d = 0; d <= maxDiff; d++) mem[estAt + d] = Math.round(this.estOf[d]! * CAND_EST_SCALE);
    this.emitAt = e * 4;
    this.emitEnd = at;
    this.groups = groups;
    this.countsAt = countsAt;
    this.outAt = outAt;
  }

  /**
   * The candidate pairs of g's members reps (as each(): x ascending, y < min(x, cap) ascending; d ≤ maxDiff, the
   * maxDiff of threshold − PREFILTER_MARGIN) written as buckets.ts cand writes them, to cw.ws[group]: (lo, hi,
   * estimate) to lo's group, and (hi, lo, estimate) to hi's when that is another; a pair of a node with itself
   * skipped. g's records are this run's own documents (prepareEmit's numbering). Returns the candidate pairs.
   */
  emit(
    g: Uint32Array,
    n: number,
    width: number,
    reps: number[],
    cap: number,
    maxDiff: number,
    cw: CandidateWriters,
  ): number {
    const r = reps.length;
    if (r < 2) return 0;
    if (this.emitAt < 0) throw new Error('dedup buckets: SketchPairs.emit before prepareEmit');
    const gAt = this.emitEnd;
    const repsAt = gAt + n * width;
    this.reserve((repsAt + r) * 4);
    const mem = this.mem;
    mem.set(g.subarray(0, n * width), gAt);
    for (let i = 0; i < r; i++) mem[repsAt + i] = reps[i]!;
    let cands = 0;
    for (let x = 0; x < r;) {
      x = this.k.emit(this.emitAt, gAt * 4, width, this.words, this.lastMask, repsAt * 4, r, x, cap, maxDiff);
      cands += this.k.pairCount();
      for (let q = 0; q < this.groups; q++) {
        const c = mem[this.countsAt + q]!;
        if (c === 0) continue;
        cw.ws[q]!.writeMany(mem, c, this.outAt + 3 * q * EMIT_RECORDS);
        cw.count += c;
      }
    }
    return cands;
  }

  /** The kernel's memory at least `bytes` long; this.mem a view of all of it. */
  private reserve(bytes: number): void {
    const buf = this.k.memory.buffer;
    if (bytes > buf.byteLength) this.k.memory.grow(Math.ceil((bytes - buf.byteLength) / 65536));
    if (this.mem.buffer !== this.k.memory.buffer) this.mem = new Uint32Array(this.k.memory.buffer);
  }

  /** The most differing slots of a pair whose estimate is ≥ min; -1 when none is. */
  maxDiff(min: number): number {
    let d = -1;
    while (d < this.numPerm && this.estOf[d + 1]! >= min) d++;
    return d;
  }

  /**
   * For the members reps[x] of g (n records of `width` words, the sketch at word 4), x ascending, and each y < min(x,
   * cap) ascending: onPair(reps[x], reps[y], d) for the pairs with d ≤ maxDiff (≥ 0) differing slots.
   */
  each(
    g: Uint32Array,
    n: number,
    width: number,
    reps: number[],
    cap: number,
    maxDiff: number,
    onPair: (x: number, y: number, diff: number) => void,
  ): void {
    const r = reps.length;
    if (r < 2) return;
    const gAt = Math.max(this.emitEnd, (this.k.__heap_base.value + 15) >>> 2);
    const repsAt = gAt + n * width;
    const outAt = repsAt + r;
    this.reserve((outAt + 3 * OUT_PAIRS) * 4);
    const mem = this.mem;
    mem.set(g.subarray(0, n * width), gAt);
    for (let i = 0; i < r; i++) mem[repsAt + i] = reps[i]!;
    for (let x = 0; x < r;) {
      x = this.k.pairs(gAt * 4, width, this.words, this.lastMask, repsAt * 4, r, x, cap, maxDiff, outAt * 4, OUT_PAIRS);
      const c = this.k.pairCount();
      for (let i = 0, o = outAt; i < c; i++, o += 3) onPair(reps[mem[o]!]!, reps[mem[o + 1]!]!, mem[o + 2]!);
    }
  }
}

/** Pairs of r distinct members compared when each is compared with at most the first `cap` before it. */
export function pairsCompared(r: number, cap: number): number {
  return r <= cap ? (r * (r - 1)) / 2 : (cap * (cap - 1)) / 2 + (r - cap) * cap;
}

/** Task rank of world: merge each of its bands' sorted runs, emit candidate edges (both directions) by node partition. */
async function runBuckets(rank: number, world: number, args: BucketArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const { bands, width, payload } = layout(cfg);
  const out = {
    bands: [] as number[],
    records: 0,
    buckets: 0,
    edges: 0,
    candidates: 0,
    compared: 0,
    cappedBuckets: 0,
    overflow: 0,
  };
  // this task's outputs, for all its bands: edges/from-T/to-P.bin, and with exact verification the candidate pairs
  // cand/from-T/to-G.bin by the file group of the first
  const dir = join(cfg.workDir, 'edges', `from-${pad(rank)}`);
  rmSync(dir, { recursive: true, force: true });
  const pw = new PartitionedWriter(dir, cfg.partitions, 2);
  const exactVerify = cfg.method === 'minhash' && cfg.minhash.verify;
  const candDir = join(cfg.workDir, 'cand', `from-${pad(rank)}`);
  rmSync(candDir, { recursive: true, force: true });
  const groupOf = nodeGroups(cfg, num);
  // the group of a record's first node: set by cand just before each write (a lookup per record otherwise)
  let candGroup = 0;
  const cw = exactVerify ? new PartitionedWriter(candDir, cfg.groups, 3, false, () => candGroup) : undefined;
  const candRec = new Uint32Array(3);
  const index = cfg.indexDir ? new IndexRuns(cfg.indexDir) : undefined;
  const numPerm = cfg.minhash.bands * cfg.minhash.rows;
  // MinHash with exact verification: the distinct members' pairs in the kernel, handed back when their estimate may
  // reach the lower of the two bars decide() applies
  const sketches = cfg.method === 'minhash' && cfg.minhash.verify ? new SketchPairs(numPerm) : undefined;
  const maxDiff = sketches
    ? sketches.maxDiff(Math.min(cfg.minhash.threshold, cfg.minhash.threshold - PREFILTER_MARGIN))
    : -1;
  // without a previous index every pair is this run's documents', decided by cand alone: its records written by the
  // kernel (the pairs one by one in JavaScript cost ~0.3 CPU-s of the 75 MB set's ~1 s)
  const emitting = sketches !== undefined && index === undefined && maxDiff >= 0;
  if (emitting) sketches.prepareEmit(num, groupOf, cfg.groups, maxDiff);
  // the callbacks of every band's merge made once: a merge's compiled code inlines them, and a new closure per band
  // was a call target it had not seen (a deopt and a compile again per band, in each process)
  const edge = (u: number, v: number) => {
    if (u === v) return;
    pw.writeEdge(u, v);
    out.edges++;
  };
  const firstIndexNode = num.offsets[num.offsets.length - 1]!;
  // a candidate pair with its sketch estimate (verify takes the likeliest pairs first): (lo, hi) to the group of
  // lo, whose verify task checks it; (hi, lo) too when hi is in another group, whose sets task reads hi's text
  const cand = (u: number, v: number, est: number) => {
    if (u === v) return;
    const lo = Math.min(u, v);
    const hi = Math.max(u, v);
    const gLo = groupOf.of(lo);
    candRec[2] = Math.round(est * CAND_EST_SCALE);
    candRec[0] = lo;
    candRec[1] = hi;
    candGroup = gLo;
    cw!.write(candRec);
    const gHi = groupOf.of(hi);
    if (gHi !== gLo) {
      candRec[0] = hi;
      candRec[1] = lo;
      candGroup = gHi;
      cw!.write(candRec);
    }
    out.candidates++;
  };
  /** Decide a pair of distinct members from their payloads (SimHash: 64-bit hashes; MinHash: 2-bit sketches). */
  const pair = (u: number, v: number, x: Uint32Array, xo: number, y: Uint32Array, yo: number) => {
    out.compared++;
    if (cfg.method === 'simhash') {
      if (hamming(x[xo]!, x[xo + 1]!, y[yo]!, y[yo + 1]!) <= cfg.simhash.distance) edge(u, v);
      return;
    }
    decide(u, v, sketchJaccard(x, xo, y, yo, numPerm));
  };
  /** A MinHash pair by its sketch estimate (a document of a previous index has no text here: by the estimate). */
  const decide = (u: number, v: number, est: number) => {
    if (u >= firstIndexNode || v >= firstIndexNode) {
      if (est >= cfg.minhash.threshold) edge(u, v);
    } else if (est >= cfg.minhash.threshold - PREFILTER_MARGIN) cand(u, v, est);
  };
  const onGroup = (g: Uint32Array, n: number) => {
    if (n < 2) return;
    out.buckets++;
    const node = (i: number) => nodeOf(num, g[i * width + 2]!, g[i * width + 3]!);
    if (cfg.method === 'exact' || (cfg.method === 'minhash' && !cfg.minhash.verify)) {
      const first = node(0);
      for (let i = 1; i < n; i++) edge(first, node(i));
      return;
    }
    // identical payloads collapse onto their first member (SimHash: same hash; MinHash: same sketch, a pair
    // still verified exactly); distinct payloads are compared pairwise
    const reps = distinctPayloads(g, n, width, payload, (r, i) =>
      pair(node(r), node(i), g, r * width + 4, g, i * width + 4),
    );
    // a bucket with very many distinct members: each is compared with the first MAX_PAIRWISE only (bounded time)
    if (reps.length > MAX_PAIRWISE) out.cappedBuckets++;
    if (sketches) {
      out.compared += pairsCompared(reps.length, MAX_PAIRWISE);
      if (emitting) out.candidates += sketches.emit(g, n, width, reps, MAX_PAIRWISE, maxDiff, cw!);
      else if (maxDiff >= 0)
        sketches.each(g, n, width, reps, MAX_PAIRWISE, maxDiff, (x, y, d) =>
          decide(node(x), node(y), sketches.estOf[d]!),
        );
      return;
    }
    for (let x = 0; x < reps.length; x++) {
      const ox = reps[x]! * width + 4;
      for (let y = 0; y < Math.min(x, MAX_PAIRWISE); y++)
        pair(node(reps[x]!), node(reps[y]!), g, ox, g, reps[y]! * width + 4);
    }
  };
  const onOverflow = (rec: Uint32Array, g: Uint32Array, n: number) => {
    // bucket larger than MAX_GROUP records: compare with the first MAX_PAIRWISE held records only
    out.overflow++;
    const u = nodeOf(num, rec[2]!, rec[3]!);
    if (cfg.method === 'exact' || (cfg.method === 'minhash' && !cfg.minhash.verify))
      return edge(nodeOf(num, g[2]!, g[3]!), u);
    for (let y = 0; y < Math.min(n, MAX_PAIRWISE); y++)
      pair(nodeOf(num, g[y * width + 2]!, g[y * width + 3]!), u, g, y * width + 4, rec, 4);
  };
  try {
    for (let b = rank; b < bands; b += world) {
      const runs: (string | RunFile)[] = bandRuns(cfg, num, b);
      if (index) runs.push(...index.band(b));
      out.records += mergeRuns(runs, width, onGroup, testHooks().dedupMaxGroup ?? MAX_GROUP, onOverflow);
      out.bands.push(b);
      ctx.progress(out.bands.length);
    }
    crashPoint('buckets');
    pw.close();
    cw?.close();
  } catch (err) {
    pw.abort();
    cw?.abort();
    throw err;
  }
  return out;
}

export const bucketsTask = defineTask('dedup.buckets', runBuckets);
