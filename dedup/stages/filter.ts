/**
 * Stage 5, filter (one task per file group): kept docs -> docs/part-GGGGG.jsonl.zst, duplicates, excluded.
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read.
 */
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../../pipeline/task.ts';
import type { Document } from '../../pipeline/document.ts';
import { openSink, OperatorRegistry } from '../../pipeline/registry.ts';
import type { DocSink, SinkSpec } from '../../pipeline/stage.ts';
import { readDocuments, type DocItem } from '../../pipeline/readers/index.ts';
import { JsonlWriter } from '../../pipeline/writers/index.ts';
import { RecordReader, RecordWriter } from '../runfile.ts';
import { signedFile } from './signatures.ts';
import { pad, crashPoint, groupOfFile, inputFilesFor, type PostArgs, docsPartPath, keptPath } from './common.ts';

export interface FilterArgs extends PostArgs {
  /** The next step's sink (GlobalOpContext.sink): it gets each kept document as it is written. */
  sink?: SinkSpec;
  /**
   * Every line of the input files is JSON.stringify of pipeline/writers docLine (the pipeline's own files, a recipe's
   * dedup step): a kept document's line is then its input line with `dup_cluster_size` spliced in (keptLine).
   */
  canonicalLines?: boolean;
}

/**
 * The line of a kept document (JSON.stringify of { id, text, source, lang?, meta: { ...meta, dup_cluster_size } }),
 * made from `json`, the line it was read from, when that is JSON.stringify of docLine(doc): the same text with the new
 * meta key before the last two braces, without serialising the text again (0.07-0.12 CPU-s per 23 MB of JSON, the
 * sample's map output). undefined when the line does not have that layout (the caller serialises the document):
 * another id, source or lang than the document's (an id made from file and line, a source from the file name), no
 * meta object last, or a meta that already has the key (the spread replaces it in place). The line is returned in two
 * parts, the line read less its last two braces and the new ending, which JsonlWriter.writeLine writes one after the
 * other (joined, they would be copied whole when encoded).
 */
export function keptLine(json: string, doc: Document, size: number): [string, string] | undefined {
  if (Object.hasOwn(doc.meta, 'dup_cluster_size')) return undefined;
  const p = docLineMeta(json, doc);
  if (p < 0) return undefined;
  return [json.slice(0, -2), `${json.length === p + 2 ? '' : ','}"dup_cluster_size":${size}}}`];
}

/**
 * Where the meta object's members start in `json` when it has the layout of JSON.stringify(docLine(doc)) for this
 * document: its id first, then a text, its source, its lang when it has one, and the meta object last; -1 otherwise.
 */
function docLineMeta(json: string, doc: Document): number {
  if (!json.endsWith('}}')) return -1;
  const head = `{"id":${JSON.stringify(doc.id)},"text":"`;
  if (!json.startsWith(head)) return -1;
  // the text's closing quote: a quote inside a JSON string follows a backslash, never a comma
  const s = json.indexOf('","source":', head.length);
  if (s < 0) return -1;
  let p = s + 11;
  const src = JSON.stringify(doc.source);
  if (!json.startsWith(src, p)) return -1;
  p += src.length;
  const tail = doc.lang ? `,"lang":${JSON.stringify(doc.lang)},"meta":{` : ',"meta":{';
  if (!json.startsWith(tail, p)) return -1;
  return p + tail.length;
}

/**
 * The excluded line of a dropped document (JSON.stringify of { stage, rule, value, id, text, source, lang?, meta }),
 * made from `json`, the line it was read from, when that is JSON.stringify of docLine(doc) (as keptLine): `head`, the
 * line's first three members (JSON text ending in a comma), then the line read less its opening brace, without
 * serialising the text again (the dropped documents of the 75 MB set are ~40% of its text). undefined when the line
 * does not have that layout (the caller serialises the document). Returned in two parts, as keptLine's.
 */
export function excludedLine(json: string, doc: Document, head: string): [string, string] | undefined {
  if (docLineMeta(json, doc) < 0) return undefined;
  return [head, json.slice(1)];
}

/** Kept documents a SinkFeed hands on at a time. */
const FEED_BATCH = 64;

/**
 * The kept documents handed to the next step's sink, FEED_BATCH at a time, its CPU time metered per batch
 * (process.cpuUsage per document cost ~10% of what tokenization, the sink after MinHash, spends). A class, not
 * closures made per task: a closure is a new call target to the optimised code of filterFile at each task. Its
 * arrays are of one kind from the start (an array literal's first document changed its map: the optimised add of a
 * process's first task was thrown away at the next task's first document).
 */
