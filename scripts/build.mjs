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
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BUNDLED,
  BUNDLE_HEAD,
  BUNDLE_TAIL,
  DIST,
  ROOT,
  distState,
  fingerprint,
  nodeKey,
  walkSources,
} from '../cli/dist.mjs';

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
// the helpers of dist/steel.cjs' modules (buildBundle): module URLs in dist/ (beside this file), the modules run so far
// (strict, as ES modules are: the directive must come first in the function cli/dist.mjs wraps the bundle in)
const BUNDLE_BANNER = `'use strict';
const __steelLoaded = [];
const __steelDist = require('node:url').pathToFileURL(__dirname + '/').href;
const __steelUrl = (rel) => __steelDist + rel;
const __steelResolve = (spec) => { throw new Error('import.meta.resolve(' + spec + ') in dist/steel.cjs'); };`;
// the process that writes dist/steel.cache: it loads the new bundle (argv[1], the tree being built) without a cache,
// runs the modules a prep loads and a small prep of the bundled sample's first lines (cli/bundle.ts cacheRun, in a
// temporary folder), then saves what V8 compiled
const CACHE_CHILD = `
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
const dir = process.argv[1];
const { runBundle, BUNDLE } = await import(${JSON.stringify(new URL('../cli/dist.mjs', import.meta.url).href)});
const { exports, script } = runBundle(join(dir, 'steel.cjs'), undefined, BUNDLE);
await exports.warm();
const run = mkdtempSync(join(tmpdir(), 'steel-cache-run-'));
try {
  await exports.cacheRun(run);
} catch (e) {
  // the cache is still written, with what loading the modules compiled
  console.error('the code cache holds the loaded modules only: ' + e.message);
} finally {
  rmSync(run, { recursive: true, force: true });
}
writeFileSync(join(dir, 'steel.cache'), script.createCachedData());
process.exit(0);
`;
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
/**
 * dist/steel.cjs: cli/bundle.ts and every module of ours it imports, statically or not, with the BUNDLED packages, in
 * one CommonJS file (other packages are imported from node_modules at run time). CommonJS so that cli/dist.mjs can
 * compile it with a V8 code cache (node:vm's Script; Node 20 has none for ES modules). Each module's
 * `import.meta.url` becomes its compiled file's URL in dist/ (`__steelUrl`), and its first statement records it in
 * cli/bundle.ts' `loaded`.
 */
async function buildBundle() {
  const own = {
    name: 'module-urls',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (a) => {
        if (inPackage(a.path)) return undefined;
        const rel = relative(ROOT, a.path);
        const text = readFileSync(a.path, 'utf8')
          .replaceAll('import.meta.url', `__steelUrl(${JSON.stringify(rel.replace(/\.ts$/, '.js'))})`)
          .replaceAll('import.meta.resolve(', '__steelResolve(');
        // types erased first (the transform esbuild applies to every file), then every import() that esbuild would
        // leave as it is (Node built-ins, packages, paths known at run time; a relative one it bundles) calls the
        // loader's import instead: V8 gives a script compiled from a code cache no callback for import()
        const { code } = await esbuild.transform(text, {
          loader: 'ts',
          format: 'esm',
          target: 'node20',
          sourcefile: a.path,
          tsconfigRaw: readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'),
        });
        const js = code.replace(/\bimport\((?!\s*["']\.{1,2}\/)/g, '__steelImport(');
        return { contents: `__steelLoaded.push(${JSON.stringify(rel)});\n${js}`, loader: 'js' };
      });
    },
  };
  // zod's locales (402 KB of the bundle, ~60 modules each process reads and runs) but English, the one zod uses
  // unless configured otherwise (nothing here configures it): `z.locales` holds `en` only
  const zodEnglish = {
    name: 'zod-english',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) =>
        a.importer.includes('/node_modules/zod/')
          ? { path: join(dirname(a.importer), '../locales/en.js'), namespace: 'zod-en' }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (a) => ({
        contents: `export { default as en } from ${JSON.stringify(a.path)};`,
        resolveDir: dirname(a.path),
        loader: 'js',
      }));
    },
  };
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['cli/bundle.ts'],
    outfile: join(tmp, 'steel.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [zodEnglish, own, vendor],
    banner: { js: BUNDLE_BANNER },
    define: { STEEL_BUNDLE: 'true' },
    logLevel: 'error',
  });
  // ASCII only: esbuild escapes the strings but leaves comments and regular expressions as written, and one character
  // above U+00FF makes V8 hold the whole source as a two-byte string; \uXXXX means the same in both. The file is the
  // function cli/dist.mjs compiles (BUNDLE_HEAD, the CommonJS code, BUNDLE_TAIL), so its text is the script's source.
  const file = join(tmp, 'steel.cjs');
  const text = readFileSync(file, 'utf8');
  writeFileSync(
    file,
    BUNDLE_HEAD +
      text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) +
      BUNDLE_TAIL,
  );
}

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
  await buildBundle();
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
  // the tables of the bundled Qwen encoder's kernel, in the form the kernel uses (tokenizer/encode.ts
  // QWEN_KERNEL_IMAGE: a process then reads them instead of unzipping the merges and building them); without it (this
  // step failed) each process builds them
  try {
    const { writeQwenKernelImage } = await import(pathToFileURL(join(tmp, 'tokenizer', 'encode.js')).href);
    writeQwenKernelImage(join(tmp, 'tokenizer', 'qwen-kernel.bin'));
  } catch (e) {
    console.warn(`steel build: no image of the Qwen encoder's tables: ${e.message}`);
  }
  // the bundled recipes and corpus manifests parsed (pipeline/yaml.ts): a process takes their documents from there
  try {
    const { writeYamlParsed } = await import(pathToFileURL(join(tmp, 'pipeline', 'yaml.js')).href);
    const dirs = ['pipeline/recipes', 'corpora-manifests'].map((d) => join(ROOT, d));
    writeYamlParsed(dirs, join(tmp, 'pipeline', 'yaml-parsed.json'));
  } catch (e) {
    console.warn(`steel build: no parsed copy of the recipes and manifests: ${e.message}`);
  }
  // V8's code cache of the bundle, made by a fresh process that runs the modules a prep loads and a small prep
  // (cli/bundle.ts, warm and cacheRun); build.json records the bundle file it belongs to. Without it (that process
  // failed) the bundle compiles as it loads.
  const st = statSync(join(tmp, 'steel.cjs'));
  const cache = spawnSync(process.execPath, ['--input-type=module', '-e', CACHE_CHILD, tmp], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (cache.status !== 0) console.warn(`steel build: no code cache for dist/steel.cjs: ${cache.stderr.trim()}`);
  else if (cache.stderr.trim()) console.warn(`steel build: ${cache.stderr.trim()}`);
  writeFileSync(
    join(tmp, 'build.json'),
    JSON.stringify({
      fingerprint: fp,
      modules: entries.length,
      links: links.length,
      ...(cache.status === 0 && { bundle: { size: st.size, mtimeMs: st.mtimeMs, node: nodeKey() } }),
    }) + '\n',
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
