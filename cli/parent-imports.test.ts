import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** filters/' implementation modules: the process that runs a map op imports them, the parent of the workers never. */
const IMPLEMENTATION = /\/filters\/(ops|mappers|text|lid|lm|stats|jieba|fasttext|ftfy)\.(js|ts)$/;

test('steel prep --workers 2: the parent imports the operators metadata only, the workers the implementations', () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'steel-parent-imports-'));
  try {
    const logs = join(dir, 'logs');
    // a resolve hook in every process (NODE_OPTIONS reaches the workers) writes each module it loads to logs.PID
    const hook = `import { appendFileSync } from 'node:fs';
    export async function resolve(s, c, next) {
      const r = await next(s, c);
      appendFileSync(${JSON.stringify(logs)} + '.' + process.pid, r.url + '\\n');
      return r;
    }`;
    const reg = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
    writeFileSync(join(dir, 'register.mjs'), reg);
    const docs = [
      '一段足够长的中文文本，用来检查过滤器。'.repeat(8),
      'An English paragraph of plain words. '.repeat(12),
    ];
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, docs.map((text, i) => JSON.stringify({ id: `d${i}`, text }) + '\n').join(''));
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'cli/steel.js'), 'prep', '--workers', '2', '--quiet', '--out', join(dir, 'out'), '--input', input],
      {
        encoding: 'utf8',
        cwd: ROOT,
        env: { ...process.env, NODE_OPTIONS: `--import ${join(dir, 'register.mjs')}` },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const loaded = new Map<number, string[]>();
    for (const f of readdirSync(dir).filter((f) => f.startsWith('logs.')))
      loaded.set(Number(f.slice(5)), readFileSync(join(dir, f), 'utf8').split('\n'));
    const parent = loaded.get(r.pid!) ?? [];
    assert.ok(
      parent?.some((u) => /\/filters\/op-meta\.(js|ts)$/.test(u)),
      'the parent did not load the metadata',
    );
    assert.deepEqual(
      parent.filter((u) => IMPLEMENTATION.test(u)),
      [],
      'the parent imported an implementation',
    );
    // the workers did (so the hook sees them and the test would see the parent's)
    const workers = [...loaded].filter(([pid]) => pid !== r.pid);
    assert.ok(
      workers.some(([, urls]) => urls.some((u) => /\/filters\/ops\.(js|ts)$/.test(u))),
      'no worker loaded filters/ops',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
