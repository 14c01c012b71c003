#!/usr/bin/env bash
# Builds filters/jieba-kernel.wasm from filters/jieba-kernel.c (jieba's segmentation, filters/jieba.ts)
# through filters/wasm-kernel.sh (the compiler, the flags every kernel shares, the committed bytes).
#   bash filters/jieba-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/wasm-kernel.sh" "$HERE/jieba-kernel.c" "${1:-$HERE/jieba-kernel.wasm}" -mbulk-memory -ffp-contract=off
