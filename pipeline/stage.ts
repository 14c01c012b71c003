import type { z } from 'zod';
import type { Document } from './document.ts';

/**
 * The parse options of a schema parsed a few times per process (a recipe, its steps' params, a corpus manifest): no
 * zod JIT, which compiles a `new Function` for each object schema on its first parse, more than such a parse costs
 * (22 object schemas parsed twice in a fresh process: 18.6 ms CPU with it, 4.7 without).
 */
export const PARSE_ONCE = { jitless: true } as const;

/** What a streaming stage may do besides yielding documents. */
export interface StageContext {
  /** This task's rank and the world size (files[rank::world]). */
  rank: number;
  world: number;
  /** Output folder of the whole run; stages may keep task-private files under `${outDir}/tmp/`. */
  outDir: string;
  /**
   * Record that `doc` was removed by `rule` (e.g. "alnum_ratio", "lang_id") with the offending value.
   * The runner counts it per stage and rule and sends the document to the exclusion writer.
   * A stage must either yield a document or drop it: the runner checks in = out + dropped per stage.
   */
  drop(doc: Document, rule: string, value?: number | string): void;
  log(message: string): void;
}

/** A streaming stage: an async iterable of documents in, an async iterable of documents out. */
export type Stage = (docs: AsyncIterable<Document>, ctx: StageContext) => AsyncIterable<Document>;

/**
 * A per-document stage: looks at one document (a mapper changes `doc.text` in place) and returns true to keep it, or
 * false after calling `ctx.drop`. The map task runs consecutive per-document steps as one loop over a batch of
 * documents (no async hand-over between them) and meters each step's time inside it.
 */
export type DocStage = (doc: Document, ctx: StageContext) => boolean | Promise<boolean>;

/** The streaming form of a per-document stage (for callers that compose streams, e.g. refilter). */
export function streamOfDocStage(fn: DocStage): Stage {
  return async function* (docs, ctx) {
    for await (const doc of docs) {
      let keep = fn(doc, ctx);
      if (typeof keep !== 'boolean') keep = await keep;
      if (keep) yield doc;
    }
  };
}

/**
 * An operator usable by name from a YAML recipe: `{ op: NAME, params: {...} }`.
 * - kind "map": a streaming Stage, run inside each task (files[rank::world]).
 * - kind "global": a whole-dataset step (dedup, tokenization, ...) that runs its own tasks through the executor.
 */
export interface MapOp<P = any> {
  kind: 'map';
  name: string;
  description: string;
  /** zod schema of the params; defaults live in the schema (`.default(...)`), so `steel ops` can print them. */
  params: z.ZodType<P>;
  create(params: P): Stage | Promise<Stage>;
  /** The per-document form of the same stage, when it has one (`create` is then `streamOfDocStage` of it). */
  createDoc?(params: P): DocStage | Promise<DocStage>;
  /**
   * The stage may stop pulling its input before the end (limit, head): documents still in flight in the stages
   * before it are then counted as dropped by rule "limit_cutoff", and the task reports its input as cut.
   */
  stopsEarly?: boolean;
  /**
   * The per-document stage never changes doc.text (a filter). After the last of a run of steps that may change it,
   * before such a step, the map task makes a changed text one flat string (a mapper's slice or concatenation is read
   * more slowly by every character loop after it).
   */
  keepsText?: boolean;
}

export interface GlobalOpContext {
  /** Document files produced by the previous phase (JSONL.zst, one per task), in task order. */
  inputFiles: string[];
  /** Folder this op owns for its outputs and intermediates (inside the run's output folder). */
  workDir: string;
  /** Run output folder. */
  outDir: string;
  workers: number;
  executor: import('./executor-types.ts').Executor;
  log(message: string): void;
  /**
   * The next global op's sink (GlobalOp.mapSink), for an op that writes the documents it passes on and can hand each
   * one over as it writes it (MinHash dedup's filter feeds tokenization): a task writing output file r opens it with
   * openSink (registry.ts) through `operators`. An op may ignore it: the next op then does the work itself.
   */
  sink?: SinkSpec;
  /** The recipe's operators (to open `sink` in this process; worker processes use the composition root's). */
  operators?: import('./registry.ts').OperatorRegistry;
  /**
   * Given when no phase after this op needs worker processes (the next one, if any, is done by this op's `sink`:
   * GlobalOp.sinkCompletes): the op calls it once it fed the sink and will run no more tasks in worker processes
   * (its later steps, if any, run one task in this process), and the executor's idle workers exit while the op and the
   * run finish. Not calling it only keeps the workers until the run ends.
   */
  release?(): void;
}

