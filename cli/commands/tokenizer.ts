import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { corruptInputsExit } from '../corrupt-inputs.ts';

export const summary = 'tokenize documents into Arrow shards, train a byte-level BPE, verify and export shards';

const HELP = `usage: steel tokenizer SUBCOMMAND [options]

subcommands:
  encode  --input PATH... --out DIR [--tokenizer qwen|FILE] [--workers N] [--shuffle] [--seed N] [--max-shard-bytes N]
          [--strict]
          Tokenize document files (JSONL[.zst|.gz]: {"id","text","source","lang"}; a folder means its *.jsonl* files,
          e.g. a prep run's OUT/docs) into token shards + manifest.json (tokenizer/SHARDS.md). Each document gets
          the eos id appended (<|im_end|> = 151645 for Qwen). One task per input file, in worker processes.
          A malformed record (not JSON, no text field...) is left out and written to OUT/rejects/tokenize.jsonl
          with its file, line and error (counted in the manifest's build.rejected); the run goes on.
          An input file that cannot be read to its end (truncated or corrupt .gz/.zst): its documents before the
          damage are encoded, the file is recorded in OUT/rejects/tokenize.jsonl and the manifest's
          build.corrupt_files, and the command exits with status 3 once the shards are written (replace the file and
          rerun: the run starts over). --strict stops at the first such file (exit 1), also when resuming an
          interrupted run that kept part of one.
  train   --input PATH... --vocab-size N --out tokenizer.json [--min-frequency 2] [--special T1,T2,...] [--nfc]
          [--holdout 0.1] [--max-chars N] [--compare qwen|FILE|none] [--workers N] [--json]
          Train a byte-level BPE (Qwen pre-tokenisation) on documents (JSONL) or plain text files (paragraphs),
          write a Hugging Face tokenizer.json, check decode(encode(x)) == x on the training sample and report
          characters per token on the held-out documents per language, next to the Qwen tokenizer.
          Special tokens default to <|endoftext|>,<|im_start|>,<|im_end|> (ids after the merges). Pre-tokens are
          counted in --workers processes (default: CPU count) when there are several input files; --max-chars
          is then split evenly over the files' tasks.
  export  --format megatron|litgpt SHARDS_DIR OUT [--chunk-size N] [--prefix NAME] [--sep-token ID]
          megatron: OUT.bin + OUT.idx (MMIDIDX v1, int32). litgpt: OUT/PREFIX_0000000000.bin ... LITPKDS chunks of
          --chunk-size int32 tokens (default 2049*1024, as Steel-LLM), tail padded with the pad id (151643).
  verify  SHARDS_DIR [--no-hash]        check every shard against manifest.json (size and sha256)
  ids     TEXT [--tokenizer qwen|FILE]  print the token ids and pieces of a text`;

function docFiles(inputs: string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new Error(`input ${p}: not found`);
    if (statSync(p).isDirectory()) {
      const fs = readdirSync(p)
        .filter((f) => /\.jsonl(\.zst|\.gz)?$/.test(f) && !f.startsWith('.'))
        .sort();
      if (!fs.length) throw new Error(`input ${p}: folder has no .jsonl[.zst|.gz] files`);
      out.push(...fs.map((f) => join(p, f)));
    } else out.push(p);
  }
  return out;
}

