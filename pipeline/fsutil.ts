import { mkdirSync, renameSync, writeFileSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

let seq = 0;

/** A temporary name next to `path` (same folder, so rename is atomic); hidden and marked `.tmp`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++seq}.tmp`);
}

/** Write a whole file atomically: temp name in the same folder, then rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Remove leftover temporary files (from killed runs) in a folder. */
export function removeStaleTemps(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      rmSync(join(dir, name), { force: true });
      n++;
    }
  }
  return n;
}
