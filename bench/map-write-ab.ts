/**
 * The map phase's writing, old against new, in one command (issue 21): a child process per run reads a finished
 * prep's map outputs (OUT/.state/p0-map/docs/*.jsonl.zst: the kept documents; OUT/excluded/part-*.jsonl.zst: the
 * dropped ones with stage, rule and value) into memory, then writes them as the map task does (per part: the
 * documents through openDocWriter at zstd level 1, the exclusions through ExclusionWriter) with this checkout's or
 * another's pipeline/writers (--other DIR, e.g. a worktree of the commit before a change), alternating; prints per
 * run the CPU-seconds of the writing (process.cpuUsage, user + system, all threads: the first pass is a process's
 * first, as in a prep), and a SHA-256 of the files written (compressed bytes), which must be equal.
 *
 *   npx tsx bench/map-write-ab.ts --out OUT [--other DIR] [--pairs 5] [--passes 1] [--same]
 * --same: one process with both trees' writers, alternating pass by pass (--passes of each).
 * (internal: --child ROOT)
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    other: { type: 'string' },
    pairs: { type: 'string', default: '5' },
    passes: { type: 'string', default: '1' },
    child: { type: 'string' },
    same: { type: 'boolean', default: false },
  },
});
const HERE = fileURLToPath(new URL('..', import.meta.url));
if (!values.out) throw new Error('--out OUT: a finished `steel prep` output folder');
const OUT = resolve(values.out);

interface Doc {
  id: string;
  text: string;
  source: string;
  lang?: string;
  meta: Record<string, unknown>;
}

if (values.child) {
  // ROOT, or ROOT,ROOT2: both trees' writers in this process, alternating pass by pass (ROOT first in even passes)
  const roots = values.child.split(',').map((r) => resolve(r));
  const { readRecords } = await import(pathToFileURL(join(HERE, 'pipeline/readers/index.ts')).href);
  const Ws = await Promise.all(roots.map((r) => import(pathToFileURL(join(r, 'pipeline/writers/index.ts')).href)));
  const parts: { docs: Doc[]; excl: { doc: Doc; stage: string; rule: string; value?: number | string }[] }[] = [];
  const docsDir = join(OUT, '.state/p0-map/docs');
  for (const f of readdirSync(docsDir).sort()) {
    const part: (typeof parts)[number] = { docs: [], excl: [] };
    for await (const it of readRecords(join(docsDir, f))) if (it.kind === 'record') part.docs.push(it.record as Doc);
    try {
      for await (const it of readRecords(join(OUT, 'excluded', f))) {
        if (it.kind !== 'record') continue;
        const { stage, rule, value, ...doc } = it.record as Doc & { stage: string; rule: string; value?: number };
        part.excl.push({ doc, stage, rule, value });
      }
    } catch {
      // no exclusions in this part
    }
    parts.push(part);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'map-write-ab-'));
  const cpu: number[][] = Ws.map(() => []);
  const shas: string[] = [];
  for (let pass = 0; pass < Number(values.passes); pass++) {
    for (const k of pass % 2 ? [...Ws.keys()].reverse() : Ws.keys()) {
      const W = Ws[k];
      const c0 = process.cpuUsage();
      for (const [i, p] of parts.entries()) {
        const docs = W.openDocWriter(join(tmp, `docs/part-${i}.jsonl.zst`), { level: 1 });
        const ex = new W.ExclusionWriter(join(tmp, `excluded/part-${i}.jsonl.zst`));
        // the map task writes a batch's drops, then its kept documents
        for (const e of p.excl) await ex.write(e.doc, e.stage, e.rule, e.value);
        for (const d of p.docs) await docs.write(d);
        await ex.close();
        await docs.close();
      }
      const c = process.cpuUsage(c0);
      cpu[k]!.push((c.user + c.system) / 1e6);
      const h = createHash('sha256');
      for (const sub of ['docs', 'excluded'])
        for (const f of readdirSync(join(tmp, sub)).sort()) h.update(readFileSync(join(tmp, sub, f)));
      shas[k] = h.digest('hex').slice(0, 16);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(JSON.stringify(Ws.length === 1 ? { cpu: cpu[0], sha: shas[0] } : { cpu, sha: shas }));
  process.exit(0);
}

const run = (root: string): { cpu: number[]; sha: string } => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', root, '--out', OUT, '--passes', values.passes!],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

if (values.same) {
  if (!values.other) throw new Error('--same needs --other');
  // one process, both trees, alternating pass by pass: within-pass pairs without the process-to-process spread
  const r = run(`${resolve(values.other)},${HERE}`) as unknown as { cpu: number[][]; sha: string[] };
  const [a, b] = r.cpu as [number[], number[]];
  const ratios = a.map((x, i) => b[i]! / x);
  const s = [...ratios].sort((x, y) => x - y);
  console.log(`one process, load ${loadavg()[0].toFixed(1)}, sha ${r.sha.join(' / ')}`);
  console.log(`old: ${a.map((x) => x.toFixed(3)).join(' ')}`);
  console.log(`new: ${b.map((x) => x.toFixed(3)).join(' ')}`);
  console.log(
    `ratio new/old per pass: median ${s[s.length >> 1]!.toFixed(3)}, lower in ${ratios.filter((x) => x < 1).length} of ${ratios.length}`,
  );
  process.exit(0);
}

const trees = values.other ? [resolve(values.other), HERE] : [HERE];
const ratios: number[] = [];
for (let p = 0; p < Number(values.pairs); p++) {
  // base first in even pairs, new first in odd ones
  const order = p % 2 ? [...trees].reverse() : trees;
  const res = new Map<string, { cpu: number[]; sha: string }>();
  for (const t of order) res.set(t, run(t));
  const line = trees.map(
    (t) =>
      `${res
        .get(t)!
        .cpu.map((c) => c.toFixed(3))
        .join('/')} (${res.get(t)!.sha})`,
  );
  if (trees.length === 2) ratios.push(res.get(trees[1])!.cpu[0] / res.get(trees[0])!.cpu[0]);
  console.log(
    `pair ${p + 1} load ${loadavg()[0].toFixed(1)}: ${line.join(' -> ')}${trees.length === 2 ? ` ratio ${ratios.at(-1)!.toFixed(3)}` : ''}`,
  );
}
if (ratios.length) {
  const s = [...ratios].sort((a, b) => a - b);
  console.log(
    `first-pass ratio new/old: median ${s[s.length >> 1].toFixed(3)}, lower in ${ratios.filter((r) => r < 1).length} of ${ratios.length}`,
  );
}
