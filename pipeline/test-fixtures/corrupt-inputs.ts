/**
 * Damaged input files for the tests of what prep, dedup and tokenizer encode do with them (made by the test itself):
 * a sound .gz, a .gz cut to 60% and a .zst 7 bytes short; and the lines of an OUT/rejects/ folder.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { zstdCompressChunk } from '../writers/index.ts';
import type { CorruptFile } from '../readers/index.ts';

/** The text of document `j` of file `prefix` (long enough that a cut keeps some whole records). */
export type FixtureText = (prefix: string, j: number) => string;

const defaultText: FixtureText = (prefix, j) => `${prefix} ${j} ` + `w${j} `.repeat(40);

/** k JSONL lines with ids P-0..P-(k-1). */
export function jsonlLines(prefix: string, k: number, text: FixtureText = defaultText): Buffer {
  return Buffer.from(
    Array.from({ length: k }, (_, j) => JSON.stringify({ id: `${prefix}-${j}`, text: text(prefix, j) })).join('\n') +
      '\n',
  );
}

/** c.jsonl.zst whole (30 documents): what a re-download of the damaged one gives. */
export async function soundZst(text: FixtureText = defaultText): Promise<Uint8Array> {
  return zstdCompressChunk(jsonlLines('c', 30, text));
}

/** In `dir`: a.jsonl.gz (sound, 50 docs), b.jsonl.gz (gzip of 400 docs cut to 60%), c.jsonl.zst (30 docs, 7 bytes short). */
export async function corruptInputs(
  dir: string,
  text: FixtureText = defaultText,
): Promise<{ a: string; b: string; c: string }> {
  mkdirSync(dir, { recursive: true });
  const a = join(dir, 'a.jsonl.gz');
  const b = join(dir, 'b.jsonl.gz');
  const c = join(dir, 'c.jsonl.zst');
  writeFileSync(a, gzipSync(jsonlLines('a', 50, text)));
  const gb = gzipSync(jsonlLines('b', 400, text));
  writeFileSync(b, gb.subarray(0, Math.floor(gb.length * 0.6)));
  const zc = await soundZst(text);
  writeFileSync(c, zc.subarray(0, zc.length - 7));
  return { a, b, c };
}

/** Every line of OUT/rejects/, parsed. */
export function rejectLines(out: string): any[] {
  return readdirSync(join(out, 'rejects')).flatMap((f) =>
    readFileSync(join(out, 'rejects', f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
}

/**
 * What a run recorded of corruptInputs' damaged files: b and c, in that order, by the JSONL reader, b's gzip cut, some
 * of its 400 records read. Returns the two records.
 */
export function checkCorruptBC(files: CorruptFile[], b: string, c: string): [CorruptFile, CorruptFile] {
  assert.deepEqual(
    files.map((x) => x.path),
    [b, c],
  );
  const [cb, cc] = files;
  assert.equal(cb.reader, 'jsonl');
  assert.match(cb.error, /corrupt gzip stream: unexpected end of file/);
  assert.ok(cb.records_read > 0 && cb.records_read < 400, `read ${cb.records_read} of b before the cut`);
  assert.equal(typeof cb.offset, 'number');
  return [cb, cc];
}
