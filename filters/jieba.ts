/**
 * jieba word segmentation without HMM, in TypeScript: the words of jieba-rs 0.10 `cut(text, false)` (what
 * @node-rs/jieba returns) with the same dictionary (@node-rs/jieba/dict), computed on the UTF-16 text directly, so no
 * UTF-8 copy of the document goes to native code and no native string comes back per word (that marshalling was most
 * of the cost of the native call). filters/jieba.test.ts checks the words against @node-rs/jieba on real documents.
 *
 * The algorithm, step for step as jieba-rs does it:
 * - the text splits into runs of "Han" characters (CJK Unified Ideographs and their extensions, ASCII letters and
 *   digits, `+#&._%-`) and runs of anything else; every character of the other runs is a token of its own (\r\n is one);
 * - in a Han run, each character position gets the dictionary words starting there (a trie), or the single character
 *   when none does; the route from the end backwards keeps, per position, the word maximising
 *   `(ln(freq) - ln(total)) + route[end]` (ties: the longer word), an unmatched character scoring `0 - ln(total)`;
 * - following the route, consecutive single ASCII letters/digits are joined into one word.
 * The logarithms are correctly rounded (BigInt series): jieba-rs takes them from the C library (glibc's log is correctly
 * rounded on every frequency of the dictionary), and V8's Math.log differs from it in the last bit on 77 of them, which
 * changes the winner of exactly tied routes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../pipeline/fsutil.ts';

// ---------- correctly rounded natural logarithm of a positive integer ----------
const FRAC = 128n;
const ONE = 1n << FRAC;
/** atanh(s) for a fixed-point s (|s| <= 1/3) with FRAC fraction bits. */
function atanhFixed(s: bigint): bigint {
  if (s < 0n) return -atanhFixed(-s);
  const s2 = (s * s) >> FRAC;
  let term = s;
  let sum = 0n;
  for (let n = 1n; term !== 0n; n += 2n) {
    sum += term / n;
    term = (term * s2) >> FRAC;
  }
  return sum;
}
const LN2 = 2n * atanhFixed(ONE / 3n); // ln 2 = 2 atanh(1/3)
/** ln(x) for an integer x >= 1, rounded to the nearest double (the series carries ~120 correct bits). */
export function lnInt(x: number): number {
  if (!Number.isSafeInteger(x) || x < 1) throw new Error(`lnInt: ${x} is not a positive integer`);
  // x = 2^k · m with m in [2/3, 4/3): ln x = k ln 2 + 2 atanh((m - 1) / (m + 1))
  let k = Math.floor(Math.log2(x));
  if (x / 2 ** k >= 4 / 3) k++;
  const m = k >= 0 ? (BigInt(x) << FRAC) >> BigInt(k) : BigInt(x) << (FRAC - BigInt(k));
  const v = BigInt(k) * LN2 + 2n * atanhFixed(((m - ONE) << FRAC) / (m + ONE));
  // Number(bigint) rounds to the nearest double; scaling by a power of two is exact
  return Number(v) / 2 ** Number(FRAC);
}

// ---------- the dictionary as a trie over UTF-16 code units ----------
/**
 * The trie: a node below the root is the slot of an open-addressing table that holds, side by side, its key (parent
 * node and code unit) and the score of the word ending there, so one step down the trie reads one cache line (the
 * route search is bound by memory: the table is 16 MB and the other steps of a pipeline evict it between documents).
 * A root node (a word's first code unit) has the id slots + code unit.
 */
export interface Dict {
  /** per code unit: 1 when a dictionary word starts with it */
  rootHas: Uint8Array;
  /** per code unit: ln(freq) - ln(total) of that one-unit word, NaN when it is not a word */
  rootScore: Float64Array;
  /**
   * two doubles per slot: the key (parent node + 1) · 65536 + code unit (0 = empty slot), and ln(freq) - ln(total) of
   * the word ending at this node (NaN when none does)
   */
  tab: Float64Array;
  mask: number;
  shift: number;
  /** 0 - ln(total): the score of a character without a dictionary word */
  single: number;
  /**
   * One bit per hash of (node, code unit) over every edge of the trie (edgeBit), 1 MB: most walks down the trie end
   * where no edge leads on, and the bit says so without reading the 16 MB table.
   */
  edges: Int32Array;
}

