/**
 * Stage 2b, verify (MinHash with `verify`): the exact Jaccard of every candidate pair's shingle sets, so the
 * threshold is applied to the similarity itself rather than to an estimate (whose noise, ~0.03 at J 0.8, dropped
 * about half of the true pairs between J 0.80 and 0.85). Two steps, each one task per file group:
 *
 *  a. sets:   the group's documents that are in some candidate pair -> vsets/gG.bin (their sorted, unique shingle
 *             hashes, one after another) + vsets/gG.idx.bin (node, start, length, check per document)
 *  b. verify: the group's pairs (u < v, u in the group) -> edges/from-vG/to-P.bin when J(u, v) ≥ threshold, reading
 *             set(v) by offset from its group's vsets file: the whole file, checked by its checksum, when the task's
 *             files fit in SETS_IN_MEMORY, else each range as needed, checked against the index's check word
 *
 * A task holds its group's candidate pairs, the index of the candidate documents (16 bytes each) and at most
 * SETS_IN_MEMORY bytes of sets files, never every set. Every file is written under a temporary name and renamed when
 * complete.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import { setting, testHooks } from '../../pipeline/settings.ts';
import { detectFormat, readDocuments, recordToDocument } from '../../pipeline/readers/index.ts';
import { openBytes, stripCompression } from '../../pipeline/readers/bytes.ts';
import type { Document } from '../../pipeline/document.ts';
import { signedFile } from './signatures.ts';
import { CorruptIntermediateError, RecordRanges, RecordReader, RecordWriter, readAllRecords } from '../runfile.ts';
import { jaccardSorted, sortedSet } from '../text.ts';
import {
  pad,
  crashPoint,
  fileOf,
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
}

const setsPath = (cfg: DedupConfig, g: number) => join(cfg.workDir, 'vsets', `g${pad(g)}.bin`);
const setsIndexPath = (cfg: DedupConfig, g: number) => join(cfg.workDir, 'vsets', `g${pad(g)}.idx.bin`);

/**
 * The group's candidate documents, and some of other groups (never read here: the sets task reads the group's files):
 * both nodes of its cand/ records (a pair is recorded as u < v in the group of u, and as v, u in the group of v
 * when that is another).
 */
function groupNodes(cfg: DedupConfig, g: number): Set<number> {
  const nodes = new Set<number>();
  for (const f of inputFilesFor(join(cfg.workDir, 'cand'), g)) {
    const r = new RecordReader(f);
    while (r.next()) nodes.add(r.rec[0]!).add(r.rec[1]!);
  }
  return nodes;
}

/**
 * The group's candidate pairs (u, v), u < v and u in the group, each once (a pair has a record per band it shares),
 * as u · 2³² + v: first those whose sketch estimate reaches the threshold (the likely duplicates: they join their
 * documents before the others are reached, and the task's forest then skips those), then the others; each part by u
 * and v (a first node's pairs together).
 */
function groupPairs(cfg: DedupConfig, g: number): Float64Array {
  const likely: number[] = [];
  const rest: number[] = [];
  const atLeast = Math.round(cfg.minhash.threshold * CAND_EST_SCALE);
  for (const f of inputFilesFor(join(cfg.workDir, 'cand'), g)) {
    const r = new RecordReader(f);
    while (r.next()) {
      const u = r.rec[0]!;
      const v = r.rec[1]!;
      if (v < u) continue; // the pair's record for the group of v (its sets task), when that is another
      (r.rec[2]! >= atLeast ? likely : rest).push(u * 2 ** 32 + v);
    }
  }
  const out = new Float64Array(likely.length + rest.length);
  let k = 0;
  for (const list of [likely, rest]) {
    // a pair's records all carry the same estimate (of the same two sketches): its copies are in the same part
    const a = Float64Array.from(list).sort();
    for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[i - 1]) out[k++] = a[i]!;
  }
  return out.subarray(0, k);
}

/** Where a candidate document's set is: its group's vsets file, and its record in the group's index. */
interface Located {
  node: number;
  file: RecordRanges | Uint32Array;
  start: number;
  length: number;
  check: number;
}

/** Bytes of sets files a verify task reads whole (beyond, it reads each set as it needs it). */
const SETS_IN_MEMORY = 64 << 20;

