/**
 * The task of a map phase: files[rank::world] (files, or slices of large files: pipeline/slices.ts) are read (raw records → corpus adapter or generic conversion), run
 * through the phase's map stages, and written to `${docsDir}/part-RRRRR.jsonl.zst`; drops go to OUT/excluded/,
 * malformed records to OUT/rejects/. Every stage is metered (docs and bytes in/out, time, drops per rule).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Document } from './document.ts';
import { defineTask, type TaskContext } from './task.ts';
import { PARSE_ONCE, type DocSink, type DocStage, type SinkSpec, type Stage, type StageContext } from './stage.ts';
import type { Corpus } from './corpora/types.ts';
import { openSink, type OperatorRegistry } from './registry.ts';
import {
  readRecords,
  recordToDocument,
  toDocumentOptions,
  displayPath,
  InputFileError,
  type ReadOptions,
  type ReadRecordsOptions,
  type ReadItem,
  type RecordLocation,
  type ToDocumentOptions,
} from './readers/index.ts';
import { preview, type FileSlice } from './readers/types.ts';
import { openDocWriter, ExclusionWriter, RejectsWriter } from './writers/index.ts';
import { newStage, addCount, errorKind, type CorruptFile, type MapTaskStats, type StageStats } from './stats.ts';
import { setting, testHooks } from './settings.ts';

/**
 * Node makes the Buffers its native code returns (a crypto digest: jieba's dictionary check at the first Chinese
 * document; fs.readdirSync) from Uint8Arrays whose prototype it then sets to Buffer.prototype. The first time, that
 * gives the Uint8Array map a transition, and V8 throws away every optimised function that relied on that map being
 * stable: the filters that read constant Uint8Array tables (character classes, stopword indexes), ~10 functions
 * recompiled in the middle of the map phase. The same transition here, before anything is optimised.
 */
Object.setPrototypeOf(new Uint8Array(0), Buffer.prototype);

export interface MapInputFile {
  path: string;
  corpus?: string;
  /**
   * The file was recorded corrupt by an earlier run of this output folder and has since been removed: it keeps its
   * place in files[rank::world] (so the other tasks' results stay valid) and is read as empty.
   */
  gone?: boolean;
  /** Read only this slice of the file (the first phase's map unit; its other slices are other units). */
  slice?: FileSlice;
}

export interface GenericReaderOptions {
  format?: ReadOptions['format'];
  textField?: string;
  idField?: string;
  encoding?: string;
}

export interface MapTaskArgs {
  phase: string;
  files: MapInputFile[];
  steps: { name: string; op: string; params: Record<string, unknown> }[];
  outDir: string;
  /** Folder of this phase's document outputs (OUT/docs for the last phase, else under OUT/.state/). */
  docsDir: string;
  /** Prefix for excluded/rejects file names ("" for the first phase). */
  filePrefix: string;
  reader: GenericReaderOptions;
  /** Stop at the first input file that cannot be read to its end (default: keep its records, record it, go on). */
  strict?: boolean;
  /** The documents are an intermediate the next op reads once (GlobalOp.rewritesDocs): written at zstd level 1. */
  intermediate?: boolean;
  /** The global op after this phase, when it takes the written documents as they go (GlobalOp.mapSink). */
  sink?: SinkSpec & {
    /** Every document file of this phase, in task order (docsDir/part-RRRRR). */
    inputFiles: string[];
  };
}

export function partName(rank: number, ext = '.jsonl.zst'): string {
  return `part-${String(rank).padStart(5, '0')}${ext}`;
}

const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8');

/** CPU time of this process so far (user + system, all threads), in microseconds. */
const cpuNow = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

/** Wall (ms) and CPU (µs) time metered for one stage. */
interface Meter {
  ms: number;
  cpuUs: number;
}
const newMeter = (): Meter => ({ ms: 0, cpuUs: 0 });

/**
 * Documents per batch handed between stages (and per CPU-time reading): large enough that metering and the async
 * hand-over cost nothing per document, small enough to keep memory flat. A recipe with a step that stops reading
 * early (limit, head) moves one document at a time, so nothing is read past the cut.
 */
const BATCH_DOCS = 64;
/** A batch also ends once its texts reach this many UTF-16 code units (a few very large documents). */
const BATCH_CHARS = 4 << 20;

async function loadCorpus(name: string): Promise<Corpus> {
  const { getCorpus } = await import('./corpora/index.ts');
  const c = await getCorpus(name);
  if (!c) throw new Error(`unknown corpus "${name}"`);
  return c;
}

