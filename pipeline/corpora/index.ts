/**
 * Registry of known corpora: one YAML manifest per corpus in corpora-manifests/ (NAME.yaml), validated with zod, each
 * with its Steel "step 1" adapter (see adapters.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { buildAdapter } from './adapters.ts';
import type { Corpus, ReaderOptions } from './types.ts';

export const MANIFEST_DIR = fileURLToPath(new URL('../../corpora-manifests/', import.meta.url));
/** Repository root (paths in `local.path` are relative to it). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const Glob = z.string().min(1);

export const ManifestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-"'),
    title: z.string().min(1),
    publisher: z.string().min(1),
    homepage: z.string().optional(),
    description: z.string().optional(),
    /** ISO 639-1 codes, or "code". The first is the documents' lang hint. */
    language: z.array(z.string().min(1)).min(1),
    /**
     * What the corpus is for: pretraining text, SFT conversations or preference pairs (chat schema, pipeline/chat.ts),
     * or an evaluation benchmark (read by `steel eval --task`, never by prep; unify kind `benchmark`).
     */
    task: z.enum(['pretrain', 'sft', 'preference', 'eval']).default('pretrain'),
    license: z.string().min(1),
    /** Format of the raw files as the reader sees them (after any unpacking listed in `packaging`). */
    format: z.enum(['jsonl', 'parquet', 'arrow', 'text', 'csv']),
    /** How the published files are packed when the reader cannot read them directly (e.g. "zip", "tar.gz"). */
    packaging: z.string().optional(),
    encoding: z.string().optional(),
    hf: z
      .object({
        repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name'),
        revision: z.string().min(1).default('main'),
        include: z.array(Glob).min(1),
        exclude: z.array(Glob).optional(),
        gated: z.boolean().optional(),
      })
      .optional(),
    urls: z.array(z.union([z.string().url(), z.object({ url: z.string().url(), path: z.string().optional(), sha256: z.string().optional() })])).min(1).optional(),
    /** Files that ship with this repository (the bundled sample). */
    local: z.object({ path: z.string().min(1), include: z.array(Glob).min(1) }).optional(),
    /** Where to get the data when it cannot be fetched automatically (login walls, other hubs). */
    manual: z.string().optional(),
    size: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    /** What Steel-LLM took from it (share of its mix, subset). */
    steel: z.string().optional(),
    /** Raw record fields: name -> type and meaning. */
    fields: z.record(z.string(), z.string()),
    reader: z.object({ text_field: z.string().optional(), id_field: z.string().optional() }).default({}),
    unify: z.object({ kind: z.string() }).passthrough(),
    /** Caveats, including what we are not sure of about the published schema. */
    notes: z.array(z.string()).default([]),
  })
  .refine((m) => m.hf || m.urls || m.local || m.manual, { message: 'one of hf, urls, local or manual is required' })
  .refine((m) => (m.task === 'eval') === (m.unify.kind === 'benchmark'), { message: 'task: eval goes with unify kind "benchmark" (and only it)', path: ['task'] })
  .refine((m) => m.format !== 'csv' || m.task === 'eval', { message: 'csv is for evaluation benchmarks only (task: eval); documents are jsonl, parquet, arrow or text', path: ['format'] });

export type Manifest = z.infer<typeof ManifestSchema>;

/** Parses and validates one manifest file; errors name the file and the offending keys. */
export function loadManifestFile(path: string): Corpus {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid YAML: ${(e as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`${path}: invalid corpus manifest: ${issues}`);
  }
  const m = parsed.data;
  if (basename(path).replace(/\.ya?ml$/, '') !== m.name) throw new Error(`${path}: manifest name "${m.name}" must match the file name`);
  return corpusFromManifest(m, path);
}

export function corpusFromManifest(m: Manifest, path?: string): Corpus {
  // benchmark CSVs (format csv, task eval) are read by eval/benchmarks.ts, never by the document readers, whose
  // adapter for them refuses every record
  const reader: ReaderOptions = { format: m.format === 'csv' ? 'text' : m.format };
  const textField = m.reader.text_field ?? (typeof m.unify.field === 'string' ? m.unify.field : undefined);
  if (textField) reader.textField = textField;
  if (m.reader.id_field) reader.idField = m.reader.id_field;
  if (m.encoding) reader.encoding = m.encoding;
  let adapt: Corpus['adapt'];
  try {
    adapt = buildAdapter(m.unify, { corpus: m.name, lang: m.language[0], idField: m.reader.id_field });
  } catch (e) {
    throw new Error(`${path ?? m.name}: ${(e as Error).message}`);
  }
  const manifest: Record<string, unknown> = { ...m };
  if (path) manifest.path = path;
  return { name: m.name, manifest, reader, adapt };
}

const cache = new Map<string, Corpus[]>();

/** Every manifest in `dir` (default corpora-manifests/), sorted by name. Throws on the first invalid manifest. */
export async function listCorpora(dir: string = MANIFEST_DIR): Promise<Corpus[]> {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  if (!existsSync(dir)) throw new Error(`${dir}: no corpus manifest folder`);
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out = files.map((f) => loadManifestFile(join(dir, f))).sort((a, b) => a.name.localeCompare(b.name));
  cache.set(key, out);
  return out;
}

/** A corpus by name, or by the path of a manifest file (NAME.yaml) outside corpora-manifests/. */
export async function getCorpus(name: string, dir: string = MANIFEST_DIR): Promise<Corpus | undefined> {
  if (/\.ya?ml$/.test(name) && existsSync(name)) return loadManifestFile(name);
  return (await listCorpora(dir)).find((c) => c.name === name);
}

/** Names of all known corpora (for error messages). */
export async function corpusNames(dir: string = MANIFEST_DIR): Promise<string[]> {
  return (await listCorpora(dir)).map((c) => c.name);
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Files of a corpus that ships with the repository (manifest `local:`), sorted; undefined when the corpus has none.
 * Globs match file names inside `local.path` (no recursion).
 */
export function localFiles(corpus: Corpus, root: string = REPO_ROOT): string[] | undefined {
  const local = corpus.manifest.local as { path: string; include: string[] } | undefined;
  if (!local) return undefined;
  const dir = isAbsolute(local.path) ? local.path : join(root, local.path);
  if (!existsSync(dir)) throw new Error(`${corpus.name}: local folder ${dir} does not exist`);
  const res = local.include.map(globToRegExp);
  return readdirSync(dir)
    .filter((f) => res.some((r) => r.test(f)) && statSync(join(dir, f)).isFile())
    .sort()
    .map((f) => join(dir, f));
}
