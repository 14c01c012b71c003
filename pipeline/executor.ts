import type { ChildProcess } from 'node:child_process';
import { mkdirSync, appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executor, RunTasksOptions, TaskUsage } from './executor-types.ts';
import { resumeLine, runOneTask, scanMarkers, TaskFailedError, usageOf, type TaskFailure } from './markers.ts';
import { nodeEntry } from './node-entry.ts';
import { Progress, type ProgressOptions } from './progress.ts';
import type { Task, TaskContext, TaskResult } from './task.ts';
import { claimFile, type FromWorker, type ToWorker } from './worker.ts';
import { setting, settingName } from './settings.ts';

export { markerPath, readMarker, TaskFailedError, type TaskFailure, type TaskMarker } from './markers.ts';

export interface LocalExecutorOptions {
  /**
   * Where tasks run: "auto" (default) in this process and `workers - 1` worker processes, "always" all in this
   * process, "never" all in `workers` worker processes (as env STEEL_EXECUTOR=process).
   */
  inProcess?: 'auto' | 'always' | 'never';
  /** Progress display options (unit, quiet...). */
  progress?: ProgressOptions;
  /** Also called for every task log line (besides stderr and the step's log file). */
  onLog?: (rank: number, message: string) => void;
  /** Worker entry module (default WORKER_ENTRY); tests pass one whose registry holds their fixture tasks. */
  worker?: string;
}

/**
 * The one worker entry of local worker processes and Slurm array tasks: the composition root's module that imports
 * the task registry (cli/tasks.ts) and calls runWorker (pipeline/worker.ts). Executors start it by path; pipeline/
 * never imports it. It is named by its .ts source; nodeEntry (pipeline/node-entry.ts) starts the compiled .js beside
 * it when this code runs from dist/, else the source through tsx.
 */
export const WORKER_ENTRY = fileURLToPath(new URL('../cli/worker.ts', import.meta.url));

/**
 * Runs the tasks of a step on this machine in `workers` lanes: this process and `workers - 1` child processes (the
 * worker entry WORKER_ENTRY, started as nodeEntry says), each taking the next pending rank (a child is sent task name +
 * args; the largest first when the caller gives sizes, this process taking the first) until none is left; with one
 * worker, all in this process, in rank order. This process answers its children between the awaits of the task it
 * runs. A rank with a completion marker is skipped. A failing task is reported with its rank and message, a child
 * that dies fails the rank it ran; the others still run, then runTasks throws TaskFailedError.
 */
export class LocalExecutor implements Executor {
  readonly usage: TaskUsage[] = [];
  /**
   * Worker processes a finished step left idle: the next step reuses them, so a run pays a worker's start-up (module
   * loading) once, not once per step (MinHash dedup alone runs a dozen steps), while this process's environment is the
   * one they were started with. Idle workers do not keep this process alive (unref'd), and exit when it does (their
   * IPC channel closes).
   */
  private readonly idle: ChildProcess[] = [];
  /** The environment each worker process was started with (JSON). */
  private readonly envOf = new WeakMap<ChildProcess, string>();
  constructor(private readonly opts: LocalExecutorOptions = {}) {}

  /** Workers being started by prestart (awaited before a step takes its workers). */
  private starting: Promise<void> | undefined;
  /** close() was called: a prestart still loading node:child_process starts nothing. */
  private closed = false;

