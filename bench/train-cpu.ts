/**
 * CPU backend benchmark: GEMM throughput, and training-step throughput (tokens/s) of the CPU presets on synthetic
 * blocks, with a correctness check (the loss is finite and falls over the measured steps on a repeated batch).
 *   npx tsx bench/train-cpu.ts [--presets small,small-dense,tiny] [--steps 8]
 */
import { parseArgs } from 'node:util';
import { gemmABt } from '../train/backends/ops.ts';
import { CpuBackend } from '../train/backends/cpu.ts';
import { getPreset, flopsPerToken } from '../train/config.ts';
import { Rng } from '../train/rng.ts';

const { values: v } = parseArgs({
  options: { presets: { type: 'string', default: 'tiny,small,small-dense' }, steps: { type: 'string', default: '8' } },
});

function gemmBench(N: number, M: number, K: number): number {
  const r = new Rng(1);
  const A = Float32Array.from({ length: N * K }, () => r.normal()),
    B = Float32Array.from({ length: M * K }, () => r.normal());
  const C = new Float32Array(N * M);
  gemmABt(A, B, C, N, M, K, false);
  // correctness: one entry against a plain dot product
  let ref = 0;
  for (let k = 0; k < K; k++) ref += A[3 * K + k] * B[5 * K + k];
  if (Math.abs(ref - C[3 * M + 5]) > 1e-3 * Math.max(1, Math.abs(ref))) throw new Error('gemm result wrong');
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    gemmABt(A, B, C, N, M, K, false);
    reps++;
  }
  return (2 * N * M * K * reps) / ((performance.now() - t0) / 1000);
}

console.log(`# CPU backend benchmark (${new Date().toISOString()}, Node ${process.version})`);
for (const [N, M, K] of [
  [256, 4098, 64],
  [256, 256, 64],
  [256, 64, 256],
])
  console.log(`gemm ${N}x${M}x${K}: ${(gemmBench(N, M, K) / 1e9).toFixed(2)} GFLOP/s`);

for (const name of v.presets!.split(',')) {
  const p = getPreset(name);
  const c = { ...p.model };
  if (c.compactVocab) {
    c.vocabSize = (c.vocabCap ?? 4096) + 2;
    c.padId = 0;
    c.eosId = 1;
  }
  const be = new CpuBackend(c);
  await be.init(1);
  const B = p.train.microBatch,
    T = c.seqLen;
  const r = new Rng(2);
  const tokens = Int32Array.from({ length: B * (T + 1) }, () => 2 + r.int(Math.min(c.vocabSize - 2, 200)));
  const steps = Number(v.steps);
  const opt = { lr: p.train.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05, gradClip: 1 };
  let first = 0,
    last = 0;
  await be.zeroGrad();
  await be.forwardBackward(tokens, B, T);
  await be.step(opt); // warm-up
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    await be.zeroGrad();
    const l = await be.forwardBackward(tokens, B, T);
    await be.step(opt);
    if (s === 0) first = l;
    last = l;
  }
  const secs = (performance.now() - t0) / 1000;
  if (!Number.isFinite(last) || !(last < first)) throw new Error(`${name}: loss did not fall (${first} -> ${last})`);
  const tps = (steps * B * T) / secs;
  const fpt = flopsPerToken(c).total;
  console.log(
    `${name.padEnd(12)} vocab ${c.vocabSize} B=${B} T=${T}: ${((secs / steps) * 1000).toFixed(0)} ms/step, ${tps.toFixed(0)} tokens/s, ${((tps * fpt) / 1e9).toFixed(2)} GFLOP/s model FLOPs; loss ${first.toFixed(3)} -> ${last.toFixed(3)}`,
  );
}
