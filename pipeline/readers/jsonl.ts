import { isAscii, isUtf8, transcode } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { openBytes, openSlice, sliceChanged, stripCompression } from './bytes.ts';
import { preview, type FileSlice, type ReadItem, type ReadOptions } from './types.ts';

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

/** readLines' state across the blocks of one file. */
interface LineState {
  encoding: string;
  /** The encoding is UTF-8 and this Node has `transcode` (built with ICU, as its releases are): decodeUtf8. */
  utf8: boolean;
  fatal: TextDecoder;
  lossy: TextDecoder;
  lineNo: number;
}

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

/**
 * The lines of a piece of whole lines (the last one unterminated only when `final`), numbered on from st.lineNo.
 * A function of the module returning an array, not a generator nested in readLines: a nested generator is a new
 * function per file, whose generator objects get a new map, so readLines' optimised code was thrown away at the
 * `yield*` of every few files (7 TurboFan compiles of readLines in a 1-worker prep of the sample, ~0.18 s).
 */
function decodeLines(block: Uint8Array, final: boolean, st: LineState): Line[] {
  const out: Line[] = [];
  // Fast path: the whole piece (many lines) decodes at once.
  let text: string | undefined;
  if (st.utf8) text = decodeUtf8(block, st.fatal);
  else {
    try {
      text = st.fatal.decode(block);
    } catch {
      text = undefined;
    }
  }
  if (text !== undefined) {
    const parts = text.split('\n');
    if (!final || parts[parts.length - 1] === '') parts.pop(); // block ends with '\n'
    for (const p of parts) {
      st.lineNo++;
      out.push({ line: st.lineNo, text: st.lineNo === 1 && p.charCodeAt(0) === 0xfeff ? p.slice(1) : p });
    }
    return out;
  }
  // Slow path: decode line by line to find the bad ones.
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
 * Stream the lines of a (possibly compressed) text file, decoded with a fatal TextDecoder per line, so one line
 * that is not valid in the declared encoding is reported alone with its number. Splitting on the 0x0A byte is safe
 * for UTF-8 and for GBK/GB18030/Big5 (their trail bytes are >= 0x40). `bytes`: the bytes to split (default: the
 * file's), whose first line is line `firstLine` (a slice of the file). A byte order mark is removed from line 1
 * only (the decoder keeps one at the start of any other piece it decodes, so a line reads the same whatever the
 * pieces).
 */
export async function* readLines(
  file: string,
  opts: ReadOptions = {},
  bytes?: AsyncIterable<Uint8Array>,
  firstLine = 1,
): AsyncGenerator<Line> {
  const encoding = opts.encoding ?? 'utf-8';
  let fatal: TextDecoder;
  try {
    fatal = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  } catch {
    throw new Error(`${file}: unknown encoding "${encoding}"`);
  }
  const st: LineState = {
    encoding,
    utf8: fatal.encoding === 'utf-8' && typeof transcode === 'function',
    fatal,
    lossy: new TextDecoder(encoding),
    lineNo: firstLine - 1,
  };
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  // the pieces after a chunk's first are decoded after a yield, when a lent chunk may have been overwritten (the zstd
  // decoder is the process's), and a line cut by a chunk's end is joined to the next chunk: both in a buffer of this
  // reader's, taken from the spare ones and given back at the end (a fresh 1 MiB per chunk was first touched each time)
  let own = spareBuffers.pop() ?? new Uint8Array(0);
  try {
    // our own stream lends its chunks (valid until the next one): what is kept past it is copied
    for await (const chunk of bytes ?? openBytes(file, opts.onBytes, true)) {
      const last = chunk.lastIndexOf(NL);
      if (last < 0) {
        pending.push(Uint8Array.prototype.slice.call(chunk));
        pendingLen += chunk.length;
        continue;
      }
      let block: Uint8Array;
      if (pendingLen || last + 1 > SUB_BLOCK) {
        const n = pendingLen + last + 1;
        if (own.length < n) own = new Uint8Array(Math.max(n, 2 * own.length));
        let at = 0;
        for (const p of pending) {
          own.set(p, at);
          at += p.length;
        }
        own.set(chunk.subarray(0, last + 1), at);
        block = own.subarray(0, n);
      } else block = chunk.subarray(0, last + 1);
      const rest = chunk.subarray(last + 1);
      pending = rest.length ? [Uint8Array.prototype.slice.call(rest)] : [];
      pendingLen = rest.length;
      for (let start = 0; start < block.length;) {
        const end = pieceEnd(block, start);
        for (const l of decodeLines(block.subarray(start, end), false, st)) yield l;
        start = end;
      }
    }
  } finally {
    spareBuffers.push(own);
  }
  if (pendingLen) {
    const block = Buffer.concat(pending);
    for (let start = 0; start < block.length;) {
      const end = pieceEnd(block, start);
      for (const l of decodeLines(block.subarray(start, end), end === block.length, st)) yield l;
      start = end;
    }
  }
}

/** readLines' buffers not in use (one per reader open at once; each as large as the largest chunk it held). */
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
  return jsonlItems(file, readLines(file, opts, bytes, slice?.line), slice);
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
  yield* jsonlItems(
    file,
    readLines(file, opts, slice ? openSlice(file, slice, opts.onBytes, true) : bytes, slice?.line),
    slice,
  );
}

/**
 * The records of one file's lines (`lines`, from readLines), a reject for each line that is not a JSON object; at the
 * end, a slice's line count checked. The lines are taken by `next()` inside the loop, so that every property read
 * and call here has run (and left feedback) before TurboFan compiles it.
 */
async function* jsonlItems(
  file: string,
  lines: AsyncGenerator<Line>,
  slice: FileSlice | undefined,
): AsyncGenerator<ReadItem> {
  let lastLine = slice ? slice.line - 1 : 0;
  // closed here when this generator is (a consumer that stops early, an error): its buffer goes back, its file closes
  let done = false;
  try {
    for (;;) {
      const r = await lines.next();
      if (r.done) break;
      const l = r.value;
      lastLine = l.line;
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
    done = true;
  } finally {
    if (!done) await lines.return(undefined);
  }
  if (slice?.lines !== undefined && lastLine !== slice.line + slice.lines - 1)
    throw sliceChanged(file, slice, `holds ${lastLine - slice.line + 1} lines, not ${slice.lines}`);
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