  /**
   * Starts now the worker processes a run of `workers` lanes will use (workers − 1 beside this process, or `workers`
   * when every task runs in a child), idle until its first step with tasks for them: their start-up (node and the
   * worker entry's modules, ~0.14 s on a GPU host's core) then overlaps this process's own start and planning instead
   * of delaying the first child's first task. Nothing with one lane, or when workers were started already. Idle
   * workers go as any do: taken by the next step, replaced if this process's environment changed, sent away by
   * close(). Workers cli/steel.js started earlier (adoptWorkers) are taken first. At most PRESTART_MAX: before the
   * plan nobody knows how many lanes its steps will use (a small input on a many-core machine uses few), and a step
   * starts the others as it needs them. Resolves to the idle workers' pids.
   */
  prestart(workers: number): Promise<number[]> {
    const mode = this.mode();
    const n = Math.min(PRESTART_MAX, mode === 'always' ? 0 : mode === 'never' ? workers : workers - 1);
    if (n < 1 || this.starting) return Promise.resolve([]);
    // workers cli/steel.js started before it loaded this code, when they run this executor's worker entry
    const entry = nodeEntry(this.opts.worker ?? WORKER_ENTRY);
    const args = JSON.stringify([...entry.execArgv, entry.file]);
    for (const { child: c, env } of startedEarly.splice(0)) {
      if (this.idle.length >= n || JSON.stringify(c.spawnargs.slice(1)) !== args || !c.connected) {
        if (c.connected) c.send({ type: 'exit' } satisfies ToWorker);
        continue;
      }
      this.watch(c, JSON.stringify(env));
      this.idle.push(c);
    }
    const started = import('node:child_process').then(({ fork }) => {
      if (this.closed) return [];
      const env = workerEnv();
      const cs = Array.from({ length: n - this.idle.length }, () =>
        this.forkWorker(fork, env, JSON.stringify(env), false),
      );
      this.idle.push(...cs);
      return this.idle.map((c) => c.pid!);
    });
    this.starting = started.then(() => undefined);
    return started;
  }

  /** Where tasks run (LocalExecutorOptions.inProcess; env STEEL_EXECUTOR=process: never here). */
  private mode(): 'auto' | 'always' | 'never' {
    return setting('executor') === 'process' ? 'never' : (this.opts.inProcess ?? 'auto');
  }

  /**
   * A new worker process (the worker entry, `env`); `held`: kept referenced (a step's), else unref'd as an idle one.
   * It leaves the idle list when it exits.
   */
  private forkWorker(
    fork: typeof import('node:child_process').fork,
    env: NodeJS.ProcessEnv,
    envKey: string,
    held: boolean,
  ): ChildProcess {
    const entry = nodeEntry(this.opts.worker ?? WORKER_ENTRY);
    const c = fork(entry.file, [], {
      execArgv: entry.execArgv,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.watch(c, envKey);
    if (!held) {
      c.unref();
      (c.channel as { unref?(): void } | undefined)?.unref?.();
    }
    return c;
  }

  /** A worker process of this executor, started with the environment `envKey` (JSON): it leaves the idle list at exit. */
  private watch(c: ChildProcess, envKey: string): void {
    this.envOf.set(c, envKey);
    c.on('exit', () => {
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    });
  }

  /** The exits of the worker processes close() sent away. */
  private readonly exits: Promise<void>[] = [];

  /**
   * Let the idle worker processes exit now (waited for: held again, so this process reaps them and counts their CPU).
   * Resolves when every worker process sent away by this or an earlier call has exited and been reaped: a caller
   * that ends its process with process.exit() awaits it first (cli/steel.js after a prep).
   */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) {
      if (!c.connected) continue;
      c.ref();
      if (c.exitCode === null && c.signalCode === null)
        this.exits.push(new Promise<void>((resolve) => c.once('exit', () => resolve())));
      c.send({ type: 'exit' } satisfies ToWorker);
    }
    return Promise.all(this.exits).then(() => undefined);
  }

  /**
   * Executor.release: the idle workers exit now (close()), unless every task runs in a worker process (the next
   * one-lane step would then start a new one).
   */
  release(): void {
    if (this.mode() !== 'never') void this.close();
  }

