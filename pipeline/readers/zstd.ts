/**
 * Streaming zstd decompression. Frames whose compressed size and content size (declared in the header, or bounded by
 * their blocks when not declared) stay under caps (the ~1 MiB frames our writer emits, frames written by `zstd`,
 * and streams it compressed from a pipe, which declare no size) are decompressed whole by our
 * build of libzstd's decompressor in WebAssembly (zstd-decoder.c, one context and its buffers reused: about 1.5x the
 * @bokuweb/zstd-wasm build warm and half its CPU time on a process's first frames, about 3x the pure-JS fzstd);
 * anything else (huge frames) falls back, from that frame on, to the pure-JS streaming decoder
 * fzstd. Memory stays bounded by the cap, not by the file size. Compression (the writers: zstdCompress) goes through
 * our build of libzstd's compressor (zstd-encoder.c, one context and its buffers reused).
 */
import { Decompress } from 'fzstd';
import { instantiate, type KernelMemory } from '../wasm.ts';

/** The exports of zstd-encoder.wasm (zstd-encoder.c). */
interface EncoderExports extends KernelMemory {
  ze_need(level: number, n: number): number;
  ze_bound(n: number): number;
  ze_init(ws: number, size: number): number;
  ze_compress(dst: number, cap: number, src: number, n: number, level: number): number;
  ze_error(code: number): number;
}

/**
 * A compressor of whole inputs into one zstd frame each (content size declared, no checksum: the frame
 * ZSTD_compress gives). The module's memory holds, after its static data, the context's workspace, the input and the
 * frame; each grows to the largest needed so far and stays, so the context (its tables cleared by each frame) and
 * the buffers are reused across calls.
 */
export class ZstdEncoder {
  private readonly ex: EncoderExports;
  private readonly base: number;
  private wsCap = 0;
  private srcCap = 0;
  private dstCap = 0;
  private src = 0;
  private dst = 0;

  constructor() {
    this.ex = instantiate<EncoderExports>(new URL('./zstd-encoder.wasm', import.meta.url));
    this.base = (this.ex.__heap_base.value + 15) & ~15;
  }

  /** `data` compressed at `level` (1 to 22; 3 is zstd's default) into one frame (a new array). */
  compress(data: Uint8Array, level = 3): Uint8Array {
    const ex = this.ex;
    const n = data.length;
    const need = ex.ze_need(level, n);
    const bound = ex.ze_bound(n);
    if (need > this.wsCap || n > this.srcCap || bound > this.dstCap) {
      const ws = need > this.wsCap;
      this.wsCap = Math.max(this.wsCap, need);
      this.srcCap = Math.max(this.srcCap, n);
      this.dstCap = Math.max(this.dstCap, bound);
      this.src = this.base + ((this.wsCap + 15) & ~15);
      this.dst = this.src + ((this.srcCap + 15) & ~15);
      const grow = this.dst + this.dstCap - ex.memory.buffer.byteLength;
      if (grow > 0) ex.memory.grow(Math.ceil(grow / 65536));
      if (ws && ex.ze_init(this.base, this.wsCap) < 0)
        throw new Error(`zstd encoder: no context in ${this.wsCap} bytes`);
    }
    new Uint8Array(ex.memory.buffer, this.src, n).set(data);
    const r = ex.ze_compress(this.dst, this.dstCap, this.src, n, level);
    if (r < 0) throw new Error(`zstd: compressing ${n} bytes at level ${level}: ${this.error(-r - 1)}`);
    return new Uint8Array(ex.memory.buffer, this.dst, r).slice();
  }

  private error(code: number): string {
    const mem = new Uint8Array(this.ex.memory.buffer);
    const p = this.ex.ze_error(code);
    return Buffer.from(mem.subarray(p, mem.indexOf(0, p))).toString('latin1');
  }
}

let encoder: ZstdEncoder | undefined;

/** The process's zstd encoder (zstd-encoder.wasm compiled and instantiated on first use). */
function zstdEncoder(): ZstdEncoder {
  return (encoder ??= new ZstdEncoder());
}