function crashHook(kept: number, rank: number): void {
  const h = testHooks();
  if (h.crashAfterDocs === undefined || !setting('worker')) return;
  if (h.crashRank !== undefined && h.crashRank !== rank) return;
  if (kept >= h.crashAfterDocs) process.kill(process.pid, 'SIGKILL');
}

/** The files of one task and its three outputs: kept documents, excluded (dropped) documents, rejected records. */
class TaskOutputs {
  readonly docsPath: string;
  readonly excludedPath: string;
  readonly rejectsPath: string;
  readonly docs;
  readonly excluded: ExclusionWriter;
  readonly rejects: RejectsWriter;

  constructor(args: MapTaskArgs, rank: number) {
    this.docsPath = join(args.docsDir, partName(rank));
    this.excludedPath = join(args.outDir, 'excluded', `${args.filePrefix}${partName(rank)}`);
    this.rejectsPath = join(args.outDir, 'rejects', `${args.filePrefix}${partName(rank, '.jsonl')}`);
    this.docs = openDocWriter(this.docsPath, args.intermediate ? { level: 1 } : {});
    this.excluded = new ExclusionWriter(this.excludedPath);
    this.rejects = new RejectsWriter(this.rejectsPath);
  }

  async close(): Promise<void> {
    await this.rejects.close();
    await this.excluded.close();
    await this.docs.close();
  }

  async abort(): Promise<void> {
    await Promise.allSettled([this.docs.abort(), this.excluded.abort(), this.rejects.abort()]);
  }

  paths(): MapTaskStats['outputs'] {
    return {
      docs: this.docsPath,
      ...(this.excluded.count ? { excluded: this.excludedPath } : {}),
      ...(this.rejects.count ? { rejects: this.rejectsPath } : {}),
    };
  }
}

/**
 * The task's input: files[rank::world] with their sizes, and how many bytes have been read so far (progress). Its
 * byte counts are kept in typed arrays: statSync's sizes are heap numbers and a slice's are small integers, and a
 * number field that meets both changes the object's layout in V8, which throws away the optimised code that read it
 * (readAndUnify's, once per process; see taskFile for the rest).
 */
class TaskInput {
  /** [total, done] */
  private readonly bytes = new Float64Array(2);
  /** Files that could not be read to their end (their records before the damage were kept). */
  readonly corrupt: CorruptFile[] = [];
  constructor(
    readonly files: MapInputFile[],
    readonly sizes: Float64Array,
  ) {
    for (const s of sizes) this.bytes[0] += s;
  }
  get totalBytes(): number {
    return this.bytes[0];
  }
  get bytesDone(): number {
    return this.bytes[1];
  }
  /** File `fi` has been read. */
  fileDone(fi: number): void {
    this.bytes[1] += this.sizes[fi];
  }
}

/**
 * A map unit as this task reads it: one object layout for every unit, whatever the objects it was given (the run's
 * plan makes a unit by spreading its file's record and adding the slice, the last slice of a file lacks `bytes` and
 * `lines`, and a worker gets them deserialised: the 8 slices of one file came with 8 layouts, so readAndUnify met a
 * new one in each task and V8 threw its optimised code away and compiled it again, in every process: 7-8 compiles of
 * it in one process on the 75 MB set, 3 now).
 */
export function taskFile(f: MapInputFile): MapInputFile {
  const s = f.slice;
  return {
    path: f.path,
    corpus: f.corpus,
    gone: f.gone,
    slice: s && { offset: s.offset, skip: s.skip, line: s.line, start: s.start, bytes: s.bytes, lines: s.lines },
  };
}

/**
 * readAndUnify's source: the task's files in turn, the records of the one being read, and what converting them
 * needs. A class whose methods do the work of a file's start and end, so that readAndUnify is the loop over records
 * alone: the generator is optimised during the task's first file, and code of its own that had not run by then (a
 * file's end) or had run before V8 gave it a feedback vector (the first file's start) threw that code away
 * ("Insufficient type feedback") in every process, and it was compiled again, with all it inlines.
 */
class UnifySource {
  /** The file being read (-1: none yet), its records (undefined: none opened yet), its corpus and text field. */
  fi = -1;
  records: AsyncGenerator<ReadItem> | undefined = undefined;
  corpus: Corpus | undefined = undefined;
  textField = 'text';
  /** Its corrupt-file records (a corrupt file: keep what was read, record the file, go on with the next one). */
  corrupt: CorruptFile[] = [];
  /** The generic conversion's options (when the file names no corpus). */
  readonly generic: ToDocumentOptions;
  constructor(
    readonly input: TaskInput,
    readonly args: MapTaskArgs,
    readonly out: TaskOutputs,
    readonly ctx: TaskContext,
  ) {
    // the options' one layout, as every document reader's (recordToDocument is shared)
    this.generic = toDocumentOptions({ textField: args.reader.textField, idField: args.reader.idField });
  }

