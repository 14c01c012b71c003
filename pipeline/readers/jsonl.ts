import { isAscii, isUtf8, transcode } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { openBytes, openSlice, sliceChanged, stripCompression } from './bytes.ts';
import { failing, preview, type FileSlice, type ReadItem, type ReadOptions } from './types.ts';

export interface Line {
  /** 1-based line number. */
  line: number;
  text?: string;
  /** Set when the line's bytes are not valid in the declared encoding. */
  error?: string;
  /** Lossy decoding of an undecodable line (for the rejects file). */
  raw?: string;
}

const NL = 10;

/**
 * The end of the piece of `block` (whole lines) that starts at `start`: at most SUB_BLOCK bytes, or one longer line.
 * readLines decodes a chunk piece by piece, each when its lines are wanted: a chunk (a 1 MiB zstd frame) decoded at
 * once was one string of up to 2 MiB, which V8 puts in a fresh mapping of its large-object space (first touched
 * page by page, unmapped at the next GC), and all pieces decoded at once are copied by the scavenger as they outlive
 * the young generation; a piece's string is a young-generation object that dies young.
 */
function pieceEnd(block: Uint8Array, start: number): number {
  if (block.length - start <= SUB_BLOCK) return block.length;
  const end = block.lastIndexOf(NL, start + SUB_BLOCK - 1) + 1;
  return end > start ? end : block.indexOf(NL, start + SUB_BLOCK) + 1 || block.length;
}

/**
 * Bytes of UTF-8 decoded at once: at most 2 bytes of string each, under V8's largest young-generation object
 * (kMaxRegularHeapObjectSize, 128 KiB).
 */
const SUB_BLOCK = 60 << 10;

const NO_BYTES = new Uint8Array(0);

/**
 * One file's lines as they are cut from its chunks of bytes: `feed` takes the next chunk (undefined: the stream's
 * end), then `piece` gives the lines of its next piece until it returns undefined. A class of plain methods, not the
 * loop of an async generator: when the splitting and decoding were readLines' own body (an async generator of one line
 * at a time), TurboFan compiled that whole body, with all it inlined, 8 times in a 1-worker prep of the 75 MB set
 * (~0.23 s): once before a file's end had run (thrown away there, "Insufficient type feedback") and again for each
 * new layout of its callers' options ("wrong map"). Each method here is compiled on its own, for the one layout of
 * this class; the generator (splitLines) is a few statements that run once per piece.
 */
class LineSplitter {
  readonly utf8: boolean;
  readonly fatal: TextDecoder;
  readonly lossy: TextDecoder;
  lineNo: number;
  /** A line cut by a chunk's end (copies: a lent chunk is overwritten by the next), joined to the next chunk. */
  pending: Uint8Array[] = [];
  pendingLen = 0;
  /**
   * The pieces after a chunk's first are decoded after a yield, when a lent chunk may have been overwritten (the zstd
   * decoder is the process's), and a line cut by a chunk's end is joined to the next chunk: both in a buffer of this
   * reader's, taken from the spare ones and given back at the end (a fresh 1 MiB per chunk was first touched each time)
   */
  own: Uint8Array;
  /** The whole lines being cut into pieces, and where the next piece starts. */
  block: Uint8Array = NO_BYTES;
  start = 0;
  /**
   * The stream has ended: the block's last line may be unterminated. Set by the constructor, not where declared: V8
   * takes a field given its value there and not written since for a constant, and the optimised code that read it was
   * thrown away when it first changed, at the end of a process's first file ("code dependencies").
   */
  final: boolean;

  constructor(
    readonly file: string,
    readonly encoding: string,
    firstLine: number,
    readonly slice: FileSlice | undefined,
  ) {
    this.fatal = fatalDecoder(file, encoding);
    this.utf8 = this.fatal.encoding === 'utf-8' && typeof transcode === 'function';
    this.lossy = new TextDecoder(encoding);
    this.lineNo = firstLine - 1;
    this.own = spareBuffers.pop() ?? new Uint8Array(0);
    this.final = false;
  }