const EDGE_BITS = 23;
/** The bit of edge (node, code unit) in Dict.edges. */
const edgeBit = (node: number, cu: number) =>
  Math.imul(Math.imul(node, 0x85ebca6b) ^ cu, 0xc2b2ae35) >>> (32 - EDGE_BITS);
/** Dict.edges for a table (the keys of its occupied slots). */
function edgeBits(tab: Float64Array): Int32Array {
  const bits = new Int32Array(1 << (EDGE_BITS - 5));
  for (let s = 0; s < tab.length; s += 2) {
    const key = tab[s];
    if (key === 0) continue;
    const cu = key % 0x10000;
    const b = edgeBit((key - cu) / 0x10000 - 1, cu);
    bits[b >>> 5] |= 1 << (b & 31);
  }
  return bits;
}

/** First slot of (node, code unit) in a table of 2^(32 - shift) slots (multiplicative hashing, top bits). */
const slot0 = (node: number, cu: number, shift: number) => Math.imul(node ^ (cu << 13) ^ cu, 0x9e3779b1) >>> shift;

/** Rust's char::is_whitespace (jieba-rs splits a dictionary line with split_whitespace). */
function isWs(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    (c > 127 &&
      (c === 0x85 ||
        c === 0xa0 ||
        c === 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x202f ||
        c === 0x205f ||
        c === 0x3000))
  );
}

/** Build the trie from a jieba dictionary (lines "word freq [tag]"; a repeated word takes the later frequency). */
export function buildDict(text: string): Dict {
  const L = text.length;
  // pass 1: the words (start, end in the file) and frequencies; at most one per line
  let lines = 1;
  for (let p = text.indexOf('\n'); p >= 0; p = text.indexOf('\n', p + 1)) lines++;
  const starts = new Int32Array(lines);
  const ends = new Int32Array(lines);
  const freqs = new Float64Array(lines);
  let nw = 0;
  let inner = 0; // characters past the first of each word: a bound on the trie's table entries
  let line = 0;
  for (let p = 0; p < L;) {
    let eol = text.indexOf('\n', p);
    if (eol < 0) eol = L;
    line++;
    let i = p;
    while (i < eol && isWs(text.charCodeAt(i))) i++;
    const ws = i;
    while (i < eol && !isWs(text.charCodeAt(i))) i++;
    const we = i;
    if (we > ws) {
      while (i < eol && isWs(text.charCodeAt(i))) i++;
      let f = 0;
      if (i < eol) {
        const fs = i;
        if (text.charCodeAt(i) === 43) i++; // a leading + parses as an unsigned integer
        let digits = 0;
        for (; i < eol && !isWs(text.charCodeAt(i)); i++, digits++) {
          const c = text.charCodeAt(i) - 48;
          if (c < 0 || c > 9) digits = -1e9;
          f = f * 10 + c;
        }
        if (digits <= 0 || !Number.isSafeInteger(f))
          throw new Error(
            `jieba dictionary line ${line} \`${text.slice(p, eol)}\`: frequency ${text.slice(fs, i)} is not an integer`,
          );
      }
      starts[nw] = ws;
      ends[nw] = we;
      freqs[nw++] = f;
      inner += we - ws - 1;
    }
    p = eol + 1;
  }
  // pass 2: the trie; its table at most 3/4 full
  let bits = 10;
  while (1 << bits < (inner * 4) / 3) bits++;
  const slots = 1 << bits;
  const tab = new Float64Array(2 * slots);
  const mask = slots - 1;
  const shift = 32 - bits;
  const rootHas = new Uint8Array(0x10000);
  // the frequency of the word ending at each node (ids: slots, then the root nodes), -1 where none ends
  const nodeFreq = new Float64Array(slots + 0x10000).fill(-1);
  for (let w = 0; w < nw; w++) {
    const ws = starts[w],
      we = ends[w];
    const c0 = text.charCodeAt(ws);
    rootHas[c0] = 1;
    let node = slots + c0;
    for (let k = ws + 1; k < we; k++) {
      const cu = text.charCodeAt(k);
      const key = (node + 1) * 0x10000 + cu;
      let s = slot0(node, cu, shift);
      while (tab[2 * s] !== key && tab[2 * s] !== 0) s = (s + 1) & mask;
      if (tab[2 * s] === 0) tab[2 * s] = key;
      node = s;
    }
    nodeFreq[node] = freqs[w];
  }
  let total = 0;
  for (let n = 0; n < nodeFreq.length; n++) if (nodeFreq[n] > 0) total += nodeFreq[n];
  const logTotal = lnInt(total);
  const logs = new Map<number, number>();
  const rootScore = new Float64Array(0x10000).fill(NaN);
  for (let n = 0; n < nodeFreq.length; n++) {
    if (n < slots) tab[2 * n + 1] = NaN;
    const f = nodeFreq[n];
    if (f < 0) continue;
    let l = logs.get(f);
    if (l === undefined) logs.set(f, (l = f === 0 ? -Infinity : lnInt(f)));
    if (n < slots) tab[2 * n + 1] = l - logTotal;
    else rootScore[n - slots] = l - logTotal;
  }
  return { rootHas, rootScore, tab, mask, shift, single: 0 - logTotal, edges: edgeBits(tab) };
}