class SinkFeed {
  private readonly docs = new Array<Document | undefined>(FEED_BATCH).fill(undefined);
  private readonly lines = new Float64Array(FEED_BATCH);
  private n = 0;
  /** The sink's CPU time in microseconds, its opening included. */
  us = 0;
  constructor(readonly sink: DocSink) {}
  add(d: Document, line: number): void {
    this.docs[this.n] = d;
    this.lines[this.n] = line;
    if (++this.n === FEED_BATCH) this.flush();
  }
  flush(): void {
    const c0 = process.cpuUsage();
    for (let i = 0; i < this.n; i++) this.sink.add(this.docs[i]!, this.lines[i]!);
    this.docs.fill(undefined);
    this.n = 0;
    const c = process.cpuUsage(c0);
    this.us += c.user + c.system;
  }
}

/** What filterFile works with: one object per task, of one shape. */
interface FilterState {
  cfg: FilterArgs['cfg'];
  num: FilterArgs['num'];
  canonicalLines: boolean;
  /** An excluded line's members before `value`'s (excludedLine): `{"stage":…,"rule":…,"value":`. */
  exclHead: string;
  decisions: Map<number, { keeper: number; size: number; keeperId: string }>;
  stats: { read: number; kept: number; dropped: number; rejected: number };
  out: JsonlWriter;
  excl: JsonlWriter;
  dups: JsonlWriter;
  feed: SinkFeed | undefined;
}

/** One input file's place in filterDocs: its documents so far and the kept bits not yet written. */
class FileCursor {
  /** Documents read so far. */
  d = 0;
  /** The kept bits of documents d & ~31 .. d - 1. */
  word = 0;
  /** Document `d`'s node number. */
  node: number;
  // the kept bits of 32 documents, a record of the kept file (a typed array: every record writer gets one kind)
  readonly rec = new Uint32Array(1);
  constructor(
    readonly fi: number,
    readonly kw: RecordWriter,
    first: number,
    /** The file's first node number past its last document. */
    readonly end: number,
  ) {
    this.node = first;
  }
}

/**
 * One input file of the group: its documents kept (docs, the sink) or dropped (duplicates, excluded), a bit per
 * document in its kept file. The file's setup and its end (the last kept bits, the count check) are here; the
 * per-document loop is filterDocs, which does nothing before or after its loop: code that first runs at a file's end
 * or at the next file's start, after the loop's function was optimised, threw that code away (`--trace-deopt`:
 * "Insufficient type feedback" at the last bits' test) and it was compiled again, with everything the loop inlines.
 */
async function filterFile(st: FilterState, fi: number, kw: RecordWriter): Promise<void> {
  const { cfg, num, stats } = st;
  // a file signatures recorded corrupt ends at its damage again (the counts below check it is the same place)
  const onCorrupt = signedFile(cfg, fi)?.corrupt ? () => {} : undefined;
  const docs = readDocuments(cfg.inputs[fi]!, {
    ...cfg.reader,
    onReject: () => stats.rejected++,
    onCorrupt,
  });
  const cur = new FileCursor(fi, kw, num.offsets[fi]!, num.offsets[fi + 1]!);
  await filterDocs(st, cur, docs);
  const d = cur.d;
  if ((d & 31) !== 0) {
    cur.rec[0] = cur.word;
    kw.write(cur.rec);
  }
  if (num.offsets[fi]! + d !== num.offsets[fi + 1]!)
    throw new Error(
      `${cfg.inputs[fi]}: ${d} documents, signatures saw ${num.offsets[fi + 1]! - num.offsets[fi]!} (input changed?)`,
    );
}

/** filterFile's loop over a file's documents (see there). An error closes the documents' stream, as for-await did. */
async function filterDocs(st: FilterState, cur: FileCursor, docs: AsyncGenerator<DocItem>): Promise<void> {
  let done = false;
  try {
    for (;;) {
      const r = await docs.next();
      if (r.done) break;
      const { doc, json } = r.value;
      const node = cur.node;
      if (node >= cur.end)
        throw new Error(`${st.cfg.inputs[cur.fi]}: more documents than when signatures were computed (input changed?)`);
      st.stats.read++;
      const dec = st.decisions.get(node);
      if (dec && dec.keeper !== node) {
        st.stats.dropped++;
        await st.dups.write({ id: doc.id, duplicate_of: dec.keeperId, cluster_size: dec.size, rule: st.cfg.rule });
        const line =
          st.canonicalLines && json !== undefined
            ? excludedLine(json, doc, `${st.exclHead}${JSON.stringify(dec.keeperId)},`)
            : undefined;
        if (line !== undefined) await st.excl.writeLine(line[0], line[1]);
        else
          await st.excl.write({
            stage: st.cfg.stage,
            rule: st.cfg.rule,
            value: dec.keeperId,
            id: doc.id,
            text: doc.text,
            source: doc.source,
            ...(doc.lang ? { lang: doc.lang } : {}),
            meta: doc.meta,
          });
      } else {
        st.stats.kept++;
        cur.word |= 1 << (cur.d & 31);
        const size = dec ? dec.size : 1;
        const kept = {
          id: doc.id,
          text: doc.text,
          source: doc.source,
          ...(doc.lang ? { lang: doc.lang } : {}),
          meta: { ...doc.meta, dup_cluster_size: size },
        };
        const line = st.canonicalLines && json !== undefined ? keptLine(json, doc, size) : undefined;
        if (line !== undefined) await st.out.writeLine(line[0], line[1]);
        else await st.out.write(kept);
        if (st.feed) st.feed.add(kept, st.stats.kept);
      }
      cur.node++;
      if ((++cur.d & 31) === 0) {
        cur.rec[0] = cur.word;
        cur.kw.write(cur.rec);
        cur.word = 0;
      }
    }
    done = true;
  } finally {
    if (!done) await docs.return(undefined);
  }
}

