#!/usr/bin/env bash
# Prepares .offline/prep/rt.tar.xz (git-ignored) for bench/prep-cores.sh on a machine without Node packages (the GPU
# host): dist/ (run `npm run build` first), the npm packages a `steel prep` run loads, and run-dist.mjs (imports
# dist/cli/main.js directly: a copied checkout's mtimes would make cli/steel.js think dist/ is stale); about 7 MB. The
# Node runtime is .offline/node.xz (staged here when missing). Carry .offline/node.xz and .offline/prep.
# Usage (repo root): scripts/gpu/bundle-prep.sh
set -euo pipefail
mkdir -p .offline/prep
[[ -s .offline/node.xz ]] || "${STEEL_SHARED:-../shared}/scripts/stage-node-runtime.sh" .offline
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/run-dist.mjs" <<'JS'
const { main } = await import('./dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
JS
pk=(fasttext.wasm.js @node-rs yaml zod @bokuweb xxhash-wasm fzstd apache-arrow hyparquet hyparquet-compressors)
tar cJf .offline/prep/rt.tar.xz dist "${pk[@]/#/node_modules/}" -C "$tmp" run-dist.mjs
du -sh .offline/prep/*
