import { createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { zstdDecompressStream } from './zstd.ts';

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
 * fzstd streaming for frames without a declared size; concatenated frames supported). Memory is bounded by the chunk size times the compression ratio of one chunk.
 * `borrow`: a chunk may be lent (a view of the zstd decoder's memory), valid only until the next chunk is asked for,
 * for a reader that copies what it keeps (readLines); otherwise every chunk is the caller's.
 */
export async function* openBytes(
  file: string,
  onBytes?: (done: number, total: number) => void,
  borrow = false,
): AsyncGenerator<Uint8Array> {
  const total = statSync(file).size;
  let done = 0;
  const raw = createReadStream(file, { highWaterMark: CHUNK });
  const comp = compressionOf(file);
  try {
    if (comp === 'none') {
      for await (const c of raw as AsyncIterable<Buffer>) {
        done += c.length;
        onBytes?.(done, total);
        yield c;
      }
    } else if (comp === 'gzip') {
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
    } else {
      try {
        yield* zstdDecompressStream(
          raw as AsyncIterable<Buffer>,
          (n) => {
            done += n;
            onBytes?.(done, total);
          },
          borrow,
        );
      } catch (e) {
        throw (
          systemError(e) ??
          new Error(`${file}: truncated or corrupt zstd stream: ${(e as Error).message}`, { cause: e })
        );
      }
    }
  } finally {
    raw.destroy();
  }
}
