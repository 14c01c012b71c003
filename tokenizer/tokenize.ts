/**
 * Tokenize document files into a shard folder (tokenizer/SHARDS.md) through an executor:
 * one tokenize task per input file (parallel worker processes), optional seeded global shuffle, then the shards are
 * renamed into DIR/shard-NNNNN.arrow in task order and manifest.json is written last.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, readdirSync } from 'node:fs';
import { removeStaleTemps } from '../pipeline/fsutil.ts';
import { join, resolve } from 'node:path';
import type { Executor } from '../pipeline/executor-types.ts';
import { markerPath, readMarker } from '../pipeline/executor.ts';
import type { CorruptFile, DocReject } from '../pipeline/readers/index.ts';
import { RejectsWriter } from '../pipeline/writers/index.ts';
import {
  buildManifest,
  writeManifest,
  type Manifest,
  type ShardInfo,
  type TokenizerInfo,
  DEFAULT_MAX_SHARD_BYTES,
} from './shards.ts';
import { canonicalTokenizerSpec, loadTokenizer } from './encode.ts';
import { gatherTask, scatterTask, tokenizeTask } from './tasks.ts';

export interface TokenizeOptions {
  executor: Executor;
  workers: number;
  /** Folder for intermediates and completion markers. */
  workDir: string;
  tokenizer?: string;
  maxShardBytes?: number;
  shuffle?: boolean;
  seed?: number;
  /** Target bytes of a shuffle bucket (default maxShardBytes / 2). */
  shuffleBucketBytes?: number;
  log?: (m: string) => void;
  /**
   * Encode the documents of a corrupt input file read before the damage and record the file (OUT/rejects/, the
   * manifest's build.corrupt_files): `steel tokenizer encode`. Otherwise (--strict, a recipe's tokenize step) its error
   * stops the run; a resumed run then encodes again the files an interrupted run kept part of, and stops at them.
   */
  keepCorrupt?: boolean;
}

export interface TokenizeResult {
  manifest: Manifest;
  documents: number;
  tokens: number;
  chars: number;
  utf8Bytes: number;
  encodeSeconds: number;
  /** CPU seconds of the tokenize tasks (load + read + encode + write; see TokenizeTaskStats.cpuSeconds for files a sink encoded). */
  cpuSeconds: number;
  seconds: number;
  /** Input files that could not be read to their end: their documents before the damage are in the shards. */
  corruptFiles: CorruptFile[];
  /** Malformed records left out (file, line, error; also in OUT/rejects/tokenize.jsonl and the manifest's build.rejected). */
  rejects: DocReject[];
}

/** Move task outputs into `outDir` as shard-NNNNN.arrow (idempotent: an already moved file of the right size is accepted). */
function collect(outDir: string, parts: { dir: string; shards: ShardInfo[] }[]): ShardInfo[] {
  mkdirSync(outDir, { recursive: true });
  const out: ShardInfo[] = [];
  let i = 0;
  for (const p of parts) {
    for (const s of p.shards) {
      const file = `shard-${String(i++).padStart(5, '0')}.arrow`;
      const src = join(p.dir, s.file);
      const dst = join(outDir, file);
      if (existsSync(src)) renameSync(src, dst);
      else if (!existsSync(dst) || statSync(dst).size !== s.bytes)
        throw new Error(`shard ${src} is missing (and ${dst} does not hold it)`);
      out.push({ ...s, file });
    }
  }
  // stale shards of an earlier run with more shards
  for (const f of readdirSync(outDir)) {
    const m = /^shard-(\d+)\.arrow$/.exec(f);
    if (m && Number(m[1]) >= i) rmSync(join(outDir, f));
  }
  return out;
}

