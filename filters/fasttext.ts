/**
 * fastText supervised-model inference in TypeScript, for quantized `.ftz` models with a hierarchical-softmax output
 * (lid.176.ftz): the model file's dictionary, product-quantized input rows and output matrix, read once; prediction
 * reproduces fastText's arithmetic step for step in float32 (Math.fround after every float operation, the same
 * operation order, expf as musl computes it), so labels and probabilities are bit-identical to fastText's own build
 * (the WebAssembly one this replaces); filters/lid.test.ts checks that on real documents.
 *
 * Per call it encodes the text to UTF-8 the way Emscripten's string binding does, splits it into tokens at fastText's
 * separators (space, \n, \r, \t, \v, \f, NUL), and sums each token's input rows: a vocabulary word's row plus its
 * character n-grams' (2-4 bytes, hashed FNV-1a into 2M buckets, then the model's pruned-bucket index), or only the
 * n-grams for an unknown word; the end-of-line token `</s>` closes the line. Token → row lists are cached.
 */
import { readFileSync } from 'node:fs';

const f32 = Math.fround;

// ---------- expf, as musl computes it (table of 2^(j/32) + degree-3 polynomial, in double; then rounded to float) ----------
const EXP_N = 32;
/** 2^(j/32) correctly rounded to double, j = 0..31 (exact BigInt search around Math.pow's estimate). */
const EXP_TAB = (() => {
  const t = new Float64Array(EXP_N);
  const dv = new DataView(new ArrayBuffer(8));
  for (let j = 0; j < EXP_N; j++) {
    // the double m·2^-52 (m in [2^52, 2^53)) nearest to 2^(j/32): compare (m ± 1/2)^32 against 2^(j + 52·32)
    dv.setFloat64(0, Math.pow(2, j / EXP_N));
    let m = (BigInt(dv.getUint32(0) & 0xfffff) << 32n) | BigInt(dv.getUint32(4));
    m |= 1n << 52n;
    const target = 1n << BigInt(j + 53 * 32); // (2m)^32 vs 2^(j+53·32) compares m·2^-52 against 2^(j/32)
    const pow32 = (x: bigint) => x ** 32n;
    // move m until 2^(j/32) lies within [m - 1/2, m + 1/2) ulps
    while (pow32(2n * m + 1n) <= target) m++;
    while (pow32(2n * m - 1n) > target) m--;
    t[j] = Number(m) * 2 ** -52;
  }
  return t;
})();
const EXP_SHIFT = 6755399441055744; // 0x1.8p52: adding it rounds to an integer in the low mantissa bits
const EXP_INVLN2N = 0x171547652b82fe * 2 ** -52 * EXP_N;
const EXP_C0 = (0x1c6af84b912394 * 2 ** -57) / EXP_N ** 3;
const EXP_C1 = (0x1ebfce50fac4f3 * 2 ** -55) / EXP_N ** 2;
const EXP_C2 = (0x162e42ff0c52d6 * 2 ** -53) / EXP_N;

/** expf(x) for a float x, bit-identical to musl's (the libm of Emscripten builds). */
export function expf(x: number): number {
  if (x !== x) return x;
  if (x > 0x162e42e * 2 ** -18) return Infinity; // 0x1.62e42ep6f: overflow
  if (x < -0x19fe368 * 2 ** -18) return 0; // -0x1.9fe368p6f: underflow
  const z = EXP_INVLN2N * x;
  let kd = z + EXP_SHIFT;
  kd -= EXP_SHIFT; // the integer nearest to z (ties to even), as the bit trick computes it
  const r = z - kd;
  const k = kd | 0;
  const s = EXP_TAB[k & (EXP_N - 1)] * 2 ** (k >> 5); // exact: a power of two times the table entry
  const zz = EXP_C0 * r + EXP_C1;
  const r2 = r * r;
  let y = EXP_C2 * r + 1;
  y = zz * r2 + y;
  y = y * s;
  return f32(y);
}

