/**
 * Training data loader over token shards (tokenizer/SHARDS.md) with Steel-LLM's exact-resume semantics.
 *
 * - This rank reads shards[rank::world] (manifest order). Each shard's token stream is cut into non-overlapping blocks
 *   of seqLen+1 tokens; the tail of a shard is padded with the pad id (ignored by the loss), so no token is lost.
 * - Every epoch the rank's blocks are put in a seeded random order (the permutation), optionally with per-source
 *   mixture weights (a block's source is the source of most of its tokens; weight w repeats it floor(w) times plus one
 *   more with probability frac(w) each epoch; Steel used uniform sampling = all weights 1).
 * - The state (file list with content hashes, seed, epoch, cursor, RNG state, permutation) is saved in every checkpoint.
 *   On resume every known file is re-hashed (files over 50 MB: first and last 25 MB, as Steel) and any mismatch is an
 *   error. Shards that are in the manifest but not in the state are new data: they are hashed (a file whose content is
 *   already known is rejected as a duplicate), their blocks are appended, and only the unconsumed tail of the current
 *   permutation is reshuffled together with them.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readManifest, readShardTokens, verifyManifest } from '../tokenizer/shards.ts';
import { Rng, type RngState } from './rng.ts';

const BIG = 50 * 1024 * 1024,
  EDGE = 25 * 1024 * 1024;

/** Steel's content hash: sha256 of the whole file, or of its first and last 25 MB (plus size) for files over 50 MB. */
export function contentHash(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(8 << 20);
    const hashRange = (start: number, len: number) => {
      let done = 0;
      while (done < len) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, len - done), start + done);
        if (n <= 0) break;
        h.update(buf.subarray(0, n));
        done += n;
      }
    };
    if (size > BIG) {
      h.update(`size:${size};`);
      hashRange(0, EDGE);
      hashRange(size - EDGE, EDGE);
      return 'sha256-ends:' + h.digest('hex');
    }
    hashRange(0, size);
    return 'sha256:' + h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

export interface DataFile {
  file: string;
  hash: string;
  bytes: number;
  tokens: number;
  /** blocks of this file and the global index of its first block. */
  blocks: number;
  firstBlock: number;
}

export interface DataStateJson {
  version: 1;
  dir: string;
  rank: number;
  world: number;
  blockLen: number;
  seed: number;
  padId: number;
  weights: Record<string, number> | null;
  files: DataFile[];
  epoch: number;
  cursor: number;
  rng: RngState;
  /** blocks served so far (all epochs). */
  served: number;
}

export interface DataState {
  json: DataStateJson;
  perm: Int32Array;
}

export interface DataLoaderOptions {
  dir: string;
  seqLen: number;
  seed: number;
  padId: number;
  rank?: number;
  world?: number;
  weights?: Record<string, number> | null;
  /** resume from this state (verifies files, appends new shards). */
  state?: DataState;
  /** keep at most this many bytes of shard tokens in memory (default 2 GiB). */
  cacheBytes?: number;
  log?: (msg: string) => void;
}

export class DataLoader {
  private s: DataStateJson;
  private perm: Int32Array;
  private rng: Rng;
  private cache = new Map<string, Uint32Array>();
  private cacheBytes: number;
  private blockSources: string[] | null = null;
  private log: (m: string) => void;
  /** shard files read and decoded so far (cache misses). */
  shardLoads = 0;

  private constructor(s: DataStateJson, perm: Int32Array, opts: DataLoaderOptions) {
    this.s = s;
    this.perm = perm;
    this.rng = new Rng(s.rng);
    this.cacheBytes = opts.cacheBytes ?? 2 ** 31; // (2 << 30 overflows to a negative int32 in JavaScript)
    this.log = opts.log ?? (() => {});
  }