export async function tokenizeToShards(
  inputFiles: string[],
  outDir: string,
  o: TokenizeOptions,
): Promise<TokenizeResult> {
  const t0 = performance.now();
  const log = o.log ?? ((m: string) => console.error(m));
  const tokSpec = canonicalTokenizerSpec(o.tokenizer ?? 'qwen');
  const maxShardBytes = o.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  const stateDir = join(o.workDir, 'markers');
  const partsDir = join(o.workDir, 'parts');
  outDir = resolve(outDir);
  rmSync(join(outDir, 'manifest.json'), { force: true }); // the folder is incomplete until the new manifest is written
  removeStaleTemps(outDir);
  const rejectsFile = join(outDir, 'rejects', 'tokenize.jsonl');
  rmSync(rejectsFile, { force: true });
  // a task of an interrupted run that kept part of a corrupt file runs again under --strict (and stops at the file),
  // or once the file was replaced (changed after the task ended)
  for (let r = 0; r < inputFiles.length; r++) {
    const marker = markerPath(stateDir, 'tokenize', r);
    const corrupt = readMarker<{ corruptFiles?: CorruptFile[] }>(marker)?.stats.corruptFiles ?? [];
    const changed = (c: CorruptFile) => !existsSync(c.path) || statSync(c.path).mtimeMs > statSync(marker).mtimeMs;
    if (corrupt.length && (!o.keepCorrupt || corrupt.some(changed))) rmSync(marker);
  }
  const results = await o.executor.runTasks(
    tokenizeTask,
    {
      inputFiles: inputFiles.map((f) => resolve(f)),
      partsDir,
      tokenizer: tokSpec,
      maxShardBytes,
      keepCorrupt: o.keepCorrupt,
    },
    { name: 'tokenize', stateDir, count: inputFiles.length, workers: o.workers },
  );
  const corruptFiles = results.flatMap((r) => r.corruptFiles ?? []);
  const rejects = results.flatMap((r) => r.rejects ?? []);
  if (corruptFiles.length || rejects.length) {
    const rw = new RejectsWriter(rejectsFile);
    for (const r of rejects) await rw.write({ file: r.file, line: r.line }, 'tokenize', r.error);
    for (const c of corruptFiles) await rw.writeCorruptFile(c);
    await rw.close();
  }
  // the tokenizer as the tasks loaded it (this process loads it only when there was no task: worker processes encode)
  const info = results[0]?.tokenizer ?? loadTokenizer(tokSpec).info;
  const other = results.find((r) => r.tokenizer.sha256 !== info.sha256);
  if (other)
    throw new Error(
      `${o.workDir}: parts encoded with tokenizers ${info.sha256.slice(0, 12)} and ${other.tokenizer.sha256.slice(0, 12)} (an earlier run with another tokenizer?): start over (--fresh)`,
    );
  const sum = (k: 'documents' | 'tokens' | 'chars' | 'utf8Bytes' | 'encodeSeconds' | 'cpuSeconds') =>
    results.reduce((a, r) => a + r[k], 0);
  let parts = results.map((r) => ({ dir: r.dir, shards: r.shards }));
  const build: Record<string, unknown> = { tokenizer: tokSpec, inputs: inputFiles.length };
  if (corruptFiles.length) build.corrupt_files = corruptFiles;
  if (rejects.length) build.rejected = rejects.length;
  if (o.shuffle) {
    const seed = o.seed ?? 1234;
    // Phase 1 output into a staging folder, then scatter/gather into buckets.
    const staged = collect(join(o.workDir, 'staged'), parts);
    const total = staged.reduce((a, s) => a + s.bytes, 0);
    const bucketBytes = o.shuffleBucketBytes ?? maxShardBytes / 2;
    const buckets = Math.max(1, Math.ceil(total / bucketBytes));
    log(`[tokenize] shuffling ${staged.length} shard(s) into ${buckets} bucket(s), seed ${seed}`);
    const scatterDir = join(o.workDir, 'scatter');
    await o.executor.runTasks(
      scatterTask,
      { inputShards: staged.map((s) => join(o.workDir, 'staged', s.file)), scatterDir, buckets, seed, tokenizer: info },
      { name: 'shuffle-scatter', stateDir, count: staged.length, workers: o.workers },
    );
    const gathered = await o.executor.runTasks(
      gatherTask,
      { scatterDir, outDir: join(o.workDir, 'gathered'), seed, tokenizer: info, maxShardBytes },
      { name: 'shuffle-gather', stateDir, count: buckets, workers: o.workers },
    );
    parts = gathered.map((g) => ({ dir: g.dir, shards: g.shards }));
    build.shuffle_seed = seed;
    build.shuffle_buckets = buckets;
  }
  const shards = collect(outDir, parts);
  const manifest = buildManifest(info, shards, build);
  writeManifest(outDir, manifest);
  // Done: drop intermediates and markers (a later run starts over; the manifest is the record of this one).
  for (const d of ['scatter', 'staged', 'gathered', 'parts', 'markers'])
    rmSync(join(o.workDir, d), { recursive: true, force: true });
  const res: TokenizeResult = {
    manifest,
    documents: sum('documents'),
    tokens: sum('tokens'),
    chars: sum('chars'),
    utf8Bytes: sum('utf8Bytes'),
    encodeSeconds: sum('encodeSeconds'),
    cpuSeconds: sum('cpuSeconds'),
    seconds: (performance.now() - t0) / 1000,
    corruptFiles,
    rejects,
  };
  if (manifest.totals.tokens !== res.tokens || manifest.totals.documents !== res.documents) {
    throw new Error(
      `internal: manifest counts ${manifest.totals.tokens}/${manifest.totals.documents} differ from tokenized ${res.tokens}/${res.documents}`,
    );
  }
  return res;
}

export type { TokenizerInfo };
