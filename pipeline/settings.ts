/**
 * Settings from environment variables: every variable steel reads is named once here, with its type, default and
 * meaning, and library code reads it only through `setting(key)` (values are read when asked, so a variable set
 * between two runs in one process takes effect). The README's "Settings" table lists the user-facing ones; a test
 * checks that it does, and that no other module reads a STEEL_* variable.
 *
 * Test hooks (fault injection: crash a worker at a given point, ...) are not settings, and library code never reads
 * them from the environment: tests inject them with `setTestHooks`, in their own process directly, and in the child
 * processes they start (worker processes, Slurm tasks) through a test worker entry that injects them before serving
 * tasks (pipeline/test-fixtures/hooks.ts).
 */

type Env = Record<string, string | undefined>;

interface SettingDef<T> {
  /** The environment variable. */
  env: string;
  /** What it sets, for the docs (README "Settings" table). */
  doc: string;
  /** The value when unset (undefined: no value). */
  default: T;
  /** Human-readable type, for the docs. */
  type: string;
  /** Set by steel itself for its own child processes; not for users. */
  internal?: boolean;
  parse(raw: string, env: string): T;
}

function positive(raw: string, env: string, what = 'a positive number'): number {
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${env}: not ${what}: ${raw}`);
  return n;
}

const str = (
  env: string,
  doc: string,
  extra: Partial<SettingDef<string | undefined>> = {},
): SettingDef<string | undefined> => ({
  env,
  doc,
  default: undefined,
  type: 'string',
  parse: (raw) => raw,
  ...extra,
});
const num = (env: string, doc: string, def: number | undefined, type = 'number'): SettingDef<number | undefined> => ({
  env,
  doc,
  default: def,
  type,
  parse: (raw, e) => positive(raw, e),
});
const int = (
  env: string,
  doc: string,
  def: number | undefined,
  extra: Partial<SettingDef<number | undefined>> = {},
): SettingDef<number | undefined> => ({
  ...extra,
  env,
  doc,
  default: def,
  type: 'integer',
  parse: (raw, e) => {
    const n = positive(raw, e, 'a positive integer');
    if (!Number.isInteger(n)) throw new Error(`${e}: not a positive integer: ${raw}`);
    return n;
  },
});
const flag = (env: string, doc: string, extra: Partial<SettingDef<boolean>> = {}): SettingDef<boolean> => ({
  env,
  doc,
  default: false,
  type: 'flag (1)',
  parse: (raw) => raw !== '' && raw !== '0',
  ...extra,
});

export const SETTINGS = {
  // ---- progress and messages
  quiet: flag('STEEL_QUIET', 'no progress display at all'),
  progressLines: {
    env: 'STEEL_PROGRESS',
    doc: '`lines`: one progress line per interval instead of a redrawn bar, even on a terminal',
    default: false,
    type: '`lines`',
    parse: (raw: string) => raw === 'lines',
  } as SettingDef<boolean>,
  progressIntervalMs: num(
    'STEEL_PROGRESS_INTERVAL_MS',
    'interval of the progress lines when not drawing a bar (ms)',
    10_000,
    'ms',
  ),
  debug: flag('STEEL_DEBUG', 'print the stack trace of an error, not only its message'),
  // ---- executors
  executor: {
    env: 'STEEL_EXECUTOR',
    doc: '`process`: run every task in a worker process, never in the main one',
    default: undefined,
    type: '`process`',
    parse: (raw: string, e: string) => {
      if (raw !== 'process') throw new Error(`${e}: the only value is "process" (got ${raw})`);
      return raw;
    },
  } as SettingDef<'process' | undefined>,
  worker: flag('STEEL_WORKER', 'marks a worker process of the local executor', { internal: true }),
  slurmPartition: str('STEEL_SLURM_PARTITION', 'Slurm partition (`sbatch --partition`)'),
  slurmAccount: str('STEEL_SLURM_ACCOUNT', 'Slurm account (`--account`)'),
  slurmQos: str('STEEL_SLURM_QOS', 'Slurm QOS (`--qos`)'),
  slurmTime: str('STEEL_SLURM_TIME', 'time limit of one array task (`--time`)'),
  slurmMem: str('STEEL_SLURM_MEM', 'memory of one array task (`--mem`)'),
  slurmCpus: int('STEEL_SLURM_CPUS', 'CPUs of one array task (`--cpus-per-task`)', undefined),
  slurmThrottle: int(
    'STEEL_SLURM_THROTTLE',
    'at most this many array tasks of a job at once (`--array=...%N`)',
    undefined,
  ),
  slurmPollMs: num('STEEL_SLURM_POLL_MS', 'interval between polls of squeue and the task markers (ms)', 5000, 'ms'),
  slurmSbatchArgs: {
    env: 'STEEL_SLURM_SBATCH_ARGS',
    doc: 'extra sbatch arguments as a JSON list, e.g. `["--constraint=cpu"]`',
    default: undefined,
    type: 'JSON list',
    parse: (raw: string, e: string) => {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch {
        v = undefined;
      }
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
        throw new Error(`${e} must be a JSON list of strings, e.g. ["--constraint=cpu"]`);
      }
      return v as string[];
    },
  } as SettingDef<string[] | undefined>,
  // ---- collect
  hfEndpoint: str(
    'HF_ENDPOINT',
    'Hugging Face Hub endpoint or mirror for `steel collect` (default https://huggingface.co)',
  ),
  hfToken: str('HF_TOKEN', 'Hugging Face token for gated or private repositories'),
  collectBackoffMs: num(
    'STEEL_COLLECT_BACKOFF_MS',
    'first retry delay of a failed download (ms; doubles per retry)',
    undefined,
    'ms',
  ),
  chromium: str('STEEL_CHROMIUM', 'Chromium binary the HTML report checks drive (tests; default /usr/bin/chromium)', {
    internal: true,
  }),
  // ---- training
  cpuThreads: int('STEEL_CPU_THREADS', 'GEMM threads of the CPU backend (default min(2, cores))', undefined),
  distTimeout: num(
    'STEEL_DIST_TIMEOUT',
    'how long a rank waits for the others (seconds; TCP and NCCL)',
    undefined,
    'seconds',
  ),
  cudaAddon: str('STEEL_CUDA_ADDON', 'path of the built CUDA addon (default train/native/build/steel_cuda.node)'),
  ncclLib: str('STEEL_NCCL_LIB', "path of libnccl.so.2, tried before the loader's own search"),
  trainEntry: str(
    'STEEL_TRAIN_ENTRY',
    'the single-file `steel train` bundle the launcher re-runs (set by the bundle)',
    { internal: true },
  ),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type SettingValue<K extends SettingKey> = (typeof SETTINGS)[K] extends SettingDef<infer T> ? T : never;

/** The value of one setting (its default when the variable is unset or empty); a malformed value throws, naming it. */
export function setting<K extends SettingKey>(key: K, env: Env = process.env): SettingValue<K> {
  const d = SETTINGS[key] as SettingDef<SettingValue<K>>;
  const raw = env[d.env];
  if (raw === undefined || raw === '') return d.default;
  return d.parse(raw, d.env);
}

/** The variable name of a setting (for messages and for the environment of child processes). */
export function settingName(key: SettingKey): string {
  return SETTINGS[key].env;
}

/** Every setting, for the docs (README "Settings" table). */
export function settingsTable(): { env: string; type: string; default: unknown; doc: string; internal: boolean }[] {
  return Object.values(SETTINGS).map((d: SettingDef<unknown>) => ({
    env: d.env,
    type: d.type,
    default: d.default,
    doc: d.doc,
    internal: !!d.internal,
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Test hooks

/** Fault injection and limits that only tests set (never users). */
export interface TestHooks {
  /** pipeline map task, in a worker process: SIGKILL itself once it has kept this many documents. */
  crashAfterDocs?: number;
  /** ... only the task of this rank. */
  crashRank?: number;
  /** pipeline runner: text bytes of a slice of a large input (default slices.ts' SLICE_BYTES), to cut small files. */
  sliceBytes?: number;
  /**
   * dedup: the process exits (code 86) at this point, mid-task: signatures, buckets, verify-sets, verify, cc-large,
   * cc-small, cc-memory, join, reduce, filter, index.
   */
  dedupCrash?: string;
  /** dedup: in-memory bucket group limit (default dedup's MAX_GROUP), to exercise the overflow path on small data. */
  dedupMaxGroup?: number;
  /** dedup: bytes of shingle-set files a verify task reads whole (default dedup's SETS_IN_MEMORY), to test reads by set. */
  dedupSetsInMemory?: number;
  /** Slurm task: a file holding "STEP RANK"; that task deletes it and SIGKILLs itself mid-work. */
  slurmKillFile?: string;
  /** Slurm test task: a value echoed back, to check that the hooks reach a compute node intact. */
  echo?: string;
}

let injected: TestHooks = {};

/** Set (or with undefined, clear) the test hooks of this process. */
export function setTestHooks(h: TestHooks | undefined): void {
  injected = h ?? {};
}

/** The test hooks of this process (none unless a test injected them with setTestHooks). */
export function testHooks(): TestHooks {
  return injected;
}
