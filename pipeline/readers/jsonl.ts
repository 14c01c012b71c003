import { TextDecoder } from 'node:util';
import { openBytes } from './bytes.ts';
import { preview, type ReadItem, type ReadOptions } from './types.ts';

export interface Line {
  /** 1-based line number. */
  line: number;
  text?: string;
  /** Set when the line's bytes are not valid in the declared encoding. */
  error?: string;
  /** Lossy decoding of an undecodable line (for the rejects file). */
  raw?: string;
}

const NL = 10;

/**
 * Stream the lines of a (possibly compressed) text file, decoded with a fatal TextDecoder per line, so one line
 * that is not valid in the declared encoding is reported alone with its number. Splitting on the 0x0A byte is safe
 * for UTF-8 and for GBK/GB18030/Big5 (their trail bytes are >= 0x40).
 */
export async function* readLines(file: string, opts: ReadOptions = {}): AsyncGenerator<Line> {
  const encoding = opts.encoding ?? 'utf-8';
  let fatal: TextDecoder;
  try {
    fatal = new TextDecoder(encoding, { fatal: true });
  } catch {
    throw new Error(`${file}: unknown encoding "${encoding}"`);
  }
  const lossy = new TextDecoder(encoding);
  let lineNo = 0;
  let pending: Uint8Array[] = [];
  let pendingLen = 0;

  function* decodeBlock(block: Uint8Array, final: boolean): Generator<Line> {
    // Fast path: the whole block (many lines) decodes at once.
    let text: string | undefined;
    try {
      text = fatal.decode(block);
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const parts = text.split('\n');
      if (!final || parts[parts.length - 1] === '') parts.pop(); // block ends with '\n'
      for (const p of parts) {
        lineNo++;
        yield { line: lineNo, text: lineNo === 1 && p.charCodeAt(0) === 0xfeff ? p.slice(1) : p };
      }
      return;
    }
    // Slow path: decode line by line to find the bad ones.
    let start = 0;
    while (start < block.length) {
      let end = block.indexOf(NL, start);
      if (end < 0) end = block.length;
      const bytes = block.subarray(start, end);
      lineNo++;
      try {
        let t = fatal.decode(bytes);
        if (lineNo === 1 && t.charCodeAt(0) === 0xfeff) t = t.slice(1);
        yield { line: lineNo, text: t };
      } catch {
        yield { line: lineNo, error: `invalid ${encoding === 'utf-8' || encoding === 'utf8' ? 'UTF-8' : encoding} byte sequence`, raw: lossy.decode(bytes) };
      }
      start = end + 1;
    }
  }

  for await (const chunk of openBytes(file, opts.onBytes)) {
    const last = chunk.lastIndexOf(NL);
    if (last < 0) {
      pending.push(chunk);
      pendingLen += chunk.length;
      continue;
    }
    let block: Uint8Array;
    if (pendingLen) {
      pending.push(chunk.subarray(0, last + 1));
      block = Buffer.concat(pending);
    } else block = chunk.subarray(0, last + 1);
    const rest = chunk.subarray(last + 1);
    pending = rest.length ? [Uint8Array.prototype.slice.call(rest)] : [];
    pendingLen = rest.length;
    yield* decodeBlock(block, false);
  }
  if (pendingLen) yield* decodeBlock(Buffer.concat(pending), true);
}

/** JSONL reader: one JSON object per line; blank lines are skipped; bad lines become rejects with file and line. */
export async function* readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  for await (const l of readLines(file, opts)) {
    const loc = { file, line: l.line };
    if (l.error !== undefined) {
      yield { kind: 'reject', loc, error: l.error, raw: preview(l.raw ?? '') };
      continue;
    }
    const s = l.text!;
    if (s.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      yield { kind: 'reject', loc, error: `bad JSON: ${(e as Error).message}`, raw: preview(s) };
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      yield { kind: 'reject', loc, error: `not a JSON object (got ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v})`, raw: preview(s) };
      continue;
    }
    yield { kind: 'record', record: v as Record<string, unknown>, loc };
  }
}
