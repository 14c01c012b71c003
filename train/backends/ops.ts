/**
 * CPU kernels (forward + backward) for the reference backend. All arrays are row-major; Arr is Float32Array for
 * training and Float64Array for the finite-difference gradient checks. Sums are accumulated in double precision.
 */
export type Arr = Float32Array | Float64Array;
export type ArrCtor = Float32ArrayConstructor | Float64ArrayConstructor;

/**
 * C[N,M] (+)= A[N,K] . B[M,K]^T  -- the one GEMM kernel. Large fp32 products are split by rows over worker threads
 * (train/backends/pool.ts); every element is computed by the same code in the same order, so the result is bitwise
 * identical whatever the thread count.
 */
export function gemmABt(A: Arr, B: Arr, C: Arr, N: number, M: number, K: number, accumulate: boolean): void {
  if (gemmHook && gemmHook(A, B, C, N, M, K, accumulate)) return;
  gemmSerial(A, B, C, N, M, K, accumulate);
}

type GemmHook = (A: Arr, B: Arr, C: Arr, N: number, M: number, K: number, accumulate: boolean) => boolean;
let gemmHook: GemmHook | null = null;
/** installs the parallel GEMM (returns true when it handled the call). */
export function setGemmHook(h: GemmHook | null): void {
  gemmHook = h;
}

/** the serial kernel: 4x4 register tiles over contiguous rows. Self-contained (its source also runs in workers). */
export function gemmSerial(A: Arr, B: Arr, C: Arr, N: number, M: number, K: number, accumulate: boolean): void {
  const N4 = N - (N % 4),
    M4 = M - (M % 4);
  for (let i = 0; i < N4; i += 4) {
    const a0 = i * K,
      a1 = a0 + K,
      a2 = a1 + K,
      a3 = a2 + K;
    for (let j = 0; j < M4; j += 4) {
      const b0 = j * K,
        b1 = b0 + K,
        b2 = b1 + K,
        b3 = b2 + K;
      let s00 = 0,
        s01 = 0,
        s02 = 0,
        s03 = 0,
        s10 = 0,
        s11 = 0,
        s12 = 0,
        s13 = 0;
      let s20 = 0,
        s21 = 0,
        s22 = 0,
        s23 = 0,
        s30 = 0,
        s31 = 0,
        s32 = 0,
        s33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k],
          x1 = A[a1 + k],
          x2 = A[a2 + k],
          x3 = A[a3 + k];
        const y0 = B[b0 + k],
          y1 = B[b1 + k],
          y2 = B[b2 + k],
          y3 = B[b3 + k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s02 += x0 * y2;
        s03 += x0 * y3;
        s10 += x1 * y0;
        s11 += x1 * y1;
        s12 += x1 * y2;
        s13 += x1 * y3;
        s20 += x2 * y0;
        s21 += x2 * y1;
        s22 += x2 * y2;
        s23 += x2 * y3;
        s30 += x3 * y0;
        s31 += x3 * y1;
        s32 += x3 * y2;
        s33 += x3 * y3;
      }
      const c0 = i * M + j,
        c1 = c0 + M,
        c2 = c1 + M,
        c3 = c2 + M;
      if (accumulate) {
        C[c0] += s00;
        C[c0 + 1] += s01;
        C[c0 + 2] += s02;
        C[c0 + 3] += s03;
        C[c1] += s10;
        C[c1 + 1] += s11;
        C[c1 + 2] += s12;
        C[c1 + 3] += s13;
        C[c2] += s20;
        C[c2 + 1] += s21;
        C[c2 + 2] += s22;
        C[c2 + 3] += s23;
        C[c3] += s30;
        C[c3 + 1] += s31;
        C[c3 + 2] += s32;
        C[c3 + 3] += s33;
      } else {
        C[c0] = s00;
        C[c0 + 1] = s01;
        C[c0 + 2] = s02;
        C[c0 + 3] = s03;
        C[c1] = s10;
        C[c1 + 1] = s11;
        C[c1 + 2] = s12;
        C[c1 + 3] = s13;
        C[c2] = s20;
        C[c2 + 1] = s21;
        C[c2 + 2] = s22;
        C[c2 + 3] = s23;
        C[c3] = s30;
        C[c3 + 1] = s31;
        C[c3 + 2] = s32;
        C[c3 + 3] = s33;
      }
    }
    for (let j = M4; j < M; j++) {
      const b0 = j * K;
      for (let r = 0; r < 4; r++) {
        const a = (i + r) * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[a + k] * B[b0 + k];
        const c = (i + r) * M + j;
        C[c] = accumulate ? C[c] + s : s;
      }
    }
  }
  for (let i = N4; i < N; i++) {
    const a = i * K;
    for (let j = 0; j < M; j++) {
      const b = j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a + k] * B[b + k];
      const c = i * M + j;
      C[c] = accumulate ? C[c] + s : s;
    }
  }
}

export function transpose(A: Arr, R: number, Cn: number, out: Arr): Arr {
  for (let r = 0; r < R; r++) {
    const o = r * Cn;
    for (let c = 0; c < Cn; c++) out[c * R + r] = A[o + c];
  }
  return out;
}

