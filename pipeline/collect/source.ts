import { existsSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { corpusNames, getCorpus, MANIFEST_DIR } from '../corpora/index.ts';
import { readManifestFile, type Manifest } from '../corpora/manifest.ts';

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

/**
 * The download source of a validated corpus manifest (pipeline/corpora/manifest.ts, the one schema): `hf`, `urls`,
 * `local` or `manual`, in that order of preference.
 */
export function sourceFromManifest(m: Manifest, manifestPath?: string): CollectSource {
  const where = manifestPath ? `manifest ${manifestPath}` : `manifest of corpus "${m.name}"`;
  if (m.hf) {
    const h = m.hf;
    return {
      kind: 'hf',
      name: m.name,
      repo: h.repo,
      repoType: h.type,
      revision: h.revision,
      include: h.include,
      exclude: h.exclude,
      manifestPath,
    };
  }
  if (m.urls) {
    const urls: UrlEntry[] = m.urls.map((u, i) => {
      const e = typeof u === 'string' ? { url: u } : u;
      const path = e.path ?? decodeURIComponent(basename(new URL(e.url).pathname));
      if (!path || path.startsWith('/') || path.split('/').includes('..')) {
        throw new Error(`${where}: urls[${i}] has an unsafe or empty path "${path}"`);
      }
      return { url: e.url, path, sha256: e.sha256?.toLowerCase(), size: e.size };
    });
    const seen = new Set<string>();
    for (const u of urls) {
      if (seen.has(u.path)) throw new Error(`${where}: two urls share the output path "${u.path}" (set "path" on one)`);
      seen.add(u.path);
    }
    return { kind: 'urls', name: m.name, urls, manifestPath };
  }
  if (m.local) return { kind: 'local', name: m.name, path: m.local.path, manifestPath };
  if (m.manual) return { kind: 'manual', name: m.name, instructions: m.manual.trim(), manifestPath };
  throw new Error(`${where}: no download source (expected "hf: {repo, revision, include}" or "urls: [...]")`);
}

/**
 * Resolve NAME to its download source: a path to a manifest file (NAME.yaml), or a corpus of the manifest folder
 * (default corpora-manifests/). An invalid manifest is an error naming its file and keys.
 */
export async function resolveSource(nameOrPath: string, manifestDir: string = MANIFEST_DIR): Promise<CollectSource> {
  const ext = extname(nameOrPath);
  if ((ext === '.yaml' || ext === '.yml') && existsSync(nameOrPath)) {
    const p = resolve(nameOrPath);
    return sourceFromManifest(readManifestFile(p), p);
  }
  const c = await getCorpus(nameOrPath, manifestDir);
  if (!c) {
    const known = await corpusNames(manifestDir);
    throw new Error(
      `unknown corpus "${nameOrPath}": no manifest ${join(manifestDir, nameOrPath + '.yaml')} (known: ${known.join(', ') || 'none'}; see steel corpora)`,
    );
  }
  return sourceFromManifest(c.manifest, c.manifest.path);
}
