/**
 * `steel refilter`: re-apply changed thresholds to a finished run without recomputing statistics.
 *
 * Design (exact by construction): every document of the run — kept (OUT/docs/) and excluded (OUT/excluded/) — is
 * re-evaluated against the recipe's map steps in order, exactly as a full rerun would process it:
 *  - the dropping step of an excluded document is its exclusion line's `stage` (step name) or, failing that, the only
 *    step owning its `rule`; kept documents went through every step;
 *  - steps the document already went through are not re-run: mappers are skipped (the stored text already has them),
 *    filters re-use the stored statistics in doc.meta.stats (computed on the text that step saw);
 *  - steps after the one that dropped it never ran: mappers are applied now and statistics computed now, on the
 *    text that step would have seen in a full rerun;
 *  - thresholds come from the recipe, with `--set RULE.min=X` / `RULE.max=X` / `RULE.LANG.min=X` overrides.
 * Excluded documents carry the text they had when dropped; a kept document that the new thresholds drop carries
 * its final text (the run kept no earlier version) — its stage, rule and value are those of a rerun.
 * Global steps (dedup, tokenize) depend on the whole surviving set, so they are re-run on the new survivors; that
 * needs every document a global step dropped to be in OUT/excluded/ (checked against stats.json), else refilter
 * refuses unless --map-only.
 */
import { existsSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Document } from '../pipeline/document.ts';
import type { MapOp, Stage, StageContext, GlobalOp } from '../pipeline/stage.ts';
import { readRecords, recordToDocument } from '../pipeline/readers/index.ts';
import { JsonlWriter, ExclusionWriter } from '../pipeline/writers/index.ts';
import type { FilterSpec, MapperSpec, RuleSpec } from './framework.ts';
import { firstViolation, statsOf, boundsFor, hasRuleStats } from './framework.ts';

export interface Override {
  rule: string;
  lang?: string;
  bound: 'min' | 'max';
  value: number | null;
}

/** Parse `RULE.min=0.5`, `RULE.max=none`, `lang_id.zh.min=0.8`. Rule names may contain dots. */
export function parseOverride(s: string): Override {
  const eq = s.indexOf('=');
  if (eq < 0) throw new Error(`--set ${s}: expected RULE.min=VALUE or RULE.max=VALUE`);
  const key = s.slice(0, eq).trim();
  const raw = s.slice(eq + 1).trim();
  const dot = key.lastIndexOf('.');
  const bound = key.slice(dot + 1);
  if (dot < 0 || (bound !== 'min' && bound !== 'max')) throw new Error(`--set ${s}: the key must end in .min or .max`);
  let value: number | null;
  if (raw === '' || raw === 'none' || raw === 'null') value = null;
  else {
    value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`--set ${s}: "${raw}" is not a number (or "none")`);
  }
  return { rule: key.slice(0, dot), bound, value };
}

/** Apply overrides to the rules of all steps; every override must name a known rule (optionally RULE.LANG). */
export function applyOverrides(stepRules: RuleSpec[][], overrides: Override[]): RuleSpec[][] {
  const out = stepRules.map((rs) =>
    rs.map((r) => ({
      ...r,
      byLang: r.byLang ? structuredClone(r.byLang) : undefined,
      minUnless: r.minUnless ? { ...r.minUnless } : undefined,
    })),
  );
  const all = out.flat();
  for (const o of overrides) {
    // `STAT.min=X` for the statistic of a rule's exemption from its minimum (e.g. fw2_zh_q.sentence_chars)
    // (one statistic may exempt from several minima, e.g. zh-web's word and stopword minima: all of them change)
    const exs = all.filter((x) => x.minUnless?.rule === o.rule);
    if (exs.length && !all.some((x) => x.rule === o.rule)) {
      if (o.bound !== 'min')
        throw new Error(
          `--set ${o.rule}.${o.bound}: ${o.rule} exempts from ${exs.map((x) => x.rule).join(' and ')}'s minimum; only .min can be set`,
        );
      for (const ex of exs) {
        if (o.value === null) delete ex.minUnless;
        else ex.minUnless!.min = o.value;
      }
      continue;
    }
    let r = all.find((x) => x.rule === o.rule);
    let lang = o.lang;
    if (!r && o.rule.includes('.')) {
      const d = o.rule.lastIndexOf('.');
      r = all.find((x) => x.rule === o.rule.slice(0, d));
      lang = o.rule.slice(d + 1);
    }
    if (!r)
      throw new Error(
        `--set ${o.rule}.${o.bound}: unknown rule "${o.rule}" (rules of this recipe: ${all.map((x) => x.rule).join(', ')})`,
      );
    if (lang) {
      r.byLang ??= {};
      r.byLang[lang] = { ...(r.byLang[lang] ?? {}), [o.bound]: o.value };
    } else r[o.bound] = o.value;
  }
  return out;
}

