/**
 * Map units of the first phase: a large JSONL input (plain, or zstd with several frames) is cut into slices of about
 * SLICE_BYTES of text, so the tasks of a run can balance over workers; a slice owns the lines that start in its
 * range (a line straddling a cut is read whole by the slice it starts in) and reads them with their line numbers in
 * the whole file. The size of a slice does not depend on the worker count, so a run's outputs do not either.
 * Every input also gets an estimate of its text bytes, by which the executor runs the largest tasks first.
 *
 * The cuts come from one pass over the file (zstd: frame by frame, counting newlines, each frame decoded by the wasm
 * decoder whether or not it declares its size (readers/zstd.ts decodeFrame: fzstd's JavaScript, which decoded the
 * unsized frames of a stream that `zstd` compressed from a pipe, took ~15x its CPU time here, in the parent before any
 * task); cut at frame boundaries, the slice's first line found by skipping to the first newline after the boundary).
 * The pass runs once per run: the table is recorded in the run's state (OUT/.state/run.json, with each file's size
 * and time) and reused by a resumed run, and reading a slice checks that it still matches the file (FileSlice).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { compressionOf, openBytes, stripCompression } from './readers/bytes.ts';
import { detectFormat, type InputFormat } from './readers/index.ts';
import type { FileSlice } from './readers/types.ts';
import { decodeFrame, scanFrame, skippableFrameSize, zstdDecoder } from './readers/zstd.ts';

export type { FileSlice };

/** Text bytes of a slice (8 MiB): the sample's files (all under 5 MB of text) stay whole. */
export const SLICE_BYTES = 8 << 20;

/** What the first phase knows of one input file: its text bytes (an estimate unless sliced) and its slices. */
export interface FilePlan {
  text: number;
  /** Absent: the file is one map unit. */
  slices?: FileSlice[];
}

/** Whether a file of this format can be cut: JSONL (not a `.json` file, which may be an array), plain or zstd. */
export function sliceable(file: string, format: InputFormat | undefined): boolean {
  if ((format ?? detectFormat(file)) !== 'jsonl' || /\.json$/i.test(stripCompression(file))) return false;
  return compressionOf(file) !== 'gzip';
}

/** The buffer of the last Window (one at a time: a fresh one per file cost page faults on every read). */
let spare = Buffer.allocUnsafe(0);

/**
 * A file read through one growing buffer, at least READ_MIN bytes a read, positioned where asked. A range that starts
 * inside the bytes held keeps them and reads only the rest: a zstd frame's end is found by asking for more until its
 * last block is in view, and the frame is then decoded from the same bytes, so each byte is read once (reading from
 * the range's start again read each byte of a file of ~600 KB frames 2.2 times: slices.test.ts).
 */
class Window {
  private buf = spare;
  private start = 0;
  private end = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** The bytes [pos, pos + n) of the file (fewer at its end), valid until the next call. */
  at(pos: number, n: number): Uint8Array {
    if (pos < this.start || pos + n > this.end) {
      const want = Math.max(n, READ_MIN);
      // bytes already held from pos on (none when pos is outside them)
      const kept = pos >= this.start && pos < this.end ? this.end - pos : 0;
      if (want > this.buf.length) {
        const b = Buffer.allocUnsafe(Math.max(want, 2 * this.buf.length));
        if (kept) this.buf.copy(b, 0, pos - this.start, this.end - this.start);
        this.buf = spare = b;
      } else if (kept) this.buf.copyWithin(0, pos - this.start, this.end - this.start);
      this.start = pos;
      this.end = pos + kept + readSync(this.fd, this.buf, kept, want - kept, pos + kept);
    }
    return this.buf.subarray(pos - this.start, Math.min(this.end, pos + n) - this.start);
  }
}

const READ_MIN = 1 << 18;

/** A place where a slice may start: `at` (decompressed), and the first line starting there or after. */
interface Point {
  /** Decompressed offset of the place, and the file's byte where reading from it starts. */
  at: number;
  offset: number;
  /** The first line starting at `at` or after: its offset (-1 until found) and number. */
  lineStart: number;
  line: number;
}

/** Counts the lines of a byte stream and finds, for each point marked on the way, the first line after it. */
class LineScanner {
  pos = 0;
  private newlines = 0;
  private atLineStart = true;
  readonly points: Point[] = [];
  private pending: Point[] = [];

  mark(offset: number): void {
    const p: Point = { at: this.pos, offset, lineStart: -1, line: 0 };
    if (this.atLineStart) {
      p.lineStart = this.pos;
      p.line = this.newlines + 1;
    } else this.pending.push(p);
    this.points.push(p);
  }

