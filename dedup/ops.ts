import { join } from 'node:path';
import type { GlobalOp, GlobalOpContext, GlobalOpResult, Op } from '../pipeline/stage.ts';
import type { DedupMethod } from './config.ts';
import {
  buildConfig,
  exactParams,
  minhashParams,
  simhashParams,
  type ExactParams,
  type MinhashParams,
  type SimhashParams,
} from './params.ts';
import { runDedup } from './run.ts';

async function runOp(
  method: DedupMethod,
  name: string,
  params: ExactParams | MinhashParams | SimhashParams,
  ctx: GlobalOpContext,
): Promise<GlobalOpResult> {
  const cfg = buildConfig(method, params, {
    inputs: ctx.inputFiles,
    workDir: join(ctx.workDir, 'work'),
    outDir: ctx.workDir,
    stage: name,
    excludedDir: join(ctx.outDir, 'excluded'),
  });
  const r = await runDedup(cfg, ctx.executor, { workers: ctx.workers, log: ctx.log });
  return {
    outputFiles: r.outputFiles,
    stats: {
      read: r.read + r.rejected,
      kept: r.kept,
      dropped: { [cfg.rule]: r.dropped },
      rejected: r.rejected,
      extra: {
        unsigned: r.unsigned,
        clusters: r.clusters,
        maxClusterSize: r.maxClusterSize,
        candidateEdges: r.candidateEdges,
        duplicatesFile: r.duplicatesFile,
        indexDir: r.indexDir,
        seconds: r.seconds,
      },
    },
  };
}

const exactDedup: GlobalOp<ExactParams> = {
  kind: 'global',
  name: 'exact_dedup',
  description:
    'Remove documents whose normalised text (case, whitespace, punctuation, digits configurable) has the same 64-bit hash; keeps one per cluster with meta.dup_cluster_size',
  params: exactParams,
  run: (p, ctx) => runOp('exact', 'exact_dedup', p, ctx),
};

const minhashDedup: GlobalOp<MinhashParams> = {
  kind: 'global',
  name: 'minhash_dedup',
  description:
    'MinHash LSH near-duplicate removal (character 5-grams for zh/ja, word 5-grams otherwise), bands × rows fitted to the threshold, clustered with bounded memory; keeps one per cluster with meta.dup_cluster_size',
  params: minhashParams,
  run: (p, ctx) => runOp('minhash', 'minhash_dedup', p, ctx),
};

const simhashDedup: GlobalOp<SimhashParams> = {
  kind: 'global',
  name: 'simhash_dedup',
  description:
    "SimHash near-duplicate removal with Steel's parameters (data-juicer document_simhash_deduplicator: 64-bit, window 6, 6 blocks, Hamming ≤ 4, space tokens; tokenization=character for Chinese)",
  params: simhashParams,
  run: (p, ctx) => runOp('simhash', 'simhash_dedup', p, ctx),
};

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [exactDedup, minhashDedup, simhashDedup];
