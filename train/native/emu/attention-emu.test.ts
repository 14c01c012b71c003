// Attention kernels (train/native/attention.cuh) on the CPU: a lane-level emulator (attention-emu.cpp) compiles the real
// kernel source with the warp primitives (shuffles, named barriers), the bulk tensor copy (TMA) on mbarriers and the
// warpgroup MMA (wgmma: shared-memory operands read through their descriptors and the 128-byte swizzle, register
// operands gathered from the warp) emulated per lane, and runs on many shapes (T not a multiple of the tiles, head dims
// 8-64, GQA) the three kernels, each a TMA producer warpgroup and wgmma consumer warpgroups: the forward (o and the
// log-sum-exp), the dQ kernel (it also computes delta for the next kernel) and the dK/dV kernel, the backward (with
// RoPE's backward and the q/k/v bias partials) from the float64 reference's O and log-sum-exp; every output (o, lse, dq,
// dk, dv, the bias gradient gb) is compared with the float64 reference. Every output starts as NaN, so an element a kernel
// fails to write is an error. Skipped with a message when no C++ compiler is installed. (The GPU runs the same checks:
// gpu-check `attn` in train/native/run-gpu-checks.sh.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '../../../pipeline/test-fixtures/tmp-dir.ts';

const native = fileURLToPath(new URL('..', import.meta.url));
const cxx = process.env.CXX ?? 'g++';
const have = spawnSync(cxx, ['--version']).status === 0;
if (!have) console.log(`# SKIP attention emulator: no C++ compiler (${cxx})`);

test(
  'attention kernels (TMA + wgmma forward, dQ and dK/dV) match float64 in the lane-level emulator (default and peaky scores)',
  { skip: have ? false : 'no C++ compiler' },
  () => {
    const dir = tmpDir('steel-a3emu-');
    try {
      const exe = join(dir, 'emu');
      execFileSync(
        cxx,
        [
          '-O2',
          '-std=c++17',
          '-fno-strict-aliasing',
          '-w',
          `-I${native}`,
          join(native, 'emu', 'attention-emu.cpp'),
          '-o',
          exe,
        ],
        { stdio: 'pipe' },
      );
      // the default shape set (hd 8-64, T 1-300, GQA 1-4 heads per KV head), once with N(0,1) inputs and once with
      // peaky, growing scores (large probabilities and tiny ones in the same rows); then two more head dims and longer sequences
      const runs: [Record<string, string>, string[]][] = [
        [{}, []],
        [{ ATTN_STRESS: '1' }, []],
        [{}, ['1', '520', '2', '1', '16']],
        [{}, ['1', '333', '2', '2', '48']],
      ];
      for (const [env, args] of runs) {
        const r = spawnSync(exe, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 600_000 });
        const lines = r.stdout.trim().split('\n');
        assert.equal(
          r.status,
          0,
          `emulator ${JSON.stringify(env)} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`,
        );
        const shapes = lines.filter((l) => / ok \(collectives/.test(l));
        if (args.length) assert.equal(shapes.length, 1, r.stdout);
        else {
          assert.equal(lines[lines.length - 1], 'all ok');
          assert.ok(shapes.length >= 8, `only ${shapes.length} shapes ran`);
        }
        for (const l of shapes) {
          // every relative error printed is below the GPU parity limit (1e-2)
          const errs = [...l.matchAll(/ (o|lse|dq|dk|dv|gb) ([0-9.e+-]+)/g)];
          assert.equal(errs.length, 6, l);
          for (const m of errs) assert.ok(Number(m[2]) < 1e-2, `${l}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
