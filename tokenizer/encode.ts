/**
 * Encoding documents with our byte-level BPE encoder (tokenizer/bytebpe.ts; ids identical to Hugging Face `tokenizers`).
 * Default: Qwen's tokenizer, shipped lean in tokenizer/qwen/ (byte-level BPE, 151,643 ordinary tokens + specials).
 * Each document gets the eos id appended (Qwen: `<|im_end|>` = 151645), as Steel-LLM did.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { ByteBpe, byteBpeFromTokenizerJson } from './bytebpe.ts';
import { loadQwenFiles, QWEN3_TOKENIZER_SHA256, qwenTokenizerJsonText, qwenTokenStrings } from './qwen-files.ts';
import type { TokenizerInfo } from './shards.ts';

export const QWEN_EOS_ID = 151645; // <|im_end|>
export const QWEN_PAD_ID = 151643; // <|endoftext|>
/** Qwen's embedding size (vocabulary padded for the model). */
export const QWEN_VOCAB_PADDED = 151936;
/** sha256 of the effective tokenizer.json text of "qwen" (the Qwen3 file with only Qwen1.5's three special tokens,
 * re-serialised by JSON.stringify): what shards record; encode.test.ts checks it against tokenizerJsonText. */
export const QWEN_STEEL_SHA256 = 'cd44726ce02bdf9595aef02c24f0af2fef1a09c8d4c93b486ff6f4084cf1856c';

/**
 * Path of Qwen's tokenizer.json (the Qwen3 file as published), for tools that want the file (HF exports, the Python
 * cross-checks): rebuilt from tokenizer/qwen/ once into the temp folder, named by its sha256.
 */
export function qwenTokenizerPath(): string {
  const p = join(tmpdir(), `steel-qwen3-tokenizer-${QWEN3_TOKENIZER_SHA256.slice(0, 16)}.json`);
  if (!existsSync(p)) {
    const text = qwenTokenizerJsonText();
    const sha = createHash('sha256').update(text).digest('hex');
    if (sha !== QWEN3_TOKENIZER_SHA256) throw new Error(`tokenizer/qwen/ rebuilds a tokenizer.json with sha256 ${sha}`);
    writeFileAtomic(p, text);
  }
  return p;
}

/** Names of the bundled tokenizers (anything else is a path to a tokenizer.json). */
export const QWEN_STEEL_NAMES = ['qwen', 'qwen1.5', 'qwen2'];
export const QWEN3_NAMES = ['qwen3'];

export function isBundledName(spec: string): boolean {
  return QWEN_STEEL_NAMES.includes(spec) || QWEN3_NAMES.includes(spec);
}

/** "qwen"/"qwen1.5"/"qwen2"/"qwen3" → "bundled:NAME" (tokenizer/qwen/); anything else is a path to a tokenizer.json. */
export function resolveTokenizerPath(spec: string): string {
  if (isBundledName(spec)) return `bundled:${spec}`;
  const p = resolve(spec);
  if (!existsSync(p))
    throw new Error(`tokenizer ${spec}: file not found (give "qwen", "qwen3" or a path to a tokenizer.json)`);
  return p;
}

/** A bundled name stays as is; a path becomes absolute (so worker processes resolve it the same way). */
export function canonicalTokenizerSpec(spec: string): string {
  return isBundledName(spec) ? spec : resolveTokenizerPath(spec);
}

/**
 * The tokenizer.json text a spec stands for. "qwen" (= "qwen1.5", "qwen2") is the tokenizer Steel-LLM used:
 * Qwen1.5's, i.e. the Qwen3 file's BPE vocabulary, merges, NFC normaliser and pre-tokenizer (identical in both)
 * with only Qwen1.5's three special tokens (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645). So text
 * that contains e.g. "<think>" or "<|fim_prefix|>" is encoded as ordinary text, as Qwen1.5 did. "qwen3" keeps all
 * 26 special tokens of the Qwen3 file.
 */
export function tokenizerJsonText(spec: string): { path: string; text: string } {
  const path = resolveTokenizerPath(spec);
  const raw = isBundledName(spec) ? qwenTokenizerJsonText() : readFileSync(path, 'utf8');
  if (!QWEN_STEEL_NAMES.includes(spec)) return { path, text: raw };
  const json = JSON.parse(raw);
  json.added_tokens = (json.added_tokens as { id: number }[]).filter((t) => t.id >= 151643 && t.id <= 151645);
  return { path, text: JSON.stringify(json) };
}

