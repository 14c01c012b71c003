/**
 * Atomic file output, the one way every area writes a file that others read (documents, intermediates, shards,
 * manifests, checkpoints, safetensors, exports, models, reports): the bytes go to a temporary name in the same
 * folder, are flushed to disk, and the temp is renamed to the final name, so a reader sees the old file or the whole
 * new one, never a partial one. Temporary names follow one scheme, `.NAME.PID.SEQ.tmp` (hidden, pid and a
 * per-process counter so concurrent writers never collide); `isTempName` recognises it and `removeStaleTemps`
 * clears what a killed run left. Folders (checkpoints, exports) are written the same way: `writeDirAtomic`.
 *
 * The one exception is a resumable download (`steel collect`): its bytes accumulate in `partialPathFor(dest)`
 * (`DEST.part`) across runs and are renamed when verified; clean-up leaves those alone on purpose.
 */
import {
  mkdirSync,
  renameSync,
  writeFileSync,
  rmSync,
  readdirSync,
  existsSync,
  openSync,
  writeSync,
  fsyncSync,
  closeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

let seq = 0;

const TEMP_NAME = /^\..+\.\d+\.\d+\.tmp$/;

/** A temporary name next to `path` (same folder, so rename is atomic): `.NAME.PID.SEQ.tmp`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++seq}.tmp`);
}

/** Whether a file or folder name is a temporary name made by tempPathFor. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Where a resumable download of `dest` keeps its bytes until verified (kept across runs, not a temp). */
export function partialPathFor(dest: string): string {
  return `${dest}.part`;
}

/** Whether a name is a resumable download's partial file (partialPathFor). */
export function isPartialName(name: string): boolean {
  return name.endsWith('.part');
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write a whole file atomically: temp name in the same folder, flushed, then renamed. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    fsyncPath(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * A file written piece by piece under a temporary name (tempPathFor) and renamed to its final name by commit();
 * abort() removes it. `fd` is open for writing (and reading, for in-place patches); writes go through write().
 */
export class AtomicFileSync {
  readonly tmp: string;
  readonly fd: number;
  /** Bytes appended with write() (positional writes not counted). */
  bytes = 0;
  private done = false;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = tempPathFor(path);
    this.fd = openSync(this.tmp, 'w+');
  }

  /** Write all of `data` (at the current end, or at `position` when given). */
  write(data: ArrayBufferView | string, position?: number): void {
    if (this.done) throw new Error(`write after close: ${this.path}`);
    const b =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < b.length) {
      const n = writeSync(this.fd, b, off, b.length - off, position === undefined ? null : position + off);
      off += n;
    }
    if (position === undefined) this.bytes += b.length;
  }

  /** Flush to disk, close, and rename to the final name. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      renameSync(this.tmp, this.path);
    } catch (e) {
      rmSync(this.tmp, { force: true });
      throw e;
    }
  }

  /** Give up: close and remove the temporary file; the final name is never created. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmp, { force: true });
  }
}

/**
 * Write a folder atomically: `fill` writes into a temporary folder (tempPathFor), which then replaces `dir`
 * (an existing `dir` is removed first). On error the temporary folder is removed and `dir` is left as it was.
 */
export async function writeDirAtomic<T>(dir: string, fill: (tmpDir: string) => T | Promise<T>): Promise<T> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  mkdirSync(tmp);
  let r: T;
  try {
    r = await fill(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return r;
}

/** The pid in a temporary name (`.NAME.PID.SEQ.tmp`), or null. */
export function tempOwnerPid(name: string): number | null {
  const m = /\.(\d+)\.\d+\.tmp$/.exec(name);
  return isTempName(name) && m ? Number(m[1]) : null;
}

/** Whether process `pid` exists on this machine (EPERM: it exists but belongs to another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove leftover temporary files and folders (tempPathFor names, from killed runs) in a folder; returns how many.
 * A temp whose pid is a live process on this machine (this one included) is being written: it is left alone.
 */
export function removeStaleTemps(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir)) {
    const pid = tempOwnerPid(name);
    if (pid !== null && !pidAlive(pid)) {
      rmSync(join(dir, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

/**
 * Removes the entries `names` of folder `dir` (those that exist) without waiting for the removal: they are renamed at
 * once into one temporary folder of `dir` (a tempPathFor name, so removeStaleTemps clears it when this process is
 * killed before it is gone), which is then removed in the background (node:fs/promises, on libuv's threads). Removing a
 * large folder waits on the disk (a previous run's outputs: 0.2-0.6 s on the VM once written back, at ~0.05 CPU-s),
 * time the caller need not spend waiting. Returns a promise that resolves when the folder is gone, or to an Error
 * naming it when it could not be removed; it never rejects.
 */
export function removeInBackground(dir: string, names: readonly string[]): Promise<Error | undefined> {
  let trash: string | undefined;
  for (const n of names) {
    const p = join(dir, n);
    if (!existsSync(p)) continue;
    if (trash === undefined) {
      trash = tempPathFor(join(dir, 'removed'));
      mkdirSync(trash);
    }
    renameSync(p, join(trash, n));
  }
  if (trash === undefined) return Promise.resolve(undefined);
  const t = trash;
  return rm(t, { recursive: true, force: true }).then(
    () => undefined,
    (e: Error) => new Error(`could not remove ${t} (earlier outputs moved there to be removed): ${e.message}`),
  );
}
