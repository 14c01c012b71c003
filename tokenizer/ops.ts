import { join } from 'node:path';
import { z } from 'zod';
import type { DocSink, GlobalOp, Op } from '../pipeline/stage.ts';
import type { Document } from '../pipeline/document.ts';
import { tokenizeToShards } from './tokenize.ts';
import { charsPerToken } from './shards.ts';
import { encodedPath, encoderKey, FileEncoder } from './tasks.ts';
import { canonicalTokenizerSpec } from './encode.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { displayPath } from '../pipeline/readers/index.ts';

const tokenizeParams = z.object({
  tokenizer: z.string().default('qwen').describe('"qwen" (bundled Qwen tokenizer.json) or a path to a tokenizer.json'),
  shuffle: z.boolean().default(false).describe('seeded global shuffle of documents across shards'),
  seed: z.number().int().default(1234).describe('shuffle seed'),
  max_shard_bytes: z
    .number()
    .int()
    .positive()
    .default(1_000_000_000)
    .describe('roll to the next shard before this size'),
  out: z.string().default('shards').describe('shard folder, relative to the run output folder'),
});

/**
 * The tokenize step's sink for one document file (tokenize.mapSink): each document encoded as it is written, the
 * result recorded (encodedPath) when the file is committed. A class, not an object of closures made per task: its
 * add is then one call target for the optimised code of the step that feeds it (the dedup filter's, a map task's),
 * which a new closure per task threw away at each later task of a process.
 */
class EncodingSink implements DocSink {
  private readonly enc: FileEncoder;
  constructor(
    private readonly file: string,
    private readonly partsDir: string,
    private readonly rank: number,
    private readonly spec: string,
    private readonly maxShardBytes: number,
  ) {
    this.enc = new FileEncoder(partsDir, rank, spec, maxShardBytes);
  }
  add(doc: Document, line: number): void {
    // the document as the task would read it back from the written line
    this.enc.add(doc.id === '' ? { ...doc, id: `${displayPath(this.file)}:${line}` } : doc);
  }
  close(): void {
    const r = this.enc.finish();
    writeFileAtomic(
      encodedPath(this.partsDir, this.rank),
      JSON.stringify({ ...r, key: encoderKey(this.file, this.spec, this.maxShardBytes) }),
    );
  }
  abort(): void {
    this.enc.abort();
  }
}

/**
 * Terminal step of a recipe: tokenize the kept documents into OUT/shards/ (tokenizer/SHARDS.md).
 * Documents pass through unchanged (outputFiles = inputFiles), so OUT/docs/ still holds them.
 */
export const tokenize: GlobalOp<z.infer<typeof tokenizeParams>> = {
  kind: 'global',
  name: 'tokenize',
  description: 'Tokenize documents (eos appended) into Arrow token shards + manifest.json in OUT/shards/',
  params: tokenizeParams,
  terminal: true,
  // with its sink fed, the tasks of run() find their shards made and only move them into place; a shuffle's steps
  // read and write every token
  sinkCompletes: (params) => !params.shuffle,
  /**
   * The step before tokenization (the dedup filter, a map phase) encodes each document as it writes it: the task of
   * that file then finds its shards made (tokenizer/tasks.ts FileEncoder), with the same ids.
   */
  mapSink(params, ctx) {
    return new EncodingSink(
      ctx.inputFiles[ctx.rank]!,
      join(ctx.workDir, 'parts'),
      ctx.rank,
      canonicalTokenizerSpec(params.tokenizer),
      params.max_shard_bytes,
    );
  },
  async run(params, ctx) {
    const res = await tokenizeToShards(ctx.inputFiles, join(ctx.outDir, params.out), {
      executor: ctx.executor,
      workers: ctx.workers,
      workDir: ctx.workDir,
      tokenizer: params.tokenizer,
      maxShardBytes: params.max_shard_bytes,
      shuffle: params.shuffle,
      seed: params.seed,
      log: ctx.log,
    });
    ctx.log(
      `[tokenize] ${res.documents} documents → ${res.tokens} tokens in ${res.manifest.shards.length} shard(s) ` +
        `(${charsPerToken(res.chars, res.tokens, res.documents)?.toFixed(2) ?? '-'} chars/token)`,
    );
    return {
      outputFiles: ctx.inputFiles,
      stats: {
        read: res.documents + res.rejects.length,
        kept: res.documents,
        dropped: {},
        rejected: res.rejects.length,
        extra: {
          tokens: res.tokens,
          shards: res.manifest.shards.length,
          chars: res.chars,
          tokens_by_source: res.manifest.totals.sources,
        },
      },
    };
  },
};

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [tokenize];
