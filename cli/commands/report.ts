import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';

export const summary =
  'report on a training run: loss, LR, grad norm, tokens/s, MFU and eval curves (terminal, JSON, HTML, TensorBoard)';

const HELP = `usage: steel report RUN [--html FILE] [--json] [--tensorboard DIR]

RUN is a steel train --out folder (or its metrics.jsonl). Every numeric key of metrics.jsonl is a curve: loss, lr,
grad_norm, tokens_per_s, mfu, and the rows in-loop evaluation adds (prefixed by their kind/split, e.g.
eval/heldout/loss); curves with the same last name (loss, eval/heldout/loss) share a chart.

options:
  --html FILE        also write a self-contained HTML report (inline SVG line charts, no external resources)
  --json             print the report as JSON instead of the summary table
  --tensorboard DIR  also write the metrics as TensorBoard event files into DIR (replacing those steel wrote there)`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      html: { type: 'string' },
      json: { type: 'boolean' },
      tensorboard: { type: 'string' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error('steel report: give one run folder\n\n' + HELP);
    return 2;
  }
  const { buildReport, formatReport, renderHtml } = await import('../../eval/report.ts');
  const r = buildReport(positionals[0]);
  console.log(v.json ? JSON.stringify(r, null, 2) : formatReport(r));
  if (v.html) {
    writeFileAtomic(v.html, renderHtml(r));
    console.error(`wrote ${v.html} (${r.charts.length} charts)`);
  }
  if (v.tensorboard) {
    const { writeTensorBoard } = await import('../../train/tensorboard.ts');
    const tb = writeTensorBoard(r.metricsFile, v.tensorboard);
    console.error(
      `wrote ${tb.file} (${tb.rows} rows, ${tb.scalars} scalars); view with: tensorboard --logdir ${v.tensorboard}`,
    );
  }
  return 0;
}
