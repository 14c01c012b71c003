import { join } from 'node:path';
import type { DocSink, GlobalOp, GlobalOpContext, GlobalOpResult, MapSinkContext, Op } from '../pipeline/stage.ts';
import { displayPath } from '../pipeline/readers/index.ts';
import type { Document } from '../pipeline/document.ts';
import { FileSigner } from './stages/signatures.ts';
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
import { finishConfig, runDedup } from './run.ts';

/** The dedup settings of a recipe step: the same for its run and for the sink in the map phase before it. */
function opConfig(
  method: DedupMethod,
  name: string,
  params: ExactParams | MinhashParams | SimhashParams,
  ctx: { inputFiles: string[]; workDir: string; outDir: string },
) {
  return buildConfig(method, params, {
    inputs: ctx.inputFiles,
    workDir: join(ctx.workDir, 'work'),
    outDir: ctx.workDir,
    stage: name,
    excludedDir: join(ctx.outDir, 'excluded'),
  });
}

/**
 * The map phase before the op signs each document as it writes it (dedup/stages/signatures.ts FileSigner), so the
 * signatures step does not read the documents back: the same records as signing the written file would give.
 */
async function signingSink(
  method: DedupMethod,
  name: string,
  params: ExactParams | MinhashParams | SimhashParams,
  ctx: MapSinkContext,
): Promise<DocSink> {
  const cfg = finishConfig(opConfig(method, name, params, ctx), ctx.workers);
  const signer = await FileSigner.open(cfg, ctx.rank);
  return new SigningSink(signer, displayPath(cfg.inputs[ctx.rank]!), cfg.keep === 'quality');
}

/**
 * The signing sink: a class, not closures made per task. The map task's write loop (pipeline/map-task.ts
 * writeBatches) calls `add` per document; a closure per task was a new call target there, and its optimised code was
 * thrown away at every task's first document ("wrong call target"), as was the read of the task's config object (of
 * another layout per task: "wrong map" at cfg.keep).
 */
class SigningSink implements DocSink {
  constructor(
    private readonly signer: FileSigner,
    /** The written file's display path: the id of a document without one is `path:line`. */
    private readonly file: string,
    /** keep: quality: the document's meta as the written line reads back (its JSON round trip). */
    private readonly byQuality: boolean,
  ) {}
  add(doc: Document, line: number): void {
    // the document as the signatures step would read it back from the written line
    let d = doc;
    if (d.id === '') d = { ...d, id: `${this.file}:${line}` };
    if (this.byQuality) d = { ...d, meta: JSON.parse(JSON.stringify(d.meta ?? {})) as Document['meta'] };
    this.signer.add(d, line);
  }
  close(): void {
    this.signer.close();
  }
  abort(): void {
    this.signer.abort();
  }
}

async function runOp(
  method: DedupMethod,
  name: string,
  params: ExactParams | MinhashParams | SimhashParams,
  ctx: GlobalOpContext,
): Promise<GlobalOpResult> {
  const cfg = opConfig(method, name, params, ctx);
  const r = await runDedup(cfg, ctx.executor, {
    workers: ctx.workers,
    log: ctx.log,
    sink: ctx.sink,
    operators: ctx.operators,
    ...(ctx.release ? { release: ctx.release } : {}),
    // the previous phase's document files (GlobalOpContext.inputFiles)
    canonicalInputs: true,
  });
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
    sink_cpu_seconds: r.sinkCpuSeconds,
  };
}

const exactDedup: GlobalOp<ExactParams> = {
  kind: 'global',
  name: 'exact_dedup',
  rewritesDocs: true,
  description:
    'Remove documents whose normalised text (case, whitespace, punctuation, digits configurable) has the same 64-bit hash; keeps one per cluster with meta.dup_cluster_size',
  params: exactParams,
  run: (p, ctx) => runOp('exact', 'exact_dedup', p, ctx),
  mapSink: (p, ctx) => signingSink('exact', 'exact_dedup', p, ctx),
};

const minhashDedup: GlobalOp<MinhashParams> = {
  kind: 'global',
  name: 'minhash_dedup',
  rewritesDocs: true,
  description:
    'MinHash LSH near-duplicate removal (character 5-grams for zh/ja, word 5-grams otherwise), bands × rows fitted to the threshold, clustered with bounded memory; keeps one per cluster with meta.dup_cluster_size',
  params: minhashParams,
  run: (p, ctx) => runOp('minhash', 'minhash_dedup', p, ctx),
  mapSink: (p, ctx) => signingSink('minhash', 'minhash_dedup', p, ctx),
};

const simhashDedup: GlobalOp<SimhashParams> = {
  kind: 'global',
  name: 'simhash_dedup',
  rewritesDocs: true,
  description:
    "SimHash near-duplicate removal with Steel's parameters (data-juicer document_simhash_deduplicator: 64-bit, window 6, 6 blocks, Hamming ≤ 4, space tokens; tokenization=character for Chinese)",
  params: simhashParams,
  run: (p, ctx) => runOp('simhash', 'simhash_dedup', p, ctx),
  mapSink: (p, ctx) => signingSink('simhash', 'simhash_dedup', p, ctx),
};

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [exactDedup, minhashDedup, simhashDedup];
