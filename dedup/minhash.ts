/**
 * MinHash signatures and LSH banding.
 *
 * Permutations are the 32-bit bijections x -> (a*x) xor b (a odd) applied to 32-bit shingle hashes; the seeds
 * come from a fixed-seed generator so signatures are identical across runs and machines. The signature of a document
 * is the per-permutation minimum. LSH cuts it into `bands` bands of `rows` rows; each band is hashed to 64 bits.
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
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  readonly sig: Uint32Array;
  private readonly work: Uint32Array;
  /** 2 bits per permutation, packed 16 per word. */
  readonly sketch: Uint32Array;
  readonly bandHi: Uint32Array;
  readonly bandLo: Uint32Array;

  constructor(p: LshParams, seed = 1) {
    this.bands = p.bands;
    this.rows = p.rows;
    this.numPerm = p.bands * p.rows;
    const rnd = seededRandom(seed);
    const padded = Math.ceil(this.numPerm / 4) * 4;
    this.a = new Int32Array(padded);
    this.b = new Int32Array(padded);
    this.work = new Uint32Array(padded);
    for (let i = 0; i < padded; i++) {
      this.a[i] = rnd() | 1;
      this.b[i] = rnd() | 0;
    }
    this.sig = this.work.subarray(0, this.numPerm);
    this.sketch = new Uint32Array(Math.ceil(this.numPerm / 16));
    this.bandHi = new Uint32Array(this.bands);
    this.bandLo = new Uint32Array(this.bands);
  }

  static sketchWords(numPerm: number): number {
    return Math.ceil(numPerm / 16);
  }

  /**
   * Fill sig, sketch and band hashes from shingle hashes. An empty shingle set gives the all-ones signature.
   * Permutation k maps x to (a_k · x) xor b_k (mod 2^32, a_k odd: a bijection); four permutations share each pass over
   * the shingles so the loop stays in registers.
   */
  compute(sh: Uint32Array): void {
    const n = sh.length;
    const { a, b } = this;
    const sig = this.work;
    for (let k = 0; k < a.length; k += 4) {
      const a0 = a[k]!;
      const a1 = a[k + 1]!;
      const a2 = a[k + 2]!;
      const a3 = a[k + 3]!;
      const b0 = b[k]!;
      const b1 = b[k + 1]!;
      const b2 = b[k + 2]!;
      const b3 = b[k + 3]!;
      let m0 = 0xffffffff;
      let m1 = 0xffffffff;
      let m2 = 0xffffffff;
      let m3 = 0xffffffff;
      for (let i = 0; i < n; i++) {
        const x = sh[i]! | 0;
        const v0 = (Math.imul(a0, x) ^ b0) >>> 0;
        if (v0 < m0) m0 = v0;
        const v1 = (Math.imul(a1, x) ^ b1) >>> 0;
        if (v1 < m1) m1 = v1;
        const v2 = (Math.imul(a2, x) ^ b2) >>> 0;
        if (v2 < m2) m2 = v2;
        const v3 = (Math.imul(a3, x) ^ b3) >>> 0;
        if (v3 < m3) m3 = v3;
      }
      sig[k] = m0;
      sig[k + 1] = m1;
      sig[k + 2] = m2;
      sig[k + 3] = m3;
    }
    const sk = this.sketch;
    sk.fill(0);
    for (let k = 0; k < this.numPerm; k++) sk[k >> 4]! |= (sig[k]! & 3) << ((k & 15) * 2);
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