/** fastText's std_log: log(x + 1e-5) in double of a float argument, returned as float. */
const stdLog = (x: number) => f32(Math.log(f32(x) + 1e-5));

// ---------- the model ----------
interface Node {
  left: number;
  right: number;
}

export interface FastTextModel {
  labels: string[];
  /** Top-k labels (without "__label__") and probabilities for one line of text. */
  predict(text: string, k?: number): { label: string; score: number }[];
}

/** Whether typed arrays are little-endian here (then arrays of the model file are copied byte for byte). */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class Reader {
  o = 0;
  constructor(readonly b: Buffer) {}
  i32() {
    const v = this.b.readInt32LE(this.o);
    this.o += 4;
    return v;
  }
  /** A little-endian int64 as the nearest double (what Number(BigInt) gives: hi · 2^32 and lo are exact, their sum rounds once). */
  i64() {
    const v = this.b.readInt32LE(this.o + 4) * 4294967296 + this.b.readUInt32LE(this.o);
    this.o += 8;
    return v;
  }
  f64() {
    const v = this.b.readDoubleLE(this.o);
    this.o += 8;
    return v;
  }
  u8() {
    return this.b[this.o++];
  }
  f32s(n: number) {
    const a = new Float32Array(n);
    if (LE) new Uint8Array(a.buffer).set(this.b.subarray(this.o, this.o + 4 * n));
    else for (let i = 0; i < n; i++) a[i] = this.b.readFloatLE(this.o + 4 * i);
    this.o += 4 * n;
    return a;
  }
  i32s(n: number) {
    const a = new Int32Array(n);
    if (LE) new Uint8Array(a.buffer).set(this.b.subarray(this.o, this.o + 4 * n));
    else for (let i = 0; i < n; i++) a[i] = this.b.readInt32LE(this.o + 4 * i);
    this.o += 4 * n;
    return a;
  }
  bytes(n: number) {
    const a = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return a;
  }
}

/** A product quantizer: `nsubq` sub-vectors of `dsub` floats (the last `lastdsub`), 256 centroids each. */
function readPQ(r: Reader) {
  const dim = r.i32(),
    nsubq = r.i32(),
    dsub = r.i32(),
    lastdsub = r.i32();
  const centroids = r.f32s(dim * 256);
  const at = (m: number, c: number) => (m === nsubq - 1 ? m * 256 * dsub + c * lastdsub : (m * 256 + c) * dsub);
  return { dim, nsubq, dsub, lastdsub, centroids, at };
}

const FNV_OFFSET = 2166136261;
/** FNV-1a of the bytes b[s, e) (a hash-table key; the n-gram buckets are hashed in tokenRows). */
function fnv(b: Uint8Array, s: number, e: number): number {
  let h = FNV_OFFSET | 0;
  for (let i = s; i < e; i++) h = Math.imul(h ^ b[i], 16777619);
  return h;
}
/** Encode a string to UTF-8 exactly as Emscripten's stringToUTF8Array does (a surrogate always takes the next unit). */
function emscriptenUtf8(str: string, out: Uint8Array): number {
  let o = 0;
  for (let i = 0; i < str.length; ++i) {
    let u = str.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdfff) {
      const u1 = str.charCodeAt(++i);
      u = (0x10000 + ((u & 1023) << 10)) | (u1 & 1023);
    }
    if (u <= 0x7f) out[o++] = u;
    else if (u <= 0x7ff) {
      out[o++] = 0xc0 | (u >> 6);
      out[o++] = 0x80 | (u & 63);
    } else if (u <= 0xffff) {
      out[o++] = 0xe0 | (u >> 12);
      out[o++] = 0x80 | ((u >> 6) & 63);
      out[o++] = 0x80 | (u & 63);
    } else {
      out[o++] = 0xf0 | (u >> 18);
      out[o++] = 0x80 | ((u >> 12) & 63);
      out[o++] = 0x80 | ((u >> 6) & 63);
      out[o++] = 0x80 | (u & 63);
    }
  }
  return o;
}

const LABEL_PREFIX = Buffer.from('__label__');

