import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** filters/' implementation modules: the process that runs a map op imports them, a parent that runs no task (STEEL_EXECUTOR=process) never. */
const IMPLEMENTATION = /^filters\/(ops|mappers|text|lid|lm|stats|jieba|fasttext|ftfy)\.ts$/;

test('steel prep --workers 2 with STEEL_EXECUTOR=process from dist/steel.cjs: the parent runs the operators metadata only, the workers the ops', () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'steel-parent-imports-'));
  try {
    const docs = [
      '一段足够长的中文文本，用来检查过滤器。'.repeat(8),
      'An English paragraph of plain words. '.repeat(12),
    ];
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, docs.map((text, i) => JSON.stringify({ id: `d${i}`, text }) + '\n').join(''));
    const out = join(dir, 'out');
    // the parent as cli/steel.js runs it (dist/steel.cjs through cli/dist.mjs), printing the bundle's modules that ran
    const parent = `
      const { loadBundle } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href)});
      const b = loadBundle();
      const code = await b.main(['prep', '--workers', '2', '--quiet', '--out', ${JSON.stringify(out)}, '--input', ${JSON.stringify(input)}]);
      console.log(JSON.stringify({ code, loaded: b.loaded }));`;
    // (by default the parent is one of the --workers lanes and runs map tasks itself: STEEL_EXECUTOR=process puts every
    // task in a worker process)
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', parent], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { ...process.env, STEEL_EXECUTOR: 'process' },
    });
    assert.equal(r.status, 0, r.stderr);
    const { code, loaded } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { code: number; loaded: string[] };
    assert.equal(code, 0);
    assert.ok(loaded.includes('filters/op-meta.ts'), 'the parent did not load the metadata');
    assert.ok(loaded.includes('cli/commands/prep.ts'), 'the bundle did not record its modules');
    assert.deepEqual(
      loaded.filter((m) => IMPLEMENTATION.test(m)),
      [],
      'the parent imported an implementation',
    );
    // the workers (started from the bundle too, cli/bundle-worker.mjs) ran the map ops: kept documents were written
    assert.ok(readdirSync(join(out, 'docs')).some((f) => f.startsWith('part-')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
