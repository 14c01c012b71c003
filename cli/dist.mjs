// The compiled tree dist/ (built by scripts/build.mjs during `npm ci`, or `npm run build`) and whether it is fresh.
// Plain JavaScript: cli/steel.js reads this before it knows whether it may run dist/ or must load the sources via tsx.
//
// dist/ mirrors the top-level folders that hold TypeScript sources: each non-test X.ts becomes dist/…/X.js, and
// every other entry (recipes, manifests, JSON tables, fixtures, the native addon's build/ folder) is a symlink to the
// source, so code that reads files relative to its own module finds them from dist/ too. dist/build.json records a
// fingerprint of the tree it was built from: the path, size and mtime of every source .ts file, the name of every
// linked entry and the versions of the packages bundled into dist/vendor/. dist/ is fresh when the fingerprint of the tree now is the same.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { WORKER_HEAP_FLAGS } from './prep-workers.mjs';

// a prep's early worker processes (cli/steel.js starts them before it loads this file)
export { WORKER_HEAP_FLAGS, prepWorkersToStart, startPrepWorkers } from './prep-workers.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(ROOT, 'dist');
/** Folders never mirrored (git-ignored outputs or other trees). */
const SKIP = new Set(['node_modules', '.git', 'dist', 'out', 'tmp', '__pycache__', '.offline', '.whl']);
/**
 * Pure-JavaScript packages of many small modules that scripts/build.mjs bundles into dist/vendor/ (one chunk per
 * package, shared by the modules that import it; their own dependencies go with them): Node loads an ES module per
 * file, and these are ~370 files. They are in dist/steel.cjs too, which needs every package it imports statically
 * (hyparquet's are ES modules only, which Node 20 < 20.19 cannot require()). The other packages stay in node_modules
 * (native addons, and packages that read files beside their own modules: WebAssembly, dictionaries, models).
 */
export const BUNDLED = [
  'zod',
  'yaml',
  'apache-arrow',
  'parse5',
  'opencc-js',
  'fzstd',
  'hyparquet',
  'hyparquet-compressors',
  'hyparquet-writer',
];
/** Linked into dist/ whether or not they exist yet (created after `npm ci`: the CUDA addon is built on a GPU host). */
export const LINK_ALWAYS = ['train/native/build'];

/** The top-level folders holding TypeScript sources (a new area is picked up without a list to keep). */
export function sourceDirs() {
  return readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !SKIP.has(e.name) && hasSource(join(ROOT, e.name)))
    .map((e) => e.name);
}

const isSource = (name) => name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts');
const isTest = (name) => name.endsWith('.test.ts');

function hasSource(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() ? !SKIP.has(e.name) && hasSource(join(dir, e.name)) : isSource(e.name)) return true;
  }
  return false;
}

/**
 * Walks the source folders: `compile` gets each source .ts (relative path), `link` each other entry that dist/
 * holds as a symlink (a folder without sources is linked whole). Test files are neither. Each folder is read once
 * (whether it holds a source is known when its walk ends) and paths are joined as strings: `steel` walks the tree at
 * every start (distState).
 */
export function walkSources(compile, link, root = ROOT) {
  const always = new Set(LINK_ALWAYS);
  // the entries of folder `rel` into `out` as [compile?, path], in walk order; whether it holds a source
  const scan = (rel, out) => {
    let has = false;
    for (const e of readdirSync(root + '/' + rel, { withFileTypes: true })) {
      const r = rel + '/' + e.name;
      if (always.has(r)) {
        has ||= e.isDirectory() ? hasSource(join(root, r)) : isSource(e.name);
        continue;
      }
      if (isTest(e.name)) continue;
      if (e.isDirectory()) {
        if (SKIP.has(e.name)) continue;
        const inner = [];
        if (scan(r, inner)) {
          has = true;
          for (const x of inner) out.push(x);
        } else out.push([false, r]);
      } else if (isSource(e.name)) {
        has = true;
        out.push([true, r]);
      } else out.push([false, r]);
    }
    return has;
  };
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.') || SKIP.has(e.name)) continue;
    const inner = [];
    if (scan(e.name, inner)) for (const [c, r] of inner) (c ? compile : link)(r);
  }
  for (const r of LINK_ALWAYS) link(r);
}

