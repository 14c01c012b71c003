/**
 * The task of a map phase: files[rank::world] are read (raw records → corpus adapter or generic conversion), run
 * through the phase's map stages, and written to `${docsDir}/part-RRRRR.jsonl.zst`; drops go to OUT/excluded/,
 * malformed records to OUT/rejects/. Every stage is metered (docs and bytes in/out, time, drops per rule).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Document } from './document.ts';
import { defineTask, type TaskContext } from './task.ts';
import type { Stage, StageContext } from './stage.ts';
import type { Corpus, RecordLocation } from './corpora/types.ts';
import type { OperatorRegistry } from './registry.ts';
import {
  readRecords,
  recordToDocument,
  displayPath,
  InputFileError,
  type ReadOptions,
  type ReadItem,
} from './readers/index.ts';
import { preview } from './readers/types.ts';
import { openDocWriter, ExclusionWriter, RejectsWriter } from './writers/index.ts';
import { newStage, addCount, errorKind, type CorruptFile, type MapTaskStats, type StageStats } from './stats.ts';
import { setting, testHooks } from './settings.ts';

export interface MapInputFile {
  path: string;
  corpus?: string;
  /**
   * The file was recorded corrupt by an earlier run of this output folder and has since been removed: it keeps its
   * place in files[rank::world] (so the other tasks' results stay valid) and is read as empty.
   */
  gone?: boolean;
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
}

export function partName(rank: number, ext = '.jsonl.zst'): string {
  return `part-${String(rank).padStart(5, '0')}${ext}`;
}

const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8');

/** Wrap an async iterable; add the time spent waiting for each item to `acc.ms`. */
async function* timed<T>(
  it: AsyncIterable<T>,
  acc: { ms: number },
  onItem?: (x: T) => void | Promise<void>,
  onEnd?: () => void | Promise<void>,
): AsyncGenerator<T> {
  const iter = it[Symbol.asyncIterator]();
  let done = false;
  try {
    while (true) {
      const t0 = performance.now();
      const r = await iter.next();
      acc.ms += performance.now() - t0;
      if (r.done) {
        done = true;
        break;
      }
      if (onItem) await onItem(r.value);
      yield r.value;
    }
    if (onEnd) await onEnd();
  } finally {
    if (!done) await iter.return?.(undefined);
  }
}

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
    this.docs = openDocWriter(this.docsPath);
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

/** The task's input: files[rank::world] with their sizes, and how many bytes have been read so far (progress). */
interface TaskInput {
  files: MapInputFile[];
  sizes: number[];
  totalBytes: number;
  bytesDone: number;
  /** Files that could not be read to their end (their records before the damage were kept). */
  corrupt: CorruptFile[];
}

/**
 * Read and unify: every raw record of the task's files becomes a document (corpus adapter or generic conversion),
 * a reject (malformed: read or unify error) or a drop (the adapter's rule). Metered into `readSt` and `unifySt`.
 */
