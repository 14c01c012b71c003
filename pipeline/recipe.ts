import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { z } from 'zod';
import type { OperatorRegistry } from './registry.ts';
import { PARSE_ONCE, type Op } from './stage.ts';
import { parseYamlText } from './yaml.ts';

export const RECIPES_DIR = fileURLToPath(new URL('./recipes/', import.meta.url));

export const StepSchema = z
  .object({
    op: z.string().min(1),
    /** Optional display name (default: the op name, suffixed #2, #3... when repeated). */
    name: z.string().min(1).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const RecipeSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** Default inputs, same syntax as `--input`: `[CORPUS=]PATH_OR_GLOB`. */
    input: z.union([z.string(), z.array(z.string())]).optional(),
    steps: z.array(StepSchema),
  })
  .strict();

export type RecipeStep = z.infer<typeof StepSchema>;
export type Recipe = z.infer<typeof RecipeSchema>;
/** A recipe as written (YAML or code): params and description may be omitted. */
export type RecipeInput = z.input<typeof RecipeSchema>;

/** A step with its operator looked up and its params validated (defaults filled in). */
export interface ResolvedStep {
  index: number;
  name: string;
  /** The op as written in the recipe (a registry name, or `PATH#EXPORT`). */
  ref: string;
  op: Op;
  params: unknown;
  /** The validated params as plain JSON (what workers re-validate). */
  rawParams: Record<string, unknown>;
}

