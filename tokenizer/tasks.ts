/**
 * Executor tasks of the tokenization step (run in worker processes; see pipeline/executor-types.ts).
 *  - tokenizeTask: document files[rank::world] → shards in PARTS/r{rank}/ (eos appended per document).
 *  - scatterTask / gatherTask: seeded global shuffle of documents across shards (two-pass bucket shuffle).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineTask, type TaskContext } from '../pipeline/task.ts';
import { readDocuments, type CorruptFile, type DocReject, type InputFileError } from '../pipeline/readers/index.ts';
import { textLength } from '../pipeline/document.ts';
import { loadTokenizer, type LoadedTokenizer } from './encode.ts';
import { iterShardDocs, ShardWriter, type ShardInfo, type TokenizerInfo } from './shards.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';

export interface TokenizeTaskArgs {
  inputFiles: string[];
  partsDir: string;
  tokenizer: string;
  maxShardBytes?: number;
  /**
   * A file that cannot be read to its end: its documents before the damage are encoded and the file is recorded
   * (corruptFiles) when true (`steel tokenizer encode`); otherwise its error stops the run (--strict, and a recipe's
   * tokenize step, which reads the run's own files).
   */
  keepCorrupt?: boolean;
}

export interface TokenizeTaskStats {
  shards: ShardInfo[];
  dir: string;
  documents: number;
  tokens: number;
  /** Characters of the text as code points (pipeline/document.ts textLength; charsPerToken in shards.ts). */
  chars: number;
  utf8Bytes: number;
  encodeSeconds: number;
  /** CPU seconds of the task process (all threads), for per-core throughput (a file a sink encoded as it was written:
   * loading and closing only, the rest is metered by the step that fed the sink). */
  cpuSeconds: number;
  tokenizer: TokenizerInfo;
  /** Input files of this task that could not be read to their end (their documents before the damage are encoded). */
  corruptFiles?: CorruptFile[];
  /** Malformed records (not JSON, no text...), left out of the shards, with file, line and error. */
  rejects?: DocReject[];
}

export function rankDir(parts: string, rank: number): string {
  return join(parts, `r${String(rank).padStart(5, '0')}`);
}

/** Where the sink of tokenization (tokenizer/ops.ts mapSink) records that it encoded input file `rank` (written last). */
export const encodedPath = (partsDir: string, rank: number) =>
  join(partsDir, `r${String(rank).padStart(5, '0')}.done.json`);

/** What the shards of one input file depend on: the file, the tokenizer and the shard size. */
export function encoderKey(file: string, tokenizer: string, maxShardBytes: number | undefined): string {
  return JSON.stringify({ file: resolve(file), tokenizer, maxShardBytes: maxShardBytes ?? null });
}

/**
 * Documents → shards in `dir` (PARTS/r{rank}/), one document at a time, in order. The tokenize task feeds it the
 * documents it reads; the step that writes a file tokenization will read (the dedup filter, a map phase) can feed it
 * the documents as it writes them (tokenizer/ops.ts mapSink) and record the result (encodedPath), so the task finds
 * its file encoded. Both give the same shards.
 */
export class FileEncoder {
  readonly dir: string;
  private readonly writer: ShardWriter;
  private readonly tok: LoadedTokenizer['tok'];
  private readonly info: TokenizerInfo;
  /** CPU time spent in this encoder's constructor and finish(), µs. */
  private cpuUs = 0;
  documents = 0;
  tokens = 0;
  chars = 0;
  utf8Bytes = 0;
  encodeSeconds = 0;

  constructor(partsDir: string, rank: number, tokenizer: string, maxShardBytes: number | undefined) {
    const c0 = process.cpuUsage();
    ({ tok: this.tok, info: this.info } = loadTokenizer(tokenizer));
    this.dir = rankDir(partsDir, rank);
    rmSync(encodedPath(partsDir, rank), { force: true });
    rmSync(this.dir, { recursive: true, force: true }); // a rerun of an unfinished task starts over
    this.writer = new ShardWriter(this.dir, { tokenizer: this.info, maxShardBytes });
    this.meter(c0);
  }

  private meter(c0: NodeJS.CpuUsage): void {
    const c = process.cpuUsage(c0);
    this.cpuUs += c.user + c.system;
  }

