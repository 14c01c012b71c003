/** Temporary folders for tests, removed when the test (or suite, or file) that made them ends, passed or failed. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A fresh folder under the OS temp dir named PREFIX + random characters. Called inside a test it is removed when that
 * test ends; inside a describe() body, when the suite ends; at a file's top level, when the file's tests end.
 */
export function tmpDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
