import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/** One plain-URL file of a corpus. */
export interface UrlEntry {
  url: string;
  /** Path of the file inside the output folder (default: the URL's last path segment). */
  path: string;
  sha256?: string;
  size?: number;
}

/** Where a corpus's raw files come from, as read from its manifest. */
export type CollectSource =
  | {
      kind: 'hf';
      name: string;
      /** "owner/name" of the Hub repository. */
      repo: string;
      repoType: 'dataset' | 'model';
      revision: string;
      include?: string[];
      exclude?: string[];
      manifestPath?: string;
    }
  | { kind: 'urls'; name: string; urls: UrlEntry[]; manifestPath?: string }
  /** Files that ship with the repository: nothing to download. */
  | { kind: 'local'; name: string; path: string; manifestPath?: string }
  /** Not downloadable automatically (login walls, other hubs): instructions for the user. */
  | { kind: 'manual'; name: string; instructions: string; manifestPath?: string };

const MANIFEST_DIR = fileURLToPath(new URL('../../corpora-manifests/', import.meta.url));

function strList(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new Error(`${what} must be a string or a list of strings`);
}

/**
 * Read the download source out of a parsed corpus manifest. Accepted shapes:
 *   hf: {repo: owner/name, revision: main, include: [globs], exclude: [globs], type: dataset|model}   (or hf: owner/name)
 *   urls: [https://..., {url, path, sha256, size}]
 * either at the top level or under `source:` / `download:`.
 */
export function sourceFromManifest(name: string, manifest: Record<string, unknown>, manifestPath?: string): CollectSource {
  const where = manifestPath ? `manifest ${manifestPath}` : `manifest of corpus "${name}"`;
  let m: Record<string, unknown> = manifest;
  for (const key of ['source', 'download', 'collect']) {
    const sub = manifest[key];
    if (sub && typeof sub === 'object' && !Array.isArray(sub) && ('hf' in sub || 'urls' in sub || 'huggingface' in sub)) {
      m = sub as Record<string, unknown>;
    }
  }
  const hf = m.hf ?? m.huggingface;
  const corpusName = typeof manifest.name === 'string' && manifest.name ? manifest.name : name;
  if (hf !== undefined) {
    const h: Record<string, unknown> = typeof hf === 'string' ? { repo: hf } : (hf as Record<string, unknown>);
    if (!h || typeof h !== 'object') throw new Error(`${where}: "hf" must be a mapping {repo, revision, include}`);
    const repo = h.repo ?? h.id ?? h.dataset;
    if (typeof repo !== 'string' || !/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) {
      throw new Error(`${where}: hf.repo must look like "owner/name" (got ${JSON.stringify(repo)})`);
    }
    const revision = h.revision ?? h.ref ?? 'main';
    if (typeof revision !== 'string' || !revision) throw new Error(`${where}: hf.revision must be a string`);
    const type = h.type ?? h.repo_type ?? 'dataset';
    if (type !== 'dataset' && type !== 'model') throw new Error(`${where}: hf.type must be "dataset" or "model"`);
    return {
      kind: 'hf',
      name: corpusName,
      repo,
      repoType: type,
      revision,
      include: strList(h.include ?? h.allow_patterns ?? h.files, `${where}: hf.include`),
      exclude: strList(h.exclude ?? h.ignore_patterns, `${where}: hf.exclude`),
      manifestPath,
    };
  }
  if (m.urls !== undefined) {
    if (!Array.isArray(m.urls)) throw new Error(`${where}: "urls" must be a list`);
    const urls: UrlEntry[] = m.urls.map((u, i) => {
      const e: Record<string, unknown> = typeof u === 'string' ? { url: u } : (u as Record<string, unknown>);
      if (!e || typeof e.url !== 'string') throw new Error(`${where}: urls[${i}] needs a "url"`);
      let parsed: URL;
      try {
        parsed = new URL(e.url);
      } catch {
        throw new Error(`${where}: urls[${i}] is not a valid URL: ${e.url}`);
      }
      const path = typeof e.path === 'string' ? e.path : decodeURIComponent(basename(parsed.pathname));
      if (!path || path.startsWith('/') || path.split('/').includes('..')) {
        throw new Error(`${where}: urls[${i}] has an unsafe or empty path "${path}"`);
      }
      const sha = e.sha256;
      if (sha !== undefined && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/i.test(sha))) {
        throw new Error(`${where}: urls[${i}].sha256 must be 64 hex digits`);
      }
      if (e.size !== undefined && (typeof e.size !== 'number' || !Number.isInteger(e.size) || e.size < 0)) {
        throw new Error(`${where}: urls[${i}].size must be a non-negative integer`);
      }
      return { url: e.url, path, sha256: sha?.toLowerCase(), size: e.size as number | undefined };
    });
    const seen = new Set<string>();
    for (const u of urls) {
      if (seen.has(u.path)) throw new Error(`${where}: two urls share the output path "${u.path}" (set "path" on one)`);
      seen.add(u.path);
    }
    return { kind: 'urls', name: corpusName, urls, manifestPath };
  }
  const local = m.local as { path?: unknown } | undefined;
  if (local && typeof local.path === 'string') return { kind: 'local', name: corpusName, path: local.path, manifestPath };
  if (typeof m.manual === 'string') return { kind: 'manual', name: corpusName, instructions: m.manual.trim(), manifestPath };
  throw new Error(`${where}: no download source (expected "hf: {repo, revision, include}" or "urls: [...]")`);
}

function loadYaml(path: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`manifest ${path}: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`manifest ${path}: not a YAML mapping`);
  return doc as Record<string, unknown>;
}

/**
 * Resolve NAME to its download source: a path to a YAML manifest, a corpus known to pipeline/corpora (getCorpus), or
 * corpora-manifests/NAME.yaml.
 */
export async function resolveSource(nameOrPath: string, manifestDir = MANIFEST_DIR): Promise<CollectSource> {
  const ext = extname(nameOrPath);
  if ((ext === '.yaml' || ext === '.yml') && existsSync(nameOrPath)) {
    const p = resolve(nameOrPath);
    return sourceFromManifest(basename(p, ext), loadYaml(p), p);
  }
  try {
    const mod = (await import('../corpora/index.ts')) as {
      getCorpus?: (n: string) => Promise<{ name: string; manifest: Record<string, unknown> } | undefined>;
    };
    const c = mod.getCorpus ? await mod.getCorpus(nameOrPath) : undefined;
    if (c?.manifest) {
      const file = [join(manifestDir, `${nameOrPath}.yaml`), join(manifestDir, `${nameOrPath}.yml`)].find(existsSync);
      return sourceFromManifest(c.name ?? nameOrPath, c.manifest, file);
    }
  } catch (e) {
    // A broken registry must not hide a manifest we can read ourselves; re-throw only manifest errors about this name.
    if ((e as Error).message?.includes(nameOrPath)) throw e;
  }
  for (const f of [`${nameOrPath}.yaml`, `${nameOrPath}.yml`]) {
    const p = join(manifestDir, f);
    if (existsSync(p)) return sourceFromManifest(nameOrPath, loadYaml(p), p);
  }
  throw new Error(`unknown corpus "${nameOrPath}": no manifest ${join(manifestDir, nameOrPath + '.yaml')} (try: steel corpora)`);
}
