/**
 * CPU reference backend (TypeScript, fp32; a float64 variant exists for finite-difference gradient checks).
 * Implements the Qwen2 decoder with either a SwiGLU MLP (dense kind) or Steel-LLM's Soft-MoE v3 with SENet experts.
 * Single-threaded and deterministic: the same inputs give bitwise-identical results.
 */
import type { AdamWOptions, Backend, DecodeSession, OptimizerState, ParamInfo } from '../backend.ts';
import { type ModelConfig, type ParamSpec, numel, paramShapes, validateConfig } from '../config.ts';
import { Rng } from '../rng.ts';
import { setCpuThreads } from './pool.ts';
import {
  type Arr,
  type ArrCtor,
  attnBwd,
  attnFwd,
  crossEntropy,
  weightedCrossEntropy,
  gemmABt,
  linearBwd,
  linearFwd,
  rmsnormBwd,
  rmsnormFwd,
  ropeApply,
  ropeTables,
  swigluBwd,
  swigluFwd,
  transpose,
} from './ops.ts';

export interface CpuOptions {
  /** GEMM threads (default STEEL_CPU_THREADS, else min(2, cores)); results are identical for any count. */
  threads?: number;
  /** 'float64' is for gradient checks only. */
  dtype?: 'float32' | 'float64';
}

interface DenseCache {
  kind: 'dense';
  x: Arr;
  g: Arr;
  u: Arr;
  a: Arr;
}
interface ExpertCache {
  xe: Arr;
  g1: Arr;
  u1: Arr;
  hh: Arr;
  g2: Arr;
  u2: Arr;
}
interface SteelCache {
  kind: 'steel';
  B: number;
  T: number;
  norms: Arr;
  xn: Arr;
  phiHat: Arr;
  phiNorm: Float64Array;
  D: Arr;
  C: Arr;
  Ys: Arr;
  experts: ExpertCache[];
}
type FfnCache = DenseCache | SteelCache;
interface LayerCache {
  xin: Arr;
  h1: Arr;
  r1: Arr;
  q: Arr;
  k: Arr;
  v: Arr;
  P: Arr;
  att: Arr;
  xmid: Arr;
  h2: Arr;
  r2: Arr;
  ffn: FfnCache;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly config: ModelConfig;
  readonly ctor: ArrCtor;
  private specs: ParamSpec[];
  private p = new Map<string, Arr>();
  private g = new Map<string, Arr>();
  private m = new Map<string, Arr>();
  private v = new Map<string, Arr>();
  private optStep = 0;

  constructor(config: ModelConfig, opts: CpuOptions = {}) {
    validateConfig(config);
    this.config = { ...config };
    this.ctor = opts.dtype === 'float64' ? Float64Array : Float32Array;
    setCpuThreads(opts.threads);
    this.specs = paramShapes(config);
    for (const s of this.specs) {
      const n = numel(s.shape);
      this.p.set(s.name, new this.ctor(n));
      this.g.set(s.name, new this.ctor(n));
    }
  }

  params(): ParamInfo[] {
    return this.specs.map((s) => ({ name: s.name, shape: [...s.shape], size: numel(s.shape) }));
  }

  async init(seed: number): Promise<void> {
    const rng = new Rng(seed);
    for (const s of this.specs) {
      const a = this.p.get(s.name)!;
      if (s.init === 'ones') a.fill(1);
      else if (s.init === 'zeros') a.fill(0);
      else {
        const std = s.init === 'phi' ? 1 / Math.sqrt(this.config.hiddenSize) : this.config.initStd;
        for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
      }
    }
    this.resetOptimizer();
  }

  private resetOptimizer(): void {
    this.m.clear();
    this.v.clear();
    this.optStep = 0;
  }

  private need(map: Map<string, Arr>, name: string): Arr {
    const a = map.get(name);
    if (!a) throw new Error(`cpu backend: no parameter named "${name}"`);
    return a;
  }

  /** raw (dtype-native) views, for tests. */
  paramRaw(name: string): Arr {
    return this.need(this.p, name);
  }
  gradRaw(name: string): Arr {
    return this.need(this.g, name);
  }

  async getParam(name: string): Promise<Float32Array> {
    return Float32Array.from(this.need(this.p, name));
  }
  async setParam(name: string, value: Float32Array): Promise<void> {
    const a = this.need(this.p, name);
    if (value.length !== a.length)
      throw new Error(`cpu backend: ${name} expects ${a.length} values, got ${value.length}`);
    a.set(value);
  }
  async getGrad(name: string): Promise<Float32Array> {
    return Float32Array.from(this.need(this.g, name));
  }
  async zeroGrad(): Promise<void> {
    for (const a of this.g.values()) a.fill(0);
  }

