import { parseArgs } from 'node:util';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LocalExecutor } from '../../pipeline/executor.ts';
import { detectFormat } from '../../pipeline/readers/index.ts';
import { buildConfig, exactParams, lshFor, minhashParams, simhashParams } from '../../dedup/params.ts';
import { runDedup } from '../../dedup/run.ts';
import { formatSCurve } from '../../dedup/minhash.ts';
import type { DedupMethod } from '../../dedup/config.ts';
import { formatCorruptFiles } from '../../pipeline/stats.ts';
import { corruptInputsExit } from '../corrupt-inputs.ts';

export const summary = 'deduplicate documents (exact, MinHash LSH, SimHash) into kept docs + duplicates.jsonl';

const HELP = `usage: steel dedup --method exact|minhash|simhash --input PATH... --out DIR [options]

Writes DIR/docs/part-*.jsonl.zst (kept documents, meta.dup_cluster_size set), DIR/duplicates.jsonl
({id, duplicate_of, cluster_size, rule} per removed document), DIR/excluded/ (removed documents),
DIR/index/ (signatures of kept documents, for --index of a later run), DIR/rejects/ (records that are not
documents, with file, line and error; input files that could not be read to their end) and DIR/dedup-stats.json.
Intermediates and resume state live in DIR/work/; rerunning the same command resumes a killed run.

options:
  --method M          exact | minhash | simhash (required)
  --input PATH        JSONL[.zst|.gz] / Parquet / Arrow file, or a folder of them (repeatable)
  --text-field NAME   field holding the text (default "text")
  --id-field NAME     field holding the id (default "id", else file:line)
  --out DIR           output folder (required)
  --workers N         parallel worker processes (default 2)
  --threshold J       minhash: target Jaccard similarity (default 0.8)
  --num-perm N        minhash: at most N permutations (default 256)
  --no-verify         minhash: no exact-Jaccard verification of candidate pairs (plain LSH)
  --tokenization T    simhash: auto (character windows for CJK text, space tokens otherwise; default) |
                      character | space (Steel's setting)
  --keep P            first | longest | quality (default first)
  --quality-key K     meta key with the score for --keep quality (default quality_score)
  --index DIR         deduplicate against a previous run (its --out folder)
  --param K=V         any operator parameter (see \`steel ops\`), e.g. --param punctuation=true
  --strict            stop at the first input file that cannot be read to its end (truncated or corrupt .gz/.zst,
                      damaged Parquet/Arrow); default: keep its documents read before the damage, record the file in
                      DIR/rejects/ and dedup-stats.json (corruptFiles), finish the run and exit with status 3
  --show-params       print the derived parameters (and the S-curve for minhash) and exit

exit status: 0 done; 1 error (the message names the file); 2 bad arguments; 3 done, but some input files were
corrupt (listed on stderr, in dedup-stats.json and DIR/rejects/; replace them and rerun the same command: their
signatures and every later stage are redone, the other files' signatures are kept). A resumed run with --strict
signs a file the last run recorded corrupt again, and so stops at it.
`;

function expandInputs(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`input ${p} does not exist`);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p)
        .filter((n) => detectFormat(n) !== 'text')
        .sort()
        .map((n) => join(p, n));
      if (files.length === 0)
        throw new Error(
          `input folder ${p} holds no JSONL, Parquet or Arrow files (formats as pipeline/readers detects them)`,
        );
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

function parseValue(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v !== '' && !Number.isNaN(Number(v))) return Number(v);
  return v;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      method: { type: 'string' },
      input: { type: 'string', multiple: true },
      'text-field': { type: 'string' },
      'id-field': { type: 'string' },
      out: { type: 'string' },
      workers: { type: 'string', default: '2' },
      threshold: { type: 'string' },
      'num-perm': { type: 'string' },
      'no-verify': { type: 'boolean' },
      tokenization: { type: 'string' },
      keep: { type: 'string' },
      'quality-key': { type: 'string' },
      index: { type: 'string' },
      param: { type: 'string', multiple: true },
      'show-params': { type: 'boolean' },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const method = values.method as DedupMethod | undefined;
  if (!method || !['exact', 'minhash', 'simhash'].includes(method)) {
    console.error(
      method
        ? `steel dedup: --method must be exact, minhash or simhash, got "${method}"`
        : 'steel dedup: --method exact|minhash|simhash is required (see --help)',
    );
    return 2;
  }
  const raw: Record<string, unknown> = {};
  for (const kv of values.param ?? []) {
    const i = kv.indexOf('=');
    if (i < 0) throw new Error(`--param ${kv}: expected KEY=VALUE`);
    raw[kv.slice(0, i)] = parseValue(kv.slice(i + 1));
  }
  if (values.threshold) raw.threshold = Number(values.threshold);
  if (values['num-perm']) raw.num_perm = Number(values['num-perm']);
  if (values['no-verify']) raw.verify = false;
  if (values.tokenization) raw.tokenization = values.tokenization;
  if (values.keep) raw.keep = values.keep;
  if (values['quality-key']) raw.quality_key = values['quality-key'];
  if (values.index) raw.index = values.index;
  const schema = method === 'exact' ? exactParams : method === 'minhash' ? minhashParams : simhashParams;
  const parsed = schema.strict().safeParse(raw);
  if (!parsed.success) {
    console.error(
      `steel dedup: bad parameters: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
    return 2;
  }
  const params = parsed.data;
  if (values['show-params']) {
    console.log(JSON.stringify(params, null, 1));
    if (method === 'minhash') {
      const l = lshFor(params as never);
      console.log(
        `bands ${l.bands} × rows ${l.rows} = ${l.bands * l.rows} permutations (fitted to J = ${l.lshThreshold})`,
      );
      console.log(formatSCurve(l));
    }
    return 0;
  }
  if (!values.out) {
    console.error('steel dedup: --out DIR is required');
    return 2;
  }
  if (!values.input?.length) {
    console.error('steel dedup: at least one --input PATH is required');
    return 2;
  }
  const workers = Math.max(1, Number(values.workers) || 1);
  const inputs = expandInputs(values.input);
  const reader = {
    ...(values['text-field'] ? { textField: values['text-field'] } : {}),
    ...(values['id-field'] ? { idField: values['id-field'] } : {}),
  };
  const cfg = buildConfig(method, params, { inputs, workDir: join(values.out, 'work'), outDir: values.out, reader });
  const executor = new LocalExecutor();
  const r = await runDedup(cfg, executor, { workers, log: (m) => console.error(m), keepCorrupt: !values.strict });
  executor.close();
  console.log(
    JSON.stringify(
      {
        read: r.read,
        kept: r.kept,
        removed: r.dropped,
        rejected: r.rejected,
        unsigned: r.unsigned,
        clusters: r.clusters,
        maxClusterSize: r.maxClusterSize,
        duplicates: r.duplicatesFile,
        docs: join(values.out, 'docs'),
        index: r.indexDir,
        seconds: r.seconds,
        ...(r.corruptFiles.length ? { corruptFiles: r.corruptFiles } : {}),
      },
      null,
      1,
    ),
  );
  if (r.corruptFiles.length) console.error(formatCorruptFiles(r.corruptFiles).join('\n'));
  return corruptInputsExit(r.corruptFiles, 'replace them and rerun the same command');
}
