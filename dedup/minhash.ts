/**
 * MinHash signatures and LSH banding.
 *
 * Signatures by one-permutation hashing with optimal densification (see MinHasher.compute): K bins play the role of
 * K permutations; the seeds come from a fixed-seed generator so signatures are identical across runs and machines. LSH cuts it into `bands` bands of `rows` rows; each band is hashed to 64 bits.
 * Every band record also carries a 2-bit sketch of the whole signature (the low 2 bits of every minimum) so the bucket
 * merge can estimate a candidate pair's Jaccard similarity without the full signatures.
 */
import { fmix32 } from './text.ts';

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

export class MinHasher {
  readonly numPerm: number;
  readonly bands: number;
  readonly rows: number;
  private readonly seedA: number;
  private readonly seedB: number;
  /** For empty bin i, attempt a: the bin it borrows from is borrow[i * MAX_ATTEMPTS + a] (fixed per seed). */
  private readonly borrow: Uint16Array;
  readonly sig: Uint32Array;
  private readonly filled: Uint8Array;
  /** 2 bits per permutation, packed 16 per word. */
  readonly sketch: Uint32Array;
  readonly bandHi: Uint32Array;
  readonly bandLo: Uint32Array;

  constructor(p: LshParams, seed = 1) {
    this.bands = p.bands;
    this.rows = p.rows;
    this.numPerm = p.bands * p.rows;
    if (this.numPerm > 65535) throw new Error(`minhash: at most 65535 bins (bands × rows), got ${this.numPerm}`);
    const rnd = seededRandom(seed);
    this.seedA = rnd();
    this.seedB = rnd();
    const K = this.numPerm;
    this.borrow = new Uint16Array(K * MAX_ATTEMPTS);
    for (let i = 0; i < this.borrow.length; i++) this.borrow[i] = Math.floor((rnd() / 2 ** 32) * K);
    this.sig = new Uint32Array(K);
    this.filled = new Uint8Array(K);
    this.sketch = new Uint32Array(Math.ceil(K / 16));
    this.bandHi = new Uint32Array(this.bands);
    this.bandLo = new Uint32Array(this.bands);
  }

  static sketchWords(numPerm: number): number {
    return Math.ceil(numPerm / 16);
  }

  /**
   * Fill sig, sketch and band hashes from shingle hashes, by one-permutation hashing with optimal densification
   * (Li, Owen & Zhang 2012; Shrivastava 2017): each shingle hash is mixed once; its high part picks one of the K bins
   * and a second mix is its value; a bin keeps its minimum. An empty bin borrows the value of the first non-empty bin
   * in its fixed random probe sequence, so two documents agree on a bin with probability J, as with K independent
   * permutations, at O(n + K) instead of O(n · K) per document. An empty shingle set gives the all-ones signature.
   */
  compute(sh: Uint32Array): void {
    const n = sh.length;
    const K = this.numPerm;
    const sig = this.sig;
    const filled = this.filled;
    sig.fill(0xffffffff);
    const sa = this.seedA;
    const sb = this.seedB;
    const scale = K / 4294967296;
    for (let i = 0; i < n; i++) {
      let h = sh[i]! ^ sa;
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      const bin = ((h >>> 0) * scale) | 0;
      let v = Math.imul(h ^ sb, 0x27d4eb2f);
      v ^= v >>> 15;
      v = Math.imul(v, 0x165667b1);
      v = (v ^ (v >>> 13)) >>> 0;
      if (v < sig[bin]!) sig[bin] = v;
    }
    let empty = 0;
    for (let k = 0; k < K; k++) {
      // a bin is filled when some shingle landed there (the value 0xffffffff itself is possible but then harmless)
      const f = sig[k] !== 0xffffffff ? 1 : 0;
      filled[k] = f;
      empty += 1 - f;
    }
    if (empty > 0 && empty < K) {
      const br = this.borrow;
      for (let k = 0; k < K; k++) {
        if (filled[k]) continue;
        let j = -1;
        for (let a = 0; a < MAX_ATTEMPTS; a++) {
          const c = br[k * MAX_ATTEMPTS + a]!;
          if (filled[c]) {
            j = c;
            break;
          }
        }
        if (j < 0) for (j = (k + 1) % K; !filled[j]; j = (j + 1) % K); // rare: the probe sequence missed
        sig[k] = sig[j]!;
      }
    }
    const sk = this.sketch;
    sk.fill(0);
    for (let k = 0; k < K; k++) sk[k >> 4]! |= (sig[k]! & 3) << ((k & 15) * 2);
    for (let bd = 0; bd < this.bands; bd++) {
      let h1 = 0x243f6a88 ^ bd;
      let h2 = 0x85a308d3 ^ Math.imul(bd, 0x9e3779b1);
      const off = bd * this.rows;
      for (let r = 0; r < this.rows; r++) {
        const x = sig[off + r]!;
        h1 = Math.imul(h1 ^ x, 0x01000193);
        h1 = (h1 << 13) | (h1 >>> 19);
        h2 = Math.imul(h2 ^ fmix32(x ^ 0x5bd1e995), 0x27d4eb2f);
        h2 = (h2 << 17) | (h2 >>> 15);
      }
      this.bandHi[bd] = fmix32(h1 ^ this.rows);
      this.bandLo[bd] = fmix32(h2 ^ h1);
    }
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
