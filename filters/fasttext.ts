/**
 * fastText supervised-model inference, for quantized `.ftz` models with a hierarchical-softmax output (lid.176.ftz):
 * the model file's dictionary, product-quantized input rows and output matrix are read here once, and each prediction
 * runs in a small WebAssembly kernel (filters/fasttext-kernel.c, the .wasm committed with its build script
 * fasttext-kernel.sh) that holds the decoded rows, the label tree and the token tables in its memory. Prediction
 * reproduces fastText's arithmetic step for step in float32 (the same operation order, expf as musl computes it, log
 * as the host's Math.log), so labels and probabilities are bit-identical to fastText's own build (the WebAssembly one
 * of the fasttext.wasm.js package); filters/fasttext.test.ts checks that on real documents and edge cases.
 *
 * Per call the text's UTF-16 units are copied into the kernel's memory, which encodes them to UTF-8 the way
 * Emscripten's string binding does, then splits it into tokens at fastText's separators (space, \n, \r, \t, \v, \f, NUL) and sums each token's input
 * rows: a vocabulary word's row plus its character n-grams' (2-4 bytes, hashed FNV-1a into 2M buckets, then the
 * model's kept buckets, by blocks of 256: a kept bucket's row is the words' count plus its rank), or only the n-grams for an unknown word; the end-of-line token `</s>` closes the line.
 * Token → row lists of short tokens are cached.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { instantiate, type KernelMemory } from '../pipeline/wasm.ts';

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
const EXP_OVERFLOW = 0x162e42e * 2 ** -18; // 0x1.62e42ep6f
const EXP_UNDERFLOW = -0x19fe368 * 2 ** -18; // -0x1.9fe368p6f
const EXP_SHIFT = 6755399441055744; // 0x1.8p52: adding it rounds to an integer in the low mantissa bits
const EXP_INVLN2N = 0x171547652b82fe * 2 ** -52 * EXP_N;
const EXP_C0 = (0x1c6af84b912394 * 2 ** -57) / EXP_N ** 3;
const EXP_C1 = (0x1ebfce50fac4f3 * 2 ** -55) / EXP_N ** 2;
const EXP_C2 = (0x162e42ff0c52d6 * 2 ** -53) / EXP_N;

/** expf(x) for a float x, bit-identical to musl's (the libm of Emscripten builds). */
export function expf(x: number): number {
  if (x !== x) return x;
  if (x > EXP_OVERFLOW) return Infinity;
  if (x < EXP_UNDERFLOW) return 0;
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
  /**
   * A document copied into the kernel once (its UTF-16 units) for predictAt and units over parts of it (no copy of
   * each part); a predict() call replaces it.
   */
  setText(text: string): void;
  /** predict(text.slice(s, e), k) of setText's text. */
  predictAt(s: number, e: number, k?: number): { label: string; score: number }[];
  /**
   * The script units of setText's text.slice(s, e) (filters/lid.ts unitClass: Han, kana, Hangul, Latin words, in
   * that order) by the classes given to useUnitClasses; the array is reused by the next call.
   */
  units(s: number, e: number): Int32Array;
  /** The class per BMP code point (0 other, 1 Latin letter, 2 kana, 3 Hangul, 4 Han) and above U+FFFF, for units. */
  useUnitClasses(bmp: Uint8Array, astral: (cp: number) => number): void;
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

/** The prediction kernel (filters/fasttext-kernel.c, built by fasttext-kernel.sh), compiled once per process. */
interface Kernel extends KernelMemory {
  setup(params: number): void;
  scratch(utf16: number, utf: number, wb: number, ids: number): void;
  scanDict(d: number, end: number, size: number, out: number): number;
  addWords(d: number, n: number): void;
  rankBuckets(
    pairs: number,
    n: number,
    bucket: number,
    nwords: number,
    rows: number,
    start: number,
    low: number,
    tmp: number,
    order: number,
  ): number;
  decodeRows(
    wi: number,
    codes: number,
    normCodes: number,
    normCentroids: number,
    normStride: number,
    centroids: number,
    rows: number,
    nsubq: number,
    dsub: number,
    lastdsub: number,
    order: number,
    first: number,
  ): void;
  setEos(): number;
  predict(at: number, n: number, k: number): number;
  setUnitClass(table: number): void;
  units(s: number, e: number, out: number): void;
}
/**
 * Load a quantized supervised fastText model (.ftz) with a hierarchical-softmax loss. The file is read straight into
 * the kernel's memory, where the kernel walks its dictionary (scanDict, addWords), indexes its kept n-gram buckets
 * (rankBuckets) and decodes its input rows (decodeRows); the model file's place is then the token cache's pool.
 */
export function loadFastText(path: string): FastTextModel {
  // the kernel's memory: the parameters, the model file (later the token cache's pool), the model's arrays, the
  // vocabulary's table, then the growing text buffers
  let astralClass = (cp: number): number => {
    throw new Error(`fastText units: no classes given (U+${cp.toString(16)})`);
  };
  const kernel = instantiate<Kernel>(new URL('./fasttext-kernel.wasm', import.meta.url), {
    env: { log: Math.log, astralClass: (cp: number) => astralClass(cp) },
  });
  const mem = kernel.memory;
  let top = kernel.__heap_base.value;
  const alloc = (bytes: number, align = 16) => {
    const at = (top + align - 1) & -align;
    top = at + bytes;
    return at;
  };
  const grow = (end: number) => {
    if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
  };
  const P = 29;
  const params = alloc(4 * P);
  const expc = alloc(8 * (8 + EXP_N));
  // the token cache's table: 2^16 slots (512 KB, within L2) and a pool of up to 512 KB of keys and 512K row ids
  const cacheTable = { bits: 16, pool: (2 << 14) + (1 << 17) + (1 << 19) };
  const fd = openSync(path, 'r');
  let file: Buffer;
  try {
    const size = fstatSync(fd).size;
    const fileAt = alloc(Math.max(size, 4 * cacheTable.pool));
    grow(top);
    file = Buffer.from(mem.buffer, fileAt, size);
    for (let o = 0, n = 1; o < size && n > 0; o += n) n = readSync(fd, file, o, size - o, o);
  } finally {
    closeSync(fd);
  }
  const fileAt = file.byteOffset;
  const r = new Reader(file);
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
  // the kernel's n-gram bucket is h % bucket by a multiplication, for a bucket count of 2 or more
  if (maxn > 0 && bucket < 2) throw new Error(`${path}: ${bucket} n-gram buckets are not supported`);

  const size = r.i32();
  const nwords = r.i32();
  const nlabels = r.i32();
  r.i64(); // ntokens
  const pruneSize = r.i64();
  // the words (they come first: word i has row i) are walked by the kernel, the labels here
  const dictAt = r.o;
  const scan = new Int32Array(mem.buffer, params, 5);
  if (kernel.scanDict(fileAt + dictAt, fileAt + file.length, size, params) < 0)
    throw new Error(`${path}: truncated dictionary`);
  const [leading, labelsFrom, dictEnd, maxWordBytes, vocabBytes] = scan;
  const labels: string[] = [];
  const labelCounts: number[] = [];
  r.o = dictAt + labelsFrom;
  for (let i = leading; i < size; i++) {
    const s = r.o;
    r.o = file.indexOf(0, s);
    const w = file.subarray(s, r.o);
    r.o++;
    const count = r.i64();
    if (r.u8() === 0) throw new Error(`${path}: inconsistent dictionary`);
    labels.push(w.toString('utf8').replace(/^__label__/, ''));
    labelCounts.push(count);
  }
  if (leading !== nwords || labels.length !== nlabels || r.o !== dictAt + dictEnd)
    throw new Error(`${path}: inconsistent dictionary`);
  // (bucket, row) pairs; a bucket listed twice takes its later row
  const pairsAt = fileAt + r.o;
  r.o += 8 * pruneSize;

  if (r.u8() !== 1) throw new Error(`${path}: the input matrix is not quantized (.bin models are not supported)`);
  const qnorm = r.u8() === 1;
  const rows = r.i64();
  const cols = r.i64();
  const codesize = r.i32();
  const codesAt = fileAt + r.o;
  r.o += codesize;
  const pq = readPQ(r);
  let normCodesAt = 0;
  let npq: ReturnType<typeof readPQ> | undefined;
  if (qnorm) {
    normCodesAt = fileAt + r.o;
    r.o += rows;
    npq = readPQ(r);
  }
  if (r.u8() !== 0) throw new Error(`${path}: quantized output matrices are not supported`);
  const orows = r.i64();
  const ocols = r.i64();
  const wo = r.f32s(orows * ocols);
  if (cols !== dim || ocols !== dim || r.o !== file.length) throw new Error(`${path}: unexpected matrix layout`);

  // the rows are decoded by the kernel, below, with their norms (alpha: centroid normCodes[t] of the norms' quantizer)
  const { nsubq, dsub, lastdsub, centroids } = pq;
  if (codesize !== rows * nsubq) throw new Error(`${path}: unexpected matrix layout`);

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

  // the kept n-gram buckets of a pruned model (the last pair of each bucket decides), in bucket order: per 256
  // buckets the number of kept buckets before them (Uint32), and per kept bucket its low byte, and the input rows
  // laid out as the words' rows, then per rank its bucket's row (lid.176 keeps 42,765 of 2M buckets: 74 KB, where
  // 96-bucket entries of counts and bits took 333 KB and a bitmap with a bucket -> row index 4.3 MB)
  const blocks = pruneSize > 0 ? Math.ceil(bucket / 256) : 0;
  // the input rows: the words', then (pruned) one per kept bucket in rank order (at most one per pair), else one per
  // bucket
  const maxRows = pruneSize > 0 ? nwords + Math.min(pruneSize, bucket) : rows;
  // on cache-line boundaries (64 bytes): a row of 16 floats is then one line, where at an offset of 32 (as the 16-byte
  // alignment left it) each row read two, and the rows are most of the prediction's cache misses
  const wiAt = alloc(4 * maxRows * dim, 64);
  const woAt = alloc(4 * orows * dim, 64);
  const leftAt = alloc(4 * tree.length),
    rightAt = alloc(4 * tree.length);
  const keptStartAt = alloc(4 * (blocks + 1)),
    keptLowAt = alloc(pruneSize > 0 ? Math.min(pruneSize, bucket) + 16 : 0);
  const hiddenAt = alloc(4 * dim);
  const stackNodeAt = alloc(4 * (tree.length + 1)),
    stackScoreAt = alloc(4 * (tree.length + 1));
  const bestNodeAt = alloc(4 * (osz + 1)),
    bestScoreAt = alloc(8 * (osz + 1));
  const unitClassAt = alloc(0x10000),
    unitsAt = alloc(16);
  // the vocabulary's table (at most a quarter of its slots used: 32,768 for lid.176's 7,235 words, half the 512 KB of
  // fresh pages the table took with twice the slots) and the token cache's; their pools of records (Int32: key
  // length, row count, the key's bytes padded to 4, the row ids): the vocabulary's words with one row each
  const vbits = Math.max(4, 32 - Math.clz32(4 * nwords - 1));
  const vocabTable = { bits: vbits, pool: 3 * nwords + ((vocabBytes + 3 * nwords) >> 2) };
  const tables = [
    { ...vocabTable, slotsAt: alloc(4 * (2 << vocabTable.bits)), poolAt: alloc(4 * vocabTable.pool) },
    { ...cacheTable, slotsAt: alloc(4 * (2 << cacheTable.bits)), poolAt: fileAt },
  ];
  const scratchAt = alloc(0);
  // the ranking's scratch (the pairs grouped by block) and the decoding's (the rows' order, the centroids)
  const tmpAt = scratchAt,
    orderAt = tmpAt + 4 * Math.max(pruneSize, 0),
    normCentroidsAt = orderAt + 4 * Math.max(pruneSize, 0),
    centroidsAt = normCentroidsAt + 4 * (npq ? npq.centroids.length : 0);
  grow(centroidsAt + 4 * centroids.length);
  let nrows = rows;
  if (pruneSize > 0) {
    const kept = kernel.rankBuckets(pairsAt, pruneSize, bucket, nwords, rows, keptStartAt, keptLowAt, tmpAt, orderAt);
    if (kept < 0) {
      const pair = new Int32Array(mem.buffer.slice(pairsAt + 8 * (-1 - kept), pairsAt + 8 * -kept));
      const [h, id] = pair;
      throw new Error(`${path}: n-gram bucket ${h} has row ${id}, past the input matrix`);
    }
    nrows = nwords + kept;
  }

  const p = new Int32Array(mem.buffer, params, P);
  p.set([dim, nwords, bucket, minn, maxn, osz, maxWordBytes, pruneSize, 0, wiAt, woAt, leftAt, rightAt]);
  p.set([keptStartAt, keptLowAt, hiddenAt, stackNodeAt, stackScoreAt, bestNodeAt, bestScoreAt, expc], 13);
  tables.forEach((t, q) => p.set([t.bits, t.slotsAt, t.poolAt, t.pool], 21 + 4 * q));
  new Float64Array(mem.buffer, expc, 8 + EXP_N).set([
    EXP_INVLN2N,
    EXP_C0,
    EXP_C1,
    EXP_C2,
    EXP_OVERFLOW,
    EXP_UNDERFLOW,
    EXP_SHIFT,
    stdLog(0),
    ...EXP_TAB,
  ]);
  {
    // every input row decoded once, as fastText adds it: alpha · centroid, rounded to float per component, by the
    // kernel from the codes and norms in the model file and the centroids; the rows of the kept buckets in rank order
    if (npq) new Float32Array(mem.buffer, normCentroidsAt, npq.centroids.length).set(npq.centroids);
    new Float32Array(mem.buffer, centroidsAt, centroids.length).set(centroids);
    // the norms' quantizer has one sub-quantizer (its centroid c at c · lastdsub, as at(0, c) gives)
    const normStride = npq ? (npq.nsubq === 1 ? npq.lastdsub : npq.dsub) : 0;
    kernel.decodeRows(
      wiAt,
      codesAt,
      normCodesAt,
      normCentroidsAt,
      normStride,
      centroidsAt,
      nrows,
      nsubq,
      dsub,
      lastdsub,
      pruneSize > 0 ? orderAt : 0,
      nwords,
    );
  }
  new Float32Array(mem.buffer, woAt, orows * dim).set(wo);
  new Int32Array(mem.buffer, leftAt, tree.length).set(tree.map((t) => t.left));
  new Int32Array(mem.buffer, rightAt, tree.length).set(tree.map((t) => t.right));
  kernel.setup(params);
  kernel.setUnitClass(unitClassAt);
  // the vocabulary, from the model file (before the token cache's first record overwrites it)
  kernel.addWords(fileAt + dictAt, nwords);
  kernel.setEos();

  // the text buffers (the text's UTF-16, its UTF-8, the long-token copy, a token's row ids) at the end of the memory,
  // grown for long texts
  let cap = 0;
  let utf16 = Buffer.alloc(0);
  let bestNode = new Int32Array(0);
  let bestScore = new Float64Array(0);
  let unitsOut = new Int32Array(0);
  const buffers = (need: number) => {
    if (need > cap) {
      cap = Math.max(need, 2 * cap, 1 << 16);
      const utfAt = scratchAt + 2 * cap;
      const wbAt = utfAt + 4 * cap + 1;
      const idsAt = (wbAt + 4 * cap + 3 + 15) & ~15;
      // a token of t bytes has t + 2 character starts with "<" and ">", each starting at most maxn n-grams
      grow(idsAt + 4 * ((maxn + 1) * (4 * cap + 3) + 2));
      kernel.scratch(scratchAt, utfAt, wbAt, idsAt);
    }
    if (utf16.buffer !== mem.buffer || utf16.length !== 2 * cap) {
      utf16 = Buffer.from(mem.buffer, scratchAt, 2 * cap);
      bestNode = new Int32Array(mem.buffer, bestNodeAt, osz + 1);
      bestScore = new Float64Array(mem.buffer, bestScoreAt, osz + 1);
      unitsOut = new Int32Array(mem.buffer, unitsAt, 4);
    }
  };
  buffers(maxWordBytes);

  // the text in the kernel (setText), its length in UTF-16 units
  let textLength = 0;
  function setText(text: string): void {
    buffers(text.length);
    utf16.write(text, 0, 'utf16le');
    textLength = text.length;
  }
  function predictAt(s: number, e: number, k = 1): { label: string; score: number }[] {
    // fastText reads one line: the binding appends "\n", which ends the line with </s>. The text goes in as UTF-16
    // units (lone surrogates kept); the kernel encodes it to UTF-8 as Emscripten's binding does
    if (!(0 <= s && s <= e && e <= textLength)) throw new RangeError(`fastText: [${s}, ${e}) is not in the text`);
    const nBest = kernel.predict(s, e - s, k);
    const out: { label: string; score: number }[] = [];
    for (let q = 0; q < nBest; q++) out.push({ label: labels[bestNode[q]], score: expf(bestScore[q]) });
    return out;
  }
  function predict(text: string, k = 1): { label: string; score: number }[] {
    setText(text);
    return predictAt(0, text.length, k);
  }
  function units(s: number, e: number): Int32Array {
    if (!(0 <= s && s <= e && e <= textLength)) throw new RangeError(`fastText: [${s}, ${e}) is not in the text`);
    kernel.units(s, e, unitsAt);
    return unitsOut;
  }
  function useUnitClasses(bmp: Uint8Array, astral: (cp: number) => number): void {
    new Uint8Array(mem.buffer, unitClassAt, 0x10000).set(bmp);
    astralClass = astral;
    kernel.setUnitClass(unitClassAt);
  }

  return { labels, predict, setText, predictAt, units, useUnitClasses };
}
