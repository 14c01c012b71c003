#!/usr/bin/env bash
# Prepares .offline/ (git-ignored) for a GPU host without Node packages: the staged Node runtime, single-file bundles
# of the GPU checks, of `steel train` and of `steel sft` / `steel dpo` (scripts/gpu/steel-ft-entry.ts; the CUDA backend
# beside them, Steel's HF modeling files for exports in hf_steel/), and optionally token shards.
# Usage (repo root): scripts/gpu/bundle.sh [SHARDS_DIR]
set -euo pipefail
mkdir -p .offline
[[ -s .offline/node.xz ]] || "${STEEL_SHARED:-../shared}/scripts/stage-node-runtime.sh" .offline
banner='import{createRequire as __steelCR}from"node:module";const require=__steelCR(import.meta.url);'
eb() { node_modules/.bin/esbuild "$1" --bundle --platform=node --format=esm --log-level=warning "--banner:js=$banner" --outfile="$2"; }
eb train/native/gpu-check.ts .offline/gpu-check.mjs
eb train/native/index.ts .offline/steel-cuda-index.mjs
eb scripts/gpu/steel-train-entry.ts .offline/steel-train.mjs
eb scripts/gpu/steel-ft-entry.ts .offline/steel-ft.mjs
# train/backend.ts loads ./native/index.ts relative to itself: point it at the bundled backend beside the bundle
for b in .offline/steel-train.mjs .offline/steel-ft.mjs; do
  grep -q '"./native/index.ts"' $b || { echo "bundle.sh: backend import path not found in $b" >&2; exit 1; }
  sed -i 's#"./native/index.ts"#"./steel-cuda-index.mjs"#' $b
done
rm -rf .offline/hf_steel && cp -r train/hf_steel .offline/hf_steel
if [[ -n ${1:-} ]]; then rm -rf .offline/shards && cp -r "$1" .offline/shards; fi
du -sh .offline/*