  static async open(opts: DataLoaderOptions): Promise<DataLoader> {
    const rank = opts.rank ?? 0,
      world = opts.world ?? 1;
    if (rank < 0 || rank >= world) throw new Error(`data: rank ${rank} outside world ${world}`);
    const manifest = readManifest(opts.dir);
    const mine = manifest.shards.filter((_, i) => i % world === rank);
    const blockLen = opts.seqLen + 1;
    const log = opts.log ?? (() => {});
    // every start (fresh or resumed): sizes of this rank's shards always, sha256 once per shard (cached by size+mtime)
    const v = verifyManifest(opts.dir, { shards: mine, cache: true });
    if (v.hashed) log(`data: ${v.hashed} of ${mine.length} shard(s) hashed and match the manifest`);
    if (!opts.state) {
      const files: DataFile[] = [];
      const seen = new Map<string, string>();
      let nb = 0;
      for (const sh of mine) {
        const p = join(opts.dir, sh.file);
        if (!existsSync(p)) throw new Error(`data: ${p} listed in the manifest is missing`);
        const hash = contentHash(p);
        if (seen.has(hash)) throw new Error(`data: ${p} has the same content as ${seen.get(hash)} (duplicate shard)`);
        seen.set(hash, p);
        const blocks = Math.ceil(sh.tokens / blockLen);
        files.push({ file: sh.file, hash, bytes: sh.bytes, tokens: sh.tokens, blocks, firstBlock: nb });
        nb += blocks;
      }
      if (nb === 0) throw new Error(`data: rank ${rank}/${world} has no blocks in ${opts.dir} (${mine.length} shards)`);
      const s: DataStateJson = {
        version: 1,
        dir: opts.dir,
        rank,
        world,
        blockLen,
        seed: opts.seed,
        padId: opts.padId,
        weights: opts.weights ?? null,
        files,
        epoch: 0,
        cursor: 0,
        rng: new Rng((opts.seed ^ Math.imul(rank + 1, 0x9e3779b1)) >>> 0).state(),
        served: 0,
      };
      const dl = new DataLoader(s, new Int32Array(0), opts);
      await dl.newEpochPerm(0);
      return dl;
    }
    // ---- resume
    const st = structuredClone(opts.state.json);
    if (st.version !== 1) throw new Error(`data state: unknown version ${st.version}`);
    if (st.rank !== rank || st.world !== world)
      throw new Error(`data state was saved for rank ${st.rank}/${st.world}, now ${rank}/${world}`);
    if (st.blockLen !== blockLen)
      throw new Error(`data state has blocks of ${st.blockLen} tokens, the model needs ${blockLen}`);
    const problems: string[] = [];
    const known = new Map<string, string>();
    for (const f of st.files) {
      const p = join(opts.dir, f.file);
      if (!existsSync(p)) {
        problems.push(`${p}: missing`);
        continue;
      }
      const h = contentHash(p);
      if (h !== f.hash)
        problems.push(
          `${p}: content changed since the checkpoint (hash ${h.slice(0, 24)}… != ${f.hash.slice(0, 24)}…)`,
        );
      known.set(f.hash, f.file);
    }
    if (problems.length)
      throw new Error(`data: shards do not match the checkpoint's data state:\n  ${problems.join('\n  ')}`);
    st.dir = opts.dir;
    const knownNames = new Set(st.files.map((f) => f.file));
    const added: number[] = [];
    let nb = st.files.reduce((a, f) => a + f.blocks, 0);
    for (const sh of mine) {
      if (knownNames.has(sh.file)) continue;
      const p = join(opts.dir, sh.file);
      if (!existsSync(p)) throw new Error(`data: ${p} listed in the manifest is missing`);
      const hash = contentHash(p);
      if (known.has(hash))
        throw new Error(`data: new shard ${p} duplicates ${known.get(hash)} already in the run (rejected)`);
      known.set(hash, sh.file);
      const blocks = Math.ceil(sh.tokens / blockLen);
      st.files.push({ file: sh.file, hash, bytes: sh.bytes, tokens: sh.tokens, blocks, firstBlock: nb });
      for (let b = 0; b < blocks; b++) added.push(nb + b);
      nb += blocks;
      log(`data: added new shard ${sh.file} (${blocks} blocks)`);
    }
    const dl = new DataLoader(st, Int32Array.from(opts.state.perm), opts);
    if (added.length) {
      // only the unconsumed tail (plus the new blocks) is reshuffled
      const tail = Array.from(dl.perm.subarray(st.cursor));
      const newIds = await dl.expandWeighted(added);
      const merged = Int32Array.from([...tail, ...newIds]);
      dl.rng.shuffle(merged);
      const perm = new Int32Array(st.cursor + merged.length);
      perm.set(dl.perm.subarray(0, st.cursor));
      perm.set(merged, st.cursor);
      dl.perm = perm;
      dl.s.rng = dl.rng.state();
    }
    return dl;
  }

