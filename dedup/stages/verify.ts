/**
 * Stage 2b, verify (MinHash with `verify`): the exact Jaccard of every candidate pair's shingle sets, so the
 * threshold is applied to the similarity itself rather than to an estimate (whose noise, ~0.03 at J 0.8, dropped
 * about half of the true pairs between J 0.80 and 0.85). Two steps:
 *
 *  a. sets:   one task per run of consecutive input files of about equal estimated cost (setsTasks; half as many as
 *             file groups): its files' documents that are in some candidate pair -> vsets/sT.bin (their sorted, unique
 *             shingle hashes, one after another) + vsets/sT.idx.bin (node, start, length, check per document), its
 *             likely pairs -> vsets/sT.likely.bin, its other pairs -> vsets/sT.pairs.bin (each pair once, from the
 *             records of its bands in cand/), and with more than one verify range those of its other pairs that its
 *             likely pairs do not join -> vsets/sT.open.bin (openPairs); it returns its profile of pairs (pairProfile)
 *  b. verify: one task per range of first nodes of about equal cost (verifyPlan over the sets tasks' profiles of
 *             pairs, checkProfile's of checks and readProfile's of sets read back; one range with one worker), run
 *             where its sets are held (verifyHomes): the likely pairs (all with one range, those near its own with
 *             several: rangeNodes), then the range's other pairs (u < v) -> edges/from-vK/to-P.bin (the edges of the
 *             range's pairs) when J(u, v) ≥ threshold, reading each set by offset from its sets task's file: the sets
 *             the range may need (one buffer, a view per set) when they fit in SETS_IN_MEMORY, else each as needed;
 *             each set checked against the index's check word
 *
 * A task holds its range's candidate pairs, the index of the candidate documents (16 bytes each) and at most
 * SETS_IN_MEMORY bytes of sets files, never every set. Every file is written under a temporary name and renamed when
 * complete.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { setting, testHooks } from '../../pipeline/settings.ts';
import { detectFormat, readDocuments, recordToDocument, type ToDocumentOptions } from '../../pipeline/readers/index.ts';
import { openBytes, stripCompression } from '../../pipeline/readers/bytes.ts';
import type { Document } from '../../pipeline/document.ts';
import { signedFile } from './signatures.ts';
import { RangePairs, dropSpare, spareWords } from './cand-pairs.ts';
import { CorruptIntermediateError, RecordRanges, RecordReader, RecordWriter, readAllRecords } from '../runfile.ts';
import { jaccardSorted, sortedSet } from '../text.ts';
import {
  pad,
  crashPoint,
  lastAtMost,
  groupOfFile,
  inputFilesFor,
  linesPath,
  minhashShingles,
  PartitionedWriter,
  CAND_EST_SCALE,
  type Numbering,
} from './common.ts';
import type { DedupConfig } from '../config.ts';

export interface VerifyArgs {
  cfg: DedupConfig;
  num: Numbering;
  /**
   * The sets tasks' node ranges (setsTasks): task t takes the candidate documents of nodes sets[t] .. sets[t + 1] - 1
   * (a range may start or end inside an input file).
   */
  sets: number[];
  /** The verify step's tasks (a plan by checkProfile when more than one: the sets tasks then write their open pairs). */
  ranges: number;
}

/** The verify step's arguments: the sets step's, and the split of the pairs over its tasks (verifyPlan). */
export interface VerifyPairsArgs extends VerifyArgs {
  plan: VerifyPlan;
}

const setsPath = (cfg: DedupConfig, t: number) => join(cfg.workDir, 'vsets', `s${pad(t)}.bin`);
const setsIndexPath = (cfg: DedupConfig, t: number) => join(cfg.workDir, 'vsets', `s${pad(t)}.idx.bin`);
/** A sets task's likely pairs (sketch estimate at the threshold or above; u < v, u in its files): u, v each, sorted. */
const likelyPath = (cfg: DedupConfig, t: number) => join(cfg.workDir, 'vsets', `s${pad(t)}.likely.bin`);
/** A sets task's other pairs (u < v, u in its files), each once: u, v each, sorted. */
const otherPath = (cfg: DedupConfig, t: number) => join(cfg.workDir, 'vsets', `s${pad(t)}.pairs.bin`);
/** Those of a sets task's other pairs that its likely pairs do not join (openPairs; the verify plan's input): u, v each, sorted. */
const openPath = (cfg: DedupConfig, t: number) => join(cfg.workDir, 'vsets', `s${pad(t)}.open.bin`);

/** The nodes first .. end - 1 of sets task `t` (setsTasks), and the groups of the input files that hold them. */
function setsRange(args: VerifyArgs, t: number): { first: number; end: number; groups: number[] } {
  const { cfg, num, sets } = args;
  const first = sets[t]!;
  const end = sets[t + 1]!;
  const groups = new Set<number>();
  for (let fi = 0; fi < cfg.inputs.length; fi++)
    if (num.offsets[fi]! < end && num.offsets[fi + 1]! > first) groups.add(groupOfFile(cfg, fi));
  return first < end ? { first, end, groups: [...groups] } : { first: 0, end: 0, groups: [] };
}

/**
 * The verify sets tasks' node ranges (`bounds`: task t's nodes bounds[t] .. bounds[t + 1] - 1; `sizes`: each task's
 * estimate): cfg.groups / 2 consecutive ranges of about equal estimated cost. A task's cost is mostly its candidate
 * documents' text (their shingle sets) and its pairs' cand/ records: a file's cost is its text (`fileBytes`: its
 * documents' UTF-8 bytes, as signed; without them its documents) times the share of its group's text that is
 * candidates', estimated from the group's candidate records (`candBytes`: its cand/ files' bytes) a document
 * (candShare), plus CAND_BYTE_COST of its group's cand/ bytes shared by the group's files by their documents. A
 * file's cost is spread evenly over its documents, and a range ends inside a file where that is nearer its share than
 * the file's ends (by more than SETS_SNAP of a share); the task that starts inside a file also decodes the file's
 * lines before its range (SETS_RESCAN of their cost, charged to it). Big set (75 MB + 100 MB of package
 * documentation, 2 workers): group 0 held 98% of the cand/ bytes but 49% of the candidates' text, and sharing the
 * cost by cand/ bytes alone gave the tasks 21.9 / 61.8 M characters of candidates (CPU 0.85 / 1.78 s); by text
 * alone, 41.6 / 42.1 M, but CPU 1.59 / 1.20 (group 0's 3.8 M records). Derived from the run's settings and
 * intermediates only, so a resumed run assigns the same.
 */
