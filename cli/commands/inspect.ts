import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';

export const summary =
  'report on a prep output or shard folder: sources, languages, lengths, tokens, duplicates, drops';

const HELP = `usage: steel inspect DIR [--json] [--html FILE] [--top N] [--decode-sample N]

DIR is a prep output folder (stats.json, docs/, shards/) or a shard folder (manifest.json). Reports documents,
characters and tokens per source and language, document length histograms (characters and tokens), characters per
token (the appended eos not counted), the most frequent tokens (decoded), duplicate-cluster sizes
(meta.dup_cluster_size) and the pipeline's per-rule drop counts (stats.json dropped_by_rule).

options:
  --json             print the report as JSON instead of tables
  --html FILE        also write a self-contained HTML report with charts (inline SVG, no external resources)
  --top N            most frequent tokens to list (default 30)
  --decode-sample N  shard folders without docs/: decode this many documents to estimate characters (default 2000)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      html: { type: 'string' },
      top: { type: 'string' },
      'decode-sample': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(HELP);
    return 2;
  }
  const { inspectDir, formatReport, renderHtml } = await import('../../tokenizer/inspect.ts');
  const report = await inspectDir(positionals[0], {
    topTokens: values.top ? Number(values.top) : undefined,
    decodeSample: values['decode-sample'] ? Number(values['decode-sample']) : undefined,
    log: (m) => console.error(m),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatReport(report));
  if (values.html) {
    const f = values.html;
    writeFileAtomic(f, renderHtml(report));
    console.error(`wrote ${f}`);
  }
  return 0;
}
