/**
 * Checksummed binary record files for dedup intermediates.
 *
 *   header (16 B): magic "STDR", version u32 = 1, width u32 (fixed u32 words per record), flags u32 (bit 0: each record
 *                  is followed by a UTF-8 string: u32 byte length + bytes padded to 4)
 *   body:          records (little-endian u32 words)
 *   footer (24 B): record count u32 lo, u32 hi, body bytes u32 lo, u32 hi, checksum u32 (hash of the body), magic "RDTS"
 *
 * A section file (SectionFileWriter) holds several such record files back to back, then a section table:
 *   table:  per section its start and end byte (u32 lo, u32 hi each), then section count u32, table checksum u32,
 *           magic "STDS"
 * so a producer that makes many small record files (a sorted run per band) commits one file instead of hundreds.
 *
 * Files are written to a temporary name and renamed when complete, so a killed writer never leaves a file under the
 * final name. Readers check size, header, footer and the body checksum; any mismatch raises CorruptIntermediateError
 * naming the file, and the task fails before its own outputs are renamed into place (so nothing built from a bad
 * file is ever committed).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AtomicFileSync } from '../pipeline/fsutil.ts';

const MAGIC = 0x52445453; // "STDR" little-endian bytes S T D R
const FOOT_MAGIC = 0x53544452; // "RDTS"
const SECT_MAGIC = 0x53445453; // "STDS"
const HEADER = 16;
const FOOTER = 24;

export class CorruptIntermediateError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`corrupt or truncated intermediate ${path}: ${reason} (delete it and rerun the step that wrote it)`);
    this.name = 'CorruptIntermediateError';
  }
}

/**
 * Running checksum over u32 words: two independent multiply-rotate lanes folded at the end.
 *
 * The words go in blocks, the lanes stored at each block's start: V8 compiles the inner loop on-stack while the first
 * call is still in it, and code after a loop that has never run has no type feedback. With the stores after one long
 * loop, that optimised code was thrown away at them ~35 times per prep ('Insufficient type feedback'); here they have
 * run before the loop is compiled.
 */
