import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WORKER_ENTRY } from './executor.ts';
import { COMPILED, moduleFile, nodeEntry, REPO_ROOT } from './node-entry.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('from the sources: modules stay .ts and processes start through tsx', () => {
  assert.equal(COMPILED, false);
  assert.equal(REPO_ROOT, ROOT);
  assert.equal(moduleFile('/a/b.ts'), '/a/b.ts');
  const e = nodeEntry(join(ROOT, 'pipeline/executor-worker.ts'));
  assert.deepEqual(e, {
    file: join(ROOT, 'pipeline/executor-worker.ts'),
    execArgv: ['--import', import.meta.resolve('tsx')],
  });
});

test('from dist/: the compiled .js, no loader, the same REPO_ROOT; a compiled worker starts and exits cleanly', async () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const d = (await import(
    pathToFileURL(join(ROOT, 'dist/pipeline/node-entry.js')).href
  )) as typeof import('./node-entry.ts');
  assert.equal(d.COMPILED, true);
  assert.equal(d.REPO_ROOT, ROOT);
  assert.equal(d.moduleFile('/a/b.ts'), '/a/b.js');
  assert.equal(d.moduleFile('/a/b.mjs'), '/a/b.mjs');
  const e = d.nodeEntry(join(ROOT, 'dist', relative(ROOT, WORKER_ENTRY)));
  assert.deepEqual(e, { file: join(ROOT, 'dist', relative(ROOT, WORKER_ENTRY)).replace(/\.ts$/, '.js'), execArgv: [] });
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = fork(e.file, [], { execArgv: e.execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('exit', (c) => (c === 0 ? resolve(c) : reject(new Error(`worker exited with ${c}: ${err}`))));
    child.send({ type: 'exit' });
  });
  assert.equal(code, 0);
});