/** Which op's sink to open, and where its op will run (a producer adds its output files and rank: openSink). */
export interface SinkSpec {
  op: string;
  params: Record<string, unknown>;
  workDir: string;
  outDir: string;
  workers: number;
}

export interface GlobalOpResult {
  /** Document files for the next phase (may be empty when the op is terminal, e.g. tokenization). */
  outputFiles: string[];
  /** Counts for the run's accounting: every input document must be kept, dropped (by rule) or rejected. */
  stats: {
    read: number;
    kept: number;
    dropped: Record<string, number>;
    rejected: number;
    extra?: Record<string, unknown>;
  };
  /** CPU-seconds its tasks spent in the next op's sink (GlobalOpContext.sink): the next op's work, moved to its phase. */
  sink_cpu_seconds?: number;
}

export interface GlobalOp<P = any> {
  kind: 'global';
  name: string;
  description: string;
  params: z.ZodType<P>;
  /**
   * The step writes the documents as they are at this point (tokenization into shards): a later step that changes
   * or drops documents would not reach that output, so recipe validation refuses one after it.
   */
  terminal?: boolean;
  /**
   * `run` writes new document files (it never passes its input files on as its outputs): the map phase before it
   * then writes its documents as an intermediate, read once (zstd level 1: 0.14-0.19 instead of 0.23-0.31 CPU-s for
   * the sample's 21.9 MB). An op that may pass its inputs on (tokenize) leaves it unset: the runner publishes those
   * files as the run's OUT/docs.
   */
  rewritesDocs?: boolean;
  /**
   * With these params, its mapSink does all of its per-document work: once the phase before it fed the sink, `run`
   * only gathers the sink's outputs, light work that needs no worker processes. The runner then runs it in this
   * process alone, and lets the worker processes go as soon as the phase before it is done with them
   * (GlobalOpContext.release), so that their exit overlaps the run's last work instead of following it.
   */
  sinkCompletes?(params: P): boolean;
  run(params: P, ctx: GlobalOpContext): Promise<GlobalOpResult>;
  /**
   * Per-document work the op can do while the map phase right before it writes its documents, instead of reading
   * them back (MinHash signatures): every task of that phase opens a sink, hands it each document it writes, in order,
   * and closes it once its document file is committed (before the task's completion marker). `run` must still do
   * that work itself for any input file whose sink did not finish (a map phase of an older run, a killed task).
   */
  mapSink?(params: P, ctx: MapSinkContext): DocSink | Promise<DocSink>;
}

/** What a map task tells the sink of the global op after its phase (GlobalOp.mapSink). */
export interface MapSinkContext {
  /** The map task's rank (its document file is inputFiles[rank]). */
  rank: number;
  /** The document files of the whole map phase, in task order: the op's GlobalOpContext.inputFiles. */
  inputFiles: string[];
  /** The op's GlobalOpContext.workDir and workers, as its run will get them. */
  workDir: string;
  outDir: string;
  workers: number;
}

/** Receives the documents one map task writes (GlobalOp.mapSink). */
export interface DocSink {
  /** The next document written, as it will be read back (line = its 1-based line in the document file). */
  add(doc: Document, line: number): void;
  /** The task's document file is committed: commit the sink's outputs. */
  close(): Promise<void> | void;
  /** The task failed: remove what the sink wrote. */
  abort(): void;
}

export type Op = MapOp | GlobalOp;
