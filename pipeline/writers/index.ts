import type { Document } from '../document.ts';
import type { RecordLocation } from '../corpora/types.ts';
import { displayPath } from '../readers/index.ts';
import { JsonlWriter, LazyJsonlWriter, type JsonlWriterOptions } from './jsonl.ts';
import type { ParquetDocWriter } from './parquet.ts';

export { AtomicFile } from './atomic.ts';
export { JsonlWriter, LazyJsonlWriter, zstdCompressChunk } from './jsonl.ts';
export type { ParquetDocWriter } from './parquet.ts';

/** Parquet document writer (hyparquet-writer, loaded on first use). */
export async function openParquetDocWriter(
  path: string,
  opts?: import('./parquet.ts').ParquetDocWriterOptions,
): Promise<ParquetDocWriter> {
  const m = await import('./parquet.ts');
  return new m.ParquetDocWriter(path, opts);
}

/** Line format of OUT/excluded/: the dropped document with the stage and rule that removed it. */
export interface ExclusionLine {
  stage: string;
  rule: string;
  value?: number | string;
  id: string;
  text: string;
  source: string;
  lang?: string;
  meta: Record<string, unknown>;
}

/** Line format of OUT/rejects/: a malformed record with where it came from and why it was rejected. */
export interface RejectLine {
  file: string;
  line: number;
  error: string;
  /** Stage that rejected it ("read" for decoding/parsing errors, "unify" for adapter errors). */
  stage: string;
  raw?: string;
}

/** Line of OUT/rejects/ for an input file that could not be read to its end (stage "read", `corrupt_file: true`). */
export interface CorruptFileLine {
  corrupt_file: true;
  file: string;
  reader: string;
  /** The (compressed) byte position the reader had reached, when known. */
  offset?: number;
  /** Records read before the damage (those were kept, dropped or rejected as usual). */
  records_read: number;
  error: string;
  stage: 'read';
}

/** Keeps what stages dropped (created only when something is dropped). */
export class ExclusionWriter {
  private readonly w: LazyJsonlWriter;
  constructor(
    readonly path: string,
    opts?: JsonlWriterOptions,
  ) {
    this.w = new LazyJsonlWriter(path, opts);
  }
  get count(): number {
    return this.w.count;
  }
  async write(doc: Document, stage: string, rule: string, value?: number | string): Promise<void> {
    const tail = textLineTail(doc, doc.meta);
    if (tail !== undefined && typeof stage === 'string' && typeof rule === 'string') {
      await this.w.writeText(
        `{"stage":${JSON.stringify(stage)},"rule":${JSON.stringify(rule)}${value !== undefined ? `,"value":${JSON.stringify(value)}` : ''},"id":${JSON.stringify(doc.id)},"text":`,
        doc.text,
        tail,
      );
      return;
    }
    const line: ExclusionLine = {
      stage,
      rule,
      ...(value !== undefined ? { value } : {}),
      id: doc.id,
      text: doc.text,
      source: doc.source,
      ...(doc.lang ? { lang: doc.lang } : {}),
      meta: doc.meta,
    };
    return this.w.write(line);
  }
  close(): Promise<void> {
    return this.w.close();
  }
  abort(): Promise<void> {
    return this.w.abort();
  }
}

/** Keeps malformed records (created only when something is rejected). */
export class RejectsWriter {
  private readonly w: LazyJsonlWriter;
  constructor(
    readonly path: string,
    opts?: JsonlWriterOptions,
  ) {
    this.w = new LazyJsonlWriter(path, opts);
  }
  get count(): number {
    return this.w.count;
  }
  write(loc: RecordLocation, stage: string, error: string, raw?: string): Promise<void> {
    const line: RejectLine = {
      file: displayPath(loc.file),
      line: loc.line,
      error,
      stage,
      ...(raw !== undefined ? { raw } : {}),
    };
    return this.w.write(line);
  }
  /** Record an input file that could not be read to its end. */
  writeCorruptFile(c: Omit<CorruptFileLine, 'corrupt_file' | 'stage'>): Promise<void> {
    const line: CorruptFileLine = {
      corrupt_file: true,
      file: c.file,
      reader: c.reader,
      ...(c.offset !== undefined ? { offset: c.offset } : {}),
      records_read: c.records_read,
      error: c.error,
      stage: 'read',
    };
    return this.w.write(line);
  }
  close(): Promise<void> {
    return this.w.close();
  }
  abort(): Promise<void> {
    return this.w.abort();
  }
}

