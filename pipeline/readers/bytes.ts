import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { zstdDecompressStream } from './zstd.ts';
import type { FileSlice } from './types.ts';

export type Compression = 'none' | 'gzip' | 'zstd';

export function compressionOf(file: string): Compression {
  if (/\.(gz|gzip)$/i.test(file)) return 'gzip';
  if (/\.(zst|zstd)$/i.test(file)) return 'zstd';
  return 'none';
}

/** Strip a compression suffix: "a.jsonl.zst" -> "a.jsonl". */
export function stripCompression(file: string): string {
  return file.replace(/\.(gz|gzip|zst|zstd)$/i, '');
}

const CHUNK = 1 << 20;

/** An error of the system (ENOENT, EACCES, EIO...) passes through as is: it is not damage in the file. */
function systemError(e: unknown): Error | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? (e as Error) : undefined;
}

/**
 * Stream the (decompressed) bytes of a file: plain, .gz (zlib) or .zst (frame by frame through libzstd wasm, or
 * fzstd streaming for huge frames; concatenated frames supported). Memory is bounded by the chunk size times the compression ratio of one chunk.
 * `borrow`: a chunk may be lent (a view of the zstd decoder's memory, or of the one buffer a plain file is read into),
 * valid only until the next chunk is asked for, for a reader that copies what it keeps (readLines); otherwise every
 * chunk is the caller's. `from`: the byte of the file to start at (a plain file's, or a zstd frame's first byte);
 * `done` then counts the bytes read from there.
 */
export async function* openBytes(
  file: string,
  onBytes?: (done: number, total: number) => void,
  borrow = false,
  from = 0,
): AsyncGenerator<Uint8Array> {
  const total = statSync(file).size;
  let done = 0;
  const comp = compressionOf(file);
  if (comp === 'gzip') {
    if (from) throw new Error(`${file}: a gzip stream is read from its start only`);
    const raw = createReadStream(file, { highWaterMark: CHUNK });
    try {
      const gunzip = createGunzip({ chunkSize: 256 * 1024 });
      raw.on('data', (c) => {
        done += c.length;
        onBytes?.(done, total);
      });
      raw.on('error', (e) => gunzip.destroy(e));
      raw.pipe(gunzip);
      try {
        for await (const c of gunzip as AsyncIterable<Buffer>) yield c;
      } catch (e) {
        throw systemError(e) ?? new Error(`${file}: corrupt gzip stream: ${(e as Error).message}`, { cause: e });
      }
    } finally {
      raw.destroy();
    }
    return;
  }
  const fh = await open(file, 'r');
  try {
    let pos = from;
    const read = async (into: Uint8Array, at: number, len: number) => {
      const n = (await fh.read(into, at, len, pos)).bytesRead;
      pos += n;
      return n;
    };
    if (comp === 'none') {
      // a borrowed chunk is the one buffer every read fills (a fresh one per read cost page faults)
      const mine = borrow ? Buffer.allocUnsafe(CHUNK) : undefined;
      for (;;) {
        const b = mine ?? Buffer.allocUnsafe(CHUNK);
        const n = await read(b, 0, CHUNK);
        if (n === 0) return;
        done += n;
        onBytes?.(done, total);
        yield b.subarray(0, n);
      }
    }
    try {
      yield* zstdDecompressStream(
        read,
        (n) => {
          done += n;
          onBytes?.(done, total);
        },
        borrow,
      );
    } catch (e) {
      throw (
        systemError(e) ?? new Error(`${file}: truncated or corrupt zstd stream: ${(e as Error).message}`, { cause: e })
      );
    }
  } finally {
    await fh.close();
  }
}

/** The error of a slice that does not match its file (changed since the slice table was made): not damage, an error. */
export function sliceChanged(file: string, s: FileSlice, what: string): Error {
  return Object.assign(
    new Error(`${file}: the slice from line ${s.line} ${what}: the file changed since it was sliced`),
    {
      code: 'ECHANGED',
    },
  );
}

/**
 * The decompressed bytes of one slice of a file (FileSlice): from `offset`, less the `skip` bytes before its first
 * line, up to `bytes` (to the end of the file for the last slice). Checks that the skipped bytes end a line and that
 * a bounded slice ends one. `borrow` as openBytes.
 */
export async function* openSlice(
  file: string,
  s: FileSlice,
  onBytes?: (done: number, total: number) => void,
  borrow = false,
): AsyncGenerator<Uint8Array> {
  let skip = s.skip;
  let left = s.bytes ?? Infinity;
  if (left === 0) return;
  let lastByte = -1;
  for await (let c of openBytes(file, onBytes, borrow, s.offset)) {
    if (skip) {
      if (c.length < skip) {
        skip -= c.length;
        continue;
      }
      if (c[skip - 1] !== 10) throw sliceChanged(file, s, 'does not start a line');
      c = c.subarray(skip);
      skip = 0;
      if (!c.length) continue;
    }
    if (c.length >= left) {
      lastByte = c[left - 1];
      yield c.subarray(0, left);
      left = 0;
      break;
    }
    left -= c.length;
    yield c;
  }
  if (s.bytes === undefined) return;
  if (left > 0 || skip > 0) throw sliceChanged(file, s, 'runs past the end of the file');
  if (lastByte !== 10) throw sliceChanged(file, s, 'does not end a line');
}
