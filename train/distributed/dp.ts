/**
 * Data-parallel helpers used by the trainer.
 *
 * Batch semantics: a run has a fixed global batch of M micro-batches of `microBatch` blocks per optimizer step
 * (M = gradAccum x world when the run starts; it is saved in every checkpoint as `dist.globalMicroBatches` and kept on
 * resume, whatever the new world size). Every rank reads the same global block stream (the data loader opened as one
 * rank over all shards, same seed), so all ranks agree on the order; of each step's M x microBatch blocks, rank r takes
 * the micro-batches [floor(r*M/W), floor((r+1)*M/W)) (contiguous, in stream order). Each micro-batch gradient is
 * scaled by 1/M and the all-reduce sums them, so the update equals the single-process update with gradAccum = M.
 * The data position is global (blocks consumed by all ranks together), which is why a checkpoint resumes on any
 * number of processes: the new ranks re-split the following global batches.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend.ts';
import type { Collective } from './collective.ts';

export { TcpCollective, resolveRankWorld, type Collective } from './collective.ts';

/** micro-batch range [lo, hi) of rank r out of world W for M micro-batches per step. */
export function shareOf(rank: number, world: number, M: number): [number, number] {
  return [Math.floor((rank * M) / world), Math.floor(((rank + 1) * M) / world)];
}

/** what a checkpoint records about the data-parallel layout (trainer.json `dist`). */
export interface DistInfo {
  /** world size of the run that wrote the checkpoint. */
  world: number;
  /** micro-batches per optimizer step over all ranks (the global batch is globalMicroBatches x microBatch blocks). */
  globalMicroBatches: number;
  microBatch: number;
  /** blocks consumed by all ranks together since the start (all epochs) = the data position. */
  consumedBlocks: number;
  /** per rank: its micro-batch range within each step's global batch and the stream position of its next block. */
  ranks: { rank: number; microBatches: [number, number]; blocksPerStep: number }[];
}

export function distInfo(world: number, M: number, micro: number, consumed: number): DistInfo {
  const ranks = [];
  for (let r = 0; r < world; r++) {
    const [lo, hi] = shareOf(r, world, M);
    ranks.push({ rank: r, microBatches: [lo, hi] as [number, number], blocksPerStep: (hi - lo) * micro });
  }
  return { world, globalMicroBatches: M, microBatch: micro, consumedBlocks: consumed, ranks };
}

interface GradRaw {
  gradRaw(name: string): Float32Array | Float64Array;
}
interface GradSettable {
  setGrad(name: string, v: Float32Array): Promise<void>;
}
/**
 * A backend may all-reduce its own gradients (the CUDA backend: NCCL on the device buffers). attachCollective is
 * called once by every rank at the same point before training (it may use the collective, e.g. to share an NCCL id);
 * beforeLastBackward tells it that the next forwardBackward is this rank's last micro-batch of the step, so it may
 * start reducing gradients while that backward pass runs; allReduceGrads then completes the sum.
 */
export interface GradAllReducer {
  attachCollective?(c: Collective): Promise<void>;
  beforeLastBackward?(): void;
  allReduceGrads(c: Collective): Promise<void>;
}

export interface GradReducer {
  /** sums every parameter gradient over all ranks, in place. */
  reduce: () => Promise<void>;
  /** call right before this rank's last forwardBackward of a step (no-op for backends that cannot overlap). */
  beforeLast: () => void;
}

/**
 * Sets up the gradient sum over all ranks for this backend: its own allReduceGrads if it has one (after
 * attachCollective), else one flat fp32 buffer through the collective (CPU backend: its live gradient buffers; other
 * backends: getGrad + setGrad). Every rank must call it at the same point.
 */
export async function gradReducer(be: Backend, c: Collective): Promise<GradReducer> {
  const b = be as unknown as Partial<GradRaw & GradSettable & GradAllReducer>;
  if (typeof b.allReduceGrads === 'function') {
    if (typeof b.attachCollective === 'function') await b.attachCollective(c);
    return { reduce: () => b.allReduceGrads!(c), beforeLast: () => b.beforeLastBackward?.() };
  }
  return { reduce: hostGradAllReducer(be, c), beforeLast: () => {} };
}

function hostGradAllReducer(be: Backend, c: Collective): () => Promise<void> {
  const b = be as unknown as Partial<GradRaw & GradSettable>;
  const params = be.params();
  const total = params.reduce((a, p) => a + p.size, 0);
  const hasRaw = typeof b.gradRaw === 'function' && b.gradRaw(params[0].name) instanceof Float32Array;
  if (!hasRaw && typeof b.setGrad !== 'function') {
    throw new Error(
      `backend ${be.name} cannot take part in data-parallel training yet: it needs allReduceGrads(collective) (NCCL) or setGrad(name, values)`,
    );
  }
  const flat = new Float32Array(total);
  return async () => {
    let off = 0;
    for (const p of params) {
      const g = hasRaw ? (b.gradRaw!(p.name) as Float32Array) : await be.getGrad(p.name);
      flat.set(g, off);
      off += p.size;
    }
    await c.allReduceSum(flat);
    off = 0;
    for (const p of params) {
      const v = flat.subarray(off, off + p.size);
      if (hasRaw) (b.gradRaw!(p.name) as Float32Array).set(v);
      else await b.setGrad!(p.name, v);
      off += p.size;
    }
  };
}

/** sha256 of every parameter's bytes (checkpoint order), for the replicas-agree check. */
export async function paramDigest(be: Backend): Promise<Uint8Array> {
  const h = createHash('sha256');
  for (const p of be.params()) {
    const a = await be.getParam(p.name);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return new Uint8Array(h.digest());
}

/**
 * Checks that every rank holds the same state as rank 0 (weights digest plus a few numbers: step, data position, batch
 * layout). Every rank learns the outcome, so all fail together with a message naming the differing ranks.
 */
export async function checkReplicas(
  c: Collective,
  digest: Uint8Array,
  numbers: number[],
  what: string[],
): Promise<void> {
  if (c.world === 1) return;
  const mine = new Uint8Array(digest.length + 8 * numbers.length);
  mine.set(digest);
  new Float64Array(mine.buffer, digest.length, numbers.length).set(numbers);
  const root = Uint8Array.from(mine);
  await c.broadcast(root, 0);
  const diff: string[] = [];
  if (!Buffer.from(root.subarray(0, digest.length)).equals(Buffer.from(digest))) diff.push('weights');
  const rn = new Float64Array(root.buffer.slice(digest.length));
  numbers.forEach((n, i) => {
    if (rn[i] !== n) diff.push(`${what[i]} ${n} (rank 0: ${rn[i]})`);
  });
  const flags = new Float64Array(c.world);
  flags[c.rank] = diff.length ? 1 : 0;
  await c.allReduceSum(flags);
  const bad = [...flags].map((f, r) => (f ? r : -1)).filter((r) => r >= 0);
  if (bad.length)
    throw new Error(
      `data-parallel ranks disagree with rank 0 (ranks ${bad.join(', ')})${diff.length ? `; this rank (${c.rank}) differs in: ${diff.join(', ')}` : ''}. Every rank must see the same run folder, data and options.`,
    );
}
