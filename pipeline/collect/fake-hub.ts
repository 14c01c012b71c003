/**
 * A small Hugging Face Hub look-alike on 127.0.0.1 for tests and benchmarks: revision lookup, paginated recursive tree
 * listing (sizes, git oids, LFS sha256), resolve URLs with LFS redirects to a "CDN" path, Range requests, an optional
 * token check, and injectable faults (connection cut mid-file, corrupted byte, ignored Range).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  path: string;
  data: Buffer;
  /** Stored through LFS (listing carries lfs.oid = sha256), else a plain git blob. */
  lfs?: boolean;
}

export interface Fault {
  /** Serve this many more requests of the file with the fault, then behave. */
  times: number;
  /** Send the headers for the whole body, then only this many bytes and cut the connection. */
  cutAfter?: number;
  /** Flip the byte at this offset of the file. */
  corruptAt?: number;
}

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  status: number;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class FakeHub {
  readonly repos = new Map<string, { commit: string; branch: string; files: FakeFile[] }>();
  readonly faults = new Map<string, Fault>();
  readonly log: RequestLog[] = [];
  /** When set, every request needs `Authorization: Bearer TOKEN`. */
  token?: string;
  pageSize = 1000;
  /** Answer Range requests with the whole file (200), as some servers do. */
  ignoreRange = false;
  /** Answer 404 on the revision endpoint, as some mirrors do. */
  noRevisionApi = false;
  private server?: Server;
  endpoint = '';

  addRepo(repo: string, files: FakeFile[], branch = 'main'): string {
    const commit = createHash('sha1')
      .update(repo + JSON.stringify(files.map((f) => [f.path, sha256(f.data)])))
      .digest('hex');
    this.repos.set(repo, { commit, branch, files });
    return commit;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  requests(pathPart: string): RequestLog[] {
    return this.log.filter((l) => l.path.includes(pathPart));
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string | object,
    headers: Record<string, string> = {},
  ) {
    this.log.push({
      method: req.method ?? 'GET',
      path: req.url ?? '',
      range: req.headers.range,
      auth: req.headers.authorization,
      status,
    });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
    res.end(text);
  }

  private findRepo(repo: string, rev: string) {
    const r = this.repos.get(repo);
    if (!r || (rev !== r.commit && rev !== r.branch)) return undefined;
    return r;
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.endpoint);
    if (this.token && req.headers.authorization !== `Bearer ${this.token}`) {
      return this.send(req, res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    let m = /^\/api\/datasets\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const r = this.findRepo(m[1]!, decodeURIComponent(m[2]!));
      if (!r || this.noRevisionApi) return this.send(req, res, 404, { error: 'Repository not found' });
      return this.send(req, res, 200, { id: m[1], sha: r.commit });
    }
    m = /^\/api\/datasets\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const r = this.findRepo(m[1]!, decodeURIComponent(m[2]!));
      if (!r) return this.send(req, res, 404, { error: 'Repository not found' });
      const dirs = new Set<string>();
      for (const f of r.files) {
        const parts = f.path.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      }
      const entries = [
        ...[...dirs].map((d) => ({ type: 'directory', oid: '0'.repeat(40), size: 0, path: d })),
        ...r.files.map((f) => ({
          type: 'file',
          oid: f.lfs
            ? gitOid(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(f.data)}\n`))
            : gitOid(f.data),
          size: f.data.length,
          path: f.path,
          ...(f.lfs ? { lfs: { oid: sha256(f.data), size: f.data.length, pointerSize: 134 } } : {}),
        })),
      ];
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + this.pageSize);
      const headers: Record<string, string> = {};
      if (cursor + this.pageSize < entries.length) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(cursor + this.pageSize));
        headers.link = `<${next.toString()}>; rel="next"`;
      }
      return this.send(req, res, 200, page, headers);
    }
    m = /^\/datasets\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const r = this.findRepo(m[1]!, decodeURIComponent(m[2]!));
      const path = m[3]!.split('/').map(decodeURIComponent).join('/');
      const f = r?.files.find((x) => x.path === path);
      if (!r || !f) return this.send(req, res, 404, 'Entry not found');
      if (f.lfs)
        return this.send(req, res, 302, 'Found', {
          location: `/cdn-lfs/${m[1]}/${sha256(f.data)}?p=${encodeURIComponent(path)}`,
        });
      return this.serveFile(req, res, f);
    }
    m = /^\/cdn-lfs\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      const f = this.repos.get(m[1]!)?.files.find((x) => x.lfs && sha256(x.data) === m![2]);
      if (!f) return this.send(req, res, 404, 'Not found');
      return this.serveFile(req, res, f);
    }
    m = /^\/files\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      // Plain URL downloads: /files/OWNER/NAME/PATH serves a repository file by path.
      const path = decodeURIComponent(m[2]!);
      const f = this.repos.get(m[1]!)?.files.find((x) => x.path === path);
      if (f) return this.serveFile(req, res, f);
      return this.send(req, res, 404, 'Not found');
    }
    return this.send(req, res, 404, 'Not found');
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, f: FakeFile) {
    let data = f.data;
    const fault = this.faults.get(f.path);
    const active = fault && fault.times > 0;
    if (active) fault.times--;
    if (active && fault.corruptAt !== undefined) {
      data = Buffer.from(data);
      data[fault.corruptAt] = data[fault.corruptAt]! ^ 0xff;
    }
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.ignoreRange) {
      start = Number(range[1]);
      if (start >= data.length) {
        this.log.push({
          method: 'GET',
          path: req.url ?? '',
          range: req.headers.range,
          auth: req.headers.authorization,
          status: 416,
        });
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        return res.end();
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    }
    const body = data.subarray(start);
    headers['content-length'] = String(body.length);
    this.log.push({
      method: 'GET',
      path: req.url ?? '',
      range: req.headers.range,
      auth: req.headers.authorization,
      status,
    });
    res.writeHead(status, headers);
    if (active && fault.cutAfter !== undefined) {
      res.write(body.subarray(0, Math.max(0, fault.cutAfter - start)), () =>
        setTimeout(() => res.socket?.destroy(), 20),
      );
      return;
    }
    res.end(body);
  }
}

/** Deterministic pseudo-random bytes (xorshift), so fixtures need no files. */
export function fakeBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
