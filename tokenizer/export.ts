/**
 * Interop exports of a shard folder (tokenizer/SHARDS.md):
 *  - Megatron-LM indexed dataset: PREFIX.bin (token ids, little-endian int32) + PREFIX.idx ("MMIDIDX\0\0" header,
 *    version 1, dtype code 4 = int32 as Megatron's DType enum defines it (it has no uint32), sequence count,
 *    document count, int32 sequence lengths, int64 byte pointers, int64 document indices [0, 1, ..., n]).
 *    One sequence per document.
 *  - lit-gpt packed dataset (the format Steel-LLM's TinyLlama-based trainer reads): files PREFIX_0000000000.bin,
 *    each "LITPKDS" + u64 version 1 + u8 dtype code (4 = int32) + u64 chunk size, then chunk-size int32 tokens.
 *    Documents are concatenated (each already ends with eos); the last chunk's tail is padded with the sep token
 *    (151643 `<|endoftext|>` for Qwen). Default chunk size 2049 × 1024 tokens, as Steel-LLM used.
 * Readers for both formats are included (used by the tests and `steel tokenizer verify-export`).
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { iterShardBatches, readManifest } from './shards.ts';
import { AtomicFileSync } from '../pipeline/fsutil.ts';

export const MEGATRON_MAGIC = Buffer.from('MMIDIDX\x00\x00', 'latin1');
export const MEGATRON_DTYPE = {
  uint8: 1,
  int8: 2,
  int16: 3,
  int32: 4,
  int64: 5,
  float64: 6,
  float32: 7,
  uint16: 8,
} as const;
export const LITPKDS_MAGIC = Buffer.from('LITPKDS', 'latin1');
export const LITPKDS_HEADER_BYTES = 24;
export const LITPKDS_DTYPE = {
  uint8: 1,
  int8: 2,
  int16: 3,
  int32: 4,
  int64: 5,
  float32: 6,
  float64: 7,
  uint16: 8,
} as const;
export const STEEL_CHUNK_SIZE = 2049 * 1024;

/** An atomic output file (fsutil's AtomicFileSync) behind a 4 MiB write buffer. */
class BufferedFile {
  readonly out: AtomicFileSync;
  buf = Buffer.allocUnsafe(4 << 20);
  used = 0;
  bytes = 0;
  constructor(readonly path: string) {
    this.out = new AtomicFileSync(path);
  }
  write(u8: Uint8Array): void {
    this.bytes += u8.byteLength;
    if (u8.byteLength > this.buf.length - this.used) {
      this.flush();
      if (u8.byteLength > this.buf.length) {
        this.out.write(u8);
        return;
      }
    }
    this.buf.set(u8, this.used);
    this.used += u8.byteLength;
  }
  flush(): void {
    this.out.write(this.buf.subarray(0, this.used));
    this.used = 0;
  }
  close(): void {
    this.flush();
    this.out.commit();
  }
  abort(): void {
    this.out.abort();
  }
}

function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Little-endian int32 copy of uint32 ids (all ids must be < 2^31). */
function toInt32(tokens: Uint32Array, where: string): Int32Array {
  const out = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t > 0x7fffffff) throw new Error(`${where}: token id ${t} does not fit int32`);
    out[i] = t;
  }
  return out;
}

export interface ExportSummary {
  files: string[];
  documents: number;
  tokens: number;
}

export async function exportMegatron(
  shardsDir: string,
  prefix: string,
  log: (m: string) => void = () => {},
): Promise<ExportSummary> {
  const m = readManifest(shardsDir);
  const bin = new BufferedFile(`${prefix}.bin`);
  const lengths: number[] = [];
  let tokens = 0;
  try {
    for (const s of m.shards) {
      for await (const b of iterShardBatches(join(shardsDir, s.file))) {
        bin.write(asBytes(toInt32(b.tokens, s.file)));
        for (let i = 0; i < b.numDocs; i++) lengths.push(b.docOffsets[i + 1] - b.docOffsets[i]);
        tokens += b.tokens.length;
      }
      log(`[export megatron] ${s.file}: ${s.documents} documents`);
    }
  } catch (e) {
    bin.abort();
    throw e;
  }
  bin.close();
  const n = lengths.length;
  const idx = new BufferedFile(`${prefix}.idx`);
  const head = Buffer.alloc(9 + 8 + 1 + 8 + 8);
  MEGATRON_MAGIC.copy(head, 0);
  head.writeBigUInt64LE(1n, 9);
  head.writeUInt8(MEGATRON_DTYPE.int32, 17);
  head.writeBigUInt64LE(BigInt(n), 18);
  head.writeBigUInt64LE(BigInt(n + 1), 26);
  idx.write(head);
  idx.write(asBytes(Int32Array.from(lengths)));
  const ptr = new BigInt64Array(n);
  let p = 0n;
  for (let i = 0; i < n; i++) {
    ptr[i] = p;
    p += BigInt(lengths[i] * 4);
  }
  idx.write(asBytes(ptr));
  const docIdx = new BigInt64Array(n + 1);
  for (let i = 0; i <= n; i++) docIdx[i] = BigInt(i);
  idx.write(asBytes(docIdx));
  idx.close();
  return { files: [`${prefix}.bin`, `${prefix}.idx`], documents: n, tokens };
}

export interface MegatronIndex {
  version: number;
  dtypeCode: number;
  sequenceCount: number;
  documentCount: number;
  lengths: Int32Array;
  pointers: BigInt64Array;
  documentIndices: BigInt64Array;
}

