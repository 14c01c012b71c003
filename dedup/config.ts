/** Settings shared by every dedup stage (passed as task args, JSON). */
import type { NormaliseOptions } from './text.ts';
import type { SimhashTokenization } from './simhash.ts';

export type DedupMethod = 'exact' | 'minhash' | 'simhash';
export type KeepPolicy = 'first' | 'longest' | 'quality';

export interface DedupConfig {
  method: DedupMethod;
  /** Input document files; the position is the file index. */
  inputs: string[];
  /** Intermediates (sig/, edges/, cc/, ...) and state markers live here. */
  workDir: string;
  /** Kept documents go to `${outDir}/docs/part-RRRRR.jsonl.zst`, duplicates to `${outDir}/duplicates.jsonl`. */
  outDir: string;
  /** Removed documents (OUT/excluded line format) go to `${excludedDir}/${stage}-part-RRRRR.jsonl.zst`. */
  excludedDir: string;
  /** Drop rule name used in the accounting ("exact_dup", "minhash_dup", "simhash_dup"). */
  rule: string;
  /** Stage name for OUT/excluded lines. */
  stage: string;
  keep: KeepPolicy;
  /** Generic reader: the record fields holding the text and the id (pipeline/readers recordToDocument). */
  reader: { textField?: string; idField?: string };
  /** meta key (dot path) holding a numeric quality score, for keep = quality. */
  qualityKey: string;
  exact: NormaliseOptions;
  minhash: {
    threshold: number;
    bands: number;
    rows: number;
    /** char (default): character n-grams in every language; word: word n-grams; auto: char for zh/ja/ko, else word. */
    shingles: 'auto' | 'char' | 'word';
    charNgram: number;
    wordNgram: number;
    seed: number;
    /**
     * Keep a candidate pair only when the exact Jaccard of its shingle sets is ≥ threshold (stage verify; pairs with a
     * document of a previous index, whose text is gone, by the sketch estimate instead).
     */
    verify: boolean;
  };
  simhash: {
    tokenization: SimhashTokenization;
    window: number;
    lowercase: boolean;
    blocks: number;
    distance: number;
  };
  /** Sort buffer of a signature task in MB: when full, the buffered records are written as a sorted run. */
  sortBufferMB: number;
  /** Number of node partitions for clustering (bounds a clustering task's memory to ~1/P of the graph). */
  partitions: number;
  /** Number of file groups (join / filter tasks). */
  groups: number;
  /**
   * The group of each input file (by position): consecutive files, about equal bytes per group (`fileGroups`, set
   * when a run opens), so that the slices of one large input (pipeline/slices.ts), which are consecutive files, share
   * a group and their near-duplicates are not written and verified in two.
   */
  groupOf?: number[];
  /** Previous run's index folder (dedup against what it kept). */
  indexDir?: string;
  /** Build `${outDir}/index` (kept documents' signatures) for later runs. */
  writeIndex: boolean;
}

/** The virtual file index of documents that come from a previous run's index. */
export const INDEX_FILE = 0xffffffff;

/** Number of bands (record files per input file) and the record width for a method. */
export function layout(cfg: DedupConfig): { bands: number; width: number; payload: number } {
  if (cfg.method === 'exact') return { bands: 1, width: 4, payload: 0 };
  if (cfg.method === 'simhash') {
    const keep = cfg.simhash.blocks - cfg.simhash.distance;
    let c = 1;
    for (let i = 0; i < keep; i++) c = (c * (cfg.simhash.blocks - i)) / (i + 1);
    return { bands: Math.round(c), width: 6, payload: 2 };
  }
  const words = Math.ceil((cfg.minhash.bands * cfg.minhash.rows) / 16);
  return { bands: cfg.minhash.bands, width: 4 + words, payload: words };
}

/** The settings that must match between a run and an index it dedups against. */
export function signatureFingerprint(cfg: DedupConfig): Record<string, unknown> {
  if (cfg.method === 'exact') return { method: 'exact', normalise: cfg.exact };
  if (cfg.method === 'simhash') return { method: 'simhash', hash: 'rolling-set-v2', ...cfg.simhash };
  const { verify: _v, threshold: _t, ...rest } = cfg.minhash;
  return { method: 'minhash', signature: 'oph-densified', shingleHash: 'rolling-v2', ...rest };
}
