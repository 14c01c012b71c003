/**
 * Steel token shards (format `steel-shards-v1`, see tokenizer/SHARDS.md): Arrow IPC files, one row per document
 * (id, source, lang, tokens List<Uint32>), plus a manifest.json listing every shard with its sha256.
 *
 * Writer: `ShardWriter` streams record batches straight to disk (no whole-shard buffering), rolls to the next shard
 * before a file would reach `maxShardBytes` (default 1,000,000,000 < 1 GiB), writes under a temporary name and renames.
 * Reader: `iterShardBatches` (streaming, batch by batch), `readShardTokens` (whole shard, flat token stream +
 * document offsets), `readManifest` / `verifyManifest` (sizes + sha256).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFileSync, writeFileAtomic } from '../pipeline/fsutil.ts';
import {
  AsyncByteQueue,
  type Data,
  Field,
  List,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  RecordBatchWriter,
  Schema,
  Struct,
  Uint32,
  Utf8,
} from 'apache-arrow';

export const SHARD_FORMAT = 'steel-shards-v1';
export const DEFAULT_MAX_SHARD_BYTES = 1_000_000_000;
/** Width of the zero-padded decimal counts in the schema metadata (patched in place when a shard is closed). */
const COUNT_WIDTH = 15;

export interface TokenizerInfo {
  name: string;
  sha256: string;
  vocab_size: number;
  eos_id: number;
  pad_id: number;
}

export interface ShardInfo {
  file: string;
  sha256: string;
  bytes: number;
  tokens: number;
  documents: number;
  sources: Record<string, number>;
  langs: Record<string, number>;
}

export interface Manifest {
  format: string;
  tokenizer: TokenizerInfo;
  shards: ShardInfo[];
  totals: { tokens: number; documents: number; sources: Record<string, number>; langs: Record<string, number> };
  /** Optional: how the shards were produced (shuffle seed, recipe, ...). */
  build?: Record<string, unknown>;
}

