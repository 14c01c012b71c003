// Data-parallel training over the TCP collective (CPU backend, tiny preset): equivalence with one process, resume on
// another number of processes, and a dying rank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, existsSync, cpSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeShards } from '../testutil.ts';
import { latestCheckpoint } from '../checkpoint.ts';
import { shareOf } from './dp.ts';
import { freePort } from './launch.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';

const CLI = fileURLToPath(new URL('../../cli/steel.js', import.meta.url));

function steel(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onSpawn?: (pid: number) => void,
): Promise<{ code: number; err: string }> {
  return new Promise((res) => {
    const ch = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let err = '';
    ch.stderr!.on('data', (d) => {
      err += d;
    });
    onSpawn?.(ch.pid!);
    ch.on('exit', (code) => res({ code: code ?? -1, err }));
  });
}
const losses = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).loss as number);
const dist = (out: string) => JSON.parse(readFileSync(join(latestCheckpoint(out)!, 'trainer.json'), 'utf8')).dist;
function close(a: number[], b: number[]) {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= 1e-5 * Math.abs(x), `step ${i + 1}: ${x} vs ${b[i]}`));
}

test('shareOf splits M micro-batches contiguously over the ranks', () => {
  assert.deepEqual(
    [0, 1, 2].map((r) => shareOf(r, 3, 6)),
    [
      [0, 2],
      [2, 4],
      [4, 6],
    ],
  );
  assert.deepEqual(
    [0, 1, 2].map((r) => shareOf(r, 3, 2)),
    [
      [0, 0],
      [0, 1],
      [1, 2],
    ],
  );
});