const CHECKSUM_BLOCK = 4096;
class Checksum {
  private h1 = 0x811c9dc5;
  private h2 = 0x2545f491;
  update(words: Uint32Array, n: number): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; ;) {
      this.h1 = h1;
      this.h2 = h2;
      if (i >= n) return;
      const end = Math.min(n, i + CHECKSUM_BLOCK);
      for (; i < end; i++) {
        const w = words[i]!;
        h1 = Math.imul(h1 ^ w, 0x01000193);
        h1 = (h1 << 5) | (h1 >>> 27);
        h2 = Math.imul(h2 + w, 0x9e3779b1);
        h2 ^= h2 >>> 15;
      }
    }
  }
  digest(): number {
    let h = this.h1 ^ Math.imul(this.h2, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
}
// The stores at a block's start had no type feedback even so: V8 allocates a function's feedback vector only after
// its first call has run a while (inside the first loop), so the stores of the first call are not recorded and the
// first call's on-stack compile was still thrown away at them. A few short updates at load record them.
for (let k = 0, c = new Checksum(), w = new Uint32Array(256); k < 3; k++) c.update(w, w.length);

/**
 * The buffers of closed readers and writers, reused by the next ones (at most POOL_WORDS kept, by power-of-two size): a
 * fresh buffer costs a page fault per 4 KiB on its first use, and a prep's MinHash phase opens hundreds of them (a
 * reader per band and run in buckets, a writer per band in signing).
 */
const pool = new Map<number, Uint32Array[]>();
let pooled = 0;
const POOL_WORDS = 4 << 20;

/** A buffer of at least `words` words (a power of two from 4096), from the pool when it has one. */
function takeBuffer(words: number): Uint32Array {
  let size = 4096;
  while (size < words) size *= 2;
  const b = pool.get(size)?.pop();
  if (!b) return new Uint32Array(size);
  pooled -= size;
  return b;
}

/** Hand a buffer from takeBuffer back (once: its holder no longer uses it). */
function giveBuffer(b: Uint32Array): void {
  const size = b.length;
  if (size < 4096 || (size & (size - 1)) !== 0 || pooled + size > POOL_WORDS) return;
  let l = pool.get(size);
  if (!l) pool.set(size, (l = []));
  l.push(b);
  pooled += size;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class RecordWriter {
  private readonly out: AtomicFileSync;
  private readonly section?: SectionFileWriter;
  private readonly buf: Uint32Array;
  /**
   * The buffer's bytes (strings are encoded into it), made with the writer: made at the first string (`??=`), its
   * branch first ran in a later writer's optimised code, which was thrown away there.
   */
  private readonly bytes: Buffer | undefined;
  private n = 0;
  private count = 0;
  private readonly ck = new Checksum();
  // set by the constructor, not by initialisers: V8 takes a field given its value where it is declared and not
  // written since for a constant, and throws away the optimised code that counted on it when it first changes. These
  // change at a process's first close or flush, after the loops that inline write (the map task's write loop, the
  // signer's) were optimised (`--trace-deopt`: "code dependencies"); a field assigned in the constructor is variable
  // from the first writer on.
  private bodyBytes: number;
  private closed: boolean;

  constructor(
    readonly path: string,
    readonly width: number,
    readonly withString = false,
    chunkWords = 1 << 16,
    /** Write this record file as the next section of a section file (closed by it), not as a file of its own. */
    into?: SectionFileWriter,
  ) {
    this.bodyBytes = 0;
    this.closed = false;
    this.section = into;
    this.out = into ? into.begin(this) : new AtomicFileSync(path);
    this.buf = takeBuffer(Math.max(chunkWords, width + 4));
    this.bytes = withString ? Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength) : undefined;
    this.out.write(new Uint32Array([MAGIC, 1, width, withString ? 1 : 0]));
  }

  private flush(): void {
    if (this.n === 0) return;
    this.ck.update(this.buf, this.n);
    this.out.write(this.buf.subarray(0, this.n));
    this.bodyBytes += this.n * 4;
    this.n = 0;
  }

  private word(w: number): void {
    if (this.n === this.buf.length) this.flush();
    this.buf[this.n++] = w;
  }

  /** Append one record of `width` words (and its string when the file has strings). */
  write(words: ArrayLike<number>, offset = 0, str?: string): void {
    if (this.closed) throw new Error(`write after close: ${this.path}`); // its buffer went back to the pool
    if (this.n + this.width > this.buf.length) this.flush();
    for (let i = 0; i < this.width; i++) this.buf[this.n++] = words[offset + i]!;
    if (this.withString) this.string(str ?? '');
    this.count++;
  }

  /**
   * A record's string: its UTF-8 length, then its bytes zero-padded to whole words, encoded straight into the buffer
   * (a string of c UTF-16 units is at most 3c bytes; the encoded bytes, a padded copy and a word view per record were
   * three arrays per document of sig/info). A string longer than the buffer goes through a copy.
   */
  private string(str: string): void {
    const most = Math.ceil((str.length * 3) / 4) + 1;
    if (this.n + most > this.buf.length) this.flush();
    if (most > this.buf.length) {
      const bytes = enc.encode(str);
      this.word(bytes.length);
      const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
      padded.set(bytes);
      const w = new Uint32Array(padded.buffer);
      for (let i = 0; i < w.length; i++) this.word(w[i]!);
      return;
    }
    const b8 = this.bytes!;
    const at = (this.n + 1) * 4;
    let end = at + b8.write(str, at, 'utf8');
    this.buf[this.n] = end - at;
    while (end & 3) b8[end++] = 0;
    this.n = end >>> 2;
  }

  /**
   * Append many fixed-width records (no strings) from a typed array, copied in blocks (a chunk may end inside a record:
   * the file and its checksum are the same words in the same order).
   */
  writeMany(words: Uint32Array, nRecords: number, offset = 0): void {
    if (this.withString) throw new Error('writeMany: file has strings');
    if (this.closed) throw new Error(`write after close: ${this.path}`);
    const end = offset + nRecords * this.width;
    for (let at = offset; at < end;) {
      if (this.n === this.buf.length) this.flush();
      const k = Math.min(end - at, this.buf.length - this.n);
      this.buf.set(words.subarray(at, at + k), this.n);
      this.n += k;
      at += k;
    }
    this.count += nRecords;
  }

  get records(): number {
    return this.count;
  }

  /** Write the footer, fsync, and rename to the final name. */
  close(): void {
    if (this.closed) return;
    this.flush();
    const foot = new Uint32Array([
      this.count >>> 0,
      Math.floor(this.count / 2 ** 32),
      this.bodyBytes >>> 0,
      Math.floor(this.bodyBytes / 2 ** 32),
      this.ck.digest(),
      FOOT_MAGIC,
    ]);
    this.out.write(foot);
    if (this.section) this.section.end(this);
    else this.out.commit();
    this.closed = true;
    giveBuffer(this.buf);
  }

  /** Abandon the file (temp removed; a section abandons its whole section file). */
  abort(): void {
    if (this.closed) return;
    if (this.section) this.section.abort();
    else this.out.abort();
    this.closed = true;
    giveBuffer(this.buf);
  }
}

/**
 * Several record files in one file (see the top of this file): `new RecordWriter(path, width, str, chunk, sf)` writes
 * the next section (one open at a time); close() writes the section table, fsyncs and renames the file into place.
 * Read a section with `new RecordReader(path, chunk, sectionRange(path, i))`.
 */
export class SectionFileWriter {
  private readonly out: AtomicFileSync;
  private readonly table: number[] = [];
  private current?: RecordWriter;
  private start = 0;
  private done = false;
  constructor(readonly path: string) {
    this.out = new AtomicFileSync(path);
  }
  /** @internal RecordWriter's start of a section. */
  begin(w: RecordWriter): AtomicFileSync {
    if (this.done) throw new Error(`section after close: ${this.path}`);
    if (this.current) throw new Error(`${this.path}: a section is already open`);
    this.current = w;
    this.start = this.out.bytes;
    return this.out;
  }
  /** @internal RecordWriter's end of a section. */
  end(w: RecordWriter): void {
    if (this.current !== w) throw new Error(`${this.path}: not the open section`);
    this.current = undefined;
    this.table.push(this.start, this.out.bytes);
  }
  get sections(): number {
    return this.table.length / 2;
  }
  close(): void {
    if (this.done) return;
    if (this.current) throw new Error(`${this.path}: a section is still open`);
    const n = this.table.length / 2;
    const t = new Uint32Array(n * 4 + 3);
    for (let i = 0; i < this.table.length; i++) {
      t[2 * i] = this.table[i]! >>> 0;
      t[2 * i + 1] = Math.floor(this.table[i]! / 2 ** 32);
    }
    t[n * 4] = n;
    const ck = new Checksum();
    ck.update(t, n * 4 + 1);
    t[n * 4 + 1] = ck.digest();
    t[n * 4 + 2] = SECT_MAGIC;
    this.out.write(t);
    this.out.commit();
    this.done = true;
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.out.abort();
  }
}

/** Byte range of section `i` of a section file (its table checked). */
export function sectionRange(path: string, i: number): { start: number; end: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const tail = new Uint32Array(3);
    if (size < 12) throw new CorruptIntermediateError(path, `file is ${size} bytes, too short for a section table`);
    readSync(fd, tail, 0, 12, size - 12);
    if (tail[2] !== SECT_MAGIC) throw new CorruptIntermediateError(path, 'bad section table magic (truncated?)');
    const n = tail[0]!;
    const tableBytes = n * 16 + 12;
    if (tableBytes > size)
      throw new CorruptIntermediateError(path, `section table of ${n} sections exceeds the file size`);
    const t = new Uint32Array(n * 4 + 1);
    readSync(fd, t, 0, n * 16 + 4, size - tableBytes);
    const ck = new Checksum();
    ck.update(t, n * 4 + 1);
    if (ck.digest() !== tail[1]) throw new CorruptIntermediateError(path, 'section table checksum mismatch');
    if (i < 0 || i >= n) throw new CorruptIntermediateError(path, `no section ${i} (${n} sections)`);
    const start = t[4 * i]! + t[4 * i + 1]! * 2 ** 32;
    const end = t[4 * i + 2]! + t[4 * i + 3]! * 2 ** 32;
    if (start > end || end > size - tableBytes) throw new CorruptIntermediateError(path, `section ${i} out of bounds`);
    return { start, end };
  } finally {
    closeSync(fd);
  }
}

