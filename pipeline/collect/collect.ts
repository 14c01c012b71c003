/**
 * `steel collect`: fetch a corpus's raw files (Hugging Face Hub repository or plain URLs) into OUT/NAME/, resumable and
 * verified, and record what was fetched in OUT/NAME/collect.json.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isPartialName, writeFileAtomic } from '../fsutil.ts';
import { dirname, join, resolve } from 'node:path';
import { downloadFile, hashFile, type DownloadOptions } from './download.ts';
import { makeMatcher } from '../readers/glob.ts';
import { describeError, HttpError, type RetryOptions } from './http.ts';
import { listFiles, normalizeEndpoint, resolveRevision, resolveUrl, type HubRepo } from './hub.ts';
import { CollectProgress, fmtBytes, fmtDuration, type ProgressMode } from '../progress.ts';
import type { CollectSource } from './source.ts';
import { setting } from '../settings.ts';

export const COLLECT_FILE = 'collect.json';

export interface CollectedFile {
  path: string;
  url: string;
  /** Commit (Hub) the file was fetched at; absent for plain URLs. */
  revision?: string;
  size: number;
  sha256: string;
  git_oid?: string;
  /** When the file was verified (ISO 8601). */
  time: string;
}

export interface CollectRecord {
  version: 1;
  corpus: string;
  source: {
    kind: 'hf' | 'urls';
    endpoint?: string;
    repo?: string;
    repo_type?: string;
    /** Revision asked for (branch, tag or commit) and the commit it resolved to. */
    revision?: string;
    commit?: string;
    include?: string[];
    exclude?: string[];
    manifest?: string;
  };
  /** Extra path filters given on the command line (`--include`). */
  selection?: string[];
  /** True when every selected file is present and verified. */
  complete: boolean;
  updated: string;
  files: CollectedFile[];
  failed: { path: string; url: string; error: string }[];
  /** Differences from the previous collect.json in this folder. */
  changes?: { added: string[]; changed: string[]; removed: string[] };
}

export interface CollectOptions extends RetryOptions {
  /** Parent output folder; the corpus goes to OUT/NAME/. */
  out: string;
  /** Extra globs on repository paths: a file is fetched when it matches the manifest and one of these. */
  include?: string[];
  /** Concurrent downloads = concurrent connections (default 4). */
  jobs?: number;
  /** Default: $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Default: $HF_TOKEN. */
  token?: string;
  idleTimeoutMs?: number;
  /** Overall deadline of a download: the least average rate after the grace period (see DownloadOptions). */
  minBytesPerSec?: number;
  deadlineGraceMs?: number;
  progress?: ProgressMode | 'auto';
  progressIntervalMs?: number;
  stream?: NodeJS.WriteStream;
}

export interface CollectSummary {
  corpus: string;
  dir: string;
  files: number;
  bytes: number;
  downloaded: number;
  downloadedBytes: number;
  skipped: number;
  resumed: number;
  /** Fetches repeated because a file failed its size or hash check (in transfer, or found so on disk). */
  refetched: number;
  failed: { path: string; error: string }[];
  seconds: number;
  complete: boolean;
}

interface Planned {
  path: string;
  url: string;
  size?: number;
  sha256?: string;
  gitOid?: string;
}

const CONTROL = /[\x00-\x1f\x7f]/;

function safeRelPath(p: string, where: string): string {
  const parts = p.split('/');
  if (!p || p.startsWith('/') || parts.some((s) => s === '..' || s === '') || p.includes('\\') || CONTROL.test(p)) {
    throw new Error(`${where}: refusing unsafe file path "${p}"`);
  }
  if (p === COLLECT_FILE || isPartialName(p))
    throw new Error(`${where}: file path "${p}" collides with collect's own files`);
  return p;
}

