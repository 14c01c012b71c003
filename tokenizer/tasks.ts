/**
 * Executor tasks of the tokenization step (run in worker processes; see pipeline/executor-types.ts).
 *  - tokenizeTask: document files[rank::world] → shards in PARTS/r{rank}/ (eos appended per document).
 *  - scatterTask / gatherTask: seeded global shuffle of documents across shards (two-pass bucket shuffle).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, type TaskContext } from '../pipeline/task.ts';
import { readDocuments } from '../pipeline/readers/index.ts';
import { textLength } from '../pipeline/document.ts';
import { encodeTexts, loadTokenizer } from './encode.ts';
import { iterShardDocs, ShardWriter, type ShardInfo, type TokenizerInfo } from './shards.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';

export interface TokenizeTaskArgs {
  inputFiles: string[];
  partsDir: string;
  tokenizer: string;
  maxShardBytes?: number;
  /** Characters of text per encode batch (default 1M). */
  batchChars?: number;
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
  /** CPU seconds of the task process (all threads), for per-core throughput. */
  cpuSeconds: number;
  tokenizer: TokenizerInfo;
}

export function rankDir(parts: string, rank: number): string {
  return join(parts, `r${String(rank).padStart(5, '0')}`);
}

async function runTokenize(
  rank: number,
  world: number,
  args: TokenizeTaskArgs,
  ctx: TaskContext,
): Promise<TokenizeTaskStats> {
  const cpu0 = process.cpuUsage();
  const { tok, info } = loadTokenizer(args.tokenizer);
  const dir = rankDir(args.partsDir, rank);
  rmSync(dir, { recursive: true, force: true }); // a rerun of an unfinished task starts over
  const writer = new ShardWriter(dir, { tokenizer: info, maxShardBytes: args.maxShardBytes });
  const files = args.inputFiles.filter((_, i) => i % world === rank);
  const totalBytes = files.reduce((a, f) => a + statSync(f).size, 0);
  const batchChars = args.batchChars ?? 1 << 20;
  let documents = 0,
    tokens = 0,
    chars = 0,
    utf8Bytes = 0,
    encodeSeconds = 0,
    doneBytes = 0;
  let texts: string[] = [];
  let metas: { id: string; source: string; lang?: string }[] = [];
  let pendingChars = 0;
  const flush = async () => {
    if (!texts.length) return;
    const t0 = performance.now();
    const enc = await encodeTexts(tok, texts, info.eos_id);
    encodeSeconds += (performance.now() - t0) / 1000;
    for (let i = 0; i < enc.length; i++) {
      writer.add({ id: metas[i].id, source: metas[i].source, lang: metas[i].lang ?? null, tokens: enc[i] });
      tokens += enc[i].length;
    }
    texts = [];
    metas = [];
    pendingChars = 0;
  };
  try {
    for (const f of files) {
      // id, text, source and lang only: the shards keep no meta
      for await (const { doc: d } of readDocuments(f, { meta: false })) {
        texts.push(d.text);
        metas.push({ id: d.id, source: d.source, lang: d.lang });
        documents++;
        chars += textLength(d.text);
        utf8Bytes += Buffer.byteLength(d.text, 'utf8');
        pendingChars += d.text.length;
        if (pendingChars >= batchChars || texts.length >= 4096) {
          await flush();
          ctx.progress(doneBytes, totalBytes);
        }
      }
      await flush();
      doneBytes += statSync(f).size;
      ctx.progress(doneBytes, totalBytes);
    }
    const shards = writer.finish();
    ctx.log(`${documents} documents, ${tokens} tokens, ${shards.length} shard(s)`);
    const cpu = process.cpuUsage(cpu0);
    return {
      shards,
      dir,
      documents,
      tokens,
      chars,
      utf8Bytes,
      encodeSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      tokenizer: info,
    };
  } catch (e) {
    writer.abort();
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
