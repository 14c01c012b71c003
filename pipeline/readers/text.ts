import { TextDecoder } from 'node:util';
import { openBytes } from './bytes.ts';
import { preview, type ReadItem, type ReadOptions } from './types.ts';

/**
 * Plain text reader: the whole file is one document (record `{text, path}`), decoded in the declared encoding
 * with a streaming fatal TextDecoder. A file that is not valid in that encoding becomes one reject.
 */
export async function* readText(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const encoding = opts.encoding ?? 'utf-8';
  let dec: TextDecoder;
  try {
    dec = new TextDecoder(encoding, { fatal: true });
  } catch {
    throw new Error(`${file}: unknown encoding "${encoding}"`);
  }
  const parts: string[] = [];
  const chunks: Uint8Array[] = [];
  let error: string | undefined;
  for await (const c of openBytes(file, opts.onBytes)) {
    if (error) {
      chunks.push(c);
      continue;
    }
    try {
      parts.push(dec.decode(c, { stream: true }));
    } catch {
      error = `invalid ${encoding === 'utf-8' ? 'UTF-8' : encoding} byte sequence`;
      chunks.push(c);
    }
  }
  if (!error) {
    try {
      parts.push(dec.decode());
    } catch {
      error = `invalid ${encoding === 'utf-8' ? 'UTF-8' : encoding} byte sequence (truncated at end of file)`;
    }
  }
  const loc = { file, line: 1 };
  if (error) {
    const raw = parts.join('') + new TextDecoder(encoding).decode(Buffer.concat(chunks));
    yield { kind: 'reject', loc, error, raw: preview(raw) };
    return;
  }
  let text = parts.join('');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  yield { kind: 'record', record: { [opts.textField ?? 'text']: text, path: file }, loc };
}