/** y[N,M] = x[N,K] W[M,K]^T + b */
export function linearFwd(x: Arr, W: Arr, b: Arr | null, N: number, M: number, K: number, y: Arr): void {
  gemmABt(x, W, y, N, M, K, false);
  if (b)
    for (let i = 0; i < N; i++) {
      const o = i * M;
      for (let j = 0; j < M; j++) y[o + j] += b[j];
    }
}

/**
 * Backward of linearFwd: dW += dy^T x, db += sum dy, and dx (+)= dy W (if dx given). accumulateDx adds into dx.
 */
export function linearBwd(
  dy: Arr,
  x: Arr,
  W: Arr,
  N: number,
  M: number,
  K: number,
  dW: Arr,
  db: Arr | null,
  dx: Arr | null,
  accumulateDx: boolean,
  ctor: ArrCtor,
): void {
  const dyT = transpose(dy, N, M, new ctor(N * M));
  const xT = transpose(x, N, K, new ctor(N * K));
  gemmABt(dyT, xT, dW, M, K, N, true);
  if (db)
    for (let i = 0; i < N; i++) {
      const o = i * M;
      for (let j = 0; j < M; j++) db[j] += dy[o + j];
    }
  if (dx) {
    const WT = transpose(W, M, K, new ctor(M * K));
    gemmABt(dy, WT, dx, N, K, M, accumulateDx);
  }
}

/** y = w * x / sqrt(mean(x^2) + eps), per row of d; rstd saved. */
export function rmsnormFwd(x: Arr, w: Arr, N: number, d: number, eps: number, y: Arr, rstd: Arr): void {
  for (let i = 0; i < N; i++) {
    const o = i * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[o + j] * x[o + j];
    const r = 1 / Math.sqrt(ss / d + eps);
    rstd[i] = r;
    for (let j = 0; j < d; j++) y[o + j] = w[j] * (x[o + j] * r);
  }
}

export function rmsnormBwd(
  dy: Arr,
  x: Arr,
  w: Arr,
  rstd: Arr,
  N: number,
  d: number,
  dx: Arr,
  dw: Arr,
  accumulateDx: boolean,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * d,
      r = rstd[i];
    let dot = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * w[j];
      dot += g * x[o + j];
      dw[j] += dy[o + j] * x[o + j] * r;
    }
    const c = (r * r * r * dot) / d;
    for (let j = 0; j < d; j++) {
      const v = r * dy[o + j] * w[j] - x[o + j] * c;
      dx[o + j] = accumulateDx ? dx[o + j] + v : v;
    }
  }
}

/** RoPE tables (HF rotate-half): cos/sin [T, hd/2] for positions pos0 .. pos0+T-1. */
export function ropeTables(T: number, hd: number, theta: number, pos0 = 0): { cos: Float64Array; sin: Float64Array } {
  const h = hd / 2;
  const cos = new Float64Array(T * h),
    sin = new Float64Array(T * h);
  for (let i = 0; i < h; i++) {
    const inv = 1 / Math.pow(theta, (2 * i) / hd);
    for (let t = 0; t < T; t++) {
      const a = (pos0 + t) * inv;
      cos[t * h + i] = Math.cos(a);
      sin[t * h + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** in-place rotation of x [B*T, nh*hd] (token t of each sequence uses row t of the tables); inverse=true for backward. */
export function ropeApply(
  x: Arr,
  B: number,
  T: number,
  nh: number,
  hd: number,
  cos: Float64Array,
  sin: Float64Array,
  inverse: boolean,
): void {
  const h = hd / 2,
    row = nh * hd,
    sg = inverse ? -1 : 1;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const base = (b * T + t) * row,
        tb = t * h;
      for (let hh = 0; hh < nh; hh++) {
        const o = base + hh * hd;
        for (let i = 0; i < h; i++) {
          const c = cos[tb + i],
            s = sg * sin[tb + i];
          const x1 = x[o + i],
            x2 = x[o + i + h];
          x[o + i] = x1 * c - x2 * s;
          x[o + i + h] = x2 * c + x1 * s;
        }
      }
    }
}

/**
 * Causal attention. q [B*T, H*hd], k/v [B*T, Hk*hd] (rotated), out [B*T, H*hd], P [B, H, T, T] saved.
 */
export function attnFwd(
  q: Arr,
  k: Arr,
  v: Arr,
  B: number,
  T: number,
  H: number,
  Hk: number,
  hd: number,
  out: Arr,
  P: Arr,
): void {
  const rep = H / Hk,
    scale = 1 / Math.sqrt(hd),
    qr = H * hd,
    kr = Hk * hd;
  const row = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / rep);
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qr + h * hd;
        let mx = -Infinity;
        for (let s = 0; s <= t; s++) {
          const ko = (b * T + s) * kr + kh * hd;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[qo + i] * k[ko + i];
          dot *= scale;
          row[s] = dot;
          if (dot > mx) mx = dot;
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          row[s] = Math.exp(row[s] - mx);
          sum += row[s];
        }
        const po = ((b * H + h) * T + t) * T;
        for (let s = 0; s < T; s++) P[po + s] = s <= t ? row[s] / sum : 0;
        const oo = (b * T + t) * qr + h * hd;
        for (let i = 0; i < hd; i++) out[oo + i] = 0;
        for (let s = 0; s <= t; s++) {
          const p = P[po + s],
            vo = (b * T + s) * kr + kh * hd;
          for (let i = 0; i < hd; i++) out[oo + i] += p * v[vo + i];
        }
      }
    }
}

