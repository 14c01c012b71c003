/** Operator / CLI parameters (zod, with defaults) and their translation into a DedupConfig. */
import { z } from 'zod';
import type { DedupConfig, DedupMethod } from './config.ts';
import { optimalParams } from './minhash.ts';
import { PARSE_ONCE } from '../pipeline/stage.ts';

const common = {
  keep: z.enum(['first', 'longest', 'quality']).default('first').describe('which document of a cluster to keep'),
  quality_key: z
    .string()
    .default('quality_score')
    .describe('meta key (dot path) with a numeric score, for keep=quality'),
  partitions: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('node partitions for clustering (0: max(workers, nodes / 2M))'),
  sort_buffer_mb: z
    .number()
    .gt(0)
    .default(256)
    .describe('signature task sort buffer (MB); a full buffer is written as a sorted run'),
  write_index: z.boolean().default(true).describe('write index/ (kept documents) for deduplicating later data'),
  index: z.string().optional().describe("dedup against this previous run's index (its output folder or index/)"),
};

export const exactParams = z.object({
  ...common,
  lowercase: z.boolean().default(true),
  whitespace: z.boolean().default(true).describe('collapse whitespace runs, trim'),
  punctuation: z.boolean().default(false).describe('remove punctuation and symbols before hashing'),
  digits: z.boolean().default(false).describe('map every digit to 0 before hashing'),
});

export const minhashParams = z.object({
  ...common,
  threshold: z.number().gt(0).lt(1).default(0.8).describe('target Jaccard similarity of duplicates'),
  num_perm: z.number().int().min(1).max(1024).default(256).describe('at most this many permutations (bands × rows)'),
  bands: z.number().int().min(0).default(0).describe('LSH bands (0: derived from the threshold)'),
  rows: z.number().int().min(0).default(0).describe('rows per band (0: derived from the threshold)'),
  lsh_threshold: z
    .number()
    .min(0)
    .lt(1)
    .default(0)
    .describe('threshold the bands × rows are fitted to (0: threshold − 0.2 when verify, else threshold)'),
  shingles: z
    .enum(['char', 'word', 'auto'])
    .default('char')
    .describe(
      'char: character n-grams in every language (measured: bench/results/dedup.md); word: word n-grams; auto: char for zh/ja/ko (doc.lang, else CJK share ≥ 30%), word otherwise',
    ),
  char_ngram: z.number().int().min(1).default(5).describe('character n-gram length'),
  word_ngram: z.number().int().min(1).default(5).describe('word n-gram length (shingles=word or auto)'),
  seed: z.number().int().default(1),
  verify: z
    .boolean()
    .default(true)
    .describe('keep a candidate pair only when the exact Jaccard of its shingle sets ≥ threshold (false: plain LSH)'),
});

export const simhashParams = z.object({
  ...common,
  tokenization: z
    .enum(['auto', 'character', 'space'])
    .default('auto')
    .describe(
      'auto: character windows for CJK-dominant text (doc.lang, else CJK share ≥ 30%), space tokens otherwise; "space" as Steel ran it (blind on unsegmented Chinese)',
    ),
  window_size: z.number().int().min(1).default(6),
  lowercase: z.boolean().default(true),
  num_blocks: z.number().int().min(2).max(64).default(6),
  hamming_distance: z.number().int().min(0).max(63).default(4),
});

export type ExactParams = z.infer<typeof exactParams>;
export type MinhashParams = z.infer<typeof minhashParams>;
export type SimhashParams = z.infer<typeof simhashParams>;

/** Bands × rows for minhash params (explicit, or fitted to the LSH threshold). */
export function lshFor(p: MinhashParams): { bands: number; rows: number; lshThreshold: number } {
  const lshThreshold =
    p.lsh_threshold || Math.round((p.verify ? Math.max(0.05, p.threshold - 0.2) : p.threshold) * 1000) / 1000;
  if (p.bands > 0 && p.rows > 0) return { bands: p.bands, rows: p.rows, lshThreshold };
  const o = optimalParams(lshThreshold, p.num_perm);
  return { bands: o.bands, rows: o.rows, lshThreshold };
}

export function buildConfig(
  method: DedupMethod,
  params: ExactParams | MinhashParams | SimhashParams,
  paths: {
    inputs: string[];
    workDir: string;
    outDir: string;
    stage?: string;
    excludedDir?: string;
    reader?: { textField?: string; idField?: string };
  },
): DedupConfig {
  const e = method === 'exact' ? (params as ExactParams) : exactParams.parse({}, PARSE_ONCE);
  const m = method === 'minhash' ? (params as MinhashParams) : minhashParams.parse({}, PARSE_ONCE);
  const s = method === 'simhash' ? (params as SimhashParams) : simhashParams.parse({}, PARSE_ONCE);
  const lsh = method === 'minhash' ? lshFor(m) : { bands: 1, rows: 1 };
  return {
    method,
    inputs: paths.inputs,
    workDir: paths.workDir,
    outDir: paths.outDir,
    excludedDir: paths.excludedDir ?? `${paths.outDir}/excluded`,
    rule: `${method}_dup`,
    stage: paths.stage ?? `${method}_dedup`,
    keep: params.keep,
    reader: paths.reader ?? {},
    qualityKey: params.quality_key,
    exact: { lowercase: e.lowercase, whitespace: e.whitespace, punctuation: e.punctuation, digits: e.digits },
    minhash: {
      threshold: m.threshold,
      bands: lsh.bands,
      rows: lsh.rows,
      shingles: m.shingles,
      charNgram: m.char_ngram,
      wordNgram: m.word_ngram,
      seed: m.seed,
      verify: m.verify,
    },
    simhash: {
      tokenization: s.tokenization,
      window: s.window_size,
      lowercase: s.lowercase,
      blocks: s.num_blocks,
      distance: s.hamming_distance,
    },
    sortBufferMB: params.sort_buffer_mb,
    partitions: params.partitions,
    groups: 0,
    indexDir: params.index,
    writeIndex: params.write_index,
  };
}
