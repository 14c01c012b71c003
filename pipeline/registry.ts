import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Op } from './stage.ts';

/**
 * An operator from a user module: `PATH#EXPORT` (PATH relative to the working folder, or absolute), e.g.
 * `./my-ops.ts#shout`. The export is an Op object. Lets recipes use project-specific operators.
 */
async function moduleOp(ref: string): Promise<Op> {
  const at = ref.lastIndexOf('#');
  const path = ref.slice(0, at);
  const name = ref.slice(at + 1);
  const abs = isAbsolute(path) ? path : resolve(process.cwd(), path);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(abs).href);
  } catch (e) {
    throw new Error(`operator "${ref}": cannot load ${abs}: ${(e as Error).message}`);
  }
  const op = mod[name] as Op | undefined;
  if (!op || (op.kind !== 'map' && op.kind !== 'global') || typeof op.name !== 'string') {
    throw new Error(`operator "${ref}": ${abs} has no exported operator "${name}" (an object with kind "map" or "global")`);
  }
  return op;
}

/**
 * Every operator usable in recipes. Each area lists its operators in its own `ops.ts`
 * (pipeline/ops.ts, filters/ops.ts, dedup/ops.ts, tokenizer/ops.ts); this module only gathers them.
 */
const LOADERS: (() => Promise<{ ops: Op[] }>)[] = [
  () => import('./ops.ts'),
  () => import('./corpora/ops.ts'),
  () => import('../filters/ops.ts'),
  () => import('../dedup/ops.ts'),
  () => import('../tokenizer/ops.ts'),
];

let cache: Map<string, Op> | undefined;

export async function allOps(): Promise<Map<string, Op>> {
  if (cache) return cache;
  const modules = await Promise.all(LOADERS.map((l) => l()));
  const m = new Map<string, Op>();
  for (const mod of modules) {
    for (const op of mod.ops as Op[]) {
      if (m.has(op.name)) throw new Error(`operator "${op.name}" is defined twice`);
      m.set(op.name, op);
    }
  }
  cache = m;
  return m;
}

export async function getOp(name: string): Promise<Op> {
  if (name.includes('#')) return moduleOp(name);
  const ops = await allOps();
  const op = ops.get(name);
  if (!op) throw new Error(`unknown operator "${name}" (known: ${[...ops.keys()].sort().join(', ')})`);
  return op;
}

/**
 * Like getOp, but imports the areas' ops modules one at a time and stops at the first that has `name`, so a worker
 * process only pays for the areas its recipe uses (names were already checked unique by getOp in the parent).
 */
export async function findOp(name: string): Promise<Op> {
  if (cache || name.includes('#')) return getOp(name);
  for (const load of LOADERS) {
    const op = (await load()).ops.find((o) => o.name === name);
    if (op) return op;
  }
  return getOp(name);
}
