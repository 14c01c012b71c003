import { basename, relative, isAbsolute } from 'node:path';
import type { Document } from '../document.ts';
import { stripCompression } from './bytes.ts';
import { readJsonl, readLines } from './jsonl.ts';
import { readText } from './text.ts';
import {
  failing,
  InvalidUtf8,
  type InputFormat,
  type ReadItem,
  type ReadOptions,
  type RecordLocation,
} from './types.ts';

export { expandInput, expandBraces, walkFiles, hasGlob, globToRegExp, makeMatcher } from './glob.ts';
export { readJsonl, readLines } from './jsonl.ts';
export { InvalidUtf8 } from './types.ts';

/** Parquet reader (hyparquet, loaded on first use). */
export async function* readParquet(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const m = await import('./parquet.ts');
  yield* m.readParquet(file, opts);
}

/** Arrow IPC reader (apache-arrow, loaded on first use). */
export async function* readArrow(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const m = await import('./arrow.ts');
  yield* m.readArrow(file, opts);
}
export { readText } from './text.ts';
export { openBytes, compressionOf, stripCompression } from './bytes.ts';
export type { ReadItem, ReadOptions, InputFormat, RecordLocation } from './types.ts';

/** Format from the file name (compression suffixes ignored); anything unknown is plain text. */
export function detectFormat(file: string): InputFormat {
  const f = stripCompression(file).toLowerCase();
  if (/\.(jsonl|ndjson|json)$/.test(f)) return 'jsonl';
  if (/\.(parquet|pq)$/.test(f)) return 'parquet';
  if (/\.(arrow|arrows|ipc|feather)$/.test(f)) return 'arrow';
  return 'text';
}

/**
 * A file that could not be read to its end: truncated or corrupt compression, a damaged Parquet page or Arrow
 * batch, an I/O error. The records before the damage were produced. `corrupt` is false for errors of the system
 * (missing file, permission, I/O), which a run does not skip; `offset` is the (compressed) byte position the reader
 * had reached, when known.
 */
export class InputFileError extends Error {
  constructor(
    readonly reader: string,
    readonly file: string,
    readonly reason: string,
    readonly offset: number | undefined,
    readonly corrupt: boolean,
  ) {
    super(`${reader} reader: ${displayPath(file)}${offset !== undefined ? ` (near byte ${offset})` : ''}: ${reason}`);
    this.name = 'InputFileError';
  }

  /** The file as rejects/ and the stats record it, `recordsRead` records having been read before the damage. */
  corruptFile(recordsRead: number): CorruptFile {
    return {
      file: displayPath(this.file),
      path: this.file,
      reader: this.reader,
      ...(this.offset !== undefined ? { offset: this.offset } : {}),
      records_read: recordsRead,
      error: this.reason,
    };
  }

  /** The log line of a corrupt file whose records before the damage were kept. */
  keptNote(recordsRead: number): string {
    return `${this.message}: kept the ${recordsRead} record(s) before it; recorded in rejects/ (--strict stops instead)`;
  }
}

/** An input file that could not be read to its end (truncated or corrupt): the records before the damage were kept. */
export interface CorruptFile {
  /** As shown in messages (relative to the working folder when inside it). */
  file: string;
  /** Absolute path (what a rerun compares). */
  path: string;
  reader: string;
  /** The (compressed) byte position the reader had reached, when known. */
  offset?: number;
  /** Records read from the file before the damage (kept, dropped or rejected like any other). */
  records_read: number;
  error: string;
}

export interface ReadRecordsOptions extends ReadOptions {
  /**
   * A file that turns out truncated or corrupt (not an error of the system: missing file, permission, I/O) ends the
   * stream after this is called, instead of throwing: the records before the damage were produced. Left out (what
   * --strict does), the InputFileError is thrown.
   */
  onCorrupt?: (e: InputFileError, recordsRead: number) => void;
}

