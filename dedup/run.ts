/**
 * Dedup driver: runs the staged tasks of dedup/stages/ (listed in dedup/tasks.ts) through an Executor, in order, resuming where a previous
 * (killed) run stopped. Used by the `steel dedup` command and by the recipe operators in dedup/ops.ts.
 */
import { existsSync, readFileSync, readdirSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Executor } from '../pipeline/executor-types.ts';
import { OperatorRegistry } from '../pipeline/registry.ts';
import type { SinkSpec } from '../pipeline/stage.ts';
import { writeFileAtomic, AtomicFileSync, removeStaleTemps } from '../pipeline/fsutil.ts';
import type { CorruptFile } from '../pipeline/readers/index.ts';
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
  verifySetsTask,
  verifyTask,
  type Numbering,
} from './tasks.ts';
import {
  bandTasks,
  fileDonePath,
  fileGroups,
  fileOf,
  groupOfFile,
  inputFilesFor,
  readIndexManifest,
  type IndexManifest,
  type PostArgs,
} from './stages/common.ts';
import { signedFile, type SignedFile } from './stages/signatures.ts';
import type { FilterArgs } from './stages/filter.ts';
import {
  checkProfile,
  releaseWrittenSets,
  setsTasks,
  readProfile,
  setsIndexes,
  verifyHomes,
  verifyPlan,
  type VerifyPlan,
} from './stages/verify.ts';
import { CorruptIntermediateError, RecordReader } from './runfile.ts';

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
  /** CPU-seconds of this process per stage (all of it when tasks run in-process). */
  cpuSeconds: Record<string, number>;
  /** CPU-seconds the filter tasks spent in the next step's sink (its work, not dedup's). */
  sinkCpuSeconds: number;
  /** Input files that could not be read to their end: their documents before the damage are in the counts above. */
  corruptFiles: CorruptFile[];
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

type Log = (m: string) => void;

/** No operators: a run without a next step's sink (`steel dedup`). */
const NO_OPERATORS = new OperatorRegistry([]);

/**
 * Wall seconds per stage, and the CPU-seconds of this process per stage (with in-process tasks, the stage's whole CPU
 * time; with worker processes, the coordinator's share only).
 */
class StageClock {
  readonly seconds: Record<string, number> = {};
  readonly cpuSeconds: Record<string, number> = {};
  async time<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      return await f();
    } finally {
      const c = process.cpuUsage(c0);
      this.seconds[name] = (this.seconds[name] ?? 0) + (performance.now() - t0) / 1000;
      this.cpuSeconds[name] = (this.cpuSeconds[name] ?? 0) + (c.user + c.system) / 1e6;
    }
  }
}

