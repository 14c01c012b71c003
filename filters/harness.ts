/**
 * In-process runner for a recipe's map steps (tests and benchmarks): runs documents through the steps' stages in
 * order, recording drops like the pipeline's exclusion writer ({stage, rule, value, ...doc}) and time per step.
 */
import type { Document } from '../pipeline/document.ts';
import { streamOfDocStage, type DocStage, type MapOp, type Stage, type StageContext } from '../pipeline/stage.ts';
import { loadRecipe, resolveSteps, type Recipe } from '../pipeline/recipe.ts';
import type { OperatorRegistry } from '../pipeline/registry.ts';

export interface Excluded extends Document {
  stage: string;
  rule: string;
  value?: number | string;
}
/**
 * ms = CPU milliseconds (user + system) per step: the CPU time of the whole run (process.cpuUsage before and after)
 * shared among the steps in proportion to their wall time, as the pipeline's map task meters fused steps (a system call
 * per document and step would cost more than most steps); robust to other processes sharing the cores.
 */
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
  const out: { name: string; op: MapOp; params: unknown; stage: Stage; fn?: DocStage }[] = [];
  for (const s of steps) {
    if (s.op.kind !== 'map') {
      if (opts.stopAtGlobal !== false) break;
      continue;
    }
    // the per-document form when the op has one (what the pipeline runs), its stream form otherwise
    const fn = s.op.createDoc ? await s.op.createDoc(s.params) : undefined;
    out.push({
      name: s.name,
      op: s.op,
      params: s.params,
      stage: fn ? streamOfDocStage(fn) : await s.op.create(s.params),
      fn,
    });
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
  const wall = new Float64Array(steps.length);
  const c0 = process.cpuUsage();
  for (const d0 of docs) {
    let doc: Document | undefined = structuredClone(d0);
    let text = doc.text,
      bytes = Buffer.byteLength(text, 'utf8');
    for (let k = 0; k < steps.length; k++) {
      const s = steps[k];
      let dropped: { rule: string; value?: number | string } | undefined;
      const ctx: StageContext = {
        rank: 0,
        world: 1,
        outDir: '',
        drop: (_d, rule, value) => (dropped = { rule, value }),
        log: () => {},
      };
      if (doc!.text !== text) {
        text = doc!.text;
        bytes = Buffer.byteLength(text, 'utf8');
      }
      res.bytesIn[s.name] += bytes;
      const t0 = performance.now();
      let out: Document | undefined;
      if (s.fn) {
        let keep = s.fn(doc!, ctx);
        if (typeof keep !== 'boolean') keep = await keep;
        if (keep) out = doc;
      } else
        for await (const x of s.stage(
          (async function* () {
            yield doc!;
          })(),
          ctx,
        ))
          out = x;
      wall[k] += performance.now() - t0;
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
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000;
  const wallSum = wall.reduce((a, b) => a + b, 0);
  steps.forEach((s, k) => (res.ms[s.name] = wallSum > 0 ? (cpuMs * wall[k]) / wallSum : cpuMs / steps.length));
  return res;
}

/** Read the bundled sample (corpora-manifests/sample/*.jsonl.zst) as documents. */
/**
 * `count` texts of 0 to `maxPieces` - 1 pieces drawn from `pieces` (tests that compare a statistic with its definition
 * on adversarial texts); a fixed seed gives the same texts each run.
 */
export function randomTexts(pieces: readonly string[], count: number, maxPieces: number, seed = 7): string[] {
  let s = seed >>> 0;
  const rand = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let t = '';
    for (let j = rand(maxPieces); j > 0; j--) t += pieces[rand(pieces.length)];
    out.push(t);
  }
  return out;
}

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
