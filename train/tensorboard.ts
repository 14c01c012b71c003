/**
 * TensorBoard event files, written by a small encoder of our own (no TensorFlow / protobuf dependency).
 * - Framing (TFRecord): uint64 length (LE), uint32 masked CRC-32C of those 8 bytes, the payload, uint32 masked CRC-32C
 *   of the payload; mask(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8.
 * - Payload: an `Event` protobuf: wall_time (1, double), step (2, int64), file_version (3, string) on the first record,
 *   summary (5, `Summary`) with one `Summary.Value` per scalar: tag (1, string), simple_value (2, float).
 * TensorBoard reads files whose name contains "tfevents"; ours end in ".steel" so a rewrite can find and replace them.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AtomicFileSync } from '../pipeline/fsutil.ts';
import { parseMetrics, readMetrics, type MetricsRow } from './metrics.ts';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TFRecord uses. */
export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function maskedCrc(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** one TFRecord frame around a payload. */
export function tfrecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + payload.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(payload.length), true);
  dv.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(payload, 12);
  dv.setUint32(12 + payload.length, maskedCrc(payload), true);
  return out;
}

// ---------------------------------------------------------------- protobuf encoding (the few wire types we need)
class Pb {
  private parts: number[] = [];
  varint(v: bigint | number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.parts.push(Number(x));
    return this;
  }
  key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.key(field, 1).parts.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5).parts.push(...b);
    return this;
  }
  int64(field: number, v: number): this {
    return this.key(field, 0).varint(BigInt(Math.trunc(v)));
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function fileVersionEvent(wallTime: number): Uint8Array {
  return new Pb().double(1, wallTime).int64(2, 0).string(3, 'brain.Event:2').done();
}

/** an Event with one Summary holding the given scalars. */
export function scalarsEvent(step: number, wallTime: number, scalars: [string, number][]): Uint8Array {
  const summary = new Pb();
  for (const [tag, v] of scalars) summary.bytes(1, new Pb().string(1, tag).float(2, v).done());
  return new Pb().double(1, wallTime).int64(2, step).bytes(5, summary.done()).done();
}

/** the bytes of an event file for these rows (wall time of a row: `wallOf(row)`). */
export function eventFileBytes(rows: MetricsRow[], wallOf: (r: MetricsRow) => number, startWall: number): Uint8Array {
  const recs = [tfrecord(fileVersionEvent(startWall))];
  for (const r of rows) {
    const s = Object.entries(r.values);
    if (s.length) recs.push(tfrecord(scalarsEvent(r.step, wallOf(r), s)));
  }
  return concat(recs);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const OUR_SUFFIX = '.steel';
function eventFileName(wall: number): string {
  return `events.out.tfevents.${Math.floor(wall)}.${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}.${process.pid}${OUR_SUFFIX}`;
}
function removeOurEventFiles(dir: string): void {
  for (const n of readdirSync(dir))
    if (n.startsWith('events.out.tfevents.') && n.endsWith(OUR_SUFFIX)) rmSync(join(dir, n), { force: true });
}

/**
 * Converts a finished (or running) run's metrics.jsonl into one event file in `dir` (atomically; earlier event files
 * written by steel there are replaced). Rows with elapsed_s are stamped at (file time - last elapsed + elapsed).
 */
export function writeTensorBoard(metricsFile: string, dir: string): { file: string; rows: number; scalars: number } {
  const rows = readMetrics(metricsFile);
  const lastElapsed = rows.reduce((a, r) => Math.max(a, r.elapsedS ?? 0), 0);
  const start = statSync(metricsFile).mtimeMs / 1000 - lastElapsed;
  let prev = start;
  const wallOf = (r: MetricsRow) => (prev = r.elapsedS !== undefined ? start + r.elapsedS : prev);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, eventFileName(start));
  const bytes = eventFileBytes(rows, wallOf, start);
  const out = new AtomicFileSync(file);
  try {
    out.write(bytes);
    removeOurEventFiles(dir);
  } catch (e) {
    out.abort();
    throw e;
  }
  out.commit();
  return { file, rows: rows.length, scalars: rows.reduce((a, r) => a + Object.keys(r.values).length, 0) };
}

/**
 * Live mirror of a run's metrics.jsonl into TensorBoard events (steel train --tensorboard): `sync()` appends the rows
 * added since the last call (training and eval rows alike). Opening it replaces steel's earlier event files in `dir`
 * with one holding the rows already in metrics.jsonl (so a resumed run, whose metrics were cut back to its checkpoint,
 * shows one consistent curve).
 */
export class TensorBoardMirror {
  private fd: number;
  /** bytes of metrics.jsonl consumed (whole lines only) and the line count, for error messages. */
  private offset = 0;
  private lines = 0;
  /** file:line of the metrics lines that were not valid rows (skipped). */
  readonly skipped: string[] = [];
  readonly file: string;
  constructor(
    private metricsFile: string,
    dir: string,
  ) {
    mkdirSync(dir, { recursive: true });
    removeOurEventFiles(dir);
    const now = Date.now() / 1000;
    this.file = join(dir, eventFileName(now));
    this.fd = openSync(this.file, 'a');
    writeSync(this.fd, tfrecord(fileVersionEvent(now)));
    this.sync();
  }
  /** appends the rows added to metrics.jsonl since the last call (reads only the new bytes; a partial last line waits). */
  sync(): void {
    if (!existsSync(this.metricsFile)) return;
    const size = statSync(this.metricsFile).size;
    if (size < this.offset) {
      this.offset = 0;
      this.lines = 0;
    } // rewritten shorter: start over (rows may repeat)
    if (size === this.offset) return;
    const buf = Buffer.alloc(size - this.offset);
    const rfd = openSync(this.metricsFile, 'r');
    try {
      readSync(rfd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(rfd);
    }
    const end = buf.lastIndexOf(0x0a);
    if (end < 0) return;
    const lines = buf.subarray(0, end).toString('utf8').split('\n');
    this.offset += end + 1;
    const rows: MetricsRow[] = [];
    for (const l of lines) {
      this.lines++;
      // a bad line must not stop training: it is skipped here (named in `skipped`); metrics.jsonl stays the record
      try {
        rows.push(...parseMetrics(l, this.metricsFile, { strict: true, firstLine: this.lines }));
      } catch {
        this.skipped.push(`${this.metricsFile}:${this.lines}`);
      }
    }
    const now = Date.now() / 1000;
    const recs = rows
      .filter((r) => Object.keys(r.values).length)
      .map((r) => tfrecord(scalarsEvent(r.step, now, Object.entries(r.values))));
    if (recs.length) writeSync(this.fd, concat(recs));
  }
  close(): void {
    this.sync();
    closeSync(this.fd);
  }
}