  /** The scanner's state now: the function returned goes back to it (a frame fed in parts that turned out damaged). */
  save(): () => void {
    const { pos, newlines, atLineStart } = this;
    const marked = this.points.length;
    const pending = [...this.pending];
    return () => {
      this.pos = pos;
      this.newlines = newlines;
      this.atLineStart = atLineStart;
      this.points.length = marked;
      for (const p of pending) {
        p.lineStart = -1;
        p.line = 0;
      }
      this.pending = pending;
    };
  }

  feed(b: Uint8Array): void {
    if (!b.length) return;
    const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
    let i = buf.indexOf(10);
    if (i >= 0 && this.pending.length) {
      for (const p of this.pending) {
        p.lineStart = this.pos + i + 1;
        p.line = this.newlines + 2;
      }
      this.pending = [];
    }
    for (; i >= 0; i = buf.indexOf(10, i + 1)) this.newlines++;
    this.atLineStart = buf[buf.length - 1] === 10;
    this.pos += b.length;
  }
}

/**
 * The slices of a scanned file: n = ceil(text / sliceBytes) of about equal text, each starting at the marked point
 * nearest its target (plain files: marked at the targets), at a line start that none before it has; none when the
 * file is one slice.
 */
function slicesOf(sc: LineScanner, sliceBytes: number, skipFromPoint: boolean): FileSlice[] | undefined {
  const total = sc.pos;
  const n = Math.ceil(total / sliceBytes);
  const points = sc.points.filter((p) => p.lineStart > 0 && p.lineStart < total);
  const slices: FileSlice[] = [{ offset: 0, skip: 0, line: 1, start: 0 }];
  let j = 0;
  for (let k = 1; k < n; k++) {
    const target = (k * total) / n;
    while (j + 1 < points.length && Math.abs(points[j + 1].at - target) <= Math.abs(points[j].at - target)) j++;
    const p = points[j];
    const last = slices[slices.length - 1];
    if (!p || p.lineStart <= last.start) continue;
    slices.push(
      skipFromPoint
        ? { offset: p.offset, skip: p.lineStart - p.at, line: p.line, start: p.lineStart }
        : { offset: p.lineStart, skip: 0, line: p.line, start: p.lineStart },
    );
  }
  if (slices.length < 2) return undefined;
  for (let i = 0; i + 1 < slices.length; i++) {
    slices[i].bytes = slices[i + 1].start - slices[i].start;
    slices[i].lines = slices[i + 1].line - slices[i].line;
  }
  return slices;
}

interface Frame {
  offset: number;
  end: number;
  /** Declared content size (-1: not declared). */
  size: number;
  /** The most content it can hold (its size, or its blocks times the largest block). */
  cap: number;
  skip: boolean;
}

/**
 * The frames of a zstd file, in order, found by their headers, each handed to `each` with its bytes (a view valid
 * during the call) until `each` returns false; stops at damage.
 */
function eachZstdFrame(w: Window, each: (f: Frame, bytes: Uint8Array) => boolean): void {
  let pos = 0;
  let want = 1 << 16;
  while (pos < w.size) {
    const view = w.at(pos, want);
    let s;
    try {
      s = scanFrame(view, true);
    } catch {
      break; // damage: the frames before it are the file's (reading it reports the damage)
    }
    if (s.kind === 'need') {
      if (pos + view.length >= w.size) break; // truncated last frame
      want *= 2;
      continue;
    }
    if (s.kind === 'stream') break;
    const f = {
      offset: pos,
      end: pos + s.end,
      size: s.kind === 'frame' ? s.contentSize : 0,
      cap: s.kind === 'frame' ? s.cap : 0,
      skip: s.kind === 'skip',
    };
    if (!each(f, view.subarray(0, s.end))) break;
    pos += s.end;
  }
}

/**
 * A zstd JSONL file. Its first frame gives an estimate of its text (the file's size times that frame's ratio; 4 when
 * it declares no size), read whole: a file of one frame, or estimated at most `sliceBytes`, stays whole; any other
 * is read in one pass, frame by frame (the cuts at frame boundaries), up to any damage.
 */
function planZstd(w: Window, sliceBytes: number, cut: boolean): FilePlan {
  let first: Frame | undefined;
  eachZstdFrame(w, (f) => {
    first = f;
    return f.skip;
  });
  if (!first) return { text: w.size };
  const one = first.end >= w.size;
  if (one && first.size >= 0) return { text: first.size };
  const ratio = first.size >= 0 ? first.size / (first.end - first.offset) : 4;
  const text = Math.round(w.size * ratio);
  if (!cut || one || text <= sliceBytes) return { text };
  const sc = new LineScanner();
  const feed = (d: Uint8Array) => sc.feed(d);
  // each frame decoded from the bytes its scan read
  eachZstdFrame(w, (f, bytes) => {
    if (f.skip) return true;
    const back = sc.save();
    if (f.offset > 0) sc.mark(f.offset);
    try {
      decodeFrame(bytes, { contentSize: f.size, cap: f.cap }, feed);
      return true;
    } catch {
      back();
      return false; // damage: no cut at or after this frame (the last slice reads up to it, and reports it)
    }
  });
  return { text: sc.pos, slices: slicesOf(sc, sliceBytes, true) };
}

