/**
 * jieba word segmentation without HMM: the words of jieba-rs 0.10 `cut(text, false)` (what @node-rs/jieba returns)
 * with the same dictionary (@node-rs/jieba/dict), as spans of the UTF-16 text: the dictionary's trie is built here, the
 * segmentation runs in a small WebAssembly kernel (filters/jieba-kernel.c, the .wasm committed with its build script
 * jieba-kernel.sh) over the text's UTF-16 code units, so no UTF-8 copy of the document goes to native code and no
 * native string comes back per word (that marshalling was most of the cost of the native call).
 * filters/jieba.test.ts checks the words against @node-rs/jieba on real documents.
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
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { instantiate, type KernelMemory } from '../pipeline/wasm.ts';

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
 * The trie, laid out for the cache: a node's children fill a small open-addressing table of their own (a power of two,
 * probed from a hash of the code unit: full up to 8 children, at most ~3/4 full above), and the tables lie in order
 * of the nodes' hotness (the dictionary frequencies of the words under a node, summed), so the tables a text visits
 * most share lines and pages; the whole trie is 8 bytes a slot (~6 MB). The route search is bound by memory (the other
 * steps of a pipeline evict the trie between documents): a step down the trie, or a failed one, reads mostly one line
 * of the parent's table.
 * Node records, two Int32 per slot: w0 = 2^31 (slot used) | score index · 2^16 | code unit, and
 * w1 = (1 + log2(size of the node's children table)) · 2^27 | its first slot (0 in the size bits: no children).
 */
export interface Dict {
  /** two Int32 per slot (w0, w1 above); w0 = 0 for an empty slot */
  rec: Int32Array;
  /** the records of the root's children, at 2 · (a word's first code unit) */
  rootRec: Int32Array;
  /** ln(freq) - ln(total) per score index; index 0 is NaN (no word ends at the node) */
  scores: Float64Array;
  /** 0 - ln(total): the score of a character without a dictionary word */
  single: number;
}