  /** Take the next chunk of the stream (undefined at its end): its whole lines become the block to cut. */
  feed(chunk: Uint8Array | undefined): void {
    this.start = 0;
    if (chunk === undefined) {
      this.final = true;
      this.block = this.joinPending(NO_BYTES);
      this.pending = [];
      this.pendingLen = 0;
      return;
    }
    const last = chunk.lastIndexOf(NL);
    if (last < 0) {
      this.pending.push(Uint8Array.prototype.slice.call(chunk));
      this.pendingLen += chunk.length;
      this.block = NO_BYTES;
      return;
    }
    // our own stream lends its chunks (valid until the next one): what is kept past it is copied
    this.block =
      this.pendingLen || last + 1 > SUB_BLOCK
        ? this.joinPending(chunk.subarray(0, last + 1))
        : chunk.subarray(0, last + 1);
    const rest = chunk.subarray(last + 1);
    this.pending = rest.length ? [Uint8Array.prototype.slice.call(rest)] : [];
    this.pendingLen = rest.length;
  }

  /** The pending bytes and then `tail`, copied into this reader's own buffer (a view of it). */
  private joinPending(tail: Uint8Array): Uint8Array {
    const n = this.pendingLen + tail.length;
    if (this.own.length < n) this.own = new Uint8Array(Math.max(n, 2 * this.own.length));
    let at = 0;
    for (const p of this.pending) {
      this.own.set(p, at);
      at += p.length;
    }
    this.own.set(tail, at);
    return this.own.subarray(0, n);
  }

  /** The lines of the block's next piece, or undefined when the block is done. */
  piece(): Line[] | undefined {
    const block = this.block;
    const start = this.start;
    if (start >= block.length) {
      if (this.final && this.slice?.lines !== undefined) this.checkSlice(this.slice);
      return undefined;
    }
    const end = pieceEnd(block, start);
    this.start = end;
    return decodeLines(block.subarray(start, end), this.final && end === block.length, this);
  }

  /** At the end of a slice's lines: an error unless it held the lines it should (the file changed since). */
  private checkSlice(slice: FileSlice): void {
    if (this.lineNo !== slice.line + slice.lines! - 1)
      throw sliceChanged(this.file, slice, `holds ${this.lineNo - slice.line + 1} lines, not ${slice.lines}`);
  }

  /** The reader's buffer back to the spare ones. */
  release(): void {
    spareBuffers.push(this.own);
    this.own = NO_BYTES;
  }
}

/** A fatal TextDecoder of `encoding` that keeps a byte order mark, or an error naming the file. */
function fatalDecoder(file: string, encoding: string): TextDecoder {
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  } catch {
    throw new Error(`${file}: unknown encoding "${encoding}"`);
  }
}

/**
 * The lines of a piece of whole lines (the last one unterminated only when `final`), numbered on from st.lineNo.
 * A function of the module returning an array, not a generator nested in readLines: a nested generator is a new
 * function per file, whose generator objects get a new map, so readLines' optimised code was thrown away at the
 * `yield*` of every few files (7 TurboFan compiles of readLines in a 1-worker prep of the sample, ~0.18 s).
 */
function decodeLines(block: Uint8Array, final: boolean, st: LineSplitter): Line[] {
  // Fast path: the whole piece (many lines) decodes at once.
  const text = st.utf8 ? decodeUtf8(block, st.fatal) : decodeOrUndefined(block, st.fatal);
  if (text === undefined) return decodeEachLine(block, st);
  const out: Line[] = [];
  const parts = text.split('\n');
  // (read for every piece: code that ran only at a file's end had no feedback when this function was optimised)
  const endsLine = parts[parts.length - 1] === '';
  if (endsLine || !final) parts.pop(); // block ends with '\n'
  // a byte order mark off line 1 (its test run for every piece, not only for a file's first line, likewise)
  const first = parts.length ? parts[0] : '';
  if (first.charCodeAt(0) === 0xfeff && st.lineNo === 0) parts[0] = first.slice(1);
  for (const p of parts) out.push({ line: ++st.lineNo, text: p });
  return out;
}

