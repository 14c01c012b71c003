/**
 * Job side of the Slurm executor: one array task runs the worker entry (cli/worker.ts) as
 *   node [--import tsx] cli/worker.(js|ts) SPEC_FILE RANKS_FILE ARRAY_INDEX   (pipeline/node-entry.ts picks)
 * which calls runSlurmArrayTask: it runs rank RANKS[ARRAY_INDEX] of the step described in SPEC_FILE (task name, args)
 * and writes the same completion marker as the local executor; progress goes to STEP/slurm/progress/RANK.json, an
 * error to STEP/slurm/errors/RANK.txt (and the job log).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.ts';
import { markerPath, readMarker, runOneTask } from '../markers.ts';
import { loadTask, type TaskContext, type TaskLoader } from '../task.ts';
import { testHooks } from '../settings.ts';

/** What the task side reads: written once per step submission. */
export interface SlurmStepSpec {
  /** Registry name of the task. */
  task: string;
  args: unknown;
  name: string;
  stateDir: string;
  world: number;
}

/** Run one Slurm array task; returns the process exit code. */
export async function runSlurmArrayTask(
  registry: Readonly<Record<string, TaskLoader>>,
  argv: string[],
): Promise<number> {
  const [specFile, ranksFile, idxArg] = argv;
  if (!specFile || !ranksFile || idxArg === undefined) {
    console.error(
      'usage: WORKER_ENTRY SPEC_FILE RANKS_FILE ARRAY_INDEX (a Slurm array task; local workers are forked with IPC)',
    );
    return 2;
  }
  const step = JSON.parse(readFileSync(specFile, 'utf8')) as SlurmStepSpec;
  const ranks = JSON.parse(readFileSync(ranksFile, 'utf8')) as number[];
  const rank = ranks[Number(idxArg)];
  if (rank === undefined) {
    console.error(`slurm-task: array index ${idxArg} out of range (${ranks.length} ranks in ${ranksFile})`);
    return 2;
  }
  const { stateDir, name, world } = step;
  const sdir = join(stateDir, name, 'slurm');
  const errFile = join(sdir, 'errors', `${rank}.txt`);
  rmSync(errFile, { force: true });
  if (readMarker(markerPath(stateDir, name, rank))) {
    console.log(`[${name} ${rank}/${world}] already done`);
    return 0;
  }
  const fault = testFault(name, rank);
  let lastProgress = 0;
  const ctx: TaskContext = {
    rank,
    world,
    log: (m) => console.log(`${new Date().toISOString()} [${name} ${rank}/${world}] ${m}`),
    progress: (done, total) => {
      if (fault && done > 0) fault();
      const now = Date.now();
      if (now - lastProgress < 1000 && (total === undefined || done < total)) return;
      lastProgress = now;
      try {
        writeFileAtomic(join(sdir, 'progress', `${rank}.json`), JSON.stringify({ done, total }));
      } catch {
        /* progress must never fail a task */
      }
    },
  };
  console.log(
    `${new Date().toISOString()} [${name} ${rank}/${world}] start on ${process.env.SLURMD_NODENAME ?? 'node'} ` +
      `(job ${process.env.SLURM_ARRAY_JOB_ID}_${process.env.SLURM_ARRAY_TASK_ID})`,
  );
  try {
    const task = await loadTask(registry, step.task);
    const marker = await runOneTask(task, step.args, name, stateDir, rank, world, ctx, fault);
    console.log(`${new Date().toISOString()} [${name} ${rank}/${world}] done in ${marker.seconds.toFixed(1)}s`);
    return 0;
  } catch (e) {
    const err = e as Error;
    const msg = err?.message ?? String(e);
    console.error(`[${name} ${rank}/${world}] FAILED: ${err?.stack ?? msg}`);
    try {
      writeFileAtomic(errFile, `${msg}\n${err?.stack ?? ''}\n`);
    } catch {
      /* the log has it */
    }
    return 1;
  }
}

/**
 * Fault injection for the tests only: when the test hook slurmKillFile (pipeline/settings.ts, injected by the test's
 * worker entry) names an existing file holding "STEP RANK", that task deletes the file (so a resubmission runs
 * normally) and kills itself with SIGKILL in the middle of its work (at its first progress report, or before writing
 * its marker).
 */
function testFault(step: string, rank: number): (() => void) | undefined {
  const f = testHooks().slurmKillFile;
  if (!f || !existsSync(f)) return undefined;
  const [s, r] = readFileSync(f, 'utf8').trim().split(/\s+/);
  if (s !== step || Number(r) !== rank) return undefined;
  return () => {
    rmSync(f, { force: true });
    console.log(`[${step} ${rank}] test fault: killing myself (SIGKILL)`);
    process.kill(process.pid, 'SIGKILL');
  };
}
