/**
 * How filters and mappers become pipeline operators.
 * A filter computes named statistics (one per rule) from the text (+ lang), stores them in `doc.meta.stats[RULE]`,
 * and drops the document with `ctx.drop(doc, RULE, value)` at the first rule whose value is outside [min, max].
 * Kept and dropped documents both carry their statistics, so `steel refilter` can re-apply changed thresholds.
 */
import type { z } from 'zod';
import type { Document } from '../pipeline/document.ts';
import { streamOfDocStage, type DocStage, type MapOp, type Stage, type StageContext } from '../pipeline/stage.ts';

export interface Bounds {
  min?: number | null;
  max?: number | null;
}
export interface RuleSpec extends Bounds {
  /** Rule = statistic name (unique within a recipe), e.g. "alnum_ratio" or "fw2_zh.dup_line_frac". */
  rule: string;
  /** Per-language bounds (by doc.lang), overriding min/max for that language. */
  byLang?: Record<string, Bounds>;
  /**
   * An exemption from the minimum: `min` does not apply to a document whose statistic `minUnless.rule` (computed by
   * the same filter, stored beside it) is at least `minUnless.min` (zh-web: the word minimum does not apply to a short
   * text of complete sentences); `max` still does.
   */
  minUnless?: { rule: string; min: number };
}

export interface FilterSpec<P = any> {
  kind: 'filter';
  name: string;
  description: string;
  params: z.ZodType<P>;
  /** Load models etc. once per process. */
  init?(p: P): Promise<void> | void;
  /** Whether this filter looks at the document at all (e.g. only `langs`). Unapplied docs pass untouched. */
  applies(doc: Document, p: P): boolean;
  /** Statistics by rule name (may also tag the document, e.g. language ID). */
  compute(doc: Document, p: P): Record<string, number> | Promise<Record<string, number>>;
  rules(p: P): RuleSpec[];
  /** Optional batched computation (e.g. one tokenizer call for many documents); same results as compute(). */
  computeBatch?(docs: Document[], p: P): Promise<Record<string, number>[]>;
}

export interface MapperSpec<P = any> {
  kind: 'mapper';
  name: string;
  description: string;
  params: z.ZodType<P>;
  init?(p: P): Promise<void> | void;
  apply(text: string, p: P, doc: Document): string;
}

export type Spec = FilterSpec | MapperSpec;

/**
 * The document's statistics record (made on first use). `meta` has one shape per input source (its fields), and more
 * as steps add `lang_score`, `stats`, `script`: read and written through Reflect, a generic lookup, since a property
 * access compiled for the shapes seen so far was thrown away at each new one ("wrong map"), and with it the
 * per-document code of every filter step, which inlines this.
 */
export function statsOf(doc: Document): Record<string, number> {
  const meta = doc.meta;
  let s = Reflect.get(meta, 'stats') as Record<string, number> | undefined;
  if (!s || typeof s !== 'object') {
    s = {};
    Reflect.set(meta, 'stats', s);
  }
  return s;
}

/**
 * Per rule with per-language bounds, its bounds by document language, resolved at the first document of that
 * language (a rule's bounds do not change once it is in use: refilter's overrides go into copies). Looking them up
 * in `byLang` per document and rule read different keys of differently shaped objects at one place, and the
 * filters' shared per-document code was thrown away there ("wrong name", "wrong map").
 */
const langBounds = new WeakMap<RuleSpec, Map<string, Bounds>>();

export function boundsFor(r: RuleSpec, lang: string | undefined): Bounds {
  if (!r.byLang || lang === undefined) return r;
  let m = langBounds.get(r);
  if (!m) langBounds.set(r, (m = new Map()));
  let b = m.get(lang);
  if (!b) m.set(lang, (b = resolveBounds(r, r.byLang, lang)));
  return b;
}
/** The bounds of `lang` (else of its base language, before the "-"), each falling back on the rule's own. */
function resolveBounds(r: RuleSpec, byLang: Record<string, Bounds>, lang: string): Bounds {
  const b = byLang[lang] ?? byLang[lang.split('-')[0]];
  return b ? { min: b.min ?? r.min, max: b.max ?? r.max } : r;
}

/** The first rule violated by `stats`, or undefined when the document passes every rule. */
export function firstViolation(
  rules: readonly RuleSpec[],
  stats: Record<string, number>,
  lang: string | undefined,
): { rule: string; value: number } | undefined {
  for (const r of rules) {
    const v = stats[r.rule];
    if (v === undefined || v === null) continue;
    const b = boundsFor(r, lang);
    const exempt = r.minUnless !== undefined && (stats[r.minUnless.rule] ?? -Infinity) >= r.minUnless.min;
    if (
      (!exempt && b.min !== undefined && b.min !== null && v < b.min) ||
      (b.max !== undefined && b.max !== null && v > b.max)
    ) {
      return { rule: r.rule, value: v };
    }
  }
  return undefined;
}

/** Whether `stats` holds every statistic the rules read (their own and their exemptions'). */
export function hasRuleStats(rules: readonly RuleSpec[], stats: Record<string, number>): boolean {
  return rules.every(
    (r) => typeof stats[r.rule] === 'number' && (!r.minUnless || typeof stats[r.minUnless.rule] === 'number'),
  );
}

