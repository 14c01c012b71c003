/**
 * Slurm executor for the data pipeline: each step (`runTasks` call) becomes one job array per chunk of at most
 * MaxArraySize tasks (read from `scontrol show config`), submitted with `--dependency=afterok:` on the previous step's
 * jobs. Tasks write the same completion markers as the local executor, so resubmitting a step runs only the ranks without
 * a marker (and does not duplicate ranks whose jobs are still queued or running from an earlier submission).
 *
 * Generated sbatch scripts single-quote every value (paths, names, environment); sbatch itself is run without a shell.
 * The driver (`steel prep`) and the compute nodes must see the same paths (a shared filesystem), as with any Slurm job.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Executor, RunTasksOptions, TaskUsage } from '../executor-types.ts';
import { WORKER_ENTRY } from '../executor.ts';
import { writeFileAtomic } from '../fsutil.ts';
import {
  markerPath,
  readMarker,
  resumeLine,
  scanMarkers,
  TaskFailedError,
  usageOf,
  type TaskFailure,
} from '../markers.ts';
import { nodeEntry } from '../node-entry.ts';
import { Progress, type ProgressOptions } from '../progress.ts';
import type { Task, TaskResult } from '../task.ts';
import type { SlurmStepSpec } from './slurm-task.ts';
import { setting, settingName } from '../settings.ts';

export interface SlurmExecutorOptions {
  partition?: string;
  account?: string;
  qos?: string;
  /** Time limit per array task (sbatch --time), e.g. "04:00:00". */
  time?: string;
  cpusPerTask?: number;
  /** Memory per task (sbatch --mem), e.g. "8G". */
  mem?: string;
  /** Extra sbatch arguments, each one argv element (no shell), e.g. ["--constraint=cpu", "--nice=10"]. */
  sbatchArgs?: string[];
  /** At most this many array tasks of a job running at once (`--array=...%N`). */
  throttle?: number;
  /** Override the cluster's MaxArraySize (default: `scontrol show config`). */
  maxArraySize?: number;
  /** Milliseconds between polls of squeue and the markers (default 5000; setting slurmPollMs, STEEL_SLURM_POLL_MS). */
  pollMs?: number;
  /** Extra environment for the tasks, exported by the job script (besides the submitting environment). */
  env?: Record<string, string>;
  /** Node binary on the compute nodes (default: this process's). */
  node?: string;
  /** Worker entry module run by every array task (default WORKER_ENTRY, cli/worker.ts). */
  worker?: string;
  /** Paths or names of the Slurm commands. */
  bin?: { sbatch?: string; squeue?: string; scontrol?: string; scancel?: string };
  /** Job name prefix (default "steel"). */
  jobPrefix?: string;
  progress?: ProgressOptions;
  log?: (line: string) => void;
}