/** `data` compressed at `level` (default 3) into one zstd frame, by the process's encoder. */
export function zstdCompress(data: Uint8Array, level = 3): Uint8Array {
  return zstdEncoder().compress(data, level);
}

/** The most content one zstd block holds (ZSTD_BLOCKSIZE_MAX). */
const BLOCK_MAX = 128 << 10;

/** The exports of zstd-decoder.wasm (zstd-decoder.c). */
interface DecoderExports extends KernelMemory {
  zd_init(): number;
  zd_decompress(dst: number, cap: number, src: number, n: number): number;
  zd_head(dst: number, cap: number, src: number, n: number, want: number): number;
  zd_error(code: number): number;
}

/**
 * A decoder of whole zstd frames: the frames are copied into the module's memory after its static data, the content
 * is written after them and copied out (the memory grows to the largest frame seen and stays).
 */
export class ZstdDecoder {
  private readonly ex: DecoderExports;
  private readonly base: number;
  private srcCap = 0;
  private dstCap = 0;
  private dst = 0;

  constructor() {
    this.ex = instantiate<DecoderExports>(new URL('./zstd-decoder.wasm', import.meta.url));
    if (this.ex.zd_init() < 0) throw new Error('zstd decoder: context does not fit its workspace');
    this.base = (this.ex.__heap_base.value + 15) & ~15;
  }

  /**
   * The content of the frame(s) in `src`, which must be `size` bytes (an error otherwise). `borrow`: a view of the
   * module's memory instead of a copy, valid until the next call (which overwrites it, or detaches it when the
   * memory grows): a fresh 1 MiB array per frame cost the first read of a process ~0.1 CPU-s per 40 MB in page faults.
   */
  decompress(src: Uint8Array, size: number, borrow = false): Uint8Array {
    const n = this.run(src, size);
    if (n !== size) throw new Error(`zstd frame decoded to ${n} bytes, header says ${size}`);
    const out = new Uint8Array(this.ex.memory.buffer, this.dst, n);
    return borrow ? out : out.slice();
  }

  /**
   * The content of a frame that does not declare its size (a stream compressed as it came, e.g. `zstd < file`), which
   * must be at most `cap` bytes (scanFrame's bound: its blocks times the largest block); `borrow` as decompress.
   */
  decompressUnsized(src: Uint8Array, cap: number, borrow = false): Uint8Array {
    const n = this.run(src, cap);
    const out = new Uint8Array(this.ex.memory.buffer, this.dst, n);
    return borrow ? out : out.slice();
  }

  /** `src` decoded into the memory at this.dst (at most `cap` bytes): how many bytes. */
  private run(src: Uint8Array, cap: number): number {
    this.place(src, cap);
    const n = this.ex.zd_decompress(this.dst, cap, this.base, src.length);
    if (n < 0) throw new Error(this.error(-n - 1));
    return n;
  }

  /**
   * The start of the frame that `src` begins with (`src` may end anywhere in it): its blocks decoded in order until at
   * least `want` bytes are out (a block more at most), the frame ends, or `src` holds no whole next block. A copy.
   */
  head(src: Uint8Array, want: number): Uint8Array {
    const cap = want + BLOCK_MAX;
    this.place(src, cap);
    const n = this.ex.zd_head(this.dst, cap, this.base, src.length, want);
    if (n < 0) throw new Error(this.error(-n - 1));
    return new Uint8Array(this.ex.memory.buffer, this.dst, n).slice();
  }

  /** `src` copied into the module's memory, with room for `size` bytes of content after it (grown when needed). */
  private place(src: Uint8Array, size: number): void {
    if (src.length > this.srcCap || size > this.dstCap) {
      this.srcCap = Math.max(this.srcCap, src.length);
      this.dstCap = Math.max(this.dstCap, size);
      this.dst = this.base + ((this.srcCap + 15) & ~15);
      const grow = this.dst + this.dstCap - this.ex.memory.buffer.byteLength;
      if (grow > 0) this.ex.memory.grow(Math.ceil(grow / 65536));
    }
    new Uint8Array(this.ex.memory.buffer, this.base, src.length).set(src);
  }

