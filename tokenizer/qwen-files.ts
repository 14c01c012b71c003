/**
 * Qwen's tokenizer, shipped lean in tokenizer/qwen/ (Apache-2.0, see tokenizer/qwen/README.md): `template.json` (the
 * tokenizer.json of Qwen3 with an empty vocabulary and merge list) and `merges.bin.gz` (the 151,387 merges as pairs of
 * token ids). Ids 0..255 are the byte-level characters in code point order and merge r makes token 256 + r, so the
 * vocabulary follows from the merges; `qwenTokenizerJsonText` rebuilds Qwen's tokenizer.json byte for byte (for HF
 * exports and the tokenizer hash recorded in shards). `tokenizer/qwen/make-lean.ts` makes the files. Encoding needs
 * the merges unzipped only to build the encoder's tables when there is no image of them (tokenizer/encode.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { endianness } from 'node:os';
import { byteLevelAlphabet } from './bpe.ts';

/** sha256 of Qwen3's tokenizer.json as published (what qwenTokenizerJsonText rebuilds). */
export const QWEN3_TOKENIZER_SHA256 = 'aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4';

export const QWEN_FILES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'qwen');

export interface QwenFiles {
  /** tokenizer.json of Qwen3 without vocabulary and merges (parsed). */
  template: {
    added_tokens: { id: number; content: string; special: boolean }[];
    normalizer: { type: string } | null;
    pre_tokenizer: unknown;
    model: Record<string, unknown>;
  } & Record<string, unknown>;
  /** merges.bin.gz as read (what identifies the merges: the key of the encoder's kernel image, tokenizer/encode.ts). */
  mergesGz: Buffer;
  /** The number of merges (from the gzip trailer's size; `pairs` checks it). */
  merges: number;
  /** merge r joins tokens pairs[2r] and pairs[2r+1] into token 256 + r (unzipped on first use). */
  readonly pairs: Uint32Array;
  /** byteIds[b] = the id of the token of byte b. */
  byteIds: Uint32Array;
}

let cached: QwenFiles | undefined;

export function loadQwenFiles(): QwenFiles {
  if (cached) return cached;
  const tPath = join(QWEN_FILES_DIR, 'template.json');
  const mPath = join(QWEN_FILES_DIR, 'merges.bin.gz');
  let template: QwenFiles['template'];
  let mergesGz: Buffer;
  try {
    template = JSON.parse(readFileSync(tPath, 'utf8'));
    mergesGz = readFileSync(mPath);
  } catch (e) {
    throw new Error(`Qwen tokenizer files in ${QWEN_FILES_DIR} unreadable: ${(e as Error).message}`);
  }
  // gzip's last 4 bytes: the size unzipped (mod 2^32), which gunzip checks
  const size = mergesGz.length >= 18 ? mergesGz.readUInt32LE(mergesGz.length - 4) : 1;
  if (size % 8 !== 0) throw new Error(`${mPath}: ${size} bytes unzipped, not a list of id pairs`);
  let pairs: Uint32Array | undefined;
  const unzip = (): Uint32Array => {
    let buf: Buffer;
    try {
      buf = gunzipSync(mergesGz);
    } catch (e) {
      throw new Error(`${mPath} unreadable: ${(e as Error).message}`);
    }
    if (buf.length !== size) throw new Error(`${mPath}: ${buf.length} bytes unzipped, its trailer says ${size}`);
    const p = new Uint32Array(buf.length / 4);
    // little-endian u32s: on a little-endian host, the bytes as they are (302,774 readUInt32LE calls: ~0.015 CPU-s more)
    if (endianness() === 'LE') new Uint8Array(p.buffer).set(buf);
    else for (let i = 0; i < p.length; i++) p[i] = buf.readUInt32LE(4 * i);
    return p;
  };
  const byteIds = Uint32Array.from(byteLevelAlphabet().idOfByte);
  cached = {
    template,
    mergesGz,
    merges: size / 8,
    get pairs() {
      return (pairs ??= unzip());
    },
    byteIds,
  };
  return cached;
}

/** For make-lean.ts after it rewrote the files. */
export function resetQwenFilesCache(): void {
  cached = undefined;
}

/** Token strings (byte-level characters) of ids 0 .. 256 + merges - 1. */
export function qwenTokenStrings(f: QwenFiles = loadQwenFiles()): string[] {
  const toks = byteLevelAlphabet().chars.slice();
  for (let r = 0; r < f.pairs.length / 2; r++) toks.push(toks[f.pairs[2 * r]] + toks[f.pairs[2 * r + 1]]);
  return toks;
}

/** Qwen's tokenizer.json (the Qwen3 file: 26 added tokens), exactly as published. */
export function qwenTokenizerJsonText(): string {
  const f = loadQwenFiles();
  const toks = qwenTokenStrings(f);
  const text = JSON.stringify(f.template, null, 2);
  const vocab = toks.map((t, i) => `      ${JSON.stringify(t)}: ${i}`).join(',\n');
  const merges: string[] = [];
  for (let r = 0; r < f.pairs.length / 2; r++)
    merges.push(
      `      [\n        ${JSON.stringify(toks[f.pairs[2 * r]])},\n        ${JSON.stringify(toks[f.pairs[2 * r + 1]])}\n      ]`,
    );
  const v = '"vocab": {}';
  const m = '"merges": []';
  if (text.indexOf(v) < 0 || text.indexOf(m) < 0)
    throw new Error(`${QWEN_FILES_DIR}/template.json: no empty vocab/merges`);
  return text
    .replace(v, () => `"vocab": {\n${vocab}\n    }`)
    .replace(m, () => `"merges": [\n${merges.join(',\n')}\n    ]`);
}
