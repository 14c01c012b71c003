/**
 * Minimal reading/writing of document JSONL files (`.jsonl`, `.jsonl.zst`, `.jsonl.gz`) for the tokenizer area:
 * lines `{"id","text","source","lang"?,"meta"}`. Bad lines raise an error naming the file and line.
 */
import { createReadStream, renameSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { zstdWasm } from '../pipeline/readers/zstd.ts';
import { dirname, basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import type { Document } from '../pipeline/document.ts';

/** Raw byte chunks of a file, decompressed according to its extension. */
export async function* fileChunks(file: string): AsyncGenerator<Uint8Array> {
  if (file.endsWith('.zst')) {
    const out: Uint8Array[] = [];
    const d = new Decompress((chunk) => { out.push(chunk); });
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) {
      d.push(c as Buffer);
      while (out.length) yield out.shift()!;
    }
    d.push(new Uint8Array(0), true);
    while (out.length) yield out.shift()!;
  } else if (file.endsWith('.gz')) {
    for await (const c of createReadStream(file).pipe(createGunzip())) yield c as Buffer;
  } else {
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) yield c as Buffer;
  }
}

/** Lines of a (possibly compressed) UTF-8 text file, with 1-based line numbers. */
export async function* readTextLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let rest: Uint8Array = new Uint8Array(0);
  let lineNo = 0;
  const emit = function* (block: Uint8Array, final: boolean) {
    let start = 0;
    for (;;) {
      const nl = block.indexOf(10, start);
      if (nl < 0) break;
      lineNo++;
      yield { line: lineNo, bytes: block.subarray(start, nl) };
      start = nl + 1;
    }
    if (final && start < block.length) {
      lineNo++;
      yield { line: lineNo, bytes: block.subarray(start) };
      start = block.length;
    }
    return block.subarray(start);
  };
  const decode = (b: Uint8Array, line: number) => {
    try {
      return dec.decode(b);
    } catch {
      throw new Error(`${file}:${line}: invalid UTF-8`);
    }
  };
  for await (const chunk of fileChunks(file)) {
    let block: Uint8Array;
    if (rest.length) {
      block = new Uint8Array(rest.length + chunk.length);
      block.set(rest);
      block.set(chunk, rest.length);
    } else block = chunk;
    const it = emit(block, false);
    let r = it.next();
    while (!r.done) {
      yield { line: r.value.line, text: decode(r.value.bytes, r.value.line) };
      r = it.next();
    }
    rest = Uint8Array.from(r.value);
  }
  const it = emit(rest, true);
  for (let r = it.next(); !r.done; r = it.next()) yield { line: r.value.line, text: decode(r.value.bytes, r.value.line) };
}

/** Documents of a JSONL document file. Empty lines are skipped; a malformed line throws naming file and line. */
export async function* readDocs(file: string): AsyncGenerator<Document & { _line: number }> {
  for await (const { line, text } of readTextLines(file)) {
    if (text.trim() === '') continue;
    let o: any;
    try {
      o = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}:${line}: invalid JSON: ${(e as Error).message}`);
    }
    if (typeof o !== 'object' || o === null || typeof o.text !== 'string') throw new Error(`${file}:${line}: record has no string "text"`);
    yield {
      id: typeof o.id === 'string' ? o.id : String(o.id ?? `${basename(file)}:${line}`),
      text: o.text,
      source: typeof o.source === 'string' ? o.source : 'unknown',
      lang: typeof o.lang === 'string' ? o.lang : undefined,
      meta: o.meta && typeof o.meta === 'object' ? o.meta : {},
      _line: line,
    };
  }
}


/** Write documents as JSONL (zstd-compressed as independent ~1 MB frames when the name ends in .zst), atomically. */
export async function writeDocs(file: string, docs: Iterable<Partial<Document> & { text: string }>): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const lines: string[] = [];
  for (const d of docs) lines.push(JSON.stringify({ id: d.id, text: d.text, source: d.source, lang: d.lang, meta: d.meta ?? {} }) + '\n');
  const raw = Buffer.from(lines.join(''), 'utf8');
  let data: Uint8Array = raw;
  if (file.endsWith('.zst')) {
    const z = await zstdWasm();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < raw.length; i += 1 << 20) parts.push(z.compress(raw.subarray(i, Math.min(raw.length, i + (1 << 20))), 3));
    data = Buffer.concat(parts);
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function fileSize(file: string): number {
  return statSync(file).size;
}
