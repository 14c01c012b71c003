/**
 * The safetensors format, written and read here (no dependency): 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}} padded with spaces to 8 bytes,
 * then the raw little-endian tensor bytes. Writes are atomic (temporary name, fsync, rename).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AtomicFileSync } from '../pipeline/fsutil.ts';

export type StDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U32';
export type TensorData = Float32Array | Float64Array | Int32Array | Uint32Array;

export interface TensorIn {
  name: string;
  shape: number[];
  data: TensorData;
}

const DTYPE_OF = (a: TensorData): StDtype =>
  a instanceof Float32Array ? 'F32' : a instanceof Float64Array ? 'F64' : a instanceof Int32Array ? 'I32' : 'U32';
const SIZE: Record<StDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I32: 4, I64: 8, U32: 4 };

export function writeSafetensors(path: string, tensors: TensorIn[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`safetensors: duplicate tensor name ${t.name}`);
    seen.add(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new Error(`safetensors: ${t.name} has shape [${t.shape}] but ${t.data.length} values`);
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: DTYPE_OF(t.data), shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const hbuf = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbuf.length));
  const out = new AtomicFileSync(path);
  try {
    out.write(len);
    out.write(hbuf);
    for (const t of tensors) {
      const b = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let o = 0; o < b.length; o += 1 << 26) out.write(b.subarray(o, Math.min(b.length, o + (1 << 26))));
    }
  } catch (e) {
    out.abort();
    throw e;
  }
  out.commit();
}

export interface TensorEntry {
  dtype: StDtype;
  shape: number[];
  begin: number;
  end: number;
}

export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: Map<string, TensorEntry>;
  private fd: number;
  private dataStart: number;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    const lb = Buffer.alloc(8);
    if (readSync(this.fd, lb, 0, 8, 0) !== 8) throw new Error(`${path}: not a safetensors file (too short)`);
    const hl = Number(lb.readBigUInt64LE());
    if (hl <= 0 || hl > 100_000_000 || 8 + hl > size)
      throw new Error(`${path}: not a safetensors file (bad header length ${hl})`);
    const hb = Buffer.alloc(hl);
    readSync(this.fd, hb, 0, hl, 8);
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(hb.toString('utf8'));
    } catch (e) {
      throw new Error(`${path}: safetensors header is not JSON: ${(e as Error).message}`);
    }
    this.dataStart = 8 + hl;
    this.metadata = (h.__metadata__ as Record<string, string>) ?? {};
    this.tensors = new Map();
    for (const [k, v] of Object.entries(h)) {
      if (k === '__metadata__') continue;
      const e = v as { dtype: StDtype; shape: number[]; data_offsets: [number, number] };
      if (!(e.dtype in SIZE)) throw new Error(`${path}: tensor ${k} has unsupported dtype ${e.dtype}`);
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (e.data_offsets[1] - e.data_offsets[0] !== n * SIZE[e.dtype] || this.dataStart + e.data_offsets[1] > size)
        throw new Error(`${path}: tensor ${k} has inconsistent offsets`);
      this.tensors.set(k, { dtype: e.dtype, shape: e.shape, begin: e.data_offsets[0], end: e.data_offsets[1] });
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private raw(name: string): { e: TensorEntry; buf: Buffer } {
    const e = this.tensors.get(name);
    if (!e) throw new Error(`${this.path}: no tensor named ${name}`);
    const buf = Buffer.alloc(e.end - e.begin);
    let got = 0;
    while (got < buf.length) {
      const r = readSync(this.fd, buf, got, Math.min(1 << 26, buf.length - got), this.dataStart + e.begin + got);
      if (r <= 0) throw new Error(`${this.path}: truncated tensor ${name}`);
      got += r;
    }
    return { e, buf };
  }

  /** any float dtype converted to fp32. */
  float32(name: string): Float32Array {
    const { e, buf } = this.raw(name);
    const n = buf.length / SIZE[e.dtype];
    const out = new Float32Array(n);
    if (e.dtype === 'F32') out.set(new Float32Array(buf.buffer, buf.byteOffset, n));
    else if (e.dtype === 'F64') {
      const a = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
      out.set(a);
    } else if (e.dtype === 'BF16') {
      const u = new Uint32Array(1),
        f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = buf.readUInt16LE(i * 2) << 16;
        out[i] = f[0];
      }
    } else if (e.dtype === 'F16') {
      for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(i * 2));
    } else throw new Error(`${this.path}: tensor ${name} is ${e.dtype}, not a float`);
    return out;
  }

  int32(name: string): Int32Array {
    const { e, buf } = this.raw(name);
    if (e.dtype === 'I32' || e.dtype === 'U32')
      return new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    if (e.dtype === 'I64') {
      const n = buf.length / 8,
        out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(buf.readBigInt64LE(i * 8));
      return out;
    }
    throw new Error(`${this.path}: tensor ${name} is ${e.dtype}, not an integer`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}