export function setsTasks(
  cfg: DedupConfig,
  num: Numbering,
  candBytes: readonly number[],
  fileBytes?: readonly number[],
): { bounds: number[]; sizes: number[] } {
  const F = cfg.inputs.length;
  const o = num.offsets;
  const nodes = o[F]!;
  const docs = (fi: number) => o[fi + 1]! - o[fi]!;
  const groupDocs = new Array<number>(cfg.groups).fill(0);
  for (let fi = 0; fi < F; fi++) groupDocs[groupOfFile(cfg, fi)]! += docs(fi);
  let cost = Array.from({ length: F }, (_, fi) => {
    const g = groupOfFile(cfg, fi);
    const byDocs = groupDocs[g]! > 0 ? docs(fi) / groupDocs[g]! : 0;
    return (
      (fileBytes?.[fi] ?? docs(fi)) * candShare(candBytes[g] ?? 0, groupDocs[g]!) +
      CAND_BYTE_COST * (candBytes[g] ?? 0) * byDocs
    );
  });
  let total = cost.reduce((a, c) => a + c, 0);
  // no candidates: ranges of equal documents
  if (!(total > 0)) {
    cost = Array.from({ length: F }, (_, fi) => docs(fi));
    total = nodes;
  }
  // a task a worker (cfg.groups is twice the workers): a range cut inside a group reads the group's cand/ files again;
  // with cfg.groups tasks the 51 MB set's sets step took 0.2-0.4 CPU-s more than with its 4 groups
  const tasks = Math.max(1, Math.min(nodes, Math.round(cfg.groups / 2)));
  const share = total / tasks;
  // the estimated cost of the nodes before `node` (a file's spread over its documents)
  const costBefore = (node: number) => {
    let c = 0;
    for (let fi = 0; fi < F && o[fi]! < node; fi++)
      c += o[fi + 1]! <= node ? cost[fi]! : (cost[fi]! * (node - o[fi]!)) / docs(fi);
    return c;
  };
  // what a range that starts at `node` inside a file pays for that file's lines before it
  const rescan = (node: number) => {
    let fi = 0;
    while (fi < F && o[fi + 1]! <= node) fi++;
    return fi < F && node > o[fi]! ? SETS_RESCAN * (costBefore(node) - costBefore(o[fi]!)) : 0;
  };
  const bounds = [0];
  let fi = 0;
  let before = 0;
  for (let k = 1; k < tasks; k++) {
    const want = share * k;
    while (fi < F && before + cost[fi]! < want) before += cost[fi++]!;
    if (fi >= F) break;
    // inside file fi (the next range pays SETS_RESCAN of the part before: the cut moves by half of that), or at one
    // of its ends when that is within SETS_SNAP of a share of the cut
    const part = (want - before) / ((cost[fi]! || 1) * (1 - SETS_RESCAN / 2));
    let cut = o[fi]! + Math.round(Math.min(1, part) * docs(fi));
    if (want - before <= SETS_SNAP * share) cut = o[fi]!;
    else if (before + cost[fi]! - want <= SETS_SNAP * share) cut = o[fi + 1]!;
    if (cut > bounds.at(-1)! && cut < nodes) bounds.push(cut);
  }
  bounds.push(nodes);
  const sizes: number[] = [];
  for (let t = 0; t + 1 < bounds.length; t++)
    sizes.push(costBefore(bounds[t + 1]!) - costBefore(bounds[t]!) + rescan(bounds[t]!));
  return { bounds, sizes };
}

/**
 * How near (a part of a task's share) a range's estimated end may be to a file's end to end there instead (setsTasks):
 * a range cut inside a file costs its task that file's lines before it and its group's cand/ files again (SETS_RESCAN),
 * and the estimate is within ~5% (the big set: 41.6 / 42.1 M characters of candidates for 44.1 / 42.7 M estimated).
 */
const SETS_SNAP = 0.05;

/**
 * What decoding a file's lines before a range costs the range's task, a part of those lines' estimated cost (zstd
 * and the line scan, no parse or sets; with the re-read of the group's cand/ files: at 75 MB ~15 ms of ~0.8 s).
 */
const SETS_RESCAN = 0.1;

/**
 * What a byte of a group's cand/ records costs the sets task of its first nodes (their pairs' scan, sort and files),
 * shared by the group's files by their documents, in bytes of candidates' text (setsTasks): the big set's 2-worker
 * runs (sets CPU ~25 ns a character of candidates, ~100 ns a 12-byte record).
 */
const CAND_BYTE_COST = 0.33;

/** Candidate records per document at which about half of a group's text is its candidates' (candShare). */
const CAND_HALF_RECORDS = 5;

/**
 * The estimated share of a group's text that is its candidates', from its `docs` documents and its cand/ files' bytes
 * (12-byte records; a pair has one per band it shares, so a candidate has many): r / (r + CAND_HALF_RECORDS) of r
 * records a document. Measured (2 workers): r = 0.1-0.6: 3-20%; 19-20: 78%; 250-350: 90-93%.
 */
export function candShare(candBytes: number, docs: number): number {
  const r = docs > 0 ? candBytes / 12 / docs : 0;
  return r / (r + CAND_HALF_RECORDS);
}

/**
 * The candidate documents of the node range first .. end - 1 (a sets task's files): the nodes in the range of the
 * cand/ records of the groups of its files (a pair is recorded as u < v in the group of u, and as v, u in the group
 * of v when that is another). And of its pairs (u < v,
 * u in the range), each once (a pair has a record per band it shares), as u, v, u, v, … ascending: those whose
 * sketch estimate reaches the threshold (the likely duplicates), and the others.
 */
function rangeCandidates(
  cfg: DedupConfig,
  groups: number[],
  first: number,
  end: number,
): { nodes: NodeMarks; likely: Uint32Array; others: Uint32Array; release: () => void } {
  const files = groups.flatMap((g) => inputFilesFor(join(cfg.workDir, 'cand'), g)).map((f) => candidateReader(f));
  // the records a chunk at a time (RecordReader.nextChunk), into the kernel (RangePairs): with two workers the tasks
  // read more of them (a group cut between two tasks is read by both: at 75 MB the two tasks read 102 MB of cand/
  // files that hold 67 MB, where one worker's task reads 54 MB)
  const pairs = new RangePairs(
    first,
    end,
    Math.round(cfg.minhash.threshold * CAND_EST_SCALE),
    files.reduce((a, r) => a + r.count, 0),
  );
  for (const r of files) for (let c = r.nextChunk(); c; c = r.nextChunk()) pairs.scan(c);
  const { marks, likely, others } = pairs.finish();
  return { nodes: new NodeMarks(first, marks), likely, others, release: () => pairs.release() };
}

/** The candidate documents of the nodes first .. first + marks.length - 1: a byte each, 1 for a candidate. */
class NodeMarks {
  readonly size: number;
  constructor(
    private readonly first: number,
    private readonly marks: Uint8Array,
  ) {
    let n = 0;
    for (let i = 0; i < marks.length; i++) n += marks[i]!;
    this.size = n;
  }
  has(n: number): boolean {
    return this.marks[n - this.first] === 1;
  }
}

/** Blocks of a sets task's nodes in its profile of pairs (pairProfile). */
const PROFILE_BLOCKS = 64;

/**
 * What a pair costs a verify task whatever its check, in words of a check's merge (checkProfile's unit): its look-ups
 * in the forest (1-worker profile at 75 MB: ~0.15 µs a pair, ~3 ns a word merged).
 */
const PAIR_WORDS = 50;

/**
 * The profile of a sets task's other pairs (u, v, u, v, …; first ≤ u < end): the range cut into at most
 * PROFILE_BLOCKS blocks of equal node count, each non-empty one as its first node and PAIR_WORDS a pair in it (flat:
 * node, cost, node, …). With checkProfile's (the checks' words) the verify plan's estimate of a range's cost.
 */