export function attnBwd(
  dout: Arr,
  q: Arr,
  k: Arr,
  v: Arr,
  P: Arr,
  B: number,
  T: number,
  H: number,
  Hk: number,
  hd: number,
  dq: Arr,
  dk: Arr,
  dv: Arr,
): void {
  const rep = H / Hk,
    scale = 1 / Math.sqrt(hd),
    qr = H * hd,
    kr = Hk * hd;
  dq.fill(0);
  dk.fill(0);
  dv.fill(0);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / rep);
      for (let t = 0; t < T; t++) {
        const oo = (b * T + t) * qr + h * hd,
          po = ((b * H + h) * T + t) * T;
        let dot = 0;
        for (let s = 0; s <= t; s++) {
          const vo = (b * T + s) * kr + kh * hd,
            p = P[po + s];
          let g = 0;
          for (let i = 0; i < hd; i++) {
            g += dout[oo + i] * v[vo + i];
            dv[vo + i] += p * dout[oo + i];
          }
          dP[s] = g;
          dot += p * g;
        }
        for (let s = 0; s <= t; s++) {
          const ds = P[po + s] * (dP[s] - dot) * scale;
          if (ds === 0) continue;
          const ko = (b * T + s) * kr + kh * hd;
          for (let i = 0; i < hd; i++) {
            dq[oo + i] += ds * k[ko + i];
            dk[ko + i] += ds * q[oo + i];
          }
        }
      }
    }
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** a = silu(g) * u */
export function swigluFwd(g: Arr, u: Arr, a: Arr, n: number): void {
  for (let i = 0; i < n; i++) a[i] = g[i] * sigmoid(g[i]) * u[i];
}
export function swigluBwd(da: Arr, g: Arr, u: Arr, dg: Arr, du: Arr, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = sigmoid(g[i]),
      si = g[i] * s;
    du[i] = da[i] * si;
    dg[i] = da[i] * u[i] * (s * (1 + g[i] * (1 - s)));
  }
}

/**
 * Mean cross-entropy over targets != ignore; writes dlogits = scale * d(mean)/d(logits) when dlogits given.
 * Returns {loss, count}.
 */
export function crossEntropy(
  logits: Arr,
  targets: Int32Array | number[],
  N: number,
  V: number,
  ignore: number,
  dlogits: Arr | null,
  scale: number,
): { loss: number; count: number } {
  const tg = targets instanceof Int32Array ? targets : Int32Array.from(targets);
  let count = 0;
  for (let i = 0; i < N; i++) if (tg[i] !== ignore) count++;
  const weights = new Float32Array(N);
  if (count) for (let i = 0; i < N; i++) if (tg[i] !== ignore) weights[i] = 1 / count;
  const loss = weightedCrossEntropy(logits, tg, weights, N, N, V, dlogits, scale, new Float64Array(1));
  return { loss, count };
}

/**
 * Weighted token log-likelihood: loss = sum_i w_i * (-log p_i(target_i)) (no normalisation; the caller scales w), and
 * seq[b] += sum over row b's positions of w_i * log p_i, rows of T positions. Positions with w_i = 0 are skipped whatever
 * their target (padding included). dlogits (if given) receives scale * d(loss)/d(logits).
 */
export function weightedCrossEntropy(
  logits: Arr,
  targets: Int32Array,
  weights: Float32Array,
  N: number,
  T: number,
  V: number,
  dlogits: Arr | null,
  scale: number,
  seq: Float64Array,
): number {
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const o = i * V,
      tg = targets[i],
      w = weights[i];
    if (w === 0) {
      if (dlogits) for (let j = 0; j < V; j++) dlogits[o + j] = 0;
      continue;
    }
    if (!Number.isFinite(w)) throw new Error(`loss weight ${w} at position ${i} is not finite`);
    if (tg < 0 || tg >= V) throw new Error(`target token ${tg} outside the vocabulary (size ${V})`);
    let mx = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > mx) mx = logits[o + j];
    let sum = 0;
    if (dlogits) {
      for (let j = 0; j < V; j++) {
        const e = Math.exp(logits[o + j] - mx);
        dlogits[o + j] = e;
        sum += e;
      }
      const f = (scale * w) / sum;
      for (let j = 0; j < V; j++) dlogits[o + j] *= f;
      dlogits[o + tg] -= scale * w;
    } else for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - mx);
    const lp = logits[o + tg] - (mx + Math.log(sum));
    loss -= w * lp;
    seq[Math.floor(i / T)] += w * lp;
  }
  return loss;
}
