/**
 * `steel dedup` and a truncated .gz/.zst input (as pipeline/corrupt-input.test.ts for prep): the documents before the
 * damage are deduplicated like any other, the file is recorded (rejects/, dedup-stats.json, result), --strict stops at
 * it, also on a resumed run; replacing the file redoes its signatures and the later stages, not the other files'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from 'fzstd';
import { LocalExecutor } from '../pipeline/executor.ts';
import { openParquetDocWriter } from '../pipeline/writers/index.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
import {
  checkCorruptBC,
  corruptInputs,
  jsonlLines,
  rejectLines,
  soundZst,
} from '../pipeline/test-fixtures/corrupt-inputs.ts';
import { buildConfig, minhashParams } from './params.ts';
import { runDedup } from './run.ts';
import { fileDonePath } from './stages/common.ts';

/** Document j of a file: 40 distinct texts, so later documents (and the other files) repeat earlier ones. */
const text = (j: number) => `text ${j % 40} ` + Array.from({ length: 60 }, (_, k) => `w${(j % 40) * 7 + k}`).join(' ');
const dupText = (_p: string, j: number) => text(j);
const lines = (prefix: string, k: number) => jsonlLines(prefix, k, dupText);
const inputs = async (dir: string) => Object.values(await corruptInputs(dir, dupText));

const cfgFor = (files: string[], out: string) =>
  buildConfig('minhash', minhashParams.parse({}), { inputs: files, workDir: join(out, 'work'), outDir: out });

async function dedup(files: string[], out: string, keepCorrupt: boolean, log: (m: string) => void = () => {}) {
  const ex = new LocalExecutor({ inProcess: 'always', progress: { quiet: true } });
  try {
    return await runDedup(cfgFor(files, out), ex, { workers: 1, log, keepCorrupt });
  } finally {
    ex.close();
  }
}

function keptIds(out: string): string[] {
  const ids: string[] = [];
  for (const f of readdirSync(join(out, 'docs')).sort()) {
    const t = Buffer.from(decompress(readFileSync(join(out, 'docs', f)))).toString('utf8');
    for (const l of t.split('\n')) if (l) ids.push(JSON.parse(l).id);
  }
  return ids;
}

test('dedup: truncated .gz and .zst inputs are deduplicated up to the damage and recorded; the run finishes', async () => {
  const dir = tmpDir('steel-dedup-corrupt-');
  const [a, b, c] = await inputs(dir);
  const out = join(dir, 'out');
  const logs: string[] = [];
  const r = await dedup([a, b, c], out, true, (m) => logs.push(m));
  const [cb, cc] = checkCorruptBC(r.corruptFiles, b, c);
  // every record read is accounted for: kept + removed as duplicates (+ rejected: none here)
  assert.equal(r.read, 50 + cb.records_read + cc.records_read);
  assert.equal(r.kept + r.dropped, r.read);
  assert.equal(r.rejected, 0);
  assert.equal(r.kept, 40, 'one document per distinct text');
  const rj = rejectLines(out);
  assert.deepEqual(rj.map((x) => [x.corrupt_file, x.file, x.records_read]).sort(), [
    [true, cb.file, cb.records_read],
    [true, cc.file, cc.records_read],
  ]);
  const saved = JSON.parse(readFileSync(join(out, 'dedup-stats.json'), 'utf8'));
  assert.equal(saved.corruptFiles.length, 2);
  // the signatures task's log says what happened and what was kept; the run's last line counts the files
  const taskLog = readFileSync(join(out, 'work', '.state', 'dedup-signatures', 'tasks.log'), 'utf8');
  assert.match(taskLog, /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip stream.*kept the \d+ record/);
  assert.ok(
    logs.some((l) => /2 corrupt input file\(s\) read up to the damage/.test(l)),
    logs.join('\n'),
  );

  // the same as deduplicating sound files that hold just the records before the damage
  const ref = join(dir, 'ref');
  const b2 = join(dir, 'ref-b.jsonl');
  const c2 = join(dir, 'ref-c.jsonl');
  writeFileSync(b2, lines('b', cb.records_read));
  writeFileSync(c2, lines('c', cc.records_read));
  const rr = await dedup([a, b2, c2], ref, true);
  assert.deepEqual(rr.corruptFiles, []);
  assert.deepEqual(keptIds(out), keptIds(ref));
  assert.equal(r.dropped, rr.dropped);
});