function pairProfile(first: number, end: number, others: Uint32Array): number[] {
  const block = Math.max(1, Math.ceil((end - first) / PROFILE_BLOCKS));
  const cost = new Array<number>(Math.ceil((end - first) / block)).fill(0);
  for (let i = 0; i + 1 < others.length; i += 2) cost[Math.floor((others[i]! - first) / block)]! += PAIR_WORDS;
  const out: number[] = [];
  for (let b = 0; b < cost.length; b++) if (cost[b]! > 0) out.push(first + b * block, cost[b]!);
  return out;
}

/**
 * How the verify step's tasks split the candidate pairs: task k checks the likely pairs near its own (sketch estimate
 * at the threshold or above: few checks, as its forest soon joins a cluster's documents; rangeNodes) and writes the
 * edges of those whose first node u is in [bounds[k], bounds[k + 1]); then the other pairs of that range, most of the
 * checks, which a forest of the likely edges skips about as well as one task's would. The ranges are of about equal
 * estimated cost (the profiles, pairProfile and checkProfile) cut at their blocks' first nodes; `sizes` are the ranges'
 * estimates (the executor runs the largest first). At most `tasks` ranges, none without pairs (one range when there are
 * none). Every task's forest is made of verified edges, so the components (and every output) do not depend on the
 * split; a task's forest has the other pairs' edges of its own range only, so more ranges may check a few more pairs.
 */
export function verifyPlan(profiles: readonly number[][], tasks: number, nodes: number): VerifyPlan {
  const blocks: [number, number][] = [];
  for (const p of profiles) for (let i = 0; i + 1 < p.length; i += 2) blocks.push([p[i]!, p[i + 1]!]);
  blocks.sort((a, b) => a[0] - b[0]);
  const total = blocks.reduce((a, b) => a + b[1], 0);
  const bounds = [0];
  const sizes = [0];
  let cum = 0;
  for (const [node, cost] of blocks) {
    // a new range at this block when the current one holds some pairs and is nearer its share without the block
    const k = bounds.length;
    if (k < tasks && sizes[k - 1]! > 0 && cum + cost / 2 > (total * k) / tasks && node > bounds[k - 1]!) {
      bounds.push(node);
      sizes.push(0);
    }
    sizes[sizes.length - 1]! += cost;
    cum += cost;
  }
  bounds.push(nodes);
  return { bounds, sizes };
}

/** The words of the run file at `path` (checked as read), which must exist and hold records of `width` words. */
function recordsOf(path: string, width: number): Uint32Array {
  if (!existsSync(path)) throw new CorruptIntermediateError(path, 'missing');
  const r = readAllRecords(path);
  if (r.width !== width) throw new CorruptIntermediateError(path, 'unexpected width');
  return r.words;
}

/** The root of `x`'s tree in the union-find `parent` (a slot is its own parent at a root), halving the path. */
function treeRoot(parent: Int32Array, x: number): number {
  while (parent[x] !== x) {
    const g = parent[parent[x]!]!;
    parent[x] = g;
    x = g;
  }
  return x;
}

/**
 * Of `others` (pairs u, v, u, v, …, first ≤ u < v < nodes), those whose ends the pairs `likely` (the same form) do
 * not join, as a union-find over them would (the same form, in order). These are a superset
 * of the pairs that a forest of every task's likely pairs leaves (checkProfile): the plan's estimate needs only them,
 * most of the other pairs (~90% at 75 MB) being joined already by the task's own likely pairs.
 */
export function openPairs(likely: Uint32Array, others: Uint32Array, first: number, nodes: number): Uint32Array {
  const parent = new Int32Array(Math.max(0, nodes - first));
  for (let x = 0; x < parent.length; x++) parent[x] = x;
  const root = (x: number) => treeRoot(parent, x);
  for (let i = 0; i + 1 < likely.length; i += 2) {
    const a = root(likely[i]! - first);
    const b = root(likely[i + 1]! - first);
    if (a !== b) parent[a] = b;
  }
  const out = new Uint32Array(others.length);
  let k = 0;
  for (let i = 0; i + 1 < others.length; i += 2) {
    if (root(others[i]! - first) === root(others[i + 1]! - first)) continue;
    out[k++] = others[i]!;
    out[k++] = others[i + 1]!;
  }
  return out.subarray(0, k);
}

/** Blocks of the node range in the verify plan's cost profile (checkProfile). */
const CHECK_BLOCKS = 1024;

/**
 * The verify step's profile of checks, from the sets tasks' files: the node range cut into CHECK_BLOCKS blocks of equal
 * node count, each non-empty one as its first node and the estimated cost of the checks of the other pairs (u < v)
 * whose first node is in it (flat: node, cost, node, …; verifyPlan's input, with the sets tasks' pairProfile: the
 * pairs' own cost). A pair's check costs: nothing when a forest of every likely pair already joins u and v (a verify
 * task checks the likely pairs near its own first, and then skips such pairs: most of them) or when the sets' sizes
 * decide it, else the sets' words (the merge's steps). Only the sets tasks' open pairs (openPairs) are read: the others
 * are joined by some likely pairs. Where the sets tasks' counts of pair records by first node left one verify task of
 * two with 1.4× the other's checks at 75 MB (the forests skip more of some ranges' pairs).
 */
export function checkProfile(args: VerifyArgs, nodes: number): number[] {
  const { cfg, sets } = args;
  const n = sets.length - 1;
  // each candidate document's set size (its sets task's index), and a forest of the likely pairs (union by index)
  const size = new Uint32Array(nodes);
  const parent = new Int32Array(nodes);
  for (let x = 0; x < nodes; x++) parent[x] = x;
  const root = (x: number) => treeRoot(parent, x);
  for (let t = 0; t < n; t++) {
    const ix = recordsOf(setsIndexPath(cfg, t), INDEX_WIDTH);
    for (let i = 0; i < ix.length; i += INDEX_WIDTH) size[ix[i]!] = ix[i + 2]!;
    const w = recordsOf(likelyPath(cfg, t), 2);
    for (let i = 0; i + 1 < w.length; i += 2) {
      const a = root(w[i]!);
      const b = root(w[i + 1]!);
      if (a !== b) parent[a] = b;
    }
  }
  const block = Math.max(1, Math.ceil(nodes / CHECK_BLOCKS));
  const cost = new Float64Array(Math.ceil(nodes / block));
  const t = cfg.minhash.threshold;
  for (let g = 0; g < n; g++) {
    // a sets task of a run with one range wrote no open pairs: its other pairs (a superset: the same profile)
    const w = recordsOf(existsSync(openPath(cfg, g)) ? openPath(cfg, g) : otherPath(cfg, g), 2);
    for (let i = 0; i + 1 < w.length; i += 2) {
      const u = w[i]!;
      const v = w[i + 1]!;
      const a = size[u]!;
      const b = size[v]!;
      if (Math.min(a, b) < t * Math.max(a, b) || root(u) === root(v)) continue;
      cost[Math.floor(u / block)]! += a + b;
    }
  }
  const out: number[] = [];
  for (let b = 0; b < cost.length; b++) if (cost[b]! > 0) out.push(b * block, cost[b]!);
  return out;
}