  /** The file being read is done (if any) and the next one opened: false when there is none. */
  async nextFile(): Promise<boolean> {
    const { input, args, ctx } = this;
    for (;;) {
      if (this.fi >= 0) await this.fileEnd();
      this.records = undefined;
      if (++this.fi >= input.files.length) return false;
      const f = input.files[this.fi];
      if (f.gone) continue;
      const corpus = f.corpus ? await loadCorpus(f.corpus) : undefined;
      const reader = corpus ? corpus.reader : args.reader;
      const before = input.bytesDone;
      const corrupt: CorruptFile[] = [];
      // every field set, in one order, whatever the file (one layout of the options for every file and task)
      const ropts: ReadRecordsOptions = {
        format: reader.format,
        encoding: reader.encoding,
        textField: reader.textField,
        slice: f.slice,
        onBytes: (done) => ctx.progress(before + done, input.totalBytes),
        onCorrupt: args.strict
          ? undefined
          : (e, read) => {
              corrupt.push(e.corruptFile(read));
              ctx.log(e.keptNote(read));
            },
      };
      this.corpus = corpus;
      this.textField = ropts.textField ?? 'text';
      this.corrupt = corrupt;
      this.records = readRecords(f.path, ropts);
      return true;
    }
  }

  /** The file read: its corrupt-file records written, its bytes done. */
  private async fileEnd(): Promise<void> {
    const { input, out } = this;
    for (const c of this.corrupt) await out.rejects.writeCorruptFile(c);
    input.corrupt.push(...this.corrupt);
    this.corrupt = [];
    input.fileDone(this.fi);
    this.ctx.progress(input.bytesDone, input.totalBytes);
  }

  /** Stopped before the end (a consumer that stops early, an error): the file being read is closed. */
  async close(): Promise<void> {
    await this.records?.return(undefined);
  }
}

/**
 * Read and unify: every raw record of the task's files (`src`) becomes a document (corpus adapter or generic
 * conversion), a reject (malformed: read or unify error) or a drop (the adapter's rule). Metered into `readSt` and
 * `unifySt`. Every statement of the loop runs in its first two rounds (the first opens the first file).
 */
async function* readAndUnify(
  src: UnifySource,
  readSt: StageStats,
  unifySt: StageStats,
  unifyTime: { ms: number },
  last: { bytes: number },
): AsyncGenerator<Document> {
  let finished = false;
  try {
    for (;;) {
      const records = src.records;
      const next: IteratorResult<ReadItem> | undefined = records && (await records.next());
      if (next === undefined || next.done) {
        if (await src.nextFile()) continue;
        break;
      }
      const it = next.value;
      readSt.in++;
      if (it.kind === 'reject') {
        readSt.rejected++;
        addCount(readSt.rejected_by_error, errorKind(it.error));
        await src.out.rejects.write(it.loc, 'read', it.error, it.raw);
        continue;
      }
      readSt.out++;
      unifySt.in++;
      // bytes in one unit throughout: UTF-8 bytes of text (here the record's text field, when it is a string)
      const rt = it.record[src.textField];
      let rb = -1;
      if (typeof rt === 'string') {
        rb = utf8Len(rt);
        readSt.bytes_in += rb;
        readSt.bytes_out += rb;
        unifySt.bytes_in += rb;
      }
      const corpus = src.corpus;
      const u0 = performance.now();
      let r: ReturnType<Corpus['adapt']>;
      try {
        r = corpus ? corpus.adapt(it.record, it.loc) : recordToDocument(it.record, it.loc, src.generic);
      } catch (e) {
        unifyTime.ms += performance.now() - u0;
        await unifyReject(src, unifySt, it.record, it.loc, e);
        continue;
      }
      unifyTime.ms += performance.now() - u0;
      if ('drop' in r && typeof (r as { drop?: unknown }).drop === 'string') {
        await unifyDrop(src, unifySt, it.record, it.loc, r as { drop: string; value?: number | string });
        continue;
      }
      const doc = r as Document;
      unifySt.out++;
      // the record's own text kept by the adapter: its length is counted above
      last.bytes = rb >= 0 && doc.text === rt ? rb : utf8Len(doc.text);
      unifySt.bytes_out += last.bytes;
      yield doc;
    }
    finished = true;
  } finally {
    if (!finished) await src.close();
  }
}

