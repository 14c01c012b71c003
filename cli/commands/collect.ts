import { parseArgs } from 'node:util';
import { collectCorpus, formatSummary, verifyCollected } from '../../pipeline/collect/collect.ts';
import { fmtBytes } from '../../pipeline/progress.ts';
import { resolveSource } from '../../pipeline/collect/source.ts';
import { setting } from '../../pipeline/settings.ts';

export const summary = 'download corpora named in corpora-manifests/ (resumable, verified, records collect.json)';

const HELP = `usage: steel collect NAME... [--out DIR] [--include GLOB]... [--jobs N]
       steel collect --verify DIR [--hash]

Downloads each corpus NAME (a manifest corpora-manifests/NAME.yaml, or a path to a manifest .yaml) into DIR/NAME/.
Hugging Face sources are listed through the Hub API at one commit; files are fetched in parallel, resumed after an
interruption (DIR/NAME/FILE.part), checked against their size and SHA-256 and only then renamed to their final name.
DIR/NAME/collect.json records each file (path, url, revision, size, sha256, time). Rerunning skips verified files and
reports what changed upstream.

options:
  --out DIR        parent output folder (default: raw)
  --include GLOB   only files whose repository path matches GLOB (repeatable; e.g. 'data/zh/*.parquet')
  --jobs N         concurrent downloads / connections (default 4)
  --retries N      retries per file with exponential backoff (default 6)
  --progress MODE  bar | lines | none (default: bar on a terminal, lines otherwise)
  --verify DIR     check a collected folder (DIR/NAME or DIR) instead of downloading; --hash re-hashes every file

environment:
  HF_ENDPOINT      Hub endpoint or mirror (default https://huggingface.co; e.g. https://hf-mirror.com)
  HF_TOKEN         access token for gated or private datasets (sent as Authorization: Bearer)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'raw' },
      include: { type: 'string', multiple: true },
      jobs: { type: 'string', default: '4' },
      retries: { type: 'string', default: '6' },
      progress: { type: 'string' },
      verify: { type: 'string' },
      hash: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.verify !== undefined) {
    const r = await verifyCollected(values.verify, { hash: values.hash });
    if (r.ok) {
      console.log(
        `ok: ${r.files} files, ${fmtBytes(r.bytes)} in ${r.dirs.join(', ')}${values.hash ? ' (sha256 re-checked)' : ''}`,
      );
      return 0;
    }
    console.error(`incomplete: ${values.verify}\n  ${r.problems.join('\n  ')}`);
    return 1;
  }
  if (positionals.length === 0) {
    console.error(HELP);
    return 2;
  }
  const jobs = Number(values.jobs);
  const retries = Number(values.retries);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256)
    throw new Error(`--jobs must be an integer in 1..256 (got ${values.jobs})`);
  if (!Number.isInteger(retries) || retries < 0)
    throw new Error(`--retries must be a non-negative integer (got ${values.retries})`);
  const modes: Record<string, 'tty' | 'lines' | 'none'> = { bar: 'tty', tty: 'tty', lines: 'lines', none: 'none' };
  if (values.progress !== undefined && !modes[values.progress])
    throw new Error(`--progress must be bar, lines or none`);
  const backoffMs = setting('collectBackoffMs');

  // Resolve every name first so a typo fails before any download starts.
  const sources = [];
  for (const name of positionals) sources.push(await resolveSource(name));
  let bad = 0;
  for (const src of sources) {
    if (src.kind === 'local') {
      console.log(`${src.name}: files ship with the repository in ${src.path}; nothing to download`);
      continue;
    }
    if (src.kind === 'manual') {
      console.error(`${src.name}: cannot be downloaded automatically:\n  ${src.instructions}`);
      bad++;
      continue;
    }
    const s = await collectCorpus(src, {
      out: values.out!,
      include: values.include,
      jobs,
      retries,
      backoffMs,
      progress: values.progress ? modes[values.progress] : 'auto',
    });
    console.log(formatSummary(s));
    if (!s.complete) bad++;
  }
  if (sources.length > 1) console.log(`${sources.length - bad}/${sources.length} corpora complete`);
  return bad ? 1 : 0;
}
