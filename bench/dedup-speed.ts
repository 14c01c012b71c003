/**
 * MinHash dedup end to end, one worker, per CPU-second of this process (the tasks run in it).
 *
 *   npx tsx bench/dedup-speed.ts [--input DIR] [--method minhash] [--repeat 2]
 *
 * Input: the bundled sample corpus (corpora-manifests/sample/*.jsonl.zst: Debian Reference and manual pages in
 * zh-cn / zh-tw / en, fortunes zh / en; real Chinese + English text), or --input DIR. The whole staged pipeline
 * (runDedup with the LocalExecutor in-process, workers 1, default parameters) from the compressed JSONL to the kept
 * documents; MB = UTF-8 bytes of the documents' text. Checks the output accounts for every document (kept +
 * removed = read) and prints the per-stage wall seconds and the CPU-seconds of the whole run.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalExecutor } from '../pipeline/executor.ts';
import { buildConfig, exactParams, minhashParams, simhashParams } from '../dedup/params.ts';
import { runDedup } from '../dedup/run.ts';
import type { DedupMethod } from '../dedup/config.ts';

const { values } = parseArgs({
  options: {
    input: { type: 'string', default: new URL('../corpora-manifests/sample/', import.meta.url).pathname },
    method: { type: 'string', default: 'minhash' },
    repeat: { type: 'string', default: '2' },
    out: { type: 'string', default: '/tmp/steel-dedup-speed' },
  },
});
const method = values.method as DedupMethod;
const inputs = readdirSync(values.input!)
  .filter((n) => /\.jsonl(\.zst|\.gz)?$/.test(n))
  .sort()
  .map((n) => join(values.input!, n));
const schema = method === 'exact' ? exactParams : method === 'minhash' ? minhashParams : simhashParams;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
let best = Infinity;
let bestWall = 0;
let mb = 0;
let last: Awaited<ReturnType<typeof runDedup>> | undefined;
for (let r = 0; r < Number(values.repeat); r++) {
  rmSync(values.out!, { recursive: true, force: true });
  const cfg = buildConfig(method, schema.parse({}), {
    inputs,
    workDir: join(values.out!, 'work'),
    outDir: values.out!,
  });
  const logs: string[] = [];
  const c0 = cpu();
  const t0 = performance.now();
  last = await runDedup(cfg, new LocalExecutor({ inProcess: 'always', progress: { quiet: true } }), {
    workers: 1,
    log: (m) => logs.push(m),
  });
  const s = cpu() - c0;
  const w = (performance.now() - t0) / 1000;
  if (last.kept + last.dropped !== last.read)
    throw new Error(`accounting: kept ${last.kept} + removed ${last.dropped} ≠ read ${last.read}`);
  const bytesLine = logs.find((l) => l.startsWith('signatures:'))!;
  mb = Number(/([\d.]+) MB/.exec(bytesLine)![1]);
  if (s < best) {
    best = s;
    bestWall = w;
  }
  console.error(
    `run ${r + 1}: ${s.toFixed(2)} CPU-s, ${w.toFixed(2)} wall s; ${logs.filter((l) => /^(buckets|verify|dedup)/.test(l)).join(' | ')}`,
  );
}
console.log(
  JSON.stringify(
    {
      method,
      inputs: inputs.length,
      documents: last!.read,
      removed: last!.dropped,
      mb,
      cpuSeconds: +best.toFixed(2),
      mbPerCpuSecond: +(mb / best).toFixed(2),
      mbPerWallSecond: +(mb / bestWall).toFixed(2),
      stageWallSeconds: Object.fromEntries(Object.entries(last!.seconds).map(([k, v]) => [k, +v.toFixed(2)])),
      stageCpuSeconds: Object.fromEntries(Object.entries(last!.cpuSeconds ?? {}).map(([k, v]) => [k, +v.toFixed(2)])),
    },
    null,
    1,
  ),
);