  get numBlocks(): number {
    return this.s.files.reduce((a, f) => a + f.blocks, 0);
  }
  get epoch(): number {
    return this.s.epoch;
  }
  get cursor(): number {
    return this.s.cursor;
  }
  get epochLength(): number {
    return this.perm.length;
  }
  get files(): readonly DataFile[] {
    return this.s.files;
  }

  state(): DataState {
    return { json: structuredClone({ ...this.s, rng: this.rng.state() }), perm: Int32Array.from(this.perm) };
  }

  private async loadFile(f: DataFile): Promise<Uint32Array> {
    let t = this.cache.get(f.file);
    if (t) {
      this.cache.delete(f.file); // LRU order
      this.cache.set(f.file, t);
      return t;
    }
    const p = join(this.s.dir, f.file);
    const r = await readShardTokens(p);
    this.shardLoads++;
    if (r.tokens.length !== f.tokens)
      throw new Error(`data: ${p} has ${r.tokens.length} tokens, the manifest said ${f.tokens}`);
    t = r.tokens;
    let total = t.byteLength;
    for (const v of this.cache.values()) total += v.byteLength;
    for (const [k, v] of this.cache) {
      if (total <= this.cacheBytes) break;
      this.cache.delete(k);
      total -= v.byteLength;
    }
    this.cache.set(f.file, t);
    return t;
  }

  private fileOf(block: number): DataFile {
    const fs = this.s.files;
    let lo = 0,
      hi = fs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (fs[mid].firstBlock <= block) lo = mid;
      else hi = mid - 1;
    }
    return fs[lo];
  }

  /** copies block `id` into out[off .. off+blockLen), pad-filled past the end of its shard. */
  async readBlock(id: number, out: Int32Array, off: number): Promise<void> {
    const f = this.fileOf(id);
    const toks = await this.loadFile(f);
    const start = (id - f.firstBlock) * this.s.blockLen;
    const end = Math.min(start + this.s.blockLen, toks.length);
    for (let i = start; i < end; i++) out[off + i - start] = toks[i];
    for (let i = end - start; i < this.s.blockLen; i++) out[off + i] = this.s.padId;
  }

  /** per-block majority source (only needed with mixture weights). */
  private async sources(): Promise<string[]> {
    if (this.blockSources && this.blockSources.length === this.numBlocks) return this.blockSources;
    const out: string[] = [];
    for (const f of this.s.files) {
      const r = await readShardTokens(join(this.s.dir, f.file), { withMeta: true });
      const L = this.s.blockLen;
      for (let b = 0; b < f.blocks; b++) {
        const lo = b * L,
          hi = Math.min(lo + L, r.tokens.length);
        const count = new Map<string, number>();
        // documents overlapping [lo, hi)
        let d = upperBound(r.docOffsets, lo) - 1;
        for (; d < r.numDocs && r.docOffsets[d] < hi; d++) {
          if (d < 0) continue;
          const a = Math.max(lo, r.docOffsets[d]),
            z = Math.min(hi, r.docOffsets[d + 1]);
          if (z > a) count.set(r.sources![d], (count.get(r.sources![d]) ?? 0) + (z - a));
        }
        let best = '',
          bn = -1;
        for (const [k, v] of count)
          if (v > bn) {
            best = k;
            bn = v;
          }
        out.push(best);
      }
    }
    this.blockSources = out;
    return out;
  }

  /** applies the mixture weights to a list of block ids (uses the RNG only when weights are fractional). */
  private async expandWeighted(ids: number[]): Promise<number[]> {
    const w = this.s.weights;
    if (!w) return ids;
    const src = await this.sources();
    const out: number[] = [];
    for (const id of ids) {
      const wt = w[src[id]] ?? w['*'] ?? 1;
      const whole = Math.floor(wt);
      for (let k = 0; k < whole; k++) out.push(id);
      if (wt - whole > 0 && this.rng.next() < wt - whole) out.push(id);
    }
    return out;
  }

  private async newEpochPerm(epoch: number): Promise<void> {
    const all = Array.from({ length: this.numBlocks }, (_, i) => i);
    const ids = await this.expandWeighted(all);
    if (ids.length === 0) throw new Error('data: the mixture weights leave no blocks in this epoch');
    this.perm = this.rng.shuffle(Int32Array.from(ids));
    this.s.epoch = epoch;
    this.s.cursor = 0;
    this.s.rng = this.rng.state();
  }

  /** next B blocks as B x blockLen int32 (raw token ids). */
  async next(B: number): Promise<Int32Array> {
    const L = this.s.blockLen,
      out = new Int32Array(B * L);
    for (let b = 0; b < B; b++) {
      if (this.s.cursor >= this.perm.length) {
        await this.newEpochPerm(this.s.epoch + 1);
        this.log(`data: epoch ${this.s.epoch} begins (${this.perm.length} blocks)`);
      }
      await this.readBlock(this.perm[this.s.cursor], out, b * L);
      this.s.cursor++;
      this.s.served++;
    }
    return out;
  }

  /**
   * Data parallelism: consumes the next `total` blocks of the stream (exactly as next(total) would, epoch boundaries
   * included) but reads only blocks [from, from+count) of them, returned as count x blockLen int32. Every rank calls
   * this with the same `total`, so all ranks keep the same (global) position.
   */
  async nextShare(total: number, from: number, count: number): Promise<Int32Array> {
    if (from < 0 || count < 0 || from + count > total)
      throw new Error(`data: share [${from}, ${from + count}) outside ${total} blocks`);
    const L = this.s.blockLen,
      out = new Int32Array(count * L);
    for (let b = 0; b < total; b++) {
      if (this.s.cursor >= this.perm.length) {
        await this.newEpochPerm(this.s.epoch + 1);
        this.log(`data: epoch ${this.s.epoch} begins (${this.perm.length} blocks)`);
      }
      if (b >= from && b < from + count) await this.readBlock(this.perm[this.s.cursor], out, (b - from) * L);
      this.s.cursor++;
      this.s.served++;
    }
    return out;
  }

  /** blocks consumed so far (all epochs). */
  get served(): number {
    return this.s.served;
  }
}

