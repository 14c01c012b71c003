import { parseArgs } from 'node:util';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatStats, type RunStats } from '../../pipeline/stats.ts';

export const summary = "print a run's merged stats (totals, per stage, per rule, accounting invariant)";

const HELP = `usage: steel stats DIR [--json]

Prints the stats of a \`steel prep\` run from DIR/stats.json (or a stats.json path): documents read, kept, dropped
and rejected, a table per stage (docs and bytes in/out, drops, rejects, time), drops per rule, rejects per error,
and the accounting check read = kept + dropped + rejected.

options:
  --json   print the raw stats.json`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(HELP);
    return 2;
  }
  const p =
    existsSync(positionals[0]) && statSync(positionals[0]).isDirectory()
      ? join(positionals[0], 'stats.json')
      : positionals[0];
  if (!existsSync(p)) throw new Error(`no stats at ${p} (is it a finished \`steel prep\` output folder?)`);
  const text = readFileSync(p, 'utf8');
  if (values.json) {
    process.stdout.write(text);
    return 0;
  }
  let s: RunStats;
  try {
    s = JSON.parse(text);
  } catch (e) {
    throw new Error(`${p}: not valid JSON: ${(e as Error).message}`);
  }
  console.log(formatStats(s));
  return s.invariant?.ok ? 0 : 1;
}