/** A plain JSONL file: one pass counting newlines, cut at the first line start after each target. */
function planPlain(w: Window, sliceBytes: number): FilePlan {
  const total = w.size;
  const n = Math.ceil(total / sliceBytes);
  if (n < 2) return { text: total };
  const sc = new LineScanner();
  let k = 1;
  for (let pos = 0; pos < total;) {
    const target = Math.round((k * total) / n);
    const end = k < n ? Math.min(target, pos + (1 << 20)) : Math.min(total, pos + (1 << 20));
    if (end > pos) sc.feed(w.at(pos, end - pos));
    pos = end;
    if (k < n && pos === target) {
      sc.mark(pos);
      k++;
    }
  }
  return { text: total, slices: slicesOf(sc, sliceBytes, false) };
}

/**
 * The plan of one input file: JSONL files of more than `sliceBytes` of text are sliced (one pass over the file);
 * every file gets its text bytes (zstd: the frames' declared sizes; gzip: the size its trailer declares; else the
 * file size).
 */
export function planFile(file: string, format: InputFormat | undefined, sliceBytes = SLICE_BYTES): FilePlan {
  const size = statSync(file).size;
  const comp = compressionOf(file);
  const cut = sliceable(file, format);
  if (comp === 'none' && !(cut && size > sliceBytes)) return { text: size };
  const fd = openSync(file, 'r');
  try {
    const w = new Window(fd, size);
    if (comp === 'zstd') return planZstd(w, sliceBytes, cut);
    if (comp === 'gzip') return { text: size >= 18 ? Buffer.from(w.at(size - 4, 4)).readUInt32LE(0) : size };
    return planPlain(w, sliceBytes);
  } finally {
    closeSync(fd);
  }
}

/** The bytes textKind looks at: the start of the file's (decompressed) text. */
const KIND_BYTES = 1 << 16;

/**
 * The kind of a file's text, guessed from its first KIND_BYTES of (decompressed) bytes: 1 when CJK characters (3-byte
 * UTF-8 sequences of U+3000–U+9FFF, or JSON escapes of them) make at least a tenth of its letters, else 0; 0 too for
 * a columnar file (Parquet, Arrow) or one that cannot be read (its task reports that). A hint for the order of tasks
 * only (tasks of one kind share a process's warm-up: jieba, the Chinese statistics), never for what a task does.
 */
export async function textKind(file: string, format: InputFormat | undefined): Promise<number> {
  const f = format ?? detectFormat(file);
  if (f === 'parquet' || f === 'arrow') return 0;
  try {
    const head = await headBytes(file);
    return head && cjkShare(head.subarray(0, KIND_BYTES)) >= 0.1 ? 1 : 0;
  } catch {
    return 0;
  }
}

/** The compressed bytes of a zstd file given to the decoder for its head: KIND_BYTES of text at a ratio down to 1/4. */
const KIND_SRC = 4 * KIND_BYTES;

/**
 * The first bytes of a file's text: zstd, at least KIND_BYTES of its first frame (the frame's first blocks, decoded
 * from at most KIND_SRC bytes after any skippable frames; fewer when the frame is shorter); gzip or plain, its first
 * chunk.
 */
async function headBytes(file: string): Promise<Uint8Array | undefined> {
  if (compressionOf(file) !== 'zstd') {
    for await (const c of openBytes(file)) return c;
    return undefined;
  }
  const fd = openSync(file, 'r');
  try {
    const w = new Window(fd, statSync(file).size);
    let pos = 0;
    for (let s = 0; pos + 8 <= w.size && (s = skippableFrameSize(w.at(pos, 8))) >= 0;) pos += s;
    return pos < w.size ? zstdDecoder().head(w.at(pos, Math.min(KIND_SRC, w.size - pos)), KIND_BYTES) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** The share of CJK characters (U+3000–U+9FFF, raw or as JSON \uXXXX escapes) among the letters of UTF-8 bytes. */
export function cjkShare(b: Uint8Array): number {
  let cjk = 0;
  let latin = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (x >= 0xe3 && x <= 0xe9) cjk++;
    else if (x === 0x5c && b[i + 1] === 0x75 && b[i + 2]! >= 0x33 && b[i + 2]! <= 0x39) {
      cjk++;
      i += 5;
    } else if ((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7a) latin++;
  }
  return cjk + latin ? cjk / (cjk + latin) : 0;
}