interface Meta {
  width: number;
  withString: boolean;
  count: number;
  bodyBytes: number;
  checksum: number;
}

/** A record file's byte range [start, end) in its file: all of it, or one section of a section file. */
export interface ByteRange {
  start: number;
  end: number;
}

function readMeta(fd: number, path: string, range?: ByteRange): Meta {
  const base = range?.start ?? 0;
  const size = range ? range.end - range.start : fstatSync(fd).size;
  if (size < HEADER + FOOTER)
    throw new CorruptIntermediateError(path, `file is ${size} bytes, shorter than header + footer`);
  const h = new Uint32Array(4);
  readSync(fd, h, 0, HEADER, base);
  if (h[0] !== MAGIC) throw new CorruptIntermediateError(path, 'bad header magic');
  if (h[1] !== 1) throw new CorruptIntermediateError(path, `unknown version ${h[1]}`);
  const f = new Uint32Array(6);
  readSync(fd, f, 0, FOOTER, base + size - FOOTER);
  if (f[5] !== FOOT_MAGIC) throw new CorruptIntermediateError(path, 'bad footer magic (truncated?)');
  const count = f[0]! + f[1]! * 2 ** 32;
  const bodyBytes = f[2]! + f[3]! * 2 ** 32;
  if (HEADER + bodyBytes + FOOTER !== size)
    throw new CorruptIntermediateError(path, `size ${size} does not match footer body length ${bodyBytes}`);
  const width = h[2]!;
  const withString = (h[3]! & 1) === 1;
  if (!withString && bodyBytes !== count * width * 4)
    throw new CorruptIntermediateError(
      path,
      `record count ${count} × width ${width} does not match body length ${bodyBytes}`,
    );
  return { width, withString, count, bodyBytes, checksum: f[4]! };
}