  async runTasks<A, R extends TaskResult>(
    task: Task<string, A, R>,
    args: NoInfer<A>,
    o: RunTasksOptions,
  ): Promise<R[]> {
    const { results, pending } = scanMarkers<R>(o.stateDir, o.name, o.count);
    // several workers: largest first (by the caller's estimate; ties in rank order), so the last task to finish is a
    // small one; one worker runs them in rank order (the order gives it nothing, and keeps the order V8 sees the text)
    const sizes = o.sizes;
    if (sizes && (o.workers || 1) > 1) pending.sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0) || a - b);
    const dir = join(o.stateDir, o.name);
    mkdirSync(dir, { recursive: true });
    const progress = new Progress(o.name, o.count, this.opts.progress, o.count - pending.length);
    if (o.count - pending.length > 0 && pending.length > 0) {
      progress.log(resumeLine(o.name, o.count, pending.length));
    }
    const logFile = join(dir, 'tasks.log');
    /** A task's log line: tasks.log, onLog and the progress display (`fileOnly`: tasks.log only). */
    const log = (rank: number, message: string, detail?: string, fileOnly = false) => {
      const line = `[${o.name} ${rank}/${o.count}] ${message}`;
      try {
        appendFileSync(
          logFile,
          `${new Date().toISOString()} ${line}\n${detail ? detail.replace(/^/gm, '    ') + '\n' : ''}`,
        );
      } catch {
        /* logging must never fail a task */
      }
      if (fileOnly) return;
      this.opts.onLog?.(rank, message);
      progress.log(line);
    };
    const failures: TaskFailure[] = [];
    const lanes = Math.max(1, Math.min(o.workers || 1, pending.length));
    const mode = this.mode();
    // this process is one of the lanes, beside lanes - 1 child processes (with one lane, the only one: no child), so
    // a run of N workers is N processes; 'never' runs every task in a child, 'always' every task here
    const here = mode !== 'never';
    const children = mode === 'always' ? 0 : here ? lanes - 1 : lanes;
    const queue = [...pending];
    const many = (o.workers || 1) > 1;
    const pick = picker(queue, many ? o.kinds : undefined, many ? o.prefer : undefined);
    /** This process's lane (the kind of its tasks set by its first). */
    const mine: Affinity = { pid: process.pid };
    // the ranks sent to each child and not yet answered; a rank a child has not started may be taken back (claims)
    const claims = new Claims(join(dir, 'claims'));
    try {
      if (pending.length === 0) return results as R[];
      if (children) await this.starting;
      const fork = children ? (await import('node:child_process')).fork : undefined;
      if (fork) claims.reset();
      // this process takes the first (largest) task before the children are sent theirs: it is ready now, a new
      // child is still starting
      const first = here ? pick.take(mine) : undefined;
      const pool =
        fork && this.runPool(fork, task.name, args, o, pick, claims, children, results, failures, progress, log);
      // this lane's next task: the largest left, as if the lanes took their tasks when they start them. A task sent
      // ahead to a busy child (taken from the queue before the queue's head) is taken back and run here, the child
      // being sent the queue's head in its place; with the queue empty, any task a child has not started. So this lane
      // neither waits while a child still has two tasks to run nor leaves it the larger one.
      const nextHere = (): number | undefined => {
        const back = claims.takeBack(undefined, queue.length > 0, (r) => pick.before(r, mine));
        if (!back) return pick.take(mine);
        log(back.rank, 'taken back from a worker process that had not started it: run here', undefined, true);
        back.lane.refill();
        return back.rank;
      };
      for (let rank = first; rank !== undefined; rank = nextHere()) {
        const r = rank;
        const ctx: TaskContext = {
          rank: r,
          world: o.count,
          log: (m) => log(r, m),
          progress: (d, t) => progress.update(r, d, t),
        };
        try {
          const marker = await runOneTask(task, args, o.name, o.stateDir, r, o.count, ctx);
          results[r] = marker.stats;
          this.usage.push(usageOf(marker, true));
          progress.taskFinished(r);
        } catch (e) {
          const err = e as Error;
          failures.push({ rank: r, message: err?.message ?? String(e), stack: err?.stack });
          log(r, `FAILED: ${err?.message ?? String(e)}`, err?.stack);
        }
      }
      await pool;
    } finally {
      progress.stop();
      claims.remove();
    }
    if (failures.length) throw new TaskFailedError(o.name, failures, o.count);
    return results as R[];
  }

  /**
   * Runs ranks taken from `queue` in `workers` worker processes until it is empty, while this process may take ranks
   * from it too. `fork` is node:child_process's, loaded by the caller only when a step needs a child.
   */
  private runPool<R>(
    fork: typeof import('node:child_process').fork,
    task: string,
    args: unknown,
    o: RunTasksOptions,
    pick: Picker,
    claims: Claims,
    workers: number,
    results: (R | undefined)[],
    failures: TaskFailure[],
    progress: Progress,
    log: (rank: number, message: string, detail?: string, fileOnly?: boolean) => void,
  ): Promise<void> {
    const queue = pick.queue;
    return new Promise<void>((resolve) => {
      let alive = 0;
      /** An idle worker of an earlier step (or started by prestart), or a new one. */
      const env = workerEnv();
      const envKey = JSON.stringify(env);
      const take = (): ChildProcess => {
        for (let c = this.idle.pop(); c; c = this.idle.pop()) {
          if (!c.connected || c.exitCode !== null || c.signalCode !== null) continue;
          c.ref();
          (c.channel as { ref?(): void } | undefined)?.ref?.();
          // a worker started with another environment (settings, test hooks) is not reused
          if (this.envOf.get(c) !== envKey) {
            c.send({ type: 'exit' } satisfies ToWorker);
            continue;
          }
          return c;
        }
        return this.forkWorker(fork, env, envKey, true);
      };
      const spawn = () => {
        const child = take();
        alive++;
        /**
         * The ranks sent to this child and not yet answered, in the order it runs them: the first is running, a second
         * waits in the child (sent ahead, while the queue holds more than one, so that the child's next task does not
         * wait for this process's answer when this process is busy with a task of its own).
         */
        const own: Affinity = { pid: child.pid };
        const sent = claims.lane(() => {
          if (queue.length) send(pick.take(own)!);
        });
        /** `claimed`: a rank taken back from another child (its claim made here), which this child runs unclaimed. */
        const send = (rank: number, claimed = false) => {
          sent.ranks.push(rank);
          child.send({
            type: 'task',
            task,
            args,
            rank,
            world: o.count,
            name: o.name,
            stateDir: o.stateDir,
            ...(claimed ? {} : { claim: claims.path(rank) }),
          } satisfies ToWorker);
        };
        /**
         * `rank` answered (done, failed, or skipped: taken back before it started): send the next (from the queue, else
         * a rank another child has not started), or release the child when nothing is left for it.
         */
        const next = (rank?: number) => {
          if (rank !== undefined) sent.answered(rank);
          if (sent.ranks.length === 0 && queue.length) send(pick.take(own)!);
          if (sent.ranks.length === 1 && queue.length > 1) send(pick.take(own)!);
          if (sent.ranks.length === 0) {
            const other = claims.takeBack(sent);
            if (other) {
              log(
                other.rank,
                `taken back from the worker process that had not started it: sent to ${child.pid}`,
                undefined,
                true,
              );
              send(other.rank, true);
            }
          }
          if (sent.ranks.length === 0) release();
        };
        const onMessage = (msg: FromWorker) => {
          switch (msg.type) {
            case 'log':
              log(msg.rank, msg.message);
              break;
            case 'progress':
              progress.update(msg.rank, msg.done, msg.total);
              break;
            case 'done':
              results[msg.rank] = msg.marker.stats as R;
              this.usage.push(usageOf(msg.marker, false));
              progress.taskFinished(msg.rank);
              next(msg.rank);
              break;
            case 'error':
              failures.push({ rank: msg.rank, message: msg.message, stack: msg.stack });
              log(msg.rank, `FAILED: ${msg.message} (stack in tasks.log)`, msg.stack);
              next(msg.rank);
              break;
            case 'skipped':
              next(msg.rank);
              break;
          }
        };
        let finished = false;
        const onGone = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
          if (finished) return;
          finished = true;
          alive--;
          // the ranks it had and that were not taken back: the first was running, the others never started and go back
          // to the front of the queue (unclaimed: a rank taken back for this child loses the claim made for it)
          const [current, ...rest] = sent.close();
          claims.unclaim(rest);
          if (current !== undefined) {
            const why = err ? err.message : signal ? `signal ${signal}` : `exit code ${code}`;
            const message = `worker process ${child.pid} died while running the task (${why})`;
            failures.push({ rank: current, message });
            log(current, `FAILED: ${message}`);
            queue.unshift(...rest);
            if (queue.length) spawn();
          }
          if (alive === 0) resolve();
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => onGone(code, signal);
        const onError = (err: Error) => onGone(null, null, err);
        /** This step is done with the worker: back to the idle pool for the next step. */
        const release = () => {
          sent.close();
          child.off('message', onMessage);
          child.off('exit', onExit);
          child.off('error', onError);
          finished = true;
          alive--;
          child.unref();
          (child.channel as { unref?(): void } | undefined)?.unref?.();
          this.idle.push(child);
          if (alive === 0) resolve();
        };
        child.on('message', onMessage);
        child.on('exit', onExit);
        child.on('error', onError);
        next();
      };
      for (let i = 0; i < workers; i++) spawn();
    });
  }
}

