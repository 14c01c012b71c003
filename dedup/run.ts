/**
 * Dedup driver: runs the staged tasks of dedup/stages/ (listed in dedup/tasks.ts) through an Executor, in order, resuming where a previous
 * (killed) run stopped. Used by the `steel dedup` command and by the recipe operators in dedup/ops.ts.
 */
import { existsSync, readFileSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Executor } from '../pipeline/executor-types.ts';
import { writeFileAtomic, AtomicFileSync, removeStaleTemps } from '../pipeline/fsutil.ts';
import { type DedupConfig, layout, signatureFingerprint } from './config.ts';
import { formatSCurve } from './minhash.ts';
import {
  bucketsTask,
  ccTask,
  docsPartPath,
  filterTask,
  indexTask,
  joinTask,
  reduceTask,
  routeTask,
  signaturesTask,
  type Numbering,
} from './tasks.ts';

export interface DedupResult {
  read: number;
  kept: number;
  dropped: number;
  rejected: number;
  /** Documents without a signature (SimHash: fewer tokens than the window), kept without being clustered. */
  unsigned: number;
  clusters: number;
  maxClusterSize: number;
  candidateEdges: number;
  ccRounds: number;
  outputFiles: string[];
  duplicatesFile: string;
  indexDir?: string;
  seconds: Record<string, number>;
}

/** Fill in partitions / groups from the input size when left at 0. */
export function finishConfig(cfg: DedupConfig, workers: number): DedupConfig {
  const c = {
    ...cfg,
    inputs: cfg.inputs.map((p) => resolve(p)),
    workDir: resolve(cfg.workDir),
    outDir: resolve(cfg.outDir),
    excludedDir: resolve(cfg.excludedDir),
  };
  if (c.indexDir) c.indexDir = resolveIndexDir(c.indexDir);
  if (!c.groups) c.groups = Math.max(1, Math.min(c.inputs.length, Math.max(workers, 1) * 2));
  return c;
}

/** Accept either a previous run's output folder or its index/ folder. */
export function resolveIndexDir(dir: string): string {
  const d = resolve(dir);
  if (existsSync(join(d, 'index', 'manifest.json'))) return join(d, 'index');
  if (existsSync(join(d, 'manifest.json'))) return d;
  throw new Error(`--index ${dir}: no dedup index there (expected ${join(d, 'index', 'manifest.json')})`);
}

export interface IndexManifest {
  format: 'steel-dedup-index';
  version: 1;
  fingerprint: Record<string, unknown>;
  docs: number;
  bands: number;
  width: number;
}

