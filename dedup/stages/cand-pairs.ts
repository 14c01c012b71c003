/**
 * A verify sets task's candidate documents and pairs from the cand/ records of its groups (dedup/stages/verify.ts
 * rangeCandidates), in the bucket kernel (dedup/stages/bucket-kernel.c candScan, pairsSortUnique): the records' scan
 * and the pairs' sort ran as JavaScript loops that each process compiled with TurboFan, and compiled again after each
 * of their deopts (a loop's on-stack compile meeting the next loop's code without type feedback): with two workers
 * both lanes paid it. The kernel runs at full speed from its first call.
 */
import { instantiate, type KernelMemory } from '../../pipeline/wasm.ts';

/** The kernel's exports used here (the rest: dedup/stages/buckets.ts). */
interface CandKernel extends KernelMemory {
  candStart(): void;
  candOthers(): number;
  candLikely(): number;
  candScan(
    recs: number,
    n: number,
    first: number,
    span: number,
    atLeast: number,
    marks: number,
    area: number,
    cap: number,
  ): void;
  pairsSortUnique(pairs: number, n: number, first: number, span: number, at: number, byU: number, out: number): number;
}

/** The most bytes of a kernel's memory (WebAssembly's 32-bit addresses). */
const KERNEL_BYTES = 2 ** 32;

const align16 = (x: number) => Math.ceil(x / 16) * 16;

/** The memory of the last RangePairs released (release), until spareWords takes it or dropSpare drops it. */
let spare: KernelMemory | undefined;

/**
 * A buffer of `words` words (contents undefined), owned by the caller: the memory a spent RangePairs released, grown
 * when needed, when there is one (it is then no longer spare), else a new array. That memory's pages are already
 * touched: at 75 MB a lane's sets task leaves 12–30 MB of it, which the other lane's sets file (41–45 MB, read by the
 * verify task in the same process) then takes without fresh page faults (~10k of them: ~60% of that read's CPU).
 */
export function spareWords(words: number): Uint32Array {
  const mem = spare;
  spare = undefined;
  const bytes = 4 * words;
  if (!mem || bytes > KERNEL_BYTES) return new Uint32Array(words);
  if (bytes > mem.memory.buffer.byteLength) mem.memory.grow(Math.ceil((bytes - mem.memory.buffer.byteLength) / 65536));
  return new Uint32Array(mem.memory.buffer, 0, words);
}

/** Drop the spare memory (spareWords), if any. */
export function dropSpare(): void {
  spare = undefined;
}

/**
 * The candidate documents and pairs of the nodes first .. end - 1, from records (u, v, estimate × CAND_EST_SCALE)
 * passed a run at a time (scan): every node of the range that is u or v of some record (marks), and the pairs with u
 * in the range and u < v, each once (a pair has a record per band it shares), ascending by u and v: those whose
 * estimate is at least `atLeast` (likely) and the others. `capacity`: the records that will be scanned, at most.
 */
export class RangePairs {
  private readonly k: CandKernel;
  private readonly span: number;
  private readonly marksAt: number;
  private readonly areaAt: number;
  private readonly chunkAt: number;
  private left: number;

  constructor(
    private readonly first: number,
    end: number,
    private readonly atLeast: number,
    private readonly capacity: number,
  ) {
    this.k = instantiate<CandKernel>(new URL('./bucket-kernel.wasm', import.meta.url));
    this.span = Math.max(0, end - first);
    this.marksAt = align16(this.k.__heap_base.value);
    // the pairs' area: the others from its start, the likely ones from its end (together at most the records)
    this.areaAt = align16(this.marksAt + this.span);
    this.chunkAt = this.areaAt + 8 * capacity;
    this.left = capacity;
    this.reserve(this.chunkAt);
    this.k.candStart();
  }

  /** Records (u, v, estimate: whole records) of the range's cand/ files. */
  scan(recs: Uint32Array): void {
    const n = Math.floor(recs.length / 3);
    if (n > this.left) throw new Error(`RangePairs: more than the ${this.capacity} records it was made for`);
    this.left -= n;
    this.reserve(this.chunkAt + 12 * n);
    new Uint32Array(this.k.memory.buffer, this.chunkAt, 3 * n).set(recs.subarray(0, 3 * n));
    const { first, span, atLeast, marksAt, areaAt, capacity } = this;
    this.k.candScan(this.chunkAt, n, first, span, atLeast, marksAt, areaAt, capacity);
  }

  /**
   * The range's marks (a byte per node, 1 when it is in some record: a copy) and its pairs as u, v, u, v, …: views
   * into the kernel's memory (this object is spent).
   */
  finish(): { marks: Uint8Array; likely: Uint32Array; others: Uint32Array } {
    const { k, first, span, areaAt, capacity } = this;
    const others = k.candOthers();
    const likely = k.candLikely();
    // scratch of the sort where the records were copied: a count per node of the range, then the pairs' v
    const atAt = this.chunkAt;
    const byUAt = align16(atAt + 4 * (span + 1));
    this.reserve(byUAt + 4 * Math.max(others, likely));
    const ko = k.pairsSortUnique(areaAt, others, first, span, atAt, byUAt, areaAt);
    const likelyAt = areaAt + 8 * (capacity - likely);
    const kl = k.pairsSortUnique(likelyAt, likely, first, span, atAt, byUAt, likelyAt);
    const buf = k.memory.buffer;
    return {
      marks: new Uint8Array(buf, this.marksAt, span).slice(),
      likely: new Uint32Array(buf, likelyAt, 2 * kl),
      others: new Uint32Array(buf, areaAt, 2 * ko),
    };
  }

  /**
   * The kernel given up (its calls done, the views `finish` gave no longer used): its memory, whose pages the scan
   * and the sort touched, becomes this process's spare buffer (spareWords).
   */
  release(): void {
    spare = this.k;
  }

  /** The kernel's memory at least `bytes` long. */
  private reserve(bytes: number): void {
    if (bytes > KERNEL_BYTES)
      throw new Error(`candidate pairs of nodes ${this.first}..: ${bytes} bytes, past the kernel's ${KERNEL_BYTES}`);
    const mem = this.k.memory;
    if (bytes > mem.buffer.byteLength) mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / 65536));
  }
}
