/**
 * The entry of dist/steel.cjs, the one-file build of the `steel` command and of its worker processes
 * (scripts/build.mjs): cli/steel.js runs `main` from it and a local worker or Slurm array task started from it runs
 * `worker` (cli/bundle-worker.mjs), both loaded with V8's code cache dist/steel.cache (cli/dist.mjs, loadBundle).
 * Every module keeps its own place: `import.meta.url` in the bundle is the URL of the module's compiled file in dist/,
 * so data files, REPO_ROOT and the worker entry are found as from dist/'s modules. Dynamic imports stay lazy (a
 * module runs when first imported); `loaded` lists the modules of this repository that have run, in order.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.ts';

export { main };
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

/** Text of each bundled sample file that cacheRun's prep reads (its first lines, cut at a line's end). */
export const CACHE_RUN_BYTES = 64 << 10;

/**
 * A small `steel prep` in this process, after warm(), so that V8's code cache scripts/build.mjs writes next holds the
 * bytecode of every function a prep runs (a cache made after warm() alone has only what loading the modules compiles;
 * each prep process then parsed and compiled ~1,100 functions on their first call: ~0.05 CPU-s a process,
 * bench/results/prep.md, session 25, h25d). The input: the first CACHE_RUN_BYTES of text of each bundled sample file
 * (corpora-manifests/sample), written to `dir`/in as .jsonl.zst; the outputs go to `dir`/out. The worker's warm-up
 * steps run first (the functions a worker runs before its first task). Keeping the bytecode to the end of such a run
 * (and of every run that loads the cache) needs V8's bytecode flushing off: cli/dist.mjs V8_FLAGS.
 */
export async function cacheRun(dir: string): Promise<void> {
  const { zstdCompress, zstdDecoder } = await import('../pipeline/readers/zstd.ts');
  const sample = fileURLToPath(new URL('../corpora-manifests/sample/', import.meta.url));
  const input = join(dir, 'in');
  mkdirSync(input, { recursive: true });
  const files = readdirSync(sample)
    .filter((f) => f.endsWith('.jsonl.zst'))
    .sort();
  if (files.length === 0) throw new Error(`cacheRun: no .jsonl.zst file in ${sample}`);
  for (const f of files) {
    const head = zstdDecoder().head(readFileSync(join(sample, f)), CACHE_RUN_BYTES);
    const end = head.lastIndexOf(10) + 1;
    if (end === 0) throw new Error(`cacheRun: ${join(sample, f)}: no whole line in its first ${head.length} bytes`);
    writeFileSync(join(input, f), zstdCompress(head.subarray(0, end)));
  }
  for await (const _ of prepWarmUp());
  const args = [
    'prep',
    '--workers',
    '1',
    '--quiet',
    '--input',
    `sample=${input}/*.jsonl.zst`,
    '--out',
    join(dir, 'out'),
  ];
  const rc = await main(args);
  if (rc !== 0) throw new Error(`cacheRun: steel ${args.join(' ')} exited with status ${rc}`);
}
