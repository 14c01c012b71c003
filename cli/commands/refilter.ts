import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const summary =
  'Re-apply changed filter thresholds to a finished run from its stored statistics (no recomputation)';

const HELP = `usage: steel refilter RUN_DIR --set RULE.max=X [--set RULE.min=Y ...] --out DIR [options]

Re-evaluates every document of a finished run (RUN_DIR/docs/ and RUN_DIR/excluded/) against the recipe's steps
with changed thresholds, using the statistics stored in doc.meta.stats; statistics of steps a document never
reached are computed then. The result equals a full rerun with those thresholds.

  --set KEY=VALUE   RULE.min / RULE.max (VALUE a number or "none"); per-language: RULE.LANG.min (e.g. lang_id.zh.min=0.8)
  --out DIR         output folder (docs/, excluded/, stats.json)
  --recipe R        recipe name or file (default: the run's recipe from RUN_DIR/stats.json)
  --map-only        do not re-run global steps (dedup, tokenize) after the map steps
  --workers N       workers for re-run global steps (default 1)
  --list-rules      print the recipe's rules and thresholds, then exit
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      set: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      recipe: { type: 'string' },
      'map-only': { type: 'boolean', default: false },
      workers: { type: 'string', default: '1' },
      'list-rules': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const runDir = positionals[0];
  if (!runDir) {
    console.error(HELP);
    return 2;
  }
  if (!existsSync(runDir)) throw new Error(`${runDir}: no such run folder`);
  const { parseOverride, planFrom, refilterRun, readJson } = await import('../../filters/refilter.ts');
  const { loadRecipe, resolveSteps } = await import('../../pipeline/recipe.ts');
  const statsPath = join(runDir, 'stats.json');
  const runStats = existsSync(statsPath) ? readJson(statsPath) : undefined;
  let recipeRef = values.recipe;
  if (!recipeRef) {
    for (const f of ['recipe.yaml', 'recipe.json', join('.state', 'recipe.yaml'), join('.state', 'recipe.json')]) {
      if (existsSync(join(runDir, f))) {
        recipeRef = join(runDir, f);
        break;
      }
    }
  }
  recipeRef ??= typeof runStats?.recipe === 'string' ? runStats.recipe : undefined;
  if (!recipeRef)
    throw new Error(`${runDir}: cannot tell which recipe made this run (no stats.json "recipe"); pass --recipe`);
  const recipe = loadRecipe(recipeRef);
  const { operators } = await import('../operators.ts');
  const resolved = await resolveSteps(recipe, operators);
  const overrides = (values.set as string[]).map(parseOverride);
  const plan = await planFrom(resolved as never, overrides);
  if (values['list-rules']) {
    for (const s of plan.steps) {
      if (s.kind !== 'filter') continue;
      for (const r of s.rules)
        console.log(
          `${s.name.padEnd(22)} ${r.rule.padEnd(36)} min=${r.min ?? '-'} max=${r.max ?? '-'}${r.byLang ? ' ' + JSON.stringify(r.byLang) : ''}`,
        );
    }
    return 0;
  }
  if (!values.out) throw new Error('--out DIR is required');
  if (existsSync(join(values.out, 'docs')) || existsSync(join(values.out, 'excluded')))
    throw new Error(`${values.out}: already holds docs/ or excluded/; choose an empty folder`);
  const t0 = performance.now();
  const res = await refilterRun({
    runDir,
    outDir: values.out,
    plan,
    mapOnly: values['map-only'],
    workers: Number(values.workers),
    runStats,
    log: (m) => console.error(m),
  });
  const { writeFileAtomic } = await import('../../pipeline/fsutil.ts');
  const out = {
    recipe: recipe.name,
    run_dir: runDir,
    overrides: values.set,
    seconds: (performance.now() - t0) / 1000,
    ...res,
  };
  writeFileAtomic(join(values.out, 'stats.json'), JSON.stringify(out, null, 2) + '\n');
  const lines = [
    `refilter: ${res.read.toLocaleString('en-US')} documents -> kept ${res.kept.toLocaleString('en-US')}, dropped ${res.dropped.toLocaleString('en-US')} ` +
      `(newly kept ${res.newly_kept}, newly dropped ${res.newly_dropped}) in ${out.seconds.toFixed(1)} s -> ${values.out}`,
    'dropped by rule:',
    ...Object.entries(res.dropped_by_rule)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `  ${k.padEnd(36)} ${v.toLocaleString('en-US')}`),
  ];
  console.log(lines.join('\n'));
  return 0;
}
