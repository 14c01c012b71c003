/** How a command ends when some of its input files could not be read to their end (`steel prep`, `dedup`, `tokenizer encode`). */
import type { CorruptFile } from '../pipeline/readers/index.ts';

/** The run finished, but some input files were truncated or corrupt (documented in the commands' --help and the README). */
export const EXIT_CORRUPT_INPUT = 3;

/**
 * The closing message of a run that read corrupt input files up to their damage, and the exit status: 3 when there
 * were any, else 0. `next` says what the user does (replace the files and rerun the same command...).
 */
export function corruptInputsExit(files: CorruptFile[], next: string, log = (m: string) => console.error(m)): number {
  if (!files.length) return 0;
  log(
    `${files.length} input file(s) could not be read to their end (kept the records before the damage): ` +
      `${files.map((c) => c.file).join(', ')}; ${next} (exit status ${EXIT_CORRUPT_INPUT})`,
  );
  return EXIT_CORRUPT_INPUT;
}