export async function runDedup(
  cfg0: DedupConfig,
  executor: Executor,
  opts: { workers: number; log: (m: string) => void },
): Promise<DedupResult> {
  const workers = Math.max(1, opts.workers);
  const log = opts.log;
  const cfg0b = finishConfig(cfg0, workers);
  const { bands } = layout(cfg0b);
  const state = join(cfg0b.workDir, '.state');
  mkdirSync(state, { recursive: true });
  // temp files of killed tasks (no task of this run is running yet)
  removeTempsUnder(cfg0b.workDir);
  for (const d of ['docs', 'index']) removeTempsUnder(join(cfg0b.outDir, d));
  removeStaleTemps(cfg0b.excludedDir);
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    seconds[name] = (seconds[name] ?? 0) + (performance.now() - t0) / 1000;
    return r;
  };

  // index of a previous run
  let indexDocs = 0;
  if (cfg0b.indexDir) {
    const man = JSON.parse(readFileSync(join(cfg0b.indexDir, 'manifest.json'), 'utf8')) as IndexManifest;
    const fp = signatureFingerprint(cfg0b);
    if (JSON.stringify(man.fingerprint) !== JSON.stringify(fp)) {
      throw new Error(
        `--index ${cfg0b.indexDir}: built with ${JSON.stringify(man.fingerprint)}, this run uses ${JSON.stringify(fp)}`,
      );
    }
    indexDocs = man.docs;
    log(`dedup against index ${cfg0b.indexDir} (${man.docs} documents)`);
  }

  // the settings of an interrupted run must match
  const cfgPath = join(cfg0b.workDir, 'config.json');
  let partitionsFixed = cfg0b.partitions;
  if (existsSync(cfgPath)) {
    const prev = JSON.parse(readFileSync(cfgPath, 'utf8')) as DedupConfig;
    const a = { ...prev, partitions: 0 };
    const b = { ...cfg0b, partitions: 0 };
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      throw new Error(
        `${cfg0b.workDir} holds a dedup run with other settings or inputs; use another --out or delete it`,
      );
    }
    partitionsFixed = prev.partitions;
    log(`resuming dedup run in ${cfg0b.workDir}`);
  }
  let cfg: DedupConfig = { ...cfg0b, partitions: partitionsFixed };
  if (!existsSync(cfgPath)) writeFileAtomic(cfgPath, JSON.stringify(cfg, null, 1));

  if (cfg.method === 'minhash') {
    log(
      `minhash: ${cfg.minhash.bands} bands × ${cfg.minhash.rows} rows = ${cfg.minhash.bands * cfg.minhash.rows} permutations, threshold ${cfg.minhash.threshold}` +
        (cfg.minhash.verify ? `, candidates verified at estimated J ≥ ${cfg.minhash.verifyThreshold}` : ''),
    );
    log('S-curve (probability that a pair becomes a candidate):\n' + formatSCurve(cfg.minhash));
  }

  // 1. signatures
  const F = cfg.inputs.length;
  const sigStats = await timed('signatures', () =>
    executor.runTasks(signaturesTask, { cfg }, { name: 'dedup-signatures', stateDir: state, count: F, workers }),
  );
  const offsets = new Array<number>(F + 1).fill(0);
  const runs = new Array<number>(F).fill(0);
  let rejected = 0;
  let bytes = 0;
  let unsigned = 0;
  for (const s of sigStats) {
    for (const f of s.files) {
      unsigned += f.unsigned ?? 0;
      offsets[f.file + 1] = f.docs;
      runs[f.file] = f.runs;
      rejected += f.rejected;
      bytes += f.bytes;
    }
  }
  for (let i = 0; i < F; i++) offsets[i + 1]! += offsets[i]!;
  const num: Numbering = { offsets, indexDocs, runs };
  const totalNodes = offsets[F]! + indexDocs;
  if (totalNodes >= 2 ** 32 - 1) throw new Error(`dedup: ${totalNodes} documents exceed the 32-bit node space`);
  if (!cfg.partitions) {
    cfg = { ...cfg, partitions: Math.max(workers, Math.ceil(totalNodes / 2_000_000)) };
  }
  writeFileAtomic(cfgPath, JSON.stringify(cfg, null, 1));
  log(
    `signatures: ${offsets[F]} documents, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.signatures!.toFixed(1)} s; ${cfg.partitions} partitions, ${cfg.groups} groups`,
  );

  // 2. buckets
  const bStats = await timed('buckets', () =>
    executor.runTasks(bucketsTask, { cfg, num }, { name: 'dedup-buckets', stateDir: state, count: bands, workers }),
  );
  const candidateEdges = bStats.reduce((a, s) => a + s.edges, 0);
  log(`buckets: ${candidateEdges} candidate edges`);

  // 3. connected components
  const { starsDir, rounds } = await timed('clustering', () =>
    runClustering(cfg, executor, join(cfg.workDir, 'edges'), totalNodes, workers, state, log),
  );

  // 4./5. keeper choice and filter
  const post = { cfg, num, starsDir };
  const redStats = await timed('keepers', async () => {
    await executor.runTasks(routeTask, post, { name: 'dedup-route', stateDir: state, count: cfg.partitions, workers });
    await executor.runTasks(joinTask, post, { name: 'dedup-join', stateDir: state, count: cfg.groups, workers });
    return executor.runTasks(reduceTask, post, {
      name: 'dedup-reduce',
      stateDir: state,
      count: cfg.partitions,
      workers,
    });
  });
  const clusters = redStats.reduce((a, s) => a + s.clusters, 0);
  const maxClusterSize = redStats.reduce((a, s) => Math.max(a, s.maxSize), 0);
  const fStats = await timed('filter', () =>
    executor.runTasks(filterTask, post, { name: 'dedup-filter', stateDir: state, count: cfg.groups, workers }),
  );
  let read = 0;
  let kept = 0;
  let dropped = 0;
  for (const s of fStats) {
    read += s.read;
    kept += s.kept;
    dropped += s.dropped;
  }
  // duplicates.jsonl: concatenation of the groups' parts
  const dupFile = join(cfg.outDir, 'duplicates.jsonl');
  concatAtomic(
    Array.from({ length: cfg.groups }, (_, g) => join(cfg.workDir, 'dups', `g${String(g).padStart(5, '0')}.jsonl`)),
    dupFile,
  );

  // 6. index
  let newIndexDir: string | undefined;
  if (cfg.writeIndex) {
    const indexDir = (newIndexDir = join(cfg.outDir, 'index'));
    const manPath = join(indexDir, 'manifest.json');
    await timed('index', async () => {
      const st = await executor.runTasks(
        indexTask,
        { ...post, newIndexDir: indexDir },
        { name: 'dedup-index', stateDir: state, count: bands + 1, workers },
      );
      const man: IndexManifest = {
        format: 'steel-dedup-index',
        version: 1,
        fingerprint: signatureFingerprint(cfg),
        docs: st[0]!.indexDocs,
        bands,
        width: layout(cfg).width,
      };
      writeFileAtomic(manPath, JSON.stringify(man, null, 1) + '\n');
    });
  }
  const outputFiles = Array.from({ length: cfg.groups }, (_, g) => docsPartPath(cfg, g));
  const result: DedupResult = {
    read,
    kept,
    dropped,
    rejected,
    unsigned,
    clusters,
    maxClusterSize,
    candidateEdges,
    ccRounds: rounds,
    outputFiles,
    duplicatesFile: dupFile,
    indexDir: newIndexDir,
    seconds,
  };
  writeFileAtomic(
    join(cfg.outDir, 'dedup-stats.json'),
    JSON.stringify({ method: cfg.method, ...result }, null, 1) + '\n',
  );
  log(
    `dedup (${cfg.method}): read ${read}, kept ${kept}, removed ${dropped} as ${cfg.rule} in ${clusters} clusters (largest ${maxClusterSize}), rejected ${rejected}` +
      (unsigned ? `, ${unsigned} without shingles (kept, not clustered)` : '') +
      '; ' +
      Object.entries(seconds)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(', '),
  );
  return result;
}

