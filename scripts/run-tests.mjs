#!/usr/bin/env node
// Runs every *.test.ts file with Node's test runner (through the tsx loader).
// Usage: node scripts/run-tests.mjs [PATH_SUBSTRING...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const skip = new Set(['node_modules', '.git', '.offline', '.whl', 'out', 'tmp', 'dist']);
function walk(dir, acc) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, acc);
    else if (name.endsWith('.test.ts')) acc.push(relative(root, p));
  }
  return acc;
}
const filters = process.argv.slice(2);
const files = walk(root, [])
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Tests that start the `steel` command run the compiled dist/ (as users do) when it is fresh: refresh it first (1-2 s).
spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale'], { cwd: root, stdio: 'inherit' });
const concurrency = process.env.STEEL_TEST_CONCURRENCY ?? '2';
// a test that hangs (e.g. a worker process that never answers) fails after 10 minutes instead of holding the run
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
