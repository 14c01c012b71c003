/**
 * Fine-tuning data: chat-schema records (pipeline/chat.ts) -> token rows with a loss mask (SFT) or prompt / chosen /
 * rejected token lists (DPO), written as Arrow shard folders (formats `steel-sft-v1` and `steel-dpo-v1`, see
 * tokenizer/SHARDS.md "Fine-tuning shards").
 *
 * Qwen chat template: `<|im_start|>ROLE\nCONTENT<|im_end|>\n` per message, the default system prompt when the
 * conversation has none. Supervised (mask 1): the content tokens of every assistant turn and its closing `<|im_end|>`.
 * Segments (role header, content, `<|im_end|>`, `\n`) are encoded separately so the mask follows the segment
 * boundaries exactly; `encodeChatPrompt` uses the same segmentation for generation.
 * One conversation per row: the Steel kind's Soft-MoE mixes every token of a row, so rows are never packed.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataType,
  Field,
  List,
  makeData,
  Message,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Uint32,
  Uint8,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { type ChatMessage, DEFAULT_SYSTEM_PROMPT, validateMessages, validatePreference } from '../pipeline/chat.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { displayPath, readRecords } from '../pipeline/readers/index.ts';
import { loadTokenizer, type LoadedTokenizer } from './encode.ts';
import { type TokenizerInfo, verifyManifest } from './shards.ts';

export const SFT_FORMAT = 'steel-sft-v1';
export const DPO_FORMAT = 'steel-dpo-v1';
export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';

type Tok = LoadedTokenizer['tok'];

/** Encodes strings with a per-call cache (role headers and separators repeat in every conversation). */
async function encodeMany(tok: Tok, texts: string[]): Promise<Uint32Array[]> {
  const uniq = [...new Set(texts)];
  const m = new Map<string, Uint32Array>();
  for (const s of uniq) m.set(s, tok.encode(s));
  return texts.map((s) => m.get(s)!);
}

interface Segment {
  text: string;
  supervised: boolean;
}

function chatSegments(messages: ChatMessage[], system: string, generationPrompt: boolean): Segment[] {
  const ms = messages[0]?.role === 'system' ? messages : [{ role: 'system' as const, content: system }, ...messages];
  const segs: Segment[] = [];
  for (const m of ms) {
    const sup = m.role === 'assistant';
    segs.push({ text: `${IM_START}${m.role}\n`, supervised: false });
    if (m.content) segs.push({ text: m.content, supervised: sup });
    segs.push({ text: IM_END, supervised: sup });
    segs.push({ text: '\n', supervised: false });
  }
  if (generationPrompt) segs.push({ text: `${IM_START}assistant\n`, supervised: false });
  return segs;
}

export interface ChatEncoding {
  tokens: Uint32Array;
  mask: Uint8Array;
}

/** Token ids and loss mask (1 = supervised token) of each conversation. */
export async function encodeChats(
  tok: Tok,
  convs: ChatMessage[][],
  system = DEFAULT_SYSTEM_PROMPT,
): Promise<ChatEncoding[]> {
  const segs = convs.map((c) => chatSegments(c, system, false));
  const enc = await encodeMany(
    tok,
    segs.flat().map((s) => s.text),
  );
  let k = 0;
  return segs.map((ss) => {
    const parts = ss.map((s) => ({ ids: enc[k++], sup: s.supervised }));
    const n = parts.reduce((a, p) => a + p.ids.length, 0);
    const tokens = new Uint32Array(n),
      mask = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      tokens.set(p.ids, o);
      if (p.sup) mask.fill(1, o, o + p.ids.length);
      o += p.ids.length;
    }
    return { tokens, mask };
  });
}

/** The prompt of a generation turn (conversation so far + `<|im_start|>assistant\n`), segmented as in training. */
export async function encodeChatPrompt(
  tok: Tok,
  messages: ChatMessage[],
  system = DEFAULT_SYSTEM_PROMPT,
): Promise<Uint32Array> {
  const enc = await encodeMany(
    tok,
    chatSegments(messages, system, true).map((s) => s.text),
  );
  const out = new Uint32Array(enc.reduce((a, e) => a + e.length, 0));
  let o = 0;
  for (const e of enc) {
    out.set(e, o);
    o += e.length;
  }
  return out;
}

