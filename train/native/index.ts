/**
 * CUDA backend: wraps the native addon (train/native/build/steel_cuda.node, built by train/native/build.sh on a GPU host)
 * behind the Backend interface of train/backend.ts. Every tensor stays on the GPU; values cross as Float32Array.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdamWOptions, Backend, BackendFactory, OptimizerState, ParamInfo } from '../backend.ts';
import { type ModelConfig, numel, paramShapes, validateConfig } from '../config.ts';
import { Rng } from '../rng.ts';

export interface NativeAddon {
  create(cfg: ModelConfig): unknown;
  params(h: unknown): ParamInfo[];
  init(h: unknown, seed: number): void;
  /** which: 0 param, 1 grad, 2 AdamW m, 3 AdamW v */
  get(h: unknown, which: number, name: string): Float32Array;
  set(h: unknown, which: number, name: string, v: Float32Array): void;
  zeroGrad(h: unknown): void;
  stepCount(h: unknown, set?: number): number;
  forwardBackward(h: unknown, tokens: Int32Array, B: number, T: number, gradScale: number, backward: boolean): number;
  forward(h: unknown, tokens: Int32Array, B: number, T: number): Float32Array;
  step(h: unknown, lr: number, b1: number, b2: number, eps: number, wd: number, clip: number): number;
  info(h: unknown): { device: string; memUsed: number; memTotal: number; paramFloats: number; activationBytes: number; allocatedBytes: number; gemmPlans: number };
  sync(): void;
  /** frees the model's GPU memory now (the handle is unusable afterwards). */
  destroy(h: unknown): void;
  /** per-phase milliseconds accumulated since the last call (synchronising timer); enable/disable for what follows. */
  profile(h: unknown, enable: boolean): Record<string, number>;
  attnTest(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, B: number, T: number, H: number, Hk: number, hd: number, version: 1 | 2):
    { o: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array };
}

const here = dirname(fileURLToPath(import.meta.url));

/** path of the built addon (override with STEEL_CUDA_ADDON). */
export function addonPath(): string {
  return process.env.STEEL_CUDA_ADDON ?? join(here, 'build', 'steel_cuda.node');
}

let cached: NativeAddon | null = null;
/** loads the addon or throws a clear error; `available()` is the non-throwing check. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!existsSync(p)) throw new Error(`cuda backend: native addon not built (${p} is missing; run train/native/build.sh on a GPU host)`);
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

/** parameters above which init() runs on the GPU (hash RNG) instead of the CPU backend's exact JS RNG. */
const JS_INIT_LIMIT = 20_000_000;

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  readonly config: ModelConfig;
  readonly addon: NativeAddon;
  readonly handle: unknown;
  private infos: ParamInfo[];

  constructor(config: ModelConfig) {
    validateConfig(config);
    this.config = { ...config };
    this.addon = loadAddon();
    this.handle = this.addon.create(this.config);
    // checkpoint order and shapes come from config.ts; the addon must know every one of them
    const native = new Map(this.addon.params(this.handle).map((p) => [p.name, p]));
    this.infos = paramShapes(this.config).map((s) => {
      const n = native.get(s.name);
      if (!n || n.size !== numel(s.shape)) throw new Error(`cuda backend: parameter ${s.name} missing or mis-shaped in the addon`);
      return { name: s.name, shape: [...s.shape], size: numel(s.shape) };
    });
    if (native.size !== this.infos.length) throw new Error(`cuda backend: addon has ${native.size} parameters, config ${this.infos.length}`);
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

  async getParam(name: string): Promise<Float32Array> { return this.addon.get(this.handle, 0, name); }
  async setParam(name: string, value: Float32Array): Promise<void> { this.addon.set(this.handle, 0, name, value); }
  async getGrad(name: string): Promise<Float32Array> { return this.addon.get(this.handle, 1, name); }
  async zeroGrad(): Promise<void> { this.addon.zeroGrad(this.handle); }

  async forwardBackward(tokens: Int32Array, B: number, T: number, gradScale = 1): Promise<number> {
    return this.addon.forwardBackward(this.handle, tokens, B, T, gradScale, true);
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
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
    for (const p of this.infos) {
      m.set(p.name, this.addon.get(this.handle, 2, p.name));
      v.set(p.name, this.addon.get(this.handle, 3, p.name));
    }
    return { step: this.addon.stepCount(this.handle), m, v };
  }
  async setOptimizerState(s: OptimizerState): Promise<void> {
    for (const p of this.infos) {
      const m = s.m.get(p.name), v = s.v.get(p.name);
      this.addon.set(this.handle, 2, p.name, m ?? new Float32Array(p.size));
      this.addon.set(this.handle, 3, p.name, v ?? new Float32Array(p.size));
    }
    this.addon.stepCount(this.handle, s.step);
  }
  info() { return this.addon.info(this.handle); }
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.addon.destroy(this.handle);
  }
  private disposed = false;
}

export const createBackend: BackendFactory = async (config) => new CudaBackend(config);