function removeTempsUnder(dir: string): void {
  if (!existsSync(dir)) return;
  removeStaleTemps(dir);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTempsUnder(join(dir, e.name));
}

function concatAtomic(parts: string[], dest: string): void {
  const out = new AtomicFileSync(dest);
  try {
    for (const p of parts) if (existsSync(p)) out.write(readFileSync(p));
  } catch (e) {
    out.abort();
    throw e;
  }
  out.commit();
}

/**
 * Alternating large-star / small-star rounds until a large-star round finds every component a star.
 * Each round is one executor step (markers: dedup-cc-RRR) so a killed run resumes at the round it was in.
 */
export async function runClustering(
  cfg: DedupConfig,
  executor: Executor,
  edgesDir: string,
  totalNodes: number,
  workers: number,
  state: string,
  log: (m: string) => void,
  maxRounds = 200,
): Promise<{ starsDir: string; rounds: number }> {
  let input = edgesDir;
  for (let r = 0; r < maxRounds; r++) {
    const mode = r % 2 === 0 ? 'large' : 'small';
    const outputDir = join(cfg.workDir, 'cc', `r${String(r).padStart(3, '0')}`);
    const st = await executor.runTasks(
      ccTask,
      { cfg, inputDir: input, outputDir, mode, totalNodes },
      { name: `dedup-cc-${String(r).padStart(3, '0')}`, stateDir: state, count: cfg.partitions, workers },
    );
    const sum = (k: 'edgesIn' | 'edgesOut' | 'nodes' | 'unstable') => st.reduce((a, s) => a + s[k], 0);
    log(
      `clustering round ${r} (${mode}-star): ${sum('edgesIn')} edges in, ${sum('edgesOut')} out, ${sum('nodes')} nodes, ${sum('unstable')} not yet in a star; task peak RSS ≤ ${Math.max(...st.map((s) => s.maxRssMB ?? 0))} MB`,
    );
    // the previous round's files are no longer needed once this round is complete
    if (r >= 2) rmSync(join(cfg.workDir, 'cc', `r${String(r - 2).padStart(3, '0')}`), { recursive: true, force: true });
    if (mode === 'large' && sum('unstable') === 0) return { starsDir: outputDir, rounds: r + 1 };
    input = outputDir;
  }
  throw new Error(`clustering did not converge in ${maxRounds} rounds`);
}

export function listDocs(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl.zst'))
    .sort()
    .map((n) => join(dir, n));
}
