#!/usr/bin/env bash
# Builds pipeline/readers/zstd-decoder.wasm from pipeline/readers/zstd-decoder.c and libzstd v1.5.6's decompressor
# (the .wasm is committed: a user's machine has no compiler). Needs clang and lld with the wasm32 target (`apt-get
# install clang lld`; Debian 12's clang 14 built the committed file, the same bytes each time) and the zstd sources:
# ZSTD_SRC=DIR, a copy of https://github.com/facebook/zstd at tag v1.5.6 (commit 794ea1b0af; the release tarball
# zstd-1.5.6.tar.gz unpacks to the same lib/), checked below by the sha256 of the files compiled.
#   ZSTD_SRC=~/zstd-1.5.6 bash pipeline/readers/zstd-decoder.sh [OUT.wasm]
set -euo pipefail
export LC_ALL=C
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/zstd-decoder.wasm}"
: "${ZSTD_SRC:?set ZSTD_SRC to a copy of the zstd v1.5.6 sources (https://github.com/facebook/zstd, tag v1.5.6)}"
LIB="$(cd "$ZSTD_SRC/lib" && pwd)"
SRCS=(common/entropy_common.c common/error_private.c common/fse_decompress.c common/xxhash.c common/zstd_common.c
  decompress/huf_decompress.c decompress/zstd_ddict.c decompress/zstd_decompress.c decompress/zstd_decompress_block.c)
SUM="$(cd "$LIB" && cat "${SRCS[@]}" common/*.h decompress/*.h zstd.h zstd_errors.h | sha256sum | cut -c1-64)"
WANT=0b8b6e6f2fc01990fcb55535766aa5b20a9b22a1b00782e02be476a3a33de4d8
if [ "$SUM" != "$WANT" ]; then
  echo "zstd-decoder.sh: $LIB is not zstd v1.5.6 (sha256 of the sources $SUM, want $WANT)" >&2
  exit 1
fi
CC="$(command -v clang || command -v clang-14)"
LD="$(command -v wasm-ld || command -v wasm-ld-14)"
SHIM="$(mktemp -d)"
trap 'rm -rf "$SHIM"' EXIT
# libzstd's C library headers (zstd-libc-shim.sh)
source "$HERE/zstd-libc-shim.sh"
zstd_libc_shim "$SHIM"
cd "$LIB"
"$CC" --target=wasm32 -O3 -mbulk-memory -nostdlib -isystem "$SHIM" -I. -Icommon \
  -DDEBUGLEVEL=0 -DZSTD_LEGACY_SUPPORT=0 -DZSTD_MULTITHREAD=0 -DZSTD_NO_TRACE -DZSTD_DISABLE_ASM \
  -DXXH_NAMESPACE=ZSTD_ -DHUF_FORCE_DECOMPRESS_X1 -DZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT \
  -fuse-ld="$LD" -Wl,--no-entry -Wl,--export=zd_init -Wl,--export=zd_decompress -Wl,--export=zd_head -Wl,--export=zd_error \
  -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT" "${SRCS[@]}" "$HERE/zstd-decoder.c"
chmod 644 "$OUT"
