/**
 * The tokenize phase of `steel prep` alone, as the MinHash filter runs it: its sink (tokenizer/tasks.ts FileEncoder,
 * through tokenizer/ops.ts mapSink) fed the kept documents of a prep's docs/ as objects, one encoder per docs/ file.
 * Each run is a fresh process of one build, the builds alternated (the order turned each round), ROUNDS rounds:
 *   TREE[:bundle]   dist/steel.cjs with its V8 code cache (cli/dist.mjs loadBundle, then cli/bundle.ts warm), what
 *                   `steel` and its workers run
 *   TREE:modules    dist/'s own ES modules (what `steel` ran before dist/steel.cjs)
 * Both load the modules a prep process loads before the documents are read (the documents are parsed before the
 * meter starts: the filter's reading is the MinHash phase's). CPU-seconds (user + system, all threads, and the main
 * thread alone from /proc/thread-self/stat) of the encoder's opening (the tokenizer's load), of adding every document
 * and of closing (the last shard, checksums); the shards' sha256 must be equal in every run.
 * Usage: npx tsx bench/tokenize-sink-ab.ts [--rounds 6] --tree A=DIR[:mode] --tree B=DIR[:mode] ... DOCS_DIR
 *   (each DIR built: `npm run build`)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { readDocuments } from '../pipeline/readers/index.ts';

const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string', default: '6' }, tree: { type: 'string', multiple: true } },
  allowPositionals: true,
});
if (!values.tree?.length || positionals.length !== 1) {
  console.error('usage: npx tsx bench/tokenize-sink-ab.ts [--rounds N] --tree NAME=DIR[:bundle|:modules]... DOCS_DIR');
  process.exit(2);
}
const trees = values.tree.map((t) => {
  const [name, rest] = [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)];
  const m = /^(.*?)(?::(bundle|modules))?$/.exec(rest)!;
  return { name, dir: resolve(m[1]!), mode: m[2] ?? 'bundle' };
});
const docsDir = positionals[0]!;
const files = readdirSync(docsDir)
  .filter((f) => /\.jsonl(\.zst)?$/.test(f))
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'tokenize-sink-ab-'));
// the kept documents as the filter hands them over (id, text, source, lang, meta), one JSON file per docs/ file
const inputs: string[] = [];
for (const [i, f] of files.entries()) {
  const docs: unknown[] = [];
  for await (const { doc } of readDocuments(join(docsDir, f))) docs.push(doc);
  const p = join(tmp, `docs-${i}.json`);
  writeFileSync(p, JSON.stringify(docs));
  inputs.push(p);
}

const child = `
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
const [root, mode, out, ...inputs] = process.argv.slice(1);
const tick = 0.01;
const mainCpu = () => { const s = readFileSync('/proc/thread-self/stat', 'utf8'); const a = s.slice(s.lastIndexOf(')') + 2).split(' '); return (+a[11] + +a[12]) * tick; };
const all = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let FileEncoder;
if (mode === 'bundle') {
  const { loadBundle } = await import(root + '/cli/dist.mjs');
  const b = loadBundle();
  if (!b.cacheUsed) throw new Error('dist/steel.cache was not used');
  const ns = await b.warm();
  ({ FileEncoder } = ns['tokenizer/tasks.ts']);
} else {
  const mod = (m) => import(root + '/dist/' + m);
  for (const m of ['cli/main.js', 'cli/commands/prep.js', 'cli/operators.js', 'cli/tasks.js', 'pipeline/runner.js',
    'filters/ops.js', 'dedup/run.js', 'tokenizer/ops.js']) await mod(m);
  ({ FileEncoder } = await mod('tokenizer/tasks.js'));
}
const docs = inputs.map((f) => JSON.parse(readFileSync(f, 'utf8')));
const r = { open: [0, 0], add: [0, 0], close: [0, 0], tokens: 0 };
const h = createHash('sha256');
for (let i = 0; i < docs.length; i++) {
  let a = all(), m = mainCpu();
  const step = (k) => { const a2 = all(), m2 = mainCpu(); r[k][0] += a2 - a; r[k][1] += m2 - m; a = a2; m = m2; };
  const enc = new FileEncoder(join(out, 'parts'), i, 'qwen', undefined);
  step('open');
  for (const d of docs[i]) enc.add(d);
  step('add');
  const s = enc.finish();
  step('close');
  r.tokens += s.tokens;
  for (const sh of s.shards) h.update(readFileSync(join(s.dir, sh.file)));
}
r.sha = h.digest('hex');
rmSync(out, { recursive: true, force: true });
console.log(JSON.stringify(r));
`;

type Run = { open: number[]; add: number[]; close: number[]; tokens: number; sha: string };
const runs = new Map<string, Run[]>(trees.map((t) => [t.name, []]));
const rounds = Number(values.rounds);
const l0 = loadavg()[0]!;
let sha: string | undefined;
for (let i = 0; i < rounds; i++) {
  const order = i % 2 ? [...trees].reverse() : trees;
  for (const t of order) {
    const out = join(tmp, `out-${t.name}`);
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', child, pathToFileURL(t.dir).href, t.mode, out, ...inputs],
      { cwd: t.dir, encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    if (r.status !== 0) throw new Error(`${t.name}: ${r.stderr}`);
    const run = JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
    if (sha !== undefined && run.sha !== sha) throw new Error(`${t.name}: shards differ (${run.sha} vs ${sha})`);
    sha = run.sha;
    runs.get(t.name)!.push(run);
  }
}
rmSync(tmp, { recursive: true, force: true });
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const tot = (r: Run, j: number) => r.open[j]! + r.add[j]! + r.close[j]!;
const cell = (a: number[]) => `${med(a).toFixed(3)} (${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)})`;
console.log(
  `${files.length} docs/ file(s), ${runs.get(trees[0]!.name)![0]!.tokens} tokens, shards sha256 ${sha!.slice(0, 16)}… equal in every run\n`,
);
console.log('| build | open | add (all threads) | add (main thread) | close | total (all threads) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const t of trees) {
  const rs = runs.get(t.name)!;
  console.log(
    `| ${t.name} (${t.mode}) | ${cell(rs.map((r) => r.open[0]!))} | ${cell(rs.map((r) => r.add[0]!))} | ${cell(rs.map((r) => r.add[1]!))} | ${cell(rs.map((r) => r.close[0]!))} | ${cell(rs.map((r) => tot(r, 0)))} |`,
  );
}
const a = runs.get(trees[0]!.name)!;
for (const t of trees.slice(1)) {
  const b = runs.get(t.name)!;
  const ratios = b.map((r, i) => tot(r, 0) / tot(a[i]!, 0));
  console.log(
    `\n${trees[0]!.name} → ${t.name}, total per round: ${a.map((r, i) => `${tot(r, 0).toFixed(3)} → ${tot(b[i]!, 0).toFixed(3)}`).join(', ')}; ` +
      `ratio median ${med(ratios).toFixed(3)}, lower in ${ratios.filter((x) => x < 1).length} of ${ratios.length}`,
  );
}
console.log(
  `\n${rounds} rounds, ${new Date().toISOString().slice(0, 16)} UTC, load ${l0.toFixed(1)}→${loadavg()[0]!.toFixed(1)}`,
);
