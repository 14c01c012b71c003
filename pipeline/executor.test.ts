import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adoptWorkers, LocalExecutor, TaskFailedError, readMarker, markerPath } from './executor.ts';
import { defineTask, lazyTasks, loadTask, taskRegistry } from './task.ts';
import { squareTask, testTasks, unregisteredTask } from './test-fixtures/executor-tasks.ts';
import { tmpDir } from './test-fixtures/tmp-dir.ts';
import { nodeEntry } from './node-entry.ts';

/** The fixture worker entry: its registry holds the test tasks only. */
const worker = fileURLToPath(new URL('./test-fixtures/worker.ts', import.meta.url));
const quiet = { progress: { quiet: true }, worker };

function runs(dir: string): number[] {
  const p = join(dir, 'runs.txt');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .trim()
    .split('\n')
    .map(Number)
    .sort((a, b) => a - b);
}

/** Whether a process answers signal 0 (a pid that exited but is not reaped yet still does). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('multi-process: runs every rank in worker processes, writes markers, returns stats in rank order', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor({ ...quiet, inProcess: 'never' });
  const stats = await ex.runTasks(
    squareTask,
    { dir },
    { name: 'sq', stateDir: join(dir, 'state'), count: 5, workers: 2 },
  );
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9, 16],
  );
  assert.ok(stats.every((s) => s.world === 5));
  const pids = new Set(stats.map((s) => s.pid));
  assert.ok(!pids.has(process.pid), 'tasks must run in child processes');
  assert.ok(pids.size >= 1 && pids.size <= 2);
  for (let r = 0; r < 5; r++) {
    const m = readMarker(markerPath(join(dir, 'state'), 'sq', r));
    assert.equal(m?.rank, r);
    assert.equal(m?.stats.square, r * r);
  }
  assert.deepEqual(runs(dir), [0, 1, 2, 3, 4]);
  // no temp files left next to the markers
  assert.ok(readdirSync(join(dir, 'state', 'sq')).every((n) => !n.endsWith('.tmp')));
  // the task log has the lines
  assert.match(readFileSync(join(dir, 'state', 'sq', 'tasks.log'), 'utf8'), /hello from 3/);

  // a rerun skips every rank with a marker (even with an arg that would make rank 1 fail)
  const again = await ex.runTasks(
    squareTask,
    { dir, failRank: 1 },
    { name: 'sq', stateDir: join(dir, 'state'), count: 5, workers: 2 },
  );
  assert.deepEqual(
    again.map((s) => s.square),
    [0, 1, 4, 9, 16],
  );
  assert.deepEqual(runs(dir), [0, 1, 2, 3, 4]);

  // markers from a different task count are refused
  await assert.rejects(
    ex.runTasks(squareTask, { dir }, { name: 'sq', stateDir: join(dir, 'state'), count: 3, workers: 2 }),
    /markers of a run with 5 tasks/,
  );
});

test('a failing task is reported with rank and message after the others finish; a rerun redoes only it', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor({ ...quiet, inProcess: 'never' });
  const opts = { name: 'f', stateDir: join(dir, 'state'), count: 4, workers: 2 };
  await assert.rejects(ex.runTasks(squareTask, { dir, failRank: 2 }, opts), (e: unknown) => {
    assert.ok(e instanceof TaskFailedError);
    assert.match(e.message, /1 of 4 task\(s\) failed/);
    assert.match(e.message, /rank 2: boom in rank 2/);
    return true;
  });
  assert.deepEqual(runs(dir), [0, 1, 2, 3]);
  assert.equal(readMarker(markerPath(opts.stateDir, 'f', 2)), undefined);
  for (const r of [0, 1, 3]) assert.ok(readMarker(markerPath(opts.stateDir, 'f', r)));
  const stats = await ex.runTasks(squareTask, { dir }, opts);
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9],
  );
  assert.deepEqual(runs(dir), [0, 1, 2, 2, 3]);
});

test('a worker process that dies fails its task clearly; remaining tasks still run on a fresh worker', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor({ ...quiet, inProcess: 'never' });
  const opts = { name: 'd', stateDir: join(dir, 'state'), count: 4, workers: 1 };
  await assert.rejects(
    ex.runTasks(squareTask, { dir, dieRank: 1 }, opts),
    /rank 1: worker process \d+ died while running the task \(exit code 3\)/,
  );
  for (const r of [0, 2, 3]) assert.ok(readMarker(markerPath(opts.stateDir, 'd', r)), `rank ${r} marker`);
  const stats = await ex.runTasks(squareTask, { dir }, opts);
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9],
  );
});

test('workers=1 runs in-process by default, with the same markers', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  const stats = await ex.runTasks(
    squareTask,
    { dir },
    { name: 'ip', stateDir: join(dir, 'state'), count: 3, workers: 1 },
  );
  assert.deepEqual(
    stats.map((s) => s.pid),
    [process.pid, process.pid, process.pid],
  );
  assert.equal(readMarker(markerPath(join(dir, 'state'), 'ip', 2))?.stats.square, 4);
});

test('a worker asked for a task its registry lacks fails that rank by name', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor({ ...quiet, inProcess: 'never' });
  await assert.rejects(
    ex.runTasks(unregisteredTask, undefined, { name: 'u', stateDir: join(dir, 'state'), count: 1, workers: 1 }),
    /rank 0: unknown task "test.unregistered" \(this worker's registry has: test.square\)/,
  );
});

test('task definitions: names are area.task, unique in a registry; loadTask finds them by name', async () => {
  assert.throws(() => defineTask('Square', async () => ({})), /must look like "area.task"/);
  assert.throws(
    () => taskRegistry([squareTask, defineTask('test.square', async () => ({}))]),
    /task "test.square" is defined twice/,
  );
  assert.equal(await loadTask(testTasks, 'test.square'), squareTask);
  assert.equal((await testTasks['test.square']()).name, 'test.square');
  await assert.rejects(loadTask(testTasks, 'toString'), /unknown task "toString"/);
  // a lazy registry loads a task when it is first asked for, and only that one
  const loaded: string[] = [];
  const lazy = lazyTasks({
    'test.square': async () => (loaded.push('test.square'), squareTask),
    'test.unregistered': async () => (loaded.push('test.unregistered'), unregisteredTask),
  });
  assert.deepEqual(loaded, []);
  assert.equal(await loadTask(lazy, 'test.square'), squareTask);
  assert.deepEqual(loaded, ['test.square']);
  // a loader filed under another task's name (the types reject it; a registry built without them fails at run time)
  const wrong: Record<string, () => Promise<typeof squareTask>> = { 'test.other': async () => squareTask };
  await assert.rejects(loadTask(wrong, 'test.other'), /the loader of "test.other" yields task "test.square"/);
});

test('sizes: with several workers the largest pending ranks start first; one worker keeps rank order; results in rank order', async () => {
  const sizes = [1, 50, 3, 50, 20];
  // ('always' with 2 workers runs the ranks one after the other in this process, in the order the pool takes them)
  for (const [inProcess, workers] of [
    ['always', 1],
    ['never', 1],
    ['always', 2],
  ] as const) {
    const dir = tmpDir('steel-exec-');
    const ex = new LocalExecutor({ ...quiet, inProcess });
    const stats = await ex.runTasks(
      squareTask,
      { dir },
      { name: 'sq', stateDir: join(dir, 'state'), count: 5, workers, sizes },
    );
    assert.deepEqual(
      stats.map((s) => s.square),
      [0, 1, 4, 9, 16],
    );
    const order = readFileSync(join(dir, 'runs.txt'), 'utf8').trim().split('\n').map(Number);
    if (workers === 1) assert.deepEqual(order, [0, 1, 2, 3, 4], inProcess);
    else assert.deepEqual(order, [1, 3, 4, 2, 0]);
    ex.close();
  }
});

test('auto with 2 workers: this process runs one lane (the largest task first), one child process the other; the child is served while this process runs a task', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  const sizes = [1, 50, 3, 20, 2];
  // rank 1 (the largest: this process's) waits until every rank has started: the child runs the 4 others meanwhile
  const stats = await ex.runTasks(
    squareTask,
    { dir, holdRank: 1 },
    { name: 'lanes', stateDir: join(dir, 'state'), count: 5, workers: 2, sizes },
  );
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9, 16],
  );
  assert.equal(stats[1]!.pid, process.pid);
  const child = stats[0]!.pid;
  assert.notEqual(child, process.pid);
  assert.deepEqual(
    stats.map((s) => s.pid),
    [child, process.pid, child, child, child],
  );
  // the child took the others largest first
  assert.deepEqual(
    readFileSync(join(dir, 'runs.txt'), 'utf8')
      .trim()
      .split('\n')
      .map(Number)
      .filter((r) => r !== 1),
    [3, 2, 4, 0],
  );
  assert.deepEqual(
    ex.usage.map((u) => [u.rank, u.in_process]).sort((a, b) => Number(a[0]) - Number(b[0])),
    [
      [0, false],
      [1, true],
      [2, false],
      [3, false],
      [4, false],
    ],
  );
});

test('auto with 2 workers: a failing task of this process and a child that dies are reported as in a 1-worker and a pool run', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  const sizes = [1, 50, 3, 20, 2];
  const opts = { name: 'mix', stateDir: join(dir, 'state'), count: 5, workers: 2, sizes };
  // rank 1 fails in this process once every rank has started; rank 3, the child's first, kills its process: a fresh
  // child runs 2, 4 and 0
  await assert.rejects(ex.runTasks(squareTask, { dir, holdRank: 1, failRank: 1, dieRank: 3 }, opts), (e: unknown) => {
    assert.ok(e instanceof TaskFailedError);
    assert.match(e.message, /2 of 5 task\(s\) failed/);
    assert.match(e.message, /rank 1: boom in rank 1/);
    assert.match(e.message, /rank 3: worker process \d+ died while running the task \(exit code 3\)/);
    return true;
  });
  for (const r of [0, 2, 4]) assert.ok(readMarker(markerPath(opts.stateDir, 'mix', r)), `rank ${r} marker`);
  // a rerun (resume) runs only the two failed ranks
  const stats = await ex.runTasks(squareTask, { dir }, opts);
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9, 16],
  );
  assert.deepEqual(runs(dir), [0, 1, 1, 2, 3, 3, 4]);
});

test('auto with 2 workers: a task sent ahead to a busy child is taken back and run in this process', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  // this process runs 0; the child is sent 1 and, ahead, 2; 3 is left in the queue. Ranks 1 and 3 wait until rank 2
  // is done: this process, done with 0, takes 2 back (the larger) rather than 3, and the child is sent 3 in its place.
  // Without the take-back rank 2 would wait in the child behind rank 1; taking 3 first, this process would wait too.
  const opts = { name: 'back', stateDir: join(dir, 'state'), count: 4, workers: 2, sizes: [4, 3, 2, 1] };
  const waitFor: [number, number][] = [
    [1, 2],
    [3, 2],
  ];
  const stats = await ex.runTasks(squareTask, { dir, waitFor }, opts);
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9],
  );
  assert.equal(stats[2]!.pid, process.pid);
  assert.equal(stats[0]!.pid, process.pid);
  // every rank ran once (the child skipped the rank taken back), with its marker; the claims are gone
  assert.deepEqual(runs(dir), [0, 1, 2, 3]);
  for (let r = 0; r < 4; r++) assert.equal(readMarker(markerPath(opts.stateDir, 'back', r))?.rank, r);
  assert.ok(!existsSync(join(opts.stateDir, 'back', 'claims')));
  assert.match(readFileSync(join(opts.stateDir, 'back', 'tasks.log'), 'utf8'), /\[back 2\/4\] taken back/);
});

test('worker processes only: a task sent ahead to a busy child is taken back for an idle child', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor({ ...quiet, inProcess: 'never' });
  // child A is sent 0 and, ahead, 1; child B 2 and, ahead, 3, then 4; rank 0 waits until rank 1 is done, which B
  // runs once the queue is empty
  const opts = { name: 'steal', stateDir: join(dir, 'state'), count: 5, workers: 2, sizes: [5, 4, 3, 2, 1] };
  const stats = await ex.runTasks(squareTask, { dir, waitFor: [[0, 1]] }, opts);
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9, 16],
  );
  // rank 1 ran in B (rank 0 too when B took it back before A started it)
  const b = stats[2]!.pid;
  assert.ok(stats.every((s) => s.pid !== process.pid));
  assert.deepEqual(
    stats.slice(1).map((s) => s.pid),
    [b, b, b, b],
  );
  assert.deepEqual(runs(dir), [0, 1, 2, 3, 4]);
});

test('prestart: the workers started before the first step run its tasks; none with one lane; close sends them away', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  assert.deepEqual(await new LocalExecutor(quiet).prestart(1), [], 'one lane: this process only');
  const pids = await ex.prestart(2);
  assert.equal(pids.length, 1, 'auto with 2 workers: one child beside this process');
  assert.deepEqual(await ex.prestart(2), [], 'started once');
  const stats = await ex.runTasks(
    squareTask,
    { dir, holdRank: 0 },
    { name: 'pre', stateDir: join(dir, 'state'), count: 3, workers: 2 },
  );
  // rank 0 (this process's) waits until every rank has started: the child runs the others
  assert.equal(stats[0]!.pid, process.pid);
  assert.deepEqual([stats[1]!.pid, stats[2]!.pid], [pids[0], pids[0]], 'the prestarted worker ran the child lane');
  await ex.close();
  assert.equal(alive(pids[0]!), false, 'close resolves once its worker has exited and been reaped');

  // every task in children: `workers` of them; a close before any step lets them exit, and a later close waits for
  // them too (cli prep closes the executor runPipeline closed)
  const never = new LocalExecutor({ ...quiet, inProcess: 'never' });
  const two = await never.prestart(2);
  assert.equal(two.length, 2);
  void never.close();
  await never.close();
  assert.deepEqual(two.filter(alive), [], 'closed before any step: the prestarted workers exit');
});

test('adoptWorkers: workers started before the executor (cli/steel.js) are its prestarted ones; another entry is sent away', async () => {
  const { fork } = await import('node:child_process');
  const entry = nodeEntry(worker);
  const env = { ...process.env, STEEL_WORKER: '1' };
  const start = (execArgv: string[]) => {
    const child = fork(entry.file, [], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.unref();
    return child;
  };
  const mine = start(entry.execArgv);
  const other = start([...entry.execArgv, '--no-warnings']);
  const otherGone = new Promise((r) => other.once('exit', r));
  adoptWorkers([
    { child: other, env },
    { child: mine, env },
  ]);
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  assert.deepEqual(await ex.prestart(2), [mine.pid], 'the early worker of this entry, no new one');
  const stats = await ex.runTasks(
    squareTask,
    { dir, holdRank: 0 },
    { name: 'early', stateDir: join(dir, 'state'), count: 2, workers: 2 },
  );
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.pid),
    [process.pid, mine.pid],
  );
  other.ref(); // unref'd as cli/steel.js leaves them: held while this test waits for its exit
  await otherGone;
});

test('auto with 2 workers and kinds: the child starts on the kind this process does not run, and keeps to it', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  // this process runs 0 (kind 0) until rank 5 is done; the child takes the first rank of the other kind (2, not the
  // larger 1), then 4 and 5 (kind 1) before any of kind 0. Without kinds it would take 1 first.
  const opts = {
    name: 'kinds',
    stateDir: join(dir, 'state'),
    count: 6,
    workers: 2,
    sizes: [6, 5, 4, 3, 2, 1],
    kinds: [0, 0, 1, 0, 1, 1],
  };
  const stats = await ex.runTasks(squareTask, { dir, waitFor: [[0, 5]] }, opts);
  ex.close();
  assert.deepEqual(
    stats.map((s) => s.square),
    [0, 1, 4, 9, 16, 25],
  );
  const child = stats[2]!.pid;
  assert.notEqual(child, process.pid);
  assert.equal(stats[0]!.pid, process.pid);
  assert.deepEqual([stats[4]!.pid, stats[5]!.pid], [child, child]);
  const order = readFileSync(join(dir, 'runs.txt'), 'utf8').trim().split('\n').map(Number);
  assert.deepEqual(order.filter((r) => r !== 0).slice(0, 3), [2, 4, 5]);
  assert.deepEqual(runs(dir), [0, 1, 2, 3, 4, 5]);
});

const mkdirp = (d: string) => (mkdirSync(d, { recursive: true }), d);

test('auto with 2 workers and prefer: each lane takes first the tasks that prefer its process', async () => {
  const dir = tmpDir('steel-exec-');
  const ex = new LocalExecutor(quiet);
  const step = (name: string, waitFor: [number, number][], prefer?: (number | undefined)[]) =>
    ex.runTasks(
      squareTask,
      { dir: mkdirp(join(dir, name)), waitFor },
      { name, stateDir: join(dir, 'state'), count: 2, workers: 2, sizes: [2, 1], ...(prefer ? { prefer } : {}) },
    );
  // without: this process takes the largest (0) first, and runs it until 1 is done (in the child)
  const plain = await step('plain', [[0, 1]]);
  const child = plain[1]!.pid;
  assert.deepEqual(
    plain.map((s) => s.pid),
    [process.pid, child],
  );
  // rank 0 prefers the child (the same worker, idle since), rank 1 this process: this process runs 1 until 0 is done
  const pref = await step('pref', [[1, 0]], [child, process.pid]);
  ex.close();
  assert.deepEqual(
    pref.map((s) => s.pid),
    [child, process.pid],
  );
});

test('release: the idle workers exit now, unless every task runs in a worker (the next step would start a new one)', async () => {
  const dir = tmpDir('steel-exec-');
  const step = (ex: LocalExecutor, name: string, workers: number) =>
    ex.runTasks(squareTask, { dir }, { name, stateDir: join(dir, 'state'), count: 2, workers });
  const auto = new LocalExecutor(quiet);
  const [pid] = await auto.prestart(2);
  auto.release();
  // it exits (and is reaped) with no close() and no step: the run's next steps use one lane, this process
  for (let i = 0; i < 200 && alive(pid!); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(pid!), false, 'released: gone before the run ends');
  const one = await step(auto, 'after-release', 1);
  assert.deepEqual(
    one.map((s) => s.pid),
    [process.pid, process.pid],
  );
  await auto.close();

  const never = new LocalExecutor({ ...quiet, inProcess: 'never' });
  const first = await step(never, 'never-1', 1);
  never.release();
  const second = await step(never, 'never-2', 1);
  assert.equal(second[0]!.pid, first[0]!.pid, 'the idle worker kept for the next one-lane step');
  await never.close();
});