  async forwardBackward(
    tokens: Int32Array,
    B: number,
    T: number,
    gradScale = 1,
    weights?: Float32Array,
  ): Promise<number> {
    if (weights) return this.weightedLossAndGrad(tokens, B, T, weights, gradScale, true).loss;
    return this.lossAndGrad(tokens, B, T, gradScale, true);
  }

  async sequenceLogProbs(tokens: Int32Array, B: number, T: number, weights: Float32Array): Promise<Float64Array> {
    return this.weightedLossAndGrad(tokens, B, T, weights, 1, false).seq;
  }

  private split(tokens: Int32Array, B: number, T: number): { inp: Int32Array; tgt: Int32Array } {
    if (tokens.length !== B * (T + 1))
      throw new Error(`forwardBackward: expected ${B}x${T + 1} tokens, got ${tokens.length}`);
    const inp = new Int32Array(B * T),
      tgt = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      inp.set(tokens.subarray(b * (T + 1), b * (T + 1) + T), b * T);
      tgt.set(tokens.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
    }
    return { inp, tgt };
  }

  /** loss (and optionally gradients) for B x (T+1) blocks. Synchronous core. */
  lossAndGrad(tokens: Int32Array, B: number, T: number, gradScale: number, backward: boolean): number {
    const { inp, tgt } = this.split(tokens, B, T);
    const { logits, caches, hfin, xfin, rfin } = this.fwd(inp, B, T);
    const N = B * T,
      V = this.config.vocabSize;
    const dlogits = backward ? new this.ctor(N * V) : null;
    const { loss, count } = crossEntropy(logits, tgt, N, V, this.config.padId, dlogits, gradScale);
    if (backward && dlogits && count > 0) this.bwd(dlogits, inp, B, T, caches, hfin, xfin, rfin);
    return loss;
  }

  /** weighted loss sum_i w_i * CE_i, per-sequence sums of w_i * log p_i, and optionally gradients. Synchronous core. */
  weightedLossAndGrad(
    tokens: Int32Array,
    B: number,
    T: number,
    weights: Float32Array,
    gradScale: number,
    backward: boolean,
  ): { loss: number; seq: Float64Array } {
    if (weights.length !== B * T) throw new Error(`loss weights: expected ${B}x${T} values, got ${weights.length}`);
    const { inp, tgt } = this.split(tokens, B, T);
    const { logits, caches, hfin, xfin, rfin } = this.fwd(inp, B, T);
    const N = B * T,
      V = this.config.vocabSize;
    const dlogits = backward ? new this.ctor(N * V) : null;
    const seq = new Float64Array(B);
    const loss = weightedCrossEntropy(logits, tgt, weights, N, T, V, dlogits, gradScale, seq);
    if (backward && dlogits && weights.some((w) => w !== 0)) this.bwd(dlogits, inp, B, T, caches, hfin, xfin, rfin);
    return { loss, seq };
  }

  async forward(tokens: Int32Array, B: number, T: number): Promise<Float32Array> {
    if (tokens.length !== B * T) throw new Error(`forward: expected ${B}x${T} tokens, got ${tokens.length}`);
    const { logits } = this.fwd(tokens, B, T);
    return logits instanceof Float32Array ? logits : Float32Array.from(logits);
  }