export function readCollectRecord(dir: string): CollectRecord | undefined {
  const p = join(dir, COLLECT_FILE);
  if (!existsSync(p)) return undefined;
  try {
    const r = JSON.parse(readFileSync(p, 'utf8')) as CollectRecord;
    if (!r || !Array.isArray(r.files)) throw new Error('no "files" list');
    return r;
  } catch (e) {
    throw new Error(`${p}: unreadable collect record (${(e as Error).message})`);
  }
}

async function writeJsonAtomic(path: string, data: unknown) {
  writeFileAtomic(path, JSON.stringify(data, null, 1) + '\n');
}

/** The corpus name is the folder under --out: one plain path component, never a path (../../x, /abs) or control characters. */
function checkCorpusName(name: string): void {
  if (!name || name === '.' || name === '..' || /[/\\]/.test(name) || CONTROL.test(name)) {
    throw new Error(
      `refusing corpus name ${JSON.stringify(name)}: it names the folder under --out, so it must be one plain path component`,
    );
  }
}

/** What should be there: the selected files of the source, sorted by path, and how the source is recorded. */
interface Plan {
  planned: Planned[];
  recSource: CollectRecord['source'];
  /** Revision recorded per file: the resolved commit, else the branch or tag asked for. */
  atRevision?: string;
}

async function planHub(
  source: Extract<CollectSource, { kind: 'hf' }>,
  opts: CollectOptions,
  endpoint: string,
  token: string | undefined,
  retry: RetryOptions,
  say: (l: string) => void,
): Promise<Plan> {
  const cli = opts.include?.length ? makeMatcher(opts.include, undefined) : () => true;
  const where = source.manifestPath ?? source.name;
  const hub: HubRepo = { endpoint, repo: source.repo, repoType: source.repoType, token };
  say(`[collect] ${source.name}: ${source.repo}@${source.revision} from ${endpoint}`);
  let rev = source.revision;
  let commit: string | undefined;
  try {
    commit = await resolveRevision(hub, source.revision, retry);
    rev = commit;
  } catch (e) {
    // Some mirrors lack the revision endpoint: list the branch itself (a missing repository fails the listing).
    if (!(e instanceof HttpError && e.status === 404)) throw e;
    say(
      `[collect] ${source.name}: cannot resolve "${source.revision}" to a commit on ${endpoint} (404); using it as is`,
    );
  }
  const all = await listFiles(hub, rev, retry);
  const m = makeMatcher(source.include, source.exclude);
  const planned = all
    .filter((f) => m(f.path) && cli(f.path))
    .map((f) => ({
      path: safeRelPath(f.path, where),
      url: resolveUrl(hub, rev, f.path),
      size: f.size,
      sha256: f.sha256,
      gitOid: f.gitOid,
    }));
  if (planned.length === 0) {
    throw new Error(
      `${source.name}: no file of ${source.repo}@${source.revision} (${all.length} files) matches ` +
        `include ${JSON.stringify(source.include ?? ['**'])}${opts.include?.length ? ` and --include ${JSON.stringify(opts.include)}` : ''}`,
    );
  }
  const recSource: CollectRecord['source'] = {
    kind: 'hf',
    endpoint,
    repo: source.repo,
    repo_type: source.repoType,
    revision: source.revision,
    commit,
    include: source.include,
    exclude: source.exclude,
    manifest: source.manifestPath,
  };
  return { planned, recSource, atRevision: rev };
}

function planUrls(source: Extract<CollectSource, { kind: 'urls' }>, opts: CollectOptions): Plan {
  const cli = opts.include?.length ? makeMatcher(opts.include, undefined) : () => true;
  const where = source.manifestPath ?? source.name;
  const planned = source.urls
    .filter((u) => cli(u.path))
    .map((u) => ({ path: safeRelPath(u.path, where), url: u.url, size: u.size, sha256: u.sha256 }));
  if (planned.length === 0) throw new Error(`${source.name}: no URL matches --include ${JSON.stringify(opts.include)}`);
  return { planned, recSource: { kind: 'urls', manifest: source.manifestPath } };
}