test('2 processes == 1 process with the same global batch; a 2-process checkpoint resumes on 1 and on 3 processes', async () => {
  const dir = tmpDir('steel-dp-');
  try {
    const data = join(dir, 'data');
    makeShards(data, { shards: 3, docsPerShard: 12, seed: 3 });
    const base = (out: string, steps: number) => [
      'train',
      '--preset',
      'tiny',
      '--data',
      data,
      '--out',
      out,
      '--steps',
      String(steps),
      '--log-every',
      '1',
      '--quiet',
    ];
    // global batch 6 micro-batches of 2 blocks: 1 process x accum 6 vs 2 processes x accum 3; an epoch boundary (49 blocks) falls at step 5
    const one = await steel([...base(join(dir, 'one'), 8), '--grad-accum', '6']);
    assert.equal(one.code, 0, one.err);
    const two = await steel([...base(join(dir, 'two'), 8), '--grad-accum', '3', '--procs', '2']);
    assert.equal(two.code, 0, two.err);
    const l1 = losses(join(dir, 'one')),
      l2 = losses(join(dir, 'two'));
    assert.equal(l2.length, 8);
    assert.equal(l2[0], l1[0]); // same weights, same blocks: the first loss is bitwise equal
    close(l1, l2);
    assert.equal(dist(join(dir, 'two')).consumedBlocks, 8 * 12);
    assert.equal(dist(join(dir, 'two')).world, 2);
    assert.ok(!existsSync(join(dir, 'two', 'checkpoints', 'LATEST.tmp')));
    // 4 steps on 2 processes, then continue on 1 and on 3 processes
    const half = join(dir, 'half');
    const h = await steel([...base(half, 4), '--grad-accum', '3', '--procs', '2']);
    assert.equal(h.code, 0, h.err);
    cpSync(half, join(dir, 'r3'), { recursive: true });
    const r1 = await steel([...base(half, 8), '--resume']);
    assert.equal(r1.code, 0, r1.err);
    const r3 = await steel([...base(join(dir, 'r3'), 8), '--resume', '--procs', '3']);
    assert.equal(r3.code, 0, r3.err);
    close(l2, losses(half));
    close(l2, losses(join(dir, 'r3')));
    assert.deepEqual(losses(half).slice(0, 5), l2.slice(0, 5)); // up to the resume point and the first resumed step's forward
    for (const [out, w] of [
      [half, 1],
      [join(dir, 'r3'), 3],
    ] as const) {
      const d = dist(out);
      assert.equal(d.world, w);
      assert.equal(d.globalMicroBatches, 6);
      assert.equal(d.consumedBlocks, 8 * 12);
      assert.equal(
        d.ranks.reduce((a: number, r: { blocksPerStep: number }) => a + r.blocksPerStep, 0),
        12,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rank that dies mid-run makes the other fail with a clear error instead of hanging', async () => {
  const dir = tmpDir('steel-dp-kill-');
  try {
    const data = join(dir, 'data');
    makeShards(data, { shards: 2, docsPerShard: 10, seed: 4 });
    const out = join(dir, 'o');
    const port = await freePort();
    const args = [
      'train',
      '--preset',
      'tiny',
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '1000000',
      '--log-every',
      '1',
      '--ckpt-every',
      '1000000',
      '--quiet',
    ];
    const env = (r: number) => ({
      RANK: String(r),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      STEEL_DIST_TIMEOUT: '120',
    });
    let victim = 0;
    const p1 = steel(args, env(1), (pid) => {
      victim = pid;
    });
    const p0 = steel(args, env(0), () => {
      const iv = setInterval(() => {
        const m = join(out, 'metrics.jsonl');
        if (existsSync(m) && readFileSync(m, 'utf8').split('\n').length > 3) {
          clearInterval(iv);
          process.kill(victim, 'SIGKILL');
        }
      }, 20);
    });
    const [r0, r1] = await Promise.all([p0, p1]);
    assert.notEqual(r1.code, 0);
    assert.notEqual(r0.code, 0);
    assert.match(r0.err, /rank 1 disconnected/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM to one rank only: every rank stops after the same step and rank 0 saves the checkpoint', async () => {
  const dir = tmpDir('steel-dp-term-');
  try {
    const data = join(dir, 'data');
    makeShards(data, { shards: 2, docsPerShard: 10, seed: 4 });
    const out = join(dir, 'o');
    const port = await freePort();
    const args = [
      'train',
      '--preset',
      'tiny',
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '1000000',
      '--log-every',
      '1',
      '--ckpt-every',
      '1000000',
      '--quiet',
    ];
    const env = (r: number) => ({
      RANK: String(r),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    });
    let victim = 0;
    const p1 = steel(args, env(1), (pid) => {
      victim = pid;
    });
    const p0 = steel(args, env(0), () => {
      const iv = setInterval(() => {
        const m = join(out, 'metrics.jsonl');
        if (existsSync(m) && readFileSync(m, 'utf8').split('\n').length > 3) {
          clearInterval(iv);
          process.kill(victim, 'SIGTERM');
        }
      }, 20);
    });
    const [r0, r1] = await Promise.all([p0, p1]);
    assert.equal(r0.code, 0, r0.err);
    assert.equal(r1.code, 0, r1.err);
    const st = JSON.parse(readFileSync(join(latestCheckpoint(out)!, 'trainer.json'), 'utf8'));
    assert.match(st.reason, /SIGTERM/);
    assert.equal(losses(out).length, st.step);
    assert.equal(st.dist.consumedBlocks, st.step * 4); // 2 ranks x 1 micro-batch x 2 blocks per step
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('steel train --procs 2: a failing rank setup fails the launch with a non-zero code', async () => {
  const dir = tmpDir('steel-dp-bad-');
  try {
    const r = await steel([
      'train',
      '--preset',
      'tiny',
      '--data',
      join(dir, 'nope'),
      '--out',
      join(dir, 'o'),
      '--steps',
      '2',
      '--procs',
      '2',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /\[rank 1\] .*nope/);
    assert.match(r.err, /failed: rank exit codes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gradReducer uses a backend's own device all-reduce: attach once, overlap hint, then reduce", async () => {
  const { gradReducer } = await import('./dp.ts');
  const calls: string[] = [];
  const coll = { rank: 1, world: 2 } as unknown as import('./collective.ts').Collective;
  const be = {
    name: 'fake',
    params: () => [{ name: 'w', shape: [1], size: 1 }],
    async attachCollective(c: unknown) {
      assert.equal(c, coll);
      calls.push('attach');
    },
    beforeLastBackward() {
      calls.push('overlap');
    },
    async allReduceGrads(c: unknown) {
      assert.equal(c, coll);
      calls.push('reduce');
    },
  } as unknown as import('../backend.ts').Backend;
  const r = await gradReducer(be, coll);
  assert.deepEqual(calls, ['attach']);
  r.beforeLast();
  await r.reduce();
  await r.reduce();
  assert.deepEqual(calls, ['attach', 'overlap', 'reduce', 'reduce']);
});

test('gradReducer without a device all-reduce sums host gradients through the collective', async () => {
  const { gradReducer } = await import('./dp.ts');
  const g = new Float32Array([1, 2, 3]);
  const coll = {
    rank: 0,
    world: 2,
    async allReduceSum(buf: Float32Array) {
      for (let i = 0; i < buf.length; i++) buf[i] *= 2;
    }, // as if the peer had the same values
  } as unknown as import('./collective.ts').Collective;
  const be = {
    name: 'host',
    params: () => [{ name: 'w', shape: [3], size: 3 }],
    gradRaw: () => g,
  } as unknown as import('../backend.ts').Backend;
  const r = await gradReducer(be, coll);
  r.beforeLast(); // no-op
  await r.reduce();
  assert.deepEqual([...g], [2, 4, 6]);
});

test('the launcher re-runs a single-file train bundle (STEEL_TRAIN_ENTRY) without the "train" word', async () => {
  const { childArgs } = await import('./launch.ts');
  const prev = process.env.STEEL_TRAIN_ENTRY;
  try {
    delete process.env.STEEL_TRAIN_ENTRY;
    const a = childArgs(['train', '--out', 'x']);
    assert.match(a[0], /cli[\\/]steel\.js$/);
    assert.deepEqual(a.slice(1), ['train', '--out', 'x']);
    process.env.STEEL_TRAIN_ENTRY = '/opt/steel-train.mjs';
    assert.deepEqual(childArgs(['train', '--out', 'x']), ['/opt/steel-train.mjs', '--out', 'x']);
  } finally {
    if (prev === undefined) delete process.env.STEEL_TRAIN_ENTRY;
    else process.env.STEEL_TRAIN_ENTRY = prev;
  }
});