function posInt(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

async function encodeCmd(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      input: { type: 'string', multiple: true },
      out: { type: 'string' },
      tokenizer: { type: 'string', default: 'qwen' },
      workers: { type: 'string' },
      shuffle: { type: 'boolean', default: false },
      seed: { type: 'string' },
      'max-shard-bytes': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
    },
  });
  if (!values.input?.length || !values.out)
    throw new Error('encode needs --input and --out (see steel tokenizer --help)');
  const files = docFiles(values.input);
  const { LocalExecutor } = await import('../../pipeline/executor.ts');
  const { tokenizeToShards } = await import('../../tokenizer/tokenize.ts');
  const { charsPerToken } = await import('../../tokenizer/shards.ts');
  const out = resolve(values.out);
  const workers = posInt('workers', values.workers, availableParallelism());
  const executor = new LocalExecutor({ progress: { quiet: values.quiet, unit: 'bytes' } });
  const res = await tokenizeToShards(files, out, {
    executor,
    workers,
    workDir: join(out, '.work'),
    tokenizer: values.tokenizer,
    maxShardBytes: values['max-shard-bytes'] ? posInt('max-shard-bytes', values['max-shard-bytes'], 0) : undefined,
    shuffle: values.shuffle,
    seed: values.seed !== undefined ? Number(values.seed) : undefined,
    log: values.quiet ? () => {} : undefined,
    keepCorrupt: !values.strict,
  });
  executor.close();
  try {
    rmdirSync(join(out, '.work'));
  } catch {
    /* not empty or gone */
  }
  const m = res.manifest;
  console.log(`${res.documents} documents, ${res.tokens} tokens, ${m.shards.length} shard(s) in ${out}`);
  console.log(
    `${charsPerToken(res.chars, res.tokens, res.documents)?.toFixed(3) ?? '-'} chars/token; ${(res.utf8Bytes / 1e6).toFixed(2)} MB of text in ${res.seconds.toFixed(1)}s ` +
      `(per CPU-second: ${(res.utf8Bytes / 1e6 / Math.max(1e-9, res.cpuSeconds)).toFixed(2)} MB/s, ${(res.tokens / Math.max(1e-9, res.cpuSeconds) / 1e6).toFixed(3)}M tokens/s)`,
  );
  for (const [s, n] of Object.entries(m.totals.sources).sort((a, b) => b[1] - a[1]))
    console.log(`  ${s.padEnd(32)} ${String(n).padStart(12)} tokens`);
  if (res.rejects.length)
    console.error(
      `${res.rejects.length} malformed record(s) left out, with file, line and error in ${join(out, 'rejects', 'tokenize.jsonl')} ` +
        `(first: ${res.rejects[0]!.file}:${res.rejects[0]!.line}: ${res.rejects[0]!.error})`,
    );
  if (res.corruptFiles.length) {
    const { formatCorruptFiles } = await import('../../pipeline/stats.ts');
    console.error(formatCorruptFiles(res.corruptFiles).join('\n'));
  }
  return corruptInputsExit(res.corruptFiles, 'replace them and rerun the same command');
}

async function trainCmd(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      input: { type: 'string', multiple: true },
      'vocab-size': { type: 'string' },
      out: { type: 'string' },
      'min-frequency': { type: 'string' },
      special: { type: 'string' },
      nfc: { type: 'boolean', default: false },
      holdout: { type: 'string' },
      'max-chars': { type: 'string' },
      compare: { type: 'string', default: 'qwen' },
      json: { type: 'boolean', default: false },
      workers: { type: 'string' },
    },
  });
  if (!values.input?.length || !values['vocab-size'] || !values.out)
    throw new Error('train needs --input, --vocab-size and --out');
  for (const f of values.input) if (!existsSync(f)) throw new Error(`input ${f}: not found`);
  const inputs = values.input.flatMap((p) => (statSync(p).isDirectory() ? docFiles([p]) : [p]));
  const holdout = values.holdout !== undefined ? Number(values.holdout) : 0.1;
  if (!(holdout >= 0 && holdout < 1)) throw new Error(`--holdout must be in [0, 1), got "${values.holdout}"`);
  const { trainTokenizer } = await import('../../tokenizer/train.ts');
  const workers = posInt('workers', values.workers, availableParallelism());
  const { LocalExecutor } = await import('../../pipeline/executor.ts');
  const executor = new LocalExecutor({ progress: { quiet: values.json } });
  const rep = await trainTokenizer({
    workers,
    executor,
    inputs,
    vocabSize: posInt('vocab-size', values['vocab-size'], 0),
    out: values.out,
    minFrequency: values['min-frequency'] ? posInt('min-frequency', values['min-frequency'], 2) : undefined,
    specialTokens: values.special ? values.special.split(',').filter(Boolean) : undefined,
    nfc: values.nfc,
    holdout,
    maxChars: values['max-chars'] ? posInt('max-chars', values['max-chars'], 0) : undefined,
    compareWith: values.compare === 'none' ? null : values.compare,
  });
  executor.close();
  if (values.json) {
    console.log(JSON.stringify(rep, null, 2));
  } else {
    console.log(
      `${rep.out}: ${rep.vocabSize} tokens (${rep.merges} merges) from ${(rep.trainChars / 1e6).toFixed(2)}M chars, ` +
        `${rep.distinctWords} distinct pre-tokens; count ${rep.countSeconds.toFixed(1)}s, train ${rep.trainSeconds.toFixed(1)}s`,
    );
    console.log(
      `round trip decode(encode(x)) == x: ${rep.roundTrip.documents - rep.roundTrip.failures}/${rep.roundTrip.documents} documents`,
    );
    if (rep.compression.length) {
      console.log('\nheld-out compression (characters per token):');
      console.log(
        `  ${'lang'.padEnd(6)} ${'docs'.padStart(6)} ${'chars'.padStart(10)} ${'tokens'.padStart(10)} ${'chars/tok'.padStart(9)} ${values.compare !== 'none' ? `${'ref tokens'.padStart(10)} ${'ref c/t'.padStart(8)}` : ''}`,
      );
      for (const r of rep.compression) {
        console.log(
          `  ${r.lang.padEnd(6)} ${String(r.documents).padStart(6)} ${String(r.chars).padStart(10)} ${String(r.tokens).padStart(10)} ${r.charsPerToken.toFixed(3).padStart(9)} ` +
            (r.refTokens !== undefined
              ? `${String(r.refTokens).padStart(10)} ${r.refCharsPerToken!.toFixed(3).padStart(8)}`
              : ''),
        );
      }
    }
  }
  return rep.roundTrip.failures ? 1 : 0;
}

