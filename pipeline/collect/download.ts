/**
 * One resumable, verified file download: bytes go to `DEST.part` (resumed with `Range: bytes=N-`), the size and SHA-256
 * (or the git blob id) are checked at the end, and only then is the file renamed to DEST.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { partialPathFor } from '../fsutil.ts';
import { fmtBytes, fmtDuration } from '../progress.ts';
import {
  describeError,
  errorForStatus,
  HttpError,
  requestHeaders,
  RetryableError,
  retryAfterMs,
  withRetry,
  type RetryOptions,
} from './http.ts';

export interface DownloadJob {
  url: string;
  /** Final path; the partial download lives at `${dest}.part`. */
  dest: string;
  /** Label for messages (the path inside the corpus). */
  label: string;
  size?: number;
  sha256?: string;
  gitOid?: string;
}

export interface DownloadOptions extends RetryOptions {
  endpoint: string;
  token?: string;
  /** Abort a transfer that receives nothing for this long (default 120 s). */
  idleTimeoutMs?: number;
  /**
   * Overall deadline of one request's body, so that a trickling server (a byte now and then, never idle) cannot hold
   * a connection for ever: the transfer must average at least this rate after the grace period (default 16 KiB/s).
   * With a known size the request is aborted at GRACE + remaining bytes / rate; else when the average falls below.
   */
  minBytesPerSec?: number;
  /** Grace period of the deadline (default 5 min). */
  deadlineGraceMs?: number;
  /** Called with the byte count of the partial file (resume point). */
  onStart?: (offset: number, size: number | undefined) => void;
  /** Called with every chunk's size as it arrives from the network (writes to disk are batched). */
  onBytes?: (n: number) => void;
  /** Called when bytes already counted are thrown away (restart from 0 or refetch after a bad hash). */
  onReset?: (offset: number) => void;
  /** Called when the finished file failed its size or hash check and is fetched again. */
  onRefetch?: () => void;
}

export interface DownloadResult {
  size: number;
  sha256: string;
  attempts: number;
  /** Bytes found in a partial file from an earlier run and kept. */
  resumedFrom: number;
  /** Refetches caused by a size or hash mismatch. */
  refetched: number;
  /** Requests that continued a partial file (206 answers to `Range: bytes=N-`, N > 0). */
  resumes: number;
}

/** Incremental hashes of the part file: SHA-256 always, git blob SHA-1 when the size is known in advance. */
class Hashes {
  sha256: Hash = createHash('sha256');
  git: Hash | undefined;
  length = 0;
  constructor(
    readonly size: number | undefined,
    private readonly wantGit = true,
  ) {
    this.reset();
  }
  reset() {
    this.sha256 = createHash('sha256');
    this.git = this.wantGit && this.size !== undefined ? createHash('sha1').update(`blob ${this.size}\0`) : undefined;
    this.length = 0;
  }
  update(b: Uint8Array) {
    this.sha256.update(b);
    this.git?.update(b);
    this.length += b.length;
  }
}

async function hashPrefix(path: string, h: Hashes): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return -1;
  }
}

