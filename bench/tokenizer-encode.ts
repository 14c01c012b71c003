/**
 * Qwen encoding: our encoder (tokenizer/bytebpe.ts) against Hugging Face's engine through its npm binding and through
 * Python `tokenizers` (one thread each), same documents, same tokenizer.json ("qwen", Steel's: Qwen's BPE with its
 * three special tokens), tokens per CPU-second of the encoding. Python's ids are the oracle: every document's ids of
 * ours and of the npm binding are compared with them, and the run fails on any difference.
 *
 * Documents: the bundled sample (corpora-manifests/sample), and with --debian the Debian documentation installed on
 * this machine, one document per file: Chinese and Japanese man pages (roff source; apt-get install manpages-zh
 * manpages-ja), the Debian reference (HTML; debian-reference-zh-cn, debian-reference-en), English man pages (the first
 * 2,000 of man1) and Python's standard library (code). Sources that are not installed are left out and say so.
 *
 * The npm binding is not a dependency of steel (64 MB): `npm install --no-save tokenizers@0.23.2` first to get its column.
 *
 * Usage: npx tsx bench/tokenizer-encode.ts [--debian] [--quick] [--out bench/results/tokenizer-encode.md]
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readDocuments } from '../pipeline/readers/index.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { loadTokenizer, tokenizerJsonText } from '../tokenizer/encode.ts';
import { ByteBpe } from '../tokenizer/bytebpe.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const debian = args.includes('--debian');
const outIdx = args.indexOf('--out');
const outFile = outIdx >= 0 ? args[outIdx + 1] : join(root, 'bench', 'results', 'tokenizer-encode.md');

const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

interface Group {
  name: string;
  what: string;
  texts: string[];
}

function filesUnder(dir: string, keep: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && keep(p)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function readText(p: string): string {
  const b = readFileSync(p);
  return (p.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
}

async function groups(): Promise<Group[]> {
  const gs: Group[] = [];
  const sampleDir = join(root, 'corpora-manifests', 'sample');
  const zh: string[] = [],
    en: string[] = [];
  for (const f of readdirSync(sampleDir)
    .filter((x) => x.endsWith('.jsonl.zst'))
    .sort())
    for await (const { doc } of readDocuments(join(sampleDir, f))) (doc.lang === 'zh' ? zh : en).push(doc.text);
  gs.push({ name: 'sample zh', what: 'bundled sample, Chinese documents', texts: zh });
  gs.push({ name: 'sample en', what: 'bundled sample, English documents', texts: en });
  if (debian) {
    const man = (langs: string[]) =>
      langs.flatMap((l) => filesUnder(`/usr/share/man/${l}`, (f) => f.endsWith('.gz'))).map(readText);
    const add = (name: string, what: string, texts: string[]) => {
      if (texts.length) gs.push({ name, what, texts });
      else console.log(`(${name}: not installed, left out)`);
    };
    add('man zh', 'manpages-zh: zh_CN + zh_TW man pages, roff source', man(['zh_CN', 'zh_TW']));
    add('man ja', 'manpages-ja: Japanese man pages, roff source', man(['ja']));
    add(
      'debian-reference',
      'debian-reference zh-cn + en, HTML',
      filesUnder('/usr/share/debian-reference', (f) => f.endsWith('.html')).map(readText),
    );
    add(
      'man en',
      'English man pages (first 2,000 of man1), roff source',
      filesUnder('/usr/share/man/man1', (f) => f.endsWith('.gz'))
        .slice(0, 2000)
        .map(readText),
    );
    add(
      'code',
      "Python's standard library (.py)",
      filesUnder('/usr/lib/python3.11', (f) => f.endsWith('.py') && !f.includes('site-packages'))
        .filter((f) => statSync(f).size < 1 << 20)
        .map(readText),
    );
  }
  if (quick) for (const g of gs) g.texts = g.texts.slice(0, 200);
  return gs;
}

function readIds(path: string, n: number): Uint32Array[] {
  const b = readFileSync(path);
  const v = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
  const out: Uint32Array[] = [];
  let o = 0;
  for (let i = 0; i < n; i++) {
    const len = v[o++];
    out.push(v.subarray(o, o + len));
    o += len;
  }
  if (o !== v.length) throw new Error(`${path}: ${v.length - o} words left over`);
  return out;
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function main() {
  const lines: string[] = [];
  const say = (s = '') => {
    console.log(s);
    lines.push(s);
  };
  const tmp = mkdtempSync(join(tmpdir(), 'steel-bench-enc-'));
  try {
    const gs = await groups();
    const tokPath = join(tmp, 'tokenizer.json');
    writeFileSync(tokPath, tokenizerJsonText('qwen').text);
    process.env.TOKENIZERS_PARALLELISM = 'false';
    let hf: { encodeBatch(t: string[], o: object): Promise<{ getIds(): number[] }[]> } | null = null;
    try {
      const { Tokenizer } = createRequire(import.meta.url)('tokenizers') as {
        Tokenizer: { fromString(s: string): NonNullable<typeof hf> };
      };
      hf = Tokenizer.fromString(readFileSync(tokPath, 'utf8'));
    } catch {
      console.log('(npm binding not installed: npm install --no-save tokenizers@0.23.2 for its column)');
    }
    const base = loadTokenizer('qwen').tok;
    // warm-up (JIT, engine start-up): a throwaway encoder and the npm binding on 50 documents of each row
    const warm = new ByteBpe(base.spec);
    for (const g of gs) {
      for (const t of g.texts.slice(0, 50)) warm.encode(t);
      await hf?.encodeBatch(g.texts.slice(0, 50), { addSpecialTokens: false });
    }
    const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
    const cmd = `npx tsx bench/tokenizer-encode.ts${debian ? ' --debian' : ''}${quick ? ' --quick' : ''}`;
    say('# Qwen encoding: ours vs Hugging Face `tokenizers`');
    say();
    say(
      `Command: \`${cmd}\` · machine: ${cpus().length}-core dev VM (${cpus()[0]?.model ?? '?'}), Node ${process.versions.node}, shared with other jobs · date ${date} UTC`,
    );
    say();
    say(
      'Tokens per CPU-second of the encoding (process.cpuUsage / getrusage of the measuring process: user + system, all threads), one',
    );
    say(
      'thread each, same documents, same tokenizer.json (Steel\'s "qwen"), no special tokens added. Ours starts each row with an',
    );
    say(
      'empty piece cache (a fresh encoder); the HF engines keep theirs across rows. Python `tokenizers` is the oracle: the ids of',
    );
    say(
      'ours and of the npm binding equal its ids on every document of every row (the run fails otherwise). Before the table,',
    );
    say('both JavaScript engines warmed up on 50 documents of each row (a throwaway encoder for ours).');
    say();
    say(
      '| documents | what | docs | MB (UTF-8) | tokens | ours Mtok/CPU-s | HF npm binding | Python `tokenizers` | ours / npm | ours / Python |',
    );
    say('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const tot = { docs: 0, bytes: 0, tokens: 0, ours: 0, npm: 0, py: 0 };
    for (const g of gs) {
      const textsPath = join(tmp, 'texts.jsonl');
      writeFileSync(textsPath, g.texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
      const idsPath = join(tmp, 'ids.bin');
      const py = spawnSync(
        'python3',
        [join(root, 'bench', 'tokenizer-python-encode.py'), textsPath, tokPath, idsPath],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 26,
        },
      );
      if (py.status !== 0) throw new Error(`python tokenizers failed (pip install tokenizers): ${py.stderr}`);
      const pr = JSON.parse(py.stdout.trim().split('\n').pop()!) as { tokens: number; cpu: number };
      const want = readIds(idsPath, g.texts.length);
      // ours: a fresh encoder (empty cache) sharing the loaded tables
      const ours = new ByteBpe(base.spec);
      let c0 = cpuNow();
      const mine: Uint32Array[] = new Array(g.texts.length);
      for (let i = 0; i < g.texts.length; i++) mine[i] = ours.encode(g.texts[i]);
      const oursCpu = cpuNow() - c0;
      c0 = cpuNow();
      const theirs: Uint32Array[] = [];
      if (hf)
        for (let i = 0; i < g.texts.length; i += 256)
          for (const e of await hf.encodeBatch(g.texts.slice(i, i + 256), { addSpecialTokens: false }))
            theirs.push(Uint32Array.from(e.getIds()));
      const npmCpu = hf ? cpuNow() - c0 : NaN;
      let tokens = 0;
      for (let i = 0; i < g.texts.length; i++) {
        tokens += want[i].length;
        for (const [who, got] of [
          ['ours', mine[i]],
          ['npm binding', hf ? theirs[i] : want[i]],
        ] as const) {
          const d = firstDiff(got, want[i]);
          if (d >= 0)
            throw new Error(
              `${g.name} document ${i}: ${who} differs from Python tokenizers at token ${d} (${JSON.stringify(g.texts[i].slice(0, 80))})`,
            );
        }
      }
      const bytes = g.texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
      const m = (x: number) => (Number.isNaN(x) ? '—' : (tokens / 1e6 / x).toFixed(3));
      say(
        `| ${g.name} | ${g.what} | ${g.texts.length} | ${(bytes / 1e6).toFixed(2)} | ${tokens} | **${m(oursCpu)}** | ${m(npmCpu)} | ${m(pr.cpu)} | ${hf ? (npmCpu / oursCpu).toFixed(2) + '×' : '—'} | ${(pr.cpu / oursCpu).toFixed(2)}× |`,
      );
      tot.docs += g.texts.length;
      tot.bytes += bytes;
      tot.tokens += tokens;
      tot.ours += oursCpu;
      tot.npm += npmCpu;
      tot.py += pr.cpu;
    }
    const m = (x: number) => (Number.isNaN(x) ? '—' : (tot.tokens / 1e6 / x).toFixed(3));
    say(
      `| **all** | | ${tot.docs} | ${(tot.bytes / 1e6).toFixed(2)} | ${tot.tokens} | **${m(tot.ours)}** | ${m(tot.npm)} | ${m(tot.py)} | ${hf ? (tot.npm / tot.ours).toFixed(2) + '×' : '—'} | ${(tot.py / tot.ours).toFixed(2)}× |`,
    );
    say();
    say(
      `Equality: ${tot.docs} documents, ${tot.tokens} tokens, ids identical (ours${hf ? ', npm binding' : ''} and Python). Peer figure: datatrove's`,
    );
    say('Qwen tokenization ≈ 0.29 M tokens per CPU-second (issue #21, measured on this kind of machine).');
    say();
    writeFileAtomic(outFile, lines.join('\n'));
    console.log(`wrote ${outFile}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