export interface PreferenceEncoding {
  prompt: Uint32Array;
  chosen: Uint32Array;
  rejected: Uint32Array;
}

/** prompt = template up to `<|im_start|>assistant\n`; chosen / rejected = reply tokens + `<|im_end|>`. */
export async function encodePreferences(
  tok: Tok,
  pairs: { prompt: ChatMessage[]; chosen: string; rejected: string }[],
  system = DEFAULT_SYSTEM_PROMPT,
): Promise<PreferenceEncoding[]> {
  const out: PreferenceEncoding[] = [];
  const replies = await encodeMany(
    tok,
    pairs.flatMap((p) => [p.chosen, p.rejected, IM_END]),
  );
  for (let i = 0; i < pairs.length; i++) {
    const prompt = await encodeChatPrompt(tok, pairs[i].prompt, system);
    const cat = (a: Uint32Array, b: Uint32Array) => {
      const r = new Uint32Array(a.length + b.length);
      r.set(a);
      r.set(b, a.length);
      return r;
    };
    out.push({
      prompt,
      chosen: cat(replies[3 * i], replies[3 * i + 2]),
      rejected: cat(replies[3 * i + 1], replies[3 * i + 2]),
    });
  }
  return out;
}

// ------------------------------------------------------------------ shards

function listVector(rows: ArrayLike<number>[], elem: Uint32 | Uint8) {
  const offsets = new Int32Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) offsets[i + 1] = offsets[i] + rows[i].length;
  const values = elem instanceof Uint8 ? new Uint8Array(offsets[rows.length]) : new Uint32Array(offsets[rows.length]);
  for (let i = 0; i < rows.length; i++) values.set(rows[i] as ArrayLike<number>, offsets[i]);
  const child = makeData({ type: elem, length: values.length, nullCount: 0, data: values });
  return makeData({
    type: new List(new Field('item', elem, false)),
    length: rows.length,
    nullCount: 0,
    valueOffsets: offsets,
    child,
  });
}

export interface FtRow {
  id: string;
  source: string;
  lists: Record<string, Uint32Array | Uint8Array>;
}

/** Writes one shard (Arrow IPC file) atomically; list columns in `columns` order (Uint8 for loss_mask). */
export function writeFtShard(
  path: string,
  rows: FtRow[],
  columns: string[],
  meta: Record<string, string>,
): { sha256: string; bytes: number } {
  const fields: Field[] = [new Field('id', new Utf8(), false), new Field('source', new Utf8(), false)];
  const data: unknown[] = [
    vectorFromArray(
      rows.map((r) => r.id),
      new Utf8(),
    ).data[0],
    vectorFromArray(
      rows.map((r) => r.source),
      new Utf8(),
    ).data[0],
  ];
  for (const c of columns) {
    const elem = c === 'loss_mask' ? new Uint8() : new Uint32();
    fields.push(new Field(c, new List(new Field('item', elem, false)), false));
    data.push(
      listVector(
        rows.map((r) => r.lists[c]),
        elem,
      ) as never,
    );
  }
  const schema = new Schema(fields, new Map(Object.entries(meta)));
  const struct = makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children: data as never });
  const bytes = tableToIPC(new Table(schema, [new RecordBatch(schema, struct)]), 'file');
  writeFileAtomic(path, bytes);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

export interface FtShardInfo {
  file: string;
  sha256: string;
  bytes: number;
  rows: number;
  tokens: number;
  supervised: number;
}

export interface FtManifest {
  format: typeof SFT_FORMAT | typeof DPO_FORMAT;
  tokenizer: TokenizerInfo;
  cutoff: number;
  system: string;
  shards: FtShardInfo[];
  stats: FtStats;
  /** sha256 over the shards' hashes: the data identity (DPO reference log-probs are tied to it). */
  data_sha256: string;
}

export interface FtStats {
  read: number;
  kept: number;
  /** kept rows that were cut at cutoff (counted, never silent). */
  truncated: number;
  dropped: Record<string, number>;
  rejected: number;
  by_source: Record<string, number>;
  tokens: number;
  supervised_tokens: number;
}