/** A record the conversion refused (it threw `e`): a reject of the unify stage. */
async function unifyReject(
  src: UnifySource,
  unifySt: StageStats,
  record: Record<string, unknown>,
  loc: RecordLocation,
  e: unknown,
): Promise<void> {
  const corpus = src.corpus;
  const msg = (e as Error)?.message ?? String(e);
  unifySt.rejected++;
  // adapters prefix their messages with the corpus name; count by what went wrong
  const kindMsg = corpus && msg.startsWith(`${corpus.name}: `) ? msg.slice(corpus.name.length + 2) : msg;
  addCount(unifySt.rejected_by_error, errorKind(kindMsg));
  let raw: string;
  try {
    raw = JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    raw = String(record);
  }
  await src.out.rejects.write(loc, 'unify', msg, preview(raw));
}

/** A record the corpus adapter drops by its rule: written to the exclusion file as a pseudo-document. */
async function unifyDrop(
  src: UnifySource,
  unifySt: StageStats,
  record: Record<string, unknown>,
  loc: RecordLocation,
  d: { drop: string; value?: number | string },
): Promise<void> {
  const corpus = src.corpus;
  unifySt.dropped++;
  addCount(unifySt.dropped_by_rule, d.drop);
  const tf = corpus?.reader.textField ?? 'text';
  const t = record[tf];
  const pseudo: Document = {
    id: `${displayPath(loc.file)}:${loc.line}`,
    text: typeof t === 'string' ? t : JSON.stringify(record),
    source: corpus?.name ?? src.input.files[src.fi].corpus ?? '',
    meta: { file: displayPath(loc.file), line: loc.line },
  };
  await src.out.excluded.write(pseudo, 'unify', d.drop, d.value);
}

/** A batch of documents; `bytes`: their texts' UTF-8 lengths, where the batch comes straight from the unify stage. */
type Batch = Document[] & { bytes?: number[] };

/**
 * Group a document stream into batches (at most `size` documents or BATCH_CHARS of text), metering each pull; each
 * batch carries the texts' UTF-8 lengths that the source left in `last` as it yielded each document. It takes the
 * source's iterator (not the iterable): a statement before the loop runs once per task, the first time before V8
 * gives the function a feedback vector, and code compiled without feedback there was thrown away at the next task.
 */
async function* batchesOf(
  it: AsyncIterator<Document>,
  size: number,
  m: Meter,
  last: { bytes: number },
): AsyncGenerator<Batch> {
  let done = false;
  try {
    while (!done) {
      const c0 = cpuNow();
      const w0 = performance.now();
      const batch: Batch = [];
      const bytes: number[] = [];
      batch.bytes = bytes;
      let chars = 0;
      while (batch.length < size && chars < BATCH_CHARS) {
        const r = await it.next();
        if (r.done) {
          done = true;
          break;
        }
        batch.push(r.value);
        bytes.push(last.bytes);
        chars += r.value.text.length;
      }
      m.ms += performance.now() - w0;
      m.cpuUs += cpuNow() - c0;
      if (batch.length) yield batch;
    }
  } finally {
    if (!done) await it.return?.(undefined);
  }
}

/** A recipe step as the map task runs it: its stats, its meter, and the context it drops documents through. */
interface StepRun {
  step: MapTaskArgs['steps'][number];
  st: StageStats;
  m: Meter;
  /** Drops of this step not yet written (in the order they happened, shared by a fused run of steps). */
  queue: { doc: Document; run: StepRun; rule: string; value?: number | string }[];
  sctx: StageContext;
}

function stepRun(
  step: MapTaskArgs['steps'][number],
  st: StageStats,
  queue: StepRun['queue'],
  sctxBase: Omit<StageContext, 'drop' | 'log'>,
  ctx: TaskContext,
): StepRun {
  const run = { step, st, m: newMeter(), queue } as StepRun;
  run.sctx = new StepContext(sctxBase, run, ctx);
  return run;
}

/**
 * A step's StageContext: one class for every step, drop and log methods of its prototype. (An object literal per step
 * with its own drop and log closures was a new call target at the filters' shared per-document code, which was
 * thrown away at a second step's first drop, "wrong map".)
 */
