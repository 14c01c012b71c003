/**
 * MB per CPU-second of each map step of a recipe over the bundled sample (filters/harness.ts runMapSteps: one document
 * at a time, CPU time of this process per step), and of the map steps together.
 *
 *   npx tsx bench/recipe-speed.ts [steel-text]
 */
import { readSample, mapSteps, runMapSteps } from '../filters/harness.ts';
import { operators } from '../cli/operators.ts';

const recipe = process.argv[2] ?? 'steel-text';
const docs = (await readSample()).flatMap((s) => s.docs);
const mb = docs.reduce((a, d) => a + Buffer.byteLength(d.text, 'utf8'), 0) / 1e6;
const r = await runMapSteps(await mapSteps(recipe, operators), docs);
if (r.kept.length + r.excluded.length !== docs.length)
  throw new Error(`${docs.length} documents in, ${r.kept.length} kept + ${r.excluded.length} dropped`);
let total = 0;
for (const [step, ms] of Object.entries(r.ms)) {
  total += ms;
  console.log(`${step.padEnd(28)} ${(r.bytesIn[step] / 1e6 / (ms / 1000)).toFixed(1).padStart(8)} MB/CPU-s`);
}
console.log(
  `${recipe} map steps: ${docs.length} documents, ${mb.toFixed(1)} MB, ${(total / 1000).toFixed(1)} CPU-s = ${(mb / (total / 1000)).toFixed(2)} MB/CPU-s; kept ${r.kept.length}, dropped ${r.excluded.length}`,
);
