#!/usr/bin/env node
// Compiles the TypeScript sources into dist/ (git-ignored), which cli/steel.js runs: `npm run build`, and the `prepare`
// script of `npm ci`. Usage: node scripts/build.mjs [--if-stale]
//
// Each non-test .ts file is transpiled on its own by esbuild (the transform tsx applies at run time, so the compiled
// code behaves as the sources do under tsx; types are checked by `npm run typecheck`), its relative `./x.ts` imports
// rewritten to `./x.js`. The packages of BUNDLED (cli/dist.mjs: zod, yaml, apache-arrow, ...) are bundled into shared
// chunks in dist/vendor/ (esbuild's code splitting: one chunk per package, loaded by the modules that import it), so a
// process loads a few files instead of ~370 (a 1-worker `steel prep` loads their modules in 0.2-0.3 CPU-s less:
// bench/results/prep.md, session 10, h21f); every other package is imported from node_modules as before. Every other
// entry of the source folders is symlinked (see cli/dist.mjs). The new tree is built beside dist/ and renamed into
// place, so a running `steel` never sees half a tree.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { BUNDLED, DIST, ROOT, distState, fingerprint, walkSources } from '../cli/dist.mjs';

if (process.argv.includes('--if-stale') && distState() === 'fresh') process.exit(0);
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn(
    'steel build: esbuild is not installed, dist/ not built: `steel` will load the sources through tsx (slower start)',
  );
  process.exit(0);
}
const bundled = new Set(BUNDLED);
const REQUIRE_SHIM =
  "import { createRequire as __steelCreateRequire } from 'node:module';\nconst require = __steelCreateRequire(import.meta.url);";
const t0 = performance.now();
const fp = fingerprint();
const entries = [];
const links = [];
walkSources(
  (r) => entries.push(r),
  (r) => links.push(r),
);
const tmp = join(ROOT, `.dist-tmp-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
const inPackage = (importer) => importer.includes('/node_modules/');
const relativeTs = {
  name: 'relative-ts-imports',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (a) =>
      a.kind === 'entry-point' || inPackage(a.importer)
        ? undefined
        : { path: a.path.replace(/\.ts$/, '.js'), external: true },
    );
  },
};
/** The package of a bare import (`zod`, `@scope/name`), or undefined for `node:` and other URL-like specifiers. */
const packageOf = (spec) =>
  spec.startsWith('node:') ? undefined : spec.split('/', spec.startsWith('@') ? 2 : 1).join('/');
const vendor = {
  name: 'vendor',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      const pkg = packageOf(a.path);
      if (pkg === undefined) return { path: a.path, external: true };
      // a bundled package's own dependencies are bundled with it; any other package stays in node_modules
      return bundled.has(pkg) || inPackage(a.importer) ? undefined : { path: a.path, external: true };
    });
  },
};
try {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: entries,
    outdir: tmp,
    outbase: '.',
    bundle: true, // our own imports stay external (each file its own module); BUNDLED packages go into shared chunks
    splitting: true,
    chunkNames: 'vendor/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [relativeTs, vendor],
    logLevel: 'error',
  });
  // esbuild's ESM output turns a CommonJS package's require() of a Node built-in (yaml requires 'process') into
  // __require(), which needs a `require` in the scope of the chunk that defines it
  const vendorDir = join(tmp, 'vendor');
  for (const f of existsSync(vendorDir) ? readdirSync(vendorDir) : []) {
    const text = readFileSync(join(vendorDir, f), 'utf8');
    if (text.includes('var __require =')) writeFileSync(join(vendorDir, f), `${REQUIRE_SHIM}\n${text}`);
  }
  for (const r of links) {
    const at = join(tmp, r);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(relative(dirname(join(DIST, r)), join(ROOT, r)), at);
  }
  writeFileSync(
    join(tmp, 'build.json'),
    JSON.stringify({ fingerprint: fp, modules: entries.length, links: links.length }) + '\n',
  );
  const old = join(ROOT, `.dist-old-${process.pid}`);
  try {
    renameSync(DIST, old);
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  renameSync(tmp, DIST);
  rmSync(old, { recursive: true, force: true });
} catch (e) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`steel build: ${e.message}`);
  process.exit(1);
}
const ms = performance.now() - t0;
console.log(
  `steel build: ${entries.length} modules compiled into dist/, ${links.length} data entries linked (${(ms / 1000).toFixed(1)} s)`,
);