class StepContext implements StageContext {
  readonly rank: number;
  readonly world: number;
  readonly outDir: string;
  constructor(
    base: Omit<StageContext, 'drop' | 'log'>,
    private readonly run: StepRun,
    private readonly task: TaskContext,
  ) {
    this.rank = base.rank;
    this.world = base.world;
    this.outDir = base.outDir;
  }
  drop(doc: Document, rule: string, value?: number | string): void {
    this.run.queue.push({ doc, run: this.run, rule, value });
  }
  log(msg: string): void {
    this.task.log(`${this.run.step.name}: ${msg}`);
  }
}

/** Write the queued drops to the exclusion file (metered as writing). */
async function drainDrops(queue: StepRun['queue'], out: TaskOutputs, wm: Meter): Promise<void> {
  if (!queue.length) return;
  const c0 = cpuNow();
  const w0 = performance.now();
  for (const q of queue.splice(0)) {
    q.run.st.dropped++;
    addCount(q.run.st.dropped_by_rule, q.rule);
    await out.excluded.write(q.doc, q.run.step.name, q.rule, q.value);
  }
  wm.ms += performance.now() - w0;
  wm.cpuUs += cpuNow() - c0;
}

function stageError(step: MapTaskArgs['steps'][number], op: string, e: unknown): Error {
  const err = e as Error;
  // an error from upstream (another stage, or reading: it names its reader and file) is not this stage's
  if (err?.message?.startsWith('stage "') || err instanceof InputFileError) return err;
  return new Error(`stage "${step.name}" (${op}): ${err?.message ?? String(e)}`, { cause: e });
}

/** A per-document step in a fused run; `flatten`: the last of the steps that may change the text before one that does not. */
type FusedStep = StepRun & { fn: DocStage; flatten: boolean };

/**
 * `s` as one flat sequential string: a mapper's slice (a strip) or concatenation is a sliced or cons string, whose
 * every character read goes through the indirection (5-20% slower character loops); UTF-16 copies keep every code unit.
 */
export function flatString(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}

/** A fused run of per-document steps and the state of the document going through it. */
class FusedRun {
  /** The document's text when it entered the run, as last measured, its UTF-8 length, and when its step started. */
  text0 = '';
  text = '';
  bytes = 0;
  /** (A double from the start: a field that held a small integer first was thrown away with runSteps' code.) */
  t = performance.now();
  /** The answer of the step that returned a promise (runSteps' index). */
  pending: Promise<boolean> | undefined = undefined;
  readonly batchMs: Float64Array;
  constructor(readonly runs: FusedStep[]) {
    this.batchMs = new Float64Array(runs.length);
  }
}

/**
 * Steps k, k + 1, ... of a fused run over `doc`, synchronously: returns -1 when a step drops the document, runs.length
 * when every step kept it, or the index of a step that answered with a promise (in f.pending; the caller awaits it,
 * ends the step with stepEnd and goes on from the next). A plain function, apart from the async generator, so that
 * its optimised code does not go with the generator's.
 */
function runSteps(f: FusedRun, doc: Document, k: number): number {
  const runs = f.runs;
  for (; k < runs.length; k++) {
    const r = runs[k];
    r.st.in++;
    r.st.bytes_in += f.bytes;
    let keep: boolean | Promise<boolean>;
    try {
      keep = r.fn(doc, r.sctx);
    } catch (e) {
      throw stageError(r.step, r.st.op, e);
    }
    if (typeof keep !== 'boolean') {
      f.pending = keep;
      return k;
    }
    if (!stepEnd(f, doc, k, keep)) return -1;
  }
  return k;
}

/** Step k's answer for `doc`: its wall time, and (kept) the text's new UTF-8 length and the step's out counts. */
function stepEnd(f: FusedRun, doc: Document, k: number, keep: boolean): boolean {
  // the flat copy is metered as the step's
  if (keep && f.runs[k].flatten && doc.text !== f.text0) doc.text = flatString(doc.text);
  const t1 = performance.now();
  f.batchMs[k] += t1 - f.t;
  f.t = t1;
  if (!keep) return false;
  if (doc.text !== f.text) {
    f.text = doc.text;
    f.bytes = utf8Len(f.text);
  }
  const st = f.runs[k].st;
  st.out++;
  st.bytes_out += f.bytes;
  return true;
}

/**
 * Consecutive per-document steps as one loop: each document of a batch goes through every step in turn (so the
 * one-document caches of the filters serve them all), with each step's wall time metered around its call; the CPU
 * time of the batch (process.cpuUsage before and after) is shared among the steps in proportion to their wall time
 * in that batch, which on a busy machine keeps each step's CPU-seconds honest without a system call per document.
 */
