/*
 * The JSONL writer's text kernel (pipeline/writers/jsonl.ts, jsonString): a string's UTF-16 code units in, the UTF-8
 * bytes of JSON.stringify(string) out, in one pass. The same escapes as JSON.stringify (ES2019 well-formed): \" \\ \b
 * \f \n \r \t, other controls as \u00xx, a lone surrogate as \udxxx (lower-case hex), everything else as itself
 * (U+007F, U+2028 and U+2029 included). Runs of 8 units that are all plain ASCII, or all 3-byte units (U+0800 to
 * U+FFFF outside the surrogates: most Chinese text), are converted 8 at a time with SIMD; anything else one unit at a
 * time.
 *
 * Built by pipeline/writers/json-kernel.sh (filters/wasm-kernel.sh's flags plus -msimd128); no libc, no allocator:
 * the caller lays out the input and output in the module's memory after __heap_base.
 */
#include <stdint.h>
#include <wasm_simd128.h>

/* UTF-16 units the last je_write's escapes added (JSON.stringify(s).length - s.length - 2), and its lone surrogates. */
static uint32_t last_extra, last_lone;

__attribute__((export_name("je_extra"))) uint32_t je_extra(void) { return last_extra; }
__attribute__((export_name("je_lone"))) uint32_t je_lone(void) { return last_lone; }

static const uint8_t HEX[16] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

/*
 * The `n` units at `src` as a JSON string (with its quotes) at `dst` (room for 6 bytes per unit + 2); returns the end
 * of what was written.
 */
__attribute__((export_name("je_write"))) uint8_t *je_write(const uint16_t *src, uint32_t n, uint8_t *dst) {
  uint32_t extra = 0, lone = 0;
  uint8_t *o = dst;
  *o++ = '"';
  uint32_t i = 0;
  const v128_t c20 = wasm_i16x8_splat(0x20), c80 = wasm_i16x8_splat(0x80), q = wasm_i16x8_splat(0x22),
               bs = wasm_i16x8_splat(0x5c), c800 = wasm_i16x8_splat(0x800), sur = wasm_i16x8_splat((short)0xd800),
               m3f = wasm_i16x8_splat(0x3f), e0 = wasm_i16x8_splat(0xe0), x80 = wasm_i16x8_splat(0x80);
  while (i < n) {
    if (i + 8 <= n) {
      v128_t v = wasm_v128_load(src + i);
      /* plain ASCII: 0x20 <= c < 0x80, not " or \ */
      v128_t ok = wasm_v128_and(wasm_u16x8_ge(v, c20), wasm_u16x8_lt(v, c80));
      ok = wasm_v128_andnot(ok, wasm_v128_or(wasm_i16x8_eq(v, q), wasm_i16x8_eq(v, bs)));
      if (wasm_i16x8_all_true(ok)) {
        wasm_v128_store64_lane(o, wasm_u8x16_narrow_i16x8(v, v), 0);
        o += 8;
        i += 8;
        continue;
      }
      /* 3 bytes each: c >= 0x800 and (c - 0xd800) >= 0x800 (not a surrogate) */
      v128_t three = wasm_v128_and(wasm_u16x8_ge(v, c800), wasm_u16x8_ge(wasm_i16x8_sub(v, sur), c800));
      if (wasm_i16x8_all_true(three)) {
        v128_t hi = wasm_v128_or(wasm_u16x8_shr(v, 12), e0);
        v128_t mid = wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(v, 6), m3f), x80);
        v128_t lo = wasm_v128_or(wasm_v128_and(v, m3f), x80);
        v128_t a = wasm_u8x16_narrow_i16x8(hi, mid); /* h0..h7 m0..m7 */
        v128_t b = wasm_u8x16_narrow_i16x8(lo, lo);  /* l0..l7 l0..l7 */
        v128_t r0 = wasm_i8x16_shuffle(a, b, 0, 8, 16, 1, 9, 17, 2, 10, 18, 3, 11, 19, 4, 12, 20, 5);
        v128_t r1 = wasm_i8x16_shuffle(a, b, 13, 21, 6, 14, 22, 7, 15, 23, 0, 0, 0, 0, 0, 0, 0, 0);
        wasm_v128_store(o, r0);
        wasm_v128_store64_lane(o + 16, r1, 0);
        o += 24;
        i += 8;
        continue;
      }
    }
    /* one unit (the 8 at i are mixed, or fewer than 8 are left): up to 8 of them */
    uint32_t stop = i + 8 < n ? i + 8 : n;
    for (; i < stop; i++) {
      uint32_t c = src[i];
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5c) {
          *o++ = (uint8_t)c;
          continue;
        }
        *o++ = '\\';
        switch (c) {
        case 0x22: *o++ = '"'; extra += 1; break;
        case 0x5c: *o++ = '\\'; extra += 1; break;
        case 0x08: *o++ = 'b'; extra += 1; break;
        case 0x09: *o++ = 't'; extra += 1; break;
        case 0x0a: *o++ = 'n'; extra += 1; break;
        case 0x0c: *o++ = 'f'; extra += 1; break;
        case 0x0d: *o++ = 'r'; extra += 1; break;
        default:
          o[0] = 'u';
          o[1] = '0';
          o[2] = '0';
          o[3] = HEX[c >> 4];
          o[4] = HEX[c & 15];
          o += 5;
          extra += 5;
        }
      } else if (c < 0x800) {
        o[0] = (uint8_t)(0xc0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 63));
        o += 2;
      } else if (c < 0xd800 || c > 0xdfff) {
        o[0] = (uint8_t)(0xe0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (c & 63));
        o += 3;
      } else {
        uint32_t d = i + 1 < n ? src[i + 1] : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          o[0] = (uint8_t)(0xf0 | (c >> 18));
          o[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
          o[2] = (uint8_t)(0x80 | ((c >> 6) & 63));
          o[3] = (uint8_t)(0x80 | (c & 63));
          o += 4;
        } else {
          o[0] = '\\';
          o[1] = 'u';
          o[2] = HEX[c >> 12];
          o[3] = HEX[(c >> 8) & 15];
          o[4] = HEX[(c >> 4) & 15];
          o[5] = HEX[c & 15];
          o += 6;
          extra += 5;
          lone++;
        }
      }
    }
  }
  *o++ = '"';
  last_extra = extra;
  last_lone = lone;
  return o;
}