  private error(code: number): string {
    const mem = new Uint8Array(this.ex.memory.buffer);
    const p = this.ex.zd_error(code);
    return `zstd: ${Buffer.from(mem.subarray(p, mem.indexOf(0, p))).toString('latin1')}`;
  }
}

let decoder: ZstdDecoder | undefined;

/** The process's zstd decoder (zstd-decoder.wasm compiled and instantiated on first use). */
export function zstdDecoder(): ZstdDecoder {
  return (decoder ??= new ZstdDecoder());
}

/** Bytes of one read of the compressed stream. */
const READ_CHUNK = 1 << 20;

/** Max compressed bytes of a frame decoded whole (bigger ones stream through fzstd). */
const MAX_FRAME_COMPRESSED = 16 << 20;
/** Max declared content size of a frame decoded whole. */
const MAX_FRAME_CONTENT = 128 << 20;

export type Scan =
  | { kind: 'need' } // more bytes needed to know
  // a complete frame in buf[0..end); contentSize -1: size not declared; cap: the most bytes it can hold (the size, or
  // its blocks times the largest block)
  | { kind: 'frame'; end: number; contentSize: number; cap: number }
  | { kind: 'skip'; end: number } // a complete skippable frame
  | { kind: 'stream' }; // not decodable whole: switch to streaming

/** The size (its 8-byte header included) of the skippable frame `buf` (8 bytes or more) starts with; -1 if none does. */
export function skippableFrameSize(buf: Uint8Array): number {
  const magic = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24);
  return magic >>> 4 === 0x184d2a5 ? 8 + ((buf[4] | (buf[5] << 8) | (buf[6] << 16) | (buf[7] << 24)) >>> 0) : -1;
}

/**
 * Look at the frame starting at buf[0]. A frame that does not declare its content size has contentSize -1 (and is
 * decoded whole all the same, into its bound `cap`: fzstd's JavaScript decoder, which these frames went to, cost a
 * process ~0.12 CPU-s of TurboFan compiles and ran slowly until compiled). `whole`: find the end of any frame,
 * whatever its size; otherwise a frame larger than the caps of whole decoding is 'stream' as soon as that is known.
 */
export function scanFrame(buf: Uint8Array, whole = false): Scan {
  if (buf.length < 8) return { kind: 'need' };
  const end = skippableFrameSize(buf);
  if (end >= 0) return buf.length >= end ? { kind: 'skip', end } : { kind: 'need' };
  const magic = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24);
  if (magic >>> 0 !== 0xfd2fb528) throw new Error('not a zstd frame (bad magic number)');
  const fhd = buf[4];
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const didFlag = fhd & 3;
  let pos = 5;
  if (!single) pos += 1;
  pos += [0, 1, 2, 4][didFlag];
  const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  if (buf.length < pos + fcsSize) return { kind: 'need' };
  let contentSize = fcsSize ? 0 : -1;
  for (let i = fcsSize - 1; i >= 0; i--) contentSize = contentSize * 256 + buf[pos + i];
  if (fcsSize === 2) contentSize += 256;
  const maxCompressed = whole ? Infinity : MAX_FRAME_COMPRESSED;
  if (contentSize > MAX_FRAME_CONTENT && !whole) return { kind: 'stream' };
  pos += fcsSize;
  let blocks = 0;
  for (;;) {
    if (pos > maxCompressed) return { kind: 'stream' };
    if (buf.length < pos + 3) return { kind: 'need' };
    const h = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16);
    const last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    pos += 3 + (type === 1 ? 1 : size);
    blocks++;
    if (last) break;
  }
  if (checksum) pos += 4;
  if (pos > maxCompressed) return { kind: 'stream' };
  const cap = contentSize >= 0 ? contentSize : blocks * BLOCK_MAX;
  if (cap > MAX_FRAME_CONTENT && !whole) return { kind: 'stream' };
  return buf.length >= pos ? { kind: 'frame', end: pos, contentSize, cap } : { kind: 'need' };
}

/**
 * Passes the content of one whole frame to `sink`, in order: `src` is the frame exactly, `s` its scan (scanFrame(src,
 * true)). A frame within the caps of whole decoding, or one that declares its size, is decoded whole by the process's
 * wasm decoder (one chunk, a view of its memory valid until the next decode); a frame that declares no size and may
 * hold more than the caps streams through fzstd (memory bounded by its chunks, not by the frame). Throws on damage
 * (after passing what came before it, when streaming).
 */
