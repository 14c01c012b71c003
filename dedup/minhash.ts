/**
 * MinHash signatures and LSH banding.
 *
 * Signatures by one-permutation hashing with optimal densification (see MinHasher.compute): K bins play the role of
 * K permutations; the seeds come from a fixed-seed generator so signatures are identical across runs and machines. LSH cuts it into `bands` bands of `rows` rows; each band is hashed to 64 bits.
 * Every band record also carries a 2-bit sketch of the whole signature (the low 2 bits of every minimum) so the bucket
 * merge can estimate a candidate pair's Jaccard similarity without the full signatures.
 */
import { fmix32, reserveKernel, ringBytes, shingleKernel, type ShingleKernel } from './text.ts';

export interface LshParams {
  bands: number;
  rows: number;
}

/** P(pair with Jaccard j shares at least one band) = 1 - (1 - j^r)^b. */
export function collisionProbability(j: number, p: LshParams): number {
  return 1 - Math.pow(1 - Math.pow(j, p.rows), p.bands);
}

function integrate(f: (x: number) => number, a: number, b: number, n = 200): number {
  const h = (b - a) / n;
  let s = 0;
  for (let i = 0; i < n; i++) s += f(a + (i + 0.5) * h);
  return s * h;
}

/**
 * Bands × rows minimising wFp · ∫₀ᵗ P(j) dj + wFn · ∫ₜ¹ (1 − P(j)) dj over b·r ≤ maxPerm (the same criterion as
 * datatrove's / data-juicer's optimal_param). Returns the pair and its error areas.
 */
export function optimalParams(
  threshold: number,
  maxPerm: number,
  wFp = 0.5,
  wFn = 0.5,
): LshParams & { fp: number; fn: number } {
  if (!(threshold > 0 && threshold < 1)) throw new Error(`threshold must be in (0, 1), got ${threshold}`);
  // ~0.04 CPU-s for 256 permutations, and every task of a run builds its config: computed once per process
  const key = `${threshold} ${maxPerm} ${wFp} ${wFn}`;
  let o = optimal.get(key);
  if (!o) optimal.set(key, (o = searchParams(threshold, maxPerm, wFp, wFn)));
  return { ...o };
}

/**
 * optimalParams for minhash_dedup's defaults (threshold 0.8 with verify: fitted to 0.6; 256 permutations; equal
 * weights), which every default run asks for in each process: the search costs 0.02–0.04 CPU-s. minhash.test.ts checks
 * this entry against searchParams.
 */
export const DEFAULT_OPTIMAL = {
  key: '0.6 256 0.5 0.5',
  params: { bands: 32, rows: 8, fp: 0.03139126475675209, fn: 0.04071408180871281 },
} as const;

const optimal = new Map<string, LshParams & { fp: number; fn: number }>([
  [DEFAULT_OPTIMAL.key, DEFAULT_OPTIMAL.params],
]);

/** The search behind optimalParams (uncached). */
export function searchParams(
  threshold: number,
  maxPerm: number,
  wFp: number,
  wFn: number,
): LshParams & { fp: number; fn: number } {
  let best = { bands: 1, rows: 1, fp: Infinity, fn: Infinity, err: Infinity };
  for (let b = 1; b <= maxPerm; b++) {
    for (let r = 1; r <= Math.floor(maxPerm / b); r++) {
      const p = { bands: b, rows: r };
      const fp = integrate((j) => collisionProbability(j, p), 0, threshold, 60);
      const fn = integrate((j) => 1 - collisionProbability(j, p), threshold, 1, 60);
      const err = wFp * fp + wFn * fn;
      if (err < best.err) best = { bands: b, rows: r, fp, fn, err };
    }
  }
  return { bands: best.bands, rows: best.rows, fp: best.fp, fn: best.fn };
}

/** The S-curve as text rows: "J=0.8  P=0.912". */
export function sCurve(
  p: LshParams,
  points = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0],
): { j: number; p: number }[] {
  return points.map((j) => ({ j, p: collisionProbability(j, p) }));
}

export function formatSCurve(p: LshParams): string {
  return sCurve(p)
    .map(({ j, p: q }) => `  J=${j.toFixed(2)}  P(candidate)=${q.toFixed(4)}`)
    .join('\n');
}

/** Deterministic 32-bit generator (splitmix32-like). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    return fmix32(s ^ (s >>> 15));
  };
}

/** Bytes of the kernel's Hasher struct: K, bands, rows, seedA, seedB (u32), scale (f64 at 24), six pointers at 32. */
const HASHER_BYTES = 56;

export class MinHasher {
  readonly numPerm: number;
  readonly bands: number;
  readonly rows: number;
  private readonly k: ShingleKernel;
  private readonly at: number;
  /** Offsets in the kernel's memory: the signature, its filled flags, the sketch, the band hashes, the scratch. */
  private readonly sigAt: number;
  private readonly sketchAt: number;
  private readonly bandHiAt: number;
  private readonly bandLoAt: number;
  private readonly scratchAt: number;
  /** Bytes at scratchAt: the ring of the last n code units, then the text (or the shingle hashes). */
  private scratch = 0;
  private units = Buffer.alloc(0);
  /** The last signature, its 2-bit sketch (2 bits per permutation, 16 per word) and band hashes: views of the kernel's memory. */
  sig = new Uint32Array(0);
  sketch = new Uint32Array(0);
  bandHi = new Uint32Array(0);
  bandLo = new Uint32Array(0);