/** Reads and verifies (sha256 of every shard file) a fine-tuning shard folder. */
export function readFtManifest(dir: string): FtManifest {
  const p = join(dir, 'manifest.json');
  if (!existsSync(p))
    throw new Error(`${dir}: no manifest.json (not a fine-tuning shard folder, or an incomplete one)`);
  const m = JSON.parse(readFileSync(p, 'utf8')) as FtManifest;
  if (m.format !== SFT_FORMAT && m.format !== DPO_FORMAT)
    throw new Error(`${p}: format "${m.format}" is not ${SFT_FORMAT} or ${DPO_FORMAT}`);
  return m;
}

/** Where one list (or Utf8) column of one record batch lies in its shard file. */
interface ColumnSpan {
  /** file offset of the int32 offsets buffer (rows + 1 entries) and of the values buffer, its length in bytes. */
  offsetsAt: number;
  valuesAt: number;
  valuesBytes: number;
  /** bytes per value: 4 (Uint32), 1 (Uint8, Utf8). */
  elem: 1 | 4;
}

interface BatchSpans {
  /** index of the batch's first row in the folder. */
  firstRow: number;
  rows: number;
  cols: Record<string, ColumnSpan>;
}

/** Field nodes and buffers (validity, offsets, values, children's) a field of these types occupies in a batch. */
function fieldSize(t: DataType, where: string): { nodes: number; buffers: number } {
  if (DataType.isUtf8(t)) return { nodes: 1, buffers: 3 };
  if (DataType.isInt(t)) return { nodes: 1, buffers: 2 };
  if (DataType.isList(t)) {
    const c = fieldSize(t.children[0].type, where);
    return { nodes: 1 + c.nodes, buffers: 2 + c.buffers };
  }
  throw new Error(`${where}: unexpected column type ${t} in a fine-tuning shard`);
}

interface ColumnAt {
  /** index of the column's first buffer (validity) and of its field node in a record batch. */
  buffer: number;
  node: number;
  elem: 1 | 4;
  utf8: boolean;
}

/** Where each wanted column's buffers and node sit in a record batch (schema order, children depth-first). */
function columnIndex(schema: Schema, columns: string[], path: string): Record<string, ColumnAt> {
  const at: Record<string, ColumnAt> = {};
  let buffer = 0,
    node = 0;
  for (const f of schema.fields) {
    if (columns.includes(f.name)) {
      const utf8 = DataType.isUtf8(f.type);
      const child = DataType.isList(f.type) ? f.type.children[0].type : null;
      const intList = child && DataType.isInt(child) && !child.isSigned && [8, 32].includes(child.bitWidth);
      if (!utf8 && !intList)
        throw new Error(`${path}: column "${f.name}" is ${f.type}, not a list of uint8/uint32 or utf8`);
      at[f.name] = { buffer, node, utf8, elem: utf8 || child!.bitWidth === 8 ? 1 : 4 };
    }
    const n = fieldSize(f.type, path);
    buffer += n.buffers;
    node += n.nodes;
  }
  for (const c of columns) if (!at[c]) throw new Error(`${path}: no column "${c}"`);
  return at;
}

/** The row count and column spans of the record batch at `block`, from its header (the body is not read). */
function batchSpans(
  fd: number,
  path: string,
  block: { offset: number; metaDataLength: number },
  at: Record<string, ColumnAt>,
): { rows: number; cols: Record<string, ColumnSpan> } {
  const head = Buffer.alloc(block.metaDataLength);
  if (readSync(fd, head, 0, head.length, block.offset) !== head.length)
    throw new Error(`${path}: truncated batch header`);
  const cont = head.readInt32LE(0) === -1 ? 4 : 0; // continuation marker (absent in pre-1.0 files)
  const len = head.readInt32LE(cont);
  const msg = Message.decode(head.subarray(cont + 4, cont + 4 + len));
  if (!msg.isRecordBatch()) throw new Error(`${path}: block at byte ${block.offset} is not a record batch`);
  const rb = msg.header();
  if (rb.compression) throw new Error(`${path}: compressed record batches are not supported`);
  const body = block.offset + block.metaDataLength;
  const cols: Record<string, ColumnSpan> = {};
  for (const [c, { buffer: i, node: n, elem, utf8 }] of Object.entries(at)) {
    if (rb.nodes[n].length !== rb.length || rb.nodes[n].nullCount !== 0)
      throw new Error(
        `${path}: column "${c}" has ${rb.nodes[n].length} rows (${rb.nodes[n].nullCount} null) in a batch of ${rb.length}`,
      );
    const offs = rb.buffers[i + 1],
      vals = rb.buffers[utf8 ? i + 2 : i + 3];
    if (offs.length < 4 * (rb.length + 1)) throw new Error(`${path}: column "${c}": offsets buffer too short`);
    cols[c] = { offsetsAt: body + offs.offset, valuesAt: body + vals.offset, valuesBytes: vals.length, elem };
  }
  return { rows: rb.length, cols };
}

