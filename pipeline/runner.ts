/**
 * The pipeline runner: resolves inputs and a recipe into phases (consecutive map ops = one map phase run as tasks
 * over units[rank::world], a unit being an input file or a slice of a large one (pipeline/slices.ts); each global op
 * = its own phase), runs them through an executor with resume, merges every task's stats into OUT/stats.json and
 * checks the accounting invariant read = kept + dropped + rejected.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, linkSync, copyFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve, isAbsolute } from 'node:path';
import { REPO_ROOT } from './node-entry.ts';
import type { Executor } from './executor-types.ts';
import type { GlobalOp, GlobalOpResult, SinkSpec } from './stage.ts';
import { LocalExecutor } from './executor.ts';
import { pipelineOperators, type OperatorRegistry } from './registry.ts';
import { writeFileAtomic, removeInBackground, removeStaleTemps } from './fsutil.ts';
import { acquireDirLock } from './lock.ts';
import { markerPath, readMarker } from './markers.ts';
import { loadRecipe, parseRecipe, resolveSteps, type RecipeInput, type ResolvedStep } from './recipe.ts';
import { expandInput, displayPath } from './readers/index.ts';
import { mapTask, partName, type GenericReaderOptions, type MapInputFile, type MapTaskArgs } from './map-task.ts';
import { planFile, SLICE_BYTES, textKind, type FilePlan, type FileSlice } from './slices.ts';
import { testHooks } from './settings.ts';
import {
  newStage,
  mergeStage,
  mergeCounts,
  stageProblems,
  formatStats,
  type CorruptFile,
  type MapTaskStats,
  type RunStats,
  type StageStats,
} from './stats.ts';

export { REPO_ROOT };
/** What `steel prep` reads when no input is given: the bundled sample corpus. */
export const DEFAULT_INPUT = `sample=${join(REPO_ROOT, 'corpora-manifests', 'sample', '*.jsonl.zst')}`;
export const DEFAULT_RECIPE = 'zh-web';
/** Max tasks of the first phase by default (a file, or a slice of a large one, is the unit of sharding). */
export const DEFAULT_MAX_TASKS = 256;

export interface RunOptions {
  /** A recipe name (pipeline/recipes/NAME.yaml), a file path, or a recipe object. */
  recipe: string | RecipeInput;
  /** Input specs `[CORPUS=]PATH_OR_GLOB`; default: the recipe's `input`, else the bundled sample. */
  inputs?: string[];
  outDir: string;
  workers?: number;
  /** Tasks of the first phase (default: number of map units, at most 256). Fixed for a run's life (resume). */
  tasks?: number;
  /** Start over: remove this run's previous outputs and state in outDir. */
  fresh?: boolean;
  /**
   * Stop at the first input file that cannot be read to its end (truncated or corrupt). Default: keep the records
   * read before the damage, record the file in OUT/rejects/ and stats.json (`corrupt_files`), finish the run.
   */
  strict?: boolean;
  quiet?: boolean;
  /** Generic reader options for inputs without a corpus. */
  reader?: GenericReaderOptions;
  /** Runs the tasks (default: a LocalExecutor); closed (Executor.close: idle workers released) when the phases end. */
  executor?: Executor;
  /**
   * Operators the recipe may name: the composition root's list (cli/operators.ts); default: pipeline/'s own only.
   * Worker processes resolve operators in the composition root's list.
   */
  operators?: OperatorRegistry;
  log?: (line: string) => void;
}

export interface InputSpec {
  corpus?: string;
  pattern: string;
}

/** Parse `[CORPUS=]PATH_OR_GLOB`. */
export function parseInputSpec(spec: string): InputSpec {
  const m = /^([A-Za-z0-9][\w.-]*)=(.+)$/.exec(spec);
  if (m && !existsSync(spec)) return { corpus: m[1], pattern: m[2] };
  return { pattern: spec };
}

async function corpusModule() {
  return import('./corpora/index.ts');
}

