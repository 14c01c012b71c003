import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AtomicFileSync,
  isTempName,
  partialPathFor,
  removeInBackground,
  removeStaleTemps,
  tempPathFor,
  writeDirAtomic,
  writeFileAtomic,
} from './fsutil.ts';
import { AtomicFile } from './writers/atomic.ts';
import { JsonlWriter } from './writers/jsonl.ts';
import { tmpDir } from './test-fixtures/tmp-dir.ts';

const FSUTIL = fileURLToPath(new URL('./fsutil.ts', import.meta.url));

test('removeStaleTemps finds the temps every atomic helper leaves when its process is killed mid-write', async (t) => {
  const dir = tmpDir('steel-fsutil-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // a child process starts one write with each helper and is killed (SIGKILL) before any of them finishes
  const script = join(dir, 'killed.mts');
  writeFileSync(
    script,
    `
import { AtomicFileSync, writeDirAtomic } from ${JSON.stringify(FSUTIL)};
import { AtomicFile } from ${JSON.stringify(fileURLToPath(new URL('./writers/atomic.ts', import.meta.url)))};
const out = process.argv[2];
const f = new AtomicFileSync(out + '/sync.bin');
f.write(new Uint8Array(1000));
const a = new AtomicFile(out + '/async.jsonl');
await a.write(new Uint8Array(10));
await writeDirAtomic(out + '/ckpt', async (tmp) => {
  new AtomicFileSync(tmp + '/inner.bin').write('x');
  process.kill(process.pid, 'SIGKILL');
});
`,
  );
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, out], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  // the user's own files, including a resumable download, must survive the clean-up
  writeFileSync(join(out, 'keep.jsonl'), 'k\n');
  writeFileSync(join(out, '.hidden'), 'h');
  writeFileSync(join(out, 'report.tmp'), 't');
  writeFileSync(partialPathFor(join(out, 'download.bin')), 'p');
  const left = readdirSync(out).filter(isTempName);
  assert.equal(left.length, 3, `one temp per interrupted helper: ${readdirSync(out)}`);
  assert.ok(
    left.some((n) => n.startsWith('.sync.bin.')) &&
      left.some((n) => n.startsWith('.async.jsonl.')) &&
      left.some((n) => n.startsWith('.ckpt.')),
  );
  assert.equal(removeStaleTemps(out), 3);
  assert.deepEqual(readdirSync(out).sort(), ['.hidden', 'download.bin.part', 'keep.jsonl', 'report.tmp']);
});

test('in-process helpers: temps use the one scheme, commit renames, abort and errors leave nothing', async (t) => {
  const dir = tmpDir('steel-fsutil-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'a', 'x.json');
  assert.ok(isTempName(tempPathFor(p).split('/').pop()!));
  writeFileAtomic(p, '{"a":1}\n');
  assert.equal(readFileSync(p, 'utf8'), '{"a":1}\n');

  const f = new AtomicFileSync(join(dir, 'b.bin'));
  f.write('abcdef');
  f.write('XY', 2);
  assert.deepEqual(readdirSync(dir).filter(isTempName).length, 1);
  f.commit();
  assert.equal(readFileSync(join(dir, 'b.bin'), 'utf8'), 'abXYef');
  const g = new AtomicFileSync(join(dir, 'c.bin'));
  g.write('zz');
  g.abort();

  const w = new JsonlWriter(join(dir, 'd.jsonl'));
  await w.write({ n: 1 });
  await w.abort();
  const a = new AtomicFile(join(dir, 'e.bin'));
  await a.write(new Uint8Array([1, 2]));
  await a.close();

  await assert.rejects(
    writeDirAtomic(join(dir, 'ck'), (tmp) => {
      writeFileAtomic(join(tmp, 'half'), 'x');
      throw new Error('boom');
    }),
    /boom/,
  );
  const res = await writeDirAtomic(join(dir, 'ck2'), (tmp) => {
    writeFileAtomic(join(tmp, 'w'), 'y');
    return 7;
  });
  assert.equal(res, 7);
  assert.equal(readFileSync(join(dir, 'ck2', 'w'), 'utf8'), 'y');
  assert.deepEqual(readdirSync(dir).sort(), ['a', 'b.bin', 'ck2', 'e.bin']);
  assert.equal(removeStaleTemps(dir), 0);
});

test('removeInBackground: the entries leave their folder at once, into a temp folder that is then removed', async (t) => {
  const dir = tmpDir('steel-fsutil-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'docs', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'docs', 'sub', 'a'), 'a');
  writeFileSync(join(dir, 'stats.json'), '{}');
  writeFileSync(join(dir, 'kept'), 'k');
  const done = removeInBackground(dir, ['docs', 'stats.json', 'absent']);
  // right after the call: the names are free (a new run may write them), the old entries wait in one temp folder
  const moved = readdirSync(dir).filter((n) => n !== 'kept');
  assert.equal(moved.length, 1);
  assert.ok(isTempName(moved[0]!), moved[0]);
  assert.deepEqual(readdirSync(join(dir, moved[0]!)).sort(), ['docs', 'stats.json']);
  mkdirSync(join(dir, 'docs'));
  assert.equal(await done, undefined);
  assert.deepEqual(readdirSync(dir).sort(), ['docs', 'kept']);
  assert.deepEqual(readdirSync(join(dir, 'docs')), []);
  // nothing to remove: no temp folder
  assert.equal(await removeInBackground(dir, ['absent']), undefined);
  assert.deepEqual(readdirSync(dir).sort(), ['docs', 'kept']);
});
