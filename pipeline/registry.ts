import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PARSE_ONCE, type DocSink, type GlobalOp, type Op, type SinkSpec } from './stage.ts';

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
    throw new Error(
      `operator "${ref}": ${abs} has no exported operator "${name}" (an object with kind "map" or "global")`,
    );
  }
  return op;
}

/** One area's operators, loaded when first needed (each area lists its operators in its own `ops.ts`). */
export type OpSource = () => Promise<{ ops: Op[] }>;

/** This area's operators (pipeline/ops.ts, pipeline/corpora/ops.ts). */
export const PIPELINE_OPS: readonly OpSource[] = [() => import('./ops.ts'), () => import('./corpora/ops.ts')];

/**
 * The operators usable by name in recipes. The core knows only its own (PIPELINE_OPS); the full list is assembled
 * at the composition root (cli/operators.ts) from every area's `ops.ts` and passed to the runner and recipe resolver.
 */
export class OperatorRegistry {
  private cache?: Map<string, Op>;

  constructor(private readonly sources: readonly OpSource[]) {}

  /** Every operator, by name; a name defined twice is an error. */
  async all(): Promise<Map<string, Op>> {
    if (this.cache) return this.cache;
    const modules = await Promise.all(this.sources.map((l) => l()));
    const m = new Map<string, Op>();
    for (const mod of modules) {
      for (const op of mod.ops) {
        if (m.has(op.name)) throw new Error(`operator "${op.name}" is defined twice`);
        m.set(op.name, op);
      }
    }
    this.cache = m;
    return m;
  }

  /** The operator `name`, or a user module's `PATH#EXPORT`. */
  async get(name: string): Promise<Op> {
    if (name.includes('#')) return moduleOp(name);
    const ops = await this.all();
    const op = ops.get(name);
    if (!op) throw new Error(`unknown operator "${name}" (known: ${[...ops.keys()].sort().join(', ')})`);
    return op;
  }

  /**
   * Like get, but loads the sources one at a time and stops at the first that has `name`, so a worker process only
   * pays for the areas its recipe uses (names were already checked unique by get in the parent).
   */
  async find(name: string): Promise<Op> {
    if (this.cache || name.includes('#')) return this.get(name);
    for (const load of this.sources) {
      const op = (await load()).ops.find((o) => o.name === name);
      if (op) return op;
    }
    return this.get(name);
  }
}

/** The core's own operators only (what runPipeline uses when given no registry). */
export const pipelineOperators = new OperatorRegistry(PIPELINE_OPS);

/**
 * Open the sink of `spec.op` (GlobalOp.mapSink) for the task that writes `inputFiles[rank]`, the documents that op
 * will read: a map task, or a global op's task that writes its output files (GlobalOpContext.sink).
 */
export async function openSink(
  operators: OperatorRegistry,
  spec: SinkSpec,
  rank: number,
  inputFiles: string[],
): Promise<DocSink> {
  const op = await operators.find(spec.op);
  if (op.kind !== 'global' || !op.mapSink)
    throw new Error(`op "${spec.op}" takes no documents from the step before it`);
  const g = op as GlobalOp;
  const { workDir, outDir, workers } = spec;
  return g.mapSink!(g.params.parse(spec.params, PARSE_ONCE), { rank, inputFiles, workDir, outDir, workers });
}