async function* readAndUnify(
  input: TaskInput,
  args: MapTaskArgs,
  out: TaskOutputs,
  readSt: StageStats,
  unifySt: StageStats,
  unifyTime: { ms: number },
  ctx: TaskContext,
): AsyncGenerator<Document> {
  for (let fi = 0; fi < input.files.length; fi++) {
    const f = input.files[fi];
    const corpus = f.corpus ? await loadCorpus(f.corpus) : undefined;
    const ropts: ReadOptions = corpus
      ? { format: corpus.reader.format, encoding: corpus.reader.encoding, textField: corpus.reader.textField }
      : { format: args.reader.format, encoding: args.reader.encoding, textField: args.reader.textField };
    const before = input.bytesDone;
    ropts.onBytes = (done) => ctx.progress(before + done, input.totalBytes);
    const convert = corpus
      ? (rec: Record<string, unknown>, loc: RecordLocation) => corpus.adapt(rec, loc)
      : (rec: Record<string, unknown>, loc: RecordLocation) =>
          recordToDocument(rec, loc, { textField: args.reader.textField, idField: args.reader.idField });
    const records = f.gone ? undefined : readRecords(f.path, ropts);
    let recordsRead = 0;
    try {
      while (records) {
        let next: IteratorResult<ReadItem>;
        try {
          next = await records.next();
        } catch (e) {
          if (!(e instanceof InputFileError) || !e.corrupt || args.strict) throw e;
          // keep what was read, record the file, go on with the next one
          const c: CorruptFile = {
            file: displayPath(f.path),
            path: f.path,
            reader: e.reader,
            ...(e.offset !== undefined ? { offset: e.offset } : {}),
            records_read: recordsRead,
            error: e.reason,
          };
          input.corrupt.push(c);
          await out.rejects.writeCorruptFile(c);
          ctx.log(
            `${e.message}: kept the ${recordsRead} record(s) before it; recorded in rejects/ (--strict stops instead)`,
          );
          break;
        }
        if (next.done) break;
        const it = next.value;
        recordsRead++;
        readSt.in++;
        if (it.kind === 'reject') {
          readSt.rejected++;
          addCount(readSt.rejected_by_error, errorKind(it.error));
          await out.rejects.write(it.loc, 'read', it.error, it.raw);
          continue;
        }
        readSt.out++;
        unifySt.in++;
        const u0 = performance.now();
        let r: ReturnType<typeof convert>;
        try {
          r = convert(it.record, it.loc);
        } catch (e) {
          unifyTime.ms += performance.now() - u0;
          const msg = (e as Error)?.message ?? String(e);
          unifySt.rejected++;
          // adapters prefix their messages with the corpus name; count by what went wrong
          const kindMsg = corpus && msg.startsWith(`${corpus.name}: `) ? msg.slice(corpus.name.length + 2) : msg;
          addCount(unifySt.rejected_by_error, errorKind(kindMsg));
          let raw: string;
          try {
            raw = JSON.stringify(it.record, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
          } catch {
            raw = String(it.record);
          }
          await out.rejects.write(it.loc, 'unify', msg, preview(raw));
          continue;
        }
        unifyTime.ms += performance.now() - u0;
        if ('drop' in r && typeof (r as { drop?: unknown }).drop === 'string') {
          const d = r as { drop: string; value?: number | string };
          unifySt.dropped++;
          addCount(unifySt.dropped_by_rule, d.drop);
          const tf = corpus?.reader.textField ?? 'text';
          const t = it.record[tf];
          const pseudo: Document = {
            id: `${displayPath(it.loc.file)}:${it.loc.line}`,
            text: typeof t === 'string' ? t : JSON.stringify(it.record),
            source: corpus?.name ?? f.corpus ?? '',
            meta: { file: displayPath(it.loc.file), line: it.loc.line },
          };
          await out.excluded.write(pseudo, 'unify', d.drop, d.value);
          continue;
        }
        const doc = r as Document;
        unifySt.out++;
        unifySt.bytes_out += utf8Len(doc.text);
        yield doc;
      }
    } finally {
      await records?.return(undefined);
    }
    input.bytesDone += input.sizes[fi];
    ctx.progress(input.bytesDone, input.totalBytes);
  }
}

/**
 * One recipe step over the stream, metered into `st` (docs and bytes in/out, drops per rule, pull time in `acc`);
 * the documents it drops go to the exclusion writer in order.
 */
function meteredStage(
  stream: AsyncIterable<Document>,
  stage: Stage,
  step: MapTaskArgs['steps'][number],
  st: StageStats,
  acc: { ms: number },
  out: TaskOutputs,
  sctxBase: Omit<StageContext, 'drop' | 'log'>,
  ctx: TaskContext,
): AsyncIterable<Document> {
  const queue: { doc: Document; rule: string; value?: number | string }[] = [];
  const sctx: StageContext = {
    ...sctxBase,
    drop: (doc, rule, value) => {
      queue.push({ doc, rule, value });
    },
    log: (m) => ctx.log(`${step.name}: ${m}`),
  };
  const drain = async () => {
    for (const q of queue.splice(0)) {
      st.dropped++;
      addCount(st.dropped_by_rule, q.rule);
      await out.excluded.write(q.doc, step.name, q.rule, q.value);
    }
  };
  const input = (async function* (src: AsyncIterable<Document>) {
    for await (const d of src) {
      st.in++;
      st.bytes_in += utf8Len(d.text);
      yield d;
    }
  })(stream);
  return (async function* () {
    try {
      yield* timed(
        stage(input, sctx),
        acc,
        async (d) => {
          st.out++;
          st.bytes_out += utf8Len(d.text);
          await drain();
        },
        drain,
      );
    } catch (e) {
      const err = e as Error;
      // an error from upstream (another stage, or reading: it names its reader and file) is not this stage's
      if (err?.message?.startsWith('stage "') || err instanceof InputFileError) throw err;
      throw new Error(`stage "${step.name}" (${step.op}): ${err?.message ?? String(e)}`, { cause: e });
    }
  })();
}

/** Write every document of the stream; returns the write stage's stats (time = writing only). */
async function writeAll(
  stream: AsyncIterable<Document>,
  out: TaskOutputs,
  phase: string,
  rank: number,
): Promise<StageStats> {
  const writeSt = newStage('write', 'write', phase);
  let wroteMs = 0;
  try {
    for await (const d of stream) {
      writeSt.in++;
      writeSt.bytes_in += utf8Len(d.text);
      const w0 = performance.now();
      await out.docs.write(d);
      wroteMs += performance.now() - w0;
      writeSt.out++;
      writeSt.bytes_out += utf8Len(d.text);
      crashHook(writeSt.out, rank);
    }
    const w0 = performance.now();
    await out.close();
    wroteMs += performance.now() - w0;
  } catch (e) {
    await out.abort();
    throw e;
  }
  writeSt.seconds = wroteMs / 1000;
  return writeSt;
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

async function runMapTask(
  operators: OperatorRegistry,
  rank: number,
  world: number,
  args: MapTaskArgs,
  ctx: TaskContext,
): Promise<MapTaskStats> {
  const t0 = performance.now();
  const files = args.files.filter((_, i) => i % world === rank);
  const sizes = files.map((f) => (f.gone ? 0 : statSync(f.path).size));
  const input: TaskInput = {
    files,
    sizes,
    totalBytes: sizes.reduce((a, b) => a + b, 0),
    bytesDone: 0,
    corrupt: [],
  };
  const out = new TaskOutputs(args, rank);

  const readSt = newStage('read', 'read', args.phase);
  const unifySt = newStage('unify', 'unify', args.phase);
  const stageStats: StageStats[] = [readSt, unifySt];
  const srcTime = { ms: 0 };
  const unifyTime = { ms: 0 };

  let stream: AsyncIterable<Document> = timed(readAndUnify(input, args, out, readSt, unifySt, unifyTime, ctx), srcTime);
  const times: { ms: number }[] = [srcTime];
  const stopsEarly: boolean[] = [];
  for (const step of args.steps) {
    const op = await operators.find(step.op);
    if (op.kind !== 'map') throw new Error(`step "${step.name}": op "${step.op}" is not a map op`);
    const stage = await op.create(op.params.parse(step.params));
    const st = newStage(step.name, op.name, args.phase);
    stageStats.push(st);
    stopsEarly.push(op.stopsEarly === true);
    const acc = { ms: 0 };
    times.push(acc);
    stream = meteredStage(stream, stage, step, st, acc, out, { rank, world, outDir: args.outDir }, ctx);
  }

  const writeSt = await writeAll(stream, out, args.phase, rank);
  const cut = accountCutoff(stageStats.slice(2), stopsEarly, input);
  // exclusive times: each wrapper's pull time minus its upstream's
  unifySt.seconds = unifyTime.ms / 1000;
  readSt.seconds = Math.max(0, srcTime.ms - unifyTime.ms) / 1000;
  for (let i = 1; i < times.length; i++) stageStats[i + 1].seconds = Math.max(0, times[i].ms - times[i - 1].ms) / 1000;
  readSt.bytes_in = input.totalBytes;
  readSt.bytes_out = 0;
  unifySt.bytes_in = 0;
  stageStats.push(writeSt);
  const dropped = stageStats.reduce((a, s) => a + s.dropped, 0);
  const rejected = stageStats.reduce((a, s) => a + s.rejected, 0);
  return {
    phase: args.phase,
    rank,
    world,
    files: files.map((f) => displayPath(f.path)),
    read: readSt.in,
    kept: writeSt.out,
    dropped,
    rejected,
    input_bytes: input.totalBytes,
    seconds: (performance.now() - t0) / 1000,
    cut,
    corrupt_files: input.corrupt,
    stages: stageStats,
    outputs: out.paths(),
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