export async function downloadFile(job: DownloadJob, opts: DownloadOptions): Promise<DownloadResult> {
  const part = partialPathFor(job.dest);
  await mkdir(dirname(job.dest), { recursive: true });
  let size = job.size;
  let hashes: Hashes | undefined;
  let resumedFrom = -1;
  let refetched = 0;
  let resumes = 0;
  let started = false;
  const idleMs = opts.idleTimeoutMs ?? 120_000;
  const minRate = opts.minBytesPerSec ?? 16 * 1024;
  const graceMs = opts.deadlineGraceMs ?? 300_000;
  // The git blob id is needed only when no SHA-256 is published (non-LFS Hub files).
  const wantGit = !job.sha256 && !!job.gitOid;

  const attemptOnce = async (attempt: number): Promise<DownloadResult> => {
    let offset = Math.max(0, await fileSize(part));
    if (size !== undefined && offset > size) {
      await rm(part, { force: true });
      offset = 0;
    }
    // Hash state must describe exactly the bytes in the part file.
    if (!hashes || hashes.length !== offset || hashes.size !== size) {
      hashes = new Hashes(size, wantGit);
      if (offset > 0) await hashPrefix(part, hashes);
      if (hashes.length !== offset) offset = hashes.length;
    }
    if (resumedFrom < 0) resumedFrom = offset;
    if (!started) {
      opts.onStart?.(offset, size);
      started = true;
    }

    if (size === undefined || offset < size) {
      const ac = new AbortController();
      let idle = setTimeout(() => ac.abort(new RetryableError(`no data for ${idleMs / 1000}s`)), idleMs);
      const t0 = Date.now();
      const tooSlow = () =>
        new RetryableError(
          `${job.label}: slower than ${fmtBytes(minRate)}/s on average after ${fmtDuration((Date.now() - t0) / 1000)} (deadline)`,
        );
      const deadline =
        size !== undefined
          ? setTimeout(() => ac.abort(tooSlow()), graceMs + ((size - offset) / minRate) * 1000)
          : undefined;
      /** Bytes of this request counted by onBytes (as they arrived) but not yet written. */
      let unflushed = 0;
      let received = 0;
      const headers = requestHeaders(
        job.url,
        opts.endpoint,
        opts.token,
        offset > 0 ? { range: `bytes=${offset}-` } : {},
      );
      // Identity encoding: byte ranges and hashes refer to the stored bytes.
      headers['accept-encoding'] = 'identity';
      try {
        const res = await fetch(job.url, { headers, signal: ac.signal, redirect: 'follow' });
        if (res.status === 416 && offset > 0) {
          // Our partial file is at least as long as the remote one: start over.
          await res.body?.cancel().catch(() => {});
          await rm(part, { force: true });
          hashes.reset();
          opts.onReset?.(offset);
          throw new RetryableError(`server refused resume at byte ${offset} (416); restarting from 0`);
        }
        if (!res.ok) {
          await res.body?.cancel().catch(() => {});
          const err = errorForStatus(res.status, res.statusText, job.url, !!opts.token, job.label);
          throw res.status === 429 || res.status === 503
            ? new HttpError(err.message, err.status, err.url, true, retryAfterMs(res.headers.get('retry-after')))
            : err;
        }
        let flags = 'a';
        if (res.status === 206) {
          resumes++;
          const cr = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
          if (!cr || Number(cr[1]) !== offset) {
            await res.body?.cancel().catch(() => {});
            throw new HttpError(
              `${job.label}: bad Content-Range "${res.headers.get('content-range')}" for resume at ${offset}`,
              206,
              job.url,
              true,
            );
          }
          if (cr[3] !== '*') {
            const total = Number(cr[3]);
            if (size !== undefined && total !== size) {
              await res.body?.cancel().catch(() => {});
              throw new HttpError(
                `${job.label}: server reports ${total} bytes, listing said ${size}`,
                206,
                job.url,
                false,
              );
            }
            size ??= total;
          }
        } else {
          // 200: full content from byte 0 (server ignored Range, or fresh download).
          if (offset > 0) {
            opts.onReset?.(offset);
            offset = 0;
          }
          flags = 'w';
          hashes.reset();
          const cl = res.headers.get('content-length');
          if (cl !== null && size === undefined) size = Number(cl);
          else if (cl !== null && Number(cl) !== size) {
            await res.body?.cancel().catch(() => {});
            throw new HttpError(`${job.label}: server sends ${cl} bytes, listing said ${size}`, 200, job.url, false);
          }
          if (hashes.size !== size) hashes = new Hashes(size, wantGit);
        }
        const fh = await open(part, flags);
        try {
          if (res.body) {
            // Batch small network chunks into ~1 MiB writes.
            let pending: Uint8Array[] = [];
            let pendingBytes = 0;
            const flush = async () => {
              if (!pendingBytes) return;
              const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
              pending = [];
              pendingBytes = 0;
              await fh.write(buf);
              hashes!.update(buf);
              unflushed -= buf.length;
            };
            try {
              for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
                clearTimeout(idle);
                idle = setTimeout(() => ac.abort(new RetryableError(`no data for ${idleMs / 1000}s`)), idleMs);
                pending.push(chunk);
                pendingBytes += chunk.length;
                unflushed += chunk.length;
                received += chunk.length;
                opts.onBytes?.(chunk.length);
                const el = Date.now() - t0;
                if (size === undefined && el > graceMs && received < (minRate * (el - graceMs)) / 1000) throw tooSlow();
                if (size !== undefined && hashes.length + pendingBytes > size) {
                  throw new RetryableError(`${job.label}: server sent more than the ${size} expected bytes`);
                }
                if (pendingBytes >= 1 << 20) await flush();
              }
            } finally {
              // Keep every byte received before a cut: the next attempt resumes after them.
              if (!(size !== undefined && hashes.length + pendingBytes > size)) await flush();
            }
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
      } catch (e) {
        // Keep what was written (resume on the next attempt), unless the content is known to be bad.
        if (e instanceof RetryableError && /more than/.test(e.message)) {
          await rm(part, { force: true });
          opts.onReset?.(hashes.length + unflushed);
          hashes.reset();
        } else if (unflushed > 0) opts.onReset?.(unflushed); // counted on arrival, never written
        unflushed = 0;
        throw ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : e;
      } finally {
        clearTimeout(idle);
        clearTimeout(deadline);
      }
      if (size !== undefined && hashes.length < size) {
        throw new RetryableError(`${job.label}: connection closed at byte ${hashes.length} of ${size}`);
      }
      size ??= hashes.length;
    }

    // Verify before the file gets its final name.
    const got = hashes.length;
    const sha = hashes.sha256.copy().digest('hex');
    const git = hashes.git?.copy().digest('hex');
    let bad: string | undefined;
    if (got !== size) bad = `size ${got} != expected ${size}`;
    else if (job.sha256 && sha !== job.sha256) bad = `sha256 ${sha} != expected ${job.sha256}`;
    else if (!job.sha256 && job.gitOid && git !== job.gitOid) bad = `git blob id ${git} != expected ${job.gitOid}`;
    if (bad) {
      await rm(part, { force: true });
      opts.onReset?.(got);
      hashes.reset();
      refetched++;
      opts.onRefetch?.();
      throw new RetryableError(`${job.label}: verification failed (${bad}); refetching`);
    }
    await rename(part, job.dest);
    return { size: got, sha256: sha, attempts: attempt + 1, resumedFrom: Math.max(0, resumedFrom), refetched, resumes };
  };

  try {
    return await withRetry(job.label, opts, attemptOnce);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new Error(`${job.label}: ${describeError(e)}`);
  }
}

/** SHA-256 (and git blob id) of a file on disk. */
export async function hashFile(
  path: string,
  size?: number,
): Promise<{ size: number; sha256: string; gitOid?: string }> {
  const h = new Hashes(size);
  await hashPrefix(path, h);
  return { size: h.length, sha256: h.sha256.digest('hex'), gitOid: h.git?.digest('hex') };
}
