// How much one core's work slows when the second core of a pair runs the same work at the same time: a compute-bound
// loop (integer hashing in registers) and a memory-bound one (dependent random reads over a table larger than L2),
// each run alone pinned to the first core, then as two processes pinned to both (CORES, default 0,1). On a machine
// whose cores share a power budget or a last-level cache, the pair's per-process CPU time rises: that part of a
// 2-worker run's extra CPU is the hardware's, not the program's. Linux, `taskset` on PATH.
//   node bench/core-contention.mjs [--mib 4,64] [--rounds 3]   (--mib: the memory loop's table sizes)
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '4,64' },
    rounds: { type: 'string', default: '3' },
    kind: { type: 'string' },
  },
});
const CORES = (process.env.CORES ?? '0,1').split(',');

function compute() {
  let h = 0x9e3779b9;
  for (let i = 0; i < 3e8; i++) h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + i;
  return h;
}
function memory(mib) {
  const n = (mib << 20) >> 2;
  const next = new Uint32Array(n);
  // one random cycle through the table (Sattolo), so every read depends on the one before
  for (let i = 0; i < n; i++) next[i] = i;
  let s = 12345;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % i;
    const t = next[i];
    next[i] = next[j];
    next[j] = t;
  }
  let p = 0;
  const t0 = process.cpuUsage();
  for (let i = 0; i < 5e6; i++) p = next[p];
  const u = process.cpuUsage(t0);
  return [p, (u.user + u.system) / 1e6];
}

if (values.kind) {
  // a child: one measurement, its CPU-seconds on stdout
  if (values.kind === 'compute') {
    const t0 = process.cpuUsage();
    compute();
    const u = process.cpuUsage(t0);
    console.log(((u.user + u.system) / 1e6).toFixed(3));
  } else console.log(memory(Number(values.mib))[1].toFixed(3));
} else {
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [kind, mib] of [['compute', '0'], ...values.mib.split(',').map((m) => ['memory', m])]) {
      const alone = spawnSync(
        'taskset',
        ['-c', CORES[0], process.execPath, process.argv[1], '--kind', kind, '--mib', mib],
        {
          encoding: 'utf8',
        },
      ).stdout.trim();
      // both at once: one shell starts the two pinned processes and waits for both
      const both = spawnSync(
        'sh',
        [
          '-c',
          CORES.map(
            (c) => `taskset -c ${c} "${process.execPath}" "${process.argv[1]}" --kind ${kind} --mib ${mib} &`,
          ).join(' ') + ' wait',
        ],
        { encoding: 'utf8' },
      )
        .stdout.trim()
        .split('\n');
      console.log(
        `round ${r + 1} ${kind}${kind === 'memory' ? ` (${mib} MiB)` : ''}: alone ${alone} CPU-s; both at once ${both.join(' / ')} CPU-s`,
      );
    }
  }
}