function readerFor(format: InputFormat, file: string, opts: ReadOptions): AsyncGenerator<ReadItem> {
  switch (format) {
    case 'jsonl':
      return readJsonl(file, opts);
    case 'parquet':
      return readParquet(file, opts);
    case 'arrow':
      return readArrow(file, opts);
    case 'text':
      return readText(file, opts);
    default:
      throw new Error(`unknown input format "${format as string}" for ${file}`);
  }
}

/**
 * Stream the raw records of one file (format from options or file name). Any error while reading is an
 * InputFileError naming the reader and the file once (readers' own "FILE: " prefixes are dropped). A plain function
 * that hands the readers options of one layout (readerOptions), whatever the caller's (an object spread from a
 * config with callbacks added, of a layout per caller): the readers' optimised code was thrown away at each new
 * layout ("wrong map"), in the dedup stages at every file.
 */
export function readRecords(file: string, opts: ReadRecordsOptions = {}): AsyncGenerator<ReadItem> {
  const format = opts.format ?? detectFormat(file);
  const progress = { offset: undefined as number | undefined, base: opts.slice?.offset ?? 0, onBytes: opts.onBytes };
  const ropts = readerOptions(format, opts, (done, total) => {
    progress.offset = progress.base + done;
    progress.onBytes?.(done, total);
  });
  let it: AsyncGenerator<ReadItem>;
  try {
    if (opts.encoding) checkEncoding(file, opts.encoding);
    it = readerFor(format, file, ropts);
  } catch (e) {
    return failing(e);
  }
  return recordItems(file, format, it, progress, opts.onCorrupt);
}

/** The options a reader gets: every field, in one order. */
function readerOptions(
  format: InputFormat,
  opts: ReadOptions,
  onBytes: (done: number, total: number) => void,
): ReadOptions {
  return {
    format,
    encoding: opts.encoding,
    columns: opts.columns,
    onBytes,
    textField: opts.textField,
    slice: opts.slice,
  };
}

/**
 * readRecords' loop: the reader's items, its errors as InputFileErrors (`progress.offset`: where it had got to).
 * Nothing is done before the loop: code there runs once per file, the first time before V8 gives the function a
 * feedback vector, and the loop's optimised code was thrown away at the second file for want of that feedback.
 */
async function* recordItems(
  file: string,
  format: InputFormat,
  it: AsyncGenerator<ReadItem>,
  progress: { offset: number | undefined },
  onCorrupt: ReadRecordsOptions['onCorrupt'],
): AsyncGenerator<ReadItem> {
  // the reader is closed (its file, its buffers) when this generator is closed before the reader's end: a consumer
  // that stops early
  let ended = false;
  try {
    for (let read = 0; ; read++) {
      let r: IteratorResult<ReadItem>;
      try {
        r = await it.next();
      } catch (e) {
        ended = true;
        const fe = e instanceof InputFileError ? e : inputFileError(e, format, file, progress.offset);
        if (!fe.corrupt || !onCorrupt) throw fe;
        onCorrupt(fe, read);
        return;
      }
      if (r.done) {
        ended = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!ended) await it.return(undefined);
  }
}

/** An error naming the file for an encoding TextDecoder does not know. */
function checkEncoding(file: string, encoding: string): void {
  try {
    new TextDecoder(encoding);
  } catch {
    throw new Error(`unknown encoding "${encoding}" (reading ${displayPath(file)})`);
  }
}

/** A reader's error as an InputFileError naming the reader and the file once (its own "FILE: " prefix dropped). */
function inputFileError(e: unknown, format: InputFormat, file: string, offset: number | undefined): InputFileError {
  const err = e as NodeJS.ErrnoException;
  let reason = err?.message ?? String(e);
  for (const prefix of [`${file}: `, `${displayPath(file)}: `])
    if (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
  const system = typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code);
  return new InputFileError(format, file, reason, offset, !system);
}

/** A path for ids and messages: relative to the working folder when inside it. */
export function displayPath(file: string): string {
  const r = relative(process.cwd(), file);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : file;
}

/** Make a value JSON-safe (bigint, Date, bytes, nested). */
export function jsonSafe(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return v ?? null;
  switch (typeof v) {
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'string':
    case 'boolean':
      return v;
    case 'object':
      if (v instanceof Date) return isNaN(v.getTime()) ? null : v.toISOString();
      if (v instanceof InvalidUtf8) return v.lossy;
      if (ArrayBuffer.isView(v)) {
        if (v instanceof Uint8Array) return { $bytes: v.length };
        return depth > 8 ? null : Array.from(v as unknown as ArrayLike<unknown>, (x) => jsonSafe(x, depth + 1));
      }
      if (depth > 8) return null;
      if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
      {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v as object)) if (x !== undefined) o[k] = jsonSafe(x, depth + 1);
        return o;
      }
    default:
      return String(v);
  }
}