  /** One document (not metered here: process.cpuUsage per document cost more than 1% of encoding; the caller meters). */
  add(d: { id: string; text: string; source: string; lang?: string }): void {
    const t0 = performance.now();
    // a view of the encoder's buffer: the writer copies it into its batch
    const ids = this.tok.encodeWithEosView(d.text, this.info.eos_id);
    this.encodeSeconds += (performance.now() - t0) / 1000;
    this.writer.add({ id: d.id, source: d.source, lang: d.lang ?? null, tokens: ids });
    this.tokens += ids.length;
    this.documents++;
    // counted by the encoder's kernel when it saw the text whole
    const size = this.tok.lastTextSize();
    this.chars += size ? size.chars : textLength(d.text);
    this.utf8Bytes += size ? size.utf8Bytes : Buffer.byteLength(d.text, 'utf8');
  }

  /**
   * Close the last shard; the result of the file (cpuSeconds: loading the tokenizer and closing; the tokenize task
   * replaces it with its own CPU time, and a sink's per-document CPU is metered by the step that feeds it).
   */
  finish(): TokenizeTaskStats {
    const c0 = process.cpuUsage();
    const shards = this.writer.finish();
    this.meter(c0);
    const { documents, tokens, chars, utf8Bytes, encodeSeconds } = this;
    return {
      shards,
      dir: this.dir,
      documents,
      tokens,
      chars,
      utf8Bytes,
      encodeSeconds,
      cpuSeconds: this.cpuUs / 1e6,
      tokenizer: this.info,
    };
  }

  abort(): void {
    this.writer.abort();
  }
}

/** The shards a sink already made of input file `rank` under these settings, if all in place. */
function encodedFile(args: TokenizeTaskArgs, rank: number): TokenizeTaskStats | undefined {
  const p = encodedPath(args.partsDir, rank);
  if (!existsSync(p)) return undefined;
  const r = JSON.parse(readFileSync(p, 'utf8')) as TokenizeTaskStats & { key: string };
  if (r.key !== encoderKey(args.inputFiles[rank]!, args.tokenizer, args.maxShardBytes)) return undefined;
  if (!r.shards.every((s) => existsSync(join(r.dir, s.file)) && statSync(join(r.dir, s.file)).size === s.bytes))
    return undefined;
  const { key: _k, ...stats } = r;
  return stats;
}