export interface VerifyPlan {
  /** Task k checks the pairs (u, v) with bounds[k] ≤ u < bounds[k + 1]; bounds[0] = 0, the last = the node count. */
  bounds: number[];
  /** Each task's estimated cost (records of pairs below the threshold by their sketch estimate). */
  sizes: number[];
}

/**
 * A verify task's candidate pairs (u, v), u < v, each once, as u · 2³² + v: first every likely pair (the sets tasks'
 * vsets/sT.likely.bin files, in task order: by u and v), whatever its u (they join their documents before the others
 * are reached, and the task's forest then skips those; it writes the edges of its own), then the others with lo ≤ u <
 * hi, from the vsets/sT.pairs.bin files of the sets tasks whose nodes the range overlaps (each by u and v, the tasks'
 * nodes ascending: a first node's pairs together). As `parts` of (u, v) words, the files' own (no copy into one array):
 * the first `likely` parts the likely pairs'; `total` pairs in all. A range of several keeps only the likely pairs near
 * its own (`near`: rangeNodes, the nodes whose sets it may load).
 */
function taskPairs(
  args: VerifyPairsArgs,
  lo: number,
  hi: number,
): { parts: Uint32Array[]; likely: number; total: number; near: Uint8Array | undefined } {
  const { cfg, sets } = args;
  const pairsOf = (path: string) => recordsOf(path, 2);
  const parts: Uint32Array[] = [];
  let total = 0;
  const n = sets.length - 1;
  for (let t = 0; t < n; t++) {
    parts.push(pairsOf(likelyPath(cfg, t)));
    total += parts[t]!.length / 2;
  }
  for (let t = 0; t < n; t++) {
    const { first, end } = setsRange(args, t);
    if (first >= hi || end <= lo) continue;
    const w = pairsOf(otherPath(cfg, t));
    // the pairs from the first with u ≥ lo to the first with u ≥ hi (by u: binary searches)
    const from = (x: number) => {
      let a = 0;
      let b = w.length / 2;
      while (a < b) {
        const m = (a + b) >>> 1;
        if (w[2 * m]! < x) a = m + 1;
        else b = m;
      }
      return 2 * a;
    };
    parts.push(w.subarray(from(lo), from(hi)));
    total += parts.at(-1)!.length / 2;
  }
  // a range of several: the likely pairs near its own (rangeNodes); one range (lo 0, hi past the last node) keeps all
  let near: Uint8Array | undefined;
  const nodes = args.num.offsets.at(-1)!;
  if (lo > 0 || hi < nodes) {
    // its pairs' ends and one step out (the likely pairs it keeps touch one)
    const around = rangeNodes(parts, n, lo, hi, nodes);
    // the sets it may load: those of its own pairs' ends and of the likely pairs it keeps
    near = around.slice();
    for (let t = 0; t < n; t++) {
      const kept = likelyNear(parts[t]!, around, near);
      total -= (parts[t]!.length - kept.length) / 2;
      parts[t] = kept;
    }
  }
  // `likely` first: an object literal's layout follows its keys in order from the first, and the filters' documents
  // statistics return `{ parts, … }` with a count in `parts`: an array there made that field any value for both,
  // and threw away the filters' optimised code that had counted on a small integer (`--trace-deopt`, "code
  // dependencies" at this return)
  return { likely: n, total, parts, near };
}

/**
 * The nodes a verify range's forest needs (1 = needed; `nodes` the node count): the ends of its own pairs (the other
 * pairs of `parts` after the first `likely`, and the likely pairs with lo ≤ u < hi), then the ends of every likely pair
 * that has one of those (one step). The range checks only the likely pairs with an end among them (likelyNear), and
 * loads only the sets of its pairs' ends (taskPairs' `near`): another range's likely pair far from its own pairs
 * (another source's near-duplicates) joins nothing it checks. One step recovers what the range's own nodes alone lose,
 * the chains through one node of another range (265 MB set, 2 ranges: the second range's merges 452 M words by all
 * likely pairs, 474 M by its own nodes, 452 M with the step; the first range's checks of other ranges' likely pairs 67
 * M words → 16 M, and of the second sets file 2 of 4,186 sets needed instead of all). The outputs do not depend on it:
 * a pair skipped is joined by verified edges, each written by some range (every range checks its own likely pairs, in
 * the same order).
 */
export function rangeNodes(
  parts: readonly Uint32Array[],
  likely: number,
  lo: number,
  hi: number,
  nodes: number,
): Uint8Array {
  const own = new Uint8Array(nodes);
  for (let p = likely; p < parts.length; p++) {
    const w = parts[p]!;
    for (let i = 0; i < w.length; i++) own[w[i]!] = 1;
  }
  for (let p = 0; p < likely; p++) {
    const w = parts[p]!;
    for (let i = 0; i + 1 < w.length; i += 2) {
      if (w[i]! < lo || w[i]! >= hi) continue;
      own[w[i]!] = 1;
      own[w[i + 1]!] = 1;
    }
  }
  const near = own.slice();
  for (let p = 0; p < likely; p++) {
    const w = parts[p]!;
    for (let i = 0; i + 1 < w.length; i += 2) {
      if ((own[w[i]!]! | own[w[i + 1]!]!) === 0) continue;
      near[w[i]!] = 1;
      near[w[i + 1]!] = 1;
    }
  }
  return near;
}

/** The pairs of `w` (u, v, u, v, …) with an end in `near` (rangeNodes), in order; their ends marked in `ends`. */
export function likelyNear(w: Uint32Array, near: Uint8Array, ends: Uint8Array): Uint32Array {
  const out = new Uint32Array(w.length);
  let k = 0;
  for (let i = 0; i + 1 < w.length; i += 2) {
    if ((near[w[i]!]! | near[w[i + 1]!]!) === 0) continue;
    ends[w[i]!] = 1;
    ends[w[i + 1]!] = 1;
    out[k++] = w[i]!;
    out[k++] = w[i + 1]!;
  }
  return k === w.length ? w : out.subarray(0, k);
}

/**
 * Each verify range's home (-1: none): the sets task holding the most words of the sets of the range's nodes (by the
 * sets tasks' indexes), whose process takes them from memory (writtenSets) where it runs the range (verifyHomes), and
 * reads the others back. At 265 MB with 2 workers the first range's sets are all in the first task's file, the
 * second's mostly in the second's (125 of 200 MB).
 */
export function rangeHomes(plan: VerifyPlan, indexes: readonly Uint32Array[]): number[] {
  const ranges = plan.bounds.length - 1;
  const words = Array.from({ length: ranges }, () => new Array<number>(indexes.length).fill(0));
  indexes.forEach((ix, t) => {
    for (let i = 0; i < ix.length; i += INDEX_WIDTH) words[lastAtMost(plan.bounds, ix[i]!, ranges)]![t]! += ix[i + 2]!;
  });
  return words.map((w) => {
    const t = w.indexOf(Math.max(...w));
    return w[t]! > 0 ? t : -1;
  });
}

