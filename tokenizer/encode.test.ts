import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadTokenizer, encodeTexts, decodeIds, qwenTokenizerPath, QWEN_EOS_ID } from './encode.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/qwen-ids.json', import.meta.url), 'utf8')) as {
  tokenizer_file_sha256: string;
  tokenizers_version: string;
  cases: { text: string; ids: number[]; ids_qwen3: number[] }[];
};

test('qwen tokenizer: the bundled tokenizer.json is byte-level BPE with 151,643 tokens + specials', () => {
  const raw = readFileSync(qwenTokenizerPath());
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
  assert.equal(t.tok.getVocabSize(true), 151646, 'Steel/Qwen1.5: three special tokens');
  assert.equal(loadTokenizer('qwen3').tok.getVocabSize(true), 151669);
  assert.deepEqual(
    { ...t.info, sha256: undefined },
    { name: 'qwen', sha256: undefined, vocab_size: 151936, eos_id: 151645, pad_id: 151643 },
  );
  assert.notEqual(t.info.sha256, loadTokenizer('qwen3').info.sha256);
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