/** Whether a recorded file has the content a planned one promises (by hash when published, else by URL and size). */
function sameContent(p: Planned, f: CollectedFile): boolean {
  return p.sha256
    ? f.sha256 === p.sha256
    : p.gitOid
      ? f.git_oid === p.gitOid
      : f.url === p.url && (p.size === undefined || p.size === f.size);
}

/** Differences between the plan and what an earlier run recorded. */
function changesSince(prev: CollectRecord | undefined, planned: Planned[]): NonNullable<CollectRecord['changes']> {
  const prevByPath = new Map((prev?.files ?? []).map((f) => [f.path, f]));
  const plannedPaths = new Set(planned.map((p) => p.path));
  return {
    added: planned.filter((p) => !prevByPath.has(p.path)).map((p) => p.path),
    changed: planned
      .filter((p) => prevByPath.has(p.path) && !sameContent(p, prevByPath.get(p.path)!))
      .map((p) => p.path),
    removed: [...prevByPath.keys()].filter((p) => !plannedPaths.has(p)),
  };
}

/**
 * Split the plan into files already present and verified (recorded with the same content and size, or present but
 * unrecorded with the published hash) and files to fetch; a present file whose hash is wrong is fetched again and
 * counted as refetched.
 */
async function sortOutPresent(
  planned: Planned[],
  prev: CollectRecord | undefined,
  dir: string,
  atRevision: string | undefined,
): Promise<{ done: Map<string, CollectedFile>; todo: Planned[]; skippedBytes: number; badOnDisk: number }> {
  const prevByPath = new Map((prev?.files ?? []).map((f) => [f.path, f]));
  const done = new Map<string, CollectedFile>();
  const todo: Planned[] = [];
  let skippedBytes = 0;
  let badOnDisk = 0;
  for (const p of planned) {
    const dest = join(dir, p.path);
    const f = prevByPath.get(p.path);
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(dest);
    } catch {
      st = undefined;
    }
    if (st && f && sameContent(p, f) && st.size === f.size) {
      done.set(p.path, f);
      skippedBytes += f.size;
      continue;
    }
    if (st && (p.sha256 || p.gitOid)) {
      // Present but unrecorded (e.g. killed before collect.json was written): check its content.
      const h = await hashFile(dest, p.size);
      if (h.size === p.size && (p.sha256 ? h.sha256 === p.sha256 : h.gitOid === p.gitOid)) {
        done.set(p.path, {
          path: p.path,
          url: p.url,
          revision: atRevision,
          size: h.size,
          sha256: h.sha256,
          git_oid: p.gitOid,
          time: new Date().toISOString(),
        });
        skippedBytes += h.size;
        continue;
      }
      badOnDisk++;
    }
    todo.push(p);
  }
  return { done, todo, skippedBytes, badOnDisk };
}

/** OUT/NAME/collect.json, rewritten (atomically, at most every 2 s) as files finish. */
class Recorder {
  readonly done: Map<string, CollectedFile>;
  readonly failed: CollectRecord['failed'] = [];
  private lastSave = 0;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly corpus: string,
    private readonly plan: Plan,
    private readonly selection: string[] | undefined,
    private readonly changes: CollectRecord['changes'],
    done: Map<string, CollectedFile>,
  ) {
    this.done = done;
  }

  record(complete: boolean): CollectRecord {
    return {
      version: 1,
      corpus: this.corpus,
      source: this.plan.recSource,
      selection: this.selection?.length ? this.selection : undefined,
      complete,
      updated: new Date().toISOString(),
      files: this.plan.planned.filter((p) => this.done.has(p.path)).map((p) => this.done.get(p.path)!),
      failed: this.failed,
      changes: this.changes,
    };
  }

  save(): Promise<void> {
    if (Date.now() - this.lastSave < 2000) return this.saving;
    this.lastSave = Date.now();
    this.saving = this.saving.then(() => writeJsonAtomic(join(this.dir, COLLECT_FILE), this.record(false)));
    return this.saving;
  }

  async finish(): Promise<boolean> {
    const complete = this.failed.length === 0 && this.done.size === this.plan.planned.length;
    await this.saving;
    await writeJsonAtomic(join(this.dir, COLLECT_FILE), this.record(complete));
    return complete;
  }
}

