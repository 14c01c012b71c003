/**
 * Row-parallel GEMM over worker threads for the CPU backend. Workers run the very same kernel (gemmSerial's source),
 * on shared buffers; the main thread computes the first block of rows itself and waits with Atomics. Used only for
 * fp32 products above a size threshold. Results are bitwise identical to the serial kernel (rows are independent and
 * split on multiples of 4, so the tiling is unchanged).
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { gemmSerial, setGemmHook, type Arr } from './ops.ts';
import { setting } from '../../pipeline/settings.ts';

const MIN_WORK = 1 << 21; // N*M*K below this runs serially

const WORKER_SRC = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const gemm = (__GEMM__);
const ctrl = new Int32Array(workerData.ctrl);
const port = workerData.port;
let A = null, B = null, C = null;
Atomics.store(ctrl, 7, 1);
Atomics.notify(ctrl, 7);
for (;;) {
  Atomics.wait(ctrl, 0, 0);
  let m;
  while ((m = receiveMessageOnPort(port))) { A = new Float32Array(m.message.a); B = new Float32Array(m.message.b); C = new Float32Array(m.message.c); }
  if (ctrl[0] === 2) break;
  const i0 = ctrl[1], i1 = ctrl[2], M = ctrl[3], K = ctrl[4];
  try {
    gemm(A.subarray(i0 * K, i1 * K), B, C.subarray(i0 * M, i1 * M), i1 - i0, M, K, ctrl[8] === 1);
    ctrl[6] = 0;
  } catch (e) { ctrl[6] = 1; }
  Atomics.store(ctrl, 0, 0);
  Atomics.store(ctrl, 5, 1);
  Atomics.notify(ctrl, 5);
}
`;

interface W {
  worker: Worker;
  ctrl: Int32Array;
  port: MessagePort;
  gen: number;
}

class GemmPool {
  private ws: W[] = [];
  private sa = new SharedArrayBuffer(4);
  private sb = new SharedArrayBuffer(4);
  private sc = new SharedArrayBuffer(4);
  private gen = 0;
  broken = false;

  constructor(n: number) {
    const src = WORKER_SRC.replace('__GEMM__', gemmSerial.toString());
    for (let i = 0; i < n; i++) {
      const ctrl = new Int32Array(new SharedArrayBuffer(16 * 4));
      const ch = new MessageChannel();
      const worker = new Worker(src, {
        eval: true,
        workerData: { ctrl: ctrl.buffer, port: ch.port2 },
        transferList: [ch.port2],
      });
      worker.unref();
      worker.on('error', () => {
        this.broken = true;
      });
      this.ws.push({ worker, ctrl, port: ch.port1, gen: -1 });
    }
  }

  private ensure(a: number, b: number, c: number): void {
    if (this.sa.byteLength >= a * 4 && this.sb.byteLength >= b * 4 && this.sc.byteLength >= c * 4) return;
    const grow = (buf: SharedArrayBuffer, n: number) =>
      buf.byteLength >= n * 4 ? buf : new SharedArrayBuffer(Math.ceil(n * 1.25) * 4);
    this.sa = grow(this.sa, a);
    this.sb = grow(this.sb, b);
    this.sc = grow(this.sc, c);
    this.gen++;
  }

  run(A: Arr, B: Arr, C: Arr, N: number, M: number, K: number, accumulate: boolean): boolean {
    if (this.broken || !(A instanceof Float32Array) || !(B instanceof Float32Array) || !(C instanceof Float32Array))
      return false;
    if (N * M * K < MIN_WORK || N < 8 * (this.ws.length + 1)) return false;
    const parts = this.ws.length + 1;
    const chunk = Math.ceil(N / parts / 4) * 4;
    const main = Math.min(chunk, N);
    this.ensure(N * K, M * K, N * M);
    const sa = new Float32Array(this.sa),
      sb = new Float32Array(this.sb),
      sc = new Float32Array(this.sc);
    sa.set(A.subarray(main * K, N * K), main * K);
    sb.set(B.subarray(0, M * K));
    if (accumulate) sc.set(C.subarray(main * M, N * M), main * M); // workers add into C's own rows (same rounding as serial)
    for (const x of this.ws) {
      // first use: wait for the worker to start (a worker that cannot start disables the pool)
      if (
        Atomics.load(x.ctrl, 7) !== 1 &&
        Atomics.wait(x.ctrl, 7, 0, 20_000) === 'timed-out' &&
        Atomics.load(x.ctrl, 7) !== 1
      ) {
        this.broken = true;
        return false;
      }
    }
    const used: W[] = [];
    for (let w = 0; w < this.ws.length; w++) {
      const i0 = main + w * chunk,
        i1 = Math.min(N, i0 + chunk);
      if (i0 >= i1) break;
      const x = this.ws[w];
      if (x.gen !== this.gen) {
        x.port.postMessage({ a: this.sa, b: this.sb, c: this.sc });
        x.gen = this.gen;
      }
      x.ctrl[1] = i0;
      x.ctrl[2] = i1;
      x.ctrl[3] = M;
      x.ctrl[4] = K;
      x.ctrl[5] = 0;
      x.ctrl[8] = accumulate ? 1 : 0;
      Atomics.store(x.ctrl, 0, 1);
      Atomics.notify(x.ctrl, 0);
      used.push(x);
    }
    gemmSerial(A.subarray(0, main * K), B, C.subarray(0, main * M), main, M, K, accumulate);
    for (const x of used) {
      while (Atomics.load(x.ctrl, 5) === 0) {
        if (Atomics.wait(x.ctrl, 5, 0, 30_000) === 'timed-out' && Atomics.load(x.ctrl, 5) === 0)
          throw new Error('cpu backend: GEMM worker thread stopped responding');
      }
      if (x.ctrl[6] !== 0) throw new Error('cpu backend: GEMM worker thread failed');
    }
    C.set(sc.subarray(main * M, N * M), main * M);
    return true;
  }

  close(): void {
    for (const x of this.ws) {
      Atomics.store(x.ctrl, 0, 2);
      Atomics.notify(x.ctrl, 0);
      void x.worker.terminate();
    }
    this.ws = [];
  }
}

let pool: GemmPool | null = null;
let poolThreads = 1;

/** sets the CPU backend's thread count (1 = serial). Default: STEEL_CPU_THREADS, else min(2, available cores). */
export function setCpuThreads(n?: number): number {
  const want = Math.max(1, Math.floor(n ?? setting('cpuThreads') ?? Math.min(2, availableParallelism())));
  if (want === poolThreads && (want === 1 || pool)) return want;
  pool?.close();
  pool = null;
  setGemmHook(null);
  poolThreads = want;
  if (want > 1) {
    pool = new GemmPool(want - 1);
    const p = pool;
    setGemmHook((A, B, C, N, M, K, acc) => p.run(A, B, C, N, M, K, acc));
  }
  return want;
}