/** Read a whole fixed-width file (verified) into memory. */
export function readAllRecords(path: string): { width: number; count: number; words: Uint32Array } {
  const fd = openSync(path, 'r');
  try {
    const m = readMeta(fd, path);
    if (m.withString) throw new CorruptIntermediateError(path, 'expected a fixed-width file');
    const words = new Uint32Array(m.bodyBytes / 4);
    let off = 0;
    while (off < m.bodyBytes) {
      const got = readSync(fd, words, off, m.bodyBytes - off, HEADER + off);
      if (got <= 0) throw new CorruptIntermediateError(path, 'short read');
      off += got;
    }
    const ck = new Checksum();
    ck.update(words, words.length);
    if (ck.digest() !== m.checksum) throw new CorruptIntermediateError(path, 'checksum mismatch');
    return { width: m.width, count: m.count, words };
  } finally {
    closeSync(fd);
  }
}

/** Records of a file in the order written; the checksum is verified at the end (error thrown before the last yield returns). */
export class RecordReader {
  private fd: number;
  readonly width: number;
  readonly withString: boolean;
  readonly count: number;
  private readonly meta: Meta;
  private buf: Uint32Array;
  private pos = 0; // word index in buf
  private len = 0; // words in buf
  private fileOff: number;
  private readonly end: number;
  private readonly ck = new Checksum();
  private readRecords = 0;
  /** Current record's words (valid until next()). */
  readonly rec: Uint32Array;
  str = '';