/** Expand input specs to files (sorted by path, each with its corpus); validates corpus names. */
export async function resolveInputs(specs: string[]): Promise<MapInputFile[]> {
  const byPath = new Map<string, MapInputFile>();
  for (const spec of specs) {
    let { corpus, pattern } = parseInputSpec(spec);
    if (corpus) {
      const c = await (await corpusModule()).getCorpus(corpus);
      if (!c) {
        const known = (await (await corpusModule()).listCorpora()).map((x) => x.name);
        throw new Error(`--input ${spec}: unknown corpus "${corpus}" (known: ${known.join(', ') || 'none'})`);
      }
    } else if (!existsSync(pattern) && /^[a-z0-9][\w.-]*$/.test(pattern)) {
      // a bare corpus name whose files ship with the repository (manifest `local`)
      const c = await (await corpusModule()).getCorpus(pattern);
      const local = c?.manifest.local;
      if (c && local?.path) {
        corpus = c.name;
        const inc = local.include?.length ? local.include : ['*'];
        const base = isAbsolute(local.path) ? local.path : join(REPO_ROOT, local.path);
        pattern = inc.length === 1 ? join(base, inc[0]) : join(base, `{${inc.join(',')}}`);
      }
    }
    for (const path of expandInput(pattern)) {
      const abs = resolve(path);
      const prev = byPath.get(abs);
      if (prev && prev.corpus !== corpus)
        throw new Error(
          `input ${displayPath(abs)} is given twice with different corpora (${prev.corpus ?? 'none'}, ${corpus ?? 'none'})`,
        );
      byPath.set(abs, corpus ? { path: abs, corpus } : { path: abs });
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

type Phase =
  { kind: 'map'; name: string; steps: ResolvedStep[] } | { kind: 'global'; name: string; step: ResolvedStep };

/** Consecutive map steps form one phase; each global step is its own phase; reading always starts with a map phase. */
export function planPhases(steps: ResolvedStep[]): Phase[] {
  const phases: Phase[] = [];
  let cur: ResolvedStep[] = [];
  const pushMap = () => {
    phases.push({ kind: 'map', name: `p${phases.length}-map`, steps: cur });
    cur = [];
  };
  for (const s of steps) {
    if (s.op.kind === 'map') cur.push(s);
    else {
      // reading always happens in a map phase; consecutive global ops feed each other directly
      if (cur.length || phases.length === 0) pushMap();
      phases.push({ kind: 'global', name: `p${phases.length}-${s.name.replace(/[^\w.-]/g, '_')}`, step: s });
    }
  }
  if (cur.length || phases.length === 0) pushMap();
  return phases;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function listFiles(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => !n.startsWith('.'))
        .sort()
        .map((n) => join(dir, n))
    : [];
}

/** An input file of the run with its plan: text bytes and slices (its map units). */
type InputFile = MapInputFile & Partial<FilePlan>;

/** A run's input file as its fingerprint records it: with its slice table, so a resumed run does not cut it again. */
type FingerprintFile =
  | { path: string; corpus: string | null; size: number; mtime: number; text?: number; slices?: FileSlice[] }
  | { path: string; corpus: string | null; gone: true; slices?: FileSlice[] };
type Fingerprint = ReturnType<typeof runFingerprint>;

/** The map units of the first phase: each file, or each slice of a sliced one, in order. */
function unitsOf(files: InputFile[]): MapInputFile[] {
  return files.flatMap(({ path, corpus, gone, slices }) => {
    const f: MapInputFile = { path, ...(corpus ? { corpus } : {}), ...(gone ? { gone } : {}) };
    return slices ? slices.map((slice) => ({ ...f, slice })) : [f];
  });
}

/** The text bytes of each map unit (for the largest-first order of tasks). */
function unitText(files: InputFile[]): number[] {
  return files.flatMap((f) =>
    f.slices
      ? f.slices.map((s) => (f.gone ? 0 : (s.bytes ?? Math.max(0, (f.text ?? 0) - s.start))))
      : [f.gone ? 0 : (f.text ?? 0)],
  );
}

/** Everything that identifies a run: resuming needs the same recipe, inputs (with sizes and times), tasks and reader. */
function runFingerprint(
  recipe: { name: string },
  steps: ResolvedStep[],
  files: InputFile[],
  tasks: number,
  reader: GenericReaderOptions,
) {
  return {
    recipe: recipe.name,
    steps: steps.map((s) => ({ name: s.name, op: s.ref, params: s.rawParams })),
    files: files.map((f): FingerprintFile => {
      const slices = f.slices ? { slices: f.slices } : {};
      if (f.gone) return { path: f.path, corpus: f.corpus ?? null, gone: true, ...slices };
      const st = statSync(f.path);
      const text = f.text !== undefined ? { text: f.text } : {};
      return {
        path: f.path,
        corpus: f.corpus ?? null,
        size: st.size,
        mtime: Math.floor(st.mtimeMs),
        ...text,
        ...slices,
      };
    }),
    tasks,
    reader,
  };
}

/** The fingerprint of the run in this state folder, if any. */
function previousRun(stateDir: string): Fingerprint | undefined {
  const runFile = join(stateDir, 'run.json');
  return existsSync(runFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as Fingerprint) : undefined;
}

/**
 * Plan every input file (pipeline/slices.ts): a file the previous run of this folder planned, with the same size and
 * time, keeps that plan (a resumed run does not slice again; reading a slice checks it against the file).
 */
async function planInputs(
  files: MapInputFile[],
  reader: GenericReaderOptions,
  prev: Fingerprint | undefined,
  log: (s: string) => void,
): Promise<InputFile[]> {
  const before = new Map(prev?.files.map((f) => [f.path, f]));
  const sliceBytes = testHooks().sliceBytes ?? SLICE_BYTES;
  const out: InputFile[] = [];
  for (const f of files) {
    const st = statSync(f.path);
    const p = before.get(f.path);
    if (
      p &&
      !('gone' in p) &&
      p.text !== undefined &&
      p.corpus === (f.corpus ?? null) &&
      p.size === st.size &&
      p.mtime === Math.floor(st.mtimeMs)
    ) {
      out.push({ ...f, text: p.text, ...(p.slices ? { slices: p.slices } : {}) });
      continue;
    }
    const format = f.corpus ? (await (await corpusModule()).getCorpus(f.corpus))?.reader.format : reader.format;
    const t0 = performance.now();
    const plan = planFile(f.path, format, sliceBytes);
    if (plan.slices)
      log(
        `${displayPath(f.path)}: ${plan.slices.length} slices of ~${(plan.text / plan.slices.length / 2 ** 20).toFixed(1)} MiB of text ` +
          `(cut in ${((performance.now() - t0) / 1000).toFixed(2)} s)`,
      );
    out.push({ ...f, ...plan });
  }
  return out;
}

/** The input files (absolute paths) that the tasks of the first phase recorded as corrupt, with their ranks. */
function recordedCorrupt(stateDir: string, phase: string): Map<string, number> {
  const out = new Map<string, number>();
  const dir = join(stateDir, phase);
  for (const n of existsSync(dir) ? readdirSync(dir) : []) {
    if (!/^\d+\.json$/.test(n)) continue;
    const m = readMarker<MapTaskStats>(join(dir, n));
    for (const c of m?.stats.corrupt_files ?? []) out.set(c.path, m!.stats.rank);
  }
  return out;
}

/**
 * --strict is not part of a run's identity: the outputs of a task that read no corrupt file are the same with or
 * without it. A task that kept what it could read of a corrupt file is what --strict refuses, so a resumed --strict
 * run does that task again (and every later phase): it stops at the file as a fresh --strict run would.
 */
function redoCorruptUnderStrict(outDir: string, stateDir: string, phase0: string, log: (s: string) => void): void {
  const corrupt = recordedCorrupt(stateDir, phase0);
  if (!corrupt.size) return;
  const ranks = [...new Set(corrupt.values())].sort((a, b) => a - b);
  invalidateRanks(outDir, stateDir, phase0, ranks);
  log(
    `--strict: the last run kept what it could read of corrupt input file(s) ${[...corrupt.keys()].map(displayPath).join(', ')}: ` +
      `task(s) ${ranks.join(', ')} of ${phase0} run again under --strict`,
  );
}

/**
 * A rerun after the user removed or replaced input files that the previous run recorded as corrupt (and changed
 * nothing else) resumes: a removed file keeps its place (its map units) in units[rank::world] marked gone, so the
 * other tasks' results stay valid; a replacement must have as many map units as the file it replaces. Returns the
 * files to run with and the first-phase ranks to run again, or undefined when the difference is anything else (the
 * run is then refused as before).
 */
function reconcileCorrupt(
  prev: Fingerprint,
  files: InputFile[],
  stateDir: string,
  phase0: string,
): { files: InputFile[]; ranks: number[]; changed: string[] } | undefined {
  const now = new Map(files.map((f) => [f.path, f]));
  const before = new Set(prev.files.map((f) => f.path));
  if (files.some((f) => !before.has(f.path))) return undefined;
  const corrupt = recordedCorrupt(stateDir, phase0);
  const out: InputFile[] = [];
  const changedAt: number[] = [];
  const units = (f: { slices?: FileSlice[] }) => f.slices?.length ?? 1;
  const firstUnit: number[] = [];
  let unit = 0;
  for (const p of prev.files) {
    firstUnit.push(unit);
    unit += units(p);
  }
  for (const [i, p] of prev.files.entries()) {
    const f = now.get(p.path);
    const gone: InputFile = {
      path: p.path,
      ...(p.corpus ? { corpus: p.corpus } : {}),
      gone: true,
      ...(p.slices ? { slices: p.slices } : {}),
    };
    if (f && units(f) !== units(p)) return undefined;
    if ('gone' in p) {
      out.push(f ?? gone);
      if (f) changedAt.push(i);
      continue;
    }
    if (f && (f.corpus ?? null) === p.corpus) {
      const st = statSync(f.path);
      if (st.size === p.size && Math.floor(st.mtimeMs) === p.mtime) {
        out.push(f);
        continue;
      }
    }
    if (!corrupt.has(p.path) || (f && (f.corpus ?? null) !== p.corpus)) return undefined;
    out.push(f ?? gone);
    changedAt.push(i);
  }
  const ranks = [
    ...new Set(
      changedAt.flatMap((i) => Array.from({ length: units(prev.files[i]) }, (_, k) => (firstUnit[i] + k) % prev.tasks)),
    ),
  ].sort((a, b) => a - b);
  return { files: out, ranks, changed: changedAt.map((i) => displayPath(prev.files[i].path)) };
}

/**
 * Forget what depends on the given first-phase ranks: their completion markers and their excluded/rejects files,
 * and every later phase's state and outputs (redone from the first phase's documents).
 */
function invalidateRanks(outDir: string, stateDir: string, phase0: string, ranks: number[]): void {
  for (const r of ranks) {
    rmSync(markerPath(stateDir, phase0, r), { force: true });
    rmSync(join(outDir, 'excluded', partName(r)), { force: true });
    rmSync(join(outDir, 'rejects', partName(r, '.jsonl')), { force: true });
  }
  for (const n of existsSync(stateDir) ? readdirSync(stateDir) : [])
    if (n !== 'run.json' && n !== phase0) rmSync(join(stateDir, n), { recursive: true, force: true });
  for (const d of ['excluded', 'rejects'])
    for (const f of listFiles(join(outDir, d))) if (!/^part-\d+\./.test(basename(f))) rmSync(f, { force: true });
}

/**
 * One run per output folder: --fresh removes a previous run (moved aside at once, removed in the background:
 * `removal`, which the caller awaits before it reports); otherwise an existing run must have the same fingerprint
 * (it is resumed) or the run is refused, except that input files the previous run recorded as corrupt may have been
 * removed or replaced (their tasks and every later phase run again). Records the fingerprint and removes stale
 * temporary files. Returns the files to run with (removed corrupt files keep their place, marked gone).
 */
function claimOutDir(
  outDir: string,
  stateDir: string,
  make: (files: InputFile[]) => Fingerprint,
  files: InputFile[],
  prev: Fingerprint | undefined,
  phase0: string,
  fresh: boolean | undefined,
  log: (s: string) => void,
): { files: InputFile[]; removal?: Promise<Error | undefined> } {
  const runFile = join(stateDir, 'run.json');
  let fingerprint = make(files);
  let removal: Promise<Error | undefined> | undefined;
  if (fresh) {
    // moved aside at once and removed while the run goes on (awaited by the caller)
    removal = removeInBackground(outDir, ['docs', 'excluded', 'rejects', '.state', 'stats.json']);
  } else if (prev) {
    const sameRun = (a: Fingerprint, b: Fingerprint) =>
      a.recipe === b.recipe && sameJson(a.steps, b.steps) && sameJson(a.reader, b.reader);
    const fixed =
      !sameJson(prev, fingerprint) && sameRun(prev, fingerprint) && reconcileCorrupt(prev, files, stateDir, phase0);
    if (fixed && make(fixed.files).tasks === prev.tasks) {
      files = fixed.files;
      fingerprint = make(files);
      if (fixed.ranks.length) {
        invalidateRanks(outDir, stateDir, phase0, fixed.ranks);
        log(
          `input file(s) recorded corrupt by the last run were removed or replaced (${fixed.changed.join(', ')}): ` +
            `task(s) ${fixed.ranks.join(', ')} of ${phase0} and every later phase run again; the rest is resumed`,
        );
      }
    } else if (!sameJson(prev, fingerprint)) {
      const what =
        !sameJson(prev.steps, fingerprint.steps) || prev.recipe !== fingerprint.recipe
          ? 'recipe'
          : !sameJson(prev.files, fingerprint.files)
            ? 'input files'
            : 'task count or reader options';
      throw new Error(
        `${outDir} holds an unfinished or finished run with a different ${what}; use --fresh to start over, or another --out`,
      );
    }
    log(`resuming the run in ${outDir}`);
  }
  mkdirSync(stateDir, { recursive: true });
  writeFileAtomic(runFile, JSON.stringify(fingerprint, null, 1) + '\n');
  // a previous run's temporaries, and its earlier outputs being removed (removeInBackground) when it was killed
  for (const d of ['', 'docs', 'excluded', 'rejects']) removeStaleTemps(join(outDir, d));
  return { files, ...(removal ? { removal } : {}) };
}

/** The run's accounting, accumulated phase by phase. */
class RunTotals {
  problems: string[] = [];
  stages: StageStats[] = [];
  phases: RunStats['phases'] = [];
  tasks: RunStats['tasks'] = [];
  read = 0;
  kept = 0;
  dropped = 0;
  rejected = 0;
  /** Documents the previous phase kept (each phase must read exactly those). */
  prevKept: number | undefined;
  /** CPU-seconds the previous map phase spent in the next global op's sink (GlobalOp.mapSink): that op's. */
  sinkCpu = 0;
  droppedByRule: Record<string, number> = {};
  rejectedByError: Record<string, number> = {};
  corruptFiles: CorruptFile[] = [];
}

/** What every phase needs. */
interface RunContext {
  outDir: string;
  stateDir: string;
  workers: number;
  executor: Executor;
  operators: OperatorRegistry;
  quiet?: boolean;
  strict?: boolean;
  log: (s: string) => void;
}

/** Where a phase's resource use starts: the executor's task count and this process's CPU time. */
interface UsageMark {
  tasks: number;
  cpu: NodeJS.CpuUsage;
}
const usageMark = (e: Executor): UsageMark => ({ tasks: e.usage.length, cpu: process.cpuUsage() });

/**
 * CPU-seconds and peak RSS of a phase: this process's CPU time during it (which holds the tasks run in-process) plus
 * the CPU time of the tasks run in worker processes; the peak RSS of the processes that ran its tasks (this one's,
 * which is its peak so far, when it ran some itself or there were no tasks).
 */
function phaseUsage(e: Executor, m: UsageMark): { cpu_seconds: number; peak_rss_bytes: number } {
  const c = process.cpuUsage(m.cpu);
  const tasks = e.usage.slice(m.tasks);
  let cpu = (c.user + c.system) / 1e6;
  let peak = 0;
  for (const u of tasks) {
    if (!u.in_process) cpu += u.cpu_seconds;
    peak = Math.max(peak, u.peak_rss_bytes);
  }
  if (!tasks.length || tasks.some((u) => u.in_process)) peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  return { cpu_seconds: cpu, peak_rss_bytes: peak };
}

/**
 * The kind of each rank's text (pipeline/slices.ts' textKind: CJK or not) for the executor's choice of tasks: a lane
 * keeps to one kind, so one process warms up the Chinese path (jieba, the zh statistics) rather than each. A rank's
 * kind is its first unit's; a file is looked at once (its slices share its kind), a gone one is 0.
 */
async function unitKinds(inputs: MapInputFile[], world: number, reader: GenericReaderOptions): Promise<number[]> {
  const byFile = new Map<string, Promise<number>>();
  const kindOf = (f: MapInputFile): Promise<number> => {
    if (f.gone) return Promise.resolve(0);
    let k = byFile.get(f.path);
    if (!k) byFile.set(f.path, (k = textKind(f.path, f.corpus ? undefined : reader.format)));
    return k;
  };
  return Promise.all(Array.from({ length: world }, (_, r) => (inputs[r] ? kindOf(inputs[r]) : Promise.resolve(0))));
}

/** The sink of the phase after this one, when it is a global op that takes documents as they are written. */
function sinkSpec(next: Phase | undefined, c: RunContext): SinkSpec | undefined {
  if (next?.kind !== 'global' || !(next.step.op as GlobalOp).mapSink) return undefined;
  const s = next.step;
  return { op: s.ref, params: s.rawParams, workDir: join(c.stateDir, next.name), outDir: c.outDir, workers: c.workers };
}

/**
 * A map phase: `world` tasks over inputs[rank::world] through the map task; merges their stats into `t`. `text`:
 * each input's text bytes, when known (the executor runs the largest tasks first).
 */
async function runMapPhase(
  ph: Extract<Phase, { kind: 'map' }>,
  pi: number,
  world: number,
  inputs: MapInputFile[],
  docsDir: string,
  reader: GenericReaderOptions,
  c: RunContext,
  t: RunTotals,
  next?: Phase,
  text?: number[],
): Promise<MapInputFile[]> {
  removeStaleTemps(docsDir);
  const outputs = Array.from({ length: world }, (_, r) => join(docsDir, partName(r)));
  // the next global op takes the documents as this phase writes them, when it can (GlobalOp.mapSink)
  const sinkOp = sinkSpec(next, c);
  const args: MapTaskArgs = {
    phase: ph.name,
    files: inputs,
    steps: ph.steps.map((s) => ({ name: s.name, op: s.ref, params: s.rawParams })),
    outDir: c.outDir,
    docsDir,
    filePrefix: pi === 0 ? '' : `${ph.name}-`,
    reader: pi === 0 ? reader : {},
    ...(c.strict ? { strict: true } : {}),
    ...(next?.kind === 'global' && (next.step.op as GlobalOp).rewritesDocs ? { intermediate: true } : {}),
    ...(sinkOp
      ? {
          sink: { ...sinkSpec(next, c)!, inputFiles: outputs },
        }
      : {}),
  };
  const files = new Set(inputs.map((f) => f.path)).size;
  if (!c.quiet)
    c.log(
      `[${ph.name}] ${world} task(s) over ${files} file(s)${files !== inputs.length ? ` (${inputs.length} slices and files)` : ''}, ${Math.min(c.workers, world)} worker(s); stages: ${['read', 'unify', ...ph.steps.map((s) => s.name), 'write'].join(' → ')}`,
    );
  const mark = usageMark(c.executor);
  const sizes =
    text && Array.from({ length: world }, (_, r) => text.reduce((a, b, i) => (i % world === r ? a + b : a), 0));
  const kinds = sizes && c.workers > 1 && world > 1 ? await unitKinds(inputs, world, reader) : undefined;
  const results = world
    ? await c.executor.runTasks(mapTask(c.operators), args, {
        name: ph.name,
        stateDir: c.stateDir,
        count: world,
        workers: c.workers,
        ...(sizes ? { sizes } : {}),
        ...(kinds ? { kinds } : {}),
      })
    : [];
  const merged: StageStats[] = [];
  let pRead = 0,
    pKept = 0,
    pDropped = 0,
    pRejected = 0,
    sinkCpu = 0;
  for (const r of results) {
    sinkCpu += r.sink_cpu_seconds ?? 0;
    r.stages.forEach((s, i) => {
      merged[i] ??= newStage(s.name, s.op, s.phase);
      mergeStage(merged[i], s);
    });
    pRead += r.read;
    pKept += r.kept;
    pDropped += r.dropped;
    pRejected += r.rejected;
    t.corruptFiles.push(...(r.corrupt_files ?? []));
    const { stages: _s, ...rest } = r;
    t.tasks.push(rest);
  }
  for (const s of merged) {
    mergeCounts(t.droppedByRule, s.dropped_by_rule);
    mergeCounts(t.rejectedByError, s.rejected_by_error);
  }
  t.stages.push(...merged);
  t.problems.push(...stageProblems(merged));
  if (pRead !== pKept + pDropped + pRejected)
    t.problems.push(`phase ${ph.name}: read ${pRead} != kept ${pKept} + dropped ${pDropped} + rejected ${pRejected}`);
  if (t.prevKept !== undefined && pRead !== t.prevKept)
    t.problems.push(`phase ${ph.name} read ${pRead} documents but the previous phase kept ${t.prevKept}`);
  if (pi === 0) t.read = pRead;
  t.dropped += pDropped;
  t.rejected += pRejected;
  t.kept = pKept;
  t.prevKept = pKept;
  // the sink's CPU time is the next op's work: moved to its phase
  const usage = phaseUsage(c.executor, mark);
  t.sinkCpu = sinkCpu;
  t.phases.push({
    name: ph.name,
    kind: 'map',
    tasks: world,
    read: pRead,
    kept: pKept,
    dropped: pDropped,
    rejected: pRejected,
    ...usage,
    cpu_seconds: Math.max(0, usage.cpu_seconds - sinkCpu),
  });
  return outputs.map((path) => ({ path }));
}

/** A global phase: the op runs its own tasks; its result is recorded as the phase marker (resume) and accounted. */
async function runGlobalPhase(
  ph: Extract<Phase, { kind: 'global' }>,
  inputs: MapInputFile[],
  c: RunContext,
  t: RunTotals,
  next?: Phase,
  release?: () => void,
): Promise<string[]> {
  const gop = ph.step.op as GlobalOp;
  const marker = join(c.stateDir, `${ph.name}.json`);
  let res: GlobalOpResult & { seconds?: number; cpu_seconds?: number; peak_rss_bytes?: number };
  if (existsSync(marker)) {
    res = JSON.parse(readFileSync(marker, 'utf8')) as GlobalOpResult;
    c.log(`[${ph.name}] already done (resume)`);
  } else {
    c.log(`[${ph.name}] global op "${gop.name}" over ${inputs.length} file(s)`);
    const workDir = join(c.stateDir, ph.name);
    mkdirSync(workDir, { recursive: true });
    const g0 = performance.now();
    const mark = usageMark(c.executor);
    res = await gop.run(ph.step.params, {
      inputFiles: inputs.map((f) => f.path),
      workDir,
      outDir: c.outDir,
      workers: c.workers,
      executor: c.executor,
      log: (m) => c.log(`[${ph.name}] ${m}`),
      sink: sinkSpec(next, c),
      operators: c.operators,
      ...(release ? { release } : {}),
    });
    res = { ...res, seconds: (performance.now() - g0) / 1000, ...phaseUsage(c.executor, mark) };
    writeFileAtomic(marker, JSON.stringify(res, null, 1) + '\n');
  }
  const s = res.stats;
  // with the CPU time its sink spent in the phase before it (GlobalOp.mapSink), less its own tasks' time in the
  // next op's sink
  const cpu = Math.max(0, (res.cpu_seconds ?? 0) - (res.sink_cpu_seconds ?? 0)) + t.sinkCpu;
  t.sinkCpu = res.sink_cpu_seconds ?? 0;
  const gDropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  const st = newStage(ph.step.name, gop.name, ph.name);
  st.kind = 'global';
  st.seconds = res.seconds ?? 0;
  st.cpu_seconds = cpu;
  st.in = s.read;
  st.out = s.kept;
  st.dropped = gDropped;
  st.rejected = s.rejected;
  mergeCounts(st.dropped_by_rule, s.dropped);
  t.stages.push(st);
  t.problems.push(...stageProblems([st]));
  if (t.prevKept !== undefined && s.read !== t.prevKept)
    t.problems.push(`global op ${ph.step.name} read ${s.read} documents but the previous phase kept ${t.prevKept}`);
  mergeCounts(t.droppedByRule, s.dropped);
  if (s.rejected) t.rejectedByError[`${ph.step.name}`] = (t.rejectedByError[`${ph.step.name}`] ?? 0) + s.rejected;
  t.dropped += gDropped;
  t.rejected += s.rejected;
  t.kept = s.kept;
  t.prevKept = s.kept;
  t.phases.push({
    name: ph.name,
    kind: 'global',
    op: gop.name,
    tasks: 0,
    read: s.read,
    kept: s.kept,
    dropped: gDropped,
    rejected: s.rejected,
    cpu_seconds: cpu,
    peak_rss_bytes: res.peak_rss_bytes ?? 0,
    ...(s.extra ? { extra: s.extra } : {}),
  });
  return res.outputFiles;
}

/**
 * A global phase whose op's sink (GlobalOp.mapSink) does all of its work (GlobalOp.sinkCompletes): fed by the phase
 * before it, it needs no worker processes.
 */
function doneBySink(ph: Phase | undefined): boolean {
  if (ph?.kind !== 'global') return false;
  const op = ph.step.op as GlobalOp;
  return !!op.mapSink && !!op.sinkCompletes?.(ph.step.params);
}

/** The final documents always live in OUT/docs/part-RRRRR.jsonl.zst: link (or copy) a last global op's outputs there. */
function publishDocs(outDir: string, files: string[]): string[] {
  const docsDir = join(outDir, 'docs');
  mkdirSync(docsDir, { recursive: true });
  return files.map((p, r) => {
    const dst = join(docsDir, partName(r));
    if (resolve(p) === resolve(dst)) return dst;
    rmSync(dst, { force: true });
    try {
      linkSync(p, dst);
    } catch {
      copyFileSync(p, dst);
    }
    return dst;
  });
}

/** Run a recipe over inputs; returns the merged stats (also written to OUT/stats.json). Throws if accounting fails. */
export async function runPipeline(o: RunOptions): Promise<RunStats> {
  const log = o.log ?? ((s: string) => (o.quiet ? undefined : process.stderr.write(s + '\n')));
  // one run per output folder: taken before anything in it is read, cleaned or removed (--fresh)
  const lock = acquireDirLock(resolve(o.outDir), 'steel prep', log);
  try {
    return await runPipelineLocked(o);
  } finally {
    lock.release();
  }
}

async function runPipelineLocked(o: RunOptions): Promise<RunStats> {
  const started = new Date();
  const log = o.log ?? ((s: string) => (o.quiet ? undefined : process.stderr.write(s + '\n')));
  const recipe = typeof o.recipe === 'string' ? loadRecipe(o.recipe) : parseRecipe(o.recipe);
  const operators = o.operators ?? pipelineOperators;
  const steps = await resolveSteps(recipe, operators);
  const specs = o.inputs?.length ? o.inputs : recipe.input ? ([] as string[]).concat(recipe.input) : [DEFAULT_INPUT];
  const found = await resolveInputs(specs);
  if (!found.length) throw new Error('no input files');
  const phases = planPhases(steps);
  const outDir = resolve(o.outDir);
  const stateDir = join(outDir, '.state');
  const workers = Math.max(1, o.workers ?? availableParallelism());
  const worldOf = (fs: InputFile[]) => Math.max(1, Math.min(unitsOf(fs).length, o.tasks ?? DEFAULT_MAX_TASKS));
  const reader = o.reader ?? {};
  const prev = o.fresh ? undefined : previousRun(stateDir);
  const { files, removal } = claimOutDir(
    outDir,
    stateDir,
    (fs) => runFingerprint(recipe, steps, fs, worldOf(fs), reader),
    await planInputs(found, reader, prev, log),
    prev,
    phases[0].name,
    o.fresh,
    log,
  );
  if (o.strict) redoCorruptUnderStrict(outDir, stateDir, phases[0].name, log);
  const world0 = worldOf(files);

  const executor = o.executor ?? new LocalExecutor({ progress: { quiet: o.quiet, unit: 'bytes' } });
  const c: RunContext = { outDir, stateDir, workers, executor, operators, quiet: o.quiet, strict: o.strict, log };
  const t = new RunTotals();
  let inputs: MapInputFile[] = unitsOf(files);
  let docsOutputs: string[] = [];
  // the worker processes were let go before the last phase, which its sink did in the phase before it (doneBySink):
  // they exit while this process finishes the run (a worker's exit, its memory unmapped, took 40-90 ms of wall on the
  // 2-vCPU VM, and the run waited for it at its end), and that phase runs in this process
  let released = false;
  const release = () => {
    released = true;
    executor.release?.();
  };
  try {
    for (const [pi, ph] of phases.entries()) {
      const isLast = pi === phases.length - 1;
      const beforeDoneBySink = pi === phases.length - 2 && doneBySink(phases[pi + 1]);
      if (ph.kind === 'map') {
        const docsDir = isLast ? join(outDir, 'docs') : join(stateDir, ph.name, 'docs');
        const world = pi === 0 ? world0 : inputs.length;
        const text = pi === 0 ? unitText(files) : undefined;
        inputs = await runMapPhase(ph, pi, world, inputs, docsDir, reader, c, t, phases[pi + 1], text);
        if (isLast) docsOutputs = inputs.map((f) => f.path);
        // every task of a map phase feeds the next op's sink
        if (beforeDoneBySink) release();
      } else {
        const pc = released && isLast && doneBySink(ph) ? { ...c, workers: 1 } : c;
        const outputs = await runGlobalPhase(ph, inputs, pc, t, phases[pi + 1], beforeDoneBySink ? release : undefined);
        inputs = outputs.map((p) => ({ path: p }));
        if (isLast) docsOutputs = publishDocs(outDir, outputs);
      }
    }
  } finally {
    // the worker processes serve every phase of the run, then go: a caller's executor's too, so that they exit (and
    // free their memory) while this process finishes its report, not after it
    executor.close?.();
  }

  // the earlier outputs --fresh moved aside are gone before the run reports (the rejection: an Error naming them)
  const notRemoved = await removal;
  if (notRemoved) throw notRemoved;

  const { read, kept, dropped, rejected, problems } = t;
  if (read !== kept + dropped + rejected)
    problems.unshift(`read ${read} != kept ${kept} + dropped ${dropped} + rejected ${rejected}`);
  const finished = new Date();
  const stats: RunStats = {
    recipe: recipe.name,
    description: recipe.description,
    out_dir: outDir,
    inputs: files
      .filter((f) => !f.gone)
      .map((f) => ({ path: displayPath(f.path), ...(f.corpus ? { corpus: f.corpus } : {}) })),
    workers,
    started: started.toISOString(),
    finished: finished.toISOString(),
    seconds: (finished.getTime() - started.getTime()) / 1000,
    cpu_seconds: t.phases.reduce((a, p) => a + p.cpu_seconds, 0),
    peak_rss_bytes: Math.max(process.resourceUsage().maxRSS * 1024, ...t.phases.map((p) => p.peak_rss_bytes)),
    read,
    kept,
    dropped,
    dropped_by_rule: t.droppedByRule,
    rejected,
    rejected_by_error: t.rejectedByError,
    corrupt_files: t.corruptFiles,
    invariant: {
      ok: problems.length === 0,
      check: 'read = kept + dropped + rejected (run, every phase and every stage)',
      problems,
    },
    stages: t.stages,
    phases: t.phases,
    tasks: t.tasks,
    outputs: {
      docs: docsOutputs,
      excluded: listFiles(join(outDir, 'excluded')),
      rejects: listFiles(join(outDir, 'rejects')),
    },
  };
  writeFileAtomic(join(outDir, 'stats.json'), JSON.stringify(stats, null, 1) + '\n');
  if (!o.quiet) log('\n' + formatStats(stats));
  if (!stats.invariant.ok) {
    throw new Error(`ACCOUNTING INVARIANT VIOLATED (see ${join(outDir, 'stats.json')}):\n  ${problems.join('\n  ')}`);
  }
  return stats;
}