/** Words per document of vsets/gG.idx.bin: node, start, length, check. */
const INDEX_WIDTH = 4;

/**
 * The sets files the sets tasks of this process wrote, each as its documents' sets in index order (copies of what was
 * written) with the file's size and mtime when closed, while they fit in SETS_IN_MEMORY: a verify task of the same
 * process (one worker: every task runs in the `steel` process) that reads a group's file whole takes its sets from
 * here instead of reading the file back and checking it. The files are written all the same (worker processes and a
 * resumed run read them). Not held in worker processes (later steps of the worker would carry them); dropped after the
 * verify stage (releaseWrittenSets).
 */
const writtenSets = new Map<string, { sets: Uint32Array[]; size: number; mtimeMs: number }>();

/** Drop the sets this process's sets tasks held for its verify tasks (dedup/run.ts, after the verify stage). */
export function releaseWrittenSets(): void {
  writtenSets.clear();
}

/** The sets of the sets file at `path` (in its index's order) as this process wrote it, if it did and the file is unchanged since. */
export function writtenSetsOf(path: string): Uint32Array[] | undefined {
  const w = writtenSets.get(path);
  if (!w) return undefined;
  const st = statSync(path, { throwIfNoEntry: false });
  return st && st.size === w.size && st.mtimeMs === w.mtimeMs ? w.sets : undefined;
}

function check(words: Uint32Array): number {
  let h = 0x9e3779b9 ^ words.length;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193) ^ (h >>> 15);
  return h >>> 0;
}

/** Step a: shingle sets of the group's candidate documents. */
async function runVerifySets(rank: number, _world: number, args: VerifyArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const needed = groupNodes(cfg, rank);
  const data = new RecordWriter(setsPath(cfg, rank), 1);
  const index = new RecordWriter(setsIndexPath(cfg, rank), INDEX_WIDTH);
  const rec = new Uint32Array(INDEX_WIDTH);
  // copies of the sets written, for a verify task of this process (writtenSets)
  let held: Uint32Array[] | undefined = setting('worker') ? undefined : [];
  const holdWords = (testHooks().dedupSetsInMemory ?? SETS_IN_MEMORY) >> 2;
  writtenSets.delete(setsPath(cfg, rank));
  let start = 0;
  let docs = 0;
  let bytes = 0;
  try {
    for (let fi = 0; fi < cfg.inputs.length && needed.size > 0; fi++) {
      if (groupOfFile(cfg, fi) !== rank) continue;
      let any = false;
      for (let n = num.offsets[fi]!; n < num.offsets[fi + 1]! && !any; n++) any = needed.has(n);
      if (!any) continue;
      for await (const { node, doc } of neededDocuments(cfg, num, fi, needed)) {
        const set = sortedSet(minhashShingles(cfg, doc.text, doc.lang));
        data.writeMany(set, set.length);
        if (held && start + set.length <= holdWords) held.push(set.slice());
        else held = undefined;
        rec[0] = node;
        rec[1] = start;
        rec[2] = set.length;
        rec[3] = check(set);
        index.write(rec);
        start += set.length;
        docs++;
        bytes += doc.text.length;
      }
    }
    crashPoint('verify-sets');
    data.close();
    index.close();
    if (held) {
      const st = statSync(setsPath(cfg, rank));
      writtenSets.set(setsPath(cfg, rank), { sets: held, size: st.size, mtimeMs: st.mtimeMs });
    }
  } catch (e) {
    data.abort();
    index.abort();
    throw e;
  }
  ctx.progress(1, 1);
  return { docs, words: start, chars: bytes };
}

/**
 * The documents of input file `fi` whose nodes are in `needed`. JSONL: only the lines signatures recorded for them
 * are decoded and parsed (the rest is skipped as bytes); other formats: every document is read.
 */
