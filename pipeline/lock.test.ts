import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDirLock, LOCK_NAME } from './lock.ts';
import { removeStaleTemps } from './fsutil.ts';
import { runPipeline } from './runner.ts';

/** the pid of a process that has exited */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

test("one run per output folder: a second run is refused naming the owner; a dead owner's lock is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-lock-'));
  try {
    const out = join(dir, 'out');
    const a = acquireDirLock(out, 'steel prep');
    const owner = JSON.parse(readFileSync(join(out, LOCK_NAME), 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    assert.throws(
      () => acquireDirLock(out, 'steel prep'),
      new RegExp(`in use by steel prep, pid ${process.pid} on ${hostname()}.*remove .*${LOCK_NAME}`),
    );
    // steel prep into the locked folder: refused before it touches anything (--fresh would delete the owner's work)
    mkdirSync(join(out, 'docs'), { recursive: true });
    writeFileSync(join(out, 'docs', 'keep.jsonl'), 'x\n');
    const f = join(dir, 'in.jsonl');
    writeFileSync(f, '{"id":"a","text":"hello"}\n');
    await assert.rejects(
      runPipeline({
        recipe: { name: 't', steps: [{ op: 'nfkc' }] },
        inputs: [f],
        outDir: out,
        workers: 1,
        quiet: true,
        fresh: true,
      }),
      /in use by steel prep/,
    );
    assert.ok(existsSync(join(out, 'docs', 'keep.jsonl')));
    a.release();
    assert.ok(!existsSync(join(out, LOCK_NAME)));
    // a stale lock (dead pid on this host) is taken over, with a message
    const dead = deadPid();
    writeFileSync(
      join(out, LOCK_NAME),
      JSON.stringify({ pid: dead, host: hostname(), command: 'steel prep', started: '2026-01-01T00:00:00Z' }),
    );
    const msgs: string[] = [];
    const b = acquireDirLock(out, 'steel prep', (m) => msgs.push(m));
    assert.match(msgs.join('\n'), new RegExp(`taking over the lock of steel prep \\(pid ${dead} .*no longer running`));
    b.release();
    // another host's lock cannot be checked: refused
    writeFileSync(
      join(out, LOCK_NAME),
      JSON.stringify({ pid: dead, host: 'elsewhere', command: 'steel prep', started: 'then' }),
    );
    assert.throws(() => acquireDirLock(out, 'steel prep'), /pid \d+ on elsewhere .*on another host/);
    rmSync(join(out, LOCK_NAME));
    // the run works once the folder is free, and releases its lock
    const s = await runPipeline({
      recipe: { name: 't', steps: [{ op: 'nfkc' }] },
      inputs: [f],
      outDir: out,
      workers: 1,
      quiet: true,
      fresh: true,
    });
    assert.equal(s.kept, 1);
    assert.ok(!existsSync(join(out, LOCK_NAME)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("temp clean-up never touches a live process's temps", () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-temps-'));
  try {
    const live = join(dir, `.part-0.jsonl.${process.pid}.1.tmp`),
      gone = join(dir, `.part-1.jsonl.${deadPid()}.1.tmp`);
    writeFileSync(live, 'writing');
    writeFileSync(gone, 'left by a killed run');
    assert.equal(removeStaleTemps(dir), 1);
    assert.ok(existsSync(live));
    assert.ok(!existsSync(gone));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
