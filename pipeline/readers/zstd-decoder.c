/*
 * The pipeline's zstd decoder (pipeline/readers/zstd.ts): libzstd v1.5.6's decompressor (BSD licence, reproduced in
 * zstd-decoder.wasm.LICENSE; its sources are not in this repository: zstd-decoder.sh builds from a copy of them)
 * compiled to WebAssembly by clang, with one decompression context in a static workspace (no allocator) and one
 * Huffman decoder and one sequence decoder variant compiled in (HUF_FORCE_DECOMPRESS_X1,
 * ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT: a smaller module, which V8 compiles in less CPU time on each process's first
 * frames; as fast on our frames as the full decoder). The caller places a whole frame (or frames) at `src`, and gets
 * the content at `dst`.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"
#include "zstd_errors.h"

/* libzstd calls its allocator only when it creates a context on the heap, which this file never asks for */
void *malloc(size_t n) {
  (void)n;
  return 0;
}
void *calloc(size_t n, size_t s) {
  (void)n;
  (void)s;
  return 0;
}
void free(void *p) { (void)p; }

static unsigned char workspace[1 << 18] __attribute__((aligned(16)));
static ZSTD_DCtx *dctx;

/* Set up the context; returns its size in bytes, or -1 when the workspace is too small. */
int zd_init(void) {
  dctx = ZSTD_initStaticDCtx(workspace, sizeof workspace);
  return dctx ? (int)ZSTD_estimateDCtxSize() : -1;
}

/* Decompress the frames in src[0..n) into dst[0..cap): the content's size, or -(error code) - 1. */
int zd_decompress(void *dst, size_t cap, const void *src, size_t n) {
  size_t r = ZSTD_decompressDCtx(dctx, dst, cap, src, n);
  return ZSTD_isError(r) ? -(int)ZSTD_getErrorCode(r) - 1 : (int)r;
}

/* The text of an error code (a NUL-terminated string in the module's memory). */
const char *zd_error(int code) { return ZSTD_getErrorString((ZSTD_ErrorCode)code); }
