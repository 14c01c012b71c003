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

/** Buffers (validity, offsets, values, children's) a field of these types occupies in a record batch body. */
function bufferCount(t: DataType, where: string): number {
  if (DataType.isUtf8(t)) return 3;
  if (DataType.isInt(t)) return 2;
  if (DataType.isList(t)) return 2 + bufferCount(t.children[0].type, where);
  throw new Error(`${where}: unexpected column type ${t} in a fine-tuning shard`);
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
  // buffer and node index of each wanted column (fields in schema order, children depth-first)
  const at: Record<string, { buffer: number; node: number; elem: 1 | 4; utf8: boolean }> = {};
  let buffer = 0,
    node = 0;
  for (const f of schema.fields) {
    if (columns.includes(f.name)) {
      const utf8 = DataType.isUtf8(f.type);
      const child = DataType.isList(f.type) ? f.type.children[0].type : null;
      if (
        !utf8 &&
        !(child && DataType.isInt(child) && !child.isSigned && (child.bitWidth === 8 || child.bitWidth === 32))
      )
        throw new Error(`${path}: column "${f.name}" is ${f.type}, not a list of uint8/uint32 or utf8`);
      at[f.name] = { buffer, node, utf8, elem: utf8 || child!.bitWidth === 8 ? 1 : 4 };
    }
    buffer += bufferCount(f.type, path);
    node += DataType.isList(f.type) ? 2 : 1;
  }
  for (const c of columns) if (!at[c]) throw new Error(`${path}: no column "${c}"`);
  const out: BatchSpans[] = [];
  let row = firstRow;
  for (const b of blocks) {
    const head = Buffer.alloc(b.metaDataLength);
    if (readSync(fd, head, 0, head.length, b.offset) !== head.length)
      throw new Error(`${path}: truncated batch header`);
    const cont = head.readInt32LE(0) === -1 ? 4 : 0;
    const len = head.readInt32LE(cont);
    const msg = Message.decode(head.subarray(cont + 4, cont + 4 + len));
    if (!msg.isRecordBatch()) throw new Error(`${path}: block at byte ${b.offset} is not a record batch`);
    const rb = msg.header();
    if (rb.compression) throw new Error(`${path}: compressed record batches are not supported`);
    const body = b.offset + b.metaDataLength;
    const cols: Record<string, ColumnSpan> = {};
    for (const c of columns) {
      const { buffer: i, node: n, elem, utf8 } = at[c];
      if (rb.nodes[n].length !== rb.length || rb.nodes[n].nullCount !== 0)
        throw new Error(
          `${path}: column "${c}" has ${rb.nodes[n].length} rows (${rb.nodes[n].nullCount} null) in a batch of ${rb.length}`,
        );
      const offs = rb.buffers[i + 1],
        vals = rb.buffers[utf8 ? i + 2 : i + 3];
      if (offs.length < 4 * (rb.length + 1)) throw new Error(`${path}: column "${c}": offsets buffer too short`);
      cols[c] = { offsetsAt: body + offs.offset, valuesAt: body + vals.offset, valuesBytes: vals.length, elem };
    }
    out.push({ firstRow: row, rows: rb.length, cols });
    row += rb.length;
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
  if (existsSync(o.outDir))
    for (const f of readdirSync(o.outDir))
      if (/^shard-\d+\.arrow$|^manifest\.json$|^rejects\.jsonl$/.test(f)) rmSync(join(o.outDir, f));
  mkdirSync(o.outDir, { recursive: true });
  const stats: FtStats = {
    read: 0,
    kept: 0,
    truncated: 0,
    dropped: {},
    rejected: 0,
    by_source: {},
    tokens: 0,
    supervised_tokens: 0,
  };
  const rejects: string[] = [];
  const shards: FtShardInfo[] = [];
  const perShard = o.rowsPerShard ?? 50_000;
  const columns = o.task === 'sft' ? ['tokens', 'loss_mask'] : ['prompt', 'chosen', 'rejected'];
  const meta = {
    'steel.format': o.task === 'sft' ? SFT_FORMAT : DPO_FORMAT,
    'steel.tokenizer_name': info.name,
    'steel.tokenizer_sha256': info.sha256,
    'steel.cutoff': String(o.cutoff),
  };
  let rows: FtRow[] = [];
  const drop = (rule: string) => {
    stats.dropped[rule] = (stats.dropped[rule] ?? 0) + 1;
  };
  const flush = () => {
    if (!rows.length) return;
    const file = `shard-${String(shards.length).padStart(5, '0')}.arrow`;
    const w = writeFtShard(join(o.outDir, file), rows, columns, meta);
    let tokens = 0,
      sup = 0;
    for (const r of rows) {
      if (o.task === 'sft') {
        tokens += r.lists.tokens.length;
        for (const m of r.lists.loss_mask) sup += m;
      } else {
        tokens += r.lists.prompt.length + r.lists.chosen.length + r.lists.rejected.length;
        sup += r.lists.chosen.length + r.lists.rejected.length;
      }
    }
    shards.push({ file, ...w, rows: rows.length, tokens, supervised: sup });
    stats.tokens += tokens;
    stats.supervised_tokens += sup;
    rows = [];
  };
  type Pending = {
    id: string;
    source: string;
    messages?: ChatMessage[];
    pair?: { prompt: ChatMessage[]; chosen: string; rejected: string };
  };
  let pending: Pending[] = [];
  const encodePending = async () => {
    if (!pending.length) return;
    if (o.task === 'sft') {
      const enc = await encodeChats(
        tok,
        pending.map((p) => p.messages!),
        system,
      );
      pending.forEach((p, i) => {
        let { tokens, mask } = enc[i];
        if (tokens.length > o.cutoff) {
          tokens = tokens.subarray(0, o.cutoff);
          mask = mask.subarray(0, o.cutoff);
          if (!mask.some((m) => m)) {
            drop('no_supervised_tokens_within_cutoff');
            return;
          }
          stats.truncated++;
        }
        stats.kept++;
        stats.by_source[p.source] = (stats.by_source[p.source] ?? 0) + 1;
        rows.push({ id: p.id, source: p.source, lists: { tokens: tokens.slice(), loss_mask: mask.slice() } });
        if (rows.length >= perShard) flush();
      });
    } else {
      const enc = await encodePreferences(
        tok,
        pending.map((p) => p.pair!),
        system,
      );
      pending.forEach((p, i) => {
        let { prompt, chosen, rejected } = enc[i];
        const longest = prompt.length + Math.max(chosen.length, rejected.length);
        if (longest > o.cutoff) {
          // keep the end of a long prompt (at most half the cutoff), then cut the replies
          const keepPrompt = Math.min(
            prompt.length,
            Math.max(o.cutoff >> 1, o.cutoff - Math.max(chosen.length, rejected.length)),
          );
          prompt = prompt.subarray(prompt.length - keepPrompt);
          chosen = chosen.subarray(0, o.cutoff - keepPrompt);
          rejected = rejected.subarray(0, o.cutoff - keepPrompt);
          if (!chosen.length || !rejected.length) {
            drop('no_reply_within_cutoff');
            return;
          }
          stats.truncated++;
        }
        stats.kept++;
        stats.by_source[p.source] = (stats.by_source[p.source] ?? 0) + 1;
        rows.push({
          id: p.id,
          source: p.source,
          lists: { prompt: prompt.slice(), chosen: chosen.slice(), rejected: rejected.slice() },
        });
        if (rows.length >= perShard) flush();
      });
    }
    pending = [];
  };
  for (const file of o.inputs) {
    for await (const it of readRecords(file, {})) {
      stats.read++;
      const where = `${displayPath(file)}:${it.loc.line}`;
      if (it.kind === 'reject') {
        stats.rejected++;
        rejects.push(JSON.stringify({ file: displayPath(file), line: it.loc.line, error: it.error }));
        continue;
      }
      const rec = it.record;
      const m =
        rec.meta && typeof rec.meta === 'object' && !Array.isArray(rec.meta)
          ? (rec.meta as Record<string, unknown>)
          : {};
      const id = typeof rec.id === 'string' || typeof rec.id === 'number' ? String(rec.id) : where;
      const source = typeof rec.source === 'string' ? rec.source : 'unknown';
      try {
        const keep = mixKeeps(o.mix ?? null, source, id);
        if (keep === 'not_in_mix') {
          drop('not_in_mix');
          continue;
        }
        if (!keep) {
          drop('mix_ratio');
          continue;
        }
        if (o.task === 'sft') {
          const v = m.messages ?? rec.messages;
          if (v === undefined) throw new Error('no "messages" (an SFT record; a preference pair given to --task sft?)');
          pending.push({ id, source, messages: validateMessages(v) });
        } else {
          const pr = m.prompt ?? rec.prompt;
          if (pr === undefined)
            throw new Error('no "prompt"/"chosen"/"rejected" (a preference pair; an SFT record given to --task dpo?)');
          pending.push({
            id,
            source,
            pair: validatePreference(pr, m.chosen ?? rec.chosen, m.rejected ?? rec.rejected),
          });
        }
      } catch (e) {
        stats.rejected++;
        rejects.push(JSON.stringify({ file: displayPath(file), line: it.loc.line, error: (e as Error).message }));
        continue;
      }
      if (pending.length >= 256) await encodePending();
    }
  }
  await encodePending();
  flush();
  if (rejects.length) writeFileAtomic(join(o.outDir, 'rejects.jsonl'), rejects.join('\n') + '\n');
  const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
  if (stats.kept + dropped + stats.rejected !== stats.read)
    throw new Error(
      `accounting: ${stats.read} read but ${stats.kept} kept + ${dropped} dropped + ${stats.rejected} rejected`,
    );
  const manifest: FtManifest = {
    format: o.task === 'sft' ? SFT_FORMAT : DPO_FORMAT,
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
  log(
    `${o.task} data: ${stats.read} records read, ${stats.kept} kept (${stats.truncated} truncated at ${o.cutoff} tokens), ${dropped} dropped${dropped ? ' ' + JSON.stringify(stats.dropped) : ''}, ${stats.rejected} rejected${stats.rejected ? ` (see ${join(o.outDir, 'rejects.jsonl')})` : ''}; ${shards.length} shard(s), ${stats.tokens} tokens, ${stats.supervised_tokens} supervised`,
  );
  return manifest;
}
