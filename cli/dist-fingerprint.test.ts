/**
 * cli/dist.mjs' walk of the source tree and its fingerprint (what decides whether `steel` may run dist/): each
 * source compiled, every other entry linked (a folder without sources whole), tests and skipped folders left out; an
 * edit in place, a new file or a removed one makes the fingerprint differ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error -- plain JavaScript without declarations (cli/steel.js reads it before anything is compiled)
import { fingerprint, walkSources } from './dist.mjs';

test('dist fingerprint: the walk lists sources and links; edits, new and removed files change it', () => {
  const root = mkdtempSync(join(tmpdir(), 'steel-distfp-'));
  try {
    const put = (rel: string, text = 'x') => {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      writeFileSync(join(root, rel), text);
    };
    put('a/x.ts', 'export const x = 1;');
    put('a/x.test.ts');
    put('a/data.json');
    put('a/b/y.ts');
    put('a/tables/t.bin'); // a folder without sources: linked whole
    put('a/node_modules/z.ts'); // skipped
    put('docs/readme.md'); // a top folder without sources: not in dist/
    put('.hidden/h.ts');
    const walk = () => {
      const out: string[] = [];
      walkSources(
        (r: string) => out.push(`c ${r}`),
        (r: string) => out.push(`l ${r}`),
        root,
      );
      return out.sort();
    };
    assert.deepEqual(walk(), [
      'c a/b/y.ts',
      'c a/x.ts',
      'l a/data.json',
      'l a/tables',
      'l train/native/build', // LINK_ALWAYS
    ]);
    const f0 = fingerprint(root);
    assert.equal(fingerprint(root), f0);
    // an edit in place: same size, another mtime
    writeFileSync(join(root, 'a/x.ts'), 'export const x = 2;');
    utimesSync(join(root, 'a/x.ts'), new Date(2030, 0, 1), new Date(2030, 0, 1));
    const f1 = fingerprint(root);
    assert.notEqual(f1, f0);
    put('a/tables/new.ts'); // the folder now holds a source
    const f2 = fingerprint(root);
    assert.notEqual(f2, f1);
    rmSync(join(root, 'a/data.json'));
    assert.notEqual(fingerprint(root), f2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
