import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS, usage } from './main.ts';

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
