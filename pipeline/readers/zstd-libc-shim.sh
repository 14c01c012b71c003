# Sourced by zstd-decoder.sh and zstd-encoder.sh: zstd_libc_shim DIR writes into DIR the few C library headers
# libzstd includes, for a wasm32 target without a C library: memcpy & co. as builtins (bulk memory instructions), an
# allocator declared only (the caller's .c file defines it: no heap), no assertions, no I/O.
zstd_libc_shim() {
  mkdir -p "$1"
  cat >"$1/string.h" <<'H'
#pragma once
#include <stddef.h>
#define memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memset(p, v, n) __builtin_memset((p), (v), (n))
#define memcmp(a, b, n) __builtin_memcmp((a), (b), (n))
H
  cat >"$1/stdlib.h" <<'H'
#pragma once
#include <stddef.h>
void *malloc(size_t n);
void *calloc(size_t n, size_t s);
void free(void *p);
H
  echo '#define assert(x) ((void)0)' >"$1/assert.h"
  : >"$1/stdio.h"
}
