import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The architecture's floors: what the library modules of each area may import besides their own area (tests, test
 * fixtures and test worker entries may import anything; bench/ and scripts/ sit outside the house). pipeline/ is the
 * ground floor; filters/, dedup/ and tokenizer/ stand on it side by side; train/ and eval/ above; cli/ is the
 * composition root, which nothing in the house imports.
 */
const MAY_IMPORT: Record<string, string[]> = {
  pipeline: [],
  filters: ['pipeline'],
  dedup: ['pipeline'],
  tokenizer: ['pipeline'],
  train: ['pipeline', 'filters', 'dedup', 'tokenizer'],
  eval: ['pipeline', 'filters', 'dedup', 'tokenizer', 'train'],
  'corpora-manifests': ['pipeline'],
};

function libraryModules(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'test-fixtures', 'build'].includes(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) libraryModules(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.includes('.test.') && !name.startsWith('test-'))
      out.push(relative(ROOT, p));
  }
  return out;
}

/** Relative imports (static and dynamic) of a module, as repository paths; comments are not code. */
function importsOf(file: string): string[] {
  const code = readFileSync(join(ROOT, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/(?:\bfrom\s+|\bimport\(\s*)['"](\.\.?\/[^'"]+)['"]/g)].map((m) =>
    normalize(join(dirname(file), m[1]!)),
  );
}

test('each area imports only the floors below it (pipeline/ nothing above it; nothing imports cli/)', () => {
  const offenders: string[] = [];
  for (const [area, allowed] of Object.entries(MAY_IMPORT)) {
    for (const file of libraryModules(join(ROOT, area))) {
      for (const target of importsOf(file)) {
        const to = target.split('/')[0]!;
        if (to !== area && !allowed.includes(to)) offenders.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('the layering check sees imports (a pipeline/ module importing an area above it would be caught)', () => {
  const all = libraryModules(join(ROOT, 'dedup')).flatMap(importsOf);
  assert.ok(all.includes('pipeline/fsutil.ts'), 'dedup/ modules import pipeline/fsutil.ts');
  assert.ok(
    importsOf('cli/tasks.ts').includes('dedup/stages/cc.ts'),
    'dynamic import() counts: the task registry loads dedup/stages/cc.ts',
  );
});