async function runTokenize(
  rank: number,
  world: number,
  args: TokenizeTaskArgs,
  ctx: TaskContext,
): Promise<TokenizeTaskStats> {
  // encoded as it was written (a task per file)
  const pre = world === args.inputFiles.length ? encodedFile(args, rank) : undefined;
  if (pre) {
    ctx.log(`${pre.documents} documents, ${pre.tokens} tokens, ${pre.shards.length} shard(s) (encoded as written)`);
    return pre;
  }
  const cpu0 = process.cpuUsage();
  const enc = new FileEncoder(args.partsDir, rank, args.tokenizer, args.maxShardBytes);
  const files = args.inputFiles.filter((_, i) => i % world === rank);
  const totalBytes = files.reduce((a, f) => a + statSync(f).size, 0);
  let doneBytes = 0;
  const corruptFiles: CorruptFile[] = [];
  const rejects: DocReject[] = [];
  const onReject = (r: DocReject) => {
    rejects.push(r);
  };
  const onCorrupt = args.keepCorrupt
    ? (e: InputFileError, read: number) => {
        corruptFiles.push(e.corruptFile(read));
        ctx.log(e.keptNote(read));
      }
    : undefined;
  try {
    for (const f of files) {
      // id, text, source and lang only: the shards keep no meta
      for await (const { doc: d } of readDocuments(f, { meta: false, onCorrupt, onReject })) {
        enc.add(d);
        if ((enc.documents & 1023) === 0) ctx.progress(doneBytes, totalBytes);
      }
      doneBytes += statSync(f).size;
      ctx.progress(doneBytes, totalBytes);
    }
    const r = enc.finish();
    ctx.log(
      `${r.documents} documents, ${r.tokens} tokens, ${r.shards.length} shard(s)` +
        (rejects.length ? `, ${rejects.length} malformed record(s) rejected` : ''),
    );
    const cpu = process.cpuUsage(cpu0);
    return {
      ...r,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      ...(corruptFiles.length ? { corruptFiles } : {}),
      ...(rejects.length ? { rejects } : {}),
    };
  } catch (e) {
    enc.abort();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded global shuffle

/** Deterministic 32-bit PRNG (mulberry32) seeded from several integers. */
export function prng(...seeds: number[]): () => number {
  let h = 0x9e3779b9;
  for (const s of seeds) {
    h = Math.imul(h ^ (s >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScatterArgs {
  inputShards: string[];
  scatterDir: string;
  buckets: number;
  seed: number;
  tokenizer: TokenizerInfo;
}

function bucketDir(root: string, b: number): string {
  return join(root, `b${String(b).padStart(5, '0')}`);
}

/** Scatter the documents of input shard `rank` into `buckets` bucket folders at random (seeded). */
async function runScatter(rank: number, world: number, args: ScatterArgs, ctx: TaskContext) {
  const rnd = prng(args.seed, rank, 1);
  const writers: ShardWriter[] = [];
  const from = String(rank).padStart(5, '0');
  for (let b = 0; b < args.buckets; b++) {
    const dir = bucketDir(args.scatterDir, b);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir))
      if (f.startsWith(`from-${from}-`) || f.startsWith(`.from-${from}-`)) rmSync(join(dir, f), { force: true });
    writers.push(
      new ShardWriter(dir, {
        tokenizer: args.tokenizer,
        batchTokens: 1 << 16,
        maxShardBytes: 8e9,
        name: (k) => `from-${from}-${String(k).padStart(3, '0')}.arrow`,
      }),
    );
  }
  let documents = 0;
  for await (const d of iterShardDocs(args.inputShards[rank])) {
    const b = Math.floor(rnd() * args.buckets);
    writers[b].add({ ...d, tokens: d.tokens.slice() });
    documents++;
  }
  for (const w of writers) w.finish();
  ctx.log(`scattered ${documents} documents into ${args.buckets} buckets`);
  return { documents };
}

export interface GatherArgs {
  scatterDir: string;
  outDir: string;
  seed: number;
  tokenizer: TokenizerInfo;
  maxShardBytes?: number;
}

/** Shuffle the documents of bucket `rank` in memory (seeded) and write them as shards. */
async function runGather(rank: number, world: number, args: GatherArgs, ctx: TaskContext) {
  const dir = bucketDir(args.scatterDir, rank);
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.arrow') && !f.startsWith('.'))
        .sort()
    : [];
  const docs: { id: string; source: string; lang: string | null; tokens: Uint32Array }[] = [];
  for (const f of files)
    for await (const d of iterShardDocs(join(dir, f))) docs.push({ ...d, tokens: d.tokens.slice() });
  const rnd = prng(args.seed, rank, 2);
  for (let i = docs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = docs[i];
    docs[i] = docs[j];
    docs[j] = t;
  }
  const out = rankDir(args.outDir, rank);
  rmSync(out, { recursive: true, force: true });
  const w = new ShardWriter(out, { tokenizer: args.tokenizer, maxShardBytes: args.maxShardBytes });
  for (const d of docs) w.add(d);
  const shards = w.finish();
  ctx.log(`bucket ${rank}: ${docs.length} documents → ${shards.length} shard(s)`);
  return { shards, dir: out, documents: docs.length };
}

// ---------------------------------------------------------------------------------------------------------------
// BPE training: parallel pre-token counting

async function runCountWords(rank: number, world: number, args: import('./train.ts').CountTaskArgs, ctx: TaskContext) {
  const { countInputs, countFile } = await import('./train.ts');
  const files = args.inputs.filter((_, i) => i % world === rank);
  const r = await countInputs(files, {
    holdout: args.holdout,
    nfc: args.nfc,
    maxChars: args.maxChars,
    roundTripDocs: args.roundTripDocs,
    log: ctx.log,
  });
  const path = countFile(args.workDir, rank);
  writeFileAtomic(path, JSON.stringify({ counts: [...r.counts], held: r.held, roundTrip: r.roundTrip }));
  ctx.log(`${files.length} file(s): ${r.documents} documents, ${r.chars} chars, ${r.counts.size} distinct pre-tokens`);
  return { documents: r.documents, chars: r.chars, distinct: r.counts.size };
}

// ---------------------------------------------------------------------------------------------------------------
// Task definitions (registered at the composition root, cli/tasks.ts)

export const tokenizeTask = defineTask('tokenizer.encode', runTokenize);
export const scatterTask = defineTask('tokenizer.scatter', runScatter);
export const gatherTask = defineTask('tokenizer.gather', runGather);
export const countWordsTask = defineTask('tokenizer.count-words', runCountWords);
