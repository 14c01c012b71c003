import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run, EXIT_CORRUPT_INPUT } from './prep.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';

test('steel prep: a truncated input file → the run finishes with exit status 3; --strict fails with 1', async () => {
  const dir = tmpDir('steel-prep-cli-');
  const body = Array.from({ length: 300 }, (_, i) => JSON.stringify({ text: `doc ${i} ` + 'x '.repeat(50) })).join(
    '\n',
  );
  writeFileSync(join(dir, 'ok.jsonl.gz'), gzipSync(Buffer.from('{"text":"fine"}\n')));
  const gz = gzipSync(Buffer.from(body));
  writeFileSync(join(dir, 'cut.jsonl.gz'), gz.subarray(0, gz.length >> 1));
  const args = ['--recipe', 'basic', '--input', join(dir, '*.jsonl.gz'), '--workers', '1', '--quiet'];
  assert.equal(EXIT_CORRUPT_INPUT, 3);
  assert.equal(await run([...args, '--out', join(dir, 'out')]), EXIT_CORRUPT_INPUT);
  await assert.rejects(run([...args, '--out', join(dir, 'strict'), '--strict']), /jsonl reader: .*cut\.jsonl\.gz/);
});