async function* fusedSteps(
  src: AsyncIterable<Document[]>,
  runs: FusedStep[],
  out: TaskOutputs,
  wm: Meter,
): AsyncGenerator<Document[]> {
  const n = runs.length;
  const f = new FusedRun(runs);
  const batchMs = f.batchMs;
  for await (const batch of src) {
    batchMs.fill(0);
    const c0 = cpuNow();
    const kept: Document[] = [];
    // the lengths measured by the unify stage, for a batch straight from it
    const bytes = (batch as Batch).bytes;
    for (let i = 0; i < batch.length; i++) {
      const doc = batch[i];
      f.text0 = f.text = doc.text;
      f.bytes = bytes ? bytes[i] : utf8Len(f.text);
      f.t = performance.now();
      let k = runSteps(f, doc, 0);
      while (k >= 0 && k < n) {
        let keep: boolean;
        try {
          keep = await f.pending!;
        } catch (e) {
          throw stageError(runs[k].step, runs[k].st.op, e);
        }
        f.pending = undefined;
        k = stepEnd(f, doc, k, keep) ? runSteps(f, doc, k + 1) : -1;
      }
      if (k === n) kept.push(doc);
    }
    const cpu = cpuNow() - c0;
    let sum = 0;
    for (let k = 0; k < n; k++) sum += batchMs[k];
    for (let k = 0; k < n; k++) {
      runs[k].m.ms += batchMs[k];
      runs[k].m.cpuUs += sum > 0 ? (cpu * batchMs[k]) / sum : cpu / n;
    }
    await drainDrops(runs[0].queue, out, wm);
    if (kept.length) yield kept;
  }
  await drainDrops(runs[0].queue, out, wm);
}

/**
 * A streaming step (an operator without a per-document form: batching filters, limit, custom ops) over the batch
 * stream: flattened into documents for the stage, its output grouped into batches again. Its time is the time spent
 * pulling from it minus the time its input spent pulling from upstream.
 */
function streamingStep(
  src: AsyncIterable<Document[]>,
  stage: Stage,
  r: StepRun,
  size: number,
  out: TaskOutputs,
  wm: Meter,
): AsyncIterable<Document[]> {
  const up = newMeter();
  const input = (async function* () {
    const it = src[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        const c0 = cpuNow();
        const w0 = performance.now();
        const x = await it.next();
        up.ms += performance.now() - w0;
        up.cpuUs += cpuNow() - c0;
        if (x.done) {
          done = true;
          return;
        }
        for (const d of x.value) {
          r.st.in++;
          r.st.bytes_in += utf8Len(d.text);
          yield d;
        }
      }
    } finally {
      if (!done) await it.return?.(undefined);
    }
  })();
  return (async function* () {
    const it = stage(input, r.sctx)[Symbol.asyncIterator]();
    let batch: Document[] = [];
    let done = false;
    try {
      while (!done) {
        const c0 = cpuNow();
        const w0 = performance.now();
        const u0 = up.ms;
        const uc0 = up.cpuUs;
        let x: IteratorResult<Document>;
        try {
          x = await it.next();
        } catch (e) {
          throw stageError(r.step, r.st.op, e);
        }
        r.m.ms += performance.now() - w0 - (up.ms - u0);
        r.m.cpuUs += cpuNow() - c0 - (up.cpuUs - uc0);
        if (x.done) done = true;
        else {
          r.st.out++;
          r.st.bytes_out += utf8Len(x.value.text);
          batch.push(x.value);
        }
        await drainDrops(r.queue, out, wm);
        if (batch.length && (done || batch.length >= size)) {
          yield batch;
          batch = [];
        }
      }
    } finally {
      if (!done) await it.return?.(undefined);
    }
  })();
}

/** Write every document of the stream; returns the write stage's stats (time = writing only, drops included). */
async function writeAll(
  stream: AsyncIterable<Document[]>,
  out: TaskOutputs,
  phase: string,
  rank: number,
  wm: Meter,
  sink?: { sink: DocSink; m: Meter },
): Promise<StageStats> {
  const writeSt = newStage('write', 'write', phase);
  try {
    await writeBatches(stream[Symbol.asyncIterator](), out, writeSt, rank, wm, sink);
    const c0 = cpuNow();
    const w0 = performance.now();
    await out.close();
    wm.ms += performance.now() - w0;
    wm.cpuUs += cpuNow() - c0;
    if (sink) {
      const s0 = cpuNow();
      await sink.sink.close();
      sink.m.cpuUs += cpuNow() - s0;
    }
  } catch (e) {
    sink?.sink.abort();
    await out.abort();
    throw e;
  }
  return writeSt;
}

