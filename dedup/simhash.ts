/**
 * SimHash as Steel-LLM ran it (data-juicer's document_simhash_deduplicator over the simhash-py library):
 * lowercase the text, tokenize ("space": split on ' ' and drop empty tokens; "character": characters), join each
 * window of `window` tokens (with ' ' for space tokens, nothing for characters) into a shingle, hash each shingle
 * with the first 8 bytes of its MD5 (big-endian, simhash-py's unsigned_hash), and set bit i of the 64-bit result
 * when more shingles have bit i set than clear. A text with fewer tokens than `window` has no shingles: simhash-py
 * gives it 0, so every such text (with space tokens: every short or unsegmented Chinese page) lands in one cluster
 * and all but one are removed. Here it has no simhash (null): the stage keeps it unclustered and counts it
 * (`unsigned`). Space tokens stay the default to reproduce Steel on spaced text; "character" suits Chinese.
 *
 * Near-duplicates: Hamming distance ≤ k; candidates come from splitting the 64 bits into `blocks` blocks — two
 * hashes within distance k agree on at least blocks − k blocks, so every choice of (blocks − k) blocks is a table
 * (C(6,2) = 15 tables for Steel's 6 blocks, k = 4), like simhash-py's find_all.
 */
import { createHash } from 'node:crypto';

export type SimhashTokenization = 'space' | 'character';

export interface SimhashOptions {
  tokenization: SimhashTokenization;
  window: number;
  lowercase: boolean;
}

const counts = new Int32Array(64);

/** 64-bit simhash as [hi, lo] u32 words; null when the text has fewer than `window` tokens (no shingles). */
export function simhash(text: string, o: SimhashOptions): [number, number] | null {
  const t = o.lowercase ? text.toLowerCase() : text;
  let toks: string[];
  let sep: string;
  if (o.tokenization === 'space') {
    toks = t.split(' ').filter((x) => x.length > 0);
    sep = ' ';
  } else {
    toks = Array.from(t);
    sep = '';
  }
  const n = toks.length - o.window + 1;
  if (n <= 0) return null;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const sh = o.window === 1 ? toks[i]! : toks.slice(i, i + o.window).join(sep);
    const d = createHash('md5').update(sh, 'utf8').digest();
    const hi = d.readUInt32BE(0);
    const lo = d.readUInt32BE(4);
    for (let b = 0; b < 32; b++) {
      counts[b] += (lo >>> b) & 1 ? 1 : -1;
      counts[32 + b] += (hi >>> b) & 1 ? 1 : -1;
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