export interface ShardDoc {
  id: string;
  source: string;
  lang?: string | null;
  tokens: Uint32Array | ArrayLike<number>;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

const TOKENS_TYPE = new List(new Field('item', new Uint32(), false));

export function shardSchema(meta: Map<string, string>): Schema {
  return new Schema(
    [
      new Field('id', new Utf8(), false),
      new Field('source', new Utf8(), false),
      new Field('lang', new Utf8(), true),
      new Field('tokens', TOKENS_TYPE, false),
    ],
    meta,
  );
}

function placeholder(tag: string): string {
  return '~'.repeat(COUNT_WIDTH - tag.length) + tag;
}
const PH_TOKENS = placeholder('#T');
const PH_DOCS = placeholder('#D');

function padCount(n: number): string {
  const s = String(n);
  if (s.length > COUNT_WIDTH) throw new Error(`count ${n} too large for shard metadata`);
  return s.padStart(COUNT_WIDTH, '0');
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

/**
 * Buffers a process's shard writers reuse (a writer takes one when it starts and gives it back when it is done, after
 * an error too): each task of a step that tokenizes (the dedup filter's sink: a writer per group) would otherwise
 * first-touch a fresh 4.25 MiB token store page by page (~13 ms on the 2-core VM) and a fresh 1 MiB file buffer.
 * Writers open at once (the shuffle's scatter: one per bucket) each get their own; at most SPARE_MAX of each kind are
 * kept.
 */
const spareStores: Uint32Array[] = [];
const spareFileBuffers: Buffer[] = [];
const SPARE_MAX = 2;

/** A spare of at least `length` elements (the smallest such), or undefined. */
function takeSpare<T extends { length: number }>(spares: T[], length: number): T | undefined {
  let best = -1;
  for (let i = 0; i < spares.length; i++)
    if (spares[i]!.length >= length && (best < 0 || spares[i]!.length < spares[best]!.length)) best = i;
  return best < 0 ? undefined : spares.splice(best, 1)[0];
}

function giveSpare<T extends { length: number }>(spares: T[], b: T): void {
  spares.push(b);
  // the largest kept: a later writer can use any spare at least as long as it needs
  if (spares.length > SPARE_MAX)
    spares.splice(spares.indexOf(spares.reduce((a, x) => (x.length < a.length ? x : a))), 1);
}

/** Byte sink for the Arrow writer: writes through to a file descriptor (buffered). */
class FdSink extends AsyncByteQueue<Uint8Array> {
  fd: number;
  bytes = 0;
  private buf = takeSpare(spareFileBuffers, 1 << 20) ?? Buffer.allocUnsafe(1 << 20);
  private used = 0;
  constructor(fd: number) {
    super();
    this.fd = fd;
  }
  override write(value: any): void {
    const u8: Uint8Array =
      value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (u8.byteLength === 0) return;
    this.bytes += u8.byteLength;
    if (u8.byteLength >= this.buf.length / 2) {
      this.flush();
      writeAll(this.fd, u8);
      return;
    }
    if (this.used + u8.byteLength > this.buf.length) this.flush();
    this.buf.set(u8, this.used);
    this.used += u8.byteLength;
  }
  flush(): void {
    if (this.used === 0) return;
    writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
  override close(): void {
    this.flush();
  }
  /** Give the buffer back (the shard is written, or abandoned): the sink takes no more bytes. */
  release(): void {
    giveSpare(spareFileBuffers, this.buf);
    this.buf = Buffer.alloc(0);
    this.used = 0;
  }
}

function writeAll(fd: number, data: Uint8Array, position?: number): void {
  let off = 0;
  while (off < data.byteLength) {
    off += writeSync(fd, data, off, data.byteLength - off, position === undefined ? null : position + off);
  }
}

/**
 * The tokens of a writer's batches, one array reused from batch to batch (a batch is written before the next one
 * starts): a fresh 4 MiB array per batch cost more in page faults than the copy into it.
 */
interface TokenStore {
  flat: Uint32Array;
}

/** Documents a record batch holds at most (ShardWriter.add writes the batch when it has this many). */
const MAX_BATCH_DOCS = 65536;

/** `a` with room for `need` bytes: itself, or a copy of its first `keep` bytes in one at least twice as long. */
function grown(a: Buffer, need: number, keep: number): Buffer {
  if (need <= a.length) return a;
  const g = Buffer.allocUnsafe(Math.max(need, 2 * a.length));
  a.copy(g, 0, 0, keep);
  return g;
}

/**
 * One string column of a batch: its values' UTF-8 bytes one after the other, their end offsets and a validity bit
 * each, in typed arrays reused from batch to batch. Before, each value was encoded into an array of its own and the
 * arrays kept in a plain array per column and batch: a plain array starts with small-integer elements and changed
 * its kind at its first push, so BatchBuilder.add was compiled again at a process's first documents (4 compiles, 3
 * "not a Smi" deopts per process), and every batch built the columns' arrays again.
 */
class Utf8Column {
  // 1 MiB (touched only as it fills): a batch of ids seldom needs more, and growing is a cold branch in push
  private bytes: Buffer = Buffer.allocUnsafe(1 << 20);
  // room for a whole batch (pages are touched only as they fill): no growing in push, whose first growth came after
  // it was optimised
  private readonly offsets = new Int32Array(MAX_BATCH_DOCS + 1);
  private readonly valid = new Uint8Array((MAX_BATCH_DOCS + 7) >> 3);
  length = 0;
  /** Values not null (a null takes no branch of its own in push: the first came after push was optimised). */
  private present = 0;

  /** Bytes of the values so far. */
  get byteLength(): number {
    return this.offsets[this.length]!;
  }

  push(s: string | null): void {
    const n = this.length;
    let end = this.offsets[n]!;
    if (s !== null) {
      // at most 3 bytes per UTF-16 unit (a lone surrogate becomes U+FFFD, as TextEncoder writes it)
      if (end + 3 * s.length > this.bytes.length) this.bytes = grown(this.bytes, end + 3 * s.length, end);
      end += this.bytes.write(s, end, 'utf8');
      this.valid[n >> 3]! |= 1 << (n & 7);
      this.present++;
    }
    this.offsets[n + 1] = end;
    this.length = n + 1;
  }

  /** The column's Arrow data: a copy of the values (the arrays are reused by the next batch). */
  data(type: Utf8): Data<Utf8> {
    const n = this.length;
    return makeData({
      type,
      length: n,
      nullCount: n - this.present,
      valueOffsets: this.offsets.slice(0, n + 1),
      data: new Uint8Array(this.bytes.subarray(0, this.offsets[n]!)),
      nullBitmap: this.present < n ? this.valid.slice(0, Math.ceil(n / 8) || 1) : undefined,
    });
  }

  reset(): void {
    this.valid.fill(0, 0, (this.length + 7) >> 3);
    this.length = 0;
    this.present = 0;
  }
}

/**
 * Column builder of a writer's record batches (one per writer, emptied when a batch is written); each document's
 * tokens are copied into the store as it is added.
 */
class BatchBuilder {
  readonly ids = new Utf8Column();
  readonly sources = new Utf8Column();
  readonly langs = new Utf8Column();
  private readonly tokOffsets = new Int32Array(MAX_BATCH_DOCS + 1);
  nTokens = 0;
  nStringBytes = 0;
  length = 0;
  constructor(private readonly store: TokenStore) {}
  add(doc: ShardDoc): void {
    const end = this.nTokens + doc.tokens.length;
    if (end > this.store.flat.length) {
      const g = new Uint32Array(Math.max(end, 2 * this.store.flat.length, 1 << 16));
      g.set(this.store.flat.subarray(0, this.nTokens));
      this.store.flat = g;
    }
    this.store.flat.set(doc.tokens, this.nTokens);
    const n = this.length;
    this.tokOffsets[n + 1] = end;
    this.ids.push(doc.id);
    this.sources.push(doc.source);
    this.langs.push(doc.lang == null ? null : doc.lang);
    this.length = n + 1;
    this.nTokens = end;
    this.nStringBytes = this.ids.byteLength + this.sources.byteLength + this.langs.byteLength;
  }
  /** Upper bound of the IPC body + metadata size of this batch. */
  estimateBytes(): number {
    return this.nTokens * 4 + this.nStringBytes + this.length * 4 * 4 + this.length / 8 + 1024;
  }
  build(schema: Schema): RecordBatch {
    const n = this.length;
    const tokOffsets = this.tokOffsets.slice(0, n + 1);
    const flat = this.store.flat.subarray(0, this.nTokens);
    const child = makeData({ type: new Uint32(), length: flat.length, nullCount: 0, data: flat });
    const tokData = makeData({ type: TOKENS_TYPE, length: n, nullCount: 0, valueOffsets: tokOffsets, child });
    const fields = schema.fields;
    const struct = makeData({
      type: new Struct(fields),
      length: n,
      nullCount: 0,
      children: [
        this.ids.data(fields[0].type),
        this.sources.data(fields[1].type),
        this.langs.data(fields[2].type),
        tokData,
      ],
    });
    return new RecordBatch(schema, struct);
  }
  /** Empty for the next batch (the last one is written: its columns were copied, its tokens are in the file). */
  reset(): void {
    this.ids.reset();
    this.sources.reset();
    this.langs.reset();
    this.length = 0;
    this.nTokens = 0;
    this.nStringBytes = 0;
  }
}

export interface ShardWriterOptions {
  tokenizer: TokenizerInfo;
  /** Roll to the next shard before a file would exceed this many bytes (default 1,000,000,000). */
  maxShardBytes?: number;
  /** Tokens per record batch (default 1M). */
  batchTokens?: number;
  /** Shard file name for index i (default `shard-${i:05}.arrow`). */
  name?: (index: number) => string;
  /** First shard index (default 0). */
  startIndex?: number;
}

interface OpenShard {
  file: string;
  out: AtomicFileSync;
  fd: number;
  sink: FdSink;
  writer: RecordBatchFileWriter;
  schema: Schema;
  tokens: number;
  documents: number;
  sources: Record<string, number>;
  langs: Record<string, number>;
  batches: number;
}

/**
 * Streams documents into shards in `dir`. Call `add` per document and `finish` at the end; `finish` returns the
 * shards written (in order). Does not write manifest.json (see `writeManifest`), so several writers (one per task)
 * can produce shards that are then listed in one manifest.
 */
export class ShardWriter {
  readonly dir: string;
  private opts: Required<Omit<ShardWriterOptions, 'tokenizer'>> & { tokenizer: TokenizerInfo };
  private index: number;
  private cur: OpenShard | null = null;
  private readonly tokenStore: TokenStore;
  private readonly batch: BatchBuilder;
  private batchSources: Record<string, number> = {};
  private batchLangs: Record<string, number> = {};
  readonly shards: ShardInfo[] = [];
  private finished = false;

  constructor(dir: string, opts: ShardWriterOptions) {
    this.dir = dir;
    this.opts = {
      maxShardBytes: DEFAULT_MAX_SHARD_BYTES,
      batchTokens: 1 << 20,
      name: (i: number) => `shard-${String(i).padStart(5, '0')}.arrow`,
      startIndex: 0,
      ...opts,
    };
    this.index = this.opts.startIndex;
    // a batch's tokens (it is written when it reaches batchTokens): pages are touched only as they fill; a spare
    // store of a writer this process has finished when there is one
    const storeLength = Math.min(this.opts.batchTokens, 1 << 24) + (1 << 16);
    this.tokenStore = { flat: takeSpare(spareStores, storeLength) ?? new Uint32Array(storeLength) };
    this.batch = new BatchBuilder(this.tokenStore);
    mkdirSync(dir, { recursive: true });
  }

  add(doc: ShardDoc): void {
    if (this.finished) throw new Error('ShardWriter: add after finish');
    const nTok = doc.tokens.length;
    const docBytes = nTok * 4 + 3 * doc.id.length + 3 * doc.source.length + 64;
    if (docBytes + this.footerReserve() > this.opts.maxShardBytes) {
      throw new Error(
        `document ${doc.id} (${doc.source}) has ${nTok} tokens: larger than one shard (${this.opts.maxShardBytes} bytes)`,
      );
    }
    // The document must fit in the current shard together with the pending batch; otherwise flush and roll first.
    if (
      this.batch.length > 0 &&
      this.cur &&
      this.cur.sink.bytes + this.batch.estimateBytes() + docBytes + this.footerReserve() > this.opts.maxShardBytes
    ) {
      this.flushBatch();
    }
    if (
      this.batch.length === 0 &&
      this.cur &&
      this.cur.sink.bytes + docBytes + this.footerReserve() > this.opts.maxShardBytes
    ) {
      this.closeShard();
    }
    this.batch.add(doc);
    const lang = doc.lang ?? 'unknown';
    this.batchSources[doc.source] = (this.batchSources[doc.source] ?? 0) + nTok;
    this.batchLangs[lang] = (this.batchLangs[lang] ?? 0) + nTok;
    if (this.batch.nTokens >= this.opts.batchTokens || this.batch.length >= MAX_BATCH_DOCS) this.flushBatch();
  }

  private footerReserve(): number {
    // footer + schema + per-batch metadata, bounded for tiny test shards
    return Math.min(65536, this.opts.maxShardBytes / 16) + 1024 * ((this.cur?.batches ?? 0) + 1);
  }

  private openShard(): OpenShard {
    const file = this.opts.name(this.index++);
    const out = new AtomicFileSync(join(this.dir, file));
    const fd = out.fd;
    const t = this.opts.tokenizer;
    const meta = new Map<string, string>([
      ['steel.format', SHARD_FORMAT],
      ['steel.tokenizer_name', t.name],
      ['steel.tokenizer_sha256', t.sha256],
      ['steel.vocab_size', String(t.vocab_size)],
      ['steel.eos_id', String(t.eos_id)],
      ['steel.pad_id', String(t.pad_id)],
      ['steel.num_tokens', PH_TOKENS],
      ['steel.num_documents', PH_DOCS],
    ]);
    const schema = shardSchema(meta);
    const sink = new FdSink(fd);
    const writer = new RecordBatchFileWriter({ autoDestroy: true });
    writer.reset(sink, schema); // writes the magic; the JS file writer keeps the schema only in the footer
    // The Arrow file format is "magic, padding, <stream format>, footer": write the stream's schema message too, so
    // sequential (stream) readers work. Its count values are placeholders patched in place at close.
    (RecordBatchWriter.prototype as any)._writeSchema.call(writer, schema);
    return { file, out, fd, sink, writer, schema, tokens: 0, documents: 0, sources: {}, langs: {}, batches: 0 };
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    if (!this.cur) this.cur = this.openShard();
    const cur = this.cur;
    const rb = this.batch.build(cur.schema);
    cur.writer.write(rb);
    cur.batches++;
    cur.tokens += this.batch.nTokens;
    cur.documents += this.batch.length;
    for (const [k, v] of Object.entries(this.batchSources)) cur.sources[k] = (cur.sources[k] ?? 0) + v;
    for (const [k, v] of Object.entries(this.batchLangs)) cur.langs[k] = (cur.langs[k] ?? 0) + v;
    this.batch.reset();
    this.batchSources = {};
    this.batchLangs = {};
  }

  private closeShard(): void {
    const cur = this.cur;
    if (!cur) return;
    this.cur = null;
    // Real counts in the footer schema; the same-width values are patched into the head schema below.
    cur.schema.metadata.set('steel.num_tokens', padCount(cur.tokens));
    cur.schema.metadata.set('steel.num_documents', padCount(cur.documents));
    cur.writer.finish(); // writes the footer, closes the sink (flush)
    cur.sink.flush();
    cur.sink.release();
    // Patch the placeholders in the head schema message.
    const headLen = Math.min(cur.sink.bytes, 65536);
    const head = Buffer.alloc(headLen);
    readSync(cur.fd, head, 0, headLen, 0);
    for (const [ph, val] of [
      [PH_TOKENS, padCount(cur.tokens)],
      [PH_DOCS, padCount(cur.documents)],
    ] as const) {
      const at = head.indexOf(ph, 0, 'latin1');
      if (at < 0) throw new Error(`internal: metadata placeholder not found in ${cur.out.tmp}`);
      writeAll(cur.fd, Buffer.from(val, 'latin1'), at);
    }
    // Hash the final file (after the in-place patch of the head schema), then flush and rename it into place.
    const sha256 = sha256File(cur.out.tmp);
    cur.out.commit();
    this.shards.push({
      file: cur.file,
      sha256,
      bytes: cur.sink.bytes,
      tokens: cur.tokens,
      documents: cur.documents,
      sources: cur.sources,
      langs: cur.langs,
    });
  }

  /** Flush, close the open shard and return every shard written by this writer. */
  finish(): ShardInfo[] {
    if (this.finished) return this.shards;
    this.flushBatch();
    this.closeShard();
    this.done();
    return this.shards;
  }

  /** Remove the temporary file of an unfinished shard (after an error). */
  abort(): void {
    if (this.cur) {
      this.cur.out.abort();
      this.cur.sink.release();
      this.cur = null;
    }
    this.done();
  }

  /** No more documents: the token store goes back to the process's spares (once). */
  private done(): void {
    if (this.finished) return;
    this.finished = true;
    giveSpare(spareStores, this.tokenStore.flat);
    this.tokenStore.flat = new Uint32Array(0);
  }
}

/**
 * Read buffer of sha256File, made once per process: a fresh 8 MiB buffer per call cost 0.07 CPU-s for the sample's
 * two shards (allocating and first touching its pages), this one 0.013 (bench/results/prep.md, session 9).
 */
let hashBuf: Buffer | undefined;

export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = (hashBuf ??= Buffer.allocUnsafe(1 << 20));
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// Manifest

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export function buildManifest(
  tokenizer: TokenizerInfo,
  shards: ShardInfo[],
  build?: Record<string, unknown>,
): Manifest {
  const totals = {
    tokens: 0,
    documents: 0,
    sources: {} as Record<string, number>,
    langs: {} as Record<string, number>,
  };
  for (const s of shards) {
    totals.tokens += s.tokens;
    totals.documents += s.documents;
    addCounts(totals.sources, s.sources);
    addCounts(totals.langs, s.langs);
  }
  const m: Manifest = { format: SHARD_FORMAT, tokenizer, shards, totals };
  if (build) m.build = build;
  return m;
}

/** Write DIR/manifest.json atomically (temp name + rename). Write it last: a folder without it is incomplete. */
export function writeManifest(dir: string, manifest: Manifest): string {
  const path = join(dir, 'manifest.json');
  writeFileAtomic(path, JSON.stringify(manifest, null, 2) + '\n');
  return path;
}

export function readManifest(dir: string): Manifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new Error(`${path}: no manifest.json (shard folder missing or incomplete)`);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (m.format !== SHARD_FORMAT) throw new Error(`${path}: format "${m.format}", expected "${SHARD_FORMAT}"`);
  if (!Array.isArray(m.shards)) throw new Error(`${path}: "shards" is not a list`);
  return m;
}

export interface VerifyResult {
  ok: boolean;
  problems: string[];
}

/** Where verifyManifest remembers shards whose sha256 matched (by size and mtime), so each is hashed once. */
export const VERIFIED_CACHE = '.steel-verified.json';

type VerifiedCache = Record<string, { bytes: number; mtimeMs: number; sha256: string }>;

function readVerifiedCache(path: string): VerifiedCache {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8'));
    return c && typeof c === 'object' && !Array.isArray(c) ? (c as VerifiedCache) : {};
  } catch {
    return {}; // missing or damaged: everything is hashed again
  }
}

/**
 * Check every shard listed in DIR/manifest.json (or only `shards`, e.g. one rank's): present, same size, and (unless
 * `hash: false`) same sha256. With `cache: true` a shard whose size and mtime are those recorded in DIR/.steel-verified.json
 * when its sha256 last matched is not hashed again (sizes are always checked); the cache is rewritten when it grows
 * (a read-only folder just goes without it). With `throwOnError` (default true) throws an Error listing the problems.
 */
export function verifyManifest(
  dir: string,
  opts: {
    hash?: boolean;
    throwOnError?: boolean;
    shards?: Pick<ShardInfo, 'file' | 'bytes' | 'sha256'>[];
    cache?: boolean;
  } = {},
): VerifyResult & { hashed: number } {
  const shards = opts.shards ?? readManifest(dir).shards;
  const cachePath = join(dir, VERIFIED_CACHE);
  const cache = opts.cache ? readVerifiedCache(cachePath) : {};
  let hashed = 0,
    added = false;
  const problems: string[] = [];
  for (const s of shards) {
    const p = join(dir, s.file);
    if (!existsSync(p)) {
      problems.push(`${p}: missing`);
      continue;
    }
    const st = statSync(p);
    if (st.size !== s.bytes) {
      problems.push(`${p}: ${st.size} bytes, manifest says ${s.bytes}`);
      continue;
    }
    if (opts.hash !== false) {
      const c = cache[s.file];
      if (c && c.bytes === st.size && c.mtimeMs === st.mtimeMs && c.sha256 === s.sha256) continue;
      const h = sha256File(p);
      hashed++;
      if (h !== s.sha256) problems.push(`${p}: sha256 ${h} differs from manifest ${s.sha256}`);
      else if (opts.cache) {
        cache[s.file] = { bytes: st.size, mtimeMs: st.mtimeMs, sha256: h };
        added = true;
      }
    }
  }
  if (added) {
    try {
      writeFileAtomic(cachePath, JSON.stringify(cache) + '\n');
    } catch {
      /* read-only shard folder: hashed again next time */
    }
  }
  if (problems.length && opts.throwOnError !== false) {
    throw new Error(`shard folder ${dir} does not match its manifest:\n  ${problems.join('\n  ')}`);
  }
  return { ok: problems.length === 0, problems, hashed };
}

// ---------------------------------------------------------------------------------------------------------------
// Reader

export interface ShardBatch {
  /** Flat token ids of the batch's documents (a view into the read buffer). */
  tokens: Uint32Array;
  /** Document boundaries within `tokens`: document i is tokens[docOffsets[i] .. docOffsets[i+1]). Length docs+1. */
  docOffsets: Int32Array;
  numDocs: number;
  /** Only with `withMeta`. */
  ids?: string[];
  sources?: string[];
  langs?: (string | null)[];
}

function batchToShardBatch(rb: RecordBatch, withMeta: boolean, path: string): ShardBatch {
  const col = rb.getChild('tokens');
  if (!col) throw new Error(`${path}: no "tokens" column`);
  const d = col.data[0];
  const child = d.children[0];
  const base = d.valueOffsets[0];
  const end = d.valueOffsets[d.length];
  const values = child.values as Uint32Array;
  const tokens = values.subarray(child.offset + base, child.offset + end);
  let docOffsets = d.valueOffsets.subarray(d.offset, d.offset + d.length + 1) as Int32Array;
  if (docOffsets[0] !== 0) docOffsets = docOffsets.map((x) => x - docOffsets[0]);
  const out: ShardBatch = { tokens, docOffsets, numDocs: d.length };
  if (withMeta) {
    out.ids = rb.getChild('id')!.toArray() as string[];
    out.sources = rb.getChild('source')!.toArray() as string[];
    const langCol = rb.getChild('lang')!;
    const langs: (string | null)[] = [];
    for (let i = 0; i < langCol.length; i++) langs.push(langCol.get(i) ?? null);
    out.langs = langs;
  }
  return out;
}

export interface ShardFileInfo {
  metadata: Record<string, string>;
  numTokens: number;
  numDocuments: number;
}

function metaInfo(schema: Schema, path: string): ShardFileInfo {
  const metadata = Object.fromEntries(schema.metadata);
  if (metadata['steel.format'] !== SHARD_FORMAT)
    throw new Error(`${path}: not a ${SHARD_FORMAT} shard (steel.format=${metadata['steel.format']})`);
  return {
    metadata,
    numTokens: Number(metadata['steel.num_tokens']),
    numDocuments: Number(metadata['steel.num_documents']),
  };
}

/** Stream a shard batch by batch (random-access reads of one record batch at a time). */
export async function* iterShardBatches(
  path: string,
  opts: { withMeta?: boolean } = {},
): AsyncGenerator<ShardBatch & { info: ShardFileInfo }> {
  const fh = await open(path, 'r');
  try {
    const reader = await RecordBatchReader.from(fh as any);
    await reader.open();
    const info = metaInfo(reader.schema, path);
    for await (const rb of reader) yield { ...batchToShardBatch(rb, !!opts.withMeta, path), info };
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${msg}`);
  } finally {
    await fh.close();
  }
}

export interface ShardTokens {
  tokens: Uint32Array;
  /** Document boundaries: document i is tokens[docOffsets[i] .. docOffsets[i+1]). Length numDocs+1. */
  docOffsets: Uint32Array;
  numDocs: number;
  metadata: Record<string, string>;
  ids?: string[];
  sources?: string[];
  langs?: (string | null)[];
}

/** Read a whole shard as one flat token stream (batches read one at a time and copied into one array). */
export async function readShardTokens(path: string, opts: { withMeta?: boolean } = {}): Promise<ShardTokens> {
  let tokens: Uint32Array | null = null;
  let docOffsets: Uint32Array | null = null;
  let tpos = 0;
  let dpos = 0;
  let metadata: Record<string, string> = {};
  const ids: string[] = [];
  const sources: string[] = [];
  const langs: (string | null)[] = [];
  for await (const b of iterShardBatches(path, opts)) {
    if (!tokens) {
      metadata = b.info.metadata;
      tokens = new Uint32Array(b.info.numTokens);
      docOffsets = new Uint32Array(b.info.numDocuments + 1);
    }
    if (tpos + b.tokens.length > tokens.length || dpos + b.numDocs > docOffsets!.length - 1) {
      throw new Error(
        `${path}: more tokens/documents than its metadata says (${b.info.numTokens}/${b.info.numDocuments})`,
      );
    }
    tokens.set(b.tokens, tpos);
    for (let i = 0; i < b.numDocs; i++) docOffsets![dpos + i] = tpos + b.docOffsets[i];
    tpos += b.tokens.length;
    dpos += b.numDocs;
    if (opts.withMeta) {
      ids.push(...b.ids!);
      sources.push(...b.sources!);
      langs.push(...b.langs!);
    }
  }
  if (!tokens) {
    // No record batches: an empty shard.
    const fh = await open(path, 'r');
    try {
      const reader = await RecordBatchReader.from(fh as any);
      await reader.open();
      metadata = metaInfo(reader.schema, path).metadata;
    } finally {
      await fh.close();
    }
    return {
      tokens: new Uint32Array(0),
      docOffsets: new Uint32Array(1),
      numDocs: 0,
      metadata,
      ...(opts.withMeta ? { ids, sources, langs } : {}),
    };
  }
  if (tpos !== tokens.length || dpos !== docOffsets!.length - 1) {
    throw new Error(
      `${path}: ${tpos} tokens / ${dpos} documents, metadata says ${tokens.length}/${docOffsets!.length - 1}`,
    );
  }
  docOffsets![dpos] = tpos;
  const out: ShardTokens = { tokens, docOffsets: docOffsets!, numDocs: dpos, metadata };
  if (opts.withMeta) Object.assign(out, { ids, sources, langs });
  return out;
}

/** Iterate the documents of a shard (id, source, lang, tokens). */
export async function* iterShardDocs(
  path: string,
): AsyncGenerator<{ id: string; source: string; lang: string | null; tokens: Uint32Array }> {
  for await (const b of iterShardBatches(path, { withMeta: true })) {
    for (let i = 0; i < b.numDocs; i++) {
      yield {
        id: b.ids![i],
        source: b.sources![i],
        lang: b.langs![i],
        tokens: b.tokens.subarray(b.docOffsets[i], b.docOffsets[i + 1]),
      };
    }
  }
}

export function shardPaths(dir: string): string[] {
  return readManifest(dir).shards.map((s) => join(dir, s.file));
}

/**
 * Characters per token, the one definition (`steel tokenizer encode`, the tokenize step, `steel inspect`): characters
 * are code points of the documents' text (pipeline/document.ts textLength), tokens are the text's tokens, without the end-of-document token appended to
 * every document. Undefined when there are no text tokens.
 */
export function charsPerToken(chars: number, tokens: number, documents: number): number | undefined {
  const text = tokens - documents;
  return text > 0 ? chars / text : undefined;
}