/** A document writer by file name: .parquet -> Parquet, anything else JSONL (.zst/.gz by suffix). */
export interface DocWriter {
  readonly path: string;
  count: number;
  /** Resolves to the UTF-8 length of the document's text (Buffer.byteLength): the JSONL writer counts it as it writes. */
  write(doc: Document): Promise<number>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** opts.level: the zstd (gzip) level of a JSONL file (JsonlWriterOptions.level). */
export function openDocWriter(path: string, opts: { level?: number } = {}): DocWriter {
  if (/\.parquet$/i.test(path)) {
    let w: Promise<ParquetDocWriter> | undefined;
    const get = () => (w ??= openParquetDocWriter(path));
    let count = 0;
    return {
      path,
      get count() {
        return count;
      },
      set count(_v: number) {},
      write: async (doc: Document) => {
        await (await get()).write(doc);
        count++;
        return Buffer.byteLength(doc.text, 'utf8');
      },
      close: async () => (await get()).close(),
      abort: async () => (await get()).abort(),
    };
  }
  return new JsonlDocWriter(path, new JsonlWriter(path, opts.level !== undefined ? { level: opts.level } : {}));
}

/**
 * A JSONL file of documents. A class, so that `write` is one function for every file: an object literal per writer
 * with its own closures was a new call target at the map task's write loop in every task ("wrong call target"), and
 * TurboFan threw that loop's code away at the second task of a process.
 */
class JsonlDocWriter implements DocWriter {
  constructor(
    readonly path: string,
    private readonly w: JsonlWriter,
  ) {}
  get count(): number {
    return this.w.count;
  }
  set count(_v: number) {}
  write(doc: Document): Promise<number> {
    const w = this.w;
    const tail = textLineTail(doc, doc.meta ?? {});
    return tail !== undefined
      ? w.writeText(`{"id":${JSON.stringify(doc.id)},"text":`, doc.text, tail)
      : w.write(docLine(doc)).then(() => Buffer.byteLength(doc.text, 'utf8'));
  }
  close(): Promise<void> {
    return this.w.close();
  }
  abort(): Promise<void> {
    return this.w.abort();
  }
}

/**
 * What follows a document's text in its line (docLine's, and an exclusion line's after its stage, rule and value):
 * `,"source":…,"lang":…,"meta":…}`, so that the line is `{…,"id":ID,"text":` + JSON.stringify(text) + this, as
 * JSON.stringify writes the object. Undefined when a field is not what a document holds (id, text, source a string,
 * lang a string or empty, meta an object without toJSON or null): that line goes through JSON.stringify of the object.
 */
function textLineTail(doc: Document, meta: unknown): string | undefined {
  const { id, text, source, lang } = doc;
  if (
    typeof id !== 'string' ||
    typeof text !== 'string' ||
    typeof source !== 'string' ||
    (lang && typeof lang !== 'string') ||
    typeof meta !== 'object' ||
    (meta !== null && typeof (meta as { toJSON?: unknown }).toJSON === 'function')
  )
    return undefined;
  return `,"source":${JSON.stringify(source)}${lang ? `,"lang":${JSON.stringify(lang)}` : ''},"meta":${JSON.stringify(meta)}}`;
}

/** The canonical JSONL line of a document: {"id","text","source","lang"?,"meta"}. */
export function docLine(doc: Document): Record<string, unknown> {
  const o: Record<string, unknown> = { id: doc.id, text: doc.text, source: doc.source };
  if (doc.lang) o.lang = doc.lang;
  o.meta = doc.meta ?? {};
  return o;
}

/**
 * Write documents to one file (format by name, as openDocWriter: JSONL, .zst/.gz, Parquet), atomically; fields other
 * than id/text/source/lang/meta are not written.
 */
export async function writeDocs(path: string, docs: Iterable<Partial<Document> & { text: string }>): Promise<number> {
  const w = openDocWriter(path);
  try {
    for (const d of docs) await w.write({ ...d, id: d.id as string, source: d.source as string, meta: d.meta ?? {} });
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return w.count;
}