export async function runDedup(
  cfg0: DedupConfig,
  executor: Executor,
  opts: {
    workers: number;
    log: Log;
    /** The next step's sink (GlobalOpContext.sink): the filter hands it every kept document as it writes it. */
    sink?: SinkSpec;
    /** Operators to open `sink` with in this process (worker processes use the composition root's). */
    operators?: OperatorRegistry;
    /**
     * Keep the documents of a corrupt input file read before the damage and record the file (`steel dedup`); otherwise
     * (--strict, a recipe's dedup step reading the run's own files) its error stops the run.
     */
    keepCorrupt?: boolean;
    /** The input files are the pipeline's own document files (a recipe's step): FilterArgs.canonicalLines. */
    canonicalInputs?: boolean;
    /** The most edges clustered in memory in one task (default MEMORY_CLUSTERING_EDGES; -1: always the rounds). */
    memoryClusteringEdges?: number;
    /**
     * GlobalOpContext.release: called once the filter fed `sink`, after which this run's tasks (the index's one) run
     * in this process.
     */
    release?: () => void;
  },
): Promise<DedupResult> {
  const workers = Math.max(1, opts.workers);
  const log = opts.log;
  const keepCorrupt = opts.keepCorrupt ?? false;
  const { cfg: opened, state, indexDocs } = openRun(cfg0, workers, log);
  redoCorrupt(opened, state, keepCorrupt, log);
  const clock = new StageClock();
  const F = opened.inputs.length;
  const run = { executor, state, workers };

  const sig = await clock.time('signatures', () => signatureStage(opened, run, keepCorrupt));
  const num: Numbering = { offsets: sig.offsets, indexDocs, runs: sig.runs };
  const totalNodes = sig.offsets[F]! + indexDocs;
  if (totalNodes >= 2 ** 32 - 1) throw new Error(`dedup: ${totalNodes} documents exceed the 32-bit node space`);
  const cfg = opened.partitions
    ? opened
    : { ...opened, partitions: Math.max(workers, Math.ceil(totalNodes / 2_000_000)) };
  writeFileAtomic(join(cfg.workDir, 'config.json'), JSON.stringify(cfg, null, 1));
  log(
    `signatures: ${sig.offsets[F]} documents, ${(sig.bytes / 1e6).toFixed(1)} MB in ${clock.seconds.signatures!.toFixed(1)} s; ${cfg.partitions} partitions, ${cfg.groups} groups`,
  );

  const edges = await clock.time('buckets', () => bucketStage(cfg, num, run, log));
  const verified = await clock.time('verify', () => verifyStage(cfg, num, run, edges, log));
  const { post, rounds, clusters } = await clusterStage(cfg, num, run, { totalNodes, edges: verified }, clock, {
    log,
    memoryEdges: opts.memoryClusteringEdges ?? MEMORY_CLUSTERING_EDGES,
  });
  const filtered = await clock.time('filter', () => filterStage(post, run, { ...opts, fileBytes: sig.fileBytes }));
  if (opts.sink) opts.release?.();
  const indexDir = cfg.writeIndex ? await clock.time('index', () => indexStage(post, run)) : undefined;

  const result: DedupResult = {
    ...filtered,
    rejected: sig.rejected,
    unsigned: sig.unsigned,
    ...clusters,
    candidateEdges: verified,
    ccRounds: rounds,
    outputFiles: Array.from({ length: cfg.groups }, (_, g) => docsPartPath(cfg, g)),
    indexDir,
    seconds: clock.seconds,
    cpuSeconds: clock.cpuSeconds,
    corruptFiles: sig.corrupt,
  };
  writeFileAtomic(
    join(cfg.outDir, 'dedup-stats.json'),
    JSON.stringify({ method: cfg.method, ...result }, null, 1) + '\n',
  );
  log(
    `dedup (${cfg.method}): read ${result.read}, kept ${result.kept}, removed ${result.dropped} as ${cfg.rule} in ${result.clusters} clusters (largest ${result.maxClusterSize}), rejected ${result.rejected}` +
      (result.unsigned ? `, ${result.unsigned} without shingles (kept, not clustered)` : '') +
      (sig.corrupt.length ? `, ${sig.corrupt.length} corrupt input file(s) read up to the damage` : '') +
      '; ' +
      Object.entries(clock.seconds)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(', '),
  );
  return result;
}

interface RunCtx {
  executor: Executor;
  state: string;
  workers: number;
}

/**
 * Settle the configuration of a run: resolved paths, temp files of killed tasks removed, a previous index checked
 * against this run's signature settings, and an interrupted run's settings required to match (its partition count
 * is kept). Writes work/config.json.
 */
