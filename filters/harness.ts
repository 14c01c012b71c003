/**
 * In-process runner for a recipe's map steps (tests and benchmarks): runs documents through the steps' stages in
 * order, recording drops like the pipeline's exclusion writer ({stage, rule, value, ...doc}) and time per step.
 */
import type { Document } from '../pipeline/document.ts';
import type { MapOp, Stage, StageContext } from '../pipeline/stage.ts';
import { loadRecipe, resolveSteps, type Recipe } from '../pipeline/recipe.ts';
import type { OperatorRegistry } from '../pipeline/registry.ts';

export interface Excluded extends Document {
  stage: string;
  rule: string;
  value?: number | string;
}
/** ms = CPU milliseconds (user + system) per step: robust to other processes sharing the cores. */
export interface HarnessResult {
  kept: Document[];
  excluded: Excluded[];
  ms: Record<string, number>;
  bytesIn: Record<string, number>;
}

/** The map steps of a recipe, resolved in `operators` (the composition root's list, cli/operators.ts). */
export async function mapSteps(
  recipe: Recipe | string,
  operators: OperatorRegistry,
  opts: { stopAtGlobal?: boolean } = {},
) {
  const r = typeof recipe === 'string' ? loadRecipe(recipe) : recipe;
  const steps = await resolveSteps(r, operators);
  const out: { name: string; op: MapOp; params: unknown; stage: Stage }[] = [];
  for (const s of steps) {
    if (s.op.kind !== 'map') {
      if (opts.stopAtGlobal !== false) break;
      continue;
    }
    out.push({ name: s.name, op: s.op, params: s.params, stage: await s.op.create(s.params) });
  }
  return out;
}

/** Run docs through the steps one document at a time (keeps per-step timing exact, no stream interleaving). */
export async function runMapSteps(
  steps: Awaited<ReturnType<typeof mapSteps>>,
  docs: Iterable<Document>,
): Promise<HarnessResult> {
  const res: HarnessResult = { kept: [], excluded: [], ms: {}, bytesIn: {} };
  for (const s of steps) {
    res.ms[s.name] = 0;
    res.bytesIn[s.name] = 0;
  }
  for (const d0 of docs) {
    let doc: Document | undefined = structuredClone(d0);
    for (const s of steps) {
      let dropped: { rule: string; value?: number | string } | undefined;
      const ctx: StageContext = {
        rank: 0,
        world: 1,
        outDir: '',
        drop: (_d, rule, value) => (dropped = { rule, value }),
        log: () => {},
      };
      res.bytesIn[s.name] += Buffer.byteLength(doc!.text, 'utf8');
      const t0 = process.cpuUsage();
      let out: Document | undefined;
      for await (const x of s.stage(
        (async function* () {
          yield doc!;
        })(),
        ctx,
      ))
        out = x;
      const t1 = process.cpuUsage(t0);
      res.ms[s.name] += (t1.user + t1.system) / 1000;
      if (dropped) {
        res.excluded.push({
          stage: s.name,
          rule: dropped.rule,
          ...(dropped.value !== undefined ? { value: dropped.value } : {}),
          ...doc!,
        });
        doc = undefined;
        break;
      }
      doc = out;
    }
    if (doc) res.kept.push(doc);
  }
  return res;
}

/** Read the bundled sample (corpora-manifests/sample/*.jsonl.zst) as documents. */
export async function readSample(
  filter?: (file: string) => boolean,
  limitPerFile = Infinity,
): Promise<{ file: string; docs: Document[] }[]> {
  const { readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { readRecords, recordToDocument } = await import('../pipeline/readers/index.ts');
  const dir = fileURLToPath(new URL('../corpora-manifests/sample/', import.meta.url));
  const out: { file: string; docs: Document[] }[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.jsonl.zst'))
    .sort()) {
    if (filter && !filter(f)) continue;
    const docs: Document[] = [];
    for await (const it of readRecords(join(dir, f), { format: 'jsonl' })) {
      if (it.kind === 'record') docs.push(recordToDocument(it.record, it.loc));
      if (docs.length >= limitPerFile) break;
    }
    out.push({ file: f, docs });
  }
  return out;
}