/**
 * The group's decisions (reduce/): node -> its cluster's keeper. A function of its own: its loop made runFilter hot
 * enough to be optimised in the first task, and that code was thrown away at the task's first code after
 * filterFile (`--trace-deopt`: "Insufficient type feedback" at the progress call).
 */
function readDecisions(cfg: FilterArgs['cfg'], rank: number): FilterState['decisions'] {
  const decisions: FilterState['decisions'] = new Map();
  for (const f of inputFilesFor(join(cfg.workDir, 'reduce'), rank)) {
    const r = new RecordReader(f);
    while (r.next()) decisions.set(r.rec[0]!, { keeper: r.rec[1]!, size: r.rec[2]!, keeperId: r.str });
  }
  return decisions;
}

/** Group task: stream the group's input files, keep one document per cluster, write duplicates and exclusions. */
async function runFilter(operators: OperatorRegistry, rank: number, args: FilterArgs, ctx: TaskContext) {
  const { cfg, num } = args;
  const outputs = Array.from({ length: cfg.groups }, (_, g) => docsPartPath(cfg, g));
  // opening the sink (e.g. loading the tokenizer) is the next step's work too: metered with it
  const s0 = process.cpuUsage();
  const sink = args.sink ? await openSink(operators, args.sink, rank, outputs) : undefined;
  const feed = sink ? new SinkFeed(sink) : undefined;
  if (feed) {
    const c = process.cpuUsage(s0);
    feed.us += c.user + c.system;
  }
  const decisions = readDecisions(cfg, rank);
  const st: FilterState = {
    cfg,
    num,
    canonicalLines: args.canonicalLines === true,
    exclHead: `{"stage":${JSON.stringify(cfg.stage)},"rule":${JSON.stringify(cfg.rule)},"value":`,
    decisions,
    stats: { read: 0, kept: 0, dropped: 0, rejected: 0 },
    out: new JsonlWriter(docsPartPath(cfg, rank)),
    excl: new JsonlWriter(join(cfg.excludedDir, `${cfg.stage}-part-${pad(rank)}.jsonl.zst`)),
    dups: new JsonlWriter(join(cfg.workDir, 'dups', `g${pad(rank)}.jsonl`)),
    feed,
  };
  const { stats, out, excl, dups } = st;
  const keptWriters: RecordWriter[] = [];
  try {
    for (let fi = 0; fi < cfg.inputs.length; fi++) {
      if (groupOfFile(cfg, fi) !== rank) continue;
      const kw = new RecordWriter(keptPath(cfg, fi), 1);
      keptWriters.push(kw);
      await filterFile(st, fi, kw);
      ctx.progress(stats.read);
    }
    crashPoint('filter');
    for (const kw of keptWriters) kw.close();
    await out.close();
    await excl.close();
    await dups.close();
    if (feed) {
      feed.flush();
      const c0 = process.cpuUsage();
      await feed.sink.close();
      const c = process.cpuUsage(c0);
      feed.us += c.user + c.system;
    }
  } catch (e) {
    sink?.abort();
    for (const kw of keptWriters) kw.abort();
    await out.abort();
    await excl.abort();
    await dups.abort();
    throw e;
  }
  return { ...stats, sinkCpuSeconds: (feed ? feed.us : 0) / 1e6 };
}

const filterTasks = new WeakMap<OperatorRegistry, ReturnType<typeof defineFilterTask>>();

function defineFilterTask(operators: OperatorRegistry) {
  return defineTask('dedup.filter', (rank, _world, args: FilterArgs, ctx) => runFilter(operators, rank, args, ctx));
}

/**
 * The filter task, opening a next step's sink (args.sink) through `operators`: the runner's registry in-process, the
 * composition root's in worker processes (cli/tasks.ts).
 */
export function filterTask(operators: OperatorRegistry) {
  let t = filterTasks.get(operators);
  if (!t) filterTasks.set(operators, (t = defineFilterTask(operators)));
  return t;
}