/**
 * writeAll's loop, the batches written until the stream ends. A function apart from what is done once per task before
 * and after it (run once per task, that code had no feedback when the loop was optimised during the first task, and
 * the loop's code was thrown away at the first task's end, "Insufficient type feedback for call").
 */
async function writeBatches(
  it: AsyncIterator<Document[]>,
  out: TaskOutputs,
  writeSt: StageStats,
  rank: number,
  wm: Meter,
  sink: { sink: DocSink; m: Meter } | undefined,
): Promise<void> {
  let done = false;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const batch = r.value;
      const c0 = cpuNow();
      const w0 = performance.now();
      for (const d of batch) {
        writeSt.in++;
        // the text's UTF-8 length, counted by the writer as it encodes the text
        const b = await out.docs.write(d);
        writeSt.bytes_in += b;
        writeSt.out++;
        writeSt.bytes_out += b;
        crashHook(writeSt.out, rank);
      }
      wm.ms += performance.now() - w0;
      wm.cpuUs += cpuNow() - c0;
      if (sink) {
        const s0 = cpuNow();
        let line = writeSt.out - batch.length;
        for (const d of batch) sink.sink.add(d, ++line);
        sink.m.cpuUs += cpuNow() - s0;
      }
    }
    done = true;
  } finally {
    // an error here: the stream is closed (what a for-await loop did), so its readers close their files
    if (!done) await it.return?.(undefined);
  }
}

/**
 * A step whose operator stops reading early (`stopsEarly`, e.g. limit/head) leaves upstream stages with documents in
 * flight (batching stages): those were read but neither kept nor dropped, so they are counted as dropped by rule
 * "limit_cutoff". Returns whether the task's input was cut short.
 */
function accountCutoff(userStages: StageStats[], stopsEarly: boolean[], input: TaskInput): boolean {
  let cut = false;
  for (let i = 0; i < userStages.length; i++) {
    const s = userStages[i];
    const inFlight = s.in - s.out - s.dropped - s.rejected;
    if (inFlight > 0 && stopsEarly.slice(i + 1).some(Boolean)) {
      s.dropped += inFlight;
      addCount(s.dropped_by_rule, 'limit_cutoff', inFlight);
      cut = true;
    }
  }
  const first = stopsEarly.indexOf(true);
  if (first >= 0 && userStages[first].in > 0 && input.bytesDone < input.totalBytes) cut = true;
  return cut;
}

const setTimes = (st: StageStats, m: Meter) => {
  st.seconds = m.ms / 1000;
  st.cpu_seconds = m.cpuUs / 1e6;
};

