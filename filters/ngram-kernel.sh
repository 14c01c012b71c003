#!/usr/bin/env bash
# Builds filters/ngram-kernel.wasm from filters/ngram-kernel.c (the n-gram statistics, filters/stats.ts)
# through filters/wasm-kernel.sh (the compiler, the flags every kernel shares, the committed bytes).
#   bash filters/ngram-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/wasm-kernel.sh" "$HERE/ngram-kernel.c" "${1:-$HERE/ngram-kernel.wasm}" -mbulk-memory -ffp-contract=off
