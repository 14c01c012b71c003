import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { getCorpus, listCorpora, localFiles } from '../../pipeline/corpora/index.ts';
import type { Corpus } from '../../pipeline/corpora/types.ts';

export const summary = 'list the corpus manifests (corpora-manifests/), or show one: steel corpora show NAME';

const HELP = `usage: steel corpora [--json] [--dir DIR]
       steel corpora show NAME|FILE.yaml [--json]

Lists the corpus manifests in corpora-manifests/: name, language, format, size, license and where the raw files
come from (Hugging Face repository, URLs, bundled files or manual download). "show" prints one manifest (its YAML
file as written, or JSON with --json) and, for the bundled sample, its files.

options:
  --json       machine-readable output
  --dir DIR    read manifests from DIR instead of corpora-manifests/
  -h, --help   this help`;

function sizeOf(m: Record<string, unknown>): string {
  const s = m.size as Record<string, string | number> | undefined;
  if (!s) return '-';
  const numeric = (v: string | number) => /^[≈~]?\s*[\d.,]+\s*[KMBT]?$/.test(String(v));
  for (const [k, unit] of [
    ['documents', 'docs'],
    ['tokens', 'tokens'],
    ['disk', ''],
    ['files', 'files'],
  ] as const) {
    const v = s[k];
    if (v !== undefined) return numeric(v) && unit ? `${v} ${unit}` : String(v);
  }
  const [k, v] = Object.entries(s)[0] ?? [];
  return k ? `${v} ${k}` : '-';
}

function sourceOf(m: Record<string, unknown>): string {
  const hf = m.hf as { repo: string; revision: string } | undefined;
  if (hf) return `hf:${hf.repo}${hf.revision && hf.revision !== 'main' ? '@' + hf.revision : ''}`;
  const urls = m.urls as unknown[] | undefined;
  if (urls?.length) return `${urls.length} url(s)`;
  const local = m.local as { path: string } | undefined;
  if (local) return `bundled: ${local.path}`;
  if (m.manual) return 'manual download (see show)';
  return '-';
}

function row(c: Corpus) {
  const m = c.manifest;
  return {
    name: c.name,
    title: m.title as string,
    language: (m.language as string[]).join(','),
    format: m.format as string,
    size: sizeOf(m),
    license: m.license as string,
    source: sourceOf(m),
    adapter: (m.unify as { kind: string }).kind,
  };
}

function clip(s: string, n: number): string {
  return [...s].length > n ? [...s].slice(0, n - 1).join('') + '…' : s;
}

function table(rows: Record<string, string>[], cols: [string, number][]): string {
  const widths = cols.map(([k, max]) =>
    Math.min(max, Math.max(k.length, ...rows.map((r) => [...(r[k] ?? '')].length))),
  );
  const line = (vals: string[]) =>
    vals
      .map((v, i) => clip(v, widths[i]!).padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols.map(([k]) => k.toUpperCase())), ...rows.map((r) => line(cols.map(([k]) => r[k] ?? '')))].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const dir = values.dir;
  const [sub, name, ...extra] = positionals;

  if (sub === undefined || sub === 'list') {
    const corpora = await listCorpora(dir);
    const rows = corpora.map(row);
    if (values.json) {
      console.log(
        JSON.stringify(
          corpora.map((c) => ({ ...row(c), manifest: c.manifest })),
          null,
          2,
        ),
      );
      return 0;
    }
    console.log(
      table(rows, [
        ['name', 16],
        ['language', 8],
        ['format', 7],
        ['size', 22],
        ['license', 40],
        ['source', 48],
      ]),
    );
    console.log(`\n${rows.length} corpora. Details: steel corpora show NAME`);
    return 0;
  }
  if (sub === 'show') {
    if (!name || extra.length) {
      console.error('usage: steel corpora show NAME|FILE.yaml');
      return 2;
    }
    const c = await getCorpus(name, dir);
    if (!c) {
      const names = (await listCorpora(dir)).map((x) => x.name);
      console.error(`steel corpora: unknown corpus "${name}" (known: ${names.join(', ')})`);
      return 2;
    }
    const files = c.manifest.local ? localFiles(c) : undefined;
    if (values.json) {
      console.log(JSON.stringify({ ...c.manifest, reader: c.reader, ...(files ? { files } : {}) }, null, 2));
      return 0;
    }
    const path = c.manifest.path as string | undefined;
    console.log(path ? `# ${path}\n${readFileSync(path, 'utf8').trimEnd()}` : toYaml(c.manifest).trimEnd());
    if (files) console.log(`\n# files (${files.length}):\n${files.map((f) => `#   ${f}`).join('\n')}`);
    return 0;
  }
  console.error(`steel corpora: unknown subcommand "${sub}" (try: steel corpora --help)`);
  return 2;
}