type Prepared =
  | { kind: 'mapper'; name: string; spec: MapperSpec; params: unknown }
  | { kind: 'filter'; name: string; spec: FilterSpec; params: unknown; rules: RuleSpec[] }
  | { kind: 'map'; name: string; stage: Stage; op: string }
  | { kind: 'global'; name: string; op: GlobalOp; params: unknown };

export interface RefilterPlan {
  steps: Prepared[];
  mapEnd: number;
}

/** Build the plan from resolved recipe steps: `{name, op, params}` with validated params. */
export async function planFrom(
  resolved: { name: string; op: MapOp | GlobalOp; params: unknown }[],
  overrides: Override[],
): Promise<RefilterPlan> {
  const steps: Prepared[] = [];
  const ruleLists: RuleSpec[][] = [];
  for (const s of resolved) {
    // a filters/ op of the registry loads its spec (filters/op-meta.ts); an implementation object carries it
    const o = s.op as { spec?: FilterSpec | MapperSpec; loadSpec?: () => Promise<FilterSpec | MapperSpec> };
    const spec = o.spec ?? (await o.loadSpec?.());
    if (s.op.kind === 'global') steps.push({ kind: 'global', name: s.name, op: s.op, params: s.params });
    else if (spec?.kind === 'filter')
      steps.push({ kind: 'filter', name: s.name, spec, params: s.params, rules: spec.rules(s.params) });
    else if (spec?.kind === 'mapper') steps.push({ kind: 'mapper', name: s.name, spec, params: s.params });
    else steps.push({ kind: 'map', name: s.name, op: s.op.name, stage: await (s.op as MapOp).create(s.params) });
  }
  const filters = steps.filter((s): s is Extract<Prepared, { kind: 'filter' }> => s.kind === 'filter');
  // rules must be unique so a rule identifies its step
  const seen = new Map<string, string>();
  for (const f of filters)
    for (const r of f.rules) {
      if (seen.has(r.rule))
        throw new Error(
          `rule "${r.rule}" is produced by two steps ("${seen.get(r.rule)}" and "${f.name}"); give one a distinct \`rule\` param`,
        );
      seen.set(r.rule, f.name);
    }
  for (const f of filters) ruleLists.push(f.rules);
  const newRules = applyOverrides(ruleLists, overrides);
  filters.forEach((f, i) => (f.rules = newRules[i]));
  let mapEnd = steps.findIndex((s) => s.kind === 'global');
  if (mapEnd < 0) mapEnd = steps.length;
  const lateFilter = steps.findIndex((s, i) => i > mapEnd && s.kind !== 'global');
  if (lateFilter >= 0)
    throw new Error(
      `refilter: step "${steps[lateFilter].name}" is a map step after a global step; only recipes whose map steps come before their global steps can be refiltered`,
    );
  for (const s of steps) if (s.kind === 'filter' || s.kind === 'mapper') await s.spec.init?.(s.params);
  return { steps, mapEnd };
}

export type Verdict =
  { kept: true; doc: Document } | { kept: false; doc: Document; stage: string; rule: string; value?: number | string };

async function* one(doc: Document): AsyncGenerator<Document> {
  yield doc;
}

/**
 * Re-evaluate one document. `stop` = index of the step that dropped it (steps before it ran and passed; it ran up to
 * computing its statistics), or plan.mapEnd for a document that passed every map step.
 */