/** The sets tasks' indexes (vsets/sT.idx.bin, checked as read), for rangeHomes and readProfile. */
export function setsIndexes(args: VerifyArgs): Uint32Array[] {
  return Array.from({ length: args.sets.length - 1 }, (_, t) => recordsOf(setsIndexPath(args.cfg, t), INDEX_WIDTH));
}

/**
 * The process each verify range of `plan` would rather run in (RunTasksOptions.prefer): its home's (rangeHomes).
 * `pids`: each sets task's process (its result), undefined where not known.
 */
export function verifyHomes(
  plan: VerifyPlan,
  indexes: readonly Uint32Array[],
  pids: readonly (number | undefined)[],
): (number | undefined)[] {
  return rangeHomes(plan, indexes).map((t) => (t < 0 ? undefined : pids[t]));
}

/**
 * What reading a word of a set back costs a verify task, in words of a check's merge (checkProfile's unit): 265 MB,
 * 2 workers, each range in its home's process, VM: the range that read 21.3 M words back took 0.76 CPU-s for 490 M
 * words merged, the other 0.51 for 442 M and none read (~1.15 ns a word merged, ~9 ns a word read and checked).
 */
const READ_WORDS = 8;

/**
 * The verify plan's profile of the sets its ranges read back (verifyPlan's input beside pairProfile's and
 * checkProfile's): by the ranges of `plan` (a first cut) and their homes (rangeHomes), each node whose set is in another
 * sets task's file than its range's home costs READ_WORDS a word of its set; in CHECK_BLOCKS blocks of nodes (flat:
 * node, cost, …). So the range that reads more back gets fewer pairs.
 */
export function readProfile(plan: VerifyPlan, indexes: readonly Uint32Array[], nodes: number): number[] {
  const homes = rangeHomes(plan, indexes);
  const ranges = plan.bounds.length - 1;
  const block = Math.max(1, Math.ceil(nodes / CHECK_BLOCKS));
  const cost = new Float64Array(Math.ceil(nodes / block));
  indexes.forEach((ix, t) => {
    for (let i = 0; i < ix.length; i += INDEX_WIDTH) {
      const x = ix[i]!;
      if (homes[lastAtMost(plan.bounds, x, ranges)] !== t) cost[Math.floor(x / block)]! += READ_WORDS * ix[i + 2]!;
    }
  });
  const out: number[] = [];
  for (let b = 0; b < cost.length; b++) if (cost[b]! > 0) out.push(b * block, cost[b]!);
  return out;
}

/** The sets task whose range holds `node` (setsTasks' bounds; -1 past the last). */
export function setsTaskOf(bounds: readonly number[], node: number): number {
  if (!(node < bounds.at(-1)!)) return -1;
  return lastAtMost(bounds, node, bounds.length - 1);
}

/** A reader of a cand/ file's records (u, v, estimate; checked as read). */
function candidateReader(path: string): RecordReader {
  const r = new RecordReader(path);
  if (r.width !== 3) throw new CorruptIntermediateError(path, 'unexpected width');
  return r;
}

/** Where a candidate document's set is: its sets task's vsets file, and its record in the task's index. */
interface Located {
  node: number;
  file: RecordRanges | Uint32Array;
  start: number;
  length: number;
  /** The set's check word as setCheck gives it (signed). */
  check: number;
}

/**
 * Bytes of sets files a verify task reads whole (beyond, it reads each set as it needs it: a pread and a check per set
 * loaded, ~2.4 CPU-s more of the 75 MB set's 1-worker verify, whose 86 MB of sets were past the earlier 64 MiB). Each
 * task of a run reads about every sets file (the likely pairs touch most of them): ~1.15 bytes a byte of text.
 */
const SETS_IN_MEMORY = 256 << 20;

/** Words per document of vsets/gG.idx.bin: node, start, length, check. */
const INDEX_WIDTH = 4;

/**
 * The sets files the sets tasks of this process wrote, each as its documents' sets in index order (copies of what was
 * written) with the file's size and mtime when closed, while they fit in SETS_IN_MEMORY: a verify task of the same
 * process (one worker: every task runs in the `steel` process) that reads a sets task's file whole takes its sets from
 * here instead of reading the file back and checking it. The files are written all the same (worker processes and a
 * resumed run read them). Held in worker processes too (a verify task runs where most of its sets are held,
 * verifyHomes, and reads the others back; at most SETS_IN_MEMORY a process); dropped after use (releaseWrittenSets):
 * the `steel` process's after the verify stage (dedup/run.ts: with one worker it runs every verify task), a worker's at
 * the end of its verify task (a lane runs one: verifyPlan) and by a clustering task, the step after verify (a lane that
 * ran no verify task).
 */
const writtenSets = new Map<string, { sets: Uint32Array[]; words: number; size: number; mtimeMs: number }>();

/** Drop the sets this process's sets tasks held for its verify tasks (writtenSets says when). */
export function releaseWrittenSets(): void {
  writtenSets.clear();
  dropSpare();
}

/** The sets of the sets file at `path` (in its index's order) as this process wrote it, if it did and the file is unchanged since. */
export function writtenSetsOf(path: string): Uint32Array[] | undefined {
  const w = writtenSets.get(path);
  if (!w) return undefined;
  const st = statSync(path, { throwIfNoEntry: false });
  return st && st.size === w.size && st.mtimeMs === w.mtimeMs ? w.sets : undefined;
}

/**
 * A shingle set's check word (its record in the index of its sets task), as a signed 32-bit integer: the same word
 * when stored in a Uint32Array; a word read back is compared as `w | 0`. Not made unsigned (`h >>> 0`) after the
 * loop: half the checks are ≥ 2³¹, and the loop's code optimised on stack, which had only seen smaller ones there,
 * was thrown away at that conversion ("lost precision", once in most traced runs); V8 keeps on-stack code whose
 * deopt is past the loop, so in one traced 2-worker run every later call entered that code and left it there again
 * (509 deopts).
 */
export function setCheck(words: Uint32Array): number {
  let h = 0x9e3779b9 ^ words.length;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193) ^ (h >>> 15);
  return h;
}