export function readMegatronIndex(idxPath: string): MegatronIndex {
  const b = readFileSync(idxPath);
  if (b.length < 34 || !b.subarray(0, 9).equals(MEGATRON_MAGIC))
    throw new Error(`${idxPath}: not a Megatron MMIDIDX index`);
  const version = Number(b.readBigUInt64LE(9));
  const dtypeCode = b.readUInt8(17);
  const sequenceCount = Number(b.readBigUInt64LE(18));
  const documentCount = Number(b.readBigUInt64LE(26));
  let o = 34;
  const need = o + sequenceCount * 12 + documentCount * 8;
  if (b.length < need) throw new Error(`${idxPath}: truncated (${b.length} bytes, need ${need})`);
  const copy = (bytes: number) => {
    const c = new Uint8Array(bytes);
    c.set(b.subarray(o, o + bytes));
    o += bytes;
    return c.buffer;
  };
  const lengths = new Int32Array(copy(sequenceCount * 4));
  const pointers = new BigInt64Array(copy(sequenceCount * 8));
  const documentIndices = new BigInt64Array(copy(documentCount * 8));
  return { version, dtypeCode, sequenceCount, documentCount, lengths, pointers, documentIndices };
}

/** Read sequence i of a Megatron dataset (int32 or uint16 data). */
export function readMegatronSequence(prefix: string, index: MegatronIndex, i: number): Int32Array {
  const size = index.dtypeCode === MEGATRON_DTYPE.uint16 ? 2 : 4;
  const fd = openSync(`${prefix}.bin`, 'r');
  try {
    const buf = Buffer.alloc(index.lengths[i] * size);
    readSync(fd, buf, 0, buf.length, Number(index.pointers[i]));
    if (size === 2) return Int32Array.from(new Uint16Array(buf.buffer, buf.byteOffset, index.lengths[i]));
    return new Int32Array(buf.buffer, buf.byteOffset, index.lengths[i]).slice();
  } finally {
    closeSync(fd);
  }
}

export interface LitgptOptions {
  chunkSize?: number;
  prefix?: string;
  sepToken?: number;
  log?: (m: string) => void;
}

export async function exportLitgpt(
  shardsDir: string,
  outDir: string,
  o: LitgptOptions = {},
): Promise<ExportSummary & { chunks: number; padding: number }> {
  const m = readManifest(shardsDir);
  const chunkSize = o.chunkSize ?? STEEL_CHUNK_SIZE;
  const prefix = o.prefix ?? 'train';
  const sep = o.sepToken ?? m.tokenizer.pad_id;
  mkdirSync(outDir, { recursive: true });
  const chunk = new Int32Array(chunkSize);
  let fill = 0,
    counter = 0,
    tokens = 0,
    documents = 0;
  const files: string[] = [];
  const header = Buffer.alloc(LITPKDS_HEADER_BYTES);
  LITPKDS_MAGIC.copy(header, 0);
  header.writeBigUInt64LE(1n, 7);
  header.writeUInt8(LITPKDS_DTYPE.int32, 15);
  header.writeBigUInt64LE(BigInt(chunkSize), 16);
  const writeChunk = () => {
    const path = join(outDir, `${prefix}_${String(counter++).padStart(10, '0')}.bin`);
    const f = new BufferedFile(path);
    f.write(header);
    f.write(asBytes(chunk));
    f.close();
    files.push(path);
    fill = 0;
  };
  for (const s of m.shards) {
    for await (const b of iterShardBatches(join(shardsDir, s.file))) {
      const t = b.tokens;
      documents += b.numDocs;
      for (let i = 0; i < t.length;) {
        const n = Math.min(chunkSize - fill, t.length - i);
        for (let k = 0; k < n; k++) {
          const v = t[i + k];
          if (v > 0x7fffffff) throw new Error(`${s.file}: token id ${v} does not fit int32`);
          chunk[fill + k] = v;
        }
        fill += n;
        i += n;
        tokens += n;
        if (fill === chunkSize) writeChunk();
      }
    }
    o.log?.(`[export litgpt] ${s.file}: ${s.documents} documents`);
  }
  let padding = 0;
  if (fill > 0) {
    padding = chunkSize - fill;
    chunk.fill(sep, fill);
    writeChunk();
  }
  return { files, documents, tokens, chunks: files.length, padding };
}

export interface LitgptChunk {
  version: number;
  dtypeCode: number;
  chunkSize: number;
  tokens: Int32Array;
}

export function readLitgptChunk(path: string): LitgptChunk {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const b = Buffer.alloc(size);
    readSync(fd, b, 0, size, 0);
    if (size < LITPKDS_HEADER_BYTES || !b.subarray(0, 7).equals(LITPKDS_MAGIC))
      throw new Error(`${path}: not a LITPKDS chunk`);
    const version = Number(b.readBigUInt64LE(7));
    const dtypeCode = b.readUInt8(15);
    const chunkSize = Number(b.readBigUInt64LE(16));
    if (dtypeCode !== LITPKDS_DTYPE.int32)
      throw new Error(`${path}: dtype code ${dtypeCode}, only int32 (4) is read here`);
    if (size !== LITPKDS_HEADER_BYTES + chunkSize * 4)
      throw new Error(`${path}: ${size} bytes, header says ${chunkSize} int32 tokens`);
    const tokens = new Int32Array(chunkSize);
    new Uint8Array(tokens.buffer).set(b.subarray(LITPKDS_HEADER_BYTES));
    return { version, dtypeCode, chunkSize, tokens };
  } finally {
    closeSync(fd);
  }
}
