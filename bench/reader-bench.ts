/**
 * Reader throughput: MB/s per core for JSONL.zst and Parquet (and plain/.gz JSONL for reference) on generated
 * mixed Chinese/English documents. Checks that every reader returns every record (count and a checksum).
 *
 *   npx tsx bench/reader-bench.ts [--mb 64] [--keep DIR]
 *
 * "MB" = MiB of uncompressed JSONL (the documents as {"id","text","source","meta"} lines); per core = that size
 * divided by the CPU seconds (user+system) the read took in this single-threaded process.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { openBytes, readRecords, recordToDocument } from '../pipeline/readers/index.ts';
import { JsonlWriter } from '../pipeline/writers/index.ts';
import { ParquetDocWriter } from '../pipeline/writers/parquet.ts';
import type { Document } from '../pipeline/document.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '64' }, keep: { type: 'string' } } });
const targetBytes = Number(values.mb) * (1 << 20);

// deterministic generator (xorshift)
let seed = 0x9e3779b9;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const zhChars =
  '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严';
const words = [
  'the',
  'data',
  'model',
  'training',
  'corpus',
  'token',
  'pipeline',
  'steel',
  'chinese',
  'text',
  'language',
  'of',
  'and',
  'to',
  'in',
];
function makeText(): string {
  const zh = rnd() < 0.7;
  const len = 200 + Math.floor(rnd() * 3000);
  let s = '';
  if (zh) {
    while (s.length < len) {
      for (let i = 0; i < 20; i++) s += zhChars[Math.floor(rnd() * zhChars.length)];
      s += rnd() < 0.1 ? '。\n' : '，';
    }
  } else {
    while (s.length < len) s += words[Math.floor(rnd() * words.length)] + (rnd() < 0.05 ? '.\n' : ' ');
  }
  return s;
}

const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'steel-bench-'));
const docs: Document[] = [];
let rawBytes = 0;
while (rawBytes < targetBytes) {
  const d: Document = { id: `doc-${docs.length}`, text: makeText(), source: 'bench', meta: { n: docs.length } };
  rawBytes += Buffer.byteLength(JSON.stringify(d)) + 1;
  docs.push(d);
}
const expectedSum = docs.reduce((a, d) => (a + d.text.length) % 1_000_000_007, 0);
console.error(`generated ${docs.length} documents, ${(rawBytes / 2 ** 20).toFixed(1)} MiB of JSONL in ${dir}`);

async function writeJsonl(path: string): Promise<void> {
  const w = new JsonlWriter(path);
  for (const d of docs) await w.write(d);
  await w.close();
}
await writeJsonl(join(dir, 'b.jsonl.zst'));
await writeJsonl(join(dir, 'b.jsonl'));
writeFileSync(
  join(dir, 'b.jsonl.gz'),
  gzipSync(Buffer.from(docs.map((d) => JSON.stringify(d)).join('\n') + '\n'), { level: 6 }),
);
for (const codec of ['ZSTD', 'SNAPPY'] as const) {
  const pw = new ParquetDocWriter(join(dir, `b-${codec.toLowerCase()}.parquet`), { rowGroupRows: 5000, codec });
  for (const d of docs) await pw.write(d);
  await pw.close();
}

interface Row {
  name: string;
  file: string;
  fileMiB: number;
  docs: number;
  wall: number;
  cpu: number;
  mbPerCpuS: number;
  mbPerWallS: number;
}
const rows: Row[] = [];
async function bench(name: string, file: string, convert: boolean): Promise<void> {
  global.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  let sum = 0;
  for await (const it of readRecords(file)) {
    if (it.kind !== 'record') throw new Error(`${name}: unexpected reject at ${it.loc.line}: ${it.error}`);
    const text = convert ? recordToDocument(it.record, it.loc).text : (it.record.text as string);
    sum = (sum + text.length) % 1_000_000_007;
    n++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1e6;
  if (n !== docs.length) throw new Error(`${name}: read ${n} records, expected ${docs.length}`);
  if (sum !== expectedSum) throw new Error(`${name}: text checksum mismatch`);
  const mb = rawBytes / 2 ** 20;
  rows.push({
    name,
    file,
    fileMiB: statSync(file).size / 2 ** 20,
    docs: n,
    wall,
    cpu,
    mbPerCpuS: mb / cpu,
    mbPerWallS: mb / wall,
  });
}

// warm-up (JIT, wasm init), then measured runs
await bench('warmup', join(dir, 'b.jsonl.zst'), true);
rows.length = 0;
await bench('JSONL.zst', join(dir, 'b.jsonl.zst'), true);
await bench('JSONL (plain)', join(dir, 'b.jsonl'), true);
await bench('JSONL.gz', join(dir, 'b.jsonl.gz'), true);
await bench('Parquet (zstd)', join(dir, 'b-zstd.parquet'), true);
await bench('Parquet (snappy)', join(dir, 'b-snappy.parquet'), true);

// real text: the bundled sample corpus (Debian docs, man pages, fortunes), if present
const sampleDir = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  '..',
  'corpora-manifests',
  'sample',
);
if (existsSync(sampleDir)) {
  const files = readdirSync(sampleDir)
    .filter((n) => n.endsWith('.jsonl.zst'))
    .sort()
    .map((n) => join(sampleDir, n));
  let raw = 0; // uncompressed size, measured in an untimed pass
  for (const f of files) for await (const c of openBytes(f)) raw += c.length;
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of files) {
    for await (const it of readRecords(f)) {
      if (it.kind !== 'record') throw new Error(`sample: reject ${it.loc.file}:${it.loc.line}: ${it.error}`);
      if (typeof recordToDocument(it.record, it.loc).text !== 'string') throw new Error('no text');
      n++;
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1e6;
  const mb = raw / 2 ** 20;
  const fileMiB = files.reduce((a, f) => a + statSync(f).size, 0) / 2 ** 20;
  rows.push({
    name: `bundled sample JSONL.zst (real text, ${files.length} files; MiB = its JSONL)`,
    file: sampleDir,
    fileMiB,
    docs: n,
    wall,
    cpu,
    mbPerCpuS: mb / cpu,
    mbPerWallS: mb / wall,
  });
}

const lines = [
  `| input | file MiB | docs | wall s | CPU s | MiB/s per core (CPU) | MiB/s (wall) |`,
  `|---|---:|---:|---:|---:|---:|---:|`,
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.fileMiB.toFixed(1)} | ${r.docs} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.mbPerCpuS.toFixed(1)} | ${r.mbPerWallS.toFixed(1)} |`,
  ),
];
console.log(
  `reader throughput, ${docs.length} docs, ${(rawBytes / 2 ** 20).toFixed(1)} MiB uncompressed JSONL, all counts and checksums verified`,
);
console.log(lines.join('\n'));
if (!values.keep) rmSync(dir, { recursive: true, force: true });
