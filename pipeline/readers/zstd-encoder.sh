#!/usr/bin/env bash
# Builds pipeline/readers/zstd-encoder.wasm from pipeline/readers/zstd-encoder.c and libzstd v1.5.6's compressor
# (the .wasm is committed: a user's machine has no compiler). Needs clang and lld with the wasm32 target (`apt-get
# install clang lld`; Debian 12's clang 14 built the committed file, the same bytes each time) and the zstd sources:
# ZSTD_SRC=DIR, a copy of https://github.com/facebook/zstd at tag v1.5.6 (commit 794ea1b0af; the release tarball
# zstd-1.5.6.tar.gz unpacks to the same lib/), checked below by the sha256 of the files compiled.
#   ZSTD_SRC=~/zstd-1.5.6 bash pipeline/readers/zstd-encoder.sh [OUT.wasm]
set -euo pipefail
export LC_ALL=C
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/zstd-encoder.wasm}"
: "${ZSTD_SRC:?set ZSTD_SRC to a copy of the zstd v1.5.6 sources (https://github.com/facebook/zstd, tag v1.5.6)}"
LIB="$(cd "$ZSTD_SRC/lib" && pwd)"
# every compressor source but the multi-threaded one (ZSTD_MULTITHREAD left undefined), and the common files it calls
SRCS=(common/entropy_common.c common/error_private.c common/fse_decompress.c common/xxhash.c common/zstd_common.c
  compress/fse_compress.c compress/hist.c compress/huf_compress.c compress/zstd_compress.c
  compress/zstd_compress_literals.c compress/zstd_compress_sequences.c compress/zstd_compress_superblock.c
  compress/zstd_double_fast.c compress/zstd_fast.c compress/zstd_lazy.c compress/zstd_ldm.c compress/zstd_opt.c)
SUM="$(cd "$LIB" && cat "${SRCS[@]}" common/*.h compress/*.h zstd.h zstd_errors.h | sha256sum | cut -c1-64)"
WANT=90f331c4dad5315e99d7046ed6a23db5588002d214b6037d4f1e5cf79684d33c
if [ "$SUM" != "$WANT" ]; then
  echo "zstd-encoder.sh: $LIB is not zstd v1.5.6 (sha256 of the sources $SUM, want $WANT)" >&2
  exit 1
fi
CC="$(command -v clang || command -v clang-14)"
LD="$(command -v wasm-ld || command -v wasm-ld-14)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# One change to libzstd, made to copies here: the per-parameter variants of the fast and double-fast block compressors
# (levels 1-4) kept out of line (noinline). Each is called once, from a switch over the minimum match length, so clang
# inlines all of them into that switch, and V8 then tiers up a 20 KB function for level 1 (TurboFan: ~135 ms on this
# machine, while the first frames run in Liftoff code) instead of the ~4 KB variant the level uses. The frames are
# the same (no change to what is computed).
mkdir -p "$TMP/compress"
sed 's/^    static size_t ZSTD_compressBlock_fast_##dictMode##/    static __attribute__((noinline)) size_t ZSTD_compressBlock_fast_##dictMode##/' \
  "$LIB/compress/zstd_fast.c" >"$TMP/compress/zstd_fast.c"
sed 's/^    static size_t ZSTD_compressBlock_doubleFast_##dictMode##/    static __attribute__((noinline)) size_t ZSTD_compressBlock_doubleFast_##dictMode##/' \
  "$LIB/compress/zstd_double_fast.c" >"$TMP/compress/zstd_double_fast.c"
for f in zstd_fast.c zstd_double_fast.c; do
  if [ "$(grep -c '__attribute__((noinline))' "$TMP/compress/$f")" != 1 ]; then
    echo "zstd-encoder.sh: the noinline change did not apply to compress/$f" >&2
    exit 1
  fi
done
SHIM="$TMP/include"
# libzstd's C library headers (zstd-libc-shim.sh)
source "$HERE/zstd-libc-shim.sh"
zstd_libc_shim "$SHIM"
cd "$LIB"
FILES=()
for f in "${SRCS[@]}"; do
  if [ -f "$TMP/$f" ]; then FILES+=("$TMP/$f"); else FILES+=("$f"); fi
done
# -I. -Icommon -Icompress: the copies include their headers from libzstd's folders; the stack first (an overflow traps
# instead of overwriting the static data), 1 MiB of it
"$CC" --target=wasm32 -O3 -mbulk-memory -nostdlib -isystem "$SHIM" -I. -Icommon -Icompress \
  -DDEBUGLEVEL=0 -DZSTD_LEGACY_SUPPORT=0 -DZSTD_NO_TRACE -DZSTD_DISABLE_ASM -DXXH_NAMESPACE=ZSTD_ \
  -fuse-ld="$LD" -Wl,--no-entry -Wl,--stack-first -Wl,-z,stack-size=1048576 \
  -Wl,--export=ze_need -Wl,--export=ze_bound -Wl,--export=ze_init -Wl,--export=ze_compress -Wl,--export=ze_error \
  -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT" "${FILES[@]}" "$HERE/zstd-encoder.c"
chmod 644 "$OUT"