async function* neededDocuments(
  cfg: DedupConfig,
  num: Numbering,
  fi: number,
  needed: Set<number>,
): AsyncGenerator<{ node: number; doc: Document }> {
  const path = cfg.inputs[fi]!;
  const first = num.offsets[fi]!;
  const end = num.offsets[fi + 1]!;
  if (detectFormat(path) === 'jsonl' && !/\.json$/i.test(stripCompression(path))) {
    const lines = readAllRecords(linesPath(cfg, fi)).words;
    if (lines.length !== end - first) throw new CorruptIntermediateError(linesPath(cfg, fi), 'document count differs');
    const want = new Map<number, number>();
    for (let d = 0; d < lines.length; d++) if (needed.has(first + d)) want.set(lines[d]!, first + d);
    const dec = new TextDecoder('utf-8', { fatal: true });
    // no reading past the last line needed (a file signatures found corrupt is damaged after it)
    let lastLine = 0;
    for (const l of want.keys()) lastLine = Math.max(lastLine, l);
    let lineNo = 0;
    // the bytes so far of the current line, kept only when it is wanted (the other lines are counted, not copied)
    let parts: Uint8Array[] = [];
    for await (const chunk of openBytes(path)) {
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        lineNo++;
        const node = want.get(lineNo);
        if (node !== undefined) {
          const bytes = parts.length ? Buffer.concat([...parts, chunk.subarray(start, nl)]) : chunk.subarray(start, nl);
          yield { node, doc: lineDocument(cfg, path, lineNo, dec.decode(bytes)) };
        }
        parts = [];
        start = nl + 1;
        if (lineNo >= lastLine) return;
      }
      if (start < chunk.length && want.has(lineNo + 1)) parts.push(chunk.subarray(start));
    }
    if (parts.length && want.has(lineNo + 1)) {
      yield { node: want.get(lineNo + 1)!, doc: lineDocument(cfg, path, lineNo + 1, dec.decode(Buffer.concat(parts))) };
    }
    return;
  }
  let d = 0;
  // a file signatures found corrupt ends at its damage again (the filter checks the counts)
  const onCorrupt = signedFile(cfg, fi)?.corrupt ? () => {} : undefined;
  for await (const { doc } of readDocuments(path, { ...cfg.reader, onReject: () => {}, onCorrupt })) {
    const node = first + d++;
    if (node >= end) throw new Error(`${path}: more documents than when signatures were computed (input changed?)`);
    if (needed.has(node)) yield { node, doc };
  }
}

function lineDocument(cfg: DedupConfig, file: string, line: number, text: string): Document {
  const t = line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return recordToDocument(JSON.parse(t) as Record<string, unknown>, { file, line }, cfg.reader);
}

/**
 * Union-find over the nodes of one verify task's edges (path halving, union by size). A pair whose ends the task's
 * verified edges already join is not verified: its edge would not change any component (stage 3 joins the same
 * documents), and a cluster of n near-identical documents costs n − 1 checks instead of up to n(n − 1)/2.
 */
export class Forest {
  private readonly parent = new Map<number, number>();
  private readonly size = new Map<number, number>();
  find(x: number): number {
    for (;;) {
      const p = this.parent.get(x);
      if (p === undefined || p === x) return x;
      const g = this.parent.get(p);
      if (g === undefined || g === p) return p;
      this.parent.set(x, g); // path halving
      x = g;
    }
  }
  same(a: number, b: number): boolean {
    return this.find(a) === this.find(b);
  }
  join(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    const sa = this.size.get(ra) ?? 1;
    const sb = this.size.get(rb) ?? 1;
    if (sa < sb) [ra, rb] = [rb, ra];
    this.parent.set(ra, ra);
    this.parent.set(rb, ra);
    this.size.set(ra, sa + sb);
  }
}

