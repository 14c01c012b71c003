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
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(ROOT, 'dist');
/** Folders never mirrored (git-ignored outputs or other trees). */
const SKIP = new Set(['node_modules', '.git', 'dist', 'out', 'tmp', '__pycache__', '.offline', '.whl']);
/**
 * Pure-JavaScript packages of many small modules that scripts/build.mjs bundles into dist/vendor/ (one chunk per
 * package, shared by the modules that import it; their own dependencies go with them): Node loads an ES module per
 * file, and these are ~370 files. The other packages stay in node_modules (native addons, and packages that read
 * files beside their own modules: WebAssembly, dictionaries, models).
 */
export const BUNDLED = ['zod', 'yaml', 'apache-arrow', 'parse5', 'opencc-js', 'fzstd'];
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
 * holds as a symlink (a folder without sources is linked whole). Test files are neither.
 */
export function walkSources(compile, link) {
  const always = new Set(LINK_ALWAYS);
  const visit = (rel) => {
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (always.has(r) || isTest(e.name)) continue;
      if (e.isDirectory()) {
        if (SKIP.has(e.name)) continue;
        if (hasSource(join(ROOT, r))) visit(r);
        else link(r);
      } else if (isSource(e.name)) compile(r);
      else link(r);
    }
  };
  for (const d of sourceDirs()) visit(d);
  for (const r of LINK_ALWAYS) link(r);
}

export function fingerprint() {
  const h = createHash('sha256');
  walkSources(
    (r) => {
      const st = statSync(join(ROOT, r));
      h.update(`c ${r} ${st.size} ${st.mtimeMs}\n`);
    },
    (r) => h.update(`l ${r}\n`),
  );
  // the bundled packages' versions: an update in node_modules makes dist/ stale
  for (const p of BUNDLED) {
    let v = 'missing';
    try {
      v = JSON.parse(readFileSync(join(ROOT, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      // not installed: the build fails on it, and a later install makes dist/ stale
    }
    h.update(`p ${p} ${v}\n`);
  }
  return h.digest('hex');
}

/** 'fresh', 'missing' (no dist/: not built, or `npm ci --ignore-scripts`) or 'stale' (sources changed since). */
export function distState() {
  let built;
  try {
    built = JSON.parse(readFileSync(join(DIST, 'build.json'), 'utf8')).fingerprint;
  } catch {
    return 'missing';
  }
  return built === fingerprint() ? 'fresh' : 'stale';
}
