/**
 * Registry of known corpora: one YAML manifest per corpus in corpora-manifests/ (NAME.yaml), validated with zod, each
 * with its Steel "step 1" adapter (see adapters.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../node-entry.ts';
import { buildAdapter } from './adapters.ts';
import { readManifestFile, type Manifest } from './manifest.ts';
import type { Corpus, ReaderOptions } from './types.ts';
import { globToRegExp } from '../readers/glob.ts';

export { ManifestSchema, parseManifest, readManifestFile, type Manifest } from './manifest.ts';

export const MANIFEST_DIR = fileURLToPath(new URL('../../corpora-manifests/', import.meta.url));
/** Repository root (paths in `local.path` are relative to it). */
export { REPO_ROOT };

/** Parses and validates one manifest file and builds its corpus; errors name the file and the offending keys. */
export function loadManifestFile(path: string): Corpus {
  return corpusFromManifest(readManifestFile(path), path);
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
  const manifest: Corpus['manifest'] = path ? { ...m, path } : { ...m };
  return { name: m.name, manifest, reader, adapt };
}

const cache = new Map<string, Corpus[]>();

/** Every manifest in `dir` (default corpora-manifests/), sorted by name. Throws on the first invalid manifest. */
export async function listCorpora(dir: string = MANIFEST_DIR): Promise<Corpus[]> {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  if (!existsSync(dir)) throw new Error(`${dir}: no corpus manifest folder`);
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const out = files.map((f) => loadManifestFile(join(dir, f))).sort((a, b) => a.name.localeCompare(b.name));
  cache.set(key, out);
  return out;
}

const byName = new Map<string, Corpus>();

/**
 * A corpus by name, or by the path of a manifest file (NAME.yaml) outside corpora-manifests/. A corpus's manifest is
 * NAME.yaml (manifest.ts checks it): only that file is read (0.02 CPU-s, where parsing every manifest takes 0.2 in each
 * process: the `steel` process and every worker); the whole folder only when there is no such file.
 */
export async function getCorpus(name: string, dir: string = MANIFEST_DIR): Promise<Corpus | undefined> {
  if (/\.ya?ml$/.test(name) && existsSync(name)) return loadManifestFile(name);
  const key = join(resolve(dir), name);
  const hit = byName.get(key) ?? cache.get(resolve(dir))?.find((c) => c.name === name);
  if (hit) return hit;
  if (/^[\w.-]+$/.test(name))
    for (const ext of ['.yaml', '.yml']) {
      const p = join(dir, name + ext);
      if (!existsSync(p)) continue;
      const c = loadManifestFile(p); // its name must be the file's (manifest.ts)
      byName.set(key, c);
      return c;
    }
  return (await listCorpora(dir)).find((c) => c.name === name);
}

/** Names of all known corpora (for error messages). */
export async function corpusNames(dir: string = MANIFEST_DIR): Promise<string[]> {
  return (await listCorpora(dir)).map((c) => c.name);
}

/**
 * Files of a corpus that ships with the repository (manifest `local:`), sorted; undefined when the corpus has none.
 * Globs match file names inside `local.path` (no recursion).
 */
export function localFiles(corpus: Corpus, root: string = REPO_ROOT): string[] | undefined {
  const local = corpus.manifest.local;
  if (!local) return undefined;
  const dir = isAbsolute(local.path) ? local.path : join(root, local.path);
  if (!existsSync(dir)) throw new Error(`${corpus.name}: local folder ${dir} does not exist`);
  const res = local.include.map(globToRegExp);
  return readdirSync(dir)
    .filter((f) => res.some((r) => r.test(f)) && statSync(join(dir, f)).isFile())
    .sort()
    .map((f) => join(dir, f));
}