export async function reevaluate(
  plan: RefilterPlan,
  doc: Document,
  stop: number,
  original?: { rule: string; value?: number | string },
): Promise<Verdict> {
  for (let i = 0; i < plan.mapEnd; i++) {
    const s = plan.steps[i];
    if (s.kind === 'mapper') {
      if (i > stop) doc.text = s.spec.apply(doc.text, s.params, doc);
      continue;
    }
    if (s.kind === 'map') {
      if (i < stop) continue;
      if (i === stop)
        return { kept: false, doc, stage: s.name, rule: original?.rule ?? 'unknown', value: original?.value };
      let dropped: { rule: string; value?: number | string } | undefined;
      let out: Document | undefined;
      const ctx: StageContext = {
        rank: 0,
        world: 1,
        outDir: '',
        drop: (_d, rule, value) => (dropped = { rule, value }),
        log: () => {},
      };
      for await (const d of s.stage(one(doc), ctx)) out = d;
      if (dropped || !out)
        return { kept: false, doc, stage: s.name, rule: dropped?.rule ?? 'unknown', value: dropped?.value };
      doc = out;
      continue;
    }
    if (s.kind !== 'filter') continue;
    if (!s.spec.applies(doc, s.params)) continue;
    const stats = statsOf(doc);
    const have = hasRuleStats(s.rules, stats);
    if (!(i <= stop && have)) {
      let st = s.spec.compute(doc, s.params);
      if (st instanceof Promise) st = await st;
      for (const k in st) stats[k] = st[k];
    }
    const v = firstViolation(s.rules, stats, doc.lang);
    if (v) return { kept: false, doc, stage: s.name, rule: v.rule, value: v.value };
  }
  return { kept: true, doc };
}

/** Index of the step that dropped an excluded document; mapEnd for drops by global steps; -1 when outside the recipe (reader, unify). */
export function locateStop(plan: RefilterPlan, stage: string | undefined, rule: string): number {
  if (stage) {
    const i = plan.steps.findIndex((s) => s.name === stage);
    if (i >= 0) return i < plan.mapEnd ? i : plan.mapEnd;
  }
  const owners = plan.steps.flatMap((s, i) => (s.kind === 'filter' && s.rules.some((r) => r.rule === rule) ? [i] : []));
  if (owners.length === 1) return owners[0];
  const g = plan.steps.findIndex((s) => s.kind === 'global' && (s.name === rule || s.op.name === rule));
  if (g >= 0) return plan.mapEnd;
  return -1;
}