function openRun(cfg0: DedupConfig, workers: number, log: Log): { cfg: DedupConfig; state: string; indexDocs: number } {
  const cfg1 = finishConfig(cfg0, workers);
  // groups of consecutive input files by their bytes (a missing file fails where it is read, with its name)
  cfg1.groupOf = fileGroups(
    cfg1.inputs.map((f) => (existsSync(f) ? statSync(f).size : 0)),
    cfg1.groups,
  );
  const state = join(cfg1.workDir, '.state');
  mkdirSync(state, { recursive: true });
  // temp files of killed tasks (no task of this run is running yet)
  removeTempsUnder(cfg1.workDir);
  for (const d of ['docs', 'index']) removeTempsUnder(join(cfg1.outDir, d));
  removeStaleTemps(cfg1.excludedDir);

  let indexDocs = 0;
  if (cfg1.indexDir) {
    const man = readIndexManifest(cfg1.indexDir);
    const fp = signatureFingerprint(cfg1);
    if (JSON.stringify(man.fingerprint) !== JSON.stringify(fp)) {
      throw new Error(
        `--index ${cfg1.indexDir}: built with ${JSON.stringify(man.fingerprint)}, this run uses ${JSON.stringify(fp)}`,
      );
    }
    indexDocs = man.docs;
    log(`dedup against index ${cfg1.indexDir} (${man.docs} documents)`);
  }

  const cfgPath = join(cfg1.workDir, 'config.json');
  let partitions = cfg1.partitions;
  if (existsSync(cfgPath)) {
    const prev = JSON.parse(readFileSync(cfgPath, 'utf8')) as DedupConfig;
    if (JSON.stringify({ ...prev, partitions: 0 }) !== JSON.stringify({ ...cfg1, partitions: 0 })) {
      throw new Error(
        `${cfg1.workDir} holds a dedup run with other settings or inputs; use another --out or delete it`,
      );
    }
    partitions = prev.partitions;
    log(`resuming dedup run in ${cfg1.workDir}`);
  }
  const cfg: DedupConfig = { ...cfg1, partitions };
  if (!existsSync(cfgPath)) writeFileAtomic(cfgPath, JSON.stringify(cfg, null, 1));
  if (cfg.method === 'minhash') {
    log(
      `minhash: ${cfg.minhash.bands} bands × ${cfg.minhash.rows} rows = ${cfg.minhash.bands * cfg.minhash.rows} bins, threshold ${cfg.minhash.threshold}` +
        (cfg.minhash.verify ? ', candidate pairs verified by their exact Jaccard' : ', no verification (plain LSH)'),
    );
    log('S-curve (probability that a pair becomes a candidate):\n' + formatSCurve(cfg.minhash));
  }
  return { cfg, state, indexDocs };
}

/**
 * Input files an earlier run of this folder signed up to their damage are signed again, and every later stage is
 * redone, once they were replaced (another size or mtime) or when this run is --strict (which then stops at the file,
 * as a fresh --strict run does). --strict is not one of the run's settings: a file read to its end signs the same.
 */
function redoCorrupt(cfg: DedupConfig, state: string, keepCorrupt: boolean, log: Log): void {
  const redo: string[] = [];
  for (let fi = 0; fi < cfg.inputs.length; fi++) {
    const c = signedFile(cfg, fi)?.corrupt;
    if (!c) continue;
    const st = existsSync(c.path) ? statSync(c.path) : undefined;
    if (keepCorrupt && st?.size === c.size && st.mtimeMs === c.mtime_ms) continue;
    rmSync(fileDonePath(cfg, fi), { force: true });
    redo.push(c.file);
  }
  if (!redo.length) return;
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  log(
    (keepCorrupt
      ? 'input file(s) recorded corrupt by the last run were replaced'
      : '--strict: the last run kept what it could read of corrupt input file(s)') +
      ` (${redo.join(', ')}): signed again, every later stage redone`,
  );
}

/** Stage 1: signatures of every input file; the node numbering (documents per file) and the read totals. */
async function signatureStage(cfg: DedupConfig, run: RunCtx, keepCorrupt: boolean) {
  const F = cfg.inputs.length;
  // every file signed already (by the map phase that wrote it, dedup/ops.ts): no step to run
  const signed = Array.from({ length: F }, (_, fi) => signedFile(cfg, fi));
  const stats = signed.every((s) => s !== undefined)
    ? [{ files: signed as SignedFile[] }]
    : await run.executor.runTasks(
        signaturesTask,
        { cfg, keepCorrupt },
        { name: 'dedup-signatures', stateDir: run.state, count: F, workers: run.workers },
      );
  const offsets = new Array<number>(F + 1).fill(0);
  const runs = new Array<number>(F).fill(0);
  const corrupt = new Array<CorruptFile | undefined>(F);
  const fileBytes = new Array<number>(F).fill(0);
  const out = { offsets, runs, rejected: 0, bytes: 0, fileBytes, unsigned: 0, corrupt: [] as CorruptFile[] };
  for (const s of stats) {
    for (const f of s.files) {
      if (f.corrupt) {
        const { size: _s, mtime_ms: _m, ...c } = f.corrupt;
        corrupt[f.file] = c;
      }
      out.unsigned += f.unsigned ?? 0;
      offsets[f.file + 1] = f.docs;
      runs[f.file] = f.runs;
      out.rejected += f.rejected;
      out.bytes += f.bytes;
      fileBytes[f.file] = f.bytes;
    }
  }
  for (let i = 0; i < F; i++) offsets[i + 1]! += offsets[i]!;
  out.corrupt = corrupt.filter((c) => c !== undefined);
  return out;
}