  constructor(p: LshParams, seed = 1) {
    this.bands = p.bands;
    this.rows = p.rows;
    this.numPerm = p.bands * p.rows;
    if (this.numPerm > 65535) throw new Error(`minhash: at most 65535 bins (bands × rows), got ${this.numPerm}`);
    const rnd = seededRandom(seed);
    const seedA = rnd();
    const seedB = rnd();
    const K = this.numPerm;
    /** For empty bin i, attempt a: the bin it borrows from is borrow[i * MAX_ATTEMPTS + a] (fixed per seed). */
    const borrow = new Uint16Array(K * MAX_ATTEMPTS);
    for (let i = 0; i < borrow.length; i++) borrow[i] = Math.floor((rnd() / 2 ** 32) * K);
    this.k = shingleKernel();
    let top = this.k.__heap_base.value;
    const alloc = (bytes: number) => {
      const at = (top + 15) & ~15;
      top = at + bytes;
      return at;
    };
    this.at = alloc(HASHER_BYTES);
    this.sigAt = alloc(4 * K);
    const filledAt = alloc(K);
    const borrowAt = alloc(borrow.byteLength);
    this.sketchAt = alloc(4 * MinHasher.sketchWords(K));
    this.bandHiAt = alloc(4 * this.bands);
    this.bandLoAt = alloc(4 * this.bands);
    this.scratchAt = alloc(0);
    this.grow(1 << 16);
    const mem = this.k.memory.buffer;
    const v = new DataView(mem, this.at, HASHER_BYTES);
    [K, this.bands, this.rows, seedA, seedB].forEach((x, i) => v.setUint32(4 * i, x, true));
    v.setFloat64(24, K / 4294967296, true);
    [this.sigAt, filledAt, borrowAt, this.sketchAt, this.bandHiAt, this.bandLoAt].forEach((x, i) =>
      v.setUint32(32 + 4 * i, x, true),
    );
    new Uint16Array(mem, borrowAt, borrow.length).set(borrow);
  }

  static sketchWords(numPerm: number): number {
    return Math.ceil(numPerm / 16);
  }

  /** At least `bytes` of scratch; the views of the memory made again (a grow detaches the old buffer). */
  private grow(bytes: number): void {
    if (bytes > this.scratch) {
      const cap = Math.max(bytes, 2 * this.scratch);
      reserveKernel(this.k, this.scratchAt, cap);
      this.scratch = cap;
    } else if (this.sig.buffer === this.k.memory.buffer) return;
    const buf = this.k.memory.buffer;
    this.units = Buffer.from(buf, this.scratchAt, this.scratch);
    this.sig = new Uint32Array(buf, this.sigAt, this.numPerm);
    this.sketch = new Uint32Array(buf, this.sketchAt, MinHasher.sketchWords(this.numPerm));
    this.bandHi = new Uint32Array(buf, this.bandHiAt, this.bands);
    this.bandLo = new Uint32Array(buf, this.bandLoAt, this.bands);
  }

  /**
   * Fill sig, sketch and band hashes from shingle hashes, by one-permutation hashing with optimal densification
   * (Li, Owen & Zhang 2012; Shrivastava 2017): each shingle hash is mixed once; its high part picks one of the K bins
   * and a second mix is its value; a bin keeps its minimum. An empty bin borrows the value of the first non-empty bin
   * in its fixed random probe sequence, so two documents agree on a bin with probability J, as with K independent
   * permutations, at O(n + K) instead of O(n · K) per document. An empty shingle set gives the all-ones signature.
   * In the kernel (dedup/minhash-kernel.c signHashes).
   */
  compute(sh: Uint32Array): void {
    this.grow(4 * sh.length);
    new Uint32Array(this.k.memory.buffer, this.scratchAt, sh.length).set(sh);
    this.k.signHashes(this.at, this.scratchAt, sh.length);
  }

  /**
   * The same as compute(charShingles(text, n)) (text.ts: character n-grams of the lowercased text, whitespace runs
   * collapsed), without the shingle hashes: the kernel (signChars) puts each one into its bin as it hashes it, over
   * the lowercased text's code units copied into its memory. Returns the number of shingles.
   */
  computeChars(text: string, n: number): number {
    const t = text.toLowerCase();
    const ring = ringBytes(n);
    this.grow(ring + 2 * t.length);
    this.units.write(t, ring, 'utf16le');
    return this.k.signChars(this.at, this.scratchAt + ring, t.length, n, this.scratchAt);
  }
}

/** Probes of an empty bin's borrow sequence before falling back to a linear scan. */
const MAX_ATTEMPTS = 32;

/**
 * Jaccard estimate from two 2-bit sketches of `numPerm` permutations: equal-bits fraction f = J + (1-J)/4,
 * so J ≈ (4f - 1) / 3.
 */
export function sketchJaccard(x: Uint32Array, xo: number, y: Uint32Array, yo: number, numPerm: number): number {
  let eq = 0;
  const words = Math.ceil(numPerm / 16);
  for (let w = 0; w < words; w++) {
    const d = x[xo + w]! ^ y[yo + w]!;
    // a 2-bit slot is equal when both of its bits are zero
    let z = ~(d | (d >>> 1)) & 0x55555555;
    const slots = Math.min(16, numPerm - w * 16);
    if (slots < 16) z &= (1 << (slots * 2)) - 1;
    z = z - ((z >>> 1) & 0x55555555);
    z = (z & 0x33333333) + ((z >>> 2) & 0x33333333);
    eq += Math.imul((z + (z >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
  }
  const f = eq / numPerm;
  return Math.max(0, (4 * f - 1) / 3);
}