/**
 * The most worker processes LocalExecutor.prestart starts before a run's plan (cli/prep-workers.mjs' startPrepWorkers
 * starts as many at most): each costs ~0.25 CPU-s and its memory even if the run turns out to need fewer lanes.
 */
export const PRESTART_MAX = 7;

/** Worker processes started before this module was loaded (adoptWorkers), for the next LocalExecutor.prestart. */
const startedEarly: { child: ChildProcess; env: NodeJS.ProcessEnv }[] = [];

/**
 * Worker processes cli/steel.js started (cli/prep-workers.mjs startPrepWorkers) before it loaded the bundle, with the
 * environment each was started with: the next LocalExecutor.prestart takes them as its idle workers (those that run
 * its worker entry, as many as it wants; the others are sent away), and a step replaces one whose environment is not
 * this process's now. Unref'd: not adopted, they go when this process does.
 */
export function adoptWorkers(workers: readonly { child: ChildProcess; env: NodeJS.ProcessEnv }[]): void {
  startedEarly.push(...workers);
}

/** The environment of a worker process: this process's, marked as a worker's. */
function workerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, [settingName('worker')]: '1' };
}

/**
 * The ranks a step sent to its child processes, and their claims: a child claims a rank (creates `path(rank)`, O_EXCL)
 * just before it starts it; a rank a child has been sent but has not claimed yet (one sent ahead, waiting behind the
 * child's running task) may be taken back by claiming it here, for this process's lane or another child; the child
 * then answers `skipped` for it. A claim is an empty file in the step's folder, removed with the folder's `claims/`
 * when the step ends: it orders this run's lanes only (a completion marker records a task's result).
 */
