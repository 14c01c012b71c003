import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './dedup.ts';
import { EXIT_CORRUPT_INPUT } from '../corrupt-inputs.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';

test('steel dedup: a truncated input file → the run finishes with exit status 3; --strict fails with 1', async () => {
  const dir = tmpDir('steel-dedup-cli-');
  const body = Array.from({ length: 300 }, (_, i) => JSON.stringify({ text: `doc ${i % 7} ` + 'x '.repeat(50) }));
  writeFileSync(join(dir, 'ok.jsonl.gz'), gzipSync(Buffer.from('{"text":"fine"}\nnot json\n')));
  const gz = gzipSync(Buffer.from(body.join('\n')));
  writeFileSync(join(dir, 'cut.jsonl.gz'), gz.subarray(0, gz.length >> 1));
  const args = ['--method', 'exact', '--input', dir, '--workers', '1'];
  const err = console.error;
  const out = console.log;
  const said: string[] = [];
  console.error = (m: string) => void said.push(String(m));
  console.log = () => {};
  try {
    assert.equal(await run([...args, '--out', join(dir, 'out')]), EXIT_CORRUPT_INPUT);
    await assert.rejects(run([...args, '--out', join(dir, 'strict'), '--strict']), /jsonl reader: .*cut\.jsonl\.gz/);
  } finally {
    console.error = err;
    console.log = out;
  }
  assert.ok(
    said.some((l) => /1 input file\(s\) could not be read to their end .*cut\.jsonl\.gz.*\(exit status 3\)/.test(l)),
    said.join('\n'),
  );
  const stats = JSON.parse(readFileSync(join(dir, 'out', 'dedup-stats.json'), 'utf8'));
  assert.equal(stats.corruptFiles[0].file.split('/').pop(), 'cut.jsonl.gz');
  // every record read: kept, removed as a duplicate, or rejected with its error (DIR/rejects/, with the corrupt file)
  assert.equal(stats.read + stats.rejected, 2 + stats.corruptFiles[0].records_read);
  assert.equal(stats.kept + stats.dropped, stats.read);
  assert.equal(stats.rejected, 1);
  const rejects = readdirSync(join(dir, 'out', 'rejects')).flatMap((f) =>
    readFileSync(join(dir, 'out', 'rejects', f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
  assert.deepEqual(
    rejects.map((r) => [r.file.split('/').pop(), r.line ?? null, !!r.corrupt_file, typeof r.error]).sort(),
    [
      ['cut.jsonl.gz', null, true, 'string'],
      ['ok.jsonl.gz', 2, false, 'string'],
    ],
  );
});