test('dedup --strict stops at the first corrupt file, also when resuming a run that kept part of it', async () => {
  const dir = tmpDir('steel-dedup-corrupt-');
  const files = await inputs(dir);
  await assert.rejects(dedup(files, join(dir, 'strict'), false), /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\)/);

  const out = join(dir, 'out');
  const first = await dedup(files, out, true);
  assert.equal(first.corruptFiles.length, 2);
  const doneA = fileDonePath(cfgFor(files, out), 0);
  const stampA = statSync(doneA).mtimeMs;
  const logs: string[] = [];
  await assert.rejects(
    dedup(files, out, false, (m) => logs.push(m)),
    /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip stream/,
  );
  assert.ok(
    logs.some((l) => /--strict: the last run kept what it could read/.test(l)),
    logs.join('\n'),
  );
  // back without --strict: the same result; a's signatures were never redone
  const again = await dedup(files, out, true);
  assert.deepEqual(again.corruptFiles, first.corruptFiles);
  assert.equal(again.kept, first.kept);
  assert.equal(again.read, first.read);
  assert.equal(statSync(doneA).mtimeMs, stampA);
});

test('dedup: a rerun after replacing a corrupt file signs it again and redoes the later stages only', async () => {
  const dir = tmpDir('steel-dedup-corrupt-');
  const files = await inputs(dir);
  const [, b, c] = files;
  const out = join(dir, 'out');
  const first = await dedup(files, out, true);
  const doneA = fileDonePath(cfgFor(files, out), 0);
  const stampA = statSync(doneA).mtimeMs;
  writeFileSync(c, await soundZst(dupText)); // re-downloaded whole
  const logs: string[] = [];
  const second = await dedup(files, out, true, (m) => logs.push(m));
  assert.ok(
    logs.some((l) => /recorded corrupt by the last run were replaced \(\S*c\.jsonl\.zst\)/.test(l)),
    logs.join('\n'),
  );
  assert.deepEqual(
    second.corruptFiles.map((x) => x.path),
    [b],
  );
  assert.equal(second.read, 50 + first.corruptFiles[0].records_read + 30);
  assert.equal(second.kept + second.dropped, second.read);
  assert.equal(second.kept, 40);
  assert.equal(statSync(doneA).mtimeMs, stampA, "a's signatures were kept");
  assert.deepEqual(
    rejectLines(out).map((x) => x.file),
    [second.corruptFiles[0].file],
    "c's record in rejects/ is gone",
  );
  assert.ok(keptIds(out).some((id) => id.startsWith('c-')) || second.dropped > first.dropped);
});

test('dedup: a damaged Parquet page: the row groups before it are deduplicated, the file recorded', async () => {
  const dir = tmpDir('steel-dedup-corrupt-');
  const p = join(dir, 'd.parquet');
  const w = await openParquetDocWriter(p, { rowGroupRows: 500 });
  for (let i = 0; i < 2000; i++) await w.write({ id: `d${i}`, text: text(i), source: 's', meta: {} });
  await w.close();
  const buf = readFileSync(p);
  buf.fill(0x55, Math.floor(buf.length * 0.6), Math.floor(buf.length * 0.6) + 400);
  writeFileSync(p, buf);
  const r = await dedup([p], join(dir, 'out'), true);
  assert.equal(r.corruptFiles.length, 1);
  assert.equal(r.corruptFiles[0].reader, 'parquet');
  const n = r.corruptFiles[0].records_read;
  assert.ok(n >= 500 && n < 2000, `the row groups before the damage were read (${n})`);
  assert.equal(r.read, n);
  assert.equal(r.kept, 40);
  assert.equal(r.kept + r.dropped, r.read);
});