export function fingerprint(root = ROOT) {
  let text = '';
  walkSources(
    (r) => {
      const st = statSync(root + '/' + r);
      text += `c ${r} ${st.size} ${st.mtimeMs}\n`;
    },
    (r) => (text += `l ${r}\n`),
    root,
  );
  // the bundled packages' versions: an update in node_modules makes dist/ stale
  for (const p of BUNDLED) {
    let v = 'missing';
    try {
      v = JSON.parse(readFileSync(join(root, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      // not installed: the build fails on it, and a later install makes dist/ stale
    }
    text += `p ${p} ${v}\n`;
  }
  return createHash('sha256').update(text).digest('hex');
}

let build;
/** dist/build.json (read once), or undefined when there is none. */
export function buildInfo() {
  if (build === undefined) {
    try {
      build = JSON.parse(readFileSync(join(DIST, 'build.json'), 'utf8'));
    } catch {
      build = null;
    }
  }
  return build ?? undefined;
}

/** 'fresh', 'missing' (no dist/: not built, or `npm ci --ignore-scripts`) or 'stale' (sources changed since). */
export function distState() {
  const built = buildInfo()?.fingerprint;
  if (built === undefined) return 'missing';
  return built === fingerprint() ? 'fresh' : 'stale';
}

/** The one-file build of the command and its workers (entry cli/bundle.ts) and V8's code cache for it. */
export const BUNDLE = join(DIST, 'steel.cjs');
export const BUNDLE_CACHE = join(DIST, 'steel.cache');

/**
 * The function around the bundle's CommonJS code: scripts/build.mjs writes dist/steel.cjs as this function's source
 * (head, code, tail), so the source V8 compiles is the file's text as read, one flat string (wrapped at load time,
 * the concatenation made a cons string that V8 flattened into a copy of the 3 MB, ~9 ms per process).
 */
export const BUNDLE_HEAD = '(function (exports, require, module, __filename, __dirname, __steelImport) {';
export const BUNDLE_TAIL = '\n})';

/**
 * V8 flags of every process that runs the bundle (the `steel` command, its local workers and Slurm array tasks, and
 * scripts/build.mjs's process that writes the code cache: all go through runBundle), set before the bundle is
 * compiled. V8 rejects a code cache made under other flags, so the cache's process must set the same ones.
 * `--max-inlined-bytecode-size-cumulative=300` (V8's default 920): TurboFan compiles ~1 s of CPU in a map-only run of
 * the sample (on V8's background threads, again in each worker process) and a compile's cost grows with what it
 * inlines. Measured (bench/results/prep.md, session 21, h21bk; 2-core VM, alternating pairs): map-only run of the
 * sample 0.911 of the CPU-s (10 of 10 pairs lower; background threads 1.17 → 0.89 s, main thread not higher), 75 MB
 * set 0.95–0.96, whole prep 0.96–0.97 with 1 or 2 workers. No inlining at all (`--no-turbo-inlining`) or a per-callee
 * limit of 200 saved as much compile time but slowed the steady state (75 MB: +13% with no inlining).
 * `--no-flush-bytecode`: V8 throws away the bytecode of a function that has not run for a few major GCs and compiles it
 * again at its next call; dist/steel.cache holds the bytecode of every function a prep runs (cli/bundle.ts cacheRun),
 * which a prep's later phases (MinHash, tokenize, the outputs) would otherwise compile again. With both, a 1-worker prep
 * of the sample compiles 16 functions lazily instead of ~1,090 (bench/results/prep.md, session 25, h25d).
 */
export const V8_FLAGS = ['--max-inlined-bytecode-size-cumulative=300', '--no-flush-bytecode'];

/**
 * Heap flags of a `steel prep` process (cli/steel.js) and of the bundle's worker processes (cli/bundle-worker.mjs: the
 * tasks of prep and the other data commands), set once the bundle is compiled: not among the flags its code cache is
 * checked against.
 * `--heap-growing-percent=300`: after a full GC, the next one when the old generation has grown to 4× what survived
 * (V8 picks a factor of 1.1-4 from its GC and mutator speeds; in a fresh process it picked low ones and ran a full GC
 * every few MB). V8 reads it at each GC, so set at run time it works in the `steel` process too: its full GCs in a
 * 75 MB prep 32 → 13. V8 caps the limit at halfway to the heap's maximum; the flag also overrides the smaller factors
 * V8 takes under memory pressure (prep's live heap is 10-30 MB), hence prep only. Measured: bench/results/prep.md,
 * session 28, h28b.
 */
export const PREP_HEAP_FLAGS = ['--heap-growing-percent=300'];

/** Sets PREP_HEAP_FLAGS in this process (after the bundle is compiled: see there). */
export function setPrepHeapFlags() {
  for (const f of PREP_HEAP_FLAGS) setFlagsFromString(f);
}

/**
 * Compiles and runs the bundle `file` (the function BUNDLE_HEAD … BUNDLE_TAIL around CommonJS code) in this process
 * with V8's code cache `cachedData` (a Buffer from script.createCachedData(), or undefined): its exports
 * (cli/bundle.ts), and the script (for createCachedData). V8 checks the cache against its own version and flags and
 * the source's length, and compiles from the source when it rejects it (`script.cachedDataRejected`); the caller
 * makes sure the cache was made from this very file. `name`: the script's name in stack traces (V8 keeps the name of
 * the script the cache was made from), the bundle's final place when scripts/build.mjs runs it from the tree it
 * builds.
 */
export function runBundle(file, cachedData, name = file) {
  for (const f of [...V8_FLAGS, ...WORKER_HEAP_FLAGS]) setFlagsFromString(f);
  // latin1: scripts/build.mjs writes the bundle in ASCII, which reads faster so than as UTF-8 (nothing to decode)
  const script = new Script(readFileSync(file, 'latin1'), { filename: name, cachedData });
  const module = { exports: {} };
  // the bundle's import() of Node built-ins, of packages left in node_modules and of modules named at run time (a
  // recipe's own operators, the CUDA addon's loader) calls this function: a script compiled from a code cache has no
  // import() of its own (V8 restores it without the callback Node gives import())
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), (spec) => import(spec));
  return { exports: module.exports, script };
}

/**
 * The Node binary a code cache belongs to. V8 checks only its own version (the same across Node 20 releases, e.g.
 * 11.3.244.8 in 20.19.5 and 20.20.2) and accepts a cache another release made, which then crashes (SIGSEGV, seen with
 * a cache of 20.20.2 run by 20.19.5): build.json records this, and a cache is used only by the same release.
 */
export function nodeKey() {
  return `${process.version} ${process.versions.v8} ${process.platform}-${process.arch}`;
}

/**
 * dist/steel.cjs's exports, run with dist/steel.cache when the cache was written for this bundle file (the size and
 * mtime build.json recorded for it: a bundle edited or copied since is compiled from its source) by this Node release
 * (`nodeKey`). `info`: build.json's contents (tests pass their own).
 */
export function loadBundle(info = buildInfo()) {
  const b = info?.bundle;
  let cachedData;
  if (b && b.node === nodeKey()) {
    const st = statSync(BUNDLE);
    if (st.size === b.size && st.mtimeMs === b.mtimeMs) {
      try {
        cachedData = readFileSync(BUNDLE_CACHE);
      } catch {
        // no cache (its build step failed): compiled from the source
      }
    }
  }
  const { exports, script } = runBundle(BUNDLE, cachedData);
  return { ...exports, cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}
