#!/usr/bin/env bash
# Builds one of the project's WebAssembly kernels (filters/*-kernel.c, dedup/minhash-kernel.c,
# dedup/stages/bucket-kernel.c, pipeline/writers/json-kernel.c) into OUT.wasm, with the clang flags given (each kernel's NAME.sh calls this with its
# own). The .wasm files are committed: rebuild after editing a C source; filters/fasttext.test.ts checks that each
# agrees with its source when clang is installed. Needs
# clang and lld with the wasm32 target: `apt-get install clang lld` (Debian 12: clang 14, which built the committed
# files; the build is reproducible: the same bytes each time).
#   bash filters/wasm-kernel.sh SOURCE.c OUT.wasm [CLANG FLAGS...]
set -euo pipefail
SRC="$1"
OUT="$2"
shift 2
CC="$(command -v clang || command -v clang-14)"
LD="$(command -v wasm-ld || command -v wasm-ld-14)"
"$CC" --target=wasm32 -O3 "$@" -nostdlib \
  -fuse-ld="$LD" -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT" "$SRC"
chmod 644 "$OUT"