/** Ensure every filter statistic is present (compute the missing ones). Returns the stats object. */
export async function ensureStats(spec: FilterSpec, doc: Document, p: unknown): Promise<Record<string, number>> {
  const stats = statsOf(doc);
  const rules = spec.rules(p);
  if (hasRuleStats(rules, stats)) return stats;
  Object.assign(stats, await spec.compute(doc, p));
  return stats;
}

/**
 * A rule as a record of one shape (every field present, in one order, in a packed array): every filter step runs
 * the same per-document closure, and rules of several shapes (with or without byLang, minUnless) at its loads threw
 * its optimised code away ("wrong map"). The same bounds: an absent field reads undefined either way.
 */
const oneShape = (r: RuleSpec): RuleSpec => ({
  rule: r.rule,
  min: r.min,
  max: r.max,
  byLang: r.byLang,
  minUnless: r.minUnless,
});

/**
 * Feedback before the first compile (as filters/stats.ts' primeBranches): a rule's bounds for a language first met
 * after the compile (the first English document after Chinese ones) threw away the code of every filter step's
 * per-document closure, which inlines boundsFor; and the violation record's value, first a small integer then a
 * fraction, changed its map there ("wrong map"); and a rule's exemption (minUnless), first read at the first rule that
 * has one. These happen here, at load, on a rule of the one shape; the results
 * are not used.
 */
function primeRules(): RuleSpec[] {
  const r = oneShape({ rule: 'prime', min: 1, max: 3, byLang: { zh: { min: 2 } } });
  // exemptions with a whole and a fractional minimum (two shapes)
  const ex = oneShape({ rule: 'prime_n', min: 5, minUnless: { rule: 'prime', min: 2 } });
  // (and another statistic's name: a keyed load that has seen one name was thrown away at the next, "wrong name")
  const exf = oneShape({ rule: 'prime_n', min: 5, minUnless: { rule: 'prime_m', min: 0.5 } });
  for (let k = 0; k < 48; k++) {
    const rules = k < 24 ? [r] : [r, k & 2 ? ex : exf];
    firstViolation(rules, { prime: k % 2 ? 1.5 : 2, prime_n: k }, k % 4 ? 'zh' : `x${k}`);
  }
  return [r, ex, exf];
}
/**
 * The primed rules, kept: V8 holds the maps in a function's feedback weakly, and once the priming's objects were
 * collected their maps could go, with that feedback (the exemption's load then had none at the compile and threw the
 * code away at the first rule with one).
 */
export const PRIMED_RULES: readonly RuleSpec[] = primeRules();

export function filterOp<P>(spec: FilterSpec<P>): MapOp<P> & { spec: FilterSpec<P> } {
  const prepare = async (p: P) => {
    await spec.init?.(p);
    const rules = spec.rules(p).map(oneShape);
    /** Store the statistics on the document; drop it (false) when one is outside its range. */
    return (doc: Document, st: Record<string, number>, ctx: StageContext): boolean => {
      const stats = statsOf(doc);
      Object.assign(stats, st);
      const v = firstViolation(rules, stats, doc.lang);
      if (v) ctx.drop(doc, v.rule, v.value);
      return !v;
    };
  };
  /** Per document: statistics from compute(), then the rules. */
  const createDoc = async (p: P): Promise<DocStage> => {
    const keep = await prepare(p);
    return (doc, ctx) => {
      if (!spec.applies(doc, p)) return true;
      const st = spec.compute(doc, p);
      return st instanceof Promise ? st.then((s) => keep(doc, s, ctx)) : keep(doc, st, ctx);
    };
  };
  return {
    kind: 'map',
    name: spec.name,
    description: spec.description,
    params: spec.params,
    spec,
    ...(spec.computeBatch ? {} : { createDoc }),
    keepsText: true,
    async create(p: P): Promise<Stage> {
      if (!spec.computeBatch) return streamOfDocStage(await createDoc(p));
      const keep = await prepare(p);
      const batchSize = 64;
      return async function* (docs, ctx) {
        let buf: Document[] = [];
        const flush = async function* () {
          const todo = buf.filter((d) => spec.applies(d, p));
          const sts = todo.length ? await spec.computeBatch!(todo, p) : [];
          const byDoc = new Map(todo.map((d, i) => [d, sts[i]]));
          for (const doc of buf) {
            const st = byDoc.get(doc);
            if (!st) {
              yield doc;
              continue;
            }
            if (keep(doc, st, ctx)) yield doc;
          }
          buf = [];
        };
        for await (const doc of docs) {
          buf.push(doc);
          if (buf.length >= batchSize) yield* flush();
        }
        yield* flush();
      };
    },
  };
}

export function mapperOp<P>(spec: MapperSpec<P>): MapOp<P> & { spec: MapperSpec<P> } {
  const createDoc = async (p: P): Promise<DocStage> => {
    await spec.init?.(p);
    return (doc) => {
      doc.text = spec.apply(doc.text, p, doc);
      return true;
    };
  };
  return {
    kind: 'map',
    name: spec.name,
    description: spec.description,
    params: spec.params,
    spec,
    createDoc,
    create: async (p: P) => streamOfDocStage(await createDoc(p)),
  };
}
