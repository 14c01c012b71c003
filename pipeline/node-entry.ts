/**
 * Which file, and which Node flags, start a module of this repository in a new process (a LocalExecutor worker, a
 * Slurm array task) or load it with import(): the compiled JavaScript in dist/ when this code runs from there (built by
 * `npm ci` / `npm run build`, see scripts/build.mjs), the TypeScript source through the tsx loader otherwise (tests,
 * a dev checkout whose dist/ is missing or stale). Callers name modules by their source path as seen from the running
 * code, `fileURLToPath(new URL('./x.ts', import.meta.url))`: from dist/ that is dist/…/x.ts, whose compiled file is x.js.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True when this module was loaded from compiled JavaScript (dist/, or a single-file bundle), not from its .ts source. */
export const COMPILED = !fileURLToPath(import.meta.url).endsWith('.ts');

/**
 * The repository's root folder, the same whether the code runs from the sources or from dist/ (whose data entries are
 * links back to the sources): paths recorded in outputs and run state (inputs of `steel prep`, say) must not depend on
 * which of the two runs, or a run started by one could not be resumed by the other.
 */
export const REPO_ROOT = fileURLToPath(
  new URL(import.meta.url.endsWith('/dist/pipeline/node-entry.js') ? '../../' : '../', import.meta.url),
);

/** The file to load for a module named by its .ts path: the .js beside it when running compiled, else the path itself. */
export function moduleFile(path: string): string {
  return COMPILED && path.endsWith('.ts') ? path.slice(0, -3) + '.js' : path;
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

/** Defined (true) in dist/steel.cjs, the one-file build of the command and its workers (scripts/build.mjs). */
declare const STEEL_BUNDLE: boolean | undefined;
/** True when this module runs inside dist/steel.cjs (loaded by cli/steel.js), not as a module of its own. */
export const IN_BUNDLE = typeof STEEL_BUNDLE !== 'undefined';

/**
 * Node flags of the bundle's worker processes: cli/dist.mjs WORKER_HEAP_FLAGS (which says why; the bundle's code cache
 * is made under them, and cli/steel.js' early workers start with them), written out here as the bundle does not load
 * that file (cli/dist.test.ts checks that the executor adopts those workers, which needs the same flags).
 */
export const BUNDLE_WORKER_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/**
 * How to start a process running the module `path` (named as for moduleFile): `node ...execArgv file ARGS`. From
 * dist/steel.cjs, the worker entry cli/worker.ts is that bundle's worker too (cli/bundle-worker.mjs).
 */
export function nodeEntry(path: string): { file: string; execArgv: string[] } {
  if (IN_BUNDLE && path === fileURLToPath(new URL('../cli/worker.ts', import.meta.url)))
    return { file: join(REPO_ROOT, 'cli', 'bundle-worker.mjs'), execArgv: [...BUNDLE_WORKER_FLAGS] };
  const file = moduleFile(path);
  return { file, execArgv: file.endsWith('.ts') ? ['--import', tsxLoader()] : [] };
}