/** `bytes` decoded by `fatal`, or undefined where that throws. */
function decodeOrUndefined(bytes: Uint8Array, fatal: TextDecoder): string | undefined {
  try {
    return fatal.decode(bytes);
  } catch {
    return undefined;
  }
}

/** decodeLines' slow path, for a piece with bytes not valid in the encoding: line by line, to find the bad ones. */
function decodeEachLine(block: Uint8Array, st: LineSplitter): Line[] {
  const out: Line[] = [];
  let start = 0;
  while (start < block.length) {
    let end = block.indexOf(NL, start);
    if (end < 0) end = block.length;
    const bytes = block.subarray(start, end);
    const lineNo = ++st.lineNo;
    try {
      let t = st.fatal.decode(bytes);
      if (lineNo === 1 && t.charCodeAt(0) === 0xfeff) t = t.slice(1);
      out.push({ line: lineNo, text: t });
    } catch {
      out.push({
        line: lineNo,
        error: `invalid ${st.encoding === 'utf-8' || st.encoding === 'utf8' ? 'UTF-8' : st.encoding} byte sequence`,
        raw: st.lossy.decode(bytes),
      });
    }
    start = end + 1;
  }
  return out;
}

/**
 * `bytes` decoded as UTF-8, as `fatal` (a fatal UTF-8 TextDecoder that keeps a byte order mark) decodes them, or
 * undefined where that throws (not valid UTF-8). Bytes that are not all ASCII are checked by `isUtf8` and converted
 * by `transcode` to UTF-16 (both native, simdutf and ICU), then taken as a two-byte string: ~0.4 of the CPU time of
 * TextDecoder's decode for Chinese text, where V8's UTF-8 decoding was the read's largest part (an ASCII piece, which
 * TextDecoder makes a one-byte string in one copy, still goes through it). The same scalar values either way: both
 * checks refuse the same sequences (overlong forms, surrogates, past U+10FFFF, truncated), and a valid sequence has
 * one decoding.
 */
export function decodeUtf8(bytes: Uint8Array, fatal: TextDecoder): string | undefined {
  if (isAscii(bytes)) return fatal.decode(bytes);
  if (!isUtf8(bytes)) return undefined;
  return transcode(bytes, 'utf8', 'utf16le').toString('utf16le');
}

/**
 * The lines of a (possibly compressed) text file, a piece's lines (up to SUB_BLOCK bytes of them) at a time, decoded
 * with a fatal TextDecoder, so one line that is not valid in the declared encoding is reported alone with its number.
 * Splitting on the 0x0A byte is safe for UTF-8 and for GBK/GB18030/Big5 (their trail bytes are >= 0x40). `bytes`: the
 * bytes to split (default: the file's, lent chunks), whose first line is line `firstLine` (a slice of the file, whose
 * line count is checked at the end: `slice`). A byte order mark is removed from line 1 only (the decoder keeps one at
 * the start of any other piece it decodes, so a line reads the same whatever the pieces). A plain function: what a
 * file needs before its first line is done here, and splitLines is the loop.
 */
export function lineBlocks(
  file: string,
  encoding: string,
  bytes: AsyncIterable<Uint8Array> | undefined,
  onBytes: ((done: number, total: number) => void) | undefined,
  firstLine: number,
  slice?: FileSlice,
): AsyncGenerator<Line[]> {
  let sp: LineSplitter;
  try {
    sp = new LineSplitter(file, encoding, firstLine, slice);
  } catch (e) {
    return failing(e);
  }
  return splitLines(sp, (bytes ?? openBytes(file, onBytes, true))[Symbol.asyncIterator]());
}

/**
 * lineBlocks' loop. Every statement runs from the first chunk on (the stream's end goes through the same `feed` and
 * `piece` calls), and none before the loop, so code compiled for it has seen them all.
 */