/** Options from the STEEL_SLURM_* settings (pipeline/settings.ts: partition, account, qos, time, cpus, mem, throttle, poll, sbatch args). */
export function slurmOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SlurmExecutorOptions {
  const o: SlurmExecutorOptions = {};
  const set = <K extends keyof SlurmExecutorOptions>(k: K, v: SlurmExecutorOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('partition', setting('slurmPartition', env));
  set('account', setting('slurmAccount', env));
  set('qos', setting('slurmQos', env));
  set('time', setting('slurmTime', env));
  set('mem', setting('slurmMem', env));
  set('cpusPerTask', setting('slurmCpus', env));
  set('throttle', setting('slurmThrottle', env));
  if (env[settingName('slurmPollMs')]) set('pollMs', setting('slurmPollMs', env));
  set('sbatchArgs', setting('slurmSbatchArgs', env));
  return o;
}

/** Quote a value for bash: single quotes, with embedded single quotes as '\''. Nothing inside is expanded. */
export function shq(s: string): string {
  if (s.includes('\0'))
    throw new Error(`cannot pass a value containing a NUL byte to a job script: ${JSON.stringify(s)}`);
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Slurm filename patterns expand %x; a literal "%" is "%%". */
export function slurmPathPattern(p: string): string {
  return p.replace(/%/g, '%%');
}

/** Split ranks into chunks of at most `max` (one job array each; array indices 0..len-1 map to ranks by a file). */
export function chunkRanks(ranks: number[], max: number): number[][] {
  if (!Number.isInteger(max) || max < 1) throw new Error(`bad MaxArraySize ${max}`);
  const out: number[][] = [];
  for (let i = 0; i < ranks.length; i += max) out.push(ranks.slice(i, i + max));
  return out;
}

export interface JobScriptInput {
  step: string;
  cwd: string;
  node: string;
  /** Node flags before the entry file (nodeEntry: the tsx loader when running from the .ts sources, none compiled). */
  execArgv: string[];
  /** The worker entry (cli/worker, compiled or source). */
  file: string;
  specFile: string;
  ranksFile: string;
  env?: Record<string, string>;
}

/** The bash script one array task runs. Every value is single-quoted; only $SLURM_ARRAY_TASK_ID is expanded. */
export function buildJobScript(i: JobScriptInput): string {
  const lines = [
    '#!/bin/bash',
    `# Generated by steel (pipeline/slurm) for step ${JSON.stringify(i.step).replace(/[\r\n]/g, ' ')}; every value is single-quoted.`,
    'set -eu',
  ];
  for (const [k, v] of Object.entries(i.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new Error(`bad environment variable name for a job script: ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shq(v)}`);
  }
  lines.push(`cd ${shq(i.cwd)}`);
  lines.push(
    `exec ${[i.node, ...i.execArgv, i.file, i.specFile, i.ranksFile].map(shq).join(' ')} "\${SLURM_ARRAY_TASK_ID:?not run as an array task}"`,
  );
  return lines.join('\n') + '\n';
}

interface Submission {
  jobId: string;
  ranks: number[];
  time: string;
}

interface StepState {
  submissions: Submission[];
}

function stepJobs(stateFile: string): Set<string> {
  try {
    return new Set((JSON.parse(readFileSync(stateFile, 'utf8')) as StepState).submissions.map((s) => s.jobId));
  } catch {
    return new Set();
  }
}

function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && e.code === 'ENOENT') return res({ code: 127, stdout: '', stderr: `${cmd}: command not found` });
      res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** True when Slurm's commands are installed and a controller answers; otherwise the reason. */
export async function slurmAvailable(bin: SlurmExecutorOptions['bin'] = {}): Promise<{ ok: boolean; reason?: string }> {
  const r = await run(bin.scontrol ?? 'scontrol', ['ping'], 15_000);
  if (r.code === 127) return { ok: false, reason: 'Slurm is not installed (no scontrol/sbatch on PATH)' };
  if (r.code !== 0 || !/is UP/.test(r.stdout)) {
    return {
      ok: false,
      reason: `no Slurm controller answers (scontrol ping: ${(r.stdout + r.stderr).trim().split('\n')[0]})`,
    };
  }
  const s = await run(bin.sbatch ?? 'sbatch', ['--version'], 15_000);
  if (s.code !== 0) return { ok: false, reason: 'sbatch not found' };
  return { ok: true };
}

export class SlurmExecutor implements Executor {
  readonly usage: TaskUsage[] = [];
  private maxArray?: number;
  /** Job ids of the previous step: the next step's jobs depend on them (afterok). */
  private lastJobs: string[] = [];
  private readonly bin: Required<NonNullable<SlurmExecutorOptions['bin']>>;

  constructor(private readonly opts: SlurmExecutorOptions = {}) {
    this.bin = {
      sbatch: opts.bin?.sbatch ?? 'sbatch',
      squeue: opts.bin?.squeue ?? 'squeue',
      scontrol: opts.bin?.scontrol ?? 'scontrol',
      scancel: opts.bin?.scancel ?? 'scancel',
    };
  }

  /** The cluster's MaxArraySize (array indices go up to MaxArraySize - 1). */
  async maxArraySize(): Promise<number> {
    if (this.opts.maxArraySize) return this.opts.maxArraySize;
    if (this.maxArray) return this.maxArray;
    const r = await run(this.bin.scontrol, ['show', 'config']);
    if (r.code !== 0) throw new Error(`scontrol show config failed: ${(r.stderr || r.stdout).trim()}`);
    const m = /^MaxArraySize\s*=\s*(\d+)/m.exec(r.stdout);
    this.maxArray = m ? Number(m[1]) : 1001;
    if (this.maxArray < 1) throw new Error('this cluster has MaxArraySize = 0: job arrays are disabled');
    return this.maxArray;
  }

  private log(line: string, progress?: Progress) {
    if (this.opts.log) this.opts.log(line);
    else if (progress) progress.log(line);
    else if (!this.opts.progress?.quiet) process.stderr.write(line + '\n');
  }

  /** Array tasks still queued or running, as "JOBID_INDEX" keys; undefined when squeue cannot be asked. */
  private async activeTasks(jobIds: string[]): Promise<Set<string> | undefined> {
    const active = new Set<string>();
    if (jobIds.length === 0) return active;
    const r = await run(this.bin.squeue, ['-h', '-r', '-j', jobIds.join(','), '-o', '%F|%K|%T']);
    if (r.code !== 0) {
      // Jobs purged from the controller's memory are reported as invalid: none of them is active.
      if (/Invalid job id/i.test(r.stderr)) return active;
      return undefined;
    }
    for (const line of r.stdout.split('\n')) {
      const [job, idx, state] = line.trim().split('|');
      if (!job || idx === undefined) continue;
      if (
        state &&
        /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|BOOT_FAIL|DEADLINE|PREEMPTED)$/.test(state)
      )
        continue;
      active.add(`${job}_${idx}`);
    }
    return active;
  }

  async runTasks<A, R extends TaskResult>(
    task: Task<string, A, R>,
    args: NoInfer<A>,
    o: RunTasksOptions,
  ): Promise<R[]> {
    const stateDir = resolve(o.stateDir);
    const scan = scanMarkers<R>(stateDir, o.name, o.count);
    const results = scan.results;
    const pending = new Set(scan.pending);
    const dir = join(stateDir, o.name);
    const sdir = join(dir, 'slurm');
    for (const d of [dir, sdir, join(sdir, 'logs'), join(sdir, 'progress'), join(sdir, 'errors')])
      mkdirSync(d, { recursive: true });

    if (pending.size === 0) {
      this.lastJobs = [];
      return results as R[];
    }
    this.lastJobs = this.lastJobs.filter((id) => !stepJobs(join(stateDir, o.name, 'slurm', 'jobs.json')).has(id));

    // Ranks still queued or running from an earlier submission of this step are waited for, not resubmitted.
    const stateFile = join(sdir, 'jobs.json');
    let state: StepState = { submissions: [] };
    if (existsSync(stateFile)) {
      try {
        state = JSON.parse(readFileSync(stateFile, 'utf8')) as StepState;
      } catch {
        state = { submissions: [] };
      }
    }
    const where = new Map<number, { jobId: string; index: number }>();
    const prevActive = await this.activeTasks([...new Set(state.submissions.map((s) => s.jobId))]);
    if (prevActive === undefined) throw new Error(`step "${o.name}": squeue failed; is the Slurm controller up?`);
    for (const s of state.submissions) {
      s.ranks.forEach((rank, index) => {
        if (pending.has(rank) && prevActive.has(`${s.jobId}_${index}`)) where.set(rank, { jobId: s.jobId, index });
      });
    }
    const toSubmit = [...pending].filter((r) => !where.has(r)).sort((a, b) => a - b);

    const progress = new Progress(o.name, o.count, this.opts.progress, o.count - pending.size);
    if (o.count - pending.size > 0) this.log(resumeLine(o.name, o.count, pending.size), progress);
    if (where.size)
      this.log(`[${o.name}] ${where.size} task(s) still queued or running from an earlier submission`, progress);

    const submitted: string[] = [];
    try {
      if (toSubmit.length) {
        const specFile = join(sdir, 'spec.json');
        const step: SlurmStepSpec = { task: task.name, args, name: o.name, stateDir, world: o.count };
        writeFileAtomic(specFile, JSON.stringify(step, null, 1) + '\n');
        const max = await this.maxArraySize();
        const worker = this.opts.worker ?? WORKER_ENTRY;
        const chunks = chunkRanks(toSubmit, max);
        const seq = state.submissions.length;
        // The previous step's jobs must have succeeded (they have, since we waited; this guards reordering).
        const dep = this.lastJobs.length
          ? [`--dependency=afterok:${this.lastJobs.join(':')}`, '--kill-on-invalid-dep=yes']
          : [];
        for (const [ci, ranks] of chunks.entries()) {
          const tag = String(seq + ci).padStart(4, '0');
          const ranksFile = join(sdir, `ranks-${tag}.json`);
          writeFileAtomic(ranksFile, JSON.stringify(ranks) + '\n');
          const script = join(sdir, `job-${tag}.sbatch`);
          writeFileAtomic(
            script,
            buildJobScript({
              step: o.name,
              cwd: process.cwd(),
              node: this.opts.node ?? process.execPath,
              ...nodeEntry(worker),
              specFile,
              ranksFile,
              env: this.opts.env,
            }),
          );
          const args = [
            '--parsable',
            `--array=0-${ranks.length - 1}${this.opts.throttle ? `%${this.opts.throttle}` : ''}`,
            `--job-name=${this.opts.jobPrefix ?? 'steel'}-${o.name.replace(/[^\w.+-]/g, '_')}`,
            `--output=${slurmPathPattern(join(sdir, 'logs'))}/%A_%a.out`,
            '--open-mode=append',
            '--ntasks=1',
            ...(this.opts.cpusPerTask ? [`--cpus-per-task=${this.opts.cpusPerTask}`] : []),
            ...(this.opts.mem ? [`--mem=${this.opts.mem}`] : []),
            ...(this.opts.time ? [`--time=${this.opts.time}`] : []),
            ...(this.opts.partition ? [`--partition=${this.opts.partition}`] : []),
            ...(this.opts.account ? [`--account=${this.opts.account}`] : []),
            ...(this.opts.qos ? [`--qos=${this.opts.qos}`] : []),
            ...dep,
            ...(this.opts.sbatchArgs ?? []),
            script,
          ];
          const r = await run(this.bin.sbatch, args);
          const jobId = r.stdout.trim().split(';')[0]!;
          if (r.code !== 0 || !/^\d+$/.test(jobId)) {
            throw new Error(`step "${o.name}": sbatch failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
          }
          submitted.push(jobId);
          ranks.forEach((rank, index) => where.set(rank, { jobId, index }));
          state.submissions.push({ jobId, ranks, time: new Date().toISOString() });
          writeFileAtomic(stateFile, JSON.stringify(state, null, 1) + '\n');
        }
        this.log(
          `[${o.name}] submitted ${toSubmit.length} task(s) as job array${chunks.length > 1 ? `s ${submitted.join(', ')} (${chunks.length} chunks of ≤ ${max})` : ` ${submitted[0]}`}` +
            (dep.length ? `, after ${this.lastJobs.join(', ')}` : ''),
          progress,
        );
      }

      // Wait: a rank is done when its marker exists; failed when its array task left the queue without one.
      const failures: TaskFailure[] = [];
      const pollMs = this.opts.pollMs ?? setting('slurmPollMs')!;
      let squeueErrors = 0;
      const waiting = new Set(pending);
      while (waiting.size) {
        const active = await this.activeTasks([...new Set([...waiting].map((r) => where.get(r)!.jobId))]);
        if (active === undefined) {
          if (++squeueErrors > Math.max(12, Math.ceil(120_000 / pollMs)))
            throw new Error(`step "${o.name}": squeue keeps failing`);
        } else squeueErrors = 0;
        for (const rank of [...waiting]) {
          const m = readMarker(markerPath(stateDir, o.name, rank));
          const w = where.get(rank)!;
          if (m) {
            results[rank] = m.stats as R;
            this.usage.push(usageOf(m, false));
            waiting.delete(rank);
            progress.taskFinished(rank);
          } else if (active && !active.has(`${w.jobId}_${w.index}`)) {
            waiting.delete(rank);
            failures.push({ rank, message: this.describeFailure(sdir, rank, w) });
          } else {
            const p = join(sdir, 'progress', `${rank}.json`);
            if (existsSync(p)) {
              try {
                const { done, total } = JSON.parse(readFileSync(p, 'utf8')) as { done: number; total?: number };
                progress.update(rank, done, total);
              } catch {
                /* being rewritten */
              }
            }
          }
        }
        if (waiting.size) await new Promise((r) => setTimeout(r, pollMs));
      }
      for (const f of failures) this.log(`[${o.name} ${f.rank}/${o.count}] FAILED: ${f.message}`, progress);
      // A failed step is resubmitted on its own: nothing may depend on its failed jobs.
      this.lastJobs = failures.length
        ? []
        : submitted.length
          ? submitted
          : [...new Set([...where.values()].map((w) => w.jobId))];
      if (failures.length) throw new TaskFailedError(o.name, failures, o.count);
      return results as R[];
    } finally {
      progress.stop();
    }
  }

  private describeFailure(sdir: string, rank: number, w: { jobId: string; index: number }): string {
    const errFile = join(sdir, 'errors', `${rank}.txt`);
    const log = join(sdir, 'logs', `${w.jobId}_${w.index}.out`);
    if (existsSync(errFile)) {
      const first = readFileSync(errFile, 'utf8').split('\n')[0];
      return `${first} (job ${w.jobId}_${w.index}, log ${log})`;
    }
    if (!existsSync(log)) {
      return `array task ${w.jobId}_${w.index} left the queue without running (cancelled, or its dependency failed; see scontrol show job ${w.jobId})`;
    }
    let tail = '';
    {
      const text = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-3).join(' | ');
      tail = text ? `; last log lines: ${text.slice(-400)}` : '';
    }
    return `array task ${w.jobId}_${w.index} ended without a completion marker (killed, cancelled, out of memory or time limit?); log ${log}${tail}`;
  }
}

/** The factory `steel prep --executor slurm` uses. Options default from STEEL_SLURM_* variables. */
export function createSlurmExecutor(opts: SlurmExecutorOptions = {}): SlurmExecutor {
  return new SlurmExecutor({ ...slurmOptionsFromEnv(), ...opts });
}