function zodMessage(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** The file each loaded recipe came from (error messages name it). */
const recipeFiles = new WeakMap<Recipe, string>();

/** Validate a recipe object (from YAML or code). */
export function parseRecipe(value: unknown, origin = 'recipe'): Recipe {
  const r = RecipeSchema.safeParse(value, PARSE_ONCE);
  if (!r.success) throw new Error(`${origin}: invalid recipe: ${zodMessage(r.error)}`);
  return r.data;
}

/** Where a recipe name or path points: a file path as given, else pipeline/recipes/NAME.yaml. */
export function recipePath(nameOrPath: string): string {
  if (existsSync(nameOrPath) || /[\\/]|\.ya?ml$/.test(nameOrPath)) return nameOrPath;
  return join(RECIPES_DIR, `${nameOrPath}.yaml`);
}

/** Load a recipe by NAME (pipeline/recipes/NAME.yaml) or file path (YAML or JSON). */
export function loadRecipe(nameOrPath: string): Recipe {
  const p = recipePath(nameOrPath);
  if (!existsSync(p)) throw new Error(`recipe not found: "${nameOrPath}" (looked for ${p})`);
  let doc: unknown;
  try {
    doc = parseYamlText(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p}: YAML error: ${(e as Error).message}`);
  }
  const recipe = parseRecipe(doc, p);
  recipeFiles.set(recipe, p);
  return recipe;
}

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The known name `unknown` most likely stands for: data-juicer spells bounds `min_len`, `max_ratio`, `min_num`...
 * where our filters say `min`/`max`, so a `min_*`/`max_*` name whose prefix is a known name suggests it, and its
 * operator names end in `_filter`/`_mapper`/`_deduplicator`; otherwise the nearest name within a third of its length.
 */
export function didYouMean(unknown: string, known: readonly string[]): string | undefined {
  const bound = /^(min|max)_/.exec(unknown)?.[1];
  if (bound && known.includes(bound)) return bound;
  // data-juicer operator names carry their kind: text_length_filter, clean_html_mapper, document_minhash_deduplicator
  const bare = unknown.replace(/_(filter|mapper|deduplicator)$/, '');
  if (bare !== unknown && known.includes(bare)) return bare;
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(unknown.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(unknown.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function suggest(unknown: string, known: readonly string[]): string {
  const m = didYouMean(unknown, known);
  return m ? ` (did you mean "${m}"?)` : '';
}

/** The parameter names of an operator's params schema (an object, possibly refined, defaulted or piped). */
function paramNames(schema: z.ZodType): string[] | undefined {
  let s: unknown = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodObject) return Object.keys(s.shape);
    if (s instanceof z.ZodPipe) s = s.in;
    else if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else return undefined;
  }
  return undefined;
}

/** A bound or size: `min`, `max`, `min_*`, `max_*`, `*_len`, `*_length`, `*_chars`, `*_words`. Never negative. */
const SIZE_PARAM = /^(min|max)(_|$)|_(len|length|chars|words)$/;

/** What is wrong with a step's validated params beyond their types: negative sizes, a min above its max. */
function paramProblems(params: unknown): string[] {
  if (!params || typeof params !== 'object') return [];
  const p = params as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'number' && v < 0 && SIZE_PARAM.test(k))
      out.push(`${k} is ${v}: a bound or length cannot be negative`);
    if (k === 'min' || k.startsWith('min_')) {
      const maxKey = 'max' + k.slice(3);
      const max = p[maxKey];
      if (typeof v === 'number' && typeof max === 'number' && v > max)
        out.push(`${k} (${v}) is above ${maxKey} (${max}): no document could pass`);
    }
  }
  return out;
}

/**
 * Look up every step's operator in `operators` (the composition root's, cli/operators.ts) and validate the recipe:
 * unknown operators and parameters (with a "did you mean"), bad values, negative sizes, min above max, and the order
 * of steps (nothing that changes or drops documents after a terminal step such as tokenize, whose output would not
 * see it). Every error names the recipe (its file when loaded from one) and the step.
 */
export async function resolveSteps(recipe: Recipe, operators: OperatorRegistry): Promise<ResolvedStep[]> {
  const file = recipeFiles.get(recipe);
  const where = `recipe "${recipe.name}"${file ? ` (${file})` : ''}`;
  const seen = new Map<string, number>();
  const out: ResolvedStep[] = [];
  for (const [i, step] of recipe.steps.entries()) {
    const at = `${where} step ${i + 1} (${step.op})`;
    let op: Op;
    try {
      op = await operators.get(step.op);
    } catch (e) {
      const known = step.op.includes('#') ? [] : [...(await operators.all()).keys()];
      throw new Error(`${where} step ${i + 1}: ${(e as Error).message}${suggest(step.op, known)}`);
    }
    const names = paramNames(op.params);
    if (names) {
      const unknown = Object.keys(step.params ?? {}).filter((k) => !names.includes(k));
      if (unknown.length)
        throw new Error(
          `${at}: unknown parameter${unknown.length > 1 ? 's' : ''} ` +
            unknown.map((k) => `"${k}"${suggest(k, names)}`).join(', ') +
            ` (${op.name} takes: ${names.join(', ') || 'no parameters'})`,
        );
    }
    const r = op.params.safeParse(step.params ?? {}, PARSE_ONCE);
    if (!r.success) throw new Error(`${at}: bad params: ${zodMessage(r.error)}`);
    const problems = paramProblems(r.data);
    if (problems.length) throw new Error(`${at}: bad params: ${problems.join('; ')}`);
    const n = (seen.get(op.name) ?? 0) + 1;
    seen.set(op.name, n);
    out.push({
      index: i,
      name: step.name ?? (n > 1 ? `${op.name}#${n}` : op.name),
      ref: step.op,
      op,
      params: r.data,
      rawParams: JSON.parse(JSON.stringify(r.data ?? {})),
    });
  }
  const terminal = out.find((s) => s.op.kind === 'global' && s.op.terminal);
  if (terminal) {
    const late = out.find((s) => s.index > terminal.index && !(s.op.kind === 'global' && s.op.terminal));
    if (late)
      throw new Error(
        `${where} step ${late.index + 1} (${late.ref}) comes after step ${terminal.index + 1} (${terminal.ref}), ` +
          `which writes the documents as they are at that point: move ${terminal.ref} after every step that changes or drops documents`,
      );
  }
  const names = new Set<string>();
  for (const s of out) {
    if (names.has(s.name)) throw new Error(`${where}: two steps are named "${s.name}"`);
    names.add(s.name);
  }
  return out;
}