/**
 * Whether `v` is already what jsonSafe would make of it (JSON.parse's values: null, strings, booleans, finite numbers,
 * arrays and plain objects, containers at most 8 deep): a record read from JSON then keeps its objects instead of a
 * deep copy of them (the meta of the pipeline's own documents: 0.017 -> 0.007 CPU-s per 5,693 documents warm,
 * 0.17 -> 0.01 on the first read of a process).
 */
function isJsonSafe(v: unknown, depth: number): boolean {
  if (v === null) return true;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      break;
    default:
      return false;
  }
  if (depth > 8) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isJsonSafe(v[i], depth + 1)) return false;
    return true;
  }
  // jsonSafe copies own entries into a new object: a "__proto__" key would not survive the copy
  if (Object.getPrototypeOf(v) !== Object.prototype || Object.hasOwn(v as object, '__proto__')) return false;
  for (const k in v as Record<string, unknown>)
    if (!isJsonSafe((v as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}

/** jsonSafe(v), or v itself when it is already JSON-safe (a record the caller owns, as every reader's are). */
function ownJsonSafe(v: unknown): unknown {
  return isJsonSafe(v, 0) ? v : jsonSafe(v);
}

export interface ToDocumentOptions {
  textField?: string;
  idField?: string;
  /** Source name when the record has no string `source` (default: the file name without extensions). */
  source?: string;
  /** false: leave `meta` empty, for readers that use only id, text, source and lang (tokenization). Default true. */
  meta?: boolean;
}

/** Strip every extension: "a/wiki.part1.jsonl.zst" -> "wiki.part1". */
export function fileStem(file: string): string {
  return basename(stripCompression(file)).replace(/\.[^.]+$/, '');
}

/**
 * Generic conversion of a raw record to a Document (used when the input names no corpus): text from `textField`
 * (default "text"); id from `idField` (default "id") or derived from file and line; `source`, `lang` and `meta`
 * taken when present (so the pipeline's own output reads back unchanged); every other field goes to meta.
 * Throws an Error for a missing, non-string or undecodable text.
 */
export function recordToDocument(
  rec: Record<string, unknown>,
  loc: RecordLocation,
  opts: ToDocumentOptions = {},
): Document {
  const tf = opts.textField ?? 'text';
  const idf = opts.idField ?? 'id';
  const t = rec[tf];
  if (t === undefined || t === null) throw new Error(`missing text field "${tf}"`);
  if (t instanceof InvalidUtf8) throw new Error(`invalid UTF-8 in text field "${tf}"`);
  if (typeof t !== 'string')
    throw new Error(`text field "${tf}" is not a string (got ${Array.isArray(t) ? 'array' : typeof t})`);
  const rawId = rec[idf];
  const id =
    typeof rawId === 'string' && rawId !== ''
      ? rawId
      : typeof rawId === 'number' || typeof rawId === 'bigint'
        ? String(rawId)
        : `${displayPath(loc.file)}:${loc.line}`;
  const source = typeof rec.source === 'string' && rec.source ? rec.source : (opts.source ?? fileStem(loc.file));
  const meta: Record<string, unknown> =
    opts.meta !== false && rec.meta && typeof rec.meta === 'object' && !Array.isArray(rec.meta)
      ? (ownJsonSafe(rec.meta) as Record<string, unknown>)
      : {};
  if (opts.meta !== false)
    for (const [k, v] of Object.entries(rec)) {
      if (k === tf || k === idf || k === 'source' || k === 'lang' || k === 'meta' || v === undefined) continue;
      meta[k] = ownJsonSafe(v);
    }
  const doc: Document = { id, text: t, source, meta };
  if (typeof rec.lang === 'string' && rec.lang) doc.lang = rec.lang;
  return doc;
}

/** A document read from a file with its 1-based line (or element) number. */
export interface DocItem {
  doc: Document;
  line: number;
  /** JSONL: the line's JSON text, as read (the dedup filter splices it instead of serialising the document again). */
  json?: string;
}

/** A record of a document file that could not be read as a document. */
export interface DocReject {
  file: string;
  line: number;
  error: string;
}

export interface ReadDocumentsOptions extends ReadRecordsOptions, ToDocumentOptions {
  /** Called for each malformed record (which is then skipped); when absent, the first one throws naming file and line. */
  onReject?: (r: DocReject) => void;
}

/**
 * The documents of one file, whatever its format (JSONL / JSON / Parquet / Arrow / text, plain or .gz / .zst;
 * see detectFormat), through the generic record -> Document conversion: every area (prep, dedup, tokenizer) reads
 * document files through this one function, so a file reads the same everywhere. A plain function: the conversion
 * gets options of one layout (toDocumentOptions), whatever the caller's.
 */
export function readDocuments(file: string, opts: ReadDocumentsOptions = {}): AsyncGenerator<DocItem> {
  return docItems(file, readRecords(file, opts), toDocumentOptions(opts), opts.onReject);
}

/**
 * The conversion's options with every field, in one order: recordToDocument is shared by the map's unify stage and
 * every document reader, and was thrown away at each new layout of its options ("wrong map").
 */
export function toDocumentOptions(o: ToDocumentOptions): ToDocumentOptions {
  return { textField: o.textField, idField: o.idField, source: o.source, meta: o.meta };
}

/** readDocuments' loop: each record converted, or rejected (to `onReject`, else thrown naming file and line). */
async function* docItems(
  file: string,
  records: AsyncGenerator<ReadItem>,
  tdo: ToDocumentOptions,
  onReject: ((r: DocReject) => void) | undefined,
): AsyncGenerator<DocItem> {
  // the records taken by next() in the loop (a for-await loop gets their iterator before it, once per file)
  let done = false;
  try {
    for (;;) {
      const r = await records.next();
      if (r.done) break;
      const it = r.value;
      if (it.kind === 'reject') {
        docReject(file, it.loc.line, it.error, onReject);
        continue;
      }
      let doc: Document;
      try {
        doc = recordToDocument(it.record, it.loc, tdo);
      } catch (e) {
        docReject(file, it.loc.line, (e as Error).message, onReject);
        continue;
      }
      yield { doc, line: it.loc.line, json: it.json };
    }
    done = true;
  } finally {
    if (!done) await records.return(undefined);
  }
}

/** A record that is not a document: to `onReject`, or thrown naming file and line. */
function docReject(file: string, line: number, error: string, onReject: ((r: DocReject) => void) | undefined): void {
  if (!onReject) throw new Error(`${displayPath(file)}:${line}: ${error}`);
  onReject({ file, line, error });
}

/**
 * The lines of a (possibly compressed) text file with 1-based numbers; a line not valid in the encoding throws an
 * error naming file and line (readLines reports it instead, for callers that keep going).
 */
export async function* readTextLines(
  file: string,
  opts: ReadOptions = {},
): AsyncGenerator<{ line: number; text: string }> {
  for await (const l of readLines(file, opts)) {
    if (l.error !== undefined) throw new Error(`${displayPath(file)}:${l.line}: ${l.error}`);
    yield { line: l.line, text: l.text! };
  }
}
