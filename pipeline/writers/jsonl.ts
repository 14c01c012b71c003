import { gzipSync } from 'node:zlib';
import { zstdCompress } from '../readers/zstd.ts';
import { AtomicFile } from './atomic.ts';
import { compressionOf, type Compression } from '../readers/bytes.ts';

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

/** JSON's escape of an ASCII code unit: 0 for none, else the character after the backslash (`u`: `\u00XX`). */
const ESCAPE = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 0x75;
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[0x5c] = 0x5c; // \\
const HEX = new Uint8Array([...'0123456789abcdef'].map((c) => c.charCodeAt(0)));

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
 * the end. One pass over the string, where JSON.stringify made an escaped copy (a two-byte string for Chinese) that
 * the UTF-8 encoding read again: about half the CPU time for the sample's texts. The same escapes as JSON.stringify
 * (ES2019 well-formed): `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other controls as `\u00xx`, a lone surrogate as `\udxxx`
 * (lower-case hex), everything else as itself (U+2028 and U+2029 included).
 */
export function jsonString(s: string, b: Uint8Array, n: number): number {
  let extra = 0;
  let lone = 0;
  b[n++] = 0x22;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      const e = ESCAPE[c]!;
      if (e === 0) b[n++] = c;
      else if (e !== 0x75) {
        b[n++] = 0x5c;
        b[n++] = e;
        extra += 1;
      } else {
        b[n++] = 0x5c;
        b[n++] = 0x75;
        b[n++] = 0x30;
        b[n++] = 0x30;
        b[n++] = HEX[c >> 4]!;
        b[n++] = HEX[c & 15]!;
        extra += 5;
      }
    } else if (c < 0x800) {
      b[n++] = 0xc0 | (c >> 6);
      b[n++] = 0x80 | (c & 63);
    } else if (c < 0xd800 || c > 0xdfff) {
      b[n++] = 0xe0 | (c >> 12);
      b[n++] = 0x80 | ((c >> 6) & 63);
      b[n++] = 0x80 | (c & 63);
    } else {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        b[n++] = 0xf0 | (c >> 18);
        b[n++] = 0x80 | ((c >> 12) & 63);
        b[n++] = 0x80 | ((c >> 6) & 63);
        b[n++] = 0x80 | (c & 63);
      } else {
        b[n++] = 0x5c;
        b[n++] = 0x75;
        b[n++] = HEX[c >> 12]!;
        b[n++] = HEX[(c >> 8) & 15]!;
        b[n++] = HEX[(c >> 4) & 15]!;
        b[n++] = HEX[c & 15]!;
        extra += 5;
        lone++;
      }
    }
  }
  b[n++] = 0x22;
  escapedExtra = extra;
  escapedLone = lone;
  return n;
}
/**
 * Feedback before the first compile: each kind of code unit (ASCII, escaped, 2-byte, 3-byte, a pair, a lone surrogate)
 * written here at load, after calls of ASCII only (V8 records nothing during a function's first calls); a first
 * "é" or emoji after the compile threw jsonString's code away, and with it the writer's that inlines it.
 */
function primeJsonString(): void {
  const b = Buffer.allocUnsafe(1024); // a Buffer, as the writer's (a Uint8Array is another map)
  for (let k = 0; k < 24; k++)
    jsonString(k < 16 ? 'plain ascii words' : 'a"\\\n\u0001 é中😊\ud800x\udc00'.repeat(k - 15), b, 0);
}
primeJsonString();

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
