import { gzipSync } from 'node:zlib';
import { zstdInitOnce, zstdWasm, type ZstdWasm } from '../readers/zstd.ts';
import { AtomicFile } from './atomic.ts';
import { compressionOf, type Compression } from '../readers/bytes.ts';

export { zstdInitOnce };

export async function zstdCompressChunk(data: Uint8Array, level = 3): Promise<Uint8Array> {
  return (await zstdWasm()).compress(data, level);
}

export interface JsonlWriterOptions {
  /** Default: from the file name (.zst/.gz/none). */
  compression?: Compression;
  /** Uncompressed bytes per independent compressed frame/member (default 1 MiB). */
  chunkBytes?: number;
  /** zstd level (default 3) or gzip level (default 6). */
  level?: number;
}

/**
 * The buffer every JsonlWriter of the process encodes its chunk into (a flush fills it and compresses or copies it
 * before its first await, so writers never see each other's bytes): one per writer was a fresh ~3 MiB for each file.
 */
let scratch = Buffer.allocUnsafe(0);

/**
 * JSONL writer: one JSON value per line; `.zst` output is a series of independent zstd frames of ~1 MiB of lines
 * each (@bokuweb/zstd-wasm), `.gz` a series of gzip members, both readable by standard tools. Atomic: the file
 * appears under its final name only on close().
 */
export class JsonlWriter {
  private readonly file: AtomicFile;
  private readonly comp: Compression;
  private readonly chunkBytes: number;
  /** Pending lines, two strings each (writeLine's json and tail). */
  private parts: string[] = [];
  private partBytes = 0;
  private zstd: ZstdWasm | undefined;
  /** Lines written. */
  count = 0;
  /** Uncompressed bytes written. */
  rawBytes = 0;

  constructor(
    readonly path: string,
    private readonly opts: JsonlWriterOptions = {},
  ) {
    this.file = new AtomicFile(path);
    this.comp = opts.compression ?? compressionOf(path);
    this.chunkBytes = opts.chunkBytes ?? 1 << 20;
  }

  /** Bytes written to disk so far (compressed). */
  get fileBytes(): number {
    return this.file.bytes;
  }

  async write(value: unknown): Promise<void> {
    await this.writeLine(JSON.stringify(value));
  }

  /**
   * One line that is already JSON text (no newline inside): what `write` would write for the value it stands for;
   * `json` and `tail` are written one after the other (a line spliced from a line read and a new ending, without a
   * copy of the two joined). The newline is written by flush as a byte: `json + '\n'` made a cons string that the
   * UTF-8 encoding flattened, a copy of every line (encoding 23 MB of lines: 0.026-0.09 CPU-s with it, 0.013-0.025
   * without).
   */
  async writeLine(json: string, tail = ''): Promise<void> {
    this.parts.push(json, tail);
    // string length is a cheap lower bound of the UTF-8 size; exact size is measured at flush
    this.partBytes += json.length + tail.length + 1;
    this.count++;
    if (this.partBytes >= this.chunkBytes) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.parts.length) return;
    if (this.comp === 'zstd' && !this.zstd) {
      this.zstd = await zstdWasm();
      if (!this.parts.length) return;
    }
    const z = this.zstd;
    // the lines' UTF-8 written one by one into a reused buffer (a line of c UTF-16 units is at most 3c bytes): joining
    // them first made a flat two-byte string of the chunk and encoded that, ~8x the CPU time for Chinese text
    if (scratch.length < this.partBytes * 3) scratch = Buffer.allocUnsafe(this.partBytes * 3);
    const buf = scratch;
    let n = 0;
    const parts = this.parts;
    for (let i = 0; i < parts.length; i += 2) {
      n += buf.write(parts[i]!, n, 'utf8');
      if (parts[i + 1]!.length) n += buf.write(parts[i + 1]!, n, 'utf8');
      buf[n++] = 10;
    }
    const raw = buf.subarray(0, n);
    this.parts = [];
    this.partBytes = 0;
    this.rawBytes += n;
    // compressed (a new array) or copied before the first await: a later flush (of any writer) reuses the buffer
    let out: Uint8Array;
    if (this.comp === 'zstd') out = z!.compress(raw, this.opts.level ?? 3);
    else if (this.comp === 'gzip') out = gzipSync(raw, { level: this.opts.level ?? 6 });
    else out = Buffer.from(raw);
    await this.file.write(out);
  }

  async close(): Promise<void> {
    await this.flush();
    // an empty compressed file is still a valid stream for standard tools (one empty frame / member)
    if (this.file.bytes === 0 && this.comp === 'zstd')
      await this.file.write(await zstdCompressChunk(new Uint8Array(0), this.opts.level ?? 3));
    else if (this.file.bytes === 0 && this.comp === 'gzip') await this.file.write(gzipSync(new Uint8Array(0)));
    await this.file.close();
  }

  async abort(): Promise<void> {
    this.parts = [];
    await this.file.abort();
  }
}

/** A JSONL writer that creates its file only when the first line is written (for rejects / exclusions). */
export class LazyJsonlWriter {
  private w: JsonlWriter | undefined;
  constructor(
    readonly path: string,
    private readonly opts: JsonlWriterOptions = {},
  ) {}
  get count(): number {
    return this.w?.count ?? 0;
  }
  async write(value: unknown): Promise<void> {
    this.w ??= new JsonlWriter(this.path, this.opts);
    await this.w.write(value);
  }
  async close(): Promise<void> {
    await this.w?.close();
  }
  async abort(): Promise<void> {
    await this.w?.abort();
  }
}
