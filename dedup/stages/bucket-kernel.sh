#!/usr/bin/env bash
# Builds dedup/stages/bucket-kernel.wasm from dedup/stages/bucket-kernel.c (the bucket step's sketch comparisons,
# dedup/stages/buckets.ts) through filters/wasm-kernel.sh (the compiler, the flags every kernel shares, the committed
# bytes).
#   bash dedup/stages/bucket-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/../../filters/wasm-kernel.sh" "$HERE/bucket-kernel.c" "${1:-$HERE/bucket-kernel.wasm}" -msimd128 -mbulk-memory
