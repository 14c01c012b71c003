/**
 * CUDA backend: wraps the native addon (train/native/build/steel_cuda.node, built by train/native/build.sh on a GPU host)
 * behind the Backend interface of train/backend.ts. Every tensor stays on the GPU; values cross as Float32Array.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AdamWOptions,
  Backend,
  BackendFactory,
  DecodeSession,
  OptimizerState,
  ParamInfo,
  RaggedDecodeSession,
} from '../backend.ts';
import { type Collective, distTimeoutMs } from '../distributed/collective.ts';
import { type ModelConfig, numel, paramShapes, validateConfig } from '../config.ts';
import { Rng } from '../rng.ts';
import { setting } from '../../pipeline/settings.ts';

export interface NativeAddon {
  create(cfg: ModelConfig): unknown;
  params(h: unknown): ParamInfo[];
  init(h: unknown, seed: number): void;
  /** which: 0 param, 1 grad, 2 AdamW m, 3 AdamW v */
  get(h: unknown, which: number, name: string): Float32Array;
  set(h: unknown, which: number, name: string, v: Float32Array): void;
  zeroGrad(h: unknown): void;
  stepCount(h: unknown, set?: number): number;
  /** mean loss over the non-pad targets; with weights (B x T) the weighted sum sum_i w_i * CE_i (train/backend.ts). */
  forwardBackward(
    h: unknown,
    tokens: Int32Array,
    B: number,
    T: number,
    gradScale: number,
    backward: boolean,
    weights?: Float32Array,
  ): number;
  /** per row b: sum_t w_bt * log p(target_bt), tokens B x (T+1), weights B x T. */
  sequenceLogProbs(h: unknown, tokens: Int32Array, B: number, T: number, weights: Float32Array): Float64Array;
  forward(h: unknown, tokens: Int32Array, B: number, T: number): Float32Array;
  step(h: unknown, lr: number, b1: number, b2: number, eps: number, wd: number, clip: number): number;
  info(h: unknown): {
    device: string;
    memUsed: number;
    memTotal: number;
    paramFloats: number;
    activationBytes: number;
    allocatedBytes: number;
    gemmPlans: number;
  };
  sync(): void;
  /** frees the model's GPU memory now (the handle is unusable afterwards). */
  destroy(h: unknown): void;
  /** per-phase milliseconds accumulated since the last call (synchronising timer); enable/disable for what follows. */
  profile(h: unknown, enable: boolean): Record<string, number>;
  /** CUDA device for the models created after this call. */
  setDevice(device: number): void;
  deviceCount(): number;
  /** a new NCCL unique id (128 bytes); libs: newline-separated libnccl paths to try before the loader's search. */
  ncclId(libs: string): Uint8Array;
  /** joins the NCCL communicator (blocks until every rank has called it). */
  ncclInit(h: unknown, id: Uint8Array, rank: number, world: number, libs: string): { version: number; library: string };
  /** the next forwardBackward is this rank's last of the step: its backward pass launches the all-reduce buckets. */
  ncclOverlap(h: unknown): void;
  /** sums the gradients over all ranks in place (launches the buckets not yet launched, waits at most timeoutS). */
  allReduceGrads(h: unknown, timeoutS: number): void;
  attnTest(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    dout: Float32Array,
    B: number,
    T: number,
    H: number,
    Hk: number,
    hd: number,
  ): { o: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array };
  attnTime(B: number, T: number, H: number, Hk: number, hd: number, iters: number): { fwdMs: number; bwdMs: number };
  /** a KV-cache decoding session of B sequences of at most maxLen tokens (decode.cuh, Decoder in steel_cuda.cu). */
  decodeStart(h: unknown, B: number, maxLen: number): unknown;
  /** feeds n tokens per sequence (B x n); logits (B x V) of each sequence's last token, or its greedy id (B). */
  decodeFeed(s: unknown, tokens: Int32Array, n: number, greedy: false): Float32Array;
  decodeFeed(s: unknown, tokens: Int32Array, n: number, greedy: true): Int32Array;
  /** feeds lens[b] tokens to sequence b (tokens concatenated in sequence order); logits (B x V) or greedy ids (B). */
  decodeFeedRagged(s: unknown, tokens: Int32Array, lens: Int32Array, greedy: false): Float32Array;
  decodeFeedRagged(s: unknown, tokens: Int32Array, lens: Int32Array, greedy: true): Int32Array;
  /**
   * N >= B prompts (concatenated, lens[i] tokens each; a fresh session): the first B prefilled, then greedy steps on
   * the GPU, never a banned id, a slot whose sequence has ended taking the next prompt (continuous batching):
   * N x steps new ids, -1 after a sequence's first stop id.
   */
  decodeGreedy(
    s: unknown,
    prompts: Int32Array,
    lens: Int32Array,
    steps: number,
    stopIds: Int32Array,
    banIds: Int32Array,
  ): Int32Array;
  decodeLength(s: unknown): number;
  decodeFree(s: unknown): void;
}

