/**
 * SimHash: shingle the text, hash each distinct shingle to 64 bits, and set bit i of the result when more shingles
 * have bit i set than clear (Charikar 2002; Manku et al. 2007 for the block tables).
 *
 * Tokenisation: "auto" (default) takes character windows for CJK-dominant text (doc.lang zh/ja/ko..., else a CJK
 * share ≥ 30%: Chinese has no spaces to split on) and for texts with fewer space tokens than the window, and
 * space-separated tokens otherwise; "character" / "space" force one. Shingles are hashed without building strings: character windows by a rolling code-unit hash
 * (text.ts charShingles, lowercased, whitespace collapsed), space tokens by per-token hashes combined per window;
 * each distinct 32-bit shingle key is spread to 64 bits by two finalisers. (Steel ran data-juicer's
 * document_simhash_deduplicator: MD5 of every shingle string, space tokens only; its bits are not reproduced, its
 * parameters are: window 6, 6 blocks, Hamming ≤ 4.) Distinct shingles count once, so a boilerplate line repeated
 * through a page does not outvote its content.
 *
 * A text with fewer tokens than `window` has no shingles: simhash-py gives it 0, so every such text (with space
 * tokens: every short or unsegmented Chinese page) lands in one cluster and all but one are removed. Here it has no
 * simhash (null): the stage keeps it unclustered and counts it (`unsigned`).
 *
 * Near-duplicates: Hamming distance ≤ k; candidates come from splitting the 64 bits into `blocks` blocks — two
 * hashes within distance k agree on at least blocks − k blocks, so every choice of (blocks − k) blocks is a table
 * (C(6,2) = 15 tables for 6 blocks, k = 4), like simhash-py's find_all.
 */
import { charShingles, fmix32, shingleMode, spaceShingles } from './text.ts';

export type SimhashTokenization = 'auto' | 'space' | 'character';

export interface SimhashOptions {
  tokenization: SimhashTokenization;
  window: number;
  lowercase: boolean;
}

const counts = new Int32Array(64);
let keys = new Uint32Array(1 << 14);

/** 64-bit simhash as [hi, lo] u32 words; null when the text has fewer than `window` tokens (no shingles). */
export function simhash(text: string, o: SimhashOptions, lang?: string): [number, number] | null {
  const tok = o.tokenization === 'auto' ? (shingleMode(lang, text) === 'char' ? 'character' : 'space') : o.tokenization;
  let sh = tok === 'space' ? spaceShingles(text, o.window, o.lowercase) : undefined;
  // auto: a text with fewer space tokens than the window (short, or mostly unspaced) takes character windows
  if (!sh || (sh.length === 0 && o.tokenization === 'auto')) sh = charShingles(text, o.window, o.lowercase, false);
  const n = sh.length;
  if (n === 0) return null;
  if (keys.length < n) keys = new Uint32Array(n * 2);
  const k = keys.subarray(0, n);
  k.set(sh);
  k.sort();
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const x = k[i]!;
    if (i > 0 && x === k[i - 1]) continue;
    const lo = fmix32(x ^ 0x3c6ef372);
    const hi = fmix32(x ^ 0xa54ff53a);
    for (let b = 0; b < 32; b++) {
      counts[b]! += ((lo >>> b) & 1) * 2 - 1;
      counts[32 + b]! += ((hi >>> b) & 1) * 2 - 1;
    }
  }
  let hi = 0;
  let lo = 0;
  for (let b = 0; b < 32; b++) {
    if (counts[b]! > 0) lo |= 1 << b;
    if (counts[32 + b]! > 0) hi |= 1 << b;
  }
  return [hi >>> 0, lo >>> 0];
}

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

export function hamming(ahi: number, alo: number, bhi: number, blo: number): number {
  return popcount32((ahi ^ bhi) >>> 0) + popcount32((alo ^ blo) >>> 0);
}

/** Bit ranges [start, end) of the blocks over bit positions 0..63 (the first 64 % blocks blocks are one bit wider). */
export function blockRanges(blocks: number): [number, number][] {
  const base = Math.floor(64 / blocks);
  const extra = 64 % blocks;
  const out: [number, number][] = [];
  let s = 0;
  for (let i = 0; i < blocks; i++) {
    const w = base + (i < extra ? 1 : 0);
    out.push([s, s + w]);
    s += w;
  }
  return out;
}

/** Every choice of `keep` blocks out of `blocks` (the tables). */
export function tables(blocks: number, maxDistance: number): number[][] {
  const keep = blocks - maxDistance;
  if (keep < 1) throw new Error(`simhash: blocks (${blocks}) must exceed the Hamming distance (${maxDistance})`);
  const out: number[][] = [];
  const rec = (start: number, acc: number[]) => {
    if (acc.length === keep) return void out.push(acc.slice());
    for (let i = start; i < blocks; i++) rec(i + 1, [...acc, i]);
  };
  rec(0, []);
  return out;
}

function bit(hi: number, lo: number, i: number): number {
  return i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
}

/** Table key of a simhash: the bits of the table's blocks, mixed into [hi, lo] (64 bits). */
export function tableKey(
  hi: number,
  lo: number,
  table: number[],
  ranges: [number, number][],
  tableIndex: number,
): [number, number] {
  let k1 = 0x9e3779b9 ^ tableIndex;
  let k2 = 0;
  let nb = 0;
  for (const b of table) {
    const [s, e] = ranges[b]!;
    for (let i = s; i < e; i++) {
      const v = bit(hi, lo, i);
      if (nb < 32) k2 |= v << nb;
      else k1 ^= v << (nb - 32);
      nb++;
    }
  }
  return [k1 >>> 0, k2 >>> 0];
}
