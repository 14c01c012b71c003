/**
 * Throughput of `steel collect` against the loopback Hub look-alike: N LFS files of M MiB, J parallel connections,
 * one connection cut mid-file (resumed) and one corrupted file (refetched). Checks every file's bytes afterwards.
 *   npx tsx bench/collect-loopback.ts [--files 8] [--mib 64] [--jobs 4] [--progress bar|lines|none]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { collectCorpus, formatSummary, verifyCollected } from '../pipeline/collect/collect.ts';
import { fakeBytes, FakeHub } from '../pipeline/collect/fake-hub.ts';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '8' },
    mib: { type: 'string', default: '64' },
    jobs: { type: 'string', default: '4' },
    progress: { type: 'string', default: 'lines' },
  },
});
const nFiles = Number(values.files);
const size = Number(values.mib) * 2 ** 20;
const hub = new FakeHub();
const endpoint = await hub.start();
const base = fakeBytes(size, 7);
const files = Array.from({ length: nFiles }, (_, i) => {
  const data = Buffer.from(base);
  data.writeUInt32LE(i, 0); // distinct contents
  return { path: `data/part-${String(i).padStart(4, '0')}.jsonl`, data, lfs: true };
});
hub.addRepo('bench/corpus', files);
hub.faults.set(files[0]!.path, { times: 1, cutAfter: Math.floor(size / 3) });
if (nFiles > 1) hub.faults.set(files[1]!.path, { times: 1, corruptAt: size - 5 });
const out = mkdtempSync(join(tmpdir(), 'steel-collect-bench-'));
try {
  const modes: Record<string, 'tty' | 'lines' | 'none'> = { bar: 'tty', lines: 'lines', none: 'none' };
  const s = await collectCorpus(
    { kind: 'hf', name: 'corpus', repo: 'bench/corpus', repoType: 'dataset', revision: 'main' },
    {
      out,
      endpoint,
      jobs: Number(values.jobs),
      backoffMs: 10,
      progress: modes[values.progress!] ?? 'lines',
      progressIntervalMs: 2000,
    },
  );
  console.log(formatSummary(s));
  for (const f of files) {
    if (!readFileSync(join(out, 'corpus', f.path)).equals(f.data)) throw new Error(`bench: ${f.path} differs`);
  }
  const v = await verifyCollected(join(out, 'corpus'), { hash: true });
  if (!s.complete || !v.ok || s.resumed < 1 || s.refetched < 1)
    throw new Error(`bench: unexpected result ${JSON.stringify(v.problems)}`);
  const total = nFiles * size;
  console.log(
    `collect-loopback: ${nFiles} x ${values.mib} MiB, jobs ${values.jobs}: ${(total / 2 ** 20 / s.seconds).toFixed(0)} MiB/s ` +
      `(${s.seconds.toFixed(2)} s, incl. one resume and one refetch of a whole file); outputs verified`,
  );
} finally {
  await hub.close();
  rmSync(out, { recursive: true, force: true });
}
