/**
 * `steel tokenizer encode` and a truncated .gz/.zst input (as pipeline/corrupt-input.test.ts for prep): the documents
 * before the damage are encoded, the file is recorded (OUT/rejects/, the manifest's build, the result), the command
 * exits with 3; --strict stops at it, also when resuming an interrupted run that kept part of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalExecutor } from '../pipeline/executor.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
import { checkCorruptBC, corruptInputs, jsonlLines, soundZst } from '../pipeline/test-fixtures/corrupt-inputs.ts';
import { run as tokenizerCmd } from '../cli/commands/tokenizer.ts';
import { EXIT_CORRUPT_INPUT } from '../cli/corrupt-inputs.ts';
import { canonicalTokenizerSpec } from './encode.ts';
import { readManifest } from './shards.ts';
import { tokenizeTask } from './tasks.ts';
import { tokenizeToShards } from './tokenize.ts';

const inputs = async (dir: string) => Object.values(await corruptInputs(dir));

/** The task markers and parts an interrupted encode (tasks done, no manifest yet) that kept corrupt files leaves. */
async function interrupted(files: string[], out: string) {
  const executor = new LocalExecutor({ inProcess: 'always', progress: { quiet: true } });
  try {
    return await executor.runTasks(
      tokenizeTask,
      {
        inputFiles: files,
        partsDir: join(out, '.work', 'parts'),
        tokenizer: canonicalTokenizerSpec('qwen'),
        maxShardBytes: undefined,
        keepCorrupt: true,
      },
      { name: 'tokenize', stateDir: join(out, '.work', 'markers'), count: files.length, workers: 1 },
    );
  } finally {
    executor.close();
  }
}

async function encode(files: string[], out: string, keepCorrupt: boolean) {
  const executor = new LocalExecutor({ inProcess: 'always', progress: { quiet: true } });
  try {
    return await tokenizeToShards(files, out, {
      executor,
      workers: 1,
      workDir: join(out, '.work'),
      keepCorrupt,
      log: () => {},
    });
  } finally {
    executor.close();
  }
}

test('encode: truncated .gz and .zst inputs are encoded up to the damage and recorded', async () => {
  const dir = tmpDir('steel-encode-corrupt-');
  const files = await inputs(join(dir, 'in'));
  const [a, b, c] = files;
  const out = join(dir, 'out');
  const r = await encode(files, out, true);
  const [cb, cc] = checkCorruptBC(r.corruptFiles, b, c);
  // every record read is in the shards
  assert.equal(r.documents, 50 + cb.records_read + cc.records_read);
  const m = readManifest(out);
  assert.equal(m.totals.documents, r.documents);
  assert.deepEqual(
    (m.build!.corrupt_files as { path: string }[]).map((x) => x.path),
    [b, c],
  );
  const rj = readFileSync(join(out, 'rejects', 'tokenize.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rj.map((x) => [x.corrupt_file, x.file, x.records_read]),
    [
      [true, cb.file, cb.records_read],
      [true, cc.file, cc.records_read],
    ],
  );
  // the same shards as sound files holding just the records before the damage (same names: same sources)
  const ref = join(dir, 'ref');
  mkdirSync(ref);
  writeFileSync(join(ref, 'b.jsonl'), jsonlLines('b', cb.records_read));
  writeFileSync(join(ref, 'c.jsonl'), jsonlLines('c', cc.records_read));
  const rr = await encode([a, join(ref, 'b.jsonl'), join(ref, 'c.jsonl')], join(dir, 'ref-out'), true);
  assert.deepEqual(rr.corruptFiles, []);
  assert.deepEqual(
    readManifest(join(dir, 'ref-out')).shards.map((s) => s.sha256),
    m.shards.map((s) => s.sha256),
  );
});

test('encode --strict stops at a corrupt file, also when resuming an interrupted run that kept part of it', async () => {
  const dir = tmpDir('steel-encode-corrupt-');
  const files = await inputs(join(dir, 'in'));
  await assert.rejects(encode(files, join(dir, 'strict'), false), /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\)/);
  // an interrupted tolerant run: its tasks finished (markers written), no manifest yet
  const out = join(dir, 'out');
  const done = await interrupted(files, out);
  assert.equal(done.flatMap((d) => d.corruptFiles ?? []).length, 2);
  await assert.rejects(encode(files, out, false), /jsonl reader: \S*b\.jsonl\.gz \(near byte \d+\): corrupt gzip/);
});