/**
 * B sequences decoded together on the GPU: each feed() gives every sequence the same number of tokens (the Steel kind's
 * Soft-MoE mixes the tokens of one feed of one sequence, as in DecodeSession).
 */
export interface BatchDecodeSession {
  readonly batch: number;
  /** tokens already fed per sequence. */
  readonly length: number;
  /** tokens B x n; returns the logits B x vocabSize after each sequence's last token. */
  feed(tokens: Int32Array, n: number): Float32Array;
  /** tokens B x n; returns each sequence's greedy next id (argmax on the GPU, first index on ties). */
  feedGreedy(tokens: Int32Array, n: number): Int32Array;
  /** prompt B x n, then greedy decoding on the GPU: B x steps ids, -1 after a sequence's stopId (-1: never stops). */
  greedy(prompt: Int32Array, n: number, steps: number, stopId: number): Int32Array;
  dispose(): void;
}

const here = dirname(fileURLToPath(import.meta.url));

/** path of the built addon (override with STEEL_CUDA_ADDON). */
export function addonPath(): string {
  return setting('cudaAddon') ?? join(here, 'build', 'steel_cuda.node');
}

let cached: NativeAddon | null = null;
/** loads the addon or throws a clear error; `available()` is the non-throwing check. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!existsSync(p))
    throw new Error(`cuda backend: native addon not built (${p} is missing; run train/native/build.sh on a GPU host)`);
  const req = createRequire(import.meta.url);
  try {
    cached = req(p) as NativeAddon;
  } catch (e) {
    throw new Error(`cuda backend: cannot load ${p}: ${(e as Error).message}`);
  }
  return cached;
}

export function available(): { ok: boolean; reason?: string } {
  try {
    loadAddon();
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * Where to look for libnccl.so.2 before the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig): STEEL_NCCL_LIB,
 * then the NCCL that pip's nvidia-nccl-cu1x wheels (PyTorch's dependency) put in Python's site-packages.
 */
export function ncclCandidates(): string[] {
  const out: string[] = [];
  const lib = setting('ncclLib');
  if (lib) out.push(lib);
  const roots = ['/usr/local/lib', '/usr/lib', join(process.env.HOME ?? '/root', '.local/lib')];
  if (process.env.VIRTUAL_ENV) roots.unshift(join(process.env.VIRTUAL_ENV, 'lib'));
  if (process.env.CONDA_PREFIX) roots.unshift(join(process.env.CONDA_PREFIX, 'lib'));
  for (const r of roots) {
    let pys: string[] = [];
    try {
      pys = readdirSync(r)
        .filter((n) => /^python3(\.\d+)?$/.test(n))
        .sort()
        .reverse();
    } catch {
      continue;
    }
    for (const py of pys) {
      for (const sp of ['dist-packages', 'site-packages']) {
        const p = join(r, py, sp, 'nvidia', 'nccl', 'lib', 'libnccl.so.2');
        if (existsSync(p)) out.push(p);
      }
    }
  }
  return out;
}

