#!/usr/bin/env bash
# Builds dedup/minhash-kernel.wasm from dedup/minhash-kernel.c (the .wasm is committed: rebuild it after editing
# the C source; dedup/algorithms.test.ts checks that they agree when clang is installed). Needs clang and lld with the
# wasm32 target: `apt-get install clang lld` (Debian 12: clang 14, which built the committed file; the build is
# reproducible: the same bytes each time).
#   bash dedup/minhash-kernel.sh [OUT.wasm]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/minhash-kernel.wasm}"
CC="$(command -v clang || command -v clang-14)"
LD="$(command -v wasm-ld || command -v wasm-ld-14)"
"$CC" --target=wasm32 -O3 -mbulk-memory -ffp-contract=off -nostdlib \
  -fuse-ld="$LD" -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT" "$HERE/minhash-kernel.c"
chmod 644 "$OUT"
