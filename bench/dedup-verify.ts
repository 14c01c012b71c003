/**
 * The MinHash phase's verify stage (and optionally buckets before it) re-run in this process over the work folder of a
 * finished `steel prep` (OUT/.state/pN-minhash_dedup/work), for profiling and same-process comparisons. Prints the
 * CPU-seconds of each task and verify's counts; the edges it writes replace the folder's (the same components).
 * --index: the buckets and index stages only (the index of the folder's kept documents, written to a temporary folder).
 *
 *   npx tsx bench/dedup-verify.ts WORK_DIR [--buckets | --index] [--repeat N]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DedupConfig } from '../dedup/config.ts';
import type { SignedFile } from '../dedup/stages/signatures.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { bucketsTask } from '../dedup/stages/buckets.ts';
import { indexTask } from '../dedup/stages/kept-index.ts';
import { verifySetsTask, verifyTask } from '../dedup/stages/verify.ts';
import { bandTasks, fileDonePath, type Numbering } from '../dedup/stages/common.ts';
import type { TaskContext } from '../pipeline/task.ts';

const { values, positionals } = parseArgs({
  options: {
    buckets: { type: 'boolean', default: false },
    index: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
  },
  allowPositionals: true,
});
const work = positionals[0];
if (!work) throw new Error('usage: dedup-verify.ts WORK_DIR [--buckets] [--repeat N]');
const cfg = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8')) as DedupConfig;
const F = cfg.inputs.length;
const offsets = new Array<number>(F + 1).fill(0);
const runs = new Array<number>(F).fill(0);
for (let fi = 0; fi < F; fi++) {
  // the done record as written (its key names the run's first work folder: this one may be a copy)
  const s = JSON.parse(readFileSync(fileDonePath(cfg, fi), 'utf8')) as SignedFile;
  offsets[fi + 1] = offsets[fi]! + s.docs;
  runs[fi] = s.runs;
}
const num: Numbering = { offsets, indexDocs: 0, runs };
const ctx: TaskContext = { progress: () => {} } as unknown as TaskContext;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
for (let r = 0; r < Number(values.repeat); r++) {
  const line: string[] = [];
  if (values.buckets || values.index) {
    const c0 = cpu();
    const world = bandTasks(cfg);
    const bs = { compared: 0, candidates: 0, edges: 0 };
    for (let t = 0; t < world; t++) {
      const s = await bucketsTask.run(t, world, { cfg, num }, ctx);
      for (const k of Object.keys(bs) as (keyof typeof bs)[]) bs[k] += s[k];
    }
    line.push(`buckets ${(cpu() - c0).toFixed(3)}`, JSON.stringify(bs));
  }
  if (values.index) {
    const c0 = cpu();
    const newIndexDir = mkdtempSync(join(tmpdir(), 'dedup-index-'));
    const world = bandTasks(cfg, 1);
    for (let t = 0; t < world; t++) await indexTask.run(t, world, { cfg, num, starsDir: '', newIndexDir }, ctx);
    line.push(`index ${(cpu() - c0).toFixed(3)}`);
    rmSync(newIndexDir, { recursive: true, force: true });
    console.log(line.join('  '));
    continue;
  }
  let c0 = cpu();
  for (let g = 0; g < cfg.groups; g++) await verifySetsTask.run(g, cfg.groups, { cfg, num }, ctx);
  line.push(`sets ${(cpu() - c0).toFixed(3)}`);
  c0 = cpu();
  const st = { pairs: 0, verified: 0, connected: 0, bySize: 0 };
  for (let g = 0; g < cfg.groups; g++) {
    const s = await verifyTask.run(g, cfg.groups, { cfg, num }, ctx);
    for (const k of Object.keys(st) as (keyof typeof st)[]) st[k] += s[k];
  }
  line.push(`verify ${(cpu() - c0).toFixed(3)}`, JSON.stringify(st));
  console.log(line.join('  '));
}
