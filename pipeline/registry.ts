import type { Op } from './stage.ts';

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
  if (cache) return getOp(name);
  for (const load of LOADERS) {
    const op = (await load()).ops.find((o) => o.name === name);
    if (op) return op;
  }
  return getOp(name);
}
