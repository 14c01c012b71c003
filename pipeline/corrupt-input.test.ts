/**
 * Input files that cannot be read to their end (truncated .gz/.zst, a damaged Parquet page): the records before the
 * damage are kept, the file is recorded in rejects/ and stats.json, the run finishes (`steel prep` exits 3);
 * --strict stops at the first one; a rerun after removing or replacing the file resumes the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runPipeline } from './runner.ts';
import { markerPath } from './executor.ts';
import { InputFileError, readRecords } from './readers/index.ts';
import { openParquetDocWriter, zstdCompressChunk } from './writers/index.ts';
import { tmpDir } from './test-fixtures/tmp-dir.ts';
import { setTestHooks } from './settings.ts';
import { corruptInputs, jsonlLines, rejectLines } from './test-fixtures/corrupt-inputs.ts';

const lines = (prefix: string, k: number) => jsonlLines(prefix, k);
const inputs = corruptInputs;

test('a truncated .gz and .zst: records before the damage kept, files recorded, run finishes', async () => {
  const dir = tmpDir('steel-corrupt-');
  const { a, b, c } = await inputs(dir);
  const out = join(dir, 'out');
  const stats = await runPipeline({
    recipe: 'basic',
    inputs: [join(dir, '*.jsonl.*')],
    outDir: out,
    workers: 1,
    quiet: true,
    log: () => {},
  });
  assert.ok(stats.invariant.ok, stats.invariant.problems.join('; '));
  const byFile = new Map(stats.corrupt_files.map((x) => [x.path, x]));
  assert.deepEqual([...byFile.keys()].sort(), [b, c]);
  const cb = byFile.get(b)!;
  assert.equal(cb.reader, 'jsonl');
  assert.match(cb.error, /corrupt gzip stream: unexpected end of file/);
  assert.ok(cb.records_read > 0 && cb.records_read < 400, `read ${cb.records_read} of b before the cut`);
  assert.equal(typeof cb.offset, 'number');
  assert.doesNotMatch(cb.error, /b\.jsonl\.gz/, 'the file is named once, by the message, not again in the reason');
  // every record read is accounted for: a's 50 + what b and c gave before their damage
  assert.equal(stats.read, 50 + cb.records_read + byFile.get(c)!.records_read);
  assert.equal(stats.kept, stats.read);
  const rj = rejectLines(out).filter((r) => r.corrupt_file);
  assert.deepEqual(rj.map((r) => r.file).sort(), [stats.corrupt_files[0].file, stats.corrupt_files[1].file].sort());
  for (const r of rj) {
    assert.equal(r.stage, 'read');
    assert.equal(typeof r.offset, 'number');
    assert.ok(r.error.length > 0);
  }
  const saved = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  assert.equal(saved.corrupt_files.length, 2);
  // the task log says what happened and what was kept
  const taskLog = readFileSync(join(out, '.state', 'p0-map', 'tasks.log'), 'utf8');
  assert.match(taskLog, /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip stream.*kept the \d+ record/);
  // the sound file is whole
  assert.ok(statSync(a).size > 0);
});

test('--strict stops at the first corrupt file, naming the reader and the file (not a recipe step)', async () => {
  const dir = tmpDir('steel-corrupt-');
  await inputs(dir);
  await assert.rejects(
    runPipeline({
      recipe: { name: 'r', steps: [{ op: 'nfkc' }, { op: 'limit', params: { n: 100000 } }] },
      inputs: [join(dir, 'b.jsonl.gz')],
      outDir: join(dir, 'out'),
      workers: 1,
      quiet: true,
      strict: true,
      log: () => {},
    }),
    (e: Error) => {
      assert.match(e.message, /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip stream/);
      assert.doesNotMatch(e.message, /stage "/);
      assert.equal(e.message.split('b.jsonl.gz').length - 1, 1, `file named once: ${e.message}`);
      return true;
    },
  );
});

test('a rerun after removing or replacing a corrupt file resumes the other tasks; other input changes are refused', async () => {
  const dir = tmpDir('steel-corrupt-');
  const { a, b, c } = await inputs(dir);
  const out = join(dir, 'out');
  const opts = { recipe: 'basic', inputs: [join(dir, '*.jsonl.*')], outDir: out, workers: 1, quiet: true };
  const first = await runPipeline({ ...opts, log: () => {} });
  assert.equal(first.corrupt_files.length, 2);
  const markerA = readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8');

  rmSync(b);
  writeFileSync(c, await zstdCompressChunk(lines('c', 30))); // re-downloaded whole
  const logs: string[] = [];
  const second = await runPipeline({ ...opts, log: (l) => logs.push(l) });
  assert.ok(
    logs.some((l) => /recorded corrupt by the last run were removed or replaced .*task\(s\) 1, 2 of p0-map/.test(l)),
    logs.join('\n'),
  );
  assert.deepEqual(second.corrupt_files, []);
  assert.equal(second.read, 80);
  assert.equal(second.kept, 80);
  assert.equal(readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8'), markerA, 'task 0 was not rerun');
  assert.equal(rejectLines(out).length, 0, 'the old corrupt-file records are gone');
  assert.deepEqual(
    second.inputs.map((i) => i.path.split('/').pop()),
    ['a.jsonl.gz', 'c.jsonl.zst'],
  );

  // the same command again: finished, nothing changes
  const third = await runPipeline({ ...opts, log: () => {} });
  assert.equal(third.read, 80);

  // a sound file changed: still a different run
  writeFileSync(a, gzipSync(lines('a', 51)));
  await assert.rejects(runPipeline({ ...opts, log: () => {} }), /different input files; use --fresh/);
});

test('a damaged Parquet page names the reader and the file', async () => {
  const dir = tmpDir('steel-corrupt-');
  const p = join(dir, 'd.parquet');
  const w = await openParquetDocWriter(p, { rowGroupRows: 500 });
  for (let i = 0; i < 2000; i++) await w.write({ id: `d${i}`, text: `doc ${i} `.repeat(20), source: 's', meta: {} });
  await w.close();
  const buf = readFileSync(p);
  buf.fill(0x55, Math.floor(buf.length * 0.6), Math.floor(buf.length * 0.6) + 400);
  writeFileSync(p, buf);
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of readRecords(p)) n++;
    })(),
    (e: Error) => {
      assert.ok(e instanceof InputFileError, String(e));
      assert.equal(e.reader, 'parquet');
      assert.equal(e.file, p);
      assert.ok(e.corrupt);
      assert.match(e.message, /^parquet reader: \S*d\.parquet/);
      return true;
    },
  );
  assert.ok(n > 0 && n < 2000, `the row groups before the damage were read (${n})`);
});

test('a missing file is an error of the system, not a corrupt file', async () => {
  const dir = tmpDir('steel-corrupt-');
  await assert.rejects(
    (async () => {
      for await (const _ of readRecords(join(dir, 'nope.jsonl.gz'))) void _;
    })(),
    (e: Error) => e instanceof InputFileError && !e.corrupt && /ENOENT/.test(e.message),
  );
});

test('the rerun after removing a corrupt file redoes the later phases (a global op and the map phase after it)', async () => {
  const dir = tmpDir('steel-corrupt-');
  const { b } = await inputs(dir);
  const recipe = {
    name: 'multi',
    steps: [{ op: 'nfkc' }, { op: 'repartition', params: { parts: 2 } }, { op: 'set_lang', params: { lang: 'xx' } }],
  };
  const opts = { recipe, inputs: [join(dir, '*.jsonl.*')], outDir: join(dir, 'out'), workers: 1, quiet: true };
  const first = await runPipeline({ ...opts, log: () => {} });
  assert.ok(first.invariant.ok);
  assert.equal(first.corrupt_files.length, 2);
  rmSync(b);
  const second = await runPipeline({ ...opts, log: () => {} });
  assert.ok(second.invariant.ok, second.invariant.problems.join('; '));
  const cRead = first.corrupt_files.find((x) => x.path !== b)!.records_read;
  assert.equal(second.read, 50 + cRead);
  assert.equal(second.kept, second.read, 'the last phase saw exactly the documents of the first');
  assert.deepEqual(
    second.corrupt_files.map((x) => x.path),
    first.corrupt_files.filter((x) => x.path !== b).map((x) => x.path),
    'the file still corrupt stays recorded (its task was not rerun)',
  );
  const docs = second.outputs.docs.map((f) => readFileSync(f)).reduce((a, buf) => a + buf.length, 0);
  assert.ok(docs > 0);
});

test('--strict on a resumed run: the tasks that kept part of a corrupt file run again and stop at it', async () => {
  const dir = tmpDir('steel-corrupt-');
  await inputs(dir);
  const out = join(dir, 'out');
  const opts = { recipe: 'basic', inputs: [join(dir, '*.jsonl.*')], outDir: out, workers: 1, quiet: true };
  const first = await runPipeline({ ...opts, log: () => {} });
  assert.equal(first.corrupt_files.length, 2);
  const markerA = readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8');
  // the same folder with --strict: not the tolerant result again, but the error a fresh --strict run gives
  const logs: string[] = [];
  await assert.rejects(
    runPipeline({ ...opts, strict: true, log: (l) => logs.push(l) }),
    /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip stream/,
  );
  assert.ok(
    logs.some((l) => /--strict: the last run kept .*task\(s\) 1, 2 of p0-map run again/.test(l)),
    logs.join('\n'),
  );
  assert.equal(readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8'), markerA, 'task 0 was resumed');
  // and back without --strict: the tolerant result, the sound task still resumed
  const again = await runPipeline({ ...opts, log: () => {} });
  assert.deepEqual(
    again.corrupt_files.map((c) => c.path),
    first.corrupt_files.map((c) => c.path),
  );
  assert.equal(again.read, first.read);
  assert.equal(readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8'), markerA);
});

test('a truncated zstd file in slices keeps the records of a whole read; removing it resumes the other tasks', async () => {
  const dir = tmpDir('steel-corrupt-');
  writeFileSync(join(dir, 'a.jsonl.zst'), await zstdCompressChunk(lines('a', 50)));
  const raw = lines('z', 2000);
  const frames: Uint8Array[] = [];
  for (let off = 0; off < raw.length; off += 9_973)
    frames.push(await zstdCompressChunk(raw.subarray(off, off + 9_973)));
  const all = Buffer.concat(frames);
  const z = join(dir, 'z.jsonl.zst');
  writeFileSync(z, all.subarray(0, all.length - frames[frames.length - 1].length - 100)); // cut inside a frame
  const opts = { recipe: 'basic', inputs: [join(dir, '*.jsonl.zst')], workers: 1, quiet: true, log: () => {} };
  const whole = await runPipeline({ ...opts, outDir: join(dir, 'whole') });
  setTestHooks({ sliceBytes: 20_000 });
  try {
    const out = join(dir, 'out');
    const sliced = await runPipeline({ ...opts, outDir: out });
    assert.ok(sliced.tasks.length > 3, `${sliced.tasks.length} tasks`);
    assert.deepEqual([sliced.read, sliced.kept], [whole.read, whole.kept]);
    assert.deepEqual(
      sliced.corrupt_files.map((c) => c.path),
      [z],
    );
    const last = sliced.tasks.length - 1;
    assert.ok(sliced.tasks[last].corrupt_files?.length, 'the last slice met the damage');
    const marker0 = readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8');
    rmSync(z);
    const logs: string[] = [];
    const again = await runPipeline({ ...opts, outDir: out, log: (l) => logs.push(l) });
    assert.equal(again.read, 50);
    assert.equal(again.tasks.length, sliced.tasks.length, 'the removed file keeps its units');
    assert.equal(readFileSync(markerPath(join(out, '.state'), 'p0-map', 0), 'utf8'), marker0, 'task 0 was not rerun');
    assert.ok(
      logs.some((l) => /task\(s\) 1, 2, .* of p0-map/.test(l)),
      logs.join('\n'),
    );
  } finally {
    setTestHooks(undefined);
  }
});
