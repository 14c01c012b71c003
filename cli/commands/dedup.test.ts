import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './dedup.ts';
import { EXIT_CORRUPT_INPUT } from '../corrupt-inputs.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';

test('steel dedup: a truncated input file → the run finishes with exit status 3; --strict fails with 1', async () => {
  const dir = tmpDir('steel-dedup-cli-');
  const body = Array.from({ length: 300 }, (_, i) => JSON.stringify({ text: `doc ${i % 7} ` + 'x '.repeat(50) }));
  writeFileSync(join(dir, 'ok.jsonl.gz'), gzipSync(Buffer.from('{"text":"fine"}\n')));
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
  assert.equal(stats.read, 1 + stats.corruptFiles[0].records_read);
  assert.equal(stats.kept + stats.dropped, stats.read);
});