/** The spans of `columns` in every record batch of one shard, read from its footer and batch headers only. */
async function shardSpans(path: string, fd: number, columns: string[], firstRow: number): Promise<BatchSpans[]> {
  const fh = await open(path, 'r');
  let schema: Schema, blocks: { offset: number; metaDataLength: number }[];
  try {
    const reader = await RecordBatchReader.from(fh as any);
    await reader.open();
    if (!reader.isFile() || !reader.footer) throw new Error(`${path}: not an Arrow IPC file`);
    schema = reader.schema;
    blocks = [...reader.footer.recordBatches()];
  } finally {
    await fh.close();
  }
  const at = columnIndex(schema, columns, path);
  const out: BatchSpans[] = [];
  let row = firstRow;
  for (const b of blocks) {
    const { rows, cols } = batchSpans(fd, path, b, at);
    out.push({ firstRow: row, rows, cols });
    row += rows;
  }
  return out;
}

/**
 * Random access to the rows of a fine-tuning shard folder without holding them: every shard is checked against the
 * manifest when opened (size; sha256 once, remembered by size and mtime in DIR/.steel-verified.json, as the
 * pretraining loader does), then a row is read with positioned reads of its offsets and values. In memory: each
 * record batch's buffer positions, and open file descriptors (close() them).
 */
export class FtShardRows {
  readonly manifest: FtManifest;
  /** rows of the folder (all shards, manifest order). */
  readonly n: number;
  private readonly dir: string;
  private readonly fds: number[];
  private readonly batches: (BatchSpans & { shard: number })[];

  private constructor(dir: string, manifest: FtManifest, fds: number[], batches: (BatchSpans & { shard: number })[]) {
    this.dir = dir;
    this.manifest = manifest;
    this.fds = fds;
    this.batches = batches;
    this.n = batches.reduce((a, b) => a + b.rows, 0);
  }

  /** Opens DIR (its manifest, checked shards) for reading `columns` (list columns, or `id` / `source`). */
  static async open(dir: string, columns: string[], log?: (m: string) => void): Promise<FtShardRows> {
    const manifest = readFtManifest(dir);
    const v = verifyManifest(dir, { shards: manifest.shards, cache: true });
    if (v.hashed) log?.(`data: ${v.hashed} of ${manifest.shards.length} shard(s) hashed and match the manifest`);
    const fds: number[] = [];
    const batches: (BatchSpans & { shard: number })[] = [];
    try {
      let rows = 0;
      for (const [k, s] of manifest.shards.entries()) {
        const path = join(dir, s.file);
        fds.push(openSync(path, 'r'));
        const spans = await shardSpans(path, fds[k], columns, rows);
        const got = spans.reduce((a, b) => a + b.rows, 0);
        if (got !== s.rows) throw new Error(`${path}: ${got} rows, the manifest says ${s.rows}`);
        for (const b of spans) batches.push({ ...b, shard: k });
        rows += got;
      }
    } catch (e) {
      for (const fd of fds) closeSync(fd);
      throw e;
    }
    return new FtShardRows(dir, manifest, fds, batches);
  }

  private locate(i: number): BatchSpans & { shard: number } {
    if (!(i >= 0 && i < this.n)) throw new Error(`${this.dir}: row ${i} outside 0..${this.n - 1}`);
    let lo = 0,
      hi = this.batches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.batches[mid].firstRow <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.batches[lo];
  }