/** Fetch `todo` with at most `jobs` connections, recording each verified file; returns the download counts. */
async function downloadAll(
  todo: Planned[],
  dir: string,
  jobs: number,
  rec: Recorder,
  progress: CollectProgress,
  dl: Omit<DownloadOptions, 'onStart' | 'onBytes' | 'onReset' | 'onRefetch'>,
  atRevision: string | undefined,
): Promise<{ resumed: number; refetched: number; downloadedBytes: number }> {
  let resumed = 0;
  let refetched = 0;
  let downloadedBytes = 0;
  const queue = [...todo];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const label = p.path;
      const size = p.size;
      try {
        const r = await downloadFile(
          { url: p.url, dest: join(dir, p.path), label, size: p.size, sha256: p.sha256, gitOid: p.gitOid },
          {
            ...dl,
            onStart: (off, sz) => {
              if (size === undefined && sz !== undefined) progress.addTotal(sz);
              progress.fileStart(label, off, sz);
            },
            onBytes: (n) => progress.fileBytes(label, n),
            onReset: (n) => progress.fileReset(label, n),
            // counted as it happens, so a file that fails after a refetch is counted too
            onRefetch: () => refetched++,
          },
        );
        if (p.size === undefined) progress.addTotal(0);
        if (r.resumes > 0) resumed++;
        downloadedBytes += r.size - r.resumedFrom;
        rec.done.set(p.path, {
          path: p.path,
          url: p.url,
          revision: atRevision,
          size: r.size,
          sha256: r.sha256,
          git_oid: p.gitOid,
          time: new Date().toISOString(),
        });
        const notes = [
          r.resumedFrom ? `continued a partial file at ${fmtBytes(r.resumedFrom)}` : '',
          r.resumes ? `resumed ${r.resumes}x` : '',
          r.refetched ? `refetched ${r.refetched}x after a bad hash` : '',
          r.attempts > 1 ? `${r.attempts} attempts` : '',
        ].filter(Boolean);
        progress.fileDone(label, true, notes.length ? `(${notes.join(', ')})` : '');
        await rec.save();
      } catch (e) {
        const msg = describeError(e);
        rec.failed.push({ path: p.path, url: p.url, error: msg });
        progress.fileDone(label, false, `: ${msg}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, todo.length)) }, worker));
  } finally {
    progress.stop();
  }
  return { resumed, refetched, downloadedBytes };
}

export async function collectCorpus(source: CollectSource, opts: CollectOptions): Promise<CollectSummary> {
  if (source.kind === 'local' || source.kind === 'manual') {
    throw new Error(
      `${source.name}: nothing to download (${source.kind === 'local' ? `files ship with the repository in ${source.path}` : 'manual download'})`,
    );
  }
  const t0 = Date.now();
  const endpoint = normalizeEndpoint(opts.endpoint ?? setting('hfEndpoint'));
  const token = opts.token ?? setting('hfToken');
  const jobs = Math.max(1, Math.floor(opts.jobs ?? 4));
  checkCorpusName(source.name);
  const dir = resolve(opts.out, source.name);
  const stream = opts.stream ?? process.stderr;
  const say = (l: string) => (opts.progress === 'none' ? undefined : stream.write(l + '\n'));
  const retry: RetryOptions = {
    retries: opts.retries,
    backoffMs: opts.backoffMs,
    maxBackoffMs: opts.maxBackoffMs,
    log: say,
  };
  await mkdir(dir, { recursive: true });

  // 1. What should be there.
  const plan = source.kind === 'hf' ? await planHub(source, opts, endpoint, token, retry, say) : planUrls(source, opts);
  const { planned, atRevision } = plan;
  planned.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  // 2. Compare with what an earlier run recorded.
  const prev = readCollectRecord(dir);
  const changes = changesSince(prev, planned);
  if (prev && (changes.changed.length || changes.removed.length)) {
    say(
      `[collect] ${source.name}: since the last collect: ${changes.added.length} new, ${changes.changed.length} changed, ${changes.removed.length} no longer selected`,
    );
  }

  // 3. Files already present and verified need nothing.
  const present = await sortOutPresent(planned, prev, dir, atRevision);
  const rec = new Recorder(dir, source.name, plan, opts.include, prev ? changes : undefined, present.done);
  const totalBytes = planned.reduce((s, p) => s + (p.size ?? 0), 0);
  const progress = new CollectProgress(source.name, totalBytes, planned.length, {
    mode: opts.progress ?? 'auto',
    stream,
    intervalMs: opts.progressIntervalMs,
  });
  for (const p of planned) if (rec.done.has(p.path)) progress.skipped(rec.done.get(p.path)!.size);
  retry.log = (l) => progress.log(`[collect] ${l}`);
  if (rec.done.size)
    progress.log(
      `[collect] ${source.name}: ${rec.done.size} file(s), ${fmtBytes(present.skippedBytes)} already verified`,
    );
  if (present.badOnDisk)
    progress.log(
      `[collect] ${source.name}: ${present.badOnDisk} file(s) on disk with a wrong hash: fetching them again`,
    );

  // 4. Download with at most `jobs` connections.
  const got = await downloadAll(
    present.todo,
    dir,
    jobs,
    rec,
    progress,
    {
      ...retry,
      endpoint,
      token,
      idleTimeoutMs: opts.idleTimeoutMs,
      minBytesPerSec: opts.minBytesPerSec,
      deadlineGraceMs: opts.deadlineGraceMs,
    },
    atRevision,
  );
  const complete = await rec.finish();
  return {
    corpus: source.name,
    dir,
    files: planned.length,
    bytes: [...rec.done.values()].reduce((s, f) => s + f.size, 0),
    downloaded: present.todo.length - rec.failed.length,
    downloadedBytes: got.downloadedBytes,
    skipped: planned.length - present.todo.length,
    resumed: got.resumed,
    refetched: got.refetched + present.badOnDisk,
    failed: rec.failed.map((f) => ({ path: f.path, error: f.error })),
    seconds: (Date.now() - t0) / 1000,
    complete,
  };
}

export function formatSummary(s: CollectSummary): string {
  const rate = s.seconds > 0 ? `${fmtBytes(s.downloadedBytes / s.seconds)}/s` : '';
  const lines = [
    `${s.corpus}: ${s.complete ? 'complete' : 'INCOMPLETE'} — ${s.files} files, ${fmtBytes(s.bytes)} verified in ${s.dir}`,
    `  downloaded ${s.downloaded} (${fmtBytes(s.downloadedBytes)}, ${rate}), already present ${s.skipped}, resumed ${s.resumed}, ` +
      `refetched after bad hash ${s.refetched}, failed ${s.failed.length}, ${fmtDuration(s.seconds)}`,
  ];
  for (const f of s.failed.slice(0, 20)) lines.push(`  FAILED ${f.path}: ${f.error}`);
  if (s.failed.length > 20) lines.push(`  ... and ${s.failed.length - 20} more failures (see collect.json)`);
  return lines.join('\n');
}

export interface VerifyReport {
  ok: boolean;
  /** Corpus folders checked (one, or each subfolder holding a collect.json). */
  dirs: string[];
  files: number;
  bytes: number;
  problems: string[];
}

/**
 * Check that DIR holds a complete, verified collection: DIR/collect.json marked complete, no failures, every recorded file
 * present with its size (and its SHA-256 when `hash` is set). DIR may also be a parent folder whose subfolders each hold a
 * collect.json (the `--out` folder of `steel collect`). `steel prep` calls this to refuse an incomplete corpus.
 */
export async function verifyCollected(dir: string, opts: { hash?: boolean } = {}): Promise<VerifyReport> {
  const rep: VerifyReport = { ok: true, dirs: [], files: 0, bytes: 0, problems: [] };
  let dirs: string[];
  if (existsSync(join(dir, COLLECT_FILE))) dirs = [dir];
  else if (existsSync(dir) && statSync(dir).isDirectory()) {
    dirs = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, COLLECT_FILE)))
      .map((d) => join(dir, d.name));
  } else dirs = [];
  if (dirs.length === 0) {
    rep.ok = false;
    rep.problems.push(`${dir}: no ${COLLECT_FILE} (run: steel collect NAME --out ${dir})`);
    return rep;
  }
  for (const d of dirs) {
    rep.dirs.push(d);
    let r: CollectRecord | undefined;
    try {
      r = readCollectRecord(d);
    } catch (e) {
      rep.problems.push((e as Error).message);
      continue;
    }
    if (!r) continue;
    if (!r.complete)
      rep.problems.push(`${join(d, COLLECT_FILE)}: collection is incomplete (rerun steel collect ${r.corpus})`);
    for (const f of r.failed ?? []) rep.problems.push(`${join(d, f.path)}: failed to download: ${f.error}`);
    for (const f of r.files) {
      const p = join(d, f.path);
      let size: number;
      try {
        size = statSync(p).size;
      } catch {
        rep.problems.push(`${p}: missing`);
        continue;
      }
      if (size !== f.size) {
        rep.problems.push(`${p}: size ${size} != recorded ${f.size}`);
        continue;
      }
      if (opts.hash) {
        const h = await hashFile(p);
        if (h.sha256 !== f.sha256) {
          rep.problems.push(`${p}: sha256 ${h.sha256} != recorded ${f.sha256}`);
          continue;
        }
      }
      rep.files++;
      rep.bytes += f.size;
    }
  }
  rep.ok = rep.problems.length === 0;
  return rep;
}

/**
 * The folder holding the collect.json that covers `path` (a file, folder or glob inside a collected corpus), or undefined
 * when `path` is not inside a collection (user-provided files).
 */
export function collectRootOf(path: string): string | undefined {
  // Cut a glob at its first wildcard segment.
  const parts = resolve(path).split('/');
  const firstWild = parts.findIndex((s) => /[*?[{]/.test(s));
  let d = firstWild >= 0 ? parts.slice(0, firstWild).join('/') || '/' : parts.join('/');
  for (;;) {
    if (existsSync(join(d, COLLECT_FILE))) return d;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/** Throw a clear error unless `dir` holds a complete collection (for `steel prep`). */
export async function assertCollected(dir: string, opts: { hash?: boolean } = {}): Promise<VerifyReport> {
  const r = await verifyCollected(dir, opts);
  if (!r.ok) {
    const more = r.problems.length > 10 ? `\n  ... and ${r.problems.length - 10} more` : '';
    throw new Error(`incomplete corpus in ${dir}:\n  ${r.problems.slice(0, 10).join('\n  ')}${more}`);
  }
  return r;
}

/**
 * For `steel prep`: every input spec `[CORPUS=]PATH_OR_GLOB` that lies inside a collected corpus (a folder with a
 * collect.json above it) must be complete; inputs outside any collection (the user's own files) are not checked.
 * Returns the collection folders checked; throws a clear error listing the problems otherwise.
 */
export async function assertInputsCollected(specs: string[], opts: { hash?: boolean } = {}): Promise<string[]> {
  const roots = new Set<string>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const pattern = eq > 0 && /^[a-z0-9][a-z0-9._-]*$/.test(spec.slice(0, eq)) ? spec.slice(eq + 1) : spec;
    const root = collectRootOf(pattern);
    if (root) roots.add(root);
  }
  for (const r of roots) await assertCollected(r, opts);
  return [...roots];
}
