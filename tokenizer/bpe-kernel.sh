#!/usr/bin/env bash
# Builds tokenizer/bpe-kernel.wasm from tokenizer/bpe-kernel.c (the byte-level BPE encoder's pre-tokenizer, piece
# cache and merges, tokenizer/bytebpe.ts) through filters/wasm-kernel.sh (the compiler, the flags every kernel shares,
# the committed bytes).
#   bash tokenizer/bpe-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/../filters/wasm-kernel.sh" "$HERE/bpe-kernel.c" "${1:-$HERE/bpe-kernel.wasm}" -mbulk-memory