const isSep = (c: number) => c === 32 || c === 10 || c === 13 || c === 9 || c === 11 || c === 12 || c === 0;

/**
 * Row ids of short tokens by their UTF-8 bytes (words recur; a long token, e.g. a Chinese clause, rarely does and is
 * not kept): an open-addressing table over a byte pool and a row pool, looked up without building a string. Cleared
 * when full.
 */
class TokenCache {
  private hash: Int32Array;
  /** per slot: 1 + entry index (0 = empty) */
  private slot: Int32Array;
  private keyOff: Int32Array;
  private keyLen: Int32Array;
  private rowOff: Int32Array;
  private rowLen: Int32Array;
  private keys: Uint8Array;
  private keysUsed = 0;
  rows: Int32Array;
  private rowsUsed = 0;
  private size = 0;
  /** 2^bits slots (at most a quarter of them used), key bytes and row ids up to the pool sizes. */
  constructor(
    private bits: number,
    keyBytes: number,
    rowIds: number,
  ) {
    this.hash = new Int32Array(1 << bits);
    this.slot = new Int32Array(1 << bits);
    this.keyOff = new Int32Array(1 << (bits - 2));
    this.keyLen = new Int32Array(1 << (bits - 2));
    this.rowOff = new Int32Array(1 << (bits - 2));
    this.rowLen = new Int32Array(1 << (bits - 2));
    this.keys = new Uint8Array(keyBytes);
    this.rows = new Int32Array(rowIds);
  }
  /** Entry index of the bytes b[s, e) with FNV hash h, or -1. */
  find(b: Uint8Array, s: number, e: number, h: number): number {
    const mask = (1 << this.bits) - 1;
    const len = e - s;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const t = this.slot[i];
      if (t === 0) return -1;
      if (this.hash[i] !== h || this.keyLen[t - 1] !== len) continue;
      const o = this.keyOff[t - 1];
      let q = 0;
      while (q < len && this.keys[o + q] === b[s + q]) q++;
      if (q === len) return t - 1;
    }
  }
  start(t: number): number {
    return this.rowOff[t];
  }
  length(t: number): number {
    return this.rowLen[t];
  }
  /** Keep rows[0, m) for the bytes b[s, e) with FNV hash h; returns the entry index. */
  add(b: Uint8Array, s: number, e: number, h: number, rows: Int32Array, m: number): number {
    if (
      this.size >= 1 << (this.bits - 2) ||
      this.keysUsed + (e - s) > this.keys.length ||
      this.rowsUsed + m > this.rows.length
    ) {
      this.slot.fill(0);
      this.size = this.keysUsed = this.rowsUsed = 0;
    }
    const mask = (1 << this.bits) - 1;
    let i = h & mask;
    while (this.slot[i] !== 0) i = (i + 1) & mask;
    const t = this.size++;
    this.slot[i] = t + 1;
    this.hash[i] = h;
    this.keyOff[t] = this.keysUsed;
    this.keyLen[t] = e - s;
    for (let q = s, o = this.keysUsed; q < e; q++, o++) this.keys[o] = b[q];
    this.keysUsed += e - s;
    this.rowOff[t] = this.rowsUsed;
    this.rowLen[t] = m;
    for (let q = 0, o = this.rowsUsed; q < m; q++, o++) this.rows[o] = rows[q];
    this.rowsUsed += m;
    return t;
  }
}

