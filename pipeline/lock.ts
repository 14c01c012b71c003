/**
 * One run per output folder: `acquireDirLock(dir)` creates DIR/.steel.lock (exclusively) holding the owner's pid, host,
 * command and start time. A second run into the same folder is refused with a message naming the owner. A lock left by
 * a process that is gone (its pid is not alive on this host) is taken over, with a message. A lock from another host
 * cannot be checked from here: it is refused, and the message says which file to remove if that run is over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from './fsutil.ts';

export const LOCK_NAME = '.steel.lock';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  started: string;
}

export interface DirLock {
  path: string;
  release(): void;
}

export function acquireDirLock(dir: string, command: string, log: (m: string) => void = () => {}): DirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_NAME);
  const me: LockOwner = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
      let owner: LockOwner | null = null;
      try {
        owner = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
      } catch {
        owner = null; // being written right now, or damaged
      }
      if (owner && owner.host === me.host && !pidAlive(owner.pid)) {
        log(
          `${path}: taking over the lock of ${owner.command} (pid ${owner.pid} on ${owner.host}, started ${owner.started}), which is no longer running`,
        );
        rmSync(path, { force: true });
        continue;
      }
      if (!owner)
        throw new Error(
          `${dir} is locked by another run (${path} exists but is unreadable); if no run is using ${dir}, remove ${path}`,
        );
      const where = owner.host === me.host ? 'running' : `on another host (cannot be checked from ${me.host})`;
      throw new Error(
        `${dir} is in use by ${owner.command}, pid ${owner.pid} on ${owner.host} since ${owner.started} (${where}); wait for it, use another output folder, or, if that run is over, remove ${path}`,
      );
    }
    try {
      writeSync(fd, JSON.stringify(me) + '\n');
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      try {
        const cur = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
        if (cur.pid === me.pid && cur.host === me.host) rmSync(path, { force: true });
      } catch {
        /* gone already */
      }
    };
    process.on('exit', release);
    return { path, release };
  }
}
