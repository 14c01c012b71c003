import { open, rename, rm, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { tempPathFor } from '../fsutil.ts';

/**
 * A file written under a temporary name (tempPathFor: `.NAME.PID.SEQ.tmp`, same folder), flushed and renamed to its
 * final name on close, so a killed run leaves no final-named partial file (the async twin of fsutil's AtomicFileSync).
 */
export class AtomicFile {
  readonly tmp: string;
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /**
   * Set by the constructor, not where declared: V8 takes a field given its value there and not written since for a
   * constant, and the optimised code of the writers' loops that inlined write's check was thrown away at a process's
   * first close ("code dependencies").
   */
  private closed: boolean;
  bytes = 0;

  constructor(readonly path: string) {
    this.tmp = tempPathFor(path);
    this.closed = false;
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    if (!this.opening) {
      this.opening = (async () => {
        await mkdir(dirname(this.path), { recursive: true });
        return open(this.tmp, 'w');
      })();
    }
    this.fh = await this.opening;
    return this.fh;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error(`write after close: ${this.path}`);
    const fh = await this.handle();
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off);
      off += bytesWritten;
    }
    this.bytes += data.length;
  }

  /** Finish: close and rename to the final name (creates an empty file if nothing was written). */
  async close(): Promise<void> {
    if (this.closed) return;
    const fh = await this.handle();
    this.closed = true;
    await fh.sync();
    await fh.close();
    await rename(this.tmp, this.path);
  }

  /** Give up: remove the temporary file; the final name is never created. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fh || this.opening) {
      const fh = this.fh ?? (await this.opening!);
      await fh.close().catch(() => {});
    }
    await rm(this.tmp, { force: true });
  }
}
