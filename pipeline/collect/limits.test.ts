/**
 * collect against a hostile or slow server (a local HTTP server per test): the listing body is bounded in memory, a
 * trickling body meets an overall deadline, progress counts bytes as they arrive, and a file on disk with a wrong hash
 * is fetched again and counted as refetched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { getJson } from './http.ts';
import { downloadFile } from './download.ts';
import { collectCorpus } from './collect.ts';
import { fakeBytes, FakeHub } from './fake-hub.ts';
import { partialPathFor } from '../fsutil.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** Write `chunk` every `everyMs` until the client goes away; returns how many bytes were written. */
function drip(res: ServerResponse, chunk: string, everyMs: number): { sent: number } {
  const s = { sent: 0 };
  const t = setInterval(() => {
    if (res.destroyed || res.writableEnded) return clearInterval(t);
    res.write(chunk);
    s.sent += Buffer.byteLength(chunk);
  }, everyMs);
  res.on('close', () => clearInterval(t));
  return s;
}

test('a listing body larger than the limit is refused, without reading it all', async () => {
  let sent = { sent: 0 };
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // no Content-Length: the size shows as it arrives
    res.write('[');
    sent = drip(res, JSON.stringify({ path: 'x'.repeat(200), size: 1 }) + ',', 1);
  });
  try {
    await assert.rejects(
      getJson(`${url}/api/tree`, url, undefined, { what: 'listing', maxBytes: 64 * 1024, retries: 0 }),
      /listing: .* sent more than the 65536 bytes allowed/,
    );
    assert.ok(sent.sent < 10 * 64 * 1024, `the client stopped reading (server wrote ${sent.sent} bytes)`);
  } finally {
    await stop(server);
  }
  const big = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 2 ** 20) });
    res.write('[');
  });
  try {
    await assert.rejects(
      getJson(`${big.url}/api/tree`, big.url, undefined, { what: 'listing', maxBytes: 1024, retries: 0 }),
      /sends 10485760 bytes, more than the 1024 allowed/,
    );
  } finally {
    await stop(big.server);
  }
});

test('a trickling listing meets the overall deadline', async () => {
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    drip(res, ' ', 20); // never idle, never done
  });
  try {
    await assert.rejects(
      getJson(`${url}/api/tree`, url, undefined, { what: 'listing', timeoutMs: 300, retries: 0 }),
      /listing: .* did not finish within 0\.3s/,
    );
  } finally {
    await stop(server);
  }
});

test('a trickling download meets its deadline; the bytes received are kept for the resume', async () => {
  const dir = tmpDir('steel-collect-limits-');
  const size = 400;
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    drip(res, 'a', 20); // 50 B/s, never idle
  });
  try {
    const dest = join(dir, 'f.bin');
    await assert.rejects(
      downloadFile(
        { url: `${url}/f.bin`, dest, label: 'f.bin', size },
        { endpoint: url, retries: 0, minBytesPerSec: 1000, deadlineGraceMs: 100 },
      ),
      /f\.bin: slower than 1000 B\/s on average after .* \(deadline\)/,
    );
    assert.ok(!existsSync(dest));
    assert.ok(statSync(partialPathFor(dest)).size > 0, 'received bytes stay in the part file');
  } finally {
    await stop(server);
  }
});

test('a trickling download of unknown size is cut once its average rate falls below the floor', async () => {
  const dir = tmpDir('steel-collect-limits-');
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200); // no Content-Length: no deadline can be computed, the average rate decides
    drip(res, 'a', 20);
  });
  try {
    await assert.rejects(
      downloadFile(
        { url: `${url}/u.bin`, dest: join(dir, 'u.bin'), label: 'u.bin' },
        { endpoint: url, retries: 0, minBytesPerSec: 1000, deadlineGraceMs: 100 },
      ),
      /u\.bin: slower than 1000 B\/s on average after .* \(deadline\)/,
    );
  } finally {
    await stop(server);
  }
});

test('progress counts bytes as they arrive, not when a write batch is flushed', async () => {
  const dir = tmpDir('steel-collect-limits-');
  const body = Buffer.alloc(3000, 7);
  let counted = 0;
  let countedBeforeRest = -1;
  let release!: () => void;
  const firstPartCounted = new Promise<void>((r) => (release = r));
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    res.write(body.subarray(0, 1000));
    // the rest only once the client has counted the first part (or after 5 s, so a broken client cannot hang the test)
    const fallback = setTimeout(release, 5000);
    void firstPartCounted.then(() => {
      clearTimeout(fallback);
      countedBeforeRest = counted;
      res.end(body.subarray(1000));
    });
  });
  try {
    const r = await downloadFile(
      { url: `${url}/g.bin`, dest: join(dir, 'g.bin'), label: 'g.bin', size: body.length },
      {
        endpoint: url,
        retries: 0,
        onBytes: (n) => {
          counted += n;
          if (counted >= 1000) release();
        },
      },
    );
    assert.equal(r.size, body.length);
    assert.equal(countedBeforeRest, 1000, 'the first 1000 bytes were counted while the body was still open');
    assert.equal(counted, body.length);
  } finally {
    await stop(server);
  }
});

test('a file on disk with a wrong hash is fetched again and counted as refetched', async () => {
  const hub = new FakeHub();
  await hub.start();
  try {
    const data = fakeBytes(5000, 3);
    hub.addRepo('org/r', [{ path: 'a.jsonl', data, lfs: true }]);
    const out = tmpDir('steel-collect-limits-');
    mkdirSync(join(out, 'r'), { recursive: true });
    const bad = Buffer.from(data);
    bad[100] ^= 1;
    writeFileSync(join(out, 'r', 'a.jsonl'), bad); // present, unrecorded, same size, wrong content
    const s = await collectCorpus(
      { kind: 'hf', name: 'r', repo: 'org/r', repoType: 'dataset', revision: 'main' },
      { out, endpoint: hub.endpoint, progress: 'none', retries: 0 },
    );
    assert.equal(s.complete, true);
    assert.equal(s.refetched, 1);
    assert.equal(s.downloaded, 1);
  } finally {
    await hub.close();
  }
});
