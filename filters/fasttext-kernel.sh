#!/usr/bin/env bash
# Builds filters/fasttext-kernel.wasm from filters/fasttext-kernel.c (fastText's inference, filters/fasttext.ts)
# through filters/wasm-kernel.sh (the compiler, the flags every kernel shares, the committed bytes).
#   bash filters/fasttext-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/wasm-kernel.sh" "$HERE/fasttext-kernel.c" "${1:-$HERE/fasttext-kernel.wasm}" -msimd128 -mbulk-memory -ffp-contract=off -fno-builtin-log
