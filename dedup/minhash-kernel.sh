#!/usr/bin/env bash
# Builds dedup/minhash-kernel.wasm from dedup/minhash-kernel.c (character shingles, MinHash signatures, verify's sorted
# sets: dedup/text.ts, dedup/minhash.ts) through filters/wasm-kernel.sh (the compiler, the flags every kernel shares,
# the committed bytes).
#   bash dedup/minhash-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/../filters/wasm-kernel.sh" "$HERE/minhash-kernel.c" "${1:-$HERE/minhash-kernel.wasm}" -mbulk-memory -ffp-contract=off
