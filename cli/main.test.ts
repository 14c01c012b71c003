import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS, joinNegativeValues, usage } from './main.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test('the lazy command table lists every module in cli/commands/ with the summary that module exports', async () => {
  const files = readdirSync(new URL('./commands/', import.meta.url))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
  assert.deepEqual(Object.keys(COMMANDS).sort(), files);
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const mod = await entry.load();
    assert.equal(typeof mod.run, 'function', `cli/commands/${name}.ts exports run`);
    assert.equal(entry.summary, mod.summary, `summary of "${name}" in cli/main.ts`);
    assert.match(usage(), new RegExp(`^  ${name} +${entry.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  }
});

test('steel --help prints the table (through cli/steel.js, compiled or not)', () => {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('./steel.js', import.meta.url)), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, usage() + '\n');
});

test('a negative number reaches the command\'s own check (not "ambiguous"); a wrong --method is named, not "required"', () => {
  const steel = (...a: string[]) =>
    spawnSync(process.execPath, [fileURLToPath(new URL('./steel.js', import.meta.url)), ...a], { encoding: 'utf8' });
  assert.deepEqual(joinNegativeValues(['--workers', '-3', '--quiet', '--out', 'x']), [
    '--workers=-3',
    '--quiet',
    '--out',
    'x',
  ]);
  const w = steel('prep', '--workers', '-3', '--out', '/nonexistent/steel-robust-test');
  assert.equal(w.status, 1);
  assert.match(w.stderr, /--workers must be a positive integer, got "-3"/);
  assert.doesNotMatch(w.stderr, /ambiguous/);
  const m = steel('dedup', '--method', 'bogus', '--input', 'x', '--out', 'y');
  assert.equal(m.status, 2);
  assert.match(m.stderr, /--method must be exact, minhash or simhash, got "bogus"/);
});

test("steel dedup takes a folder's files by the readers' format detection and names a folder with none", () => {
  const dir = tmpDir('steel-dedup-cli-');
  writeFileSync(join(dir, 'notes.txt'), 'not a document file\n');
  const r = spawnSync(
    process.execPath,
    [
      fileURLToPath(new URL('./steel.js', import.meta.url)),
      'dedup',
      '--method',
      'exact',
      '--input',
      dir,
      '--out',
      join(dir, 'out'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /holds no JSONL, Parquet or Arrow files/);
});

test('steel dedup --text-field / --id-field read the text and the id from the named fields', () => {
  const dir = tmpDir('steel-dedup-fields-');
  const rows = [
    { uid: 'a', content: '第一份文件的内容，和第二份完全一样。' },
    { uid: 'b', content: '第一份文件的内容，和第二份完全一样。' },
    { uid: 'c', content: 'something else entirely' },
  ];
  writeFileSync(join(dir, 'in.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = join(dir, 'out');
  const r = spawnSync(
    process.execPath,
    [
      fileURLToPath(new URL('./steel.js', import.meta.url)),
      'dedup',
      '--method',
      'exact',
      '--workers',
      '1',
      '--input',
      join(dir, 'in.jsonl'),
      '--text-field',
      'content',
      '--id-field',
      'uid',
      '--out',
      out,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const dups = readFileSync(join(out, 'duplicates.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    dups.map((d) => [d.id, d.duplicate_of]),
    [['b', 'a']],
  );
});