/** The home slot of code unit c in a children table of 2^lg slots. */
const home = (c: number, lg: number) => (Math.imul(c, 0x9e3779b1) >>> (32 - lg)) & ((1 << lg) - 1);
const USED = -0x80000000;

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
    }
    p = eol + 1;
  }
  // pass 2: the distinct words (a repeated word takes the later frequency), in code unit order
  const freqOf = new Map<string, number>();
  for (let w = 0; w < nw; w++) freqOf.set(text.slice(starts[w], ends[w]), freqs[w]);
  const keys = [...freqOf.keys()].sort();
  let total = 0;
  for (const f of freqOf.values()) total += f;
  const logTotal = lnInt(total);
  // the distinct scores; index 0 is NaN (no word)
  const scoreIdx = new Map<number, number>();
  const scoreList = [NaN];
  const logs = new Map<number, number>();
  const idxOf = (word: string): number => {
    const f = freqOf.get(word)!;
    let l = logs.get(f);
    if (l === undefined) logs.set(f, (l = f === 0 ? -Infinity : lnInt(f)));
    const v = l - logTotal;
    let i = scoreIdx.get(v);
    if (i === undefined) {
      if (scoreList.length === 0x8000) throw new Error('jieba dictionary: more than 32,767 distinct frequencies');
      scoreIdx.set(v, (i = scoreList.length));
      scoreList.push(v);
    }
    return i;
  };
  // the trie's nodes (index 0: the root), a node's children numbered together: code unit, score index, hotness (the
  // frequencies of the words under it summed: how often a walk down the trie visits it, roughly), first child, count
  const cuA: number[] = [0],
    scA: number[] = [0],
    hotA: number[] = [0],
    fcA: number[] = [0],
    ncA: number[] = [0];
  /** Node id for keys[a, b) (the words sharing their first d code units; keys[a] is its own word when it has d). */
  const expand = (id: number, a: number, b: number, d: number): void => {
    let hot = 0;
    if (d > 0 && keys[a].length === d) {
      scA[id] = idxOf(keys[a]);
      hot = freqOf.get(keys[a])!;
      a++;
    }
    const first = cuA.length;
    const groups: number[] = [];
    for (let k = a; k < b;) {
      const cu = keys[k].charCodeAt(d);
      groups.push(k);
      while (k < b && keys[k].charCodeAt(d) === cu) k++;
      cuA.push(cu);
      scA.push(0);
      hotA.push(0);
      fcA.push(0);
      ncA.push(0);
    }
    groups.push(b);
    fcA[id] = first;
    ncA[id] = groups.length - 1;
    for (let g = 0; g + 1 < groups.length; g++) {
      expand(first + g, groups[g], groups[g + 1], d + 1);
      hot += hotA[first + g];
    }
    hotA[id] = hot;
  };
  expand(0, 0, keys.length, 0);
  // the children tables, the hottest nodes' first (the tables a text visits most share lines and pages): a table of
  // 2^lg slots holds n children: up to 8 children, the fewest slots (full tables: a search stops after 2^lg probes),
  // more with n + n/3 < 2^lg
  const tables = [];
  for (let id = 1; id < cuA.length; id++) if (ncA[id] > 0) tables.push(id);
  tables.sort((x, y) => hotA[y] - hotA[x] || x - y);
  const tab = new Int32Array(cuA.length);
  const lgA = new Uint8Array(cuA.length);
  let used = 0;
  for (const id of tables) {
    const n = ncA[id];
    let lg = 0;
    while (n <= 8 ? 1 << lg < n : 1 << lg <= n + n / 3) lg++;
    tab[id] = used;
    lgA[id] = lg;
    used += 1 << lg;
    if (used > 0x7ffffff) throw new Error('jieba dictionary: too many words for the trie');
  }
  const rec = new Int32Array(2 * used);
  const rootRec = new Int32Array(2 * 0x10000);
  const put = (out: Int32Array, r: number, id: number) => {
    out[r] = USED | (scA[id] << 16) | cuA[id];
    out[r + 1] = ncA[id] > 0 ? ((lgA[id] + 1) << 27) | tab[id] : 0;
  };
  for (let c = fcA[0]; c < fcA[0] + ncA[0]; c++) put(rootRec, 2 * cuA[c], c);
  for (const id of tables) {
    // the hotter children first: they sit in their home slot
    const kids = [];
    for (let c = fcA[id]; c < fcA[id] + ncA[id]; c++) kids.push(c);
    kids.sort((x, y) => hotA[y] - hotA[x] || x - y);
    const first = tab[id],
      lg = lgA[id],
      m = (1 << lg) - 1;
    for (const c of kids) {
      let s = home(cuA[c], lg);
      while (rec[2 * (first + s)] !== 0) s = (s + 1) & m;
      put(rec, 2 * (first + s), c);
    }
  }
  return { rec, rootRec, scores: Float64Array.from(scoreList), single: 0 - logTotal };
}

// ---------- the built trie as a binary file, cached next to the installed packages ----------
/**
 * The trie costs ~1 CPU-s to build from dict.txt (the sort of its words included), once per install; read back from
 * its binary form, its payload is read straight into the segmentation kernel's memory (one read, no copy) and checked
 * there by its XXH64 (the kernel's hash64), against the header (a damaged file is never used: the trie is rebuilt and
 * the file rewritten). The file is named after the dictionary's path and holds the SHA-256 of the dictionary it was
 * built from and the dictionary file's size, modification time (ns) and inode when it was built or last checked:
 * while these are unchanged the dictionary is not read again; when they differ, its bytes are hashed and compared
 * with the recorded SHA-256 (equal: the file is reused, its stamp refreshed; else the trie is rebuilt).
 * Layout, little-endian: magic "steel-jieba-trie", version u32, slots u32, scores u32, pad u32, single f64, source
 * sha256 (32 bytes), payload XXH64 u64 and 24 zero bytes, source stamp (size, mtime ns, inode: u64 each), then the
 * payload: scores f64[scores], rec i32[2 · slots], rootRec i32[2 · 65536] (the kernel's layout of the trie).
 */
const MAGIC = 'steel-jieba-trie';
const FORMAT = 6;
const HEAD = 16 + 16 + 8 + 32 + 32 + 24;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const payloadBytes = (slots: number, nScores: number) => 8 * nScores + 8 * slots + 8 * 0x10000;

/**
 * The binary form of a trie (the file the cache holds) for the dictionary whose bytes hash to `sourceSha`, whose file
 * had `stamp` (24 bytes: sourceStamp; zeros: none).
 */
