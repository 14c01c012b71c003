import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  loadTokenizer,
  encodeTexts,
  decodeIds,
  qwenTokenizerPath,
  tokenizerJsonText,
  tokenCounter,
  QWEN_EOS_ID,
  QWEN_STEEL_SHA256,
} from './encode.ts';
import { ByteBpe, byteBpeFromTokenizerJson } from './bytebpe.ts';
import { sampleFixtureDocs, SAMPLE_FIXTURE } from './fixtures/sample-docs.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/qwen-ids.json', import.meta.url), 'utf8')) as {
  tokenizer_file_sha256: string;
  tokenizers_version: string;
  cases: { text: string; ids: number[]; ids_qwen3: number[] }[];
};

test('qwen tokenizer: tokenizer/qwen/ rebuilds the published tokenizer.json; byte-level BPE, 151,643 tokens + specials', () => {
  const raw = readFileSync(qwenTokenizerPath());
  assert.equal(tokenizerJsonText('qwen3').text, raw.toString('utf8'));
  assert.equal(createHash('sha256').update(tokenizerJsonText('qwen').text).digest('hex'), QWEN_STEEL_SHA256);
  assert.equal(
    createHash('sha256').update(raw).digest('hex'),
    fixture.tokenizer_file_sha256,
    'fixture made from another tokenizer.json: rerun tokenizer/fixtures/make-fixture.py',
  );
  const json = JSON.parse(raw.toString('utf8'));
  assert.equal(json.model.type, 'BPE');
  assert.equal(Object.keys(json.model.vocab).length, 151643);
  assert.equal(json.model.merges.length, 151387);
  assert.equal(json.pre_tokenizer.pretokenizers[1].type, 'ByteLevel');
  assert.equal(json.normalizer.type, 'NFC');
  const t = loadTokenizer('qwen');
  assert.equal(t.tok.tokenToId('<|im_end|>'), QWEN_EOS_ID);
  assert.equal(t.tok.tokenToId('<|endoftext|>'), 151643);
  assert.equal(t.tok.vocabSize, 151646, 'Steel/Qwen1.5: three special tokens');
  assert.equal(loadTokenizer('qwen3').tok.vocabSize, 151669);
  assert.deepEqual(
    { ...t.info, sha256: undefined },
    { name: 'qwen', sha256: undefined, vocab_size: 151936, eos_id: 151645, pad_id: 151643 },
  );
  assert.equal(loadTokenizer('qwen3').info.sha256, fixture.tokenizer_file_sha256);
  // the same encoder built from the full tokenizer.json (the path a custom tokenizer takes) agrees with the lean build
  const full = byteBpeFromTokenizerJson(JSON.parse(raw.toString('utf8')), 'qwen3');
  for (const c of fixture.cases) assert.deepEqual(Array.from(full.encode(c.text)), c.ids_qwen3);
  for (const id of [0, 255, 256, 1000, 151642]) assert.equal(full.idToToken(id), t.tok.idToToken(id));
  // the lean build makes its token strings only when asked (decoding, ordinary token ids): the same ones
  for (const tok of ['Ġthe', 'ä¸Ń', '!']) assert.equal(t.tok.tokenToId(tok), full.tokenToId(tok), tok);
  assert.equal(t.tok.baseVocabSize, full.baseVocabSize);
  const spec = { ...t.tok.spec, tokens: { count: 151643, make: () => ['a'] } };
  assert.throws(() => new ByteBpe(spec).idToToken(5), /1 token strings, expected 151643/);
});

test('qwen tokenizer: ids equal Python tokenizers on real documents of the bundled sample (committed fixture)', async () => {
  const fx = JSON.parse(gunzipSync(readFileSync(SAMPLE_FIXTURE)).toString('utf8')) as {
    cases: { file: string; index: number; sha256: string; ids: number[] }[];
  };
  const docs = await sampleFixtureDocs();
  assert.equal(docs.length, fx.cases.length, 'sample changed: rerun tokenizer/fixtures/make-sample-fixture.ts');
  const t = loadTokenizer('qwen');
  const counter = tokenCounter('qwen');
  const counts = await counter.countTokens(docs.map((d) => d.text));
  let tokens = 0;
  for (let i = 0; i < docs.length; i++) {
    const c = fx.cases[i];
    assert.equal(`${docs[i].file}#${docs[i].index}`, `${c.file}#${c.index}`);
    assert.equal(
      createHash('sha256').update(docs[i].text).digest('hex').slice(0, 16),
      c.sha256,
      `${c.file}#${c.index}`,
    );
    const got = t.tok.encode(docs[i].text);
    assert.deepEqual(Array.from(got), c.ids, `${c.file}#${c.index}`);
    assert.equal(counts[i], c.ids.length);
    assert.equal(await decodeIds(t.tok, got), docs[i].text.normalize('NFC'), `round trip ${c.file}#${c.index}`);
    tokens += got.length;
  }
  assert.ok(docs.length > 150 && tokens > 200_000, `${docs.length} documents, ${tokens} tokens`);
});

test('qwen tokenizer: decode keeps or skips special tokens as HF does; invalid UTF-8 becomes U+FFFD', async () => {
  const t3 = loadTokenizer('qwen3').tok;
  const ids = t3.encode('<|im_start|>user\nhi<think>x</think><|im_end|>');
  assert.equal(t3.decode(ids), '<|im_start|>user\nhi<think>x</think><|im_end|>');
  // <think> is an added token that is not special: kept when special tokens are skipped
  assert.equal(t3.decode(ids, true), 'user\nhi<think>x</think>');
  // "粵" is two tokens (89297, 113): the first alone is an incomplete UTF-8 sequence
  assert.deepEqual(Array.from(t3.encode('粵')), [89297, 113]);
  assert.equal(t3.decode([89297]), '\ufffd');
  assert.equal(t3.decode([89297, 113]), '粵');
});

test(`qwen tokenizer: ids equal Python tokenizers (${fixture.cases.length} fixture texts, "qwen" and "qwen3")`, async () => {
  const t = loadTokenizer('qwen');
  const t3 = loadTokenizer('qwen3');
  const texts = fixture.cases.map((c) => c.text);
  const plain = await encodeTexts(t.tok, texts, null);
  const withEos = await encodeTexts(t.tok, texts, t.info.eos_id);
  const q3 = await encodeTexts(t3.tok, texts, null);
  let differ = 0;
  for (let i = 0; i < texts.length; i++) {
    assert.deepEqual(Array.from(plain[i]), fixture.cases[i].ids, `case ${i}: ${JSON.stringify(texts[i]).slice(0, 60)}`);
    assert.deepEqual(Array.from(withEos[i]), [...fixture.cases[i].ids, 151645]);
    assert.deepEqual(Array.from(q3[i]), fixture.cases[i].ids_qwen3, `qwen3 case ${i}`);
    if (fixture.cases[i].ids.join() !== fixture.cases[i].ids_qwen3.join()) differ++;
  }
  assert.equal(differ, 1, 'only the text with Qwen3-only special-token literals encodes differently');
  // byte-level BPE is lossless for NFC text
  for (const i of [1, 3, 5, 7, 8]) {
    assert.equal(await decodeIds(t.tok, plain[i]), texts[i].normalize('NFC'));
  }
});