  /** The raw bytes of row i of column c (a fresh, aligned array). */
  private read(i: number, c: string): Uint8Array | Uint32Array {
    const b = this.locate(i);
    const span = b.cols[c];
    if (!span) throw new Error(`${this.dir}: column "${c}" was not opened`);
    const fd = this.fds[b.shard];
    const o = new Int32Array(2);
    readSync(fd, new Uint8Array(o.buffer), 0, 8, span.offsetsAt + 4 * (i - b.firstRow));
    const [lo, hi] = o;
    if (!(lo >= 0 && hi >= lo && hi * span.elem <= span.valuesBytes))
      throw new Error(
        `${join(this.dir, this.manifest.shards[b.shard].file)}: row ${i}, column "${c}": bad offsets ${lo}..${hi}`,
      );
    const out = span.elem === 4 ? new Uint32Array(hi - lo) : new Uint8Array(hi - lo);
    const bytes = new Uint8Array(out.buffer);
    if (bytes.length && readSync(fd, bytes, 0, bytes.length, span.valuesAt + lo * span.elem) !== bytes.length)
      throw new Error(`${join(this.dir, this.manifest.shards[b.shard].file)}: truncated at row ${i}`);
    return out;
  }

  /** Row i's list of column c (Uint32Array for token columns, Uint8Array for loss_mask). */
  list(i: number, c: string): Uint32Array | Uint8Array {
    return this.read(i, c);
  }

