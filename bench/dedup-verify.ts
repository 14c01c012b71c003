/**
 * The MinHash phase's verify stage (and optionally buckets before it) re-run in this process over the work folder of a
 * finished `steel prep` (OUT/.state/pN-minhash_dedup/work), for profiling and same-process comparisons. Prints the
 * CPU-seconds of each task and verify's counts; the edges it writes replace the folder's (the same components).
 * --index: the buckets and index stages only (the index of the folder's kept documents, written to a temporary folder).
 * --a TREE --b TREE: the stages of two checkouts (their dedup/ sources) in this one process, alternating (A B, then B
 * A, …) for --repeat rounds; each pass also prints the SHA-256 of the edges and vsets files it wrote (equal code paths
 * write equal files).
 *
 *   npx tsx bench/dedup-verify.ts WORK_DIR [--buckets | --index] [--repeat N] [--a TREE --b TREE] [--verify-tasks N]
 * --verify-tasks: the verify step's ranges (verifyPlan; a tree from before it runs one task per file group).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DedupConfig } from '../dedup/config.ts';
import type { SignedFile } from '../dedup/stages/signatures.ts';
import type { Numbering } from '../dedup/stages/common.ts';
import type { TaskContext } from '../pipeline/task.ts';

const { values, positionals } = parseArgs({
  options: {
    buckets: { type: 'boolean', default: false },
    index: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    'verify-tasks': { type: 'string', default: '1' },
    a: { type: 'string' },
    b: { type: 'string' },
  },
  allowPositionals: true,
});
const work = positionals[0];
if (!work) throw new Error('usage: dedup-verify.ts WORK_DIR [--buckets] [--repeat N] [--a TREE --b TREE]');

interface Stages {
  name: string;
  buckets: typeof import('../dedup/stages/buckets.ts');
  index: typeof import('../dedup/stages/kept-index.ts');
  verify: typeof import('../dedup/stages/verify.ts');
  common: typeof import('../dedup/stages/common.ts');
}
const load = async (name: string, tree: string): Promise<Stages> => ({
  name,
  buckets: await import(resolve(tree, 'dedup/stages/buckets.ts')),
  index: await import(resolve(tree, 'dedup/stages/kept-index.ts')),
  verify: await import(resolve(tree, 'dedup/stages/verify.ts')),
  common: await import(resolve(tree, 'dedup/stages/common.ts')),
});
const ROOT = new URL('..', import.meta.url).pathname;
const trees: Stages[] =
  values.a && values.b ? [await load('A', values.a), await load('B', values.b)] : [await load('', ROOT)];

const cfg = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8')) as DedupConfig;
const F = cfg.inputs.length;
const offsets = new Array<number>(F + 1).fill(0);
const runs = new Array<number>(F).fill(0);
for (let fi = 0; fi < F; fi++) {
  // the done record as written (its key names the run's first work folder: this one may be a copy)
  const s = JSON.parse(readFileSync(trees[0]!.common.fileDonePath(cfg, fi), 'utf8')) as SignedFile;
  offsets[fi + 1] = offsets[fi]! + s.docs;
  runs[fi] = s.runs;
}
const num: Numbering = { offsets, indexDocs: 0, runs };
const ctx: TaskContext = { progress: () => {} } as unknown as TaskContext;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** SHA-256 of the files under the work folder's `sub` folders (sorted paths). */
function digest(subs: string[]): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(f).update(readFileSync(p));
    }
  };
  for (const s of subs) if (existsSync(join(work!, s))) walk(join(work!, s));
  return h.digest('hex').slice(0, 12);
}

async function pass(t: Stages): Promise<string> {
  const line: string[] = t.name ? [t.name] : [];
  if (values.buckets || values.index) {
    const c0 = cpu();
    const world = t.common.bandTasks(cfg);
    const bs = { compared: 0, candidates: 0, edges: 0 };
    for (let r = 0; r < world; r++) {
      const s = await t.buckets.bucketsTask.run(r, world, { cfg, num }, ctx);
      for (const k of Object.keys(bs) as (keyof typeof bs)[]) bs[k] += s[k];
    }
    line.push(`buckets ${(cpu() - c0).toFixed(3)}`, JSON.stringify(bs));
  }
  if (values.index) {
    const c0 = cpu();
    const newIndexDir = mkdtempSync(join(tmpdir(), 'dedup-index-'));
    const world = t.common.bandTasks(cfg, 1);
    for (let r = 0; r < world; r++) await t.index.indexTask.run(r, world, { cfg, num, starsDir: '', newIndexDir }, ctx);
    line.push(`index ${(cpu() - c0).toFixed(3)}`);
    rmSync(newIndexDir, { recursive: true, force: true });
    return line.join('  ');
  }
  let c0 = cpu();
  const profiles: number[][] = [];
  // a tree before the sets tasks by cost: one per group
  const candBytes = Array.from({ length: cfg.groups }, (_, g) =>
    t.common.inputFilesFor(join(work!, 'cand'), g).reduce((a, f) => a + statSync(f).size, 0),
  );
  // a tree before the sets tasks by node ranges (sets) took a sets task per file (setsOf): both are passed
  const split = t.verify.setsTasks(cfg, num, candBytes) as { bounds?: number[]; setsOf?: number[] };
  const sets = split.bounds ?? [];
  const setsOf = split.setsOf ?? [];
  const nSets = split.bounds ? sets.length - 1 : setsOf.reduce((a, t) => Math.max(a, t + 1), 0);
  const ranges = Number(values['verify-tasks']);
  for (let g = 0; g < nSets; g++) {
    // the sets tasks' profiles of pairs (a tree before them: none)
    const r = await t.verify.verifySetsTask.run(g, nSets, { cfg, num, sets, ...{ setsOf }, ranges }, ctx);
    profiles.push((r as { profile?: number[] }).profile ?? []);
  }
  line.push(`sets ${(cpu() - c0).toFixed(3)}`);
  c0 = cpu();
  const st = { pairs: 0, verified: 0, connected: 0, bySize: 0 };
  // a tree before the verify plan: one task per group
  const old = !('verifyPlan' in t.verify);
  const nodes = num.offsets.at(-1)!;
  const plan = old
    ? undefined
    : t.verify.verifyPlan(
        'checkProfile' in t.verify && ranges > 1
          ? [...profiles, t.verify.checkProfile({ cfg, num, sets, ...{ setsOf }, ranges }, nodes)]
          : profiles,
        ranges,
        nodes,
      );
  const world = plan ? plan.bounds.length - 1 : cfg.groups;
  for (let k = 0; k < world; k++) {
    const s = await t.verify.verifyTask.run(k, world, { cfg, num, sets, ...{ setsOf }, ranges, plan: plan! }, ctx);
    for (const k of Object.keys(st) as (keyof typeof st)[]) st[k] += s[k];
  }
  line.push(`verify ${(cpu() - c0).toFixed(3)}`, JSON.stringify(st));
  if (trees.length > 1) line.push(`files ${digest(values.buckets ? ['cand', 'vsets', 'edges'] : ['vsets', 'edges'])}`);
  return line.join('  ');
}

for (let r = 0; r < Number(values.repeat); r++) {
  const order = r % 2 === 0 ? trees : [...trees].reverse();
  for (const t of order) console.log(await pass(t));
}