/** Step b: exact Jaccard of the group's pairs (each not already joined by the task's edges). */
async function runVerify(rank: number, _world: number, args: VerifyArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const pairs = groupPairs(cfg, rank);
  const outDir = join(cfg.workDir, 'edges', `from-v${pad(rank)}`);
  rmSync(outDir, { recursive: true, force: true });
  const pw = new PartitionedWriter(outDir, cfg.partitions, 2);
  // node -> its record in the index of its group (start, length, check), loaded per group when first needed
  const where = new Map<number, number>();
  const idx: Uint32Array[] = [];
  // a group's sets file read whole (its checksum verified) while they fit in SETS_IN_MEMORY, else read set by set
  // (or as this process's sets tasks wrote it: writtenSets)
  const files: (RecordRanges | Uint32Array | Uint32Array[] | undefined)[] = [];
  let inMemory = 0;
  const locate = (node: number): Located => {
    const g = groupOfFile(cfg, fileOf(num, node)[0]);
    if (!files[g]) {
      const path = setsPath(cfg, g);
      if (!existsSync(path)) throw new CorruptIntermediateError(path, 'missing');
      const ix = readAllRecords(setsIndexPath(cfg, g));
      if (ix.width !== INDEX_WIDTH) throw new CorruptIntermediateError(setsIndexPath(cfg, g), 'unexpected width');
      idx[g] = ix.words;
      for (let i = 0; i < ix.words.length; i += INDEX_WIDTH) where.set(ix.words[i]!, i);
      const size = statSync(path).size;
      if (inMemory + size <= (testHooks().dedupSetsInMemory ?? SETS_IN_MEMORY)) {
        const held = writtenSetsOf(path);
        files[g] = held?.length === ix.words.length / INDEX_WIDTH ? held : readAllRecords(path).words;
        inMemory += size;
      } else files[g] = new RecordRanges(path);
    }
    const i = where.get(node);
    if (i === undefined) throw new CorruptIntermediateError(setsIndexPath(cfg, g), `no shingle set for node ${node}`);
    const ix = idx[g]!;
    const f = files[g]!;
    const at = Array.isArray(f)
      ? { node, file: f[i / INDEX_WIDTH]!, start: 0, length: ix[i + 2]!, check: ix[i + 3]! }
      : { node, file: f, start: ix[i + 1]!, length: ix[i + 2]!, check: ix[i + 3]! };
    if (at.file instanceof Uint32Array && at.start + at.length > at.file.length)
      throw new CorruptIntermediateError(setsIndexPath(cfg, g), `node ${node}: range past the end of the sets file`);
    return at;
  };
  let bufU: Uint32Array = new Uint32Array(4096);
  let bufV: Uint32Array = new Uint32Array(4096);
  /** A located set (a view of the file in memory, or read into `into` and checked). */
  const load = (at: Located, into: Uint32Array): [Uint32Array, Uint32Array] => {
    const n = at.length;
    if (at.file instanceof Uint32Array) return [into, at.file.subarray(at.start, at.start + n)];
    if (into.length < n) into = new Uint32Array(n * 2);
    const set = at.file.read(at.start, n, into);
    if (check(set) !== at.check)
      throw new CorruptIntermediateError(at.file.path, `shingle set of node ${at.node} fails its check`);
    return [into, set];
  };
  const t = cfg.minhash.threshold;
  const st = { pairs: 0, verified: 0, connected: 0, bySize: 0 };
  const joined = new Forest();
  try {
    let curU = -1;
    let setU: Uint32Array = new Uint32Array(0);
    for (let i = 0; i < pairs.length; i++) {
      if ((i & 4095) === 0) ctx.progress(i, pairs.length);
      const u = Math.floor(pairs[i]! / 2 ** 32);
      const v = pairs[i]! % 2 ** 32;
      st.pairs++;
      // u and v already joined by this task's edges: the pair's edge would not change any component
      if (joined.same(u, v)) {
        st.connected++;
        continue;
      }
      if (u !== curU) {
        const atU = locate(u);
        [bufU, setU] = load(atU, bufU);
        curU = u;
      }
      // J ≤ min(|U|, |V|) / max(|U|, |V|) (and a correctly rounded division keeps the order): sets of too
      // different sizes are not similar, whatever they hold
      const atV = locate(v);
      const hi = Math.max(setU.length, atV.length);
      if (hi > 0 && Math.min(setU.length, atV.length) / hi < t) {
        st.bySize++;
        continue;
      }
      let setV: Uint32Array;
      [bufV, setV] = load(atV, bufV);
      if (jaccardSorted(setU, setV, t) >= t) {
        st.verified++;
        joined.join(u, v);
        pw.writeEdge(u, v);
      }
    }
    crashPoint('verify');
    pw.close();
  } catch (err) {
    pw.abort();
    throw err;
  } finally {
    for (const f of files) if (f instanceof RecordRanges) f.close();
  }
  return st;
}

export const verifySetsTask = defineTask('dedup.verify-sets', runVerifySets);
export const verifyTask = defineTask('dedup.verify', runVerify);
