import { open } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { RecordBatchReader } from 'apache-arrow';
import type { ReadItem, ReadOptions } from './types.ts';

function plain(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Date)) {
    return (v as { toJSON(): unknown }).toJSON();
  }
  return v;
}

/**
 * Arrow IPC reader (apache-arrow RecordBatchReader), file ("ARROW1" magic, random access) and stream formats,
 * one record batch at a time. Locations are 1-based row numbers within the file.
 */
export async function* readArrow(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const size = statSync(file).size;
  const fh = await open(file, 'r');
  let row = 0;
  try {
    let readers;
    try {
      readers = RecordBatchReader.readAll(fh);
    } catch (e) {
      throw new Error(`${file}: not a readable Arrow IPC file: ${(e as Error).message}`);
    }
    for await (const reader of readers) {
      for await (const batch of reader) {
        const fields = batch.schema.fields
          .map((f, j) => ({ name: f.name, j }))
          .filter((f) => !opts.columns || opts.columns.includes(f.name));
        const cols = fields.map((f) => batch.getChildAt(f.j)!);
        for (let i = 0; i < batch.numRows; i++) {
          const rec: Record<string, unknown> = {};
          for (let k = 0; k < fields.length; k++) rec[fields[k].name] = plain(cols[k].get(i));
          row++;
          yield { kind: 'record', record: rec, loc: { file, line: row } };
        }
      }
    }
  } finally {
    await fh.close();
  }
  opts.onBytes?.(size, size);
}