// ---------- the built trie as a binary file, cached next to the installed packages ----------
/**
 * The trie costs 0.25–0.37 CPU-s to build from dict.txt, once per process (every worker); read back from its binary
 * form it costs one file read and two SHA-256 (the source dictionary's, which names the file, and the payload's,
 * checked against the header: a damaged or foreign file is never used, the trie is rebuilt and the file rewritten).
 * Layout, little-endian: magic "steel-jieba-trie", version u32, bits u32, pad u32 x 2, single f64, source sha256
 * (32 bytes), payload sha256 (32 bytes), then the payload: tab f64[2 · 2^bits], rootScore f64[65536],
 * rootHas u8[65536] (8-byte aligned as laid out).
 */
const MAGIC = 'steel-jieba-trie';
const FORMAT = 2;
const HEAD = 16 + 16 + 8 + 32 + 32;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** The binary form of a trie (the file the cache holds) for the dictionary whose bytes hash to `sourceSha`. */
export function dictToBytes(d: Dict, sourceSha: Uint8Array): Uint8Array {
  const slots = d.mask + 1;
  const bits = Math.log2(slots);
  const payload = Buffer.alloc(slots * 16 + 0x10000 * 9);
  let o = 0;
  for (const a of [d.tab, d.rootScore, d.rootHas]) {
    payload.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  }
  const head = Buffer.alloc(HEAD);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(FORMAT, 16);
  head.writeUInt32LE(bits, 20);
  head.writeDoubleLE(d.single, 32);
  head.set(sourceSha, 40);
  head.set(sha256(payload), 72);
  return Buffer.concat([head, payload]);
}

/** The trie read back from `dictToBytes`'s form, or null unless it is intact and made from `sourceSha`'s dictionary. */
export function dictFromBytes(file: Uint8Array, sourceSha: Uint8Array): Dict | null {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < HEAD || b.toString('latin1', 0, 16) !== MAGIC || b.readUInt32LE(16) !== FORMAT) return null;
  const bits = b.readUInt32LE(20);
  if (bits < 1 || bits > 30) return null;
  const slots = 2 ** bits;
  if (b.length !== HEAD + slots * 16 + 0x10000 * 9) return null;
  if (!b.subarray(40, 72).equals(sourceSha) || !b.subarray(72, HEAD).equals(sha256(b.subarray(HEAD)))) return null;
  // typed arrays need aligned offsets: copy the payload when the read buffer is not 8-byte aligned
  const p = (b.byteOffset + HEAD) % 8 === 0 ? b.subarray(HEAD) : Buffer.from(b.subarray(HEAD));
  let o = p.byteOffset;
  const take = <T>(make: (buf: ArrayBufferLike, off: number, n: number) => T, n: number, size: number): T => {
    const a = make(p.buffer, o, n);
    o += n * size;
    return a;
  };
  const tab = take((x, off, n) => new Float64Array(x, off, n), 2 * slots, 8);
  const rootScore = take((x, off, n) => new Float64Array(x, off, n), 0x10000, 8);
  const rootHas = take((x, off, n) => new Uint8Array(x, off, n), 0x10000, 1);
  return {
    rootHas,
    rootScore,
    tab,
    mask: slots - 1,
    shift: 32 - bits,
    single: b.readDoubleLE(32),
    edges: edgeBits(tab),
  };
}