class Claims {
  private readonly lanes = new Set<Lane>();
  private made = false;
  constructor(readonly dir: string) {}
  /** A fresh folder for this run of the step (claims of an earlier, killed run are dropped). */
  reset(): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.made = true;
  }
  remove(): void {
    if (this.made) rmSync(this.dir, { recursive: true, force: true });
  }
  /** Ranks going back to the queue: the claims made here for them (taken back for a child that died) are removed. */
  unclaim(ranks: readonly number[]): void {
    for (const r of ranks) rmSync(this.path(r), { force: true });
  }
  path(rank: number): string {
    return join(this.dir, String(rank));
  }
  /** The ranks of one child, for this step; `refill` sends it the queue's head (when a rank was taken back). */
  lane(refill: () => void): Lane {
    const l = new Lane(this.lanes, refill);
    this.lanes.add(l);
    return l;
  }
  /**
   * A rank sent to a child (other than `except`) that it has not started, now claimed here (the child will skip it),
   * and its lane; the last sent first (it would run last). `aheadOnly`: only a rank waiting behind another (the one
   * the child runs or is about to); `wanted`: only a rank it accepts. undefined when every such rank is claimed
   * (running or done) or not wanted.
   */
  takeBack(
    except?: Lane,
    aheadOnly = false,
    wanted: (rank: number) => boolean = () => true,
  ): { rank: number; lane: Lane } | undefined {
    for (const lane of this.lanes) {
      if (lane === except) continue;
      for (let i = lane.ranks.length - 1; i >= (aheadOnly ? 1 : 0); i--) {
        const rank = lane.ranks[i]!;
        if (lane.taken.has(rank) || !wanted(rank) || !claimFile(this.path(rank))) continue;
        lane.taken.add(rank);
        return { rank, lane };
      }
    }
    return undefined;
  }
}