test('encode: resuming an interrupted run after a corrupt file was replaced encodes that file again', async () => {
  const dir = tmpDir('steel-encode-corrupt-');
  const files = await inputs(join(dir, 'in'));
  const [, b, c] = files;
  const out = join(dir, 'out');
  const done = await interrupted(files, out);
  const bRead = done[1].corruptFiles![0].records_read;
  writeFileSync(c, await soundZst()); // re-downloaded whole
  const later = new Date(Date.now() + 5000);
  utimesSync(c, later, later);
  const r = await encode(files, out, true);
  assert.deepEqual(
    r.corruptFiles.map((x) => x.path),
    [b],
  );
  assert.equal(r.documents, 50 + bRead + 30);
});

test('steel tokenizer encode: exit status 3 with a corrupt input, --strict fails', async () => {
  const dir = tmpDir('steel-encode-corrupt-');
  await inputs(join(dir, 'in'));
  const log = console.log;
  const error = console.error;
  const said: string[] = [];
  console.log = () => {};
  console.error = (m: string) => void said.push(String(m));
  try {
    const args = ['encode', '--input', join(dir, 'in'), '--workers', '1', '--quiet'];
    assert.equal(await tokenizerCmd([...args, '--out', join(dir, 'out')]), EXIT_CORRUPT_INPUT);
    await assert.rejects(
      tokenizerCmd([...args, '--out', join(dir, 'strict'), '--strict']),
      /jsonl reader: .*b\.jsonl\.gz/,
    );
  } finally {
    console.log = log;
    console.error = error;
  }
  assert.ok(
    said.some((l) => /2 input file\(s\) could not be read to their end .*b\.jsonl\.gz.*\(exit status 3\)/.test(l)),
    said.join('\n'),
  );
});

test('steel tokenizer encode: malformed records are rejected with file, line and error, the rest encoded', async () => {
  const dir = tmpDir('steel-encode-rejects-');
  mkdirSync(join(dir, 'in'));
  const f = join(dir, 'in', 'm.jsonl');
  const lines = jsonlLines('m', 6).toString('utf8').split('\n');
  lines[1] = '{"id": "m-1", "text": "cut here'; // not JSON
  lines[3] = JSON.stringify({ id: 'm-3', body: 'no text field' });
  writeFileSync(f, lines.join('\n'));
  writeFileSync(join(dir, 'in', 'n.jsonl'), jsonlLines('n', 3));
  const log = console.log;
  const error = console.error;
  const said: string[] = [];
  console.log = () => {};
  console.error = (m: string) => void said.push(String(m));
  const out = join(dir, 'out');
  try {
    const code = await tokenizerCmd(['encode', '--input', join(dir, 'in'), '--workers', '1', '--quiet', '--out', out]);
    assert.equal(code, 0);
  } finally {
    console.log = log;
    console.error = error;
  }
  // every record accounted for: 7 encoded, 2 rejected
  const m = readManifest(out);
  assert.equal(m.totals.documents, 7);
  assert.equal(m.build!.rejected, 2);
  const rj = readFileSync(join(out, 'rejects', 'tokenize.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { file: string; line: number; error: string; stage: string });
  assert.deepEqual(
    rj.map((r) => [r.file.endsWith('m.jsonl'), r.line, r.stage]),
    [
      [true, 2, 'tokenize'],
      [true, 4, 'tokenize'],
    ],
  );
  assert.match(rj[0]!.error, /JSON/);
  assert.match(rj[1]!.error, /text/);
  assert.ok(
    said.some((l) => /2 malformed record\(s\) left out.*rejects\/tokenize\.jsonl.*m\.jsonl:2/.test(l)),
    said.join('\n'),
  );
});