async function* splitLines(sp: LineSplitter, it: AsyncIterator<Uint8Array>): AsyncGenerator<Line[]> {
  let done = false;
  try {
    while (!done) {
      const r = await it.next();
      done = r.done === true;
      sp.feed(done ? undefined : r.value);
      for (let lines = sp.piece(); lines !== undefined; lines = sp.piece()) yield lines;
    }
  } finally {
    sp.release();
    // stopped early (a consumer that stops, an error): the byte stream closes its file
    if (!done) await it.return?.(undefined);
  }
}

/**
 * Stream the lines of a (possibly compressed) text file one at a time: lineBlocks' lines (see there), for callers
 * that take a line at a time (the JSONL reader takes the blocks).
 */
export async function* readLines(
  file: string,
  opts: ReadOptions = {},
  bytes?: AsyncIterable<Uint8Array>,
  firstLine = 1,
): AsyncGenerator<Line> {
  for await (const lines of lineBlocks(file, opts.encoding ?? 'utf-8', bytes, opts.onBytes, firstLine))
    for (const l of lines) yield l;
}

/** The reader buffers not in use (one per reader open at once; each as large as the largest chunk it held). */
const spareBuffers: Uint8Array[] = [];

/** Parse one JSON value into a record, or describe why it is not one. */
function parseRecord(s: string): { record: Record<string, unknown> } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    return { error: `bad JSON: ${(e as Error).message}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { error: `not a JSON object (got ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v})` };
  }
  return { record: v as Record<string, unknown> };
}

/** Yield the first chunk's bytes again in front of the rest. */
async function* prepend(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * JSONL reader: one JSON object per line; blank lines are skipped; bad lines become rejects with file and line.
 * A `.json` file whose first non-blank character is `[` is read as a JSON array instead (streamed element by element).
 * Not a generator itself: what a file needs before its first line (the name's test, the slice, the line reader) is
 * done here, called once a file, and `jsonlItems` is the loop. That loop is what TurboFan compiles; when the work
 * before the loop was in the same generator, the first file ran it before the function had a feedback vector (V8
 * allocates one after some bytecode has run), so the code compiled during the first file had no feedback there and
 * was thrown away at the second file's first statement ("Insufficient type feedback"), then compiled again.
 */
export function readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  if (/\.json$/i.test(stripCompression(file))) return readJsonFile(file, opts);
  const slice = opts.slice;
  const bytes = slice ? openSlice(file, slice, opts.onBytes, true) : undefined;
  return jsonlItems(file, lineBlocks(file, opts.encoding ?? 'utf-8', bytes, opts.onBytes, slice?.line ?? 1, slice));
}

/** A `.json` file: a JSON array (readJsonArrayBytes) when its first non-blank character is `[`, else JSONL. */
async function* readJsonFile(file: string, opts: ReadOptions): AsyncGenerator<ReadItem> {
  const it = openBytes(file, opts.onBytes)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  let i = 0;
  const f = first.value;
  while (i < f.length && (WS.has(f[i]) || (i < 3 && f[0] === 0xef && f[1] === 0xbb && f[2] === 0xbf))) i++;
  const bytes = prepend(f, it);
  if (f[i] === 0x5b /* [ */) {
    yield* readJsonArrayBytes(file, bytes, opts);
    return;
  }
  const slice = opts.slice;
  const lines = slice ? openSlice(file, slice, opts.onBytes, true) : bytes;
  yield* jsonlItems(file, lineBlocks(file, opts.encoding ?? 'utf-8', lines, opts.onBytes, slice?.line ?? 1, slice));
}

/**
 * The records of one file's lines (`blocks`, from lineBlocks, which checks a slice's line count at its end), a reject
 * for each line that is not a JSON object. The blocks are taken by `next()` inside the loop, and nothing is done before
 * or after it, so that every property read and call here has run (and left feedback) before TurboFan compiles it.
 */
async function* jsonlItems(file: string, blocks: AsyncGenerator<Line[]>): AsyncGenerator<ReadItem> {
  // closed here when this generator is (a consumer that stops early, an error): its buffer goes back, its file closes
  let done = false;
  try {
    for (;;) {
      const r = await blocks.next();
      if (r.done) break;
      const lines = r.value;
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i];
        const loc = { file, line: l.line };
        if (l.error !== undefined) {
          yield { kind: 'reject', loc, error: l.error, raw: preview(l.raw ?? '') };
          continue;
        }
        const s = l.text!;
        if (s.trim() === '') continue;
        const p = parseRecord(s);
        if ('error' in p) yield { kind: 'reject', loc, error: p.error, raw: preview(s) };
        else yield { kind: 'record', record: p.record, loc, json: s };
      }
    }
    done = true;
  } finally {
    if (!done) await blocks.return(undefined);
  }
}

/**
 * Stream the elements of a JSON array file (`[ {...}, {...} ]`) without holding the file: structure is found at the
 * byte level (JSON's structural characters are ASCII and never occur inside UTF-8 multi-byte sequences), then each
 * element is decoded (fatal, so invalid bytes reject that element only) and parsed. Locations are 1-based element
 * numbers.
 */
export async function* readJsonArrayBytes(
  file: string,
  bytes: AsyncIterable<Uint8Array>,
  opts: ReadOptions = {},
): AsyncGenerator<ReadItem> {
  const encoding = opts.encoding ?? 'utf-8';
  const fatal = new TextDecoder(encoding, { fatal: true });
  const lossy = new TextDecoder(encoding);
  let started = false; // saw the outer '['
  let ended = false; // saw the outer ']'
  let inElem = false;
  let depth = 0;
  let inStr = false;
  let esc = false;
  let index = 0;
  let parts: Uint8Array[] = [];
  function* finish(last: Uint8Array): Generator<ReadItem> {
    parts.push(last);
    const b = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    parts = [];
    inElem = false;
    index++;
    const loc = { file, line: index };
    let s: string;
    try {
      s = fatal.decode(b);
    } catch {
      yield {
        kind: 'reject',
        loc,
        error: `invalid ${encoding === 'utf-8' ? 'UTF-8' : encoding} byte sequence`,
        raw: preview(lossy.decode(b)),
      };
      return;
    }
    const r = parseRecord(s);
    if ('error' in r) yield { kind: 'reject', loc, error: r.error, raw: preview(s) };
    else yield { kind: 'record', record: r.record, loc };
  }
  for await (const chunk of bytes) {
    let start = inElem ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (ended) {
        if (!WS.has(c)) throw new Error(`${file}: unexpected data after the end of the JSON array (element ${index})`);
        continue;
      }
      if (!started) {
        if (c === 0x5b) started = true;
        else if (!WS.has(c) && c !== 0xef && c !== 0xbb && c !== 0xbf) throw new Error(`${file}: not a JSON array`);
        continue;
      }
      if (!inElem) {
        if (WS.has(c) || c === 0x2c /* , */) continue;
        if (c === 0x5d /* ] */) {
          ended = true;
          continue;
        }
        inElem = true;
        depth = 0;
        inStr = false;
        esc = false;
        start = i;
      }
      if (inStr) {
        if (esc) esc = false;
        else if (c === 0x5c) esc = true;
        else if (c === 0x22) inStr = false;
        continue;
      }
      if (c === 0x22) inStr = true;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) {
          // the outer array's ']' right after a scalar element
          yield* finish(chunk.subarray(start, i));
          ended = true;
          continue;
        }
        depth--;
        if (depth === 0) yield* finish(chunk.subarray(start, i + 1));
      } else if (c === 0x2c && depth === 0) yield* finish(chunk.subarray(start, i));
    }
    if (inElem) parts.push(Uint8Array.prototype.slice.call(chunk.subarray(start)));
  }
  if (!started) throw new Error(`${file}: not a JSON array`);
  if (inElem || !ended) {
    yield {
      kind: 'reject',
      loc: { file, line: index + 1 },
      error: 'truncated JSON array (end of file before the closing "]")',
      raw: preview(lossy.decode(Buffer.concat(parts))),
    };
  }
}
