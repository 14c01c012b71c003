/**
 * Document I/O for dedup: documents through pipeline/readers, and a JSONL.zst writer (independent zstd frames per
 * ~1 MB, written to a temp name and renamed on close).
 */
import { closeSync, openSync, renameSync, writeSync, mkdirSync, fsyncSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Document } from '../pipeline/document.ts';
import { readRecords, recordToDocument } from '../pipeline/readers/index.ts';
import { tempPathFor } from '../pipeline/fsutil.ts';
import { zstdWasm } from '../pipeline/readers/zstd.ts';

export interface DocRecord {
  doc: Document;
  /** 1-based line number in the file. */
  line: number;
}

export interface Reject {
  file: string;
  line: number;
  error: string;
}

/**
 * Documents of an input file through the pipeline's readers (JSONL / JSONL.gz / JSONL.zst / Parquet / Arrow, format
 * from the file name; pipeline/readers) and the generic record -> Document conversion, so dedup reads a file exactly
 * as `steel prep` does. A malformed record is passed to `onReject` (file, line, error) and skipped.
 */
export async function* readDocs(path: string, onReject: (r: Reject) => void): AsyncGenerator<DocRecord> {
  for await (const it of readRecords(path)) {
    if (it.kind === 'reject') {
      onReject({ file: path, line: it.loc.line, error: it.error });
      continue;
    }
    let doc: Document;
    try {
      doc = recordToDocument(it.record, it.loc);
    } catch (e) {
      onReject({ file: path, line: it.loc.line, error: (e as Error).message });
      continue;
    }
    yield { doc, line: it.loc.line };
  }
}

type Zstd = Awaited<ReturnType<typeof zstdWasm>>;

/** JSONL.zst writer (atomic). Call `await JsonlZstWriter.open(path)`. */
export class JsonlZstWriter {
  private parts: string[] = [];
  private size = 0;
  private readonly tmp: string;
  private readonly fd: number;
  count = 0;
  private constructor(
    readonly path: string,
    private readonly z: Zstd,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = tempPathFor(path);
    this.fd = openSync(this.tmp, 'w');
  }
  static async open(path: string): Promise<JsonlZstWriter> {
    return new JsonlZstWriter(path, await zstdWasm());
  }
  write(obj: unknown): void {
    const s = JSON.stringify(obj) + '\n';
    this.parts.push(s);
    this.size += s.length;
    this.count++;
    if (this.size >= 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.parts.length === 0) return;
    const data = Buffer.from(this.parts.join(''), 'utf8');
    writeSync(this.fd, this.z.compress(data, 3));
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* ignore */
    }
    rmSync(this.tmp, { force: true });
  }
}

/** Plain JSONL writer (atomic), for small outputs like duplicates.jsonl parts. */
export class JsonlWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;
  count = 0;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = tempPathFor(path);
    this.fd = openSync(this.tmp, 'w');
  }
  write(obj: unknown): void {
    const s = JSON.stringify(obj) + '\n';
    this.parts.push(s);
    this.size += s.length;
    this.count++;
    if (this.size > 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.parts.length) writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }
}