/** Step a: shingle sets of the candidate documents of the task's files (a run of consecutive files, setsTasks). */
async function runVerifySets(rank: number, _world: number, args: VerifyArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  // the task's node range, and the groups of its files (whose cand/ files record its documents' pairs)
  const { first, end, groups } = setsRange(args, rank);
  const { nodes: needed, likely, others, release } = rangeCandidates(cfg, groups, first, end);
  const data = new RecordWriter(setsPath(cfg, rank), 1);
  const index = new RecordWriter(setsIndexPath(cfg, rank), INDEX_WIDTH);
  const likelyOut = new RecordWriter(likelyPath(cfg, rank), 2);
  const othersOut = new RecordWriter(otherPath(cfg, rank), 2);
  // (one range needs no open pairs: a resumed run with more reads the pairs files instead, checkProfile)
  const openOut = args.ranges > 1 ? new RecordWriter(openPath(cfg, rank), 2) : undefined;
  if (!openOut) rmSync(openPath(cfg, rank), { force: true });
  let profile: number[] | undefined;
  const rec = new Uint32Array(INDEX_WIDTH);
  // copies of the sets written, for a verify task of this process (writtenSets)
  let held: Uint32Array[] | undefined = [];
  writtenSets.delete(setsPath(cfg, rank));
  let holdWords = (testHooks().dedupSetsInMemory ?? SETS_IN_MEMORY) >> 2;
  for (const w of writtenSets.values()) holdWords -= w.words;
  let start = 0;
  let docs = 0;
  let bytes = 0;
  try {
    for (let fi = 0; fi < cfg.inputs.length && needed.size > 0; fi++) {
      if (num.offsets[fi + 1]! <= first || num.offsets[fi]! >= end) continue;
      let any = false;
      const to = Math.min(end, num.offsets[fi + 1]!);
      for (let n = Math.max(first, num.offsets[fi]!); n < to && !any; n++) any = needed.has(n);
      if (!any) continue;
      await neededDocuments(cfg, num, fi, needed, (node, doc) => {
        const set = sortedSet(minhashShingles(cfg, doc.text, doc.lang));
        data.writeMany(set, set.length);
        if (held && start + set.length <= holdWords) held.push(set.slice());
        else held = undefined;
        rec[0] = node;
        rec[1] = start;
        rec[2] = set.length;
        rec[3] = setCheck(set);
        index.write(rec);
        start += set.length;
        docs++;
        bytes += doc.text.length;
      });
    }
    likelyOut.writeMany(likely, likely.length / 2);
    othersOut.writeMany(others, others.length / 2);
    profile = pairProfile(first, end, others);
    if (openOut) {
      const open = openPairs(likely, others, first, num.offsets.at(-1)!);
      openOut.writeMany(open, open.length / 2);
    }
    // likely and others (views of the kernel's memory) used: its touched pages for this process's next large buffer
    release();
    crashPoint('verify-sets');
    data.close();
    index.close();
    likelyOut.close();
    othersOut.close();
    openOut?.close();
    if (held) {
      const st = statSync(setsPath(cfg, rank));
      writtenSets.set(setsPath(cfg, rank), { sets: held, words: start, size: st.size, mtimeMs: st.mtimeMs });
    }
  } catch (e) {
    data.abort();
    index.abort();
    likelyOut.abort();
    othersOut.abort();
    openOut?.abort();
    throw e;
  }
  ctx.progress(1, 1);
  // pid: the process that holds the sets (writtenSets; verifyHomes)
  return { docs, words: start, chars: bytes, profile, pid: process.pid };
}

/**
 * The documents of input file `fi` whose nodes are in `needed`, each handed to `each` in order. JSONL: only the lines
 * signatures recorded for them are decoded and parsed (the rest is skipped as bytes: WantedLines); other formats:
 * every document is read. A callback, not an async generator resumed per document: with the document's work inlined,
 * V8 compiled the generator (and the sets task's loop over it) in each process, again after each deopt, ~3 times a
 * process.
 */
async function neededDocuments(
  cfg: DedupConfig,
  num: Numbering,
  fi: number,
  needed: NodeMarks,
  each: (node: number, doc: Document) => void,
): Promise<void> {
  const path = cfg.inputs[fi]!;
  const first = num.offsets[fi]!;
  const end = num.offsets[fi + 1]!;
  if (detectFormat(path) === 'jsonl' && !/\.json$/i.test(stripCompression(path))) {
    const lines = readAllRecords(linesPath(cfg, fi)).words;
    if (lines.length !== end - first) throw new CorruptIntermediateError(linesPath(cfg, fi), 'document count differs');
    const want = new Map<number, number>();
    for (let d = 0; d < lines.length; d++) if (needed.has(first + d)) want.set(lines[d]!, first + d);
    const dec = new TextDecoder('utf-8', { fatal: true });
    const opts = { ...cfg.reader, meta: false };
    const scan = new WantedLines(want, (node, line, bytes) =>
      each(node, lineDocument(opts, path, line, dec.decode(bytes))),
    );
    // chunks lent by the reader (a view of the zstd decoder's memory): a fresh copy of each decoded frame cost a
    // process's first sets task ~9k page faults at 75 MB; WantedLines copies the part of a line it keeps
    for await (const chunk of openBytes(path, undefined, true)) if (!scan.chunk(chunk)) return;
    scan.end();
    return;
  }
  let d = 0;
  // a file signatures found corrupt ends at its damage again (the filter checks the counts)
  const onCorrupt = signedFile(cfg, fi)?.corrupt ? () => {} : undefined;
  for await (const { doc } of readDocuments(path, { ...cfg.reader, onReject: () => {}, onCorrupt })) {
    const node = first + d++;
    if (node >= end) throw new Error(`${path}: more documents than when signatures were computed (input changed?)`);
    if (needed.has(node)) each(node, doc);
  }
}

/**
 * The wanted lines of a JSONL file (`want`: line number from 1 -> node) from its bytes a chunk at a time: each one's
 * bytes to `line` (the other lines are counted, not copied), none past the last wanted line (a file signatures found
 * corrupt is damaged after it). A chunk may be lent (valid only until the next one is read): `line` gets a view that
 * is valid only during the call, and the part of a wanted line a chunk ends with is copied.
 */
export class WantedLines {
  private lineNo = 0;
  private readonly lastLine: number;
  /** The bytes so far of the current line, kept only when it is wanted. */
  private parts: Uint8Array[] = [];
  constructor(
    private readonly want: Map<number, number>,
    private readonly line: (node: number, line: number, bytes: Uint8Array) => void,
  ) {
    let last = 0;
    for (const l of want.keys()) last = Math.max(last, l);
    this.lastLine = last;
  }
  /** The file's next bytes; false once the last wanted line is passed (nothing more to read). */
  chunk(chunk: Uint8Array): boolean {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const node = this.want.get(++this.lineNo);
      if (node !== undefined) this.line(node, this.lineNo, this.bytes(chunk.subarray(start, nl)));
      if (this.parts.length) this.parts = [];
      start = nl + 1;
      if (this.lineNo >= this.lastLine) return false;
    }
    if (start < chunk.length && this.want.has(this.lineNo + 1)) this.parts.push(chunk.slice(start));
    return true;
  }
  /** The end of the file: its last line when it has no newline and is wanted. */
  end(): void {
    const node = this.want.get(this.lineNo + 1);
    if (this.parts.length && node !== undefined) this.line(node, this.lineNo + 1, this.bytes(new Uint8Array(0)));
  }
  /** The current line's bytes, ending with `tail`. */
  private bytes(tail: Uint8Array): Uint8Array {
    return this.parts.length ? Buffer.concat([...this.parts, tail]) : tail;
  }
}

/**
 * The document of JSONL line `line` of `file`, for its text and language, read with `opts` (the run's reader options
 * with meta: false: its meta is not copied).
 */
function lineDocument(opts: ToDocumentOptions, file: string, line: number, text: string): Document {
  const t = line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return recordToDocument(JSON.parse(t) as Record<string, unknown>, { file, line }, opts);
}

