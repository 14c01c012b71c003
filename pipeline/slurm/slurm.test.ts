import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalExecutor, markerPath, readMarker, TaskFailedError } from '../executor.ts';
import { runPipeline } from '../runner.ts';
import { operators } from '../../cli/operators.ts';
import { squareTask } from './test-tasks.ts';
import { testHooksEnv } from '../test-fixtures/hooks.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';
import {
  buildJobScript,
  chunkRanks,
  createSlurmExecutor,
  shq,
  slurmAvailable,
  slurmPathPattern,
  type SlurmExecutorOptions,
} from './slurm.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Worker entry of the array tasks: the composition root's registry plus the test task. */
const TEST_WORKER = join(HERE, 'test-worker.ts');
/** A folder name no script may expand: spaces, both quotes, $(...), backticks, ;, &, |, *, %, a newline. */
const NASTY = `we'ird "dir" $(touch PWNED) \`touch PWNED2\`; rm -rf nothing & | * %x 50%\nline2`;

describe('job scripts (no Slurm needed)', () => {
  test('every value is single-quoted: the script passes hostile paths through unchanged and runs nothing', () => {
    const base = tmpDir('steel-slurm-q-');
    const dir = join(base, NASTY);
    mkdirSync(dir, { recursive: true });
    // a fake "node" that records its argv, NUL-separated
    const fake = join(dir, 'fake node');
    writeFileSync(fake, `#!/bin/bash\nprintf '%s\\0' "$@" > "$ARGS_OUT"\nprintf '%s' "$STEEL_X" > "$ARGS_OUT.env"\n`);
    chmodSync(fake, 0o755);
    const input = {
      step: `p0-map"; touch PWNED3 #`,
      cwd: dir,
      node: fake,
      execArgv: ['--import', `file://${dir}/tsx's loader.mjs`],
      file: join(dir, 'entry $(id).ts'),
      specFile: join(dir, 'spec;`x`.json'),
      ranksFile: join(dir, "ranks '0'.json"),
      env: { STEEL_X: `$HOME; $(touch PWNED4) 'q' "dq"` },
    };
    const script = join(dir, 'job.sbatch');
    writeFileSync(script, buildJobScript(input));
    const out = join(base, 'args');
    execFileSync('bash', [script], { env: { ...process.env, SLURM_ARRAY_TASK_ID: '7', ARGS_OUT: out }, cwd: base });
    const args = readFileSync(out, 'utf8').split('\0').slice(0, -1);
    assert.deepEqual(args, [...input.execArgv, input.file, input.specFile, input.ranksFile, '7']);
    assert.equal(readFileSync(out + '.env', 'utf8'), input.env.STEEL_X);
    for (const p of ['PWNED', 'PWNED2', 'PWNED3', 'PWNED4']) {
      assert.equal(existsSync(join(base, p)) || existsSync(join(dir, p)), false, `${p} must not exist`);
    }
    assert.throws(() => buildJobScript({ ...input, env: { 'A;B': 'x' } }), /bad environment variable name/);
    assert.throws(() => shq('a\0b'), /NUL/);
    assert.equal(slurmPathPattern('/a/50%/%A_%a.out'), '/a/50%%/%%A_%%a.out');
  });

  test('ranks are chunked by MaxArraySize', () => {
    assert.deepEqual(chunkRanks([0, 1, 2, 3, 4, 5, 6], 3), [[0, 1, 2], [3, 4, 5], [6]]);
    assert.deepEqual(chunkRanks([2, 9], 1001), [[2, 9]]);
    assert.throws(() => chunkRanks([1], 0), /MaxArraySize/);
  });
});