export function decodeFrame(
  src: Uint8Array,
  s: { contentSize: number; cap: number },
  sink: (chunk: Uint8Array) => void,
): void {
  if (s.contentSize === 0) return;
  if (s.contentSize > 0) {
    sink(zstdDecoder().decompress(src, s.contentSize, true));
    return;
  }
  if (src.length <= MAX_FRAME_COMPRESSED && s.cap <= MAX_FRAME_CONTENT) {
    sink(zstdDecoder().decompressUnsized(src, s.cap, true));
    return;
  }
  const d = new Decompress((chunk) => {
    if (chunk.length) sink(chunk);
  });
  for (let at = 0; at < src.length; at += READ_CHUNK) d.push(src.subarray(at, at + READ_CHUNK));
  d.push(new Uint8Array(0), true);
}

/** Reads up to `len` bytes of the compressed stream into `into` at `at`: the number read, 0 at its end. */
export type ReadInto = (into: Uint8Array, at: number, len: number) => Promise<number>;

/** zstdDecompressStream's read buffers not in use (one per stream open at once). */
const spareReadBuffers: Uint8Array[] = [];

/**
 * Decompress a stream of zstd bytes (any number of frames); yields decompressed chunks in order. The compressed bytes
 * are read into one buffer the stream reuses (the part of a frame left at its end moved to its start): a fresh
 * 1 MiB chunk per read, as a read stream gives, and joining a frame's two parts cost a process ~0.1 CPU-s per 13 MB
 * read (page faults). `onChunk`: the number of bytes of each read. `borrow`: a chunk may be a view of the decoder's
 * memory, valid only until the next chunk is asked for (ZstdDecoder.decompress).
 */
export async function* zstdDecompressStream(
  read: ReadInto,
  onChunk?: (n: number) => void,
  borrow = false,
): AsyncGenerator<Uint8Array> {
  const z = zstdDecoder();
  // taken from the spare buffers and given back at the end: a fresh 2 MiB per file was first touched by its reads
  let buf = spareReadBuffers.pop() ?? new Uint8Array(READ_CHUNK * 2);
  try {
    let start = 0;
    let end = 0;
    let streaming: Decompress | undefined;
    let out: Uint8Array[] = [];
    for (;;) {
      if (start > 0) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      if (buf.length - end < READ_CHUNK) {
        // a frame longer than the buffer: a larger one (frames over MAX_FRAME_COMPRESSED go to the streaming decoder)
        const b = new Uint8Array(buf.length * 2);
        b.set(buf.subarray(0, end));
        buf = b;
      }
      const n = await read(buf, end, READ_CHUNK);
      if (n === 0) break;
      onChunk?.(n);
      end += n;
      if (streaming) {
        streaming.push(buf.slice(start, end));
        start = end;
        const o = out;
        out = [];
        yield* o;
        continue;
      }
      while (start < end) {
        const s = scanFrame(buf.subarray(start, end));
        if (s.kind === 'need') break;
        if (s.kind === 'skip') {
          start += s.end;
          continue;
        }
        if (s.kind === 'frame') {
          const frame = buf.subarray(start, start + s.end);
          const d =
            s.contentSize > 0
              ? z.decompress(frame, s.contentSize, borrow)
              : s.contentSize < 0
                ? z.decompressUnsized(frame, s.cap, borrow)
                : new Uint8Array(0);
          start += s.end;
          if (d.length) yield d;
          continue;
        }
        // switch to the streaming decoder from this frame on
        streaming = new Decompress((chunk) => {
          if (chunk.length) out.push(chunk);
        });
        streaming.push(buf.slice(start, end));
        start = end;
        const o = out;
        out = [];
        yield* o;
        break;
      }
    }
    if (streaming) {
      streaming.push(new Uint8Array(0), true);
      yield* out;
    } else if (end > start) {
      throw new Error(`truncated zstd frame at end of stream (${end - start} bytes left)`);
    }
  } finally {
    spareReadBuffers.push(buf);
  }
}