/**
 * Union-find over the nodes of one verify task's edges (path halving, union by size). A pair whose ends the task's
 * verified edges already join is not verified: its edge would not change any component (stage 3 joins the same
 * documents), and a cluster of n near-identical documents costs n − 1 checks instead of up to n(n − 1)/2.
 */
export class Forest {
  /** Node -> its slot in parent / size (a number per node seen, given in order). */
  private readonly slots = new Map<number, number>();
  // set by the constructor: a field given its value where it is declared is a constant to V8 until first written
  // (here at the process's first grow), which threw away the optimised code that read it (`--trace-deopt`: "code
  // dependencies"); one assigned in the constructor is variable from the first forest on
  private parent: Int32Array;
  private size: Int32Array;
  private n = 0;
  constructor() {
    this.parent = new Int32Array(1024);
    this.size = new Int32Array(1024);
  }
  /** The slot of `node` (a new one, a tree of its own, when first seen): same and join by slots need no look-up. */
  slot(node: number): number {
    let s = this.slots.get(node);
    if (s === undefined) {
      s = this.n++;
      if (s === this.parent.length) this.grow();
      this.parent[s] = s;
      this.size[s] = 1;
      this.slots.set(node, s);
    }
    return s;
  }
  private grow(): void {
    const p = new Int32Array(this.parent.length * 2);
    p.set(this.parent);
    this.parent = p;
    const z = new Int32Array(this.size.length * 2);
    z.set(this.size);
    this.size = z;
  }
  /** The root of slot `s`'s tree. */
  private root(s: number): number {
    return treeRoot(this.parent, s);
  }
  sameSlots(a: number, b: number): boolean {
    return this.root(a) === this.root(b);
  }
  joinSlots(a: number, b: number): void {
    let ra = this.root(a);
    let rb = this.root(b);
    if (ra === rb) return;
    if (this.size[ra]! < this.size[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra]! += this.size[rb]!;
  }
  same(a: number, b: number): boolean {
    return this.sameSlots(this.slot(a), this.slot(b));
  }
  join(a: number, b: number): void {
    this.joinSlots(this.slot(a), this.slot(b));
  }
}

/** Words a read of readSetsFile takes at most (unless one set is larger). */
const SETS_READ_WORDS = 1 << 18;

/**
 * The sets of the sets file at `path` whose index is `ix` (INDEX_WIDTH words a set, in file order), each a view of one
 * buffer of the file's body at its offset, checked against its index record's check word: read in runs of whole sets
 * of at most SETS_READ_WORDS, each set checked while its run is in the cache. The buffer is this process's spare
 * memory when it has some (spareWords: a lane's sets task's kernel memory, pages already touched: at 75 MB the other
 * lane's file read with 6.4k and 10.8k page faults instead of 14.5k and 15k); small copies per set where it was
 * fresh memory (h22a) gained nothing over one buffer (h24a). With `want` (1 per node wanted: rangeNodes), only the
 * sets of the nodes wanted are read and checked; the others are left undefined.
 */
export function readSetsFile(path: string, ix: Uint32Array, want?: Uint8Array): (Uint32Array | undefined)[] {
  const r = new RecordRanges(path);
  try {
    const n = ix.length / INDEX_WIDTH;
    const sets = new Array<Uint32Array | undefined>(n);
    const wanted = (k: number) => want === undefined || want[ix[k * INDEX_WIDTH]!] === 1;
    // the file's body at its offsets, each set a view of it (a run is read into its place)
    const body = spareWords(r.count * r.width);
    for (let a = 0; a < n;) {
      if (!wanted(a)) {
        a++;
        continue;
      }
      // sets a .. b - 1: wanted, consecutive in the file, at most SETS_READ_WORDS words (or one set)
      const from = ix[a * INDEX_WIDTH + 1]!;
      let to = from;
      let b = a;
      for (; b < n; b++) {
        const s = ix[b * INDEX_WIDTH + 1]!;
        const e = s + ix[b * INDEX_WIDTH + 2]!;
        if (s !== to || (e - from > SETS_READ_WORDS && b > a) || !wanted(b)) break;
        to = e;
      }
      r.read(from, to - from, body.subarray(from, to));
      for (let k = a; k < b; k++) {
        const s = ix[k * INDEX_WIDTH + 1]!;
        const set = body.subarray(s, s + ix[k * INDEX_WIDTH + 2]!);
        if (setCheck(set) !== (ix[k * INDEX_WIDTH + 3]! | 0))
          throw new CorruptIntermediateError(path, `shingle set of node ${ix[k * INDEX_WIDTH]} fails its check`);
        sets[k] = set;
      }
      a = b;
    }
    return sets;
  } finally {
    r.close();
  }
}

/** Pairs of a task's first part run before its loop steps to the next part (checkPairs: type feedback). */
const FIRST_RUN = 64;

/**
 * Words of a task's first array of own edges (checkPairs): a larger input grows it by doubling, which compiles the loop
 * once more (the growth is a statement not run before).
 */
const EDGE_WORDS = 1 << 16;

/** A verify task's sets by node (runVerify's locate and load: the set and the length known before it is loaded). */
interface SetSource {
  locate(node: number): Located;
  /** The set at `at`, into `slot` 0 (u's) or 1 (v's) buffer when it must be read. */
  load(at: Located, slot: 0 | 1): Uint32Array;
}

/**
 * A verify task's pair loop: every pair of `parts` in order, skipped when the task's forest of verified edges already
 * joins u and v (the edge would not change any component), or when J ≤ min(|U|, |V|) / max(|U|, |V|) is below the
 * threshold `t` (sets of too different sizes); else its exact Jaccard. The own pairs' edges (u in [lo, hi): every pair
 * after the first `likely` parts, the likely ones by u) are gathered in `edges` in order (the caller writes them); a
 * likely pair of another range joins the forest only (its own task, which checks it too unless its own forest of
 * earlier verified edges joins its ends, writes its edge: so every edge of any forest joins documents that written
 * edges join, and a pair skipped is joined by written edges). Shaped so TurboFan compiles it once a process: the loop
 * is compiled while it runs (OSR), and a statement that has not run by then has no type feedback, so reaching it later
 * threw the compiled loop away (3 compiles a lane of a `--workers 2` run, each a job of 10-180 ms; 2 with one worker):
 * the first part's end (the outer loop's step), the first own edge or the first of another range's likely pairs,
 * `u < hi`'s first false. So the first part is cut after FIRST_RUN pairs (the outer step runs while the loop is still
 * interpreted), `own` is 0 or 1 with both comparisons made, the counts are adds of 0 or 1 on every path, and each
 * verified pair is stored in `edges`, the index advancing only for an own one. (h24a measured this shape slower with
 * one worker in some runs; session 26's fresh-process pairs on the 75 MB set's work folder did not: one-range verify
 * median 1.13 -> 1.08 CPU-s, lower in 5 of 8, and 1.06 -> 1.05 in 6 more, with the bundle's inlining flag and without.)
 */
function checkPairs(
  parts: Uint32Array[],
  likely: number,
  lo: number,
  hi: number,
  total: number,
  t: number,
  sets: SetSource,
  ctx: TaskContext,
): { edges: Uint32Array; pairs: number; connected: number; bySize: number; repeated: number } {
  const head = parts[0] ?? new Uint32Array(0);
  const seq =
    head.length > 2 * FIRST_RUN
      ? [head.subarray(0, 2 * FIRST_RUN), head.subarray(2 * FIRST_RUN), ...parts.slice(1)]
      : parts;
  const likelyParts = likely + seq.length - parts.length;
  const joined = new Forest();
  let edges = new Uint32Array(EDGE_WORDS);
  let ne = 0;
  let pairs = 0;
  let connected = 0;
  let bySize = 0;
  let repeated = 0;
  let curU = -1;
  let setU: Uint32Array = new Uint32Array(0);
  let slotNode = -1;
  let su = 0;
  for (let p = 0, i = 0; p < seq.length; p++) {
    const w = seq[p]!;
    const isLikely = p < likelyParts;
    for (let j = 0; j + 1 < w.length; j += 2, i++) {
      if ((i & 4095) === 0) ctx.progress(i, total);
      const u = w[j]!;
      const v = w[j + 1]!;
      const own = isLikely ? +(u >= lo) & +(u < hi) : 1;
      pairs += own;
      if (u !== slotNode) {
        su = joined.slot(u);
        slotNode = u;
      }
      const sv = joined.slot(v);
      if (joined.sameSlots(su, sv)) {
        connected += own;
        continue;
      }
      if (u !== curU) {
        setU = sets.load(sets.locate(u), 0);
        curU = u;
      }
      const atV = sets.locate(v);
      const larger = Math.max(setU.length, atV.length);
      if (larger > 0 && Math.min(setU.length, atV.length) / larger < t) {
        bySize += own;
        continue;
      }
      const setV = sets.load(atV, 1);
      repeated += 1 - own;
      if (jaccardSorted(setU, setV, t) >= t) {
        joined.joinSlots(su, sv);
        if (ne + 2 > edges.length) {
          const b = new Uint32Array(edges.length * 2);
          b.set(edges);
          edges = b;
        }
        edges[ne] = u;
        edges[ne + 1] = v;
        ne += 2 * own;
      }
    }
  }
  return { edges: edges.subarray(0, ne), pairs, connected, bySize, repeated };
}

/** Step b: exact Jaccard of the range's pairs (each not already joined by the task's edges). */
async function runVerify(rank: number, _world: number, args: VerifyPairsArgs, ctx: TaskContext) {
  const { cfg, plan } = args;
  const lo = plan.bounds[rank];
  const hi = plan.bounds[rank + 1];
  if (lo === undefined || hi === undefined) throw new Error(`dedup verify: no range for task ${rank} in the plan`);
  const { parts, likely, total, near } = taskPairs(args, lo, hi);
  const outDir = join(cfg.workDir, 'edges', `from-v${pad(rank)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.partitions, 2);
  // node -> its record in the index of its sets task (start, length, check), loaded per task when first needed
  const where = new Map<number, number>();
  const idx: Uint32Array[] = [];
  // a sets task's file read whole (a range of several: the sets of its nodes, `near`) while they fit in
  // SETS_IN_MEMORY (readSetsFile: a view per set, each checked), else read set by set (or as this process's sets
  // tasks wrote it: writtenSets)
  const files: (RecordRanges | (Uint32Array | undefined)[] | undefined)[] = [];
  let inMemory = 0;
  // bytes of sets read back from the files (not held by this process: writtenSets)
  let readBack = 0;
  const locate = (node: number): Located => {
    const g = setsTaskOf(args.sets, node);
    if (!files[g]) {
      const path = setsPath(cfg, g);
      if (!existsSync(path)) throw new CorruptIntermediateError(path, 'missing');
      const ix = (idx[g] = recordsOf(setsIndexPath(cfg, g), INDEX_WIDTH));
      let words = 0;
      for (let i = 0; i < ix.length; i += INDEX_WIDTH) {
        where.set(ix[i]!, i);
        if (near === undefined || near[ix[i]!] === 1) words += ix[i + 2]!;
      }
      const cap = testHooks().dedupSetsInMemory ?? SETS_IN_MEMORY;
      const held = writtenSetsOf(path);
      const size = statSync(path).size;
      if (held?.length === ix.length / INDEX_WIDTH && inMemory + size <= cap) {
        files[g] = held;
        inMemory += size;
      } else if (inMemory + 4 * words <= cap) {
        files[g] = readSetsFile(path, ix, near);
        inMemory += 4 * words;
        readBack += 4 * words;
      } else files[g] = new RecordRanges(path);
    }
    const i = where.get(node);
    if (i === undefined) throw new CorruptIntermediateError(setsIndexPath(cfg, g), `no shingle set for node ${node}`);
    const ix = idx[g]!;
    const f = files[g]!;
    if (!Array.isArray(f)) return { node, file: f, start: ix[i + 1]!, length: ix[i + 2]!, check: ix[i + 3]! | 0 };
    const set = f[i / INDEX_WIDTH];
    if (set === undefined)
      throw new Error(`dedup verify: the set of node ${node} was not read (not among the range's nodes)`);
    return { node, file: set, start: 0, length: ix[i + 2]!, check: ix[i + 3]! | 0 };
  };
  let bufU: Uint32Array = new Uint32Array(4096);
  let bufV: Uint32Array = new Uint32Array(4096);
  /** A located set (its copy in memory, or read into `into` and checked). */
  const load = (at: Located, into: Uint32Array): [Uint32Array, Uint32Array] => {
    const n = at.length;
    if (at.file instanceof Uint32Array) return [into, at.file];
    if (into.length < n) into = new Uint32Array(n * 2);
    const set = at.file.read(at.start, n, into);
    readBack += 4 * n;
    if (setCheck(set) !== at.check)
      throw new CorruptIntermediateError(at.file.path, `shingle set of node ${at.node} fails its check`);
    return [into, set];
  };
  const sets: SetSource = {
    locate,
    load: (at, slot) => {
      let set: Uint32Array;
      if (slot === 0) [bufU, set] = load(at, bufU);
      else [bufV, set] = load(at, bufV);
      return set;
    },
  };
  try {
    const r = checkPairs(parts, likely, lo, hi, total, cfg.minhash.threshold, sets, ctx);
    for (let k = 0; k < r.edges.length; k += 2) pw.writeEdge(r.edges[k]!, r.edges[k + 1]!);
    crashPoint('verify');
    pw.close();
    // the task's own pairs (u in its range): checked, not checked (joined), decided by size, edges; `repeated`: the
    // likely pairs of the other ranges it checked for its forest (each is also checked by its own task); `setsRead`:
    // bytes of sets read back from the sets files
    return {
      pairs: r.pairs,
      verified: r.edges.length / 2,
      connected: r.connected,
      bySize: r.bySize,
      repeated: r.repeated,
      setsRead: readBack,
    };
  } catch (err) {
    pw.abort();
    throw err;
  } finally {
    for (const f of files) if (f instanceof RecordRanges) f.close();
    if (setting('worker')) releaseWrittenSets();
  }
}

export const verifySetsTask = defineTask('dedup.verify-sets', runVerifySets);
export const verifyTask = defineTask('dedup.verify', runVerify);