  constructor(
    readonly path: string,
    chunkBytes = 1 << 18,
    /** Read this range of the file (a section: sectionRange) instead of the whole file. */
    range?: ByteRange,
  ) {
    this.fd = openSync(path, 'r');
    try {
      this.meta = readMeta(this.fd, path, range);
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
    this.width = this.meta.width;
    this.withString = this.meta.withString;
    this.count = this.meta.count;
    this.fileOff = (range?.start ?? 0) + HEADER;
    this.end = this.fileOff + this.meta.bodyBytes;
    this.buf = takeBuffer(Math.max(chunkBytes / 4, this.width * 4));
    this.rec = new Uint32Array(this.width);
  }

  private fill(need: number): void {
    // keep the unread tail, then read more
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.len);
      this.len -= this.pos;
      this.pos = 0;
    }
    if (need > this.buf.length) {
      const b = new Uint32Array(need * 2);
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
    }
    while (this.len < need) {
      const want = Math.min((this.buf.length - this.len) * 4, this.end - this.fileOff);
      if (want <= 0) throw new CorruptIntermediateError(this.path, 'body ends inside a record');
      const got = readSync(this.fd, this.buf, this.len * 4, want, this.fileOff);
      if (got <= 0 || got % 4 !== 0) throw new CorruptIntermediateError(this.path, 'short read');
      this.ck.update(this.buf.subarray(this.len, this.len + got / 4), got / 4);
      this.fileOff += got;
      this.len += got / 4;
    }
  }

  /** Advance to the next record; false at the end (after verifying the checksum). */
  next(): boolean {
    if (this.readRecords === this.count) {
      this.finish();
      return false;
    }
    if (this.len - this.pos < this.width + (this.withString ? 1 : 0)) this.fill(this.width + (this.withString ? 1 : 0));
    for (let i = 0; i < this.width; i++) this.rec[i] = this.buf[this.pos + i]!;
    this.pos += this.width;
    if (this.withString) {
      const nb = this.buf[this.pos]!;
      const nw = Math.ceil(nb / 4);
      if (nb > this.meta.bodyBytes) throw new CorruptIntermediateError(this.path, 'bad string length');
      if (this.len - this.pos < 1 + nw) this.fill(1 + nw);
      const start = this.pos + 1;
      this.str = dec.decode(new Uint8Array(this.buf.buffer, this.buf.byteOffset + start * 4, nb));
      this.pos = start + nw;
    }
    this.readRecords++;
    return true;
  }

  /**
   * Fixed-width files only: the next run of whole records as a view (valid until the next call), or null at the end
   * (after verifying the checksum). Do not mix with next().
   */
  nextChunk(): Uint32Array | null {
    if (this.withString) throw new Error('nextChunk: file has strings');
    if (this.readRecords === this.count) {
      this.finish();
      return null;
    }
    if (this.len - this.pos < this.width) this.fill(this.width);
    const n = Math.min(Math.floor((this.len - this.pos) / this.width), this.count - this.readRecords);
    const view = this.buf.subarray(this.pos, this.pos + n * this.width);
    this.pos += n * this.width;
    this.readRecords += n;
    return view;
  }

  private done = false;
  private finish(): void {
    if (this.done) return;
    this.done = true;
    // nothing is read after this: the buffer goes back (a nextChunk view was valid until this call)
    giveBuffer(this.buf);
    if (this.fileOff !== this.end || this.pos !== this.len) {
      // consume the remainder for the checksum (should be nothing)
      closeSync(this.fd);
      throw new CorruptIntermediateError(this.path, 'data after the last record');
    }
    closeSync(this.fd);
    if (this.ck.digest() !== this.meta.checksum) throw new CorruptIntermediateError(this.path, 'checksum mismatch');
  }

  close(): void {
    if (!this.done) {
      this.done = true;
      giveBuffer(this.buf);
      try {
        closeSync(this.fd);
      } catch {
        /* ignore */
      }
    }
  }
}

/** Verify a file (or a section of one) completely (size, header, footer, checksum) without keeping it. */
export function verifyRecordFile(path: string, range?: ByteRange): { count: number; width: number } {
  const r = new RecordReader(path, 1 << 18, range);
  while (r.next()) {
    /* read through */
  }
  return { count: r.count, width: r.width };
}

/**
 * Random access to the records of a fixed-width file: size, header and footer are checked on open; ranges are read
 * without the whole-file checksum, so callers store their own check per range (see dedup/stages/verify.ts).
 */
export class RecordRanges {
  private readonly fd: number;
  readonly count: number;
  readonly width: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const m = readMeta(this.fd, path);
      if (m.withString) throw new CorruptIntermediateError(path, 'expected a fixed-width file');
      this.count = m.count;
      this.width = m.width;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }
  /** Words [start, start + n) of the body into `into` (which must hold n words). */
  read(start: number, n: number, into: Uint32Array): Uint32Array {
    if (start + n > this.count * this.width)
      throw new CorruptIntermediateError(this.path, `range ${start}+${n} past the end of the body`);
    const bytes = n * 4;
    let off = 0;
    while (off < bytes) {
      const got = readSync(this.fd, into, off, bytes - off, HEADER + start * 4 + off);
      if (got <= 0) throw new CorruptIntermediateError(this.path, 'short read');
      off += got;
    }
    return into.subarray(0, n);
  }
  close(): void {
    closeSync(this.fd);
  }
}
