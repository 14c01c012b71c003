import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every regular file under `dir`, recursively, in path order; symbolic links (to files or folders) are left out, so a
 * folder linked from another package's is read once. For the bench scripts that build real-text sets from what a
 * machine has installed (bench/prep-corpus.ts, bench/prep-eval/convert.ts).
 */
export function regularFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...regularFilesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}
