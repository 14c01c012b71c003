import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { rename, rm, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Document } from '../document.ts';
import { tempPathFor } from '../fsutil.ts';
import { zstdCompressChunk } from './jsonl.ts';
import { zstdCompress } from '../readers/zstd.ts';

export interface ParquetDocWriterOptions {
  /** Rows per row group (default 10,000). */
  rowGroupRows?: number;
  /** Column codec (default ZSTD). */
  codec?: 'ZSTD' | 'SNAPPY' | 'UNCOMPRESSED';
}

const SCHEMA = [
  { name: 'root', num_children: 5 },
  { name: 'id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'source', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'lang', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  // meta as a JSON string
  { name: 'meta', type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: 'OPTIONAL' },
] as const;

/**
 * Parquet writer for documents (hyparquet-writer): columns id, text, source, lang, meta (JSON); one row group per
 * `rowGroupRows` documents, so memory is bounded by one row group. Atomic: temp name, renamed on close().
 */
export class ParquetDocWriter {
  private readonly tmp: string;
  private writer: ParquetWriter | undefined;
  private rows: Document[] = [];
  count = 0;

  constructor(
    readonly path: string,
    private readonly opts: ParquetDocWriterOptions = {},
  ) {
    this.tmp = tempPathFor(path);
  }

  private async open(): Promise<ParquetWriter> {
    if (this.writer) return this.writer;
    await mkdir(dirname(this.path), { recursive: true });
    this.writer = new ParquetWriter({
      writer: fileWriter(this.tmp),
      schema: SCHEMA as never,
      codec: this.opts.codec ?? 'ZSTD',
      compressors: { ZSTD: (b: Uint8Array) => zstdCompress(b, 3) },
    });
    return this.writer;
  }

  async write(doc: Document): Promise<void> {
    this.rows.push(doc);
    this.count++;
    if (this.rows.length >= (this.opts.rowGroupRows ?? 10_000)) await this.flush();
  }

  private async flush(): Promise<void> {
    const w = await this.open();
    if (!this.rows.length) return;
    const rows = this.rows;
    this.rows = [];
    await w.write({
      columnData: [
        { name: 'id', data: rows.map((d) => d.id) },
        { name: 'text', data: rows.map((d) => d.text) },
        { name: 'source', data: rows.map((d) => d.source) },
        { name: 'lang', data: rows.map((d) => d.lang ?? null) },
        { name: 'meta', data: rows.map((d) => d.meta ?? {}) },
      ],
      rowGroupSize: rows.length,
    });
  }

  async close(): Promise<void> {
    await this.flush();
    const w = await this.open();
    w.finish();
    await rename(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    this.rows = [];
    await rm(this.tmp, { force: true });
  }
}

export { zstdCompressChunk };