  // ---------------------------------------------------------------- forward
  private fwd(inp: Int32Array, B: number, T: number) {
    const c = this.config,
      d = c.hiddenSize,
      N = B * T,
      V = c.vocabSize;
    const H = c.numHeads,
      Hk = c.numKvHeads,
      hd = c.headDim,
      qd = H * hd,
      kd = Hk * hd;
    const P = (n: string) => this.need(this.p, n);
    const E = P('model.embed_tokens.weight');
    let x = new this.ctor(N * d);
    for (let i = 0; i < N; i++) {
      const t = inp[i];
      if (t < 0 || t >= V) throw new Error(`input token ${t} outside the vocabulary (size ${V})`);
      x.set(E.subarray(t * d, (t + 1) * d), i * d);
    }
    const { cos, sin } = ropeTables(T, hd, c.ropeTheta);
    const caches: LayerCache[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const pre = `model.layers.${l}.`;
      const xin = x;
      const h1 = new this.ctor(N * d),
        r1 = new this.ctor(N);
      rmsnormFwd(xin, P(pre + 'input_layernorm.weight'), N, d, c.rmsNormEps, h1, r1);
      const q = new this.ctor(N * qd),
        k = new this.ctor(N * kd),
        v = new this.ctor(N * kd);
      linearFwd(h1, P(pre + 'self_attn.q_proj.weight'), P(pre + 'self_attn.q_proj.bias'), N, qd, d, q);
      linearFwd(h1, P(pre + 'self_attn.k_proj.weight'), P(pre + 'self_attn.k_proj.bias'), N, kd, d, k);
      linearFwd(h1, P(pre + 'self_attn.v_proj.weight'), P(pre + 'self_attn.v_proj.bias'), N, kd, d, v);
      ropeApply(q, B, T, H, hd, cos, sin, false);
      ropeApply(k, B, T, Hk, hd, cos, sin, false);
      const att = new this.ctor(N * qd),
        Pm = new this.ctor(B * H * T * T);
      attnFwd(q, k, v, B, T, H, Hk, hd, att, Pm);
      const o = new this.ctor(N * d);
      linearFwd(att, P(pre + 'self_attn.o_proj.weight'), null, N, d, qd, o);
      const xmid = new this.ctor(N * d);
      for (let i = 0; i < N * d; i++) xmid[i] = xin[i] + o[i];
      const h2 = new this.ctor(N * d),
        r2 = new this.ctor(N);
      rmsnormFwd(xmid, P(pre + 'post_attention_layernorm.weight'), N, d, c.rmsNormEps, h2, r2);
      const { y, cache } = this.ffnFwd(l, h2, B, T);
      const xout = new this.ctor(N * d);
      for (let i = 0; i < N * d; i++) xout[i] = xmid[i] + y[i];
      caches.push({ xin, h1, r1, q, k, v, P: Pm, att, xmid, h2, r2, ffn: cache });
      x = xout;
    }
    const hfin = new this.ctor(N * d),
      rfin = new this.ctor(N);
    rmsnormFwd(x, P('model.norm.weight'), N, d, c.rmsNormEps, hfin, rfin);
    const logits = new this.ctor(N * V);
    linearFwd(hfin, P('lm_head.weight'), null, N, V, d, logits);
    return { logits, caches, hfin, xfin: x, rfin };
  }

