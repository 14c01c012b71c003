#!/usr/bin/env bash
# Builds pipeline/writers/json-kernel.wasm from pipeline/writers/json-kernel.c (the JSONL writer's text escaping and
# UTF-8 encoding, pipeline/writers/jsonl.ts) through filters/wasm-kernel.sh (the compiler, the flags every kernel
# shares, the committed bytes), with WebAssembly SIMD.
#   bash pipeline/writers/json-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/../../filters/wasm-kernel.sh" "$HERE/json-kernel.c" "${1:-$HERE/json-kernel.wasm}" -msimd128
