import { statSync } from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { ReadItem, ReadOptions } from './types.ts';
import { zstdDecoder } from './zstd.ts';

import { InvalidUtf8 } from './types.ts';
export { InvalidUtf8 };

const fatal = new TextDecoder('utf-8', { fatal: true });
const lossy = new TextDecoder('utf-8');
const parsers = {
  stringFromBytes(bytes: Uint8Array | undefined) {
    if (!bytes) return bytes;
    try {
      return fatal.decode(bytes);
    } catch {
      return new InvalidUtf8(lossy.decode(bytes));
    }
  },
};

/**
 * Parquet reader (hyparquet): reads one row group at a time, so memory is bounded by the largest row group.
 * Locations are 1-based row numbers within the file.
 */
export async function* readParquet(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const size = statSync(file).size;
  const z = zstdDecoder();
  // ZSTD pages through libzstd in wasm (about 3x the pure-JS decoder); the pure-JS one when that fails
  const comps = {
    ...compressors,
    ZSTD: (input: Uint8Array, outputLength: number): Uint8Array => {
      try {
        return z.decompress(input, outputLength);
      } catch {
        /* fall through */
      }
      return compressors.ZSTD!(input, outputLength);
    },
  };
  const buf = await asyncBufferFromFile(file);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buf);
  } catch (e) {
    throw new Error(`${file}: not a readable Parquet file: ${(e as Error).message}`);
  }
  let rowStart = 0;
  let bytesDone = 0;
  for (const rg of metadata.row_groups) {
    const n = Number(rg.num_rows);
    const rowEnd = rowStart + n;
    const rows = await parquetReadObjects({
      file: buf,
      metadata,
      rowStart,
      rowEnd,
      columns: opts.columns,
      compressors: comps,
      parsers,
    });
    for (let i = 0; i < rows.length; i++) {
      yield { kind: 'record', record: rows[i] as Record<string, unknown>, loc: { file, line: rowStart + i + 1 } };
    }
    bytesDone += Number(rg.total_byte_size ?? 0);
    opts.onBytes?.(Math.min(size, bytesDone), size);
    rowStart = rowEnd;
  }
  opts.onBytes?.(size, size);
}