/** Stage 2: candidate pairs per band. Returns the number of edges (MinHash with verification: candidate pairs). */
async function bucketStage(cfg: DedupConfig, num: Numbering, run: RunCtx, log: Log): Promise<number> {
  const st = await run.executor.runTasks(
    bucketsTask,
    { cfg, num },
    { name: 'dedup-buckets', stateDir: run.state, count: bandTasks(cfg), workers: run.workers },
  );
  const edges = st.reduce((a, s) => a + s.edges, 0);
  const candidates = st.reduce((a, s) => a + s.candidates, 0);
  log(
    `buckets: ${edges} edges` +
      (cfg.method === 'minhash' && cfg.minhash.verify ? `, ${candidates} candidate pairs to verify` : ''),
  );
  return cfg.method === 'minhash' && cfg.minhash.verify ? candidates : edges;
}

/** Stage 2b (MinHash with verification): exact Jaccard of the candidate pairs. Returns the verified edges. */
async function verifyStage(
  cfg: DedupConfig,
  num: Numbering,
  run: RunCtx,
  fromBuckets: number,
  log: Log,
): Promise<number> {
  if (cfg.method !== 'minhash' || !cfg.minhash.verify) return fromBuckets;
  // each group's candidate records (its cand/ files' bytes)
  const candBytes = Array.from({ length: cfg.groups }, (_, g) =>
    inputFilesFor(join(cfg.workDir, 'cand'), g).reduce((a, f) => a + statSync(f).size, 0),
  );
  // the sets tasks: consecutive node ranges of about equal estimated cost (the text of each file, as signed)
  const textBytes = cfg.inputs.map((_, fi) => signedFile(cfg, fi)?.bytes);
  const { bounds: setsBounds, sizes } = setsTasks(
    cfg,
    num,
    candBytes,
    textBytes.every((b) => b !== undefined) ? textBytes : undefined,
  );
  const sets = await run.executor.runTasks(
    verifySetsTask,
    { cfg, num, sets: setsBounds, ranges: run.workers },
    { name: 'dedup-verify-sets', stateDir: run.state, count: sizes.length, workers: run.workers, sizes },
  );
  // a range a worker: each range's task checks the likely pairs near its own too (verifyPlan), which more ranges repeat
  const nodes = num.offsets[num.offsets.length - 1]!;
  // the ranges cut by the estimated cost of their pairs and checks (one range needs none; a sets task's marker from
  // before the profiles has none)
  const va = { cfg, num, sets: setsBounds, ranges: run.workers };
  // the sets tasks' indexes, read once for the plan's second cut and the ranges' homes
  let indexes: Uint32Array[] | undefined;
  const ixs = () => (indexes ??= setsIndexes(va));
  const plan = recordedPlan(cfg, run, nodes, () => {
    if (run.workers === 1) return verifyPlan([], 1, nodes);
    const profiles = [...sets.map((s) => s.profile ?? []), checkProfile(va, nodes)];
    const first = verifyPlan(profiles, run.workers, nodes);
    // cut again with what each range of that cut reads back outside its home's sets (readProfile)
    return first.bounds.length > 2
      ? verifyPlan([...profiles, readProfile(first, ixs(), nodes)], run.workers, nodes)
      : first;
  });
  // each range in the process that holds most of its sets, when it can (verifyHomes)
  const prefer =
    plan.bounds.length > 2
      ? verifyHomes(
          plan,
          ixs(),
          sets.map((s) => s.pid),
        )
      : undefined;
  // the sets the sets tasks of this process held for its verify tasks are dropped, whatever the outcome
  const st = await run.executor
    .runTasks(
      verifyTask,
      { cfg, num, sets: setsBounds, ranges: run.workers, plan },
      {
        name: 'dedup-verify',
        stateDir: run.state,
        count: plan.bounds.length - 1,
        workers: run.workers,
        sizes: plan.sizes,
        ...(prefer ? { prefer } : {}),
      },
    )
    .finally(releaseWrittenSets);
  const pairs = st.reduce((a, s) => a + s.pairs, 0);
  const verified = st.reduce((a, s) => a + s.verified, 0);
  const connected = st.reduce((a, s) => a + s.connected, 0);
  const bySize = st.reduce((a, s) => a + s.bySize, 0);
  const repeated = st.reduce((a, s) => a + (s.repeated ?? 0), 0);
  const setsRead = st.reduce((a, s) => a + (s.setsRead ?? 0), 0);
  log(
    `verify: ${verified} of ${pairs} distinct candidate pairs have exact Jaccard ≥ ${cfg.minhash.threshold}, ${connected} not checked (their documents already joined by those), ${bySize} below it by their sets' sizes; ${sets.reduce((a, s) => a + s.docs, 0)} documents re-read; ${st.length} verify task(s), ${repeated} checks of other tasks' likely pairs repeated, ${(setsRead / 1e6).toFixed(1)} MB of shingle sets read back`,
  );
  return verified;
}

