import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { DEFAULT_RECIPE, runPipeline } from '../../pipeline/runner.ts';
import { INPUT_FORMATS, isInputFormat } from '../../pipeline/readers/formats.ts';
import { corruptInputsExit, EXIT_CORRUPT_INPUT } from '../corrupt-inputs.ts';
import { LocalExecutor } from '../../pipeline/executor.ts';

export const summary =
  'run a data-prep recipe over inputs (default: recipe "zh-web" on the bundled sample, ending with token shards)';

const HELP = `usage: steel prep [--recipe NAME|FILE] [--input [CORPUS=]PATH_OR_GLOB]... [--out DIR] [--workers N] [INPUT...]

Runs a recipe (pipeline/recipes/NAME.yaml or a YAML file) over the inputs: every record is read, unified (the
corpus adapter when the input names a corpus, else the generic reader), sent through the recipe's stages and
written to OUT/docs/part-RRRRR.jsonl.zst. Dropped documents go to OUT/excluded/ (with stage, rule and value),
malformed records to OUT/rejects/ (with file, line and error), merged stats to OUT/stats.json; the run checks that
documents read = kept + dropped + rejected. A file is the unit of sharding, except that a JSONL file (plain, or
.zst of several frames) of more than 8 MiB of text is cut into slices of about 8 MiB (whatever --workers): task
RANK of WORLD takes units[RANK::WORLD], the largest tasks run first. Rerunning the same command after a crash
resumes: finished tasks are skipped. Inputs inside a folder downloaded by \`steel collect\` are checked complete
first.

options:
  --recipe NAME|FILE   recipe (default: ${DEFAULT_RECIPE}); list the operators with \`steel ops\`
  --input SPEC         input, repeatable: [CORPUS=]PATH_OR_GLOB, e.g. 'wikipedia-cn=raw/wiki/*.parquet' or
                       'data/**/*.jsonl.zst'; without CORPUS= files are read by extension (.jsonl[.gz|.zst],
                       .parquet, .arrow, anything else = one text document per file) with field "text".
                       A bare corpus name whose files ship with the repository (e.g. "sample") also works.
                       Default: the recipe's input, else the bundled sample (sample=corpora-manifests/sample/*.jsonl.zst).
                       Extra arguments are inputs too (quote globs with CORPUS= so the shell leaves them alone).
  --out DIR            output folder (default: out/prep)
  --workers N          worker processes (default: ${availableParallelism()} = CPU count)
  --tasks N            tasks of the first phase (default: number of files and slices, at most 256)
  --text-field NAME    generic reader: field holding the text (default "text")
  --id-field NAME      generic reader: field holding the id (default "id", else file:line)
  --encoding ENC       generic reader: declared encoding (utf-8, gbk, gb18030, big5...; default utf-8)
  --format FMT         generic reader: ${INPUT_FORMATS.join(' | ')} (default: by file extension)
  --executor KIND      local (default: worker processes on this machine) or slurm (job arrays; needs a shared
                       filesystem; settings from STEEL_SLURM_* variables, see pipeline/slurm/slurm.ts)
  --fresh              remove previous outputs and state in OUT and start over
  --strict             stop at the first input file that cannot be read to its end (truncated or corrupt .gz/.zst,
                       damaged Parquet/Arrow); default: keep its records read before the damage, record the file in
                       OUT/rejects/ and stats.json (corrupt_files), finish the run and exit with status 3.
                       Not part of the run's identity: resumed with --strict, the tasks that kept part of a corrupt
                       file run again (and stop at it); resumed without it, a run --strict stopped goes on
  --quiet              no progress or summary (stats.json is still written)

exit status: 0 done; 1 error (nothing skipped silently: the message names the file); 3 done, but some input files
were corrupt (listed in the summary, stats.json and OUT/rejects/; replace or remove them and rerun the same
command: only their tasks and the later phases run again).

environment: STEEL_PROGRESS=lines forces line logs; STEEL_PROGRESS_INTERVAL_MS sets their period (default 10000).`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      recipe: { type: 'string', default: DEFAULT_RECIPE },
      input: { type: 'string', multiple: true },
      out: { type: 'string', default: 'out/prep' },
      workers: { type: 'string' },
      tasks: { type: 'string' },
      'text-field': { type: 'string' },
      'id-field': { type: 'string' },
      encoding: { type: 'string' },
      format: { type: 'string' },
      executor: { type: 'string', default: 'local' },
      fresh: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const format = values.format;
  if (format !== undefined && !isInputFormat(format))
    throw new Error(`--format must be one of ${INPUT_FORMATS.join(', ')}, got "${format}"`);
  const workers = int('workers', values.workers);
  let executor: import('../../pipeline/executor-types.ts').Executor | undefined;
  let local: LocalExecutor | undefined;
  if (values.executor === 'slurm') {
    const slurm = await import('../../pipeline/slurm/slurm.ts');
    executor = slurm.createSlurmExecutor();
  } else if (values.executor === 'local') {
    // runPipeline's executor, made here so that its worker processes load while this process checks the inputs and
    // plans the run (runPipeline would start them at the first step); runPipeline closes it when its phases end, and
    // here it is closed in any case (a run that fails before them)
    executor = local = new LocalExecutor({ progress: { quiet: values.quiet, unit: 'bytes' } });
    void local.prestart(workers ?? availableParallelism());
  } else throw new Error(`--executor must be local or slurm, got "${values.executor}"`);
  try {
    const inputs = [...(values.input ?? []), ...positionals];
    if (inputs.length) {
      // inputs inside a folder downloaded by `steel collect` must be complete (verified sizes, no .part files)
      const { assertInputsCollected } = await import('../../pipeline/collect/index.ts');
      await assertInputsCollected(inputs);
    }
    const { operators } = await import('../operators.ts');
    const stats = await runPipeline({
      executor,
      operators,
      recipe: values.recipe!,
      // positionals are inputs too (an unquoted glob expanded by the shell)
      inputs,
      outDir: values.out!,
      workers,
      tasks: int('tasks', values.tasks),
      fresh: values.fresh,
      strict: values.strict,
      quiet: values.quiet,
      reader: {
        ...(values['text-field'] ? { textField: values['text-field'] } : {}),
        ...(values['id-field'] ? { idField: values['id-field'] } : {}),
        ...(values.encoding ? { encoding: values.encoding } : {}),
        ...(format ? { format } : {}),
      },
    });
    if (!values.quiet)
      console.error(
        `\nwrote ${stats.outputs.docs.length} document file(s) to ${stats.out_dir}/docs; stats: ${stats.out_dir}/stats.json`,
      );
    if (!stats.invariant.ok) return 1;
    return corruptInputsExit(stats.corrupt_files, 'replace or remove them and rerun the same command');
  } finally {
    // its worker processes exited and reaped (cli/steel.js ends a prep's process with process.exit())
    await local?.close();
  }
}

export { EXIT_CORRUPT_INPUT };
