/**
 * The encoder alone, two checkouts alternating (old vs new), on the documents a `steel prep` run kept (its docs/, what
 * the tokenize phase encodes) or any JSONL files:
 *   - fresh processes (as in prep: the tokenizer's load, the encoder's first pass with its cold code and cache), base
 *     and new alternating, ROUNDS pairs: CPU-seconds (user + system, all threads) of the load and of encoding every
 *     document with its eos, and the sha256 of all ids (must be equal);
 *   - one process (both checkouts' dist/ imported), alternating passes, each with a fresh encoder (empty cache, tables
 *     built again), ROUNDS pairs: the passes' CPU-seconds.
 * Tokens per CPU-second from the medians. Both checkouts need `npm run build` (dist/).
 * Usage: npx tsx bench/tokenize-ab.ts --base WORKTREE [--new WORKTREE (default: this checkout)] [--rounds 6]
 *          FILES_OR_DIRS...
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDocuments } from '../pipeline/readers/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, def?: string) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const base = resolve(opt('--base') ?? '');
const neu = resolve(opt('--new', join(dirname(fileURLToPath(import.meta.url)), '..'))!);
const rounds = Number(opt('--rounds', '6'));
if (!opt('--base', base) || args.length === 0) {
  console.error('usage: npx tsx bench/tokenize-ab.ts --base WORKTREE [--new WORKTREE] [--rounds N] FILES_OR_DIRS...');
  process.exit(2);
}
const files = args.flatMap((a) =>
  statSync(a).isDirectory()
    ? readdirSync(a)
        .filter((f) => /\.jsonl(\.zst|\.gz)?$/.test(f))
        .sort()
        .map((f) => join(a, f))
    : [a],
);

const child = `
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const [root, textsFile] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsFile, 'utf8'));
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const c0 = cpu();
const { loadTokenizer } = await import(root + '/dist/tokenizer/encode.js');
const { tok, info } = loadTokenizer('qwen');
const c1 = cpu();
const h = createHash('sha256');
let tokens = 0;
for (const t of texts) { const ids = tok.encodeWithEos(t, info.eos_id); tokens += ids.length; h.update(ids); }
const c2 = cpu();
console.log(JSON.stringify({ load: c1 - c0, encode: c2 - c1, tokens, sha: h.digest('hex') }));
`;
const same = `
import { readFileSync } from 'node:fs';
const [a, b, textsFile, rounds] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsFile, 'utf8'));
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const trees = [];
for (const root of [a, b]) {
  const { loadTokenizer } = await import(root + '/dist/tokenizer/encode.js');
  const { ByteBpe } = await import(root + '/dist/tokenizer/bytebpe.js');
  const { tok, info } = loadTokenizer('qwen');
  trees.push({ ByteBpe, spec: tok.spec, eos: info.eos_id });
}
const out = [[], []];
for (let r = 0; r < +rounds; r++)
  for (const k of r % 2 ? [1, 0] : [0, 1]) {
    const t = trees[k];
    const c0 = cpu();
    const enc = new t.ByteBpe(t.spec);
    for (const s of texts) enc.encodeWithEos(s, t.eos);
    out[k].push(cpu() - c0);
  }
console.log(JSON.stringify(out));
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN; // not Linux
  }
};

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'tokenize-ab-'));
  try {
    const texts: string[] = [];
    for (const f of files) for await (const { doc } of readDocuments(f, { meta: false })) texts.push(doc.text);
    const textsFile = join(tmp, 'texts.json');
    writeFileSync(textsFile, JSON.stringify(texts));
    writeFileSync(join(tmp, 'child.mjs'), child);
    writeFileSync(join(tmp, 'same.mjs'), same);
    console.log(
      `${texts.length} documents from ${files.length} file(s); base ${base}, new ${neu}; ${new Date().toISOString()}`,
    );
    console.log('\nfresh processes (load, first pass):');
    const enc: number[][] = [[], []];
    const ratios: number[] = [];
    let tokens = 0;
    for (let r = 0; r < rounds; r++) {
      const got: Record<string, { load: number; encode: number; tokens: number; sha: string }> = {};
      const l0 = load();
      for (const [k, root] of (r % 2
        ? [
            [1, neu],
            [0, base],
          ]
        : [
            [0, base],
            [1, neu],
          ]) as [number, string][]) {
        const p = spawnSync(process.execPath, [join(tmp, 'child.mjs'), root, textsFile], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(p.stderr);
        got[k] = JSON.parse(p.stdout);
        enc[k].push(got[k].encode);
      }
      if (got[0].sha !== got[1].sha || got[0].tokens !== got[1].tokens) throw new Error(`ids differ in round ${r + 1}`);
      tokens = got[0].tokens;
      ratios.push(got[1].encode / got[0].encode);
      console.log(
        `  pair ${r + 1} (load ${l0.toFixed(2)}-${load().toFixed(2)}): base load ${got[0].load.toFixed(3)} encode ${got[0].encode.toFixed(3)}; ` +
          `new load ${got[1].load.toFixed(3)} encode ${got[1].encode.toFixed(3)}; ratio ${ratios[r].toFixed(3)}; ids sha256 equal`,
      );
    }
    const mt = (xs: number[]) =>
      `${median(xs).toFixed(3)} CPU-s (${(tokens / 1e6 / median(xs)).toFixed(2)} M tokens/CPU-s)`;
    console.log(
      `  ${tokens} tokens; first pass median: base ${mt(enc[0])}, new ${mt(enc[1])}; ratio median ${median(ratios).toFixed(3)}`,
    );
    console.log('\none process, fresh encoder per pass:');
    const l0 = load();
    const p = spawnSync(process.execPath, [join(tmp, 'same.mjs'), base, neu, textsFile, String(rounds)], {
      encoding: 'utf8',
    });
    if (p.status !== 0) throw new Error(p.stderr);
    const [a, b] = JSON.parse(p.stdout) as number[][];
    const rs = a.map((x, i) => b[i] / x);
    console.log(`  load ${l0.toFixed(2)}-${load().toFixed(2)}`);
    console.log(`  base ${a.map((x) => x.toFixed(3)).join(' ')}`);
    console.log(`  new  ${b.map((x) => x.toFixed(3)).join(' ')}`);
    console.log(
      `  ratios ${rs.map((x) => x.toFixed(3)).join(' ')}; medians base ${mt(a)}, new ${mt(b)}; ratio median ${median(rs).toFixed(3)}`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
await main();