/**
 * The verify step's split of the pairs, fixed for the run: the plan recorded in the run's state (next to the step's
 * markers, so a resumed run's tasks check the same ranges whatever its worker count), else `make`'s, recorded before
 * any task runs; with a new plan, verify outputs and markers of an earlier one are removed.
 */
function recordedPlan(cfg: DedupConfig, run: RunCtx, nodes: number, make: () => VerifyPlan): VerifyPlan {
  const path = join(run.state, 'verify-plan.json');
  if (existsSync(path)) {
    let p: Partial<VerifyPlan> | undefined;
    try {
      p = JSON.parse(readFileSync(path, 'utf8')) as Partial<VerifyPlan>;
    } catch {
      // named below
    }
    const b = p?.bounds;
    const ok =
      Array.isArray(b) &&
      b.length >= 2 &&
      b[0] === 0 &&
      b.at(-1) === nodes &&
      b.every((x, i) => Number.isInteger(x) && (i === 0 || x > b[i - 1]!)) &&
      Array.isArray(p?.sizes) &&
      p.sizes.length === b.length - 1;
    if (!ok) throw new CorruptIntermediateError(path, `not a verify plan of this run's ${nodes} documents`);
    return p as VerifyPlan;
  }
  const plan = make();
  rmSync(join(run.state, 'dedup-verify'), { recursive: true, force: true });
  const edges = join(cfg.workDir, 'edges');
  if (existsSync(edges))
    for (const d of readdirSync(edges)) if (d.startsWith('from-v')) rmSync(join(edges, d), { recursive: true });
  writeFileAtomic(path, JSON.stringify(plan) + '\n');
  return plan;
}

/**
 * Size rule of the clustering: with at most this many edges (and MEMORY_CLUSTERING_DOCS documents) one task clusters
 * them in memory and picks the keepers (dedup/stages/cc.ts), one step where the rounds take a dozen or more (a step
 * each, each file and marker flushed); larger graphs go through the rounds, whose tasks hold one partition's edges.
 */
export const MEMORY_CLUSTERING_EDGES = 1 << 20;
/** The in-memory task loads every document's length, score and id (the join tasks one group's each). */
const MEMORY_CLUSTERING_DOCS = 1 << 22;

/**
 * Stages 3–4c: the clusters and their keepers (reduce/, read by the filter), in memory by one task when the graph is
 * small (MEMORY_CLUSTERING_EDGES), else by the rounds and the route, join and reduce steps. The choice depends on the
 * run's edges and documents only, so a resumed run takes the one its killed run took.
 */
