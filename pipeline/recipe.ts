import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { OperatorRegistry } from './registry.ts';
import type { Op } from './stage.ts';

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

/** Validate a recipe object (from YAML or code). */
export function parseRecipe(value: unknown, origin = 'recipe'): Recipe {
  const r = RecipeSchema.safeParse(value);
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
    doc = parseYaml(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p}: YAML error: ${(e as Error).message}`);
  }
  return parseRecipe(doc, p);
}

/** Look up every step's operator in `operators` (the composition root's, cli/operators.ts) and validate its params. */
export async function resolveSteps(recipe: Recipe, operators: OperatorRegistry): Promise<ResolvedStep[]> {
  const seen = new Map<string, number>();
  const out: ResolvedStep[] = [];
  for (const [i, step] of recipe.steps.entries()) {
    const op = await operators.get(step.op);
    const r = op.params.safeParse(step.params ?? {});
    if (!r.success)
      throw new Error(`recipe "${recipe.name}" step ${i + 1} (${step.op}): bad params: ${zodMessage(r.error)}`);
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
  const names = new Set<string>();
  for (const s of out) {
    if (names.has(s.name)) throw new Error(`recipe "${recipe.name}": two steps are named "${s.name}"`);
    names.add(s.name);
  }
  return out;
}