/** Load a quantized supervised fastText model (.ftz) with a hierarchical-softmax loss. */
export function loadFastText(path: string): FastTextModel {
  const r = new Reader(readFileSync(path));
  if (r.i32() !== 793712314) throw new Error(`${path}: not a fastText model`);
  const version = r.i32();
  if (version > 12) throw new Error(`${path}: fastText model version ${version} is not supported`);
  const dim = r.i32();
  r.i32(); // ws
  r.i32(); // epoch
  r.i32(); // minCount
  r.i32(); // neg
  const wordNgrams = r.i32();
  const loss = r.i32();
  const modelKind = r.i32();
  const bucket = r.i32();
  const minn = r.i32();
  const maxn = r.i32();
  r.i32(); // lrUpdateRate
  r.f64(); // t
  if (loss !== 1 || modelKind !== 3 || wordNgrams > 1)
    throw new Error(`${path}: only supervised hierarchical-softmax models without word n-grams are supported`);

  const size = r.i32();
  const nwords = r.i32();
  const nlabels = r.i32();
  r.i64(); // ntokens
  const pruneSize = r.i64();
  const wordBytes: Uint8Array[] = [];
  const wordIdx: number[] = [];
  const labels: string[] = [];
  const labelCounts: number[] = [];
  for (let i = 0; i < size; i++) {
    const s = r.o;
    r.o = r.b.indexOf(0, s);
    if (r.o < 0) throw new Error(`${path}: truncated dictionary`);
    const w = r.b.subarray(s, r.o);
    r.o++;
    const count = r.i64();
    const type = r.u8();
    if (type === 0) {
      wordBytes.push(w);
      wordIdx.push(i);
    } else {
      labels.push(w.toString('utf8').replace(/^__label__/, ''));
      labelCounts.push(count);
    }
  }
  if (wordBytes.length !== nwords || labels.length !== nlabels) throw new Error(`${path}: inconsistent dictionary`);
  // (bucket, row) pairs; a bucket listed twice takes its later row
  const prunePairs = r.i32s(2 * pruneSize); // bucket 2i, row 2i + 1

  if (r.u8() !== 1) throw new Error(`${path}: the input matrix is not quantized (.bin models are not supported)`);
  const qnorm = r.u8() === 1;
  const rows = r.i64();
  const cols = r.i64();
  const codesize = r.i32();
  const codes = r.bytes(codesize);
  const pq = readPQ(r);
  let normCodes: Uint8Array | undefined;
  let npq: ReturnType<typeof readPQ> | undefined;
  if (qnorm) {
    normCodes = r.bytes(rows);
    npq = readPQ(r);
  }
  if (r.u8() !== 0) throw new Error(`${path}: quantized output matrices are not supported`);
  const orows = r.i64();
  const ocols = r.i64();
  const wo = r.f32s(orows * ocols);
  if (cols !== dim || ocols !== dim || r.o !== r.b.length) throw new Error(`${path}: unexpected matrix layout`);

  // every input row decoded once, as fastText adds it: alpha · centroid, rounded to float per component
  // (alpha = 1 without norms: 1 · x is x)
  const wi = new Float32Array(rows * dim);
  const { nsubq, dsub, lastdsub, centroids } = pq;
  for (let t = 0, o = 0, k = 0; t < rows; t++) {
    const alpha = qnorm ? npq!.centroids[npq!.at(0, normCodes![t])] : 1;
    for (let m = 0; m < nsubq; m++, k++) {
      const last = m === nsubq - 1;
      const d = last ? lastdsub : dsub;
      const c = last ? m * 256 * dsub + codes[k] * lastdsub : (m * 256 + codes[k]) * dsub;
      if (alpha === 1) for (let n = 0; n < d; n++) wi[o++] = centroids[c + n];
      else for (let n = 0; n < d; n++) wi[o++] = f32(alpha * centroids[c + n]);
    }
  }

  // Huffman tree over the labels (counts in decreasing order), as fastText builds it
  const osz = nlabels;
  const tree: Node[] = [];
  const counts: number[] = [];
  for (let i = 0; i < 2 * osz - 1; i++) {
    tree.push({ left: -1, right: -1 });
    counts.push(i < osz ? labelCounts[i] : 1e15);
  }
  {
    let leaf = osz - 1,
      node = osz;
    for (let i = osz; i < 2 * osz - 1; i++) {
      const mini = [0, 0];
      for (let j = 0; j < 2; j++) mini[j] = leaf >= 0 && counts[leaf] < counts[node] ? leaf-- : node++;
      tree[i].left = mini[0];
      tree[i].right = mini[1];
      counts[i] = counts[mini[0]] + counts[mini[1]];
    }
  }

  // the tree as arrays, and the search's stack (a path holds at most one pending sibling per level) and best list
  const treeLeft = new Int32Array(tree.length),
    treeRight = new Int32Array(tree.length);
  tree.forEach((t, i) => {
    treeLeft[i] = t.left;
    treeRight[i] = t.right;
  });
  const stackNode = new Int32Array(tree.length + 1),
    stackScore = new Float64Array(tree.length + 1);
  let bestScore = new Float64Array(8),
    bestNode = new Int32Array(8);

  // the model's pruned n-gram buckets as a direct index (bucket -> row - nwords) for the buckets set in `kept`: 16-bit
  // entries while the ids fit (lid.176 keeps 42,765 buckets: 4 MB for its 2M buckets, half the cache footprint)
  let maxId = -1;
  for (let i = 1; i < 2 * pruneSize; i += 2) maxId = Math.max(maxId, prunePairs[i]);
  const pruneIdx = pruneSize > 0 ? (maxId < 0x10000 ? new Uint16Array(bucket) : new Int32Array(bucket)) : undefined;
  const kept = new Int32Array((bucket + 31) >>> 5);
  if (pruneIdx) {
    // the last pair of each bucket decides: walk them backwards, skipping buckets already seen
    const seen = new Int32Array(kept.length);
    for (let i = pruneSize - 1; i >= 0; i--) {
      const h = prunePairs[2 * i],
        id = prunePairs[2 * i + 1];
      if (h < 0 || h >= bucket || seen[h >>> 5] & (1 << (h & 31))) continue;
      seen[h >>> 5] |= 1 << (h & 31);
      if (id < 0) continue;
      pruneIdx[h] = id;
      kept[h >>> 5] |= 1 << (h & 31);
    }
  }
  let maxWordBytes = 0;
  for (const w of wordBytes) maxWordBytes = Math.max(maxWordBytes, w.length);

  /**
   * Row ids of one token's bytes b[s, e) into `ids` from `at`: its word row, then the n-grams of "<" + token + ">"
   * (fastText's computeSubwords: each n-gram of 1-4 characters, minn..maxn, hashed as its bytes are appended); only
   * the n-grams for an unknown word. Returns the new end.
   */
  let ids = new Int32Array(1 << 12);
  let wb = new Uint8Array(1 << 12);
  function tokenRows(b: Uint8Array, s: number, e: number, wid: number, at: number): number {
    const len = e - s + 2;
    if (ids.length < at + 4 * len + 1) {
      const bigger = new Int32Array(Math.max(ids.length * 2, at + 4 * len + 1));
      bigger.set(ids.subarray(0, at));
      ids = bigger;
    }
    if (wid >= 0) ids[at++] = wid;
    if (pruneSize === 0) return at;
    // byte k of "<" + token + ">" is wb[k]
    if (wb.length < len) wb = new Uint8Array(len * 2);
    wb[0] = 60;
    for (let q = s; q < e; q++) wb[q - s + 1] = b[q];
    wb[len - 1] = 62;
    const w = wb;
    for (let i = 0; i < len; i++) {
      if ((w[i] & 0xc0) === 0x80) continue;
      let h = FNV_OFFSET | 0;
      let j = i;
      for (let n = 1; j < len && n <= maxn; n++) {
        do {
          h = Math.imul(h ^ ((w[j] << 24) >> 24), 16777619);
          j++;
        } while (j < len && (w[j] & 0xc0) === 0x80);
        if (n >= minn && !(n === 1 && (i === 0 || j === len))) {
          const bkt = (h >>> 0) % bucket;
          if (!pruneIdx) ids[at++] = nwords + bkt;
          else if (kept[bkt >>> 5] & (1 << (bkt & 31))) ids[at++] = nwords + pruneIdx[bkt];
        }
      }
    }
    return at;
  }

  const cache = new TokenCache(18, 1 << 21, 1 << 21);
  // the vocabulary by bytes: entry -> word id
  let vocabBytes = 0;
  for (const w of wordBytes) vocabBytes += w.length;
  const vocab = new TokenCache(Math.max(4, 33 - Math.clz32(4 * wordBytes.length)), vocabBytes, wordBytes.length);
  const one = new Int32Array(1);
  for (let i = 0; i < wordBytes.length; i++) {
    const w = wordBytes[i];
    const h = fnv(w, 0, w.length);
    const t = vocab.find(w, 0, w.length, h);
    // a word listed twice takes its later id
    if (t >= 0) vocab.rows[vocab.start(t)] = wordIdx[i];
    else {
      one[0] = wordIdx[i];
      vocab.add(w, 0, w.length, h, one, 1);
    }
  }
  /** Word id of the bytes b[s, e) with FNV hash h, -1 when not in the vocabulary. */
  const wordId = (b: Uint8Array, s: number, e: number, h: number) => {
    const t = vocab.find(b, s, e, h);
    return t < 0 ? -1 : vocab.rows[vocab.start(t)];
  };
  const eos = Buffer.from('</s>');
  const EOS = wordId(eos, 0, eos.length, fnv(eos, 0, eos.length));
  const CACHED_BYTES = 64;
  let utf = new Uint8Array(1 << 16);
  const hidden = new Float32Array(dim);
  const isLabel = (b: Uint8Array, s: number, e: number) => {
    if (e - s < 9) return false;
    for (let q = 0; q < 9; q++) if (b[s + q] !== LABEL_PREFIX[q]) return false;
    return true;
  };

  /**
   * hidden += the input rows rows[from, from + m), in order, each component rounded to float after each addition (fastText's
   * float arithmetic, exactly: a double sum of two floats rounds to their float sum). lid.176's 16 components are
   * kept in locals.
   */
  function addRows(rows: Int32Array, from: number, m: number): void {
    if (dim !== 16) {
      for (let q = from; q < from + m; q++) {
        const base = rows[q] * dim;
        for (let c = 0; c < dim; c++) hidden[c] += wi[base + c];
      }
      return;
    }
    let h0 = hidden[0];
    let h1 = hidden[1];
    let h2 = hidden[2];
    let h3 = hidden[3];
    let h4 = hidden[4];
    let h5 = hidden[5];
    let h6 = hidden[6];
    let h7 = hidden[7];
    let h8 = hidden[8];
    let h9 = hidden[9];
    let h10 = hidden[10];
    let h11 = hidden[11];
    let h12 = hidden[12];
    let h13 = hidden[13];
    let h14 = hidden[14];
    let h15 = hidden[15];
    for (let q = from; q < from + m; q++) {
      const b = rows[q] << 4;
      h0 = f32(h0 + wi[b + 0]);
      h1 = f32(h1 + wi[b + 1]);
      h2 = f32(h2 + wi[b + 2]);
      h3 = f32(h3 + wi[b + 3]);
      h4 = f32(h4 + wi[b + 4]);
      h5 = f32(h5 + wi[b + 5]);
      h6 = f32(h6 + wi[b + 6]);
      h7 = f32(h7 + wi[b + 7]);
      h8 = f32(h8 + wi[b + 8]);
      h9 = f32(h9 + wi[b + 9]);
      h10 = f32(h10 + wi[b + 10]);
      h11 = f32(h11 + wi[b + 11]);
      h12 = f32(h12 + wi[b + 12]);
      h13 = f32(h13 + wi[b + 13]);
      h14 = f32(h14 + wi[b + 14]);
      h15 = f32(h15 + wi[b + 15]);
    }
    hidden[0] = h0;
    hidden[1] = h1;
    hidden[2] = h2;
    hidden[3] = h3;
    hidden[4] = h4;
    hidden[5] = h5;
    hidden[6] = h6;
    hidden[7] = h7;
    hidden[8] = h8;
    hidden[9] = h9;
    hidden[10] = h10;
    hidden[11] = h11;
    hidden[12] = h12;
    hidden[13] = h13;
    hidden[14] = h14;
    hidden[15] = h15;
  }

  const thresholdLog = stdLog(0);
  function predict(text: string, k = 1): { label: string; score: number }[] {
    if (bestScore.length < k + 1) {
      bestScore = new Float64Array(k + 1);
      bestNode = new Int32Array(k + 1);
    }
    if (utf.length < text.length * 4 + 1) utf = new Uint8Array(text.length * 4 + 1);
    // fastText reads one line: the binding appends "\n", which ends the line with </s>
    const n = emscriptenUtf8(text, utf);
    hidden.fill(0);
    let count = 0;
    let i = 0;
    for (;;) {
      while (i < n && isSep(utf[i])) i++;
      if (i >= n) break;
      const s = i;
      let h = FNV_OFFSET | 0;
      while (i < n && !isSep(utf[i])) h = Math.imul(h ^ utf[i++], 16777619);
      if (i - s <= CACHED_BYTES) {
        // fastText ends the line at an end-of-line token
        if (i - s === 4 && utf[s] === 60 && utf[s + 1] === 47 && utf[s + 2] === 115 && utf[s + 3] === 62) break;
        let t = cache.find(utf, s, i, h);
        if (t < 0) {
          const wid = wordId(utf, s, i, h);
          const end = wid < 0 && isLabel(utf, s, i) ? 0 : tokenRows(utf, s, i, wid, 0);
          t = cache.add(utf, s, i, h, ids, end);
        }
        addRows(cache.rows, cache.start(t), cache.length(t));
        count += cache.length(t);
      } else {
        const wid = i - s <= maxWordBytes ? wordId(utf, s, i, h) : -1;
        const m = wid < 0 && isLabel(utf, s, i) ? 0 : tokenRows(utf, s, i, wid, 0);
        addRows(ids, 0, m);
        count += m;
      }
    }
    if (EOS >= 0) {
      for (let c = 0; c < dim; c++) hidden[c] += wi[EOS * dim + c];
      count++;
    }
    if (count === 0) return [];
    const a = f32(1 / count);
    for (let c = 0; c < dim; c++) hidden[c] *= a;

    // depth-first search of the label tree, keeping the k best log-probabilities (fastText's dfs + heap), with an
    // explicit stack: a node's pruning test is made when it is taken from the stack, i.e. after its left sibling's
    // subtree, as in the recursion
    let nBest = 0;
    let sp = 0;
    stackNode[sp] = 2 * osz - 2;
    stackScore[sp++] = 0;
    while (sp > 0) {
      const node = stackNode[--sp],
        score = stackScore[sp];
      if (score < thresholdLog) continue;
      if (nBest === k && score < bestScore[nBest - 1]) continue;
      const left = treeLeft[node];
      if (left === -1 && treeRight[node] === -1) {
        // kept in decreasing order; a new entry goes before equal ones, so on a tie with the worst kept entry the new
        // one stays (fastText's push_heap + pop_heap with k = 1 do the same)
        let at = nBest;
        while (at > 0 && bestScore[at - 1] <= score) at--;
        for (let q = Math.min(nBest, k - 1); q > at; q--) {
          bestScore[q] = bestScore[q - 1];
          bestNode[q] = bestNode[q - 1];
        }
        if (at < k) {
          bestScore[at] = score;
          bestNode[at] = node;
        }
        if (nBest < k) nBest++;
        continue;
      }
      const row = (node - osz) * dim;
      let d = 0;
      for (let c = 0; c < dim; c++) d = f32(d + f32(wo[row + c] * hidden[c]));
      const fv = f32(1 / f32(1 + expf(f32(-d))));
      // right pushed first: the left subtree is searched first
      stackNode[sp] = treeRight[node];
      stackScore[sp++] = f32(score + stdLog(fv));
      stackNode[sp] = left;
      stackScore[sp++] = f32(score + stdLog(1 - fv));
    }
    const out: { label: string; score: number }[] = [];
    for (let q = 0; q < nBest; q++) out.push({ label: labels[bestNode[q]], score: expf(bestScore[q]) });
    return out;
  }

  return { labels, predict };
}