async function clusterStage(
  cfg: DedupConfig,
  num: Numbering,
  run: RunCtx,
  size: { totalNodes: number; edges: number },
  clock: StageClock,
  opts: { log: Log; memoryEdges: number },
): Promise<{ post: PostArgs; rounds: number; clusters: { clusters: number; maxClusterSize: number } }> {
  const edgesDir = join(cfg.workDir, 'edges');
  if (size.edges <= opts.memoryEdges && size.totalNodes <= MEMORY_CLUSTERING_DOCS) {
    const st = await clock.time('clustering', () =>
      run.executor.runTasks(
        ccTask,
        { cfg, num, edgesDir, mode: 'memory' },
        { name: 'dedup-clusters', stateDir: run.state, count: 1, workers: run.workers },
      ),
    );
    const s = st[0]!;
    if (!('clusters' in s)) throw new Error('dedup-clusters: a task result without clusters');
    opts.log(
      `clustering in memory: ${s.edgesIn} edges, ${s.nodes} nodes, ${s.members} in ${s.clusters} clusters (largest ${s.maxSize})`,
    );
    return {
      // no stars folder: the filter and the index read reduce/ and kept/ only
      post: { cfg, num, starsDir: '' },
      rounds: 0,
      clusters: { clusters: s.clusters, maxClusterSize: s.maxSize },
    };
  }
  const { starsDir, rounds } = await clock.time('clustering', () =>
    runClustering(cfg, run.executor, edgesDir, size.totalNodes, run.workers, run.state, opts.log),
  );
  const post = { cfg, num, starsDir };
  const clusters = await clock.time('keepers', () => keeperStage(post, run));
  return { post, rounds, clusters };
}

/** Stages 4a–c: attach length / score / id to every clustered document and pick each cluster's keeper. */
async function keeperStage(post: PostArgs, run: RunCtx) {
  const { executor, state, workers } = run;
  const { cfg } = post;
  await executor.runTasks(routeTask, post, { name: 'dedup-route', stateDir: state, count: cfg.partitions, workers });
  await executor.runTasks(joinTask, post, { name: 'dedup-join', stateDir: state, count: cfg.groups, workers });
  const st = await executor.runTasks(reduceTask, post, {
    name: 'dedup-reduce',
    stateDir: state,
    count: cfg.partitions,
    workers,
  });
  return {
    clusters: st.reduce((a, s) => a + s.clusters, 0),
    maxClusterSize: st.reduce((a, s) => Math.max(a, s.maxSize), 0),
  };
}

/** Stage 5: kept documents, exclusions, and duplicates.jsonl (the groups' parts concatenated). */
async function filterStage(
  post: PostArgs,
  run: RunCtx,
  opts: { sink?: SinkSpec; operators?: OperatorRegistry; canonicalInputs?: boolean; fileBytes: number[] },
) {
  const { cfg } = post;
  const { sink, operators } = opts;
  const args: FilterArgs = {
    ...post,
    ...(sink ? { sink } : {}),
    ...(opts.canonicalInputs ? { canonicalLines: true } : {}),
  };
  const st = await run.executor.runTasks(filterTask(operators ?? NO_OPERATORS), args, {
    name: 'dedup-filter',
    stateDir: run.state,
    count: cfg.groups,
    workers: run.workers,
    // the lanes take the groups largest first (one lane: rank order, no estimate needed)
    ...(run.workers > 1 && cfg.groups > 1 ? { sizes: filterCosts(post, opts.fileBytes) } : {}),
  });
  const out = {
    read: 0,
    kept: 0,
    dropped: 0,
    sinkCpuSeconds: 0,
    duplicatesFile: join(cfg.outDir, 'duplicates.jsonl'),
  };
  for (const s of st) {
    out.read += s.read;
    out.kept += s.kept;
    out.dropped += s.dropped;
    out.sinkCpuSeconds += s.sinkCpuSeconds ?? 0;
  }
  concatAtomic(
    Array.from({ length: cfg.groups }, (_, g) => join(cfg.workDir, 'dups', `g${String(g).padStart(5, '0')}.jsonl`)),
    out.duplicatesFile,
  );
  return out;
}