/** Slurm on this machine: available, or started by ci-setup.sh when we are root and it is installed; else a reason. */
async function clusterReason(): Promise<string | undefined> {
  let a = await slurmAvailable();
  if (
    !a.ok &&
    process.getuid?.() === 0 &&
    process.env.STEEL_SLURM_SETUP !== '0' &&
    spawnSync('sh', ['-c', 'command -v slurmctld']).status === 0
  ) {
    const r = spawnSync('bash', [join(HERE, 'ci-setup.sh')], { encoding: 'utf8' });
    if (r.status !== 0) return `ci-setup.sh failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    a = await slurmAvailable();
  }
  return a.ok ? undefined : a.reason;
}

const reason = await clusterReason();
if (reason)
  console.log(
    `# SKIP Slurm cluster tests: ${reason} (install slurm-wlm and munge, then run pipeline/slurm/ci-setup.sh as root)`,
  );
const cluster = { skip: reason ? `Slurm not available: ${reason}` : false, concurrency: false } as const;

function ranksRun(dir: string): number[] {
  const p = join(dir, 'runs.txt');
  return existsSync(p)
    ? readFileSync(p, 'utf8')
        .trim()
        .split('\n')
        .map(Number)
        .sort((a, b) => a - b)
    : [];
}

describe('Slurm cluster', cluster, () => {
  const opts = (lines: string[], extra: SlurmExecutorOptions = {}): SlurmExecutorOptions => ({
    pollMs: 250,
    progress: { quiet: true },
    worker: TEST_WORKER,
    log: (l) => lines.push(l),
    ...extra,
  });

  test('a step becomes job arrays chunked by MaxArraySize; the next step depends on it; hostile paths are safe', async () => {
    const base = tmpDir('steel-slurm-');
    const dir = join(base, NASTY);
    mkdirSync(dir, { recursive: true });
    const lines: string[] = [];
    const ex = createSlurmExecutor(opts(lines, { env: testHooksEnv({ echo: `x'y $(z)` }) }));
    const max = await ex.maxArraySize();
    const count = 2 * max + 1;
    const stateDir = join(dir, 'state');
    const stats = await ex.runTasks(squareTask, { dir }, { name: 'sq', stateDir, count, workers: 2 });
    assert.deepEqual(
      stats.map((s) => s.square),
      Array.from({ length: count }, (_, r) => r * r),
    );
    assert.ok(
      stats.every((s) => s.job !== null && s.extra === `x'y $(z)`),
      'ran inside Slurm with the exported environment',
    );
    assert.deepEqual(
      ranksRun(dir),
      Array.from({ length: count }, (_, r) => r),
    );
    const jobs = JSON.parse(readFileSync(join(stateDir, 'sq', 'slurm', 'jobs.json'), 'utf8'));
    assert.equal(jobs.submissions.length, 3, `chunks of ${max}`);
    assert.deepEqual(
      jobs.submissions.map((s: { ranks: number[] }) => s.ranks.length),
      [max, max, 1],
    );
    assert.ok(
      !readdirSync(base).some((n) => n.startsWith('PWNED')) && !readdirSync(dir).some((n) => n.startsWith('PWNED')),
    );
    // the log of an array task is where the pattern says, with the task's own log line
    const logs = readdirSync(join(stateDir, 'sq', 'slurm', 'logs'));
    assert.equal(logs.length, count);
    assert.ok(
      logs.some((l) => readFileSync(join(stateDir, 'sq', 'slurm', 'logs', l), 'utf8').includes('hello from 4')),
    );
    // second step: submitted with afterok on the first step's jobs
    const ids = jobs.submissions.map((s: { jobId: string }) => s.jobId);
    await ex.runTasks(squareTask, { dir }, { name: 'sq2', stateDir, count: 2, workers: 2 });
    assert.ok(
      lines.some((l) => l.startsWith('[sq2] submitted') && l.includes(`after ${ids.join(', ')}`)),
      lines.join('\n'),
    );
    // a rerun of a finished step submits nothing
    const before = ranksRun(dir).length;
    await ex.runTasks(squareTask, { dir }, { name: 'sq', stateDir, count, workers: 2 });
    assert.equal(ranksRun(dir).length, before);
  });

  test('a task killed mid-run fails the step; resubmission runs only that task', async () => {
    const dir = tmpDir('steel-slurm-kill-');
    const kill = join(dir, 'kill');
    writeFileSync(kill, 'k 1\n');
    const lines: string[] = [];
    const ex = createSlurmExecutor(opts(lines, { env: testHooksEnv({ slurmKillFile: kill }) }));
    const stateDir = join(dir, 'state');
    const o = { name: 'k', stateDir, count: 4, workers: 2 };
    await assert.rejects(ex.runTasks(squareTask, { dir }, o), (e: Error) => {
      assert.ok(e instanceof TaskFailedError);
      assert.deepEqual(
        e.failures.map((f) => f.rank),
        [1],
      );
      assert.match(e.failures[0]!.message, /ended without a completion marker.*test fault: killing myself/s);
      return true;
    });
    assert.equal(readMarker(markerPath(stateDir, 'k', 1)), undefined);
    assert.ok(readMarker(markerPath(stateDir, 'k', 3)));
    const stats = await ex.runTasks(squareTask, { dir }, o);
    assert.deepEqual(
      stats.map((s) => s.square),
      [0, 1, 4, 9],
    );
    const jobs = JSON.parse(readFileSync(join(stateDir, 'k', 'slurm', 'jobs.json'), 'utf8'));
    assert.deepEqual(jobs.submissions.at(-1).ranks, [1], 'only the killed task is resubmitted');
    assert.deepEqual(ranksRun(dir), [0, 1, 1, 2, 3]);
  });

  test('a second driver for a step whose jobs are still queued or running waits for them instead of resubmitting', async () => {
    const dir = tmpDir('steel-slurm-twice-');
    const stateDir = join(dir, 'state');
    const o = { name: 'slow', stateDir, count: 3, workers: 2 };
    const args = { dir, sleepMs: 1500 };
    const first = createSlurmExecutor(opts([])).runTasks(squareTask, args, o);
    const jobsFile = join(stateDir, 'slow', 'slurm', 'jobs.json');
    while (!existsSync(jobsFile)) await new Promise((r) => setTimeout(r, 50));
    const lines: string[] = [];
    const second = await createSlurmExecutor(opts(lines)).runTasks(squareTask, args, o);
    assert.deepEqual(
      second.map((s) => s.square),
      [0, 1, 4],
    );
    assert.deepEqual(
      (await first).map((s) => s.square),
      [0, 1, 4],
    );
    assert.equal(JSON.parse(readFileSync(jobsFile, 'utf8')).submissions.length, 1, 'nothing resubmitted');
    assert.ok(
      lines.some((l) => /3 task\(s\) still queued or running/.test(l)),
      lines.join('\n'),
    );
    assert.deepEqual(ranksRun(dir), [0, 1, 2]);
  });

  test('an exception in a task is reported with its message', async () => {
    const dir = tmpDir('steel-slurm-err-');
    const ex = createSlurmExecutor(opts([]));
    await assert.rejects(
      ex.runTasks(squareTask, { dir, failRank: 2 }, { name: 'e', stateDir: join(dir, 'state'), count: 3, workers: 1 }),
      /step "e": 1 of 3 task\(s\) failed:\n  rank 2: boom in rank 2 \(job \d+_2, log /,
    );
  });

  test('the sample pipeline through Slurm gives byte-identical docs and token shards to the local executor, also after a killed task', async () => {
    const base = tmpDir('steel-slurm-prep-');
    const sample = join(HERE, '..', '..', 'corpora-manifests', 'sample');
    const inputs = [
      `sample=${join(sample, 'debian-reference-*.jsonl.zst')}`,
      `sample=${join(sample, 'fortunes-zh.jsonl.zst')}`,
    ];
    // three steps through the executor: map (4 tasks, chunked by MaxArraySize), repartition (2), tokenize
    const recipe = {
      name: 'slurm-e2e',
      steps: [{ op: 'nfkc' }, { op: 'repartition', params: { parts: 2 } }, { op: 'tokenize' }],
    };
    const local = join(base, 'local');
    await runPipeline({
      recipe,
      inputs,
      outDir: local,
      tasks: 4,
      workers: 2,
      quiet: true,
      operators,
      executor: new LocalExecutor({ progress: { quiet: true }, inProcess: 'never' }),
    });

    const viaSlurm = join(base, NASTY, 'slurm out');
    const kill = join(base, 'kill');
    writeFileSync(kill, 'p0-map 2\n');
    const lines: string[] = [];
    const ex = () => createSlurmExecutor(opts(lines, { env: testHooksEnv({ slurmKillFile: kill }) }));
    await assert.rejects(
      runPipeline({ recipe, inputs, outDir: viaSlurm, tasks: 4, workers: 2, quiet: true, operators, executor: ex() }),
      /rank 2: array task/,
    );
    assert.equal(existsSync(kill), false, 'the fault fired');
    await runPipeline({
      recipe,
      inputs,
      outDir: viaSlurm,
      tasks: 4,
      workers: 2,
      quiet: true,
      operators,
      executor: ex(),
    });
    const jobs = JSON.parse(readFileSync(join(viaSlurm, '.state', 'p0-map', 'slurm', 'jobs.json'), 'utf8'));
    assert.deepEqual(jobs.submissions.at(-1).ranks, [2], 'resubmission ran only the killed task');
    assert.ok(
      lines.some((l) => /^\[repartition\] submitted .* after \d+/.test(l)),
      'the next step depends on the previous one',
    );

    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(d, e.name)).map((f) => `${e.name}/${f}`) : [e.name],
      );
    let compared = 0;
    for (const sub of ['docs', 'shards', 'excluded', 'rejects']) {
      const a = existsSync(join(local, sub)) ? files(join(local, sub)).sort() : [];
      const b = existsSync(join(viaSlurm, sub)) ? files(join(viaSlurm, sub)).sort() : [];
      assert.deepEqual(b, a, `${sub}/ file names`);
      for (const f of a) {
        const [x, y] = [readFileSync(join(local, sub, f)), readFileSync(join(viaSlurm, sub, f))];
        if (f.endsWith('.json')) {
          // manifests may record their output folder or time; everything else must match
          const strip = (b: Buffer) =>
            JSON.stringify(JSON.parse(b.toString()), (k, v) =>
              /^(created|time|started|finished|out_dir|dir|path)$/.test(k) ? undefined : v,
            );
          assert.equal(strip(y), strip(x), `${sub}/${f}`);
        } else assert.ok(x.equals(y), `${sub}/${f} differs`);
        compared++;
      }
    }
    assert.ok(
      files(join(local, 'docs')).length === 2 && files(join(local, 'shards')).length >= 2,
      'docs and shards were produced',
    );
    assert.ok(compared >= 4);
  });
});