export interface LoadedTokenizer {
  /** the tokenizer.json path, or "bundled:NAME" */
  path: string;
  tok: ByteBpe;
  info: TokenizerInfo;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

const loaded = new Map<string, LoadedTokenizer>();

/** Load a tokenizer (cached per spec): "qwen", "qwen3" or a path to a byte-level BPE tokenizer.json. */
export function loadTokenizer(spec = 'qwen'): LoadedTokenizer {
  const key = canonicalTokenizerSpec(spec);
  let t = loaded.get(key);
  if (!t) {
    t = loadTokenizerUncached(spec);
    loaded.set(key, t);
  }
  return t;
}

/**
 * The image of the bundled Qwen encoder's kernel tables (tokenizer/bytebpe.ts, ByteBpeSpec.image): written into
 * dist/tokenizer/ at build time (scripts/build.mjs, `writeQwenKernelImage`), so that a process adopts the tables
 * instead of unzipping the merges and building them (~0.08 CPU-s per process); ignored unless it is an image of these
 * very merges and kernel. From the sources (tsx) there is none: the tables are built.
 */
export const QWEN_KERNEL_IMAGE = fileURLToPath(new URL('./qwen-kernel.bin', import.meta.url));

/** The encoder of a bundled name ("qwen", "qwen3", ...), its kernel's tables adopted from `image` when it fits. */
export function bundledQwen(spec: string, image = QWEN_KERNEL_IMAGE): ByteBpe {
  const f = loadQwenFiles();
  const m = f.merges;
  let merges: { left: Uint32Array; right: Uint32Array; result: Uint32Array } | undefined;
  // the merges as the kernel's build takes them: only when there is no image of its tables
  const split = () => {
    if (merges) return merges;
    const pairs = f.pairs;
    const left = new Uint32Array(m),
      right = new Uint32Array(m),
      result = new Uint32Array(m);
    for (let r = 0; r < m; r++) {
      left[r] = pairs[2 * r];
      right[r] = pairs[2 * r + 1];
      result[r] = 256 + r;
    }
    return (merges = { left, right, result });
  };
  const steel = QWEN_STEEL_NAMES.includes(spec);
  const added = f.template.added_tokens
    .filter((t) => !steel || (t.id >= 151643 && t.id <= 151645))
    .map((t) => ({ id: t.id, content: t.content, special: t.special }));
  const nfc = f.template.normalizer?.type === 'NFC';
  // the token strings only when decoding needs them (0.07 CPU-s): encoding a worker's documents does not
  const tokens = { count: 256 + m, make: () => qwenTokenStrings(f) };
  return new ByteBpe({
    byteIds: f.byteIds,
    get left() {
      return split().left;
    },
    get right() {
      return split().right;
    },
    get result() {
      return split().result;
    },
    tokens,
    added,
    nfc,
    // result[r] = 256 + r and the byte ids follow from the merges' file and the code
    image: { path: image, source: () => [f.mergesGz, new Uint8Array(f.byteIds.buffer)] },
  });
}

/** Writes the image of the bundled Qwen encoder's kernel tables to `path` (scripts/build.mjs: into dist/). */
export function writeQwenKernelImage(path = QWEN_KERNEL_IMAGE): void {
  writeFileAtomic(path, bundledQwen('qwen', '').kernelImage());
}

function loadTokenizerUncached(spec: string): LoadedTokenizer {
  let path: string, tok: ByteBpe, sha256: string, modelType: string;
  if (isBundledName(spec)) {
    path = resolveTokenizerPath(spec);
    tok = bundledQwen(spec);
    sha256 = QWEN_STEEL_NAMES.includes(spec) ? QWEN_STEEL_SHA256 : QWEN3_TOKENIZER_SHA256;
    modelType = 'bpe';
  } else {
    path = resolveTokenizerPath(spec);
    const text = readFileSync(path, 'utf8');
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`${path}: not JSON: ${(e as Error).message}`);
    }
    tok = byteBpeFromTokenizerJson(json, path);
    sha256 = createHash('sha256').update(text).digest('hex');
    modelType = String((json.model as { type?: string } | undefined)?.type ?? 'custom').toLowerCase();
  }
  const eos = tok.tokenToId('<|im_end|>') ?? tok.tokenToId('<|endoftext|>') ?? tok.tokenToId('</s>');
  const pad = tok.tokenToId('<|endoftext|>') ?? eos;
  if (eos === undefined || pad === undefined || eos < tok.baseVocabSize)
    throw new Error(`${path}: no <|im_end|> / <|endoftext|> special token to use as eos`);
  const isQwen = eos === QWEN_EOS_ID && tok.vocabSize <= QWEN_VOCAB_PADDED && tok.baseVocabSize === 151643;
  const info: TokenizerInfo = {
    name: isBundledName(spec)
      ? QWEN3_NAMES.includes(spec)
        ? 'qwen3'
        : 'qwen'
      : isQwen
        ? 'qwen-compatible'
        : modelType,
    // hash of the effective tokenizer.json text (for "qwen": the file with the special tokens trimmed as above)
    sha256,
    vocab_size: isQwen ? QWEN_VOCAB_PADDED : roundUp(tok.vocabSize, 128),
    eos_id: eos,
    pad_id: pad,
  };
  return { path, tok, info };
}

/** Encode texts (no special tokens added around them) and append `eosId` to each; null eos = none. */
export async function encodeTexts(tok: ByteBpe, texts: string[], eosId: number | null): Promise<Uint32Array[]> {
  const out: Uint32Array[] = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) out[i] = tok.encodeWithEos(texts[i], eosId);
  return out;
}

/** Decode ids to text (special tokens kept unless `skipSpecial`). */
export async function decodeIds(tok: ByteBpe, ids: ArrayLike<number>, skipSpecial = false): Promise<string> {
  return tok.decode(ids, skipSpecial);
}

/** Token counts (no special tokens) with tokenizer `spec`: what filters' alnum_token_ratio is given (cli/operators.ts). */
export function tokenCounter(spec: string): { countTokens(texts: string[]): Promise<number[]> } {
  const { tok } = loadTokenizer(spec);
  return {
    async countTokens(texts) {
      return texts.map((t) => tok.count(t));
    },
  };
}