/**
 * One child's ranks in a step: sent and not answered, in the order it runs them (a rank taken back stays until the
 * child answers `skipped` for it); `taken`: those taken back from it.
 */
class Lane {
  readonly ranks: number[] = [];
  readonly taken = new Set<number>();
  constructor(
    private readonly of: Set<Lane>,
    readonly refill: () => void,
  ) {}
  answered(rank: number): void {
    const i = this.ranks.indexOf(rank);
    if (i >= 0) this.ranks.splice(i, 1);
    this.taken.delete(rank);
  }
  /** The child is done with the step (released, or dead): its ranks not taken back, in order. */
  close(): number[] {
    this.of.delete(this);
    return this.ranks.splice(0).filter((r) => !this.taken.has(r));
  }
}

/** One lane: the kind of tasks it runs (undefined until its first task) and its process. */
interface Affinity {
  kind?: number;
  pid?: number;
}

/** How the lanes take their tasks from the queue (pending ranks, the largest first). */
interface Picker {
  readonly queue: number[];
  /** The next task of a lane (removed from the queue; the lane's kind set by it); undefined when none is left. */
  take(lane: Affinity): number | undefined;
  /**
   * Whether `rank` (sent ahead to another lane) comes before what `take` would give this lane: with no kinds, always
   * (a rank sent ahead was taken from the queue before its head); with kinds, when it is of the lane's kind, or
   * neither it nor the queue has one of that kind.
   */
  before(rank: number, lane: Affinity): boolean;
}

/**
 * The queue's order (largest first), with `kinds` (RunTasksOptions.kinds): a lane takes the first task of its kind;
 * a lane's first task is the first of a kind no other lane has, when there is one; with none of its kind left, the
 * queue's head (and the lane's kind becomes that task's). With `prefer` (RunTasksOptions.prefer, instead of kinds): a
 * lane takes the first task that prefers its process, else the queue's head.
 */
function picker(queue: number[], kinds: number[] | undefined, prefer?: (number | undefined)[]): Picker {
  if (prefer) {
    const mine = (r: number, lane: Affinity) => lane.pid !== undefined && prefer[r] === lane.pid;
    return {
      queue,
      take(lane) {
        const [r] = queue.splice(
          Math.max(
            0,
            queue.findIndex((q) => mine(q, lane)),
          ),
          1,
        );
        return r;
      },
      before: (rank, lane) => mine(rank, lane) || !queue.some((r) => mine(r, lane)),
    };
  }
  if (!kinds) return { queue, take: () => queue.shift(), before: () => true };
  const lanes = new Set<Affinity>();
  const own = (r: number, lane: Affinity) => (kinds[r] ?? 0) === lane.kind;
  return {
    queue,
    take(lane) {
      lanes.add(lane);
      const held = lane.kind === undefined ? new Set([...lanes].map((l) => l.kind)) : undefined;
      const i = queue.findIndex((r) => (held ? !held.has(kinds[r] ?? 0) : own(r, lane)));
      const [r] = queue.splice(Math.max(0, i), 1);
      if (r !== undefined) lane.kind = kinds[r] ?? 0;
      return r;
    },
    before(rank, lane) {
      return lane.kind === undefined || own(rank, lane) || !queue.some((r) => own(r, lane));
    },
  };
}
