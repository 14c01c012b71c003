import { gzipSync } from 'node:zlib';
import { zstdCompress } from '../readers/zstd.ts';
import { AtomicFile } from './atomic.ts';
import { compressionOf, type Compression } from '../readers/bytes.ts';
import { instantiate, type KernelMemory } from '../wasm.ts';

/** `data` as one zstd frame at `level` (default 3). */
export async function zstdCompressChunk(data: Uint8Array, level = 3): Promise<Uint8Array> {
  return zstdCompress(data, level);
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
 * JsonlWriter's line buffers not in use (one per writer open at once, as large as the largest it held): a writer takes
 * one at its first line and gives it back when closed, so the process's writers reuse a few buffers (a fresh ~3 MiB
 * per file was first touched page by page).
 */
const spareBuffers: Buffer[] = [];

/** The exports of json-kernel.wasm (json-kernel.c). */
interface JsonKernel extends KernelMemory {
  je_write(src: number, n: number, dst: number): number;
  je_extra(): number;
  je_lone(): number;
}

/** The process's text kernel (compiled and instantiated at the first jsonString), its memory as a Buffer, its base. */
let kernel: JsonKernel | undefined;
let kernelMem: Buffer = Buffer.alloc(0);
let kernelBase = 0;

/** UTF-16 units that jsonString's last string gained by its escapes (JSON.stringify(s).length - s.length - 2). */
let escapedExtra = 0;
/** Lone surrogates in jsonString's last string (each written as `\udxxx`, 3 bytes of UTF-8 in the text: U+FFFD). */
let escapedLone = 0;

/**
 * The UTF-8 length of the text jsonString last wrote, as Buffer.byteLength counts it (a lone surrogate as U+FFFD, 3
 * bytes), from `written`, the bytes jsonString wrote: the writer's count without another pass over the text.
 */
export function jsonTextBytes(written: number): number {
  return written - 2 - escapedExtra + 2 * escapedLone;
}

/**
 * The UTF-8 bytes of `JSON.stringify(s)` written into `b` at `n` (`b` has room for 6 bytes per code unit + 2); returns
 * the end. The string's UTF-16 units are copied into the kernel's memory (`Buffer.write` as UTF-16LE: a copy, or a
 * widening one for a one-byte string), escaped and encoded there in one pass by json-kernel.wasm (8 units at a time
 * where they are all plain ASCII or all 3-byte, most of the sample's English and Chinese text) and copied into `b`:
 * ~0.3 of the CPU time of the same pass in JavaScript warm, and no TurboFan compile of it. The same escapes as
 * JSON.stringify (ES2019 well-formed): `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other controls as `\u00xx`, a lone
 * surrogate as `\udxxx` (lower-case hex), everything else as itself (U+2028 and U+2029 included).
 */
export function jsonString(s: string, b: Uint8Array, n: number): number {
  const k = (kernel ??= openKernel());
  const len = s.length;
  // the units at base, the output after them (2 bytes a unit in, at most 6 out, the quotes)
  const src = kernelBase;
  const dst = src + ((2 * len + 15) & ~15);
  if (dst + 6 * len + 2 > kernelMem.length) {
    k.memory.grow(Math.ceil((dst + 6 * len + 2 - kernelMem.length) / 65536));
    kernelMem = Buffer.from(k.memory.buffer);
  }
  kernelMem.write(s, src, 'utf16le');
  const end = k.je_write(src, len, dst);
  b.set(kernelMem.subarray(dst, end), n);
  escapedExtra = k.je_extra();
  escapedLone = k.je_lone();
  return n + end - dst;
}

function openKernel(): JsonKernel {
  const k = instantiate<JsonKernel>(new URL('./json-kernel.wasm', import.meta.url));
  kernelBase = (k.__heap_base.value + 15) & ~15;
  kernelMem = Buffer.from(k.memory.buffer);
  return k;
}

/**
 * JSONL writer: one JSON value per line; `.zst` output is a series of independent zstd frames of ~1 MiB of lines
 * each (zstdCompress), `.gz` a series of gzip members, both readable by standard tools. Atomic: the file
 * appears under its final name only on close(). Each line is UTF-8-encoded into the writer's buffer as it is written
 * (the strings die young); a frame ends once its lines reach `chunkBytes` UTF-16 units (newlines counted).
 */