export function dictToBytes(d: Dict, sourceSha: Uint8Array, stamp: Uint8Array = new Uint8Array(24)): Uint8Array {
  const slots = d.rec.length / 2;
  const out = Buffer.alloc(HEAD + payloadBytes(slots, d.scores.length));
  let o = HEAD;
  for (const a of [d.scores, d.rec, d.rootRec]) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  }
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(FORMAT, 16);
  out.writeUInt32LE(slots, 20);
  out.writeUInt32LE(d.scores.length, 24);
  out.writeDoubleLE(d.single, 32);
  out.set(sourceSha, 40);
  out.writeBigUInt64LE(xxh64(out.subarray(HEAD)), 72);
  out.set(stamp, 104);
  return out;
}

/**
 * The trie whose file header is `head` (HEAD bytes of a file of `total` bytes), made from `sourceSha`'s dictionary:
 * its payload is put into a new kernel's memory by `fill` and checked there; null unless it is intact.
 */
function dictFromHead(
  head: Buffer,
  total: number,
  sourceSha: Uint8Array,
  fill: (into: Uint8Array) => void,
): Dict | null {
  if (head.length < HEAD || head.toString('latin1', 0, 16) !== MAGIC || head.readUInt32LE(16) !== FORMAT) return null;
  const slots = head.readUInt32LE(20),
    nScores = head.readUInt32LE(24);
  if (slots > 0x8000000 || nScores > 0x8000) return null;
  const n = payloadBytes(slots, nScores);
  if (total !== HEAD + n || !head.subarray(40, 72).equals(sourceSha)) return null;
  const g = newSeg(slots, nScores);
  fill(new Uint8Array(g.k.memory.buffer, g.scoresAt, n));
  if (BigInt.asUintN(64, g.k.hash64(g.scoresAt, n)) !== head.readBigUInt64LE(72)) return null;
  return kernelDict(g, slots, nScores, head.readDoubleLE(32));
}

/** The trie read back from `dictToBytes`'s form, or null unless it is intact and made from `sourceSha`'s dictionary. */
export function dictFromBytes(file: Uint8Array, sourceSha: Uint8Array): Dict | null {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  return dictFromHead(b.subarray(0, HEAD), b.length, sourceSha, (into) => into.set(b.subarray(HEAD)));
}