/** parameters above which init() runs on the GPU (hash RNG) instead of the CPU backend's exact JS RNG. */
const JS_INIT_LIMIT = 20_000_000;

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  readonly config: ModelConfig;
  readonly addon: NativeAddon;
  readonly handle: unknown;
  private infos: ParamInfo[];

  constructor(config: ModelConfig, device?: number) {
    validateConfig(config);
    this.config = { ...config };
    this.addon = loadAddon();
    if (device !== undefined) this.addon.setDevice(device);
    this.handle = this.addon.create(this.config);
    // checkpoint order and shapes come from config.ts; the addon must know every one of them
    const native = new Map(this.addon.params(this.handle).map((p) => [p.name, p]));
    this.infos = paramShapes(this.config).map((s) => {
      const n = native.get(s.name);
      if (!n || n.size !== numel(s.shape))
        throw new Error(`cuda backend: parameter ${s.name} missing or mis-shaped in the addon`);
      return { name: s.name, shape: [...s.shape], size: numel(s.shape) };
    });
    if (native.size !== this.infos.length)
      throw new Error(`cuda backend: addon has ${native.size} parameters, config ${this.infos.length}`);
  }

  params(): ParamInfo[] {
    return this.infos.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  async init(seed: number): Promise<void> {
    const total = this.infos.reduce((a, p) => a + p.size, 0);
    if (total > JS_INIT_LIMIT) {
      this.addon.init(this.handle, seed);
      return;
    }
    // same draws as the CPU backend, so small models start bit-identical on both backends
    const rng = new Rng(seed);
    for (const s of paramShapes(this.config)) {
      const a = new Float32Array(numel(s.shape));
      if (s.init === 'ones') a.fill(1);
      else if (s.init !== 'zeros') {
        const std = s.init === 'phi' ? 1 / Math.sqrt(this.config.hiddenSize) : this.config.initStd;
        for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
      }
      this.addon.set(this.handle, 0, s.name, a);
    }
    for (const s of this.infos) {
      const z = new Float32Array(s.size);
      this.addon.set(this.handle, 2, s.name, z);
      this.addon.set(this.handle, 3, s.name, z);
    }
    this.addon.stepCount(this.handle, 0);
  }

  async getParam(name: string): Promise<Float32Array> {
    return this.addon.get(this.handle, 0, name);
  }
  async setParam(name: string, value: Float32Array): Promise<void> {
    this.addon.set(this.handle, 0, name, value);
  }
  async getGrad(name: string): Promise<Float32Array> {
    return this.addon.get(this.handle, 1, name);
  }
  async zeroGrad(): Promise<void> {
    this.addon.zeroGrad(this.handle);
  }

  async forwardBackward(
    tokens: Int32Array,
    B: number,
    T: number,
    gradScale = 1,
    weights?: Float32Array,
  ): Promise<number> {
    return this.addon.forwardBackward(this.handle, tokens, B, T, gradScale, true, weights);
  }
  async sequenceLogProbs(tokens: Int32Array, B: number, T: number, weights: Float32Array): Promise<Float64Array> {
    return this.addon.sequenceLogProbs(this.handle, tokens, B, T, weights);
  }
  /** mean loss without gradients (evaluation). */
  async loss(tokens: Int32Array, B: number, T: number): Promise<number> {
    return this.addon.forwardBackward(this.handle, tokens, B, T, 1, false);
  }
  async forward(tokens: Int32Array, B: number, T: number): Promise<Float32Array> {
    return this.addon.forward(this.handle, tokens, B, T);
  }
  async step(o: AdamWOptions): Promise<number> {
    return this.addon.step(this.handle, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.gradClip);
  }
  async getOptimizerState(): Promise<OptimizerState> {
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const p of this.infos) {
      m.set(p.name, this.addon.get(this.handle, 2, p.name));
      v.set(p.name, this.addon.get(this.handle, 3, p.name));
    }
    return { step: this.addon.stepCount(this.handle), m, v };
  }
  async setOptimizerState(s: OptimizerState): Promise<void> {
    for (const p of this.infos) {
      const m = s.m.get(p.name),
        v = s.v.get(p.name);
      this.addon.set(this.handle, 2, p.name, m ?? new Float32Array(p.size));
      this.addon.set(this.handle, 3, p.name, v ?? new Float32Array(p.size));
    }
    this.addon.stepCount(this.handle, s.step);
  }
  info() {
    return this.addon.info(this.handle);
  }

  // ---- KV-cache decoding on the GPU (decode.cuh): generate() and eval's incremental scoring use startDecode
  /** a native decode session: live() the handle (an error once disposed), dispose() frees it (again: nothing). */
  private decodeSession(B: number, maxLen: number): { live: () => unknown; dispose: () => void } {
    const a = this.addon;
    let s: unknown = a.decodeStart(this.handle, B, maxLen);
    return {
      live: () => {
        if (s === null) throw new Error('decode: session disposed');
        return s;
      },
      dispose: () => {
        if (s !== null) a.decodeFree(s);
        s = null;
      },
    };
  }
  startBatchDecode(B: number, maxLen: number): BatchDecodeSession {
    const a = this.addon;
    const { live, dispose } = this.decodeSession(B, maxLen);
    return {
      batch: B,
      get length() {
        return a.decodeLength(live());
      },
      feed: (tokens, n) => a.decodeFeed(live(), tokens, n, false),
      feedGreedy: (tokens, n) => a.decodeFeed(live(), tokens, n, true),
      greedy: (prompt, n, steps, stopId) =>
        a.decodeGreedy(live(), prompt, new Int32Array(B).fill(n), steps, Int32Array.of(stopId), new Int32Array(0)),
      dispose,
    };
  }
  /** ragged batches (prompts of different lengths) behind the interface generateBatch() uses on every backend. */
  startRaggedDecode(B: number, maxLen: number): RaggedDecodeSession {
    const a = this.addon;
    const { live, dispose } = this.decodeSession(B, maxLen);
    const cat = (prompts: ArrayLike<number>[], atLeast = false) => {
      if (atLeast ? prompts.length < B : prompts.length !== B)
        throw new Error(`decode: expected ${atLeast ? 'at least ' : ''}${B} prompts, got ${prompts.length}`);
      const lens = Int32Array.from(prompts, (p) => p.length);
      const all = new Int32Array(lens.reduce((x, y) => x + y, 0));
      let o = 0;
      for (const p of prompts) all.set(p, (o += p.length) - p.length);
      return { all, lens };
    };
    return {
      batch: B,
      async prefill(prompts) {
        const { all, lens } = cat(prompts);
        return a.decodeFeedRagged(live(), all, lens, false);
      },
      async step(tokens) {
        if (tokens.length !== B) throw new Error(`decode: step() needs ${B} tokens, got ${tokens.length}`);
        // an ended sequence (negative id) is fed id 0: its row is ignored
        return a.decodeFeed(
          live(),
          Int32Array.from(tokens, (t) => Math.max(0, t)),
          1,
          false,
        );
      },
      async greedy(prompts, steps, stopIds, banIds) {
        const { all, lens } = cat(prompts, true);
        const ids = a.decodeGreedy(live(), all, lens, steps, Int32Array.from(stopIds), Int32Array.from(banIds));
        return Array.from({ length: prompts.length }, (_, b) => {
          const row = Array.from(ids.subarray(b * steps, (b + 1) * steps));
          const end = row.indexOf(-1);
          return end < 0 ? row : row.slice(0, end);
        });
      },
      dispose,
    };
  }
  startDecode(maxLen: number): DecodeSession {
    const s = this.startBatchDecode(1, maxLen);
    return {
      get length() {
        return s.length;
      },
      async feed(tokens: ArrayLike<number>): Promise<Float32Array> {
        if (tokens.length === 0) throw new Error('decode: feed() needs at least one token');
        return s.feed(Int32Array.from(tokens), tokens.length);
      },
      dispose: () => s.dispose(),
    };
  }

  // ---- data parallelism (train/distributed/dp.ts GradAllReducer): NCCL on the device gradient buffers
  private nccl: { version: number; library: string } | null = null;
  /** joins an NCCL communicator with the other ranks; rank 0's unique id travels through the collective. */
  async attachCollective(c: Collective): Promise<void> {
    if (this.nccl || c.world === 1) return;
    const libs = ncclCandidates().join('\n');
    const id = c.rank === 0 ? this.addon.ncclId(libs) : new Uint8Array(128);
    await c.broadcast(id, 0);
    this.nccl = this.addon.ncclInit(this.handle, id, c.rank, c.world, libs);
  }
  beforeLastBackward(): void {
    if (this.nccl) this.addon.ncclOverlap(this.handle);
  }
  async allReduceGrads(c: Collective): Promise<void> {
    if (c.world === 1) return;
    if (!this.nccl) await this.attachCollective(c);
    // a rank waits for the others at most STEEL_DIST_TIMEOUT seconds (default 600), as in the TCP collective
    this.addon.allReduceGrads(this.handle, (distTimeoutMs() ?? 600_000) / 1000);
  }
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.addon.destroy(this.handle);
  }
  private disposed = false;
}

export const createBackend: BackendFactory = async (config, opts) => new CudaBackend(config, opts?.device);
