/** The subset of the Hugging Face Hub API that collect uses: revision lookup, recursive file listing, resolve URLs. */
import { getJson, HttpError, type RetryOptions } from './http.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubFile {
  path: string;
  size: number;
  /** SHA-256 of the content, published for LFS files (lfs.oid). */
  sha256?: string;
  /** Git blob id (SHA-1 of "blob SIZE\0" + content), published for every file. */
  gitOid?: string;
}

export interface HubRepo {
  endpoint: string;
  repo: string;
  repoType: 'dataset' | 'model';
  token?: string;
}

export function normalizeEndpoint(e: string | undefined): string {
  const v = (e ?? '').trim() || DEFAULT_ENDPOINT;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`HF_ENDPOINT is not a valid URL: "${v}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`HF_ENDPOINT must be http(s): "${v}"`);
  return v.replace(/\/+$/, '');
}

const prefix = (r: HubRepo) => (r.repoType === 'dataset' ? 'datasets/' : '');
const apiBase = (r: HubRepo) => `${r.endpoint}/api/${r.repoType === 'dataset' ? 'datasets' : 'models'}/${r.repo}`;

export function resolveUrl(r: HubRepo, revision: string, path: string): string {
  const p = path.split('/').map(encodeURIComponent).join('/');
  return `${r.endpoint}/${prefix(r)}${r.repo}/resolve/${encodeURIComponent(revision)}/${p}`;
}

/** The commit a branch or tag points to now (so every file comes from one commit); the input when it is already a commit. */
export async function resolveRevision(r: HubRepo, revision: string, opts: RetryOptions): Promise<string> {
  if (/^[0-9a-f]{40}$/.test(revision)) return revision;
  const url = `${apiBase(r)}/revision/${encodeURIComponent(revision)}`;
  const { body } = await getJson(url, r.endpoint, r.token, { ...opts, what: `${r.repo}@${revision}: revision` });
  const sha = (body as { sha?: unknown })?.sha;
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) {
    throw new HttpError(`${r.repo}@${revision}: ${url} returned no commit sha`, 200, url, false);
  }
  return sha;
}

function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

/** All files of the repository at `revision` (following the API's pagination). */
export async function listFiles(r: HubRepo, revision: string, opts: RetryOptions): Promise<HubFile[]> {
  let url: string | undefined = `${apiBase(r)}/tree/${encodeURIComponent(revision)}?recursive=true&expand=false`;
  const out: HubFile[] = [];
  for (let page = 0; url; page++) {
    const { body, link } = await getJson(url, r.endpoint, r.token, { ...opts, what: `${r.repo}@${revision}: listing` });
    if (!Array.isArray(body)) throw new HttpError(`${r.repo}: ${url} did not return a list of files`, 200, url, false);
    for (const e of body as Record<string, unknown>[]) {
      if (e.type !== undefined && e.type !== 'file') continue;
      if (typeof e.path !== 'string' || typeof e.size !== 'number') {
        throw new HttpError(
          `${r.repo}: listing entry without path/size: ${JSON.stringify(e).slice(0, 200)}`,
          200,
          url,
          false,
        );
      }
      const lfs = e.lfs as { oid?: string; size?: number; sha256?: string } | undefined;
      const sha = lfs?.oid ?? lfs?.sha256;
      out.push({
        path: e.path,
        size: typeof lfs?.size === 'number' ? lfs.size : e.size,
        sha256: typeof sha === 'string' ? sha.replace(/^sha256:/, '').toLowerCase() : undefined,
        gitOid: !lfs && typeof e.oid === 'string' ? e.oid : undefined,
      });
    }
    const next = nextLink(link);
    url = next ? new URL(next, url).toString() : undefined;
    if (page > 100_000) throw new Error(`${r.repo}: listing does not end`);
  }
  return out;
}
