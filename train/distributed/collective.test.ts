import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TcpCollective, resolveRankWorld } from './collective.ts';
import { freePort } from './launch.ts';

const HERE = fileURLToPath(new URL('./collective.ts', import.meta.url));

async function group(world: number, opts: { timeoutMs?: number } = {}): Promise<TcpCollective[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: world }, (_, rank) =>
      TcpCollective.connect({ rank, world, port, addr: '127.0.0.1', connectTimeoutMs: 10_000, ...opts }),
    ),
  );
}

test('allReduceSum sums in rank order (bitwise reproducible), broadcast from any root, barrier', async () => {
  const cs = await group(3);
  try {
    // values where the summation order matters in fp32
    const inputs = [
      Float32Array.of(1e8, 1, 0.1, -3),
      Float32Array.of(-1e8, 1e-3, 0.2, 5),
      Float32Array.of(1, 7, 0.3, 1 / 3),
    ];
    const ref = Float32Array.from(inputs[0]);
    for (const r of [1, 2]) for (let i = 0; i < ref.length; i++) ref[i] += inputs[r][i];
    const bufs = inputs.map((a) => Float32Array.from(a));
    await Promise.all(cs.map((c, r) => c.allReduceSum(bufs[r])));
    for (const b of bufs) assert.deepEqual([...b], [...ref]);
    // float64 too, large enough to arrive in many TCP chunks
    const big = cs.map((_, r) => Float64Array.from({ length: 300_000 }, (_, i) => r * 1e6 + i));
    await Promise.all(cs.map((c, r) => c.allReduceSum(big[r])));
    for (const b of big) {
      assert.equal(b[0], 3e6);
      assert.equal(b[299_999], 3e6 + 3 * 299_999);
    }
    // broadcast from rank 2 (relayed through rank 0) and from rank 0
    const bc = cs.map((_, r) => Int32Array.of(r, r * 10));
    await Promise.all(cs.map((c, r) => c.broadcast(bc[r], 2)));
    for (const b of bc) assert.deepEqual([...b], [2, 20]);
    const u8 = cs.map((_, r) => Uint8Array.of(r + 1));
    await Promise.all(cs.map((c, r) => c.broadcast(u8[r])));
    for (const b of u8) assert.equal(b[0], 1);
    let passed = 0;
    await Promise.all(
      cs.map(async (c) => {
        await c.barrier();
        passed++;
      }),
    );
    assert.equal(passed, 3);
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

test('mismatched operations are an error naming both sides', async () => {
  const cs = await group(2);
  try {
    const r = await Promise.allSettled([
      cs[0].allReduceSum(new Float32Array(4)),
      cs[1].allReduceSum(new Float32Array(5)),
    ]);
    assert.equal(r[0].status, 'rejected');
    assert.match(
      String((r[0] as PromiseRejectedResult).reason),
      /collective mismatch: rank 1 sent allReduce #1 \(20 bytes\), rank 0 expected allReduce #1 \(16 bytes\)/,
    );
    assert.equal(r[1].status, 'rejected');
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

test('a rank that dies makes every other rank fail promptly with a clear error (no hang)', async () => {
  const port = await freePort();
  // rank 2 is a separate process that joins, then exits without taking part in the all-reduce
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `
    const { TcpCollective } = await import(${JSON.stringify(HERE)});
    const c = await TcpCollective.connect({ rank: 2, world: 3, port: ${port}, addr: '127.0.0.1' });
    setTimeout(() => process.exit(7), 200);
  `,
    ],
    { stdio: 'inherit' },
  );
  const [c0, c1] = await Promise.all(
    [0, 1].map((rank) =>
      TcpCollective.connect({ rank, world: 3, port, addr: '127.0.0.1', connectTimeoutMs: 20_000, timeoutMs: 120_000 }),
    ),
  );
  const r = await Promise.allSettled([c0.allReduceSum(new Float32Array(8)), c1.allReduceSum(new Float32Array(8))]);
  assert.equal(await new Promise((res) => child.on('exit', res)), 7);
  assert.equal(r[0].status, 'rejected');
  assert.match(String((r[0] as PromiseRejectedResult).reason), /rank 2 disconnected/);
  assert.equal(r[1].status, 'rejected');
  assert.match(String((r[1] as PromiseRejectedResult).reason), /aborted by rank 0: rank 2 disconnected/);
  await assert.rejects(c0.barrier(), /rank 2 disconnected/);
  await c0.close();
  await c1.close();
});

test('a rank that stops answering: the operation times out instead of hanging', async () => {
  const cs = await group(2, { timeoutMs: 500 });
  try {
    await assert.rejects(
      cs[0].allReduceSum(new Float32Array(2)),
      /timed out after \d+ s waiting for rank 1 in allReduce #1/,
    );
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

test('a missing rank at the rendezvous is reported after the join timeout', async () => {
  const port = await freePort();
  await assert.rejects(
    TcpCollective.connect({ rank: 0, world: 2, port, addr: '127.0.0.1', connectTimeoutMs: 300 }),
    /only 1 of 2 ranks joined .* \(missing ranks 1\)/,
  );
});

test('rank/world: flags, then RANK/WORLD_SIZE, then Slurm, then 0/1', () => {
  assert.deepEqual(resolveRankWorld({ rank: 1, world: 4 }, { RANK: '0', WORLD_SIZE: '2' }), {
    rank: 1,
    world: 4,
    localRank: 1,
    source: '--rank/--world',
  });
  assert.deepEqual(
    resolveRankWorld({}, { RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', SLURM_PROCID: '0', SLURM_NTASKS: '8' }),
    { rank: 3, world: 4, localRank: 1, source: 'RANK/WORLD_SIZE' },
  );
  assert.deepEqual(resolveRankWorld({}, { SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1' }), {
    rank: 5,
    world: 8,
    localRank: 1,
    source: 'Slurm',
  });
  assert.deepEqual(resolveRankWorld({}, {}), { rank: 0, world: 1, localRank: 0, source: 'default' });
  assert.throws(
    () => resolveRankWorld({}, { RANK: '4', WORLD_SIZE: '4' }),
    /rank 4 outside world 4 \(from RANK\/WORLD_SIZE\)/,
  );
  assert.throws(() => resolveRankWorld({}, { RANK: 'x', WORLD_SIZE: '4' }), /RANK: not a non-negative integer/);
});
