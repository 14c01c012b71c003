/*
 * The pipeline's zstd decoder (pipeline/readers/zstd.ts): libzstd v1.5.6's decompressor (BSD licence, reproduced in
 * zstd-decoder.wasm.LICENSE; its sources are not in this repository: zstd-decoder.sh builds from a copy of them)
 * compiled to WebAssembly by clang, with one decompression context in a static workspace (no allocator) and one
 * Huffman decoder and one sequence decoder variant compiled in (HUF_FORCE_DECOMPRESS_X1,
 * ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT: a smaller module, which V8 compiles in less CPU time on each process's first
 * frames; as fast on our frames as the full decoder). The caller places a whole frame (or frames) at `src`, and gets
 * the content at `dst`; or, for the start of a frame only (zd_head), the frame's first bytes, decoded block by block.
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

/*
 * The start of the frame at src[0..n) (which may stop anywhere in the frame): its blocks decoded in order into
 * dst[0..cap) until at least `want` bytes are out, the frame ends, or src holds no whole next block. Returns the bytes
 * out, or -(error code) - 1. cap must leave room for one more block (128 KiB) after `want` bytes.
 */
int zd_head(void *dst, size_t cap, const void *src, size_t n, size_t want) {
  const unsigned char *ip = (const unsigned char *)src;
  size_t out = 0;
  size_t r = ZSTD_decompressBegin(dctx);
  while (!ZSTD_isError(r) && out < want) {
    size_t need = ZSTD_nextSrcSizeToDecompress(dctx);
    if (need == 0 || need > n) break;
    r = ZSTD_decompressContinue(dctx, (unsigned char *)dst + out, cap - out, ip, need);
    if (!ZSTD_isError(r)) {
      ip += need;
      n -= need;
      out += r;
    }
  }
  return ZSTD_isError(r) ? -(int)ZSTD_getErrorCode(r) - 1 : (int)out;
}

/* The text of an error code (a NUL-terminated string in the module's memory). */
const char *zd_error(int code) { return ZSTD_getErrorString((ZSTD_ErrorCode)code); }
