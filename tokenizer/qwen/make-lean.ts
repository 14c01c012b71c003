/**
 * Make the lean Qwen tokenizer files of tokenizer/qwen/ from Qwen's tokenizer.json (the Qwen3 file: Qwen2/2.5/3 share
 * its vocabulary, merges, normaliser and pre-tokenizer; Qwen1.5 differs only in having 3 of its 26 added tokens).
 *
 *   npx tsx tokenizer/qwen/make-lean.ts PATH/TO/tokenizer.json
 *
 * Writes tokenizer/qwen/merges.bin.gz (the merges as pairs of token ids, uint32 little-endian, gzip) and
 * tokenizer/qwen/template.json (the file with an empty vocabulary and merge list). The vocabulary is not stored: in
 * Qwen's file ids 0..255 are the 256 byte-level characters in code point order and the token of merge r has id 256 + r,
 * so every token string follows from the merges. The script checks that, and that the files rebuild the input file
 * byte for byte (`qwenTokenizerJsonText` in tokenizer/qwen-files.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';
import { byteLevelAlphabet } from '../bpe.ts';
import { QWEN_FILES_DIR, qwenTokenizerJsonText, resetQwenFilesCache } from '../qwen-files.ts';

const src = process.argv[2];
if (!src) {
  console.error('usage: npx tsx tokenizer/qwen/make-lean.ts PATH/TO/tokenizer.json');
  process.exit(2);
}
const raw = readFileSync(src, 'utf8');
const json = JSON.parse(raw);
const vocab: Record<string, number> = json.model.vocab;
const merges: [string, string][] = json.model.merges.map((m: string | [string, string]) =>
  typeof m === 'string' ? (m.split(' ') as [string, string]) : m,
);
const alphabet = byteLevelAlphabet().chars;
for (let i = 0; i < 256; i++)
  if (vocab[alphabet[i]] !== i) throw new Error(`${src}: id ${i} is not byte-level character ${alphabet[i]}`);
if (Object.keys(vocab).length !== 256 + merges.length)
  throw new Error(`${src}: ${Object.keys(vocab).length} tokens, expected 256 + ${merges.length} merges`);
const pairs = new Uint32Array(merges.length * 2);
merges.forEach(([a, b], r) => {
  if (vocab[a + b] !== 256 + r) throw new Error(`${src}: merge ${r} (${a} ${b}) does not make token ${256 + r}`);
  pairs[2 * r] = vocab[a];
  pairs[2 * r + 1] = vocab[b];
});
json.model.vocab = {};
json.model.merges = [];
writeFileAtomic(join(QWEN_FILES_DIR, 'template.json'), JSON.stringify(json, null, 2));
writeFileAtomic(join(QWEN_FILES_DIR, 'merges.bin.gz'), gzipSync(Buffer.from(pairs.buffer), { level: 9 }));
resetQwenFilesCache();
const rebuilt = qwenTokenizerJsonText();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
if (rebuilt !== raw) throw new Error(`rebuilt tokenizer.json differs from ${src}`);
console.log(`wrote ${QWEN_FILES_DIR}: ${merges.length} merges; rebuilds ${src} exactly (sha256 ${sha(raw)})`);