async function exportCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      'chunk-size': { type: 'string' },
      prefix: { type: 'string' },
      'sep-token': { type: 'string' },
    },
  });
  const [dir, out] = positionals;
  if (!dir || !out || !values.format) throw new Error('export needs --format megatron|litgpt SHARDS_DIR OUT');
  const ex = await import('../../tokenizer/export.ts');
  const log = (m: string) => console.error(m);
  if (values.format === 'megatron') {
    const s = await ex.exportMegatron(dir, out, log);
    console.log(`wrote ${s.files.join(', ')}: ${s.documents} documents, ${s.tokens} tokens (int32)`);
  } else if (values.format === 'litgpt') {
    const s = await ex.exportLitgpt(dir, out, {
      chunkSize: posInt('chunk-size', values['chunk-size'], ex.STEEL_CHUNK_SIZE),
      prefix: values.prefix,
      sepToken: values['sep-token'] !== undefined ? Number(values['sep-token']) : undefined,
      log,
    });
    console.log(
      `wrote ${s.chunks} LITPKDS chunk(s) to ${out}: ${s.documents} documents, ${s.tokens} tokens, ${s.padding} padding tokens in the last chunk`,
    );
  } else throw new Error(`--format must be megatron or litgpt, got "${values.format}"`);
  return 0;
}

async function verifyCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'no-hash': { type: 'boolean', default: false } },
  });
  if (!positionals[0]) throw new Error('verify needs SHARDS_DIR');
  const { verifyManifest, readManifest } = await import('../../tokenizer/shards.ts');
  const r = verifyManifest(positionals[0], { hash: !values['no-hash'], throwOnError: false });
  const m = readManifest(positionals[0]);
  if (r.ok)
    console.log(
      `ok: ${m.shards.length} shard(s), ${m.totals.documents} documents, ${m.totals.tokens} tokens match manifest.json`,
    );
  else for (const p of r.problems) console.error(p);
  return r.ok ? 0 : 1;
}

async function idsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tokenizer: { type: 'string', default: 'qwen' } },
  });
  const { loadTokenizer } = await import('../../tokenizer/encode.ts');
  const t = loadTokenizer(values.tokenizer);
  const ids = Array.from(t.tok.encode(positionals.join(' ')));
  console.log(JSON.stringify(ids));
  console.log(JSON.stringify(ids.map((id) => t.tok.idToToken(id))));
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP);
    return sub ? 0 : 1;
  }
  switch (sub) {
    case 'encode':
      return encodeCmd(rest);
    case 'train':
      return trainCmd(rest);
    case 'export':
      return exportCmd(rest);
    case 'verify':
      return verifyCmd(rest);
    case 'ids':
      return idsCmd(rest);
    default:
      console.error(`steel tokenizer: unknown subcommand "${sub}"\n\n${HELP}`);
      return 2;
  }
}
