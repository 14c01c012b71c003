/**
 * The entry of dist/steel.cjs, the one-file build of the `steel` command and of its worker processes
 * (scripts/build.mjs): cli/steel.js runs `main` from it and a local worker or Slurm array task started from it runs
 * `worker` (cli/bundle-worker.mjs), both loaded with V8's code cache dist/steel.cache (cli/dist.mjs, loadBundle).
 * Every module keeps its own place: `import.meta.url` in the bundle is the URL of the module's compiled file in dist/,
 * so data files, REPO_ROOT and the worker entry are found as from dist/'s modules. Dynamic imports stay lazy (a
 * module runs when first imported); `loaded` lists the modules of this repository that have run, in order.
 */
export { main } from './main.ts';
// the executor that takes the worker processes cli/steel.js started early (LocalExecutor for cli/dist.test.ts)
export { adoptWorkers, LocalExecutor } from '../pipeline/executor.ts';

/** Defined by the bundle's banner (scripts/build.mjs); absent where this file runs as a module of its own. */
declare const __steelLoaded: string[] | undefined;
/** The repository's modules run so far in this process (source paths, `filters/ops.ts`), in the order they ran. */
export const loaded: string[] = typeof __steelLoaded === 'undefined' ? [] : __steelLoaded;

/**
 * The worker entry (cli/worker.ts) run from the bundle, warming up for a prep's map tasks until its first task comes
 * (prepWarmUp).
 */
export async function worker(): Promise<void> {
  const [{ runWorker }, { tasks }] = await Promise.all([import('../pipeline/worker.ts'), import('./tasks.ts')]);
  await runWorker(tasks, prepWarmUp);
}

/**
 * What the first map task of a `steel prep` worker loads, loaded while the worker waits for it (pipeline/worker.ts
 * WarmUp): cli/steel.js starts a prep's workers before it loads the bundle and plans the run, so a worker is ready
 * before its first task is sent. The map task's modules, the default recipe's map operators made as a map task makes
 * them (their modules and models: fastText's language ID), jieba's dictionary and kernel, the zstd decoder and encoder
 * and the JSON writer's kernel: each is made once per process and kept (the task that comes gets the same objects it
 * would have made; nothing here changes a result). A step is a few to ~90 ms; the first task stops the steps.
 */
export async function* prepWarmUp(): AsyncGenerator<void> {
  const [{ loadTask }, { tasks }] = await Promise.all([import('../pipeline/task.ts'), import('./tasks.ts')]);
  await loadTask(tasks, 'pipeline.map');
  yield;
  const [{ loadRecipe }, { DEFAULT_RECIPE }, { PARSE_ONCE }, { operators }] = await Promise.all([
    import('../pipeline/recipe.ts'),
    import('../pipeline/runner.ts'),
    import('../pipeline/stage.ts'),
    import('./operators.ts'),
  ]);
  for (const step of loadRecipe(DEFAULT_RECIPE).steps) {
    const op = await operators.find(step.op);
    if (op.kind === 'map' && op.createDoc) await op.createDoc(op.params.parse(step.params, PARSE_ONCE));
    yield;
  }
  const [{ jiebaCut }, { zstdCompress, zstdDecoder }, { jsonString }] = await Promise.all([
    import('../filters/jieba.ts'),
    import('../pipeline/readers/zstd.ts'),
    import('../pipeline/writers/jsonl.ts'),
  ]);
  jiebaCut('中文分词');
  yield;
  zstdDecoder();
  zstdCompress(new Uint8Array(0));
  jsonString('', new Uint8Array(8), 0);
}

/**
 * Runs the modules a `steel prep` process loads (the command, the operators, the task registry, the map, MinHash and
 * tokenize tasks, and the modules of the models they load): scripts/build.mjs calls it before it writes the code
 * cache, so the functions their loading compiles are in the cache. Their namespaces by source path (for
 * bench/prep-fixed.ts, which loads the models through them).
 */
export async function warm(): Promise<Record<string, unknown>> {
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
  return m;
}
