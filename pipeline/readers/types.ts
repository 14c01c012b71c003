import type { ReaderOptions, RecordLocation } from '../corpora/types.ts';

export type { ReaderOptions, RecordLocation };

/** One item produced by a reader: a raw record with its location, or a malformed record turned into a reject. */
export type ReadItem =
  | {
      kind: 'record';
      record: Record<string, unknown>;
      loc: RecordLocation;
      /** JSONL: the line's JSON text, of which `record` is the parse. */
      json?: string;
    }
  | { kind: 'reject'; loc: RecordLocation; error: string; raw?: string };

export type { InputFormat } from './formats.ts';
import type { InputFormat } from './formats.ts';

export interface ReadOptions {
  /** Format; detected from the file name when absent. */
  format?: InputFormat;
  /** Declared text encoding (TextDecoder label: "utf-8", "gbk", "gb18030", "big5", ...). Default utf-8. */
  encoding?: string;
  /** Parquet/Arrow: read only these columns (default: all). */
  columns?: string[];
  /** Called with (compressed) input bytes consumed so far and the file size, for progress displays. */
  onBytes?: (done: number, total: number) => void;
  /** Text files: name of the field that receives the file content (default "text"). */
  textField?: string;
  /** JSONL: read only this slice of the file (pipeline/slices.ts); its lines keep their numbers in the whole file. */
  slice?: FileSlice;
}

/**
 * A slice of a JSONL file (plain, or zstd with several frames): the lines that start in one range of its
 * (decompressed) bytes, found by a pass over the file (pipeline/slices.ts). Reading starts at `offset` of the file
 * (a zstd frame's first byte, or the first line's in a plain file) and skips `skip` decompressed bytes to the
 * slice's first line. Reading a slice checks that it starts and ends where a line does and holds the lines it
 * should (a file changed since the table was made is an error).
 */
export interface FileSlice {
  /** Byte of the file where reading starts. */
  offset: number;
  /** Decompressed bytes from there to the slice's first line. */
  skip: number;
  /** The 1-based number of that line in the whole file. */
  line: number;
  /** Decompressed offset of that line in the whole file. */
  start: number;
  /** Decompressed bytes of the slice's lines; absent for the last slice (to the end of the file). */
  bytes?: number;
  /** Lines of the slice; absent for the last slice. */
  lines?: number;
}

/** Max characters of a malformed record kept in the rejects file. */
export const RAW_PREVIEW = 2000;

export function preview(s: string): string {
  return s.length > RAW_PREVIEW ? s.slice(0, RAW_PREVIEW) + '…' : s;
}

/**
 * A stream that fails with `e` when first read: what a reader that is a plain function (its setup done before its
 * loop, see lineBlocks) returns for an error of that setup, which an async generator would have thrown there.
 */
// eslint-disable-next-line require-yield
export async function* failing(e: unknown): AsyncGenerator<never> {
  throw e;
}

/** Marks a string column value whose bytes are not valid UTF-8 (becomes a reject if it is the text field). */
export class InvalidUtf8 {
  constructor(readonly lossy: string) {}
  toJSON(): string {
    return this.lossy;
  }
}