/**
 * The trie of the dictionary file `dictPath`, from its binary form in `cacheDir` when that is intact and made from
 * these dictionary bytes, else built from the text and its binary form written there (atomically; a cache folder that
 * cannot be written only costs the build).
 */
export function loadDict(dictPath: string, cacheDir: string): Dict {
  const source = readFileSync(dictPath);
  const sourceSha = sha256(source);
  const file = join(cacheDir, `jieba-trie-v${FORMAT}-${sourceSha.toString('hex').slice(0, 16)}.bin`);
  let cached: Buffer | undefined;
  try {
    cached = readFileSync(file);
  } catch {
    // not cached yet
  }
  const d = cached && dictFromBytes(cached, sourceSha);
  if (d) return d;
  const built = buildDict(source.toString('utf8'));
  try {
    writeFileAtomic(file, dictToBytes(built, sourceSha));
  } catch {
    // a read-only install: build in every process
  }
  return built;
}

let dict: Dict | undefined;
/** The default dictionary (@node-rs/jieba's dict.txt), loaded once per process, cached in node_modules/.cache/steel. */
function defaultDict(): Dict {
  if (!dict) {
    const path = createRequire(import.meta.url).resolve('@node-rs/jieba/dict.txt');
    // .../node_modules/@node-rs/jieba/dict.txt -> .../node_modules/.cache/steel (where build tools keep their caches)
    dict = loadDict(path, join(dirname(path), '..', '..', '.cache', 'steel'));
  }
  return dict;
}

// ---------- segmentation ----------
/** jieba-rs is_han_default: CJK Unified Ideographs (and extensions), ASCII letters and digits, + # & . _ % - */
function isHanDefault(c: number): boolean {
  if (c < 0x80) {
    return (
      (c >= 48 && c <= 57) ||
      ((c | 32) >= 97 && (c | 32) <= 122) ||
      c === 43 ||
      c === 35 ||
      c === 38 ||
      c === 46 ||
      c === 95 ||
      c === 37 ||
      c === 45
    );
  }
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2ebef) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  );
}
const isAsciiAlnum = (c: number) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);

let routeScore = new Float64Array(1 << 12);
let routeEnd = new Int32Array(1 << 12);

/** Code point at i of s (a lone surrogate as itself). */
function cpAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

/** Word boundaries in UTF-16 offsets: word i is text.slice(start[i], end[i]); n words. Buffers reused between texts. */
export interface SpanBuf {
  start: Int32Array;
  end: Int32Array;
  n: number;
}

/**
 * The tokens of jieba's `cut(text, false)` as spans of `text` (into `out`, whose buffers grow to the text's length),
 * whitespace tokens left out when `dropSpace` says a token's first code unit is whitespace. Returns true when the
 * text holds a lone surrogate: its token is U+FFFD (the native binding reads the text as UTF-8), so the spans then
 * index `wellFormed(text)` (same length) rather than the text.
 */
