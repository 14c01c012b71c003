#!/usr/bin/env node
// Compiles the TypeScript sources into dist/ (git-ignored), which cli/steel.js runs: `npm run build`, and the `prepare`
// script of `npm ci`. Usage: node scripts/build.mjs [--if-stale]
//
// Each non-test .ts file is transpiled on its own by esbuild (the transform tsx applies at run time, so the compiled
// code behaves as the sources do under tsx; types are checked by `npm run typecheck`), its relative `./x.ts` imports
// rewritten to `./x.js`. Every other entry of the source folders is symlinked (see cli/dist.mjs). The new tree is
// built beside dist/ and renamed into place, so a running `steel` never sees half a tree.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DIST, ROOT, distState, fingerprint, walkSources } from '../cli/dist.mjs';

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
const relativeTs = {
  name: 'relative-ts-imports',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (a) =>
      a.kind === 'entry-point' ? undefined : { path: a.path.replace(/\.ts$/, '.js'), external: true },
    );
  },
};
try {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: entries,
    outdir: tmp,
    outbase: '.',
    bundle: true, // only to run the plugin on every import: each one is external, so each file stays its own module
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [relativeTs],
    logLevel: 'error',
  });
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
