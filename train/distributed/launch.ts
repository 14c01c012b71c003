/**
 * `steel train --procs N` / `--gpus N`: starts N copies of the CLI on this machine, one per rank, with RANK,
 * WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and NCCL_NVLS_ENABLE=0 in their environment
 * (with the cuda backend also CUDA_VISIBLE_DEVICES = one device each). Their stderr lines are prefixed with the rank.
 * If one rank fails, the others fail on their own (the collective reports the lost peer); whatever is still running
 * after a grace period is killed. Exit code: 0 if every rank succeeded, else the first failing rank's code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setting } from '../../pipeline/settings.ts';

const CLI = fileURLToPath(new URL('../../cli/steel.js', import.meta.url));

/** a free TCP port on addr (the OS picks one; there is a small window before rank 0 binds it). */
export function freePort(addr = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, addr, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The child command line: the steel CLI with argv, or, when this process runs a single-file `steel train` bundle
 * (scripts/gpu/steel-train-entry.ts sets STEEL_TRAIN_ENTRY to itself), that bundle with argv minus the 'train' word.
 */
export function childArgs(argv: string[]): string[] {
  const entry = setting('trainEntry');
  if (entry && argv[0] === 'train') return [entry, ...argv.slice(1)];
  return [CLI, ...argv];
}

export interface LaunchOptions {
  n: number;
  /** CLI arguments of every child (e.g. ['train', ...]). */
  argv: string[];
  cuda?: boolean;
  masterAddr?: string;
  masterPort?: number;
  /** seconds the other ranks get to exit on their own after one fails (default 60). */
  graceS?: number;
  log?: (m: string) => void;
}

export async function launchLocal(o: LaunchOptions): Promise<number> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const addr = o.masterAddr ?? '127.0.0.1';
  const port = o.masterPort ?? (await freePort(addr));
  const visible = (process.env.CUDA_VISIBLE_DEVICES ?? '').split(',').filter(Boolean);
  if (o.cuda && visible.length && visible.length < o.n)
    throw new Error(
      `--gpus ${o.n}: only ${visible.length} devices in CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES}`,
    );
  log(`launching ${o.n} ranks (rendezvous ${addr}:${port}${o.cuda ? ', one GPU each' : ''})`);
  const kids: ChildProcess[] = [];
  const codes: (number | null)[] = new Array(o.n).fill(null);
  let firstFail = -1,
    killTimer: NodeJS.Timeout | null = null;
  const done = new Promise<void>((resolve) => {
    let left = o.n;
    for (let r = 0; r < o.n; r++) {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(r),
        WORLD_SIZE: String(o.n),
        LOCAL_RANK: String(r),
        LOCAL_WORLD_SIZE: String(o.n),
        MASTER_ADDR: addr,
        MASTER_PORT: String(port),
        NCCL_NVLS_ENABLE: '0',
      };
      if (o.cuda) env.CUDA_VISIBLE_DEVICES = visible.length ? visible[r] : String(r);
      const ch = spawn(process.execPath, childArgs(o.argv), {
        env,
        detached: true,
        stdio: ['ignore', r === 0 ? 'inherit' : 'ignore', 'pipe'],
      });
      kids.push(ch);
      createInterface({ input: ch.stderr! }).on('line', (l) => process.stderr.write(`[rank ${r}] ${l}\n`));
      ch.on('exit', (code, sig) => {
        codes[r] = code ?? (sig ? 128 : 1);
        if (codes[r] !== 0 && firstFail < 0) {
          firstFail = r;
          log(`rank ${r} exited with ${code ?? sig}; waiting up to ${o.graceS ?? 60} s for the other ranks`);
          killTimer = setTimeout(
            () => {
              for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
            },
            (o.graceS ?? 60) * 1000,
          );
        }
        if (--left === 0) resolve();
      });
    }
  });
  // forward termination requests (the children are in their own process groups, so a terminal's Ctrl-C reaches them once, from here)
  const fwd = (sig: NodeJS.Signals) => () => {
    for (const k of kids) if (k.exitCode === null) k.kill(sig);
  };
  const hInt = fwd('SIGINT'),
    hTerm = fwd('SIGTERM');
  process.on('SIGINT', hInt);
  process.on('SIGTERM', hTerm);
  try {
    await done;
  } finally {
    process.off('SIGINT', hInt);
    process.off('SIGTERM', hTerm);
    if (killTimer) clearTimeout(killTimer);
  }
  if (firstFail >= 0) {
    log(`failed: rank exit codes ${codes.join(', ')}`);
    return codes[firstFail] || 1;
  }
  return 0;
}