  /** Row i's string in a Utf8 column (id, source). */
  text(i: number, c: string): string {
    return Buffer.from(this.read(i, c)).toString('utf8');
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

// ------------------------------------------------------------------ building a folder

export interface MixFile {
  name?: string;
  task: 'sft' | 'preference';
  sources: Record<string, number>;
}

/** Keeps a record of `source` with probability ratio, decided by a hash of its id (the same on every run). */
export function mixKeeps(mix: MixFile | null, source: string, id: string): boolean | 'not_in_mix' {
  if (!mix) return true;
  const r = mix.sources[source];
  if (r === undefined) return 'not_in_mix';
  if (r >= 1) return true;
  const h = createHash('sha256').update(`${source}\0${id}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < r;
}

export interface BuildFtOptions {
  inputs: string[];
  outDir: string;
  task: 'sft' | 'dpo';
  tokenizer?: string;
  cutoff: number;
  system?: string;
  mix?: MixFile | null;
  rowsPerShard?: number;
  log?: (m: string) => void;
}

/** Every record counted once: kept (per source; truncated ones too), dropped under a rule, or rejected with file:line. */
class FtAccounts {
  readonly stats: FtStats = {
    read: 0,
    kept: 0,
    truncated: 0,
    dropped: {},
    rejected: 0,
    by_source: {},
    tokens: 0,
    supervised_tokens: 0,
  };
  readonly rejects: string[] = [];
  keep(source: string, truncated: boolean): void {
    if (truncated) this.stats.truncated++;
    this.stats.kept++;
    this.stats.by_source[source] = (this.stats.by_source[source] ?? 0) + 1;
  }
  drop(rule: string): void {
    this.stats.dropped[rule] = (this.stats.dropped[rule] ?? 0) + 1;
  }
  reject(file: string, line: number, error: string): void {
    this.stats.rejected++;
    this.rejects.push(JSON.stringify({ file: displayPath(file), line, error }));
  }
  get droppedTotal(): number {
    return Object.values(this.stats.dropped).reduce((a, b) => a + b, 0);
  }
  /** read = kept + dropped + rejected, or an error. */
  check(): void {
    const st = this.stats,
      dropped = this.droppedTotal;
    if (st.kept + dropped + st.rejected !== st.read)
      throw new Error(`accounting: ${st.read} read but ${st.kept} kept + ${dropped} dropped + ${st.rejected} rejected`);
  }
}

/** Rows collected into shard files of `perShard` rows (shard-NNNNN.arrow), each one's tokens added to the stats. */
class FtShardSink {
  readonly shards: FtShardInfo[] = [];
  private rows: FtRow[] = [];
  private readonly columns: string[];
  constructor(
    private readonly outDir: string,
    private readonly task: 'sft' | 'dpo',
    private readonly meta: Record<string, string>,
    private readonly perShard: number,
    private readonly stats: FtStats,
  ) {
    this.columns = task === 'sft' ? ['tokens', 'loss_mask'] : ['prompt', 'chosen', 'rejected'];
  }
  add(row: FtRow): void {
    this.rows.push(row);
    if (this.rows.length >= this.perShard) this.flush();
  }
  flush(): void {
    const rows = this.rows;
    if (!rows.length) return;
    const file = `shard-${String(this.shards.length).padStart(5, '0')}.arrow`;
    const w = writeFtShard(join(this.outDir, file), rows, this.columns, this.meta);
    let tokens = 0,
      sup = 0;
    for (const r of rows) {
      if (this.task === 'sft') {
        tokens += r.lists.tokens.length;
        for (const m of r.lists.loss_mask) sup += m;
      } else {
        tokens += r.lists.prompt.length + r.lists.chosen.length + r.lists.rejected.length;
        sup += r.lists.chosen.length + r.lists.rejected.length;
      }
    }
    this.shards.push({ file, ...w, rows: rows.length, tokens, supervised: sup });
    this.stats.tokens += tokens;
    this.stats.supervised_tokens += sup;
    this.rows = [];
  }
}

/** A record waiting to be tokenized: an SFT conversation or a DPO pair. */
interface PendingRecord {
  id: string;
  source: string;
  messages?: ChatMessage[];
  pair?: { prompt: ChatMessage[]; chosen: string; rejected: string };
}

/** The conversation (sft) or pair (dpo) of a record, from meta or the top level; throws what is wrong with it. */
function recordContent(rec: Record<string, unknown>, task: 'sft' | 'dpo'): Pick<PendingRecord, 'messages' | 'pair'> {
  const m =
    rec.meta && typeof rec.meta === 'object' && !Array.isArray(rec.meta) ? (rec.meta as Record<string, unknown>) : {};
  if (task === 'sft') {
    const v = m.messages ?? rec.messages;
    if (v === undefined) throw new Error('no "messages" (an SFT record; a preference pair given to --task sft?)');
    return { messages: validateMessages(v) };
  }
  const pr = m.prompt ?? rec.prompt;
  if (pr === undefined)
    throw new Error('no "prompt"/"chosen"/"rejected" (a preference pair; an SFT record given to --task dpo?)');
  return { pair: validatePreference(pr, m.chosen ?? rec.chosen, m.rejected ?? rec.rejected) };
}

/** An SFT row cut at cutoff (the end), or null when no supervised token is left. */
function fitSft(e: ChatEncoding, cutoff: number): { lists: FtRow['lists']; truncated: boolean } | null {
  let { tokens, mask } = e;
  const truncated = tokens.length > cutoff;
  if (truncated) {
    tokens = tokens.subarray(0, cutoff);
    mask = mask.subarray(0, cutoff);
    if (!mask.some((m) => m)) return null;
  }
  return { lists: { tokens: tokens.slice(), loss_mask: mask.slice() }, truncated };
}

/** A DPO pair cut at cutoff: the end of a long prompt kept (at most half the cutoff), then the replies cut. */
function fitPair(e: PreferenceEncoding, cutoff: number): { lists: FtRow['lists']; truncated: boolean } | null {
  let { prompt, chosen, rejected } = e;
  const longest = prompt.length + Math.max(chosen.length, rejected.length);
  const truncated = longest > cutoff;
  if (truncated) {
    const keepPrompt = Math.min(
      prompt.length,
      Math.max(cutoff >> 1, cutoff - Math.max(chosen.length, rejected.length)),
    );
    prompt = prompt.subarray(prompt.length - keepPrompt);
    chosen = chosen.subarray(0, cutoff - keepPrompt);
    rejected = rejected.subarray(0, cutoff - keepPrompt);
    if (!chosen.length || !rejected.length) return null;
  }
  return { lists: { prompt: prompt.slice(), chosen: chosen.slice(), rejected: rejected.slice() }, truncated };
}

/** Tokenizes a batch of pending records and hands each fitted row to the sink (or drops it under its rule). */
async function encodePending(
  tok: Tok,
  pending: PendingRecord[],
  o: BuildFtOptions,
  system: string,
  acct: FtAccounts,
  sink: FtShardSink,
): Promise<void> {
  if (!pending.length) return;
  const fitted =
    o.task === 'sft'
      ? (
          await encodeChats(
            tok,
            pending.map((p) => p.messages!),
            system,
          )
        ).map((e) => fitSft(e, o.cutoff))
      : (
          await encodePreferences(
            tok,
            pending.map((p) => p.pair!),
            system,
          )
        ).map((e) => fitPair(e, o.cutoff));
  pending.forEach((p, i) => {
    const f = fitted[i];
    if (!f) return acct.drop(o.task === 'sft' ? 'no_supervised_tokens_within_cutoff' : 'no_reply_within_cutoff');
    acct.keep(p.source, f.truncated);
    sink.add({ id: p.id, source: p.source, lists: f.lists });
  });
}

/** Removes the outputs of an earlier build (shards, manifest, rejects) and makes sure the folder exists. */
function clearFtOutputs(outDir: string): void {
  if (existsSync(outDir))
    for (const f of readdirSync(outDir))
      if (/^shard-\d+\.arrow$|^manifest\.json$|^rejects\.jsonl$/.test(f)) rmSync(join(outDir, f));
  mkdirSync(outDir, { recursive: true });
}

/** Reads every input record: rejected, dropped by the mix, or tokenized (in batches of 256) into the sink. */
async function tokenizeInputs(
  o: BuildFtOptions,
  tok: Tok,
  system: string,
  acct: FtAccounts,
  sink: FtShardSink,
): Promise<void> {
  let pending: PendingRecord[] = [];
  for (const file of o.inputs) {
    for await (const it of readRecords(file, {})) {
      acct.stats.read++;
      if (it.kind === 'reject') {
        acct.reject(file, it.loc.line, it.error);
        continue;
      }
      const rec = it.record;
      const id =
        typeof rec.id === 'string' || typeof rec.id === 'number'
          ? String(rec.id)
          : `${displayPath(file)}:${it.loc.line}`;
      const source = typeof rec.source === 'string' ? rec.source : 'unknown';
      const keep = mixKeeps(o.mix ?? null, source, id);
      if (keep !== true) {
        acct.drop(keep === 'not_in_mix' ? 'not_in_mix' : 'mix_ratio');
        continue;
      }
      try {
        pending.push({ id, source, ...recordContent(rec, o.task) });
      } catch (e) {
        acct.reject(file, it.loc.line, (e as Error).message);
        continue;
      }
      if (pending.length >= 256) {
        await encodePending(tok, pending, o, system, acct, sink);
        pending = [];
      }
    }
  }
  await encodePending(tok, pending, o, system, acct, sink);
}

/**
 * Reads chat-schema records (prep output documents with meta.messages / meta.prompt+chosen+rejected, or plain records
 * with those fields at the top level), tokenizes them and writes OUT/shard-NNNNN.arrow + manifest.json (last) +
 * rejects.jsonl. Every record read is kept, dropped (rule) or rejected (file:line and error).
 */
export async function buildFtShards(o: BuildFtOptions): Promise<FtManifest> {
  const log = o.log ?? (() => {});
  const system = o.system ?? DEFAULT_SYSTEM_PROMPT;
  if (!(o.cutoff >= 8)) throw new Error(`--cutoff must be at least 8 tokens, got ${o.cutoff}`);
  const { tok, info } = loadTokenizer(o.tokenizer ?? 'qwen');
  clearFtOutputs(o.outDir);
  const format = o.task === 'sft' ? SFT_FORMAT : DPO_FORMAT;
  const meta = {
    'steel.format': format,
    'steel.tokenizer_name': info.name,
    'steel.tokenizer_sha256': info.sha256,
    'steel.cutoff': String(o.cutoff),
  };
  const acct = new FtAccounts();
  const stats = acct.stats;
  const sink = new FtShardSink(o.outDir, o.task, meta, o.rowsPerShard ?? 50_000, stats);
  await tokenizeInputs(o, tok, system, acct, sink);
  sink.flush();
  if (acct.rejects.length) writeFileAtomic(join(o.outDir, 'rejects.jsonl'), acct.rejects.join('\n') + '\n');
  acct.check();
  const shards = sink.shards;
  const manifest: FtManifest = {
    format,
    tokenizer: info,
    cutoff: o.cutoff,
    system,
    shards,
    stats,
    data_sha256: createHash('sha256')
      .update(shards.map((s) => s.sha256).join('\n'))
      .digest('hex'),
  };
  writeFileAtomic(join(o.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const dropped = acct.droppedTotal;
  log(
    `${o.task} data: ${stats.read} records read, ${stats.kept} kept (${stats.truncated} truncated at ${o.cutoff} tokens), ${dropped} dropped${dropped ? ' ' + JSON.stringify(stats.dropped) : ''}, ${stats.rejected} rejected${stats.rejected ? ` (see ${join(o.outDir, 'rejects.jsonl')})` : ''}; ${shards.length} shard(s), ${stats.tokens} tokens, ${stats.supervised_tokens} supervised`,
  );
  return manifest;
}