function listParts(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.jsonl(\.zst|\.gz)?$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export interface RefilterResult {
  read: number;
  kept: number;
  dropped: number;
  dropped_by_rule: Record<string, number>;
  newly_kept: number;
  newly_dropped: number;
  unchanged_outside_recipe: number;
  global?: { step: string; read: number; kept: number; dropped: Record<string, number> }[];
}

export interface RefilterOptions {
  runDir: string;
  outDir: string;
  plan: RefilterPlan;
  mapOnly?: boolean;
  workers?: number;
  log?: (m: string) => void;
  /** stats.json of the run (for the global-drop completeness check). */
  runStats?: { phases?: { name: string; kind: string; op?: string; dropped: number }[] };
}

export async function refilterRun(o: RefilterOptions): Promise<RefilterResult> {
  const log = o.log ?? (() => {});
  const { plan } = o;
  const globals = plan.steps
    .slice(plan.mapEnd)
    .filter((s): s is Extract<Prepared, { kind: 'global' }> => s.kind === 'global');
  const keptFiles = listParts(join(o.runDir, 'docs'));
  const exclFiles = listParts(join(o.runDir, 'excluded'));
  if (keptFiles.length === 0 && exclFiles.length === 0)
    throw new Error(`${o.runDir}: no documents in docs/ or excluded/ (is this a run output folder?)`);
  const runGlobals = globals.length > 0 && !o.mapOnly;
  mkdirSync(o.outDir, { recursive: true });
  const docsDir = join(o.outDir, 'docs');
  const mapOut = runGlobals
    ? join(o.outDir, '.state', 'refilter-map', 'part-00000.jsonl.zst')
    : join(docsDir, 'part-00000.jsonl.zst');
  const kw = new JsonlWriter(mapOut);
  const xw = new ExclusionWriter(join(o.outDir, 'excluded', 'part-00000.jsonl.zst'));
  const res: RefilterResult = {
    read: 0,
    kept: 0,
    dropped: 0,
    dropped_by_rule: {},
    newly_kept: 0,
    newly_dropped: 0,
    unchanged_outside_recipe: 0,
  };
  const globalDropsSeen = new Map<string, number>();
  const emit = async (v: Verdict, wasKept: boolean) => {
    if (v.kept) {
      res.kept++;
      if (!wasKept) res.newly_kept++;
      await kw.write(v.doc);
    } else {
      res.dropped++;
      res.dropped_by_rule[v.rule] = (res.dropped_by_rule[v.rule] ?? 0) + 1;
      if (wasKept) res.newly_dropped++;
      await xw.write(v.doc, v.stage, v.rule, v.value);
    }
  };
  let n = 0;
  const tick = () => {
    if (++n % 5000 === 0) log(`refilter: ${n.toLocaleString('en-US')} documents`);
  };
  for (const f of keptFiles) {
    for await (const it of readRecords(f, { format: 'jsonl' })) {
      if (it.kind === 'reject') throw new Error(`${f}:${it.loc.line}: ${it.error}`);
      const doc = recordToDocument(it.record, it.loc);
      res.read++;
      tick();
      await emit(await reevaluate(plan, doc, plan.mapEnd), true);
    }
  }
  for (const f of exclFiles) {
    for await (const it of readRecords(f, { format: 'jsonl' })) {
      if (it.kind === 'reject') throw new Error(`${f}:${it.loc.line}: ${it.error}`);
      const rec = it.record as Record<string, unknown>;
      const stage = typeof rec.stage === 'string' ? rec.stage : undefined;
      const rule = typeof rec.rule === 'string' ? rec.rule : '';
      const value = rec.value as number | string | undefined;
      if (!rule) throw new Error(`${f}:${it.loc.line}: exclusion line without "rule"`);
      const doc = recordToDocument(
        { id: rec.id, text: rec.text, source: rec.source, lang: rec.lang, meta: rec.meta },
        it.loc,
      );
      res.read++;
      tick();
      const stop = locateStop(plan, stage, rule);
      if (stop < 0) {
        // dropped before the recipe's steps (reader, unify): a rerun drops it the same way
        res.unchanged_outside_recipe++;
        res.dropped++;
        res.dropped_by_rule[rule] = (res.dropped_by_rule[rule] ?? 0) + 1;
        await xw.write(doc, stage ?? 'unknown', rule, value);
        continue;
      }
      if (stop === plan.mapEnd && stage) globalDropsSeen.set(stage, (globalDropsSeen.get(stage) ?? 0) + 1);
      await emit(await reevaluate(plan, doc, stop, { rule, value }), stop === plan.mapEnd);
    }
  }
  await kw.close();
  if (!runGlobals) {
    await xw.close();
    if (globals.length)
      log(`refilter: --map-only: global steps (${globals.map((g) => g.name).join(', ')}) were not re-run`);
    return res;
  }
  // completeness: every document dropped by a global step must be in excluded/
  const phases = (o.runStats?.phases ?? []).filter((p) => p.kind === 'global') as {
    name: string;
    op?: string;
    dropped: number;
  }[];
  for (const g of globals) {
    // the runner names global phases "pN-STEP" and records the op
    const expected = phases.find(
      (p) =>
        p.name === g.name ||
        p.name.endsWith(`-${g.name}`) ||
        (p.op === g.op.name && !phases.some((q) => q !== p && q.op === p.op)),
    )?.dropped;
    const seen = globalDropsSeen.get(g.name) ?? 0;
    if (expected !== undefined && expected > seen) {
      await xw.abort();
      throw new Error(
        `global step "${g.name}" dropped ${expected} documents but only ${seen} are in ${o.runDir}/excluded/; refilter cannot reproduce a rerun exactly (use --map-only for the map steps alone)`,
      );
    }
  }
  await xw.close();
  const { LocalExecutor } = await import('../pipeline/executor.ts');
  const executor = new LocalExecutor({ progress: { quiet: true } as never });
  let inputFiles = [mapOut];
  res.global = [];
  for (const g of globals) {
    const workDir = join(o.outDir, '.state', g.name);
    mkdirSync(workDir, { recursive: true });
    log(`refilter: re-running global step ${g.name}`);
    const r = await g.op.run(g.params, {
      inputFiles,
      workDir,
      outDir: resolve(o.outDir),
      workers: o.workers ?? 1,
      executor,
      log,
    });
    res.global.push({ step: g.name, read: r.stats.read, kept: r.stats.kept, dropped: r.stats.dropped });
    for (const [k, v] of Object.entries(r.stats.dropped)) {
      res.dropped_by_rule[k] = (res.dropped_by_rule[k] ?? 0) + v;
      res.dropped += v;
      res.kept -= v;
    }
    if (r.outputFiles.length) inputFiles = r.outputFiles;
  }
  executor.close();
  // the final documents go to OUT/docs/ like a run's
  const { renameSync, copyFileSync } = await import('node:fs');
  mkdirSync(docsDir, { recursive: true });
  inputFiles.forEach((f, i) => {
    const dest = join(docsDir, `part-${String(i).padStart(5, '0')}.jsonl.zst`);
    if (resolve(f) === resolve(dest)) return;
    if (f === mapOut) copyFileSync(f, dest);
    else renameSync(f, dest);
  });
  return res;
}

export { boundsFor };
export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}
