#!/usr/bin/env bash
# Prepares .offline/prep/ (git-ignored) for bench/prep-cores.sh on a machine without Node packages (the GPU host).
#   scripts/gpu/bundle-prep.sh              rt.tar.xz: this checkout's dist/ (run `npm run build` first), the npm
#                                           packages a `steel prep` run loads, run-dist.mjs (about 7 MB)
#   scripts/gpu/bundle-prep.sh TREE NAME    NAME.tar.xz: another checkout (e.g. a worktree of an older commit, built):
#                                           its tracked files but the bundled sample, its dist/, the same packages
#                                           and run-dist.mjs (about 10 MB), for TREES="NAME=.offline/prep/NAME.tar.xz"
# run-dist.mjs runs dist/steel.cjs with its code cache (cli/dist.mjs' loadBundle) where the tree has it, else
# dist/cli/main.js, directly (a copied checkout's mtimes would make cli/steel.js think dist/ is stale); the archives
# are POSIX tar, which keeps the bundle's mtime to the nanosecond (the cache is used only for the bundle it was made for). The Node runtime is .offline/node.xz (staged here when missing). Carry .offline/node.xz and .offline/prep.
set -euo pipefail
ROOT=$PWD
mkdir -p .offline/prep
[[ -s .offline/node.xz ]] || "${STEEL_SHARED:-../shared}/scripts/stage-node-runtime.sh" .offline
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# as cli/steel.js runs a fresh dist/: a prep's workers started first where the tree's dist.mjs has startPrepWorkers
cat > "$tmp/run-dist.mjs" <<'JS'
const d = await import('./cli/dist.mjs');
const workers = d.startPrepWorkers ? await d.startPrepWorkers(process.argv.slice(2)) : [];
const b = d.loadBundle ? d.loadBundle() : await import('./dist/cli/main.js');
// as cli/steel.js: a prep's heap flags, set once the bundle is compiled (where the tree's dist.mjs has them)
if (process.argv[2] === 'prep') d.setPrepHeapFlags?.();
b.adoptWorkers?.(workers);
process.exitCode = await b.main(process.argv.slice(2));
// as cli/steel.js: a prep ends with process.exit() (its workers reaped), without Node's teardown
if (process.argv[2] === 'prep') process.exit();
JS
# the npm packages a `steel prep` run loads; @bokuweb (zstd compression before session 18) only for an older TREE:
# each is taken from the tree's node_modules and skipped where the tree has none
pk=(fasttext.wasm.js @node-rs yaml zod @bokuweb xxhash-wasm fzstd apache-arrow hyparquet hyparquet-compressors)
have() { local t=$1; shift; for p in "$@"; do [[ -e $t/node_modules/$p ]] && echo "$p"; done; }
# dist/steel.cache is V8's code cache for the Node release that built it, which another release must not use
# (cli/dist.mjs nodeKey): the archive gets one made by the staged runtime, the GPU host's Node
N=$tmp/node
xz -dc .offline/node.xz > "$N" && chmod +x "$N"
recache() { # TREE OUT: TREE's dist/steel.cache and build.json as the staged Node makes them, written into OUT
  "$N" --input-type=module -e "
    import { readFileSync, writeFileSync } from 'node:fs';
    const d = await import('$1/cli/dist.mjs');
    const { exports, script } = d.runBundle(d.BUNDLE, undefined);
    await exports.warm();
    // as scripts/build.mjs: a small prep first where the tree has cacheRun, so the cache holds what a prep runs
    if (exports.cacheRun) {
      const { mkdtempSync, rmSync } = await import('node:fs');
      const run = mkdtempSync('/tmp/steel-cache-run-');
      try { await exports.cacheRun(run); } finally { rmSync(run, { recursive: true, force: true }); }
    }
    writeFileSync('$2/steel.cache', script.createCachedData());
    const b = JSON.parse(readFileSync(d.DIST + '/build.json', 'utf8'));
    b.bundle.node = (await import('$ROOT/cli/dist.mjs')).nodeKey(); // TREE's own dist.mjs may predate nodeKey
    writeFileSync('$2/build.json', JSON.stringify(b) + '\\n');
    process.exit(0);"
}
if [[ $# -eq 0 ]]; then
  mkdir "$tmp/dist"
  recache "$ROOT" "$tmp/dist"
  mapfile -t pk < <(have "$ROOT" "${pk[@]}")
  tar --format=posix -cf "$tmp/rt.tar" --exclude=dist/steel.cache --exclude=dist/build.json dist "${pk[@]/#/node_modules/}"
  tar --format=posix -rf "$tmp/rt.tar" -C "$tmp" dist/steel.cache dist/build.json run-dist.mjs
  xz -T0 -c "$tmp/rt.tar" > .offline/prep/rt.tar.xz
else
  tree=$(cd "$1" && pwd)
  [[ -f $tree/dist/cli/main.js ]] || { echo "bundle-prep.sh: $tree has no dist/ (npm run build there)" >&2; exit 1; }
  mkdir "$tmp/t"
  git -C "$tree" archive HEAD | tar x -C "$tmp/t" --exclude=corpora-manifests/sample
  cp -a "$tree/dist" "$tmp/t/dist" # -a: the bundle keeps the mtime build.json records for its code cache
  [[ -f $tree/dist/steel.cache ]] && recache "$tree" "$tmp/t/dist"
  mkdir "$tmp/t/node_modules"
  mapfile -t pk < <(have "$tree" "${pk[@]}")
  for p in "${pk[@]}"; do mkdir -p "$tmp/t/node_modules/$(dirname "$p")" && cp -rL "$tree/node_modules/$p" "$tmp/t/node_modules/$p"; done
  cp "$tmp/run-dist.mjs" "$tmp/t/"
  tar --format=posix -cJf ".offline/prep/$2.tar.xz" -C "$tmp/t" .
fi
du -sh .offline/prep/*