  /** FFN forward on h [B*T, d]: dense SwiGLU, or Soft-MoE v3 over each sequence of T tokens. */
  ffnFwd(l: number, h: Arr, B: number, T: number): { y: Arr; cache: FfnCache } {
    const c = this.config,
      d = c.hiddenSize,
      N = B * T,
      I = c.intermediateSize;
    const pre = `model.layers.${l}.mlp.`;
    const P = (n: string) => this.need(this.p, n);
    if (c.kind === 'dense') {
      const g = new this.ctor(N * I),
        u = new this.ctor(N * I),
        a = new this.ctor(N * I),
        y = new this.ctor(N * d);
      linearFwd(h, P(pre + 'gate_proj.weight'), null, N, I, d, g);
      linearFwd(h, P(pre + 'up_proj.weight'), null, N, I, d, u);
      swigluFwd(g, u, a, N * I);
      linearFwd(a, P(pre + 'down_proj.weight'), null, N, d, I, y);
      return { y, cache: { kind: 'dense', x: h, g, u, a } };
    }
    const ne = c.numExperts,
      np = c.slotsPerExpert,
      S = ne * np;
    // X^ = X / ||X|| per row (F.normalize, eps 1e-12)
    const norms = new this.ctor(N),
      xn = new this.ctor(N * d);
    for (let i = 0; i < N; i++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += h[i * d + j] * h[i * d + j];
      const nr = Math.max(Math.sqrt(ss), 1e-12);
      norms[i] = nr;
      for (let j = 0; j < d; j++) xn[i * d + j] = h[i * d + j] / nr;
    }
    // Phi^ = s * Phi / ||Phi|| per column; phi is [d, S]
    const phi = P(pre + 'phi'),
      scale = P(pre + 'scale')[0];
    const phiNorm = new Float64Array(S),
      phiHatT = new this.ctor(S * d),
      phiHat = new this.ctor(d * S);
    for (let s = 0; s < S; s++) {
      let ss = 0;
      for (let i = 0; i < d; i++) ss += phi[i * S + s] * phi[i * S + s];
      phiNorm[s] = Math.max(Math.sqrt(ss), 1e-12);
      for (let i = 0; i < d; i++) {
        const val = (scale * phi[i * S + s]) / phiNorm[s];
        phiHat[i * S + s] = val;
        phiHatT[s * d + i] = val;
      }
    }
    const L = new this.ctor(N * S);
    gemmABt(xn, phiHatT, L, N, S, d, false);
    const D = new this.ctor(N * S),
      C = new this.ctor(N * S);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        // dispatch: softmax over tokens
        let mx = -Infinity;
        for (let t = 0; t < T; t++) mx = Math.max(mx, L[(b * T + t) * S + s]);
        let sum = 0;
        for (let t = 0; t < T; t++) sum += Math.exp(L[(b * T + t) * S + s] - mx);
        for (let t = 0; t < T; t++) D[(b * T + t) * S + s] = Math.exp(L[(b * T + t) * S + s] - mx) / sum;
      }
    }
    for (let i = 0; i < N; i++) {
      // combine: softmax over slots
      let mx = -Infinity;
      for (let s = 0; s < S; s++) mx = Math.max(mx, L[i * S + s]);
      let sum = 0;
      for (let s = 0; s < S; s++) sum += Math.exp(L[i * S + s] - mx);
      for (let s = 0; s < S; s++) C[i * S + s] = Math.exp(L[i * S + s] - mx) / sum;
    }
    // slots Xs[b, s] = sum_t D[b,t,s] xn[b,t]
    const Xs = new Float64Array(B * S * d);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        for (let s = 0; s < S; s++) {
          const w = D[r * S + s],
            o = (b * S + s) * d;
          for (let j = 0; j < d; j++) Xs[o + j] += w * xn[r * d + j];
        }
      }
    const Ys = new this.ctor(B * S * d);
    const experts: ExpertCache[] = [];
    const R = B * np;
    for (let e = 0; e < ne; e++) {
      const ep = `${pre}experts.${e}.`;
      const xe = new this.ctor(R * d);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < np; j++) {
          const src = (b * S + e * np + j) * d,
            dst = (b * np + j) * d;
          for (let q = 0; q < d; q++) xe[dst + q] = Xs[src + q];
        }
      const g1 = new this.ctor(R * I),
        u1 = new this.ctor(R * I),
        hh = new this.ctor(R * I);
      linearFwd(xe, P(ep + 'gate_up_proj.weight'), null, R, I, d, g1);
      linearFwd(xe, P(ep + 'up_proj.weight'), null, R, I, d, u1);
      swigluFwd(g1, u1, hh, R * I);
      const g2 = new this.ctor(R * d),
        u2 = new this.ctor(R * d),
        ye = new this.ctor(R * d);
      linearFwd(hh, P(ep + 'gate_down_proj.weight'), null, R, d, I, g2);
      linearFwd(hh, P(ep + 'down_proj.weight'), null, R, d, I, u2);
      swigluFwd(g2, u2, ye, R * d);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < np; j++)
          Ys.set(ye.subarray((b * np + j) * d, (b * np + j + 1) * d), (b * S + e * np + j) * d);
      experts.push({ xe, g1, u1, hh, g2, u2 });
    }
    // Y[b,t] = sum_s C[b,t,s] Ys[b,s]
    const y = new this.ctor(N * d);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += C[r * S + s] * Ys[(b * S + s) * d + j];
          y[r * d + j] = acc;
        }
      }
    return { y, cache: { kind: 'steel', B, T, norms, xn, phiHat, phiNorm, D, C, Ys, experts } };
  }

  // ---------------------------------------------------------------- backward
  private bwd(
    dlogits: Arr,
    inp: Int32Array,
    B: number,
    T: number,
    caches: LayerCache[],
    hfin: Arr,
    xfin: Arr,
    rfin: Arr,
  ): void {
    const c = this.config,
      d = c.hiddenSize,
      N = B * T,
      V = c.vocabSize,
      ctor = this.ctor;
    const H = c.numHeads,
      Hk = c.numKvHeads,
      hd = c.headDim,
      qd = H * hd,
      kd = Hk * hd;
    const P = (n: string) => this.need(this.p, n);
    const G = (n: string) => this.need(this.g, n);
    const dh = new ctor(N * d);
    linearBwd(dlogits, hfin, P('lm_head.weight'), N, V, d, G('lm_head.weight'), null, dh, false, ctor);
    let dx = new ctor(N * d);
    rmsnormBwd(dh, xfin, P('model.norm.weight'), rfin, N, d, dx, G('model.norm.weight'), false);
    const { cos, sin } = ropeTables(T, hd, c.ropeTheta);
    for (let l = c.numLayers - 1; l >= 0; l--) {
      const pre = `model.layers.${l}.`,
        lc = caches[l];
      // x_out = x_mid + ffn(norm2(x_mid))
      const dh2 = this.ffnBwd(l, dx, lc.ffn, B, T);
      const dxmid = new ctor(N * d);
      dxmid.set(dx);
      rmsnormBwd(
        dh2,
        lc.xmid,
        P(pre + 'post_attention_layernorm.weight'),
        lc.r2,
        N,
        d,
        dxmid,
        G(pre + 'post_attention_layernorm.weight'),
        true,
      );
      // x_mid = x_in + o_proj(attn(norm1(x_in)))
      const datt = new ctor(N * qd);
      linearBwd(
        dxmid,
        lc.att,
        P(pre + 'self_attn.o_proj.weight'),
        N,
        d,
        qd,
        G(pre + 'self_attn.o_proj.weight'),
        null,
        datt,
        false,
        ctor,
      );
      const dq = new ctor(N * qd),
        dk = new ctor(N * kd),
        dv = new ctor(N * kd);
      attnBwd(datt, lc.q, lc.k, lc.v, lc.P, B, T, H, Hk, hd, dq, dk, dv);
      ropeApply(dq, B, T, H, hd, cos, sin, true);
      ropeApply(dk, B, T, Hk, hd, cos, sin, true);
      const dh1 = new ctor(N * d);
      linearBwd(
        dq,
        lc.h1,
        P(pre + 'self_attn.q_proj.weight'),
        N,
        qd,
        d,
        G(pre + 'self_attn.q_proj.weight'),
        G(pre + 'self_attn.q_proj.bias'),
        dh1,
        false,
        ctor,
      );
      linearBwd(
        dk,
        lc.h1,
        P(pre + 'self_attn.k_proj.weight'),
        N,
        kd,
        d,
        G(pre + 'self_attn.k_proj.weight'),
        G(pre + 'self_attn.k_proj.bias'),
        dh1,
        true,
        ctor,
      );
      linearBwd(
        dv,
        lc.h1,
        P(pre + 'self_attn.v_proj.weight'),
        N,
        kd,
        d,
        G(pre + 'self_attn.v_proj.weight'),
        G(pre + 'self_attn.v_proj.bias'),
        dh1,
        true,
        ctor,
      );
      const dxin = dxmid; // residual path
      rmsnormBwd(
        dh1,
        lc.xin,
        P(pre + 'input_layernorm.weight'),
        lc.r1,
        N,
        d,
        dxin,
        G(pre + 'input_layernorm.weight'),
        true,
      );
      dx = dxin;
    }
    const dE = G('model.embed_tokens.weight');
    for (let i = 0; i < N; i++) {
      const o = inp[i] * d;
      for (let j = 0; j < d; j++) dE[o + j] += dx[i * d + j];
    }
  }

  /** returns d(loss)/d(h) for the FFN input h; accumulates parameter grads. */
  private ffnBwd(l: number, dy: Arr, fc: FfnCache, B: number, T: number): Arr {
    const c = this.config,
      d = c.hiddenSize,
      N = B * T,
      I = c.intermediateSize,
      ctor = this.ctor;
    const pre = `model.layers.${l}.mlp.`;
    const P = (n: string) => this.need(this.p, n);
    const G = (n: string) => this.need(this.g, n);
    if (fc.kind === 'dense') {
      const da = new ctor(N * I),
        dg = new ctor(N * I),
        du = new ctor(N * I),
        dx = new ctor(N * d);
      linearBwd(dy, fc.a, P(pre + 'down_proj.weight'), N, d, I, G(pre + 'down_proj.weight'), null, da, false, ctor);
      swigluBwd(da, fc.g, fc.u, dg, du, N * I);
      linearBwd(dg, fc.x, P(pre + 'gate_proj.weight'), N, I, d, G(pre + 'gate_proj.weight'), null, dx, false, ctor);
      linearBwd(du, fc.x, P(pre + 'up_proj.weight'), N, I, d, G(pre + 'up_proj.weight'), null, dx, true, ctor);
      return dx;
    }
    const ne = c.numExperts,
      np = c.slotsPerExpert,
      S = ne * np,
      R = B * np;
    const { xn, norms, phiHat, phiNorm, D, C, Ys } = fc;
    // Y = C Ys: dC[r,s] = dy[r] . Ys[b,s]; dYs[b,s] = sum_t C[b,t,s] dy[b,t]
    const dC = new Float64Array(N * S),
      dYs = new ctor(B * S * d);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        for (let s = 0; s < S; s++) {
          const yo = (b * S + s) * d,
            cw = C[r * S + s];
          let acc = 0;
          for (let j = 0; j < d; j++) {
            acc += dy[r * d + j] * Ys[yo + j];
            dYs[yo + j] += cw * dy[r * d + j];
          }
          dC[r * S + s] = acc;
        }
      }
    // experts
    const dXs = new ctor(B * S * d);
    for (let e = 0; e < ne; e++) {
      const ep = `${pre}experts.${e}.`,
        ec = fc.experts[e];
      const dye = new ctor(R * d);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < np; j++)
          dye.set(dYs.subarray((b * S + e * np + j) * d, (b * S + e * np + j + 1) * d), (b * np + j) * d);
      const dg2 = new ctor(R * d),
        du2 = new ctor(R * d);
      swigluBwd(dye, ec.g2, ec.u2, dg2, du2, R * d);
      const dhh = new ctor(R * I);
      linearBwd(
        dg2,
        ec.hh,
        P(ep + 'gate_down_proj.weight'),
        R,
        d,
        I,
        G(ep + 'gate_down_proj.weight'),
        null,
        dhh,
        false,
        ctor,
      );
      linearBwd(du2, ec.hh, P(ep + 'down_proj.weight'), R, d, I, G(ep + 'down_proj.weight'), null, dhh, true, ctor);
      const dg1 = new ctor(R * I),
        du1 = new ctor(R * I);
      swigluBwd(dhh, ec.g1, ec.u1, dg1, du1, R * I);
      const dxe = new ctor(R * d);
      linearBwd(
        dg1,
        ec.xe,
        P(ep + 'gate_up_proj.weight'),
        R,
        I,
        d,
        G(ep + 'gate_up_proj.weight'),
        null,
        dxe,
        false,
        ctor,
      );
      linearBwd(du1, ec.xe, P(ep + 'up_proj.weight'), R, I, d, G(ep + 'up_proj.weight'), null, dxe, true, ctor);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < np; j++)
          dXs.set(dxe.subarray((b * np + j) * d, (b * np + j + 1) * d), (b * S + e * np + j) * d);
    }
    // Xs = D^T xn: dD[r,s] = xn[r] . dXs[b,s]; dxn[r] += sum_s D[r,s] dXs[b,s]
    const dD = new Float64Array(N * S),
      dxn = new Float64Array(N * d);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        for (let s = 0; s < S; s++) {
          const so = (b * S + s) * d,
            w = D[r * S + s];
          let acc = 0;
          for (let j = 0; j < d; j++) {
            acc += xn[r * d + j] * dXs[so + j];
            dxn[r * d + j] += w * dXs[so + j];
          }
          dD[r * S + s] = acc;
        }
      }
    // softmax backward: combine (over s, per row), dispatch (over t, per column)
    const dL = new ctor(N * S);
    for (let r = 0; r < N; r++) {
      let dot = 0;
      for (let s = 0; s < S; s++) dot += C[r * S + s] * dC[r * S + s];
      for (let s = 0; s < S; s++) dL[r * S + s] = C[r * S + s] * (dC[r * S + s] - dot);
    }
    for (let b = 0; b < B; b++)
      for (let s = 0; s < S; s++) {
        let dot = 0;
        for (let t = 0; t < T; t++) dot += D[(b * T + t) * S + s] * dD[(b * T + t) * S + s];
        for (let t = 0; t < T; t++) {
          const i = (b * T + t) * S + s;
          dL[i] += D[i] * (dD[i] - dot);
        }
      }
    // L = xn phiHat: dxn += dL phiHat^T; dphiHat += xn^T dL
    for (let r = 0; r < N; r++)
      for (let s = 0; s < S; s++) {
        const w = dL[r * S + s];
        if (w === 0) continue;
        for (let j = 0; j < d; j++) dxn[r * d + j] += w * phiHat[j * S + s];
      }
    const dphiHat = new Float64Array(d * S);
    const xnT = transpose(xn, N, d, new ctor(N * d)),
      dLT = transpose(dL, N, S, new ctor(N * S));
    const tmp = new ctor(d * S);
    gemmABt(xnT, dLT, tmp, d, S, N, false);
    for (let i = 0; i < d * S; i++) dphiHat[i] = tmp[i];
    // phiHat = scale * u, u = phi / ||phi|| per column
    const phi = P(pre + 'phi'),
      scale = P(pre + 'scale')[0];
    const gphi = G(pre + 'phi'),
      gscale = G(pre + 'scale');
    let ds = 0;
    for (let s = 0; s < S; s++) {
      let dotu = 0;
      for (let i = 0; i < d; i++) {
        const u = phi[i * S + s] / phiNorm[s];
        ds += dphiHat[i * S + s] * u;
        dotu += scale * dphiHat[i * S + s] * u;
      }
      for (let i = 0; i < d; i++) {
        const u = phi[i * S + s] / phiNorm[s];
        gphi[i * S + s] += (scale * dphiHat[i * S + s] - u * dotu) / phiNorm[s];
      }
    }
    gscale[0] += ds;
    // xn = h / ||h||
    const dx = new ctor(N * d);
    for (let r = 0; r < N; r++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += xn[r * d + j] * dxn[r * d + j];
      for (let j = 0; j < d; j++) dx[r * d + j] = (dxn[r * d + j] - xn[r * d + j] * dot) / norms[r];
    }
    return dx;
  }

  // ---------------------------------------------------------------- optimizer
  async step(o: AdamWOptions): Promise<number> {
    let ss = 0;
    for (const g of this.g.values()) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
    const norm = Math.sqrt(ss);
    const coef = o.gradClip > 0 ? o.gradClip / (norm + 1e-6) : 1; // torch clip_grad_norm_
    const clip = coef < 1 ? coef : 1;
    this.optStep++;
    const t = this.optStep,
      bc1 = 1 - Math.pow(o.beta1, t),
      bc2 = 1 - Math.pow(o.beta2, t);
    const stepSize = o.lr / bc1,
      bc2s = Math.sqrt(bc2);
    for (const s of this.specs) {
      const p = this.p.get(s.name)!,
        g = this.g.get(s.name)!;
      let m = this.m.get(s.name),
        v = this.v.get(s.name);
      if (!m || !v) {
        m = new this.ctor(p.length);
        v = new this.ctor(p.length);
        this.m.set(s.name, m);
        this.v.set(s.name, v);
      }
      const decay = 1 - o.lr * o.weightDecay;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip;
        p[i] *= decay;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2s + o.eps);
      }
    }
    return norm;
  }

  async getOptimizerState(): Promise<OptimizerState> {
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const s of this.specs) {
      const n = numel(s.shape);
      m.set(s.name, Float32Array.from(this.m.get(s.name) ?? new Float32Array(n)));
      v.set(s.name, Float32Array.from(this.v.get(s.name) ?? new Float32Array(n)));
    }
    return { step: this.optStep, m, v };
  }

  async setOptimizerState(st: OptimizerState): Promise<void> {
    this.resetOptimizer();
    this.optStep = st.step;
    for (const s of this.specs) {
      const n = numel(s.shape);
      const m = st.m.get(s.name),
        v = st.v.get(s.name);
      if (!m || !v) throw new Error(`optimizer state lacks ${s.name}`);
      if (m.length !== n || v.length !== n) throw new Error(`optimizer state for ${s.name} has the wrong size`);
      this.m.set(s.name, this.ctor.from(m));
      this.v.set(s.name, this.ctor.from(v));
    }
  }

  // ---------------------------------------------------------------- decoding with a KV cache
  startDecode(maxLen: number): DecodeSession {
    const c = this.config,
      d = c.hiddenSize,
      H = c.numHeads,
      Hk = c.numKvHeads,
      hd = c.headDim,
      qd = H * hd,
      kd = Hk * hd;
    const kc = Array.from({ length: c.numLayers }, () => new Float32Array(maxLen * kd));
    const vc = Array.from({ length: c.numLayers }, () => new Float32Array(maxLen * kd));
    const P = (n: string) => this.need(this.p, n);
    const ctor = this.ctor;
    let pos = 0;
    const self = this;
    /** feeds `toks` at positions pos.. in one call: attention per token over the cache; the FFN sees the fed tokens
     * together (Steel kind: Soft-MoE over them, as Steel-LLM's modeling code under generate: the prompt at prefill,
     * then one token per step); returns the last token's logits. */
    const feedChunk = (toks: ArrayLike<number>): Arr => {
      const n = toks.length;
      if (pos + n > maxLen) throw new Error(`decode: context full (${maxLen} tokens)`);
      const emb = P('model.embed_tokens.weight');
      let x: Arr = new ctor(n * d);
      for (let i = 0; i < n; i++) {
        const tok = toks[i];
        if (tok < 0 || tok >= c.vocabSize) throw new Error(`decode: token ${tok} outside the vocabulary`);
        x.set(emb.subarray(tok * d, (tok + 1) * d), i * d);
      }
      const rope = Array.from({ length: n }, (_, i) => ropeTables(1, hd, c.ropeTheta, pos + i));
      const rep = H / Hk,
        sc = 1 / Math.sqrt(hd);
      for (let l = 0; l < c.numLayers; l++) {
        const pre = `model.layers.${l}.`;
        const mid = new ctor(n * d),
          h2 = new ctor(n * d);
        for (let i = 0; i < n; i++) {
          const at = pos + i;
          const xi = x.subarray(i * d, (i + 1) * d);
          const h1 = new ctor(d),
            r = new ctor(1);
          rmsnormFwd(xi, P(pre + 'input_layernorm.weight'), 1, d, c.rmsNormEps, h1, r);
          const q = new ctor(qd),
            k = new ctor(kd),
            v = new ctor(kd);
          linearFwd(h1, P(pre + 'self_attn.q_proj.weight'), P(pre + 'self_attn.q_proj.bias'), 1, qd, d, q);
          linearFwd(h1, P(pre + 'self_attn.k_proj.weight'), P(pre + 'self_attn.k_proj.bias'), 1, kd, d, k);
          linearFwd(h1, P(pre + 'self_attn.v_proj.weight'), P(pre + 'self_attn.v_proj.bias'), 1, kd, d, v);
          ropeApply(q, 1, 1, H, hd, rope[i].cos, rope[i].sin, false);
          ropeApply(k, 1, 1, Hk, hd, rope[i].cos, rope[i].sin, false);
          kc[l].set(k, at * kd);
          vc[l].set(v, at * kd);
          const att = new ctor(qd),
            sc_ = new Float64Array(at + 1);
          for (let h = 0; h < H; h++) {
            const kh = Math.floor(h / rep);
            let mx = -Infinity;
            for (let s = 0; s <= at; s++) {
              let dot = 0;
              for (let j = 0; j < hd; j++) dot += q[h * hd + j] * kc[l][s * kd + kh * hd + j];
              sc_[s] = dot * sc;
              if (sc_[s] > mx) mx = sc_[s];
            }
            let sum = 0;
            for (let s = 0; s <= at; s++) {
              sc_[s] = Math.exp(sc_[s] - mx);
              sum += sc_[s];
            }
            for (let s = 0; s <= at; s++) {
              const w = sc_[s] / sum;
              for (let j = 0; j < hd; j++) att[h * hd + j] += w * vc[l][s * kd + kh * hd + j];
            }
          }
          const o = mid.subarray(i * d, (i + 1) * d);
          linearFwd(att, P(pre + 'self_attn.o_proj.weight'), null, 1, d, qd, o);
          for (let j = 0; j < d; j++) o[j] += xi[j];
          rmsnormFwd(
            o,
            P(pre + 'post_attention_layernorm.weight'),
            1,
            d,
            c.rmsNormEps,
            h2.subarray(i * d, (i + 1) * d),
            r,
          );
        }
        const { y } = self.ffnFwd(l, h2, 1, n);
        for (let j = 0; j < n * d; j++) mid[j] += y[j];
        x = mid;
      }
      const hf = new ctor(d),
        r = new ctor(1);
      rmsnormFwd(x.subarray((n - 1) * d, n * d), P('model.norm.weight'), 1, d, c.rmsNormEps, hf, r);
      const logits = new ctor(c.vocabSize);
      linearFwd(hf, P('lm_head.weight'), null, 1, c.vocabSize, d, logits);
      pos += n;
      return logits;
    };
    return {
      get length() {
        return pos;
      },
      async feed(tokens: ArrayLike<number>): Promise<Float32Array> {
        if (tokens.length === 0) throw new Error('decode: feed() needs at least one token');
        return Float32Array.from(feedChunk(tokens));
      },
      dispose() {
        kc.length = 0;
        vc.length = 0;
      },
    };
  }

  async dispose(): Promise<void> {
    this.p.clear();
    this.g.clear();
    this.m.clear();
    this.v.clear();
  }
}

export async function createBackend(config: ModelConfig, opts: CpuOptions = {}): Promise<Backend> {
  return new CpuBackend(config, opts);
}