async function runMapTask(
  operators: OperatorRegistry,
  rank: number,
  world: number,
  args: MapTaskArgs,
  ctx: TaskContext,
): Promise<MapTaskStats> {
  const t0 = performance.now();
  const cpu0 = cpuNow();
  const mine = args.files.flatMap((f, i) => (i % world === rank ? [i] : []));
  const files = mine.map((i) => taskFile(args.files[i]));
  // a slice's bytes: from its offset to the next slice's of the file (the next unit)
  const sizes = Float64Array.from(mine, (i) => {
    const f = args.files[i];
    if (f.gone) return 0;
    const next = args.files[i + 1];
    const end = f.slice && next?.path === f.path && next.slice ? next.slice.offset : statSync(f.path).size;
    return end - (f.slice?.offset ?? 0);
  });
  const input = new TaskInput(files, sizes);
  // the next global op's sink, opened before this task's outputs
  const sinkMeter = newMeter();
  let sink: DocSink | undefined;
  if (args.sink) sink = await openSink(operators, args.sink, rank, args.sink.inputFiles);
  const out = new TaskOutputs(args, rank);

  const readSt = newStage('read', 'read', args.phase);
  const unifySt = newStage('unify', 'unify', args.phase);
  const stageStats: StageStats[] = [readSt, unifySt];
  const srcMeter = newMeter();
  const unifyTime = { ms: 0 };
  const writeMeter = newMeter();

  // resolve every step first: its operator, its stage (per-document or streaming), its stats
  const sctxBase = { rank, world, outDir: args.outDir };
  const planned: { run: StepRun; fn?: DocStage; stage?: Stage; keepsText?: boolean }[] = [];
  const stopsEarly: boolean[] = [];
  let queue: StepRun['queue'] = [];
  for (const step of args.steps) {
    const op = await operators.find(step.op);
    if (op.kind !== 'map') throw new Error(`step "${step.name}": op "${step.op}" is not a map op`);
    const params = op.params.parse(step.params, PARSE_ONCE);
    const st = newStage(step.name, op.name, args.phase);
    stageStats.push(st);
    stopsEarly.push(op.stopsEarly === true);
    if (op.createDoc) {
      // consecutive per-document steps share one drop queue (drops are written in the order they happened)
      const prev = planned[planned.length - 1];
      if (!prev?.fn) queue = [];
      planned.push({
        run: stepRun(step, st, queue, sctxBase, ctx),
        fn: await op.createDoc(params),
        keepsText: op.keepsText === true,
      });
    } else {
      queue = [];
      planned.push({ run: stepRun(step, st, queue, sctxBase, ctx), stage: await op.create(params) });
    }
  }
  const size = stopsEarly.some(Boolean) ? 1 : BATCH_DOCS;

  const last = { bytes: 0 };
  let stream: AsyncIterable<Document[]> = batchesOf(
    readAndUnify(new UnifySource(input, args, out, ctx), readSt, unifySt, unifyTime, last),
    size,
    srcMeter,
    last,
  );
  for (let i = 0; i < planned.length;) {
    if (planned[i].fn) {
      const runs: FusedStep[] = [];
      for (; i < planned.length && planned[i].fn; i++) {
        // a text changed by the steps up to here is made flat before the first of the steps that only read it
        const flatten = !planned[i].keepsText && !!planned[i + 1]?.fn && planned[i + 1].keepsText === true;
        // the spread copies share the meter and stats objects with planned[].run
        runs.push({ ...planned[i].run, fn: planned[i].fn!, flatten });
      }
      stream = fusedSteps(stream, runs, out, writeMeter);
    } else {
      stream = streamingStep(stream, planned[i].stage!, planned[i].run, size, out, writeMeter);
      i++;
    }
  }

  const writeSt = await writeAll(stream, out, args.phase, rank, writeMeter, sink ? { sink, m: sinkMeter } : undefined);
  const cut = accountCutoff(stageStats.slice(2), stopsEarly, input);
  // read and unify share the source's pulls: unify's part is its conversion time, CPU split in the same proportion
  const unifyShare = srcMeter.ms > 0 ? Math.min(1, unifyTime.ms / srcMeter.ms) : 0;
  setTimes(unifySt, { ms: unifyTime.ms, cpuUs: srcMeter.cpuUs * unifyShare });
  setTimes(readSt, { ms: Math.max(0, srcMeter.ms - unifyTime.ms), cpuUs: srcMeter.cpuUs * (1 - unifyShare) });
  planned.forEach((p, k) => setTimes(stageStats[k + 2], p.run.m));
  setTimes(writeSt, writeMeter);
  stageStats.push(writeSt);
  const dropped = stageStats.reduce((a, s) => a + s.dropped, 0);
  const rejected = stageStats.reduce((a, s) => a + s.rejected, 0);
  return {
    phase: args.phase,
    rank,
    world,
    files: files.map((f) => {
      const s = f.slice;
      return s
        ? `${displayPath(f.path)}:${s.line}-${s.lines !== undefined ? s.line + s.lines - 1 : ''}`
        : displayPath(f.path);
    }),
    read: readSt.in,
    kept: writeSt.out,
    dropped,
    rejected,
    input_bytes: input.totalBytes,
    seconds: (performance.now() - t0) / 1000,
    cpu_seconds: (cpuNow() - cpu0) / 1e6,
    cut,
    ...(sink ? { sink_cpu_seconds: sinkMeter.cpuUs / 1e6 } : {}),
    stages: stageStats,
    outputs: out.paths(),
    corrupt_files: input.corrupt,
  };
}

const mapTasks = new WeakMap<OperatorRegistry, ReturnType<typeof defineMapTask>>();

function defineMapTask(operators: OperatorRegistry) {
  return defineTask('pipeline.map', (rank, world, args: MapTaskArgs, ctx) =>
    runMapTask(operators, rank, world, args, ctx),
  );
}

/**
 * The task of every map phase (one rank per files[rank::world] slice), resolving the recipe's operators in
 * `operators`: the runner's registry in-process, the composition root's in worker processes (cli/tasks.ts).
 */
export function mapTask(operators: OperatorRegistry) {
  let t = mapTasks.get(operators);
  if (!t) mapTasks.set(operators, (t = defineMapTask(operators)));
  return t;
}
