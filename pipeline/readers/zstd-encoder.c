/*
 * The pipeline's zstd encoder (pipeline/readers/zstd.ts, ZstdEncoder): libzstd v1.5.6's compressor (BSD licence,
 * reproduced in zstd-encoder.wasm.LICENSE; its sources are not in this repository: zstd-encoder.sh builds from a copy
 * of them) compiled to WebAssembly by clang, with one compression context kept across calls in a workspace the caller
 * places in the module's memory (no allocator: ZSTD_initStaticCCtx), sized by ze_need for the level and input size.
 * Each call compresses a whole input into one frame with its content size declared (ZSTD_compressCCtx: the frame
 * ZSTD_compress gives).
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

static ZSTD_CCtx *cctx;

/*
 * Bytes of workspace a context needs to compress n bytes at `level` (the parameters ZSTD_compressCCtx picks for them;
 * ZSTD_getCParams takes a size of 0 for "unknown", which ZSTD_compressCCtx does not, and 1 picks the same as 0 there).
 */
size_t ze_need(int level, size_t n) {
  return ZSTD_estimateCCtxSize_usingCParams(ZSTD_getCParams(level, n ? n : 1, 0));
}

/* Bytes a frame of n bytes of content may take (at any level). */
size_t ze_bound(size_t n) { return ZSTD_compressBound(n); }

/* Set up the context in ws[0..size) (8-byte aligned): 0, or -1 when it does not fit. */
int ze_init(void *ws, size_t size) {
  cctx = ZSTD_initStaticCCtx(ws, size);
  return cctx ? 0 : -1;
}

/* Compress src[0..n) at `level` into one frame at dst[0..cap): the frame's size, or -(error code) - 1. */
int ze_compress(void *dst, size_t cap, const void *src, size_t n, int level) {
  size_t r = ZSTD_compressCCtx(cctx, dst, cap, src, n, level);
  return ZSTD_isError(r) ? -(int)ZSTD_getErrorCode(r) - 1 : (int)r;
}

/* The text of an error code (a NUL-terminated string in the module's memory). */
const char *ze_error(int code) { return ZSTD_getErrorString((ZSTD_ErrorCode)code); }
