/** HTTP helpers for collect: clear errors, retries with exponential backoff, auth only towards the configured host. */

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly url: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface RetryOptions {
  /** Attempts after the first one (default 6). */
  retries?: number;
  /** First backoff delay in ms (default 1000), doubled each attempt, with jitter. */
  backoffMs?: number;
  /** Ceiling for one delay (default 60 s). */
  maxBackoffMs?: number;
  log?: (line: string) => void;
}

/** Describe a non-OK response in words a user can act on. */
export function errorForStatus(
  status: number,
  statusText: string,
  url: string,
  hadToken: boolean,
  what = '',
): HttpError {
  const subj = what ? `${what}: ` : '';
  if (status === 401 || status === 403) {
    const hint = hadToken
      ? 'HF_TOKEN was sent but refused: check that the token is valid and has access (accept the dataset terms on the Hub)'
      : 'the repository is gated or private: set HF_TOKEN to an access token (and accept the dataset terms on the Hub)';
    return new HttpError(
      `${subj}HTTP ${status} ${statusText || 'Unauthorized'} for ${url}: ${hint}`,
      status,
      url,
      false,
    );
  }
  if (status === 404) {
    return new HttpError(
      `${subj}HTTP 404 Not Found for ${url}: check the repository name, revision and file path in the manifest`,
      status,
      url,
      false,
    );
  }
  const retryable = status === 408 || status === 425 || status === 429 || status >= 500;
  return new HttpError(`${subj}HTTP ${status} ${statusText} for ${url}`, status, url, retryable);
}

/** Network-level failures (reset, refused, cut, timeout) are worth retrying; HTTP errors say themselves. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof HttpError) return e.retryable;
  if (e instanceof RetryableError) return true;
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return true;
  return err instanceof TypeError || !!err?.code || !!err?.cause?.code || (e as Error)?.message === 'terminated';
}

/** An error after which the same request should simply be tried again (incomplete body, hash mismatch). */
export class RetryableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableError';
  }
}

export function describeError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.cause?.code) return `${err.message} (${err.cause.code})`;
  if (err?.cause?.message && err.cause.message !== err.message) return `${err.message}: ${err.cause.message}`;
  return err?.message ?? String(e);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run `fn` until it succeeds, a non-retryable error occurs, or retries run out. */
export async function withRetry<T>(what: string, opts: RetryOptions, fn: (attempt: number) => Promise<T>): Promise<T> {
  const retries = opts.retries ?? 6;
  const base = opts.backoffMs ?? 1000;
  const max = opts.maxBackoffMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isRetryable(e) || attempt >= retries) throw e;
      const hinted = e instanceof HttpError ? e.retryAfterMs : undefined;
      const delay = hinted ?? Math.min(max, base * 2 ** attempt) * (0.5 + Math.random() * 0.5);
      opts.log?.(`${what}: ${describeError(e)}; retry ${attempt + 1}/${retries} in ${(delay / 1000).toFixed(1)}s`);
      await sleep(delay);
    }
  }
}

export function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.min(300_000, Math.max(0, s * 1000));
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.min(300_000, Math.max(0, t - Date.now())) : undefined;
}

/** Headers for a request: the token goes only to the endpoint's own origin (fetch drops it on cross-origin redirects). */
export function requestHeaders(
  url: string,
  endpoint: string,
  token: string | undefined,
  extra: Record<string, string> = {},
) {
  const h: Record<string, string> = { 'user-agent': 'steel-collect/0.1', ...extra };
  if (token && new URL(url).origin === new URL(endpoint).origin) h.authorization = `Bearer ${token}`;
  return h;
}

/** Largest JSON document getJson reads (one page of a listing; the Hub sends about 1,000 entries a page). */
export const MAX_JSON_BYTES = 64 * 2 ** 20;

/**
 * The body of `res` as text, refusing one larger than `maxBytes` (announced by Content-Length or as it arrives):
 * a server cannot make us hold an unbounded body in memory.
 */
export async function readBodyLimited(res: Response, maxBytes: number, what: string): Promise<string> {
  const cl = Number(res.headers.get('content-length') ?? NaN);
  if (cl > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new HttpError(
      `${what}: ${res.url} sends ${cl} bytes, more than the ${maxBytes} allowed`,
      res.status,
      res.url,
      false,
    );
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new HttpError(
        `${what}: ${res.url} sent more than the ${maxBytes} bytes allowed`,
        res.status,
        res.url,
        false,
      );
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks, n).toString('utf8');
}

/**
 * GET a JSON document with retries; returns the body and the response's Link header. Each attempt has an overall
 * deadline (`timeoutMs`, default 60 s, body included: a trickling server is cut off) and a size limit (`maxBytes`,
 * default MAX_JSON_BYTES).
 */
export async function getJson(
  url: string,
  endpoint: string,
  token: string | undefined,
  opts: RetryOptions & { what?: string; timeoutMs?: number; maxBytes?: number },
): Promise<{ body: unknown; link: string | null }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return withRetry(opts.what ?? url, opts, async () => {
    const signal = AbortSignal.timeout(timeoutMs);
    const res = await fetch(url, {
      headers: requestHeaders(url, endpoint, token, { accept: 'application/json' }),
      signal,
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const err = errorForStatus(res.status, res.statusText, url, !!token, opts.what);
      if (res.status === 429 || res.status === 503) {
        throw new HttpError(err.message, err.status, url, true, retryAfterMs(res.headers.get('retry-after')));
      }
      throw err;
    }
    let text: string;
    try {
      text = await readBodyLimited(res, opts.maxBytes ?? MAX_JSON_BYTES, opts.what ?? 'request');
    } catch (e) {
      if (signal.aborted)
        throw new RetryableError(`${opts.what ?? 'request'}: ${url} did not finish within ${timeoutMs / 1000}s`);
      throw e;
    }
    try {
      return { body: JSON.parse(text), link: res.headers.get('link') };
    } catch {
      throw new HttpError(
        `${opts.what ?? 'request'}: ${url} did not return JSON (got "${text.slice(0, 80)}")`,
        res.status,
        url,
        false,
      );
    }
  });
}
