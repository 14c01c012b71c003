/**
 * The Gopher n-gram sweep's WebAssembly kernel (filters/ngram-kernel.c `sweep`), one build against another, in one
 * process (issue 21): the inputs are those of zh-web's gopher_repetition over the bundled sample's Chinese documents
 * (after remove_repeat_sentences): per document the jieba words' hashes for n = 2 .. 10 (tops 2-4, duplicates 5-10)
 * and, where some words lie inside sentences, the words outside them for n = 5 .. 10. Kernels A and B alternate on
 * chunks of 200 inputs (order flipped per chunk); prints the median of `--rounds` passes of each (wall ms, JavaScript
 * copy-in and read-out included), in how many rounds B was lower, and how many results differ.
 *
 *   npx tsx bench/ngram-sweep-ab.ts A.wasm B.wasm [ROUNDS]
 * (A.wasm: e.g. `git show BASE:filters/ngram-kernel.wasm > /tmp/a.wasm`; B.wasm: `bash filters/ngram-kernel.sh /tmp/b.wasm`)
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readSample } from '../filters/harness.ts';
import { removeRepeatSentences } from '../filters/mappers.ts';
import { hashWords, wordsOutsideSentencesAndTables, type NgramKernel } from '../filters/stats.ts';
import { instantiate } from '../pipeline/wasm.ts';
import { jiebaSpanWords } from '../filters/text.ts';

/** The kernel's sweep (stats.ts ngramStats' part of it). */
type Sweep = Pick<NgramKernel, 'memory' | 'prepare' | 'kindsAt' | 'topAt' | 'dupAt' | 'sweep'>;
interface Input {
  h1: Int32Array;
  h2: Int32Array;
  cum: Int32Array;
  n: number;
  n0: number;
  kinds: readonly number[];
}
const [fa, fb, rounds = '9'] = process.argv.slice(2);
if (!fa || !fb) throw new Error('usage: ngram-sweep-ab.ts A.wasm B.wasm [ROUNDS]');
const MAX_N = 10;
const WHOLE = [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2],
  OUTSIDE = [0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2];

let docs: string[] = [];
for (const s of await readSample()) for (const d of s.docs) docs.push(d.text);
docs = docs.filter((t) => /\p{Script=Han}/u.test(t.slice(0, 2000))).map((t) => removeRepeatSentences(t, 10));
const inputs: Input[] = [];
for (const t of docs) {
  const w = jiebaSpanWords(t);
  hashWords(w);
  const take = (x: typeof w, n0: number, kinds: readonly number[]): Input => ({
    h1: x.h1.slice(0, x.n),
    h2: x.h2.slice(0, x.n),
    cum: x.cum.slice(0, x.n + 1),
    n: x.n,
    n0,
    kinds,
  });
  inputs.push(take(w, 2, WHOLE));
  const o = wordsOutsideSentencesAndTables(t, w);
  if (o.n === w.n) continue;
  if (o.hashedGen !== o.gen) hashWords(o);
  inputs.push(take(o, 5, OUTSIDE));
}

// each build compiled on its own (instantiate compiles a file once per process)
const load = (f: string) => instantiate<Sweep>(pathToFileURL(resolve(f)));
const kernels = [load(fa), load(fb)];
function pass(k: Sweep, chunk: Input[], res: number[]): void {
  for (const x of chunk) {
    const at = k.prepare(x.n, MAX_N);
    const stride = ((x.n + 1) * 4 + 15) & ~15;
    const buf = k.memory.buffer;
    new Int32Array(buf, at, x.n).set(x.h1);
    new Int32Array(buf, at + stride, x.n).set(x.h2);
    new Int32Array(buf, at + 2 * stride, x.n + 1).set(x.cum);
    new Uint8Array(buf, k.kindsAt(), MAX_N + 1).set(x.kinds);
    k.sweep(x.n, x.n0, MAX_N, 0);
    const out = k.memory.buffer;
    const top = new Float64Array(out, k.topAt(), MAX_N + 1),
      dup = new Float64Array(out, k.dupAt(), MAX_N + 1);
    for (let n = x.n0; n <= MAX_N; n++) res.push(x.kinds[n] & 1 ? top[n] : 0, x.kinds[n] & 2 ? dup[n] : 0);
  }
}
const R = Number(rounds),
  C = 200;
const ms: number[][] = [[], []];
let differ = 0;
for (let r = 0; r < R; r++) {
  const t = [0, 0];
  for (let c = 0, q = 0; c < inputs.length; c += C, q++) {
    const chunk = inputs.slice(c, c + C);
    const res: number[][] = [[], []];
    for (const j of q % 2 ? [1, 0] : [0, 1]) {
      const t0 = process.hrtime.bigint();
      pass(kernels[j], chunk, res[j]);
      t[j] += Number(process.hrtime.bigint() - t0) / 1e6;
    }
    for (let i = 0; i < res[0].length; i++) if (res[0][i] !== res[1][i]) differ++;
  }
  ms[0].push(t[0]);
  ms[1].push(t[1]);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const lower = ms[0].filter((a, i) => ms[1][i] < a).length;
console.log(
  `${inputs.length} inputs; A ${med(ms[0]).toFixed(1)} ms, B ${med(ms[1]).toFixed(1)} ms, B/A ${(med(ms[1]) / med(ms[0])).toFixed(3)}, ` +
    `B lower in ${lower} of ${R} rounds; results that differ: ${differ}`,
);
// a faster build that answers differently is not a result
if (differ > 0) {
  console.error(`ngram-sweep-ab: ${differ} results differ between A and B`);
  process.exitCode = 1;
}