export class JsonlWriter {
  private readonly file: AtomicFile;
  private readonly comp: Compression;
  private readonly chunkBytes: number;
  /** The pending lines' UTF-8 (buf[0, n)); taken from spareBuffers at the first line. */
  private buf: Buffer | undefined;
  private n = 0;
  /** The pending lines' length in UTF-16 units (newlines included): a frame ends when it reaches chunkBytes. */
  private partBytes = 0;
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

  /** The writer's buffer with room for `more` bytes after the pending ones. */
  private room(more: number): Buffer {
    let b = this.buf;
    if (!b) b = this.buf = spareBuffers.pop() ?? Buffer.allocUnsafe(0);
    if (b.length < this.n + more) {
      // a frame's lines take up to 3 bytes per unit: that much at once (pages are touched only as written), then
      // doubling for a frame that ends with a long line
      const want = Math.max(this.n + more, 3 * this.chunkBytes + (64 << 10));
      const g = Buffer.allocUnsafe(Math.max(want, Math.min(2 * b.length, this.n + more + (4 << 20))));
      b.copy(g, 0, 0, this.n);
      b = this.buf = g;
    }
    return b;
  }

  /**
   * One line that is already JSON text (no newline inside): what `write` would write for the value it stands for;
   * `json` and `tail` are written one after the other (a line spliced from a line read and a new ending, without a
   * copy of the two joined), and the newline as a byte.
   */
  async writeLine(json: string, tail = ''): Promise<void> {
    // a UTF-16 unit is at most 3 bytes of UTF-8
    const b = this.room(3 * (json.length + tail.length) + 1);
    let n = this.n;
    n += b.write(json, n, 'utf8');
    if (tail.length) n += b.write(tail, n, 'utf8');
    b[n++] = 10;
    this.n = n;
    this.partBytes += json.length + tail.length + 1;
    this.count++;
    if (this.partBytes >= this.chunkBytes) await this.flush();
  }

  /**
   * The line `head + JSON.stringify(text) + tail` (head and tail JSON text around a string value, no newline inside),
   * the string escaped and encoded in one pass (jsonString). Resolves to the text's UTF-8 length (Buffer.byteLength),
   * counted by that pass.
   */
  async writeText(head: string, text: string, tail: string): Promise<number> {
    // jsonString writes at most 6 bytes per unit (\u00XX) and its quotes
    const b = this.room(3 * (head.length + tail.length) + 6 * text.length + 3);
    let n = this.n;
    n += b.write(head, n, 'utf8');
    const t = n;
    n = jsonString(text, b, n);
    const bytes = jsonTextBytes(n - t);
    n += b.write(tail, n, 'utf8');
    b[n++] = 10;
    this.n = n;
    this.partBytes += head.length + text.length + 2 + escapedExtra + tail.length + 1;
    this.count++;
    if (this.partBytes >= this.chunkBytes) await this.flush();
    return bytes;
  }

  private async flush(): Promise<void> {
    if (!this.n) return;
    const raw = this.buf!.subarray(0, this.n);
    this.n = 0;
    this.partBytes = 0;
    this.rawBytes += raw.length;
    // compressed (a new array) or copied before the first await: the next lines reuse the buffer
    let out: Uint8Array;
    if (this.comp === 'zstd') out = zstdCompress(raw, this.opts.level ?? 3);
    else if (this.comp === 'gzip') out = gzipSync(raw, { level: this.opts.level ?? 6 });
    else out = Buffer.from(raw);
    await this.file.write(out);
  }

  /** Give the buffer back (the writer is done). */
  private release(): void {
    if (this.buf) spareBuffers.push(this.buf);
    this.buf = undefined;
    this.n = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    // an empty compressed file is still a valid stream for standard tools (one empty frame / member)
    if (this.file.bytes === 0 && this.comp === 'zstd')
      await this.file.write(zstdCompress(new Uint8Array(0), this.opts.level ?? 3));
    else if (this.file.bytes === 0 && this.comp === 'gzip') await this.file.write(gzipSync(new Uint8Array(0)));
    this.release();
    await this.file.close();
  }

  async abort(): Promise<void> {
    this.release();
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
  /** JsonlWriter.writeText. */
  writeText(head: string, text: string, tail: string): Promise<number> {
    this.w ??= new JsonlWriter(this.path, this.opts);
    return this.w.writeText(head, text, tail);
  }
  async close(): Promise<void> {
    await this.w?.close();
  }
  async abort(): Promise<void> {
    await this.w?.abort();
  }
}