/** The trie of the cache file `file` whose header records `stamp`, read straight into a kernel; null: none such. */
function readCached(file: string, stamp: Buffer): Dict | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null; // not cached yet
  }
  try {
    const head = Buffer.alloc(HEAD);
    // the dictionary file unchanged since the trie was built or checked: the recorded SHA-256 is its bytes'
    if (readSync(fd, head, 0, HEAD, 0) !== HEAD || !head.subarray(104, HEAD).equals(stamp)) return null;
    return dictFromHead(head, fstatSync(fd).size, head.subarray(40, 72), (into) => {
      for (let o = 0, r = 1; o < into.length && r > 0; o += r) r = readSync(fd, into, o, into.length - o, HEAD + o);
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * The trie of the dictionary file `dictPath`, from its binary form in `cacheDir` when that is intact and made from
 * these dictionary bytes, else built from the text and its binary form written there (atomically; a cache folder that
 * cannot be written only costs the build).
 */
export function loadDict(dictPath: string, cacheDir: string): Dict {
  const stamp = sourceStamp(dictPath);
  const name = sha256(Buffer.from(resolve(dictPath)))
    .toString('hex')
    .slice(0, 16);
  const file = join(cacheDir, `jieba-trie-v${FORMAT}-${name}.bin`);
  const fast = readCached(file, stamp);
  if (fast) return fast;
  let cached: Buffer | undefined;
  try {
    cached = readFileSync(file);
  } catch {
    // not cached yet
  }
  const source = readFileSync(dictPath);
  const sourceSha = sha256(source);
  const d = cached && dictFromBytes(cached, sourceSha);
  const out = d || buildDict(source.toString('utf8'));
  try {
    // a new trie, or the same one with the dictionary file's new stamp
    writeFileAtomic(file, dictToBytes(out, sourceSha, stamp));
  } catch {
    // a read-only install: read (or build) in every process
  }
  return out;
}

/** The dictionary file's size, modification time (ns) and inode, as the cache file's header records them. */
function sourceStamp(path: string): Buffer {
  const st = statSync(path, { bigint: true });
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(st.size, 0);
  b.writeBigUInt64LE(st.mtimeNs, 8);
  b.writeBigUInt64LE(st.ino, 16);
  return b;
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

// ---------- segmentation, in WebAssembly ----------
/**
 * The segmentation kernel (filters/jieba-kernel.c, built by jieba-kernel.sh; the .wasm is committed): the Han runs,
 * the route down the trie and the words of the route, over the text's UTF-16 code units in the kernel's memory. One
 * instance per dictionary holds a copy of its trie (copied in on its first use).
 */
interface SegKernel extends KernelMemory {
  segment(
    text: number,
    length: number,
    drop: number,
    routeScore: number,
    routeEnd: number,
    start: number,
    end: number,
    rec: number,
    rootRec: number,
    scores: number,
    single: number,
  ): number;
  /**
   * stats.ts hashWords of the n spans at os, oe of the text at t: hashes into h1, h2, cumulative lengths into cum; the
   * lower-cased words' hashes that differ, as (index, h1, h2) triples into low, and the indices of the words that need
   * toLowerCase into ex (their counts into counts[0], counts[1]); with cls (a class per code unit) stats.ts
   * gopherQuality's word sums into counts[2, 5) and the words it classifies itself into qx (counts[5] of them); the
   * words whose first unit is an ASCII letter into asc (counts[6] of them); with stop (a flag per code unit, 0: none),
   * the words of one unit whose flag is set into counts[7]
   */
  hashSpans(
    t: number,
    n: number,
    os: number,
    oe: number,
    h1: number,
    h2: number,
    cum: number,
    low: number,
    ex: number,
    cls: number,
    qx: number,
    asc: number,
    stop: number,
    counts: number,
  ): void;
  /** XXH64 (seed 0) of n bytes at p (a signed BigInt: wasm's i64) */
  hash64(p: number, n: number): bigint;
}
/** A dictionary's kernel: its trie's offsets, the drop tables, the text and route buffers (for texts of cap units). */
interface Seg {
  k: SegKernel;
  recAt: number;
  rootAt: number;
  scoresAt: number;
  /** the drop tables (65,536 flags each) of the last predicates, most recent first */
  drops: { fn: (c: number) => boolean | number; at: number }[];
  dropAt: number;
  bufAt: number;
  cap: number;
  /** the route's scores (cap + 1 doubles) and ends (cap + 1 ints) */
  scoreAt: number;
  routeEndAt: number;
  units: Buffer;
  start: Int32Array;
  end: Int32Array;
  /** hashSpans' output, over the route's buffers (free once the route is followed): h1 and h2 (cap ints each), cum */
  h1: Int32Array;
  h2: Int32Array;
  cum: Int32Array;
  /** and after the spans: low (3 cap ints), ex (cap ints), qx (cap ints), asc (cap ints), the eight counts */
  low: Int32Array;
  ex: Int32Array;
  qx: Int32Array;
  asc: Int32Array;
  counts: Int32Array;
}
const DROP_TABLES = 4;
const segs = new WeakMap<Dict, Seg>();
const KERNEL = new URL('./jieba-kernel.wasm', import.meta.url);

/** A new kernel with room for a trie of `slots` slots and `nScores` scores, laid out as the cache file's payload. */
function newSeg(slots: number, nScores: number): Seg {
  const k = instantiate<SegKernel>(KERNEL);
  let top = k.__heap_base.value;
  const alloc = (bytes: number) => {
    const at = (top + 15) & ~15;
    top = at + bytes;
    return at;
  };
  const scoresAt = alloc(payloadBytes(slots, nScores)),
    dropAt = alloc(DROP_TABLES << 16),
    bufAt = alloc(0);
  const g: Seg = {
    k,
    recAt: scoresAt + 8 * nScores,
    rootAt: scoresAt + 8 * nScores + 8 * slots,
    scoresAt,
    drops: [],
    dropAt,
    bufAt,
    cap: -1,
    scoreAt: 0,
    routeEndAt: 0,
    units: Buffer.alloc(0),
    start: new Int32Array(0),
    end: new Int32Array(0),
    h1: new Int32Array(0),
    h2: new Int32Array(0),
    cum: new Int32Array(0),
    low: new Int32Array(0),
    ex: new Int32Array(0),
    qx: new Int32Array(0),
    asc: new Int32Array(0),
    counts: new Int32Array(0),
  };
  grow(g, 0);
  return g;
}

/**
 * The Dict of a trie that lives only in kernel g's memory (read there from the cache file): its arrays are copies,
 * made when asked for (the segmentation reads the kernel's).
 */
function kernelDict(g: Seg, slots: number, nScores: number, single: number): Dict {
  const bytes = (at: number, n: number) => g.k.memory.buffer.slice(at, at + n);
  const d: Dict = {
    single,
    get scores() {
      return new Float64Array(bytes(g.scoresAt, 8 * nScores));
    },
    get rec() {
      return new Int32Array(bytes(g.recAt, 8 * slots));
    },
    get rootRec() {
      return new Int32Array(bytes(g.rootAt, 8 * 0x10000));
    },
  };
  segs.set(d, g);
  return d;
}

/** The kernel of dictionary d: its own (a trie read from the cache file), else a new one with a copy of d's trie. */
function segFor(d: Dict): Seg {
  let g = segs.get(d);
  if (g) return g;
  g = newSeg(d.rec.length / 2, d.scores.length);
  new Float64Array(g.k.memory.buffer, g.scoresAt, d.scores.length).set(d.scores);
  new Int32Array(g.k.memory.buffer, g.recAt, d.rec.length).set(d.rec);
  new Int32Array(g.k.memory.buffer, g.rootAt, d.rootRec.length).set(d.rootRec);
  segs.set(d, g);
  return g;
}

/** XXH64 (seed 0) of `b`, by the kernel's hash64 (in a kernel of its own: for writing the cache file). */
export function xxh64(b: Uint8Array): bigint {
  const k = instantiate<SegKernel>(KERNEL);
  const at = (k.__heap_base.value + 15) & ~15;
  const need = at + b.length - k.memory.buffer.byteLength;
  if (need > 0) k.memory.grow(Math.ceil(need / 65536));
  new Uint8Array(k.memory.buffer, at, b.length).set(b);
  return BigInt.asUintN(64, k.hash64(at, b.length));
}

/** The buffers for a text of L code units: the text, the route (L + 1 scores and ends), the spans (L each). */
function grow(g: Seg, L: number): void {
  if (L <= g.cap) return;
  const cap = Math.max(L, 2 * g.cap, 1 << 12);
  const unitsAt = g.bufAt,
    scoreAt = (unitsAt + 2 * cap + 15) & ~15,
    routeEndAt = scoreAt + 8 * (cap + 1),
    startAt = (routeEndAt + 4 * (cap + 1) + 15) & ~15,
    spanEndAt = startAt + 4 * cap,
    lowAt = spanEndAt + 4 * cap,
    top = lowAt + 24 * cap + 32;
  const mem = g.k.memory;
  if (top > mem.buffer.byteLength) mem.grow(Math.ceil((top - mem.buffer.byteLength) / 65536));
  g.cap = cap;
  g.scoreAt = scoreAt;
  g.routeEndAt = routeEndAt;
  // views of the memory, remade after a grow (which detaches the old buffer)
  g.units = Buffer.from(mem.buffer, unitsAt, 2 * cap);
  g.start = new Int32Array(mem.buffer, startAt, cap);
  g.end = new Int32Array(mem.buffer, spanEndAt, cap);
  // the route's scores (8 (cap + 1) bytes) hold h1 and h2, its ends (cap + 1 ints) cum
  g.h1 = new Int32Array(mem.buffer, scoreAt, cap);
  g.h2 = new Int32Array(mem.buffer, scoreAt + 4 * cap, cap);
  g.cum = new Int32Array(mem.buffer, routeEndAt, cap + 1);
  g.low = new Int32Array(mem.buffer, lowAt, 3 * cap);
  g.ex = new Int32Array(mem.buffer, lowAt + 12 * cap, cap);
  g.qx = new Int32Array(mem.buffer, lowAt + 16 * cap, cap);
  g.asc = new Int32Array(mem.buffer, lowAt + 20 * cap, cap);
  g.counts = new Int32Array(mem.buffer, lowAt + 24 * cap, 8);
}

/**
 * The offset of the table of `fn` in g's memory (65,536 bytes, fn of each code unit: a drop table's flags or a unit
 * class; 0: drop nothing), built on first use.
 */
function dropTable(g: Seg, fn: (c: number) => boolean | number): number {
  if (fn === NO_DROP) return 0;
  // (a loop, not findIndex with a closure made per call: jiebaSpans looks up two or three tables per document)
  const drops = g.drops;
  for (let i = 0; i < drops.length; i++) if (drops[i].fn === fn) return drops[i].at;
  return newTable(g, fn);
}

/** A new table of fn (dropTable), in a free place or the least recently made one's. */
function newTable(g: Seg, fn: (c: number) => boolean | number): number {
  const at = g.drops.length < DROP_TABLES ? g.dropAt + (g.drops.length << 16) : g.drops.pop()!.at;
  fillTable(new Uint8Array(g.k.memory.buffer, at, 0x10000), fn);
  g.drops.unshift({ fn, at });
  return at;
}

/** flags[c] = fn(c) for each of the 65,536 code units. */
function fillTable(flags: Uint8Array, fn: (c: number) => boolean | number): void {
  for (let c = 0; c < 0x10000; c++) flags[c] = +fn(c);
}

const NO_DROP = () => false;

/**
 * The offset of the table of the unit class `fn` (hashSpans' cls: gopherQuality's classes) in g's memory. The kernel
 * takes a CJK Unified Ideograph (U+4E00-9FFF) as class 1, a letter, without reading the table (which then stays out of
 * the cache): an error when fn says otherwise.
 */
const checkedClasses = new WeakSet<(c: number) => number>();
/** Class 1 for each of U+4E00-9FFF. */
const HAN_LETTERS = new Uint8Array(0x9fff - 0x4e00 + 1).fill(1);
function classTable(g: Seg, fn: ((c: number) => number) | undefined): number {
  if (!fn) throw new Error("jiebaSpans: the words' hashes need a unit class (text.ts wordUnitClass)");
  const at = dropTable(g, fn);
  if (!checkedClasses.has(fn)) {
    // in the table just built (fn of each unit), not by calling fn again
    const t = Buffer.from(g.k.memory.buffer, at + 0x4e00, HAN_LETTERS.length);
    if (!t.equals(HAN_LETTERS)) {
      const c = 0x4e00 + t.findIndex((k) => k !== 1);
      throw new Error(`jiebaSpans: unit class ${fn(c)} of U+${c.toString(16)}, which the kernel takes as 1`);
    }
    checkedClasses.add(fn);
  }
  return at;
}

/** Word boundaries in UTF-16 offsets: word i is text.slice(start[i], end[i]); n words. Buffers reused between texts. */
export interface SpanBuf {
  start: Int32Array;
  end: Int32Array;
  n: number;
}
/**
 * Per-word hashes and cumulative code-point lengths, as filters/stats.ts hashWords makes them, and what lower-casing
 * changes (stats.ts lowerHashes): lowered[0, 3 loweredN) the (index, h1, h2) of the words whose A-Z it maps, lowerEx[0,
 * lowerExN) the words that need toLowerCase; the other words lower-case to themselves (text.ts Words). And stats.ts
 * gopherQuality's word sums by the words' unit classes (text.ts wordUnitClass): over the words without a surrogate,
 * qualWords those not punctuation only, qualLen their code points, qualAlpha those of them with a letter; the words
 * with a surrogate in qualEx[0, qualExN), left to stats.ts. And the words whose first unit is an ASCII letter,
 * letterFirst[0, letterFirstN) (stats.ts flaggedRatio's candidates).
 */
export interface SpanHashes {
  h1: Int32Array;
  h2: Int32Array;
  cum: Int32Array;
  lowered: Int32Array;
  loweredN: number;
  lowerEx: Int32Array;
  lowerExN: number;
  qualWords: number;
  qualLen: number;
  qualAlpha: number;
  qualEx: Int32Array;
  qualExN: number;
  letterFirst: Int32Array;
  letterFirstN: number;
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
  hashes?: SpanHashes,
  unitClass?: (codeUnit: number) => number,
): boolean {
  const g = segFor(d);
  const L = text.length;
  grow(g, L);
  // at most one token per code unit
  out.start = fit(out.start, L);
  out.end = fit(out.end, L);
  g.units.write(text, 0, 'utf16le');
  const r = g.k.segment(
    g.units.byteOffset,
    L,
    dropTable(g, dropSpace),
    g.scoreAt,
    g.routeEndAt,
    g.start.byteOffset,
    g.end.byteOffset,
    g.recAt,
    g.rootAt,
    g.scoresAt,
    d.single,
  );
  const n = r >>> 1;
  out.start.set(g.start.subarray(0, n));
  out.end.set(g.end.subarray(0, n));
  out.n = n;
  const lone = (r & 1) === 1;
  // the words' hashes while their units are in the kernel (not for a text with a lone surrogate: its words are spans
  // of the text with U+FFFD there, which the kernel does not hold)
  if (hashes && !lone) {
    g.k.hashSpans(
      g.units.byteOffset,
      n,
      g.start.byteOffset,
      g.end.byteOffset,
      g.h1.byteOffset,
      g.h2.byteOffset,
      g.cum.byteOffset,
      g.low.byteOffset,
      g.ex.byteOffset,
      classTable(g, unitClass),
      g.qx.byteOffset,
      g.asc.byteOffset,
      stopUnits ? dropTable(g, stopUnits) : 0,
      g.counts.byteOffset,
    );
    const nlow = g.counts[0],
      nex = g.counts[1],
      nqx = g.counts[5],
      nasc = g.counts[6];
    // (each array through fit, every time: a growth first needed after V8 compiled this function read a property it
    // had no feedback for, and threw the compiled code away)
    hashes.h1 = fit(hashes.h1, n);
    hashes.h2 = fit(hashes.h2, hashes.h1.length); // (stats.ts hashWords grows h2 with h1: as long as it)
    hashes.cum = fit(hashes.cum, n + 1);
    hashes.lowered = fit(hashes.lowered, 3 * nlow);
    hashes.lowerEx = fit(hashes.lowerEx, nex);
    hashes.qualEx = fit(hashes.qualEx, nqx);
    hashes.letterFirst = fit(hashes.letterFirst, nasc);
    hashes.h1.set(g.h1.subarray(0, n));
    hashes.h2.set(g.h2.subarray(0, n));
    hashes.cum.set(g.cum.subarray(0, n + 1));
    hashes.lowered.set(g.low.subarray(0, 3 * nlow));
    hashes.loweredN = nlow;
    hashes.lowerEx.set(g.ex.subarray(0, nex));
    hashes.lowerExN = nex;
    hashes.qualWords = g.counts[2];
    hashes.qualLen = g.counts[3];
    hashes.qualAlpha = g.counts[4];
    hashes.qualEx.set(g.qx.subarray(0, nqx));
    hashes.qualExN = nqx;
    hashes.letterFirst.set(g.asc.subarray(0, nasc));
    hashes.letterFirstN = nasc;
    let r = stopCounts.get(hashes);
    if (!r) stopCounts.set(hashes, (r = { fn: null, count: 0 }));
    r.fn = stopUnits;
    r.count = g.counts[7];
  } else if (hashes) {
    // (not hashed: whatever was counted before is not of these words)
    const r = stopCounts.get(hashes);
    if (r) r.fn = null;
  }
  return lone;
}

/**
 * The flags of the one-unit stop words (a flag per UTF-16 code unit) whose words hashSpans counts as it hashes them
 * (stats.ts stopwordCount registers a list of one-unit words, the zh list); null: none. One list at a time.
 */
let stopUnits: ((codeUnit: number) => number) | null = null;
/** Per SpanHashes: the stop flags its last hashing counted with (null: none) and the count. */
const stopCounts = new WeakMap<SpanHashes, { fn: ((codeUnit: number) => number) | null; count: number }>();
/** From the next jiebaSpans with hashes on, count the words of one code unit u with fn(u) = 1 (stopUnitCount). */
export function countStopUnits(fn: (codeUnit: number) => number): void {
  stopUnits = fn;
}
/**
 * The number of one-unit words u with fn(u) = 1 among the words that jiebaSpans last hashed into `hashes`, when that
 * hashing counted them by fn (countStopUnits); else -1. Valid only while those spans are the words' current ones
 * (text.ts Words: letterFirstGen === gen).
 */
export function stopUnitCount(hashes: SpanHashes, fn: (codeUnit: number) => number): number {
  const r = stopCounts.get(hashes);
  return r !== undefined && r.fn === fn ? r.count : -1;
}

/** `a`, or a larger array (at least n, twice a's length) when a is shorter than n (its contents are not kept). */
function fit(a: Int32Array, n: number): Int32Array {
  const len = a.length;
  return len >= n ? a : new Int32Array(Math.max(n, 2 * len));
}

/** The tokens of jieba's `cut(text, false)` as strings (whitespace tokens left out as for jiebaSpans). */
export function jiebaCut(
  text: string,
  dropSpace: (firstCodeUnit: number) => boolean = NO_DROP,
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
