/**
 * Signature-stage throughput, one core.
 *
 *   npx tsx bench/dedup-signatures.ts [--repeat 2]
 *
 * A. Hashing only (MB of UTF-8 text per second): MinHash (one-permutation hashing, 256 bins) on Chinese and English
 *    (character 5-grams; English also word 5-grams), SimHash (Steel's space tokens / character tokens), exact (xxh64 of normalised text).
 * B. The whole signature task of the staged pipeline on the sample corpus (read JSONL.zst, shingle, MinHash, sort
 *    per band, write checksummed band files), in this process (one core). Checks every band file it wrote.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decompress } from 'fzstd';
import { MinHasher } from '../dedup/minhash.ts';
import { charShingles, wordShingles, normalise } from '../dedup/text.ts';
import { simhash } from '../dedup/simhash.ts';
import { buildConfig, minhashParams, lshFor } from '../dedup/params.ts';
import { signaturesTask, sigPath } from '../dedup/tasks.ts';
import { layout } from '../dedup/config.ts';
import { sectionRange, verifyRecordFile } from '../dedup/runfile.ts';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '2' } } });
const REPEAT = Number(values.repeat);
const SAMPLE = new URL('../corpora-manifests/sample/', import.meta.url).pathname;
const files = readdirSync(SAMPLE)
  .filter((n) => n.endsWith('.jsonl.zst'))
  .sort();
const zh: string[] = [];
const en: string[] = [];
for (const f of files) {
  for (const l of Buffer.from(decompress(readFileSync(join(SAMPLE, f))))
    .toString('utf8')
    .split('\n')) {
    if (!l) continue;
    const o = JSON.parse(l);
    (o.lang === 'en' || f.includes('-en') ? en : zh).push(o.text);
  }
}
const mb = (a: string[]) => a.reduce((s, t) => s + Buffer.byteLength(t), 0) / 1e6;
const p = lshFor(minhashParams.parse({}));
const mh = new MinHasher({ bands: p.bands, rows: p.rows }, 1);
const xx = await (await import('xxhash-wasm')).default();
/** CPU seconds of this process (user + system): per-core throughput that does not depend on other load on the box. */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
function rate(name: string, texts: string[], f: (t: string) => void) {
  let best = 0;
  let bestWall = 0;
  for (let r = 0; r < REPEAT; r++) {
    const t0 = performance.now();
    const c0 = cpu();
    for (const t of texts) f(t);
    const s = cpu() - c0;
    const w = (performance.now() - t0) / 1000;
    best = Math.max(best, mb(texts) / s);
    bestWall = Math.max(bestWall, mb(texts) / w);
  }
  console.log(`| ${name} | ${mb(texts).toFixed(1)} | ${best.toFixed(1)} | ${bestWall.toFixed(1)} |`);
  return best;
}
console.log(`MinHash: ${p.bands} bands × ${p.rows} rows = ${p.bands * p.rows} permutations\n`);
console.log('| hashing only (one core) | MB | MB per CPU-second | MB per wall second |');
console.log('|---|---:|---:|---:|');
const mhZh = rate('MinHash, zh, character 5-grams', zh, (t) => mh.compute(charShingles(t, 5)));
rate('MinHash, en, character 5-grams (default)', en, (t) => mh.compute(charShingles(t, 5)));
rate('MinHash, en, word 5-grams', en, (t) => mh.compute(wordShingles(t, 5)));
rate("SimHash, space tokens (Steel's tokenisation)", zh.concat(en), (t) =>
  simhash(t, { tokenization: 'space', window: 6, lowercase: true }),
);
rate('SimHash, zh, character windows (default for CJK)', zh, (t) =>
  simhash(t, { tokenization: 'character', window: 6, lowercase: true }),
);
rate('exact, xxh64 of normalised text', zh.concat(en), (t) =>
  xx.h64(normalise(t, { lowercase: true, whitespace: true, punctuation: true, digits: true })),
);

// B. the whole task
const work = '/tmp/steel-dedup-sigbench';
rmSync(work, { recursive: true, force: true });
const cfg = buildConfig('minhash', minhashParams.parse({}), {
  inputs: files.map((f) => join(SAMPLE, f)),
  workDir: work,
  outDir: work,
});
const ctx = { rank: 0, world: 1, log: () => {}, progress: () => {} };
const t0 = performance.now();
const c0 = cpu();
const st = await signaturesTask.run(0, 1, { cfg }, ctx);
const s = cpu() - c0;
const wall = (performance.now() - t0) / 1000;
const bytes = st.files.reduce((a, f) => a + f.bytes, 0);
let recs = 0;
const { bands } = layout(cfg);
for (const f of st.files) {
  for (let b = 0; b < bands; b++) {
    let c = 0;
    for (let r = 0; r < f.runs; r++)
      c += verifyRecordFile(sigPath(cfg, f.file), sectionRange(sigPath(cfg, f.file), r * bands + b)).count;
    if (c !== f.docs) throw new Error(`band ${b} of file ${f.file}: ${c} records, expected ${f.docs}`);
    recs += c;
  }
}
const stage = bytes / 1e6 / s;
console.log(
  `\n| signature task, whole stage (read JSONL.zst, MinHash, sort, write one file of ${bands} band runs per input) | MB | MB per CPU-second | MB per wall second |`,
);
console.log('|---|---:|---:|---:|');
console.log(
  `| ${files.length} sample files, ${st.files.reduce((a, f) => a + f.docs, 0)} docs, ${recs} band records checked | ${(bytes / 1e6).toFixed(1)} | ${stage.toFixed(1)} | ${(bytes / 1e6 / wall).toFixed(1)} |`,
);
rmSync(work, { recursive: true, force: true });
if (stage < 5 || mhZh < 5) {
  console.error(`below the 5 MB/s per core target (stage ${stage.toFixed(2)}, zh MinHash ${mhZh.toFixed(2)})`);
  process.exitCode = 1;
}
