/**
 * The entry of dist/steel.cjs, the one-file build of the `steel` command and of its worker processes
 * (scripts/build.mjs): cli/steel.js runs `main` from it and a local worker or Slurm array task started from it runs
 * `worker` (cli/bundle-worker.mjs), both loaded with V8's code cache dist/steel.cache (cli/dist.mjs, loadBundle).
 * Every module keeps its own place: `import.meta.url` in the bundle is the URL of the module's compiled file in dist/,
 * so data files, REPO_ROOT and the worker entry are found as from dist/'s modules. Dynamic imports stay lazy (a
 * module runs when first imported); `loaded` lists the modules of this repository that have run, in order.
 */
export { main } from './main.ts';

/** Defined by the bundle's banner (scripts/build.mjs); absent where this file runs as a module of its own. */
declare const __steelLoaded: string[] | undefined;
/** The repository's modules run so far in this process (source paths, `filters/ops.ts`), in the order they ran. */
export const loaded: string[] = typeof __steelLoaded === 'undefined' ? [] : __steelLoaded;

/** The worker entry (cli/worker.ts) run from the bundle. */
export async function worker(): Promise<void> {
  const [{ runWorker }, { tasks }] = await Promise.all([import('../pipeline/worker.ts'), import('./tasks.ts')]);
  await runWorker(tasks);
}

/**
 * Runs the modules a `steel prep` process loads (the command, the operators, the task registry, the map, MinHash and
 * tokenize tasks, and the modules of the models they load). Their namespaces by source path (for
 * bench/prep-fixed.ts, which loads the models through them). With `prep`, then runs a default `steel prep` (1 worker)
 * on a few documents of each file of the bundled sample, in a temporary folder: scripts/build.mjs calls it so before
 * it writes the code cache, so the cache holds every function such a run compiles (V8 compiles a function when it is
 * first called: about 1,100 of them in a prep that starts from a cache made after the imports alone).
 */
export async function warm(o: { prep?: boolean } = {}): Promise<Record<string, unknown>> {
  const m: Record<string, unknown> = {};
  m['cli/commands/prep.ts'] = await import('./commands/prep.ts');
  m['cli/operators.ts'] = await import('./operators.ts');
  m['cli/tasks.ts'] = await import('./tasks.ts');
  m['pipeline/runner.ts'] = await import('../pipeline/runner.ts');
  m['pipeline/worker.ts'] = await import('../pipeline/worker.ts');
  m['pipeline/map-task.ts'] = await import('../pipeline/map-task.ts');
  m['filters/ops.ts'] = await import('../filters/ops.ts');
  m['dedup/run.ts'] = await import('../dedup/run.ts');
  m['tokenizer/ops.ts'] = await import('../tokenizer/ops.ts');
  m['tokenizer/tasks.ts'] = await import('../tokenizer/tasks.ts');
  m['pipeline/recipe.ts'] = await import('../pipeline/recipe.ts');
  m['filters/lid.ts'] = await import('../filters/lid.ts');
  m['filters/jieba.ts'] = await import('../filters/jieba.ts');
  m['tokenizer/encode.ts'] = await import('../tokenizer/encode.ts');
  m['dedup/minhash.ts'] = await import('../dedup/minhash.ts');
  if (o.prep) await warmPrep();
  return m;
}

/** Documents taken from each file of the bundled sample for warm's run. */
const WARM_DOCS = 8;

async function warmPrep(): Promise<void> {
  const [{ mkdtempSync, readdirSync, rmSync }, { tmpdir }, { join }] = await Promise.all([
    import('node:fs'),
    import('node:os'),
    import('node:path'),
  ]);
  const [{ REPO_ROOT }, { readLines }, { JsonlWriter }, { main }] = await Promise.all([
    import('../pipeline/node-entry.ts'),
    import('../pipeline/readers/jsonl.ts'),
    import('../pipeline/writers/jsonl.ts'),
    import('./main.ts'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'steel-warm-'));
  try {
    const sample = join(REPO_ROOT, 'corpora-manifests', 'sample');
    for (const f of readdirSync(sample).filter((n) => n.endsWith('.jsonl.zst'))) {
      const w = new JsonlWriter(join(dir, f));
      let n = 0;
      for await (const l of readLines(join(sample, f))) {
        if (l.text === undefined) continue;
        await w.writeLine(l.text);
        if (++n === WARM_DOCS) break;
      }
      await w.close();
    }
    const args = ['prep', '--quiet', '--workers', '1', '--input', `sample=${join(dir, '*.jsonl.zst')}`];
    const code = await main([...args, '--out', join(dir, 'out')]);
    if (code !== 0) throw new Error(`steel prep on a few documents of the sample exited with ${code}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