/** What a filter task pays per byte of text it reads and drops, against one it keeps (writes and hands the sink). */
const FILTER_READ_COST = 0.3;
/**
 * What a filter task pays per document it keeps beyond its text, in kept bytes (~1 KB): its docs line, the sink's
 * document (id and source strings, end of text, batch entries). Fitted to the per-file CPU of the 75 MB set's filter
 * (ms per MB kept, per MB dropped, per 1000 documents kept); without it a group of many short documents kept
 * (fortunes, man pages) came after a group that mostly drops, though it cost 10-30% more.
 */
const FILTER_DOC_COST = 1000;

/**
 * An estimate of each filter task's work, from what the clusters step decided: the group's text bytes it keeps
 * (written and tokenized: most of a task's cost), FILTER_READ_COST of all it reads (decompressed and parsed, kept or
 * not) and FILTER_DOC_COST per document it keeps. A file's kept bytes are its text bytes (`fileBytes`, from its
 * signatures) times the share of its documents kept: reduce/ names the dropped ones (a member that is not its
 * cluster's keeper). Their lengths (sig/info) are not read: a scan of every info file cost the step's lane ~50 ms,
 * these records ~8 ms. Undefined when a reduce/ file is missing or damaged: the filter task then reports it, as it
 * does without the estimate.
 */
export function filterCosts(post: PostArgs, fileBytes: number[]): number[] | undefined {
  const { cfg, num } = post;
  const F = cfg.inputs.length;
  const newDocs = num.offsets[F]!;
  const dropped = new Float64Array(F);
  try {
    for (let g = 0; g < cfg.groups; g++)
      for (const f of inputFilesFor(join(cfg.workDir, 'reduce'), g)) {
        const r = new RecordReader(f);
        try {
          while (r.next()) {
            const node = r.rec[0]!;
            if (node !== r.rec[1] && node < newDocs) dropped[fileOf(num, node)[0]]!++;
          }
        } finally {
          r.close();
        }
      }
  } catch {
    return undefined;
  }
  const costs = new Array<number>(cfg.groups).fill(0);
  for (let fi = 0; fi < F; fi++) {
    const bytes = fileBytes[fi] ?? 0;
    const docs = num.offsets[fi + 1]! - num.offsets[fi]!;
    const keptDocs = Math.max(0, docs - dropped[fi]!);
    const kept = docs > 0 ? (bytes * keptDocs) / docs : 0;
    costs[groupOfFile(cfg, fi)]! += kept + FILTER_READ_COST * bytes + FILTER_DOC_COST * keptDocs;
  }
  return costs;
}

/**
 * Stage 6: the kept documents' signatures (and the previous index's) as index/ for later runs: the signature files
 * linked, not copied (dedup/stages/kept-index.ts), and the manifest naming them, written last.
 */
async function indexStage(post: PostArgs, run: RunCtx): Promise<string> {
  const { cfg } = post;
  const { bands, width } = layout(cfg);
  const indexDir = join(cfg.outDir, 'index');
  // the manifest goes first: the folder is incomplete until the new one is written
  rmSync(join(indexDir, 'manifest.json'), { force: true });
  const st = await run.executor.runTasks(
    indexTask,
    { ...post, newIndexDir: indexDir },
    { name: 'dedup-index', stateDir: run.state, count: 1, workers: run.workers },
  );
  const man: IndexManifest = {
    format: 'steel-dedup-index',
    version: 2,
    fingerprint: signatureFingerprint(cfg),
    docs: st[0]!.indexDocs,
    bands,
    width,
    sources: st[0]!.sources,
  };
  writeFileAtomic(join(indexDir, 'manifest.json'), JSON.stringify(man, null, 1) + '\n');
  return indexDir;
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
    const st = (
      await executor.runTasks(
        ccTask,
        { cfg, inputDir: input, outputDir, mode, totalNodes },
        { name: `dedup-cc-${String(r).padStart(3, '0')}`, stateDir: state, count: cfg.partitions, workers },
      )
    ).map((s) => {
      if (!('unstable' in s)) throw new Error(`dedup-cc-${String(r).padStart(3, '0')}: not a round's task result`);
      return s;
    });
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
