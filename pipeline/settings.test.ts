import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting, settingsTable, setTestHooks, testHooks } from './settings.ts';
import { injectTestHooksFromEnv, testHooksEnv } from './test-fixtures/hooks.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', '.git', '.offline', 'tmp', 'out'].includes(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

test('only pipeline/settings.ts reads STEEL_* variables (library code asks it; the test runner script aside)', () => {
  const reads = /(?:process\.)?env(?:\.|\[\s*['"`])STEEL_[A-Z0-9_]+/;
  const offenders = sources(ROOT)
    .filter((f) => f !== 'pipeline/settings.ts' && f !== 'scripts/run-tests.mjs')
    .filter((f) => reads.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(offenders, []);
});

test('every user-facing setting is in the README "Settings" table, and each variable is named once', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Settings'));
  assert.ok(readme.includes('## Settings'), 'README has a Settings section');
  const rows = settingsTable();
  assert.equal(new Set(rows.map((r) => r.env)).size, rows.length, 'no variable named twice');
  for (const r of rows.filter((x) => !x.internal))
    assert.ok(section.includes('`' + r.env + '`'), `${r.env} documented in the README`);
});

test('settings: typed values, defaults when unset or empty, clear errors naming the variable', () => {
  assert.equal(setting('progressIntervalMs', {}), 10_000);
  assert.equal(setting('progressIntervalMs', { STEEL_PROGRESS_INTERVAL_MS: '250' }), 250);
  assert.equal(setting('quiet', { STEEL_QUIET: '' }), false);
  assert.equal(setting('quiet', { STEEL_QUIET: '1' }), true);
  assert.equal(setting('progressLines', { STEEL_PROGRESS: 'lines' }), true);
  assert.equal(setting('cpuThreads', { STEEL_CPU_THREADS: '3' }), 3);
  assert.throws(
    () => setting('cpuThreads', { STEEL_CPU_THREADS: '1.5' }),
    /STEEL_CPU_THREADS: not a positive integer: 1\.5/,
  );
  assert.throws(
    () => setting('distTimeout', { STEEL_DIST_TIMEOUT: '-1' }),
    /STEEL_DIST_TIMEOUT: not a positive number/,
  );
  assert.deepEqual(setting('slurmSbatchArgs', { STEEL_SLURM_SBATCH_ARGS: '["--nice=10"]' }), ['--nice=10']);
  assert.throws(
    () => setting('slurmSbatchArgs', { STEEL_SLURM_SBATCH_ARGS: '--nice' }),
    /STEEL_SLURM_SBATCH_ARGS must be a JSON list/,
  );
  assert.throws(() => setting('executor', { STEEL_EXECUTOR: 'thread' }), /STEEL_EXECUTOR/);
});

test('test hooks: injected, never read from the environment by library code; test worker entries inject theirs', () => {
  const env = testHooksEnv({ dedupCrash: 'join', crashRank: 2 });
  const prev = { ...process.env };
  try {
    Object.assign(process.env, env);
    assert.deepEqual(testHooks(), {}, 'the variable alone does nothing');
    setTestHooks({ dedupMaxGroup: 4 });
    assert.deepEqual(testHooks(), { dedupMaxGroup: 4 });
    injectTestHooksFromEnv(env); // what a test worker entry does
    assert.deepEqual(testHooks(), { dedupCrash: 'join', crashRank: 2 });
    injectTestHooksFromEnv({});
    assert.deepEqual(testHooks(), {});
    assert.throws(() => injectTestHooksFromEnv({ STEEL_TEST_HOOKS: '{bad' }), /STEEL_TEST_HOOKS: not JSON/);
  } finally {
    setTestHooks(undefined);
    for (const k of Object.keys(env)) if (!(k in prev)) delete process.env[k];
  }
});

test('library code reads no test hook from the environment', () => {
  const offenders = sources(ROOT)
    .filter((f) => !f.includes('test-fixtures/') && !/(^|\/)test-[^/]+$/.test(f))
    .filter((f) => /STEEL_TEST_HOOKS|TEST_HOOKS_ENV/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(offenders, []);
});