export function jiebaSpans(
  text: string,
  dropSpace: (firstCodeUnit: number) => boolean,
  out: SpanBuf,
  d: Dict = defaultDict(),
): boolean {
  const { rootHas, rootScore, tab, mask, shift, single, edges } = d;
  const slots = mask + 1;
  const L = text.length;
  if (routeScore.length < L + 1) {
    routeScore = new Float64Array(Math.max(L + 1, routeScore.length * 2));
    routeEnd = new Int32Array(routeScore.length);
  }
  // at most one token per code unit
  if (out.start.length < L) {
    const cap = Math.max(L, out.start.length * 2);
    out.start = new Int32Array(cap);
    out.end = new Int32Array(cap);
  }
  const rs = routeScore,
    re = routeEnd,
    os = out.start,
    oe = out.end;
  let n = 0;
  let lone = false;
  let i = 0;
  while (i < L) {
    const c0 = cpAt(text, i);
    if (!isHanDefault(c0)) {
      // a run of other characters: one token per character (\r\n together)
      let w = c0 > 0xffff ? 2 : 1;
      let first = c0;
      if (c0 === 13 && text.charCodeAt(i + 1) === 10) w = 2;
      else if (c0 >= 0xd800 && c0 <= 0xdfff) {
        first = 0xfffd;
        lone = true;
      } else first = text.charCodeAt(i);
      if (!dropSpace(first)) {
        os[n] = i;
        oe[n++] = i + w;
      }
      i += w;
      continue;
    }
    // a Han run [bs, be)
    const bs = i;
    let be = i + (c0 > 0xffff ? 2 : 1);
    while (be < L) {
      const c = cpAt(text, be);
      if (!isHanDefault(c)) break;
      be += c > 0xffff ? 2 : 1;
    }
    // route from the end backwards over character starts
    rs[be] = 0;
    re[be] = 0;
    let next = be; // start of the character after the current one
    for (let x = be - 1; x >= bs; x--) {
      const cu = text.charCodeAt(x);
      if (cu >= 0xdc00 && cu <= 0xdfff && x > bs) {
        const hi = text.charCodeAt(x - 1);
        if (hi >= 0xd800 && hi <= 0xdbff) continue; // the low half of a pair: not a character start
      }
      let best = -Infinity;
      let bestEnd = -1;
      if (rootHas[cu] === 1) {
        // down the trie from the root node of cu: the words starting at x, ending at j
        let node = slots + cu;
        let sc = rootScore[cu];
        let j = x + 1;
        for (;;) {
          if (sc === sc) {
            const v = sc + rs[j];
            if (bestEnd < 0 || v >= best) {
              best = v;
              bestEnd = j;
            }
          }
          if (j >= be) break;
          const c = text.charCodeAt(j);
          const eb = edgeBit(node, c);
          if ((edges[eb >>> 5] & (1 << (eb & 31))) === 0) break; // no edge (node, c)
          const key = (node + 1) * 0x10000 + c;
          let s = slot0(node, c, shift);
          let k = tab[2 * s];
          while (k !== key && k !== 0) {
            s = (s + 1) & mask;
            k = tab[2 * s];
          }
          if (k === 0) break;
          node = s;
          sc = tab[2 * s + 1];
          j++;
        }
      }
      if (bestEnd < 0) {
        best = single + rs[next];
        bestEnd = next;
      }
      rs[x] = best;
      re[x] = bestEnd;
      next = x;
    }
    // follow the route; single ASCII letters/digits in a row make one word
    let x = bs;
    let left = -1;
    while (x < be) {
      const y = re[x];
      const c = text.charCodeAt(x);
      if (y === x + 1 && isAsciiAlnum(c)) {
        if (left < 0) left = x;
      } else {
        if (left >= 0) {
          os[n] = left;
          oe[n++] = x;
          left = -1;
        }
        os[n] = x;
        oe[n++] = y;
      }
      x = y;
    }
    if (left >= 0) {
      os[n] = left;
      oe[n++] = be;
    }
    i = be;
  }
  out.n = n;
  return lone;
}

/** The tokens of jieba's `cut(text, false)` as strings (whitespace tokens left out as for jiebaSpans). */
export function jiebaCut(
  text: string,
  dropSpace: (firstCodeUnit: number) => boolean = () => false,
  d: Dict = defaultDict(),
): string[] {
  const b: SpanBuf = { start: new Int32Array(0), end: new Int32Array(0), n: 0 };
  const src = jiebaSpans(text, dropSpace, b, d) ? wellFormed(text) : text;
  const out: string[] = new Array(b.n);
  for (let k = 0; k < b.n; k++) out[k] = src.slice(b.start[k], b.end[k]);
  return out;
}

/** The text with each lone surrogate as U+FFFD (String.prototype.toWellFormed, Node 20; not in the ES2023 lib types). */
export const wellFormed = (text: string): string => (text as string & { toWellFormed(): string }).toWellFormed();