function upperBound(a: Uint32Array, x: number): number {
  let lo = 0,
    hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m] <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * Compact vocabulary over every shard of a folder: the sorted distinct token ids (always including `extra`), or with
 * `cap` only the cap most frequent ones (ties: lower id) plus `extra`. Also returns the unigram entropy (nats/token)
 * of the stream after mapping out-of-vocabulary ids to one class (`unk`), the baseline a trained model must beat.
 */
export async function collectTokenIds(dir: string, extra: number[], cap?: number): Promise<Int32Array> {
  return (await vocabStats(dir, extra, cap)).ids;
}

export async function vocabStats(
  dir: string,
  extra: number[],
  cap?: number,
): Promise<{
  ids: Int32Array;
  distinct: number;
  tokens: number;
  unigramEntropy: number;
  mappedEntropy: number;
  coverage: number;
}> {
  const m = readManifest(dir);
  const counts = new Float64Array(Math.max(m.tokenizer?.vocab_size ?? 0, 151936, ...extra.map((x) => x + 1)));
  let n = 0;
  for (const sh of m.shards) {
    const r = await readShardTokens(join(dir, sh.file));
    for (let i = 0; i < r.tokens.length; i++) {
      const t = r.tokens[i];
      if (t >= counts.length)
        throw new Error(`data: ${sh.file} has token id ${t} beyond the vocabulary (${counts.length})`);
      counts[t]++;
    }
    n += r.tokens.length;
  }
  const present: number[] = [];
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) present.push(i);
  let keep = present;
  if (cap && present.length > cap) keep = [...present].sort((a, b) => counts[b] - counts[a] || a - b).slice(0, cap);
  const set = new Set<number>([...keep, ...extra]);
  const ids = Int32Array.from([...set].sort((a, b) => a - b));
  let H = 0,
    Hm = 0,
    other = 0,
    covered = 0;
  for (const i of present) {
    const p = counts[i] / n;
    H -= p * Math.log(p);
    if (set.has(i)) {
      Hm -= p * Math.log(p);
      covered += counts[i];
    } else other += counts[i];
  }
  if (other > 0) Hm -= (other / n) * Math.log(other / n);
  return {
    ids,
    distinct: present.length,
    tokens: n,
    unigramEntropy: H,
    mappedEntropy: Hm,
    coverage: n ? covered / n : 1,
  };
}
