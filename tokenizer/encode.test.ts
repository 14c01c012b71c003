import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizer, encodeTexts, decodeIds, QWEN_EOS_ID } from './encode.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/qwen-ids.json', import.meta.url), 'utf8')) as {
  tokenizer_sha256: string; tokenizers_version: string; cases: { text: string; ids: number[] }[];
};

test('qwen tokenizer: the bundled tokenizer.json is byte-level BPE with 151,643 tokens + specials', () => {
  const t = loadTokenizer('qwen');
  const json = JSON.parse(readFileSync(t.path, 'utf8'));
  assert.equal(json.model.type, 'BPE');
  assert.equal(Object.keys(json.model.vocab).length, 151643);
  assert.equal(json.model.merges.length, 151387);
  assert.equal(json.pre_tokenizer.pretokenizers[1].type, 'ByteLevel');
  assert.equal(t.tok.tokenToId('<|im_end|>'), QWEN_EOS_ID);
  assert.equal(t.tok.tokenToId('<|endoftext|>'), 151643);
  assert.deepEqual({ ...t.info, sha256: undefined }, { name: 'qwen', sha256: undefined, vocab_size: 151936, eos_id: 151645, pad_id: 151643 });
  assert.equal(t.info.sha256, fixture.tokenizer_sha256, 'fixture was made from a different tokenizer.json: rerun make-fixture.py');
});

test(`qwen tokenizer: ids equal Python tokenizers (${fixture.cases.length} fixture texts)`, async () => {
  const t = loadTokenizer('qwen');
  const texts = fixture.cases.map((c) => c.text);
  const plain = await encodeTexts(t.tok, texts, null);
  const withEos = await encodeTexts(t.tok, texts, t.info.eos_id);
  for (let i = 0; i < texts.length; i++) {
    assert.deepEqual(Array.from(plain[i]), fixture.cases[i].ids, `case ${i}: ${JSON.stringify(texts[i]).slice(0, 60)}`);
    assert.deepEqual(Array.from(withEos[i]), [...fixture.cases[i].ids, 151645]);
  }
  // byte-level BPE is lossless for NFC text without special-token literals
  for (const i of [1, 3, 5, 7, 8]) {
    assert.equal(await decodeIds(t.tok, plain[i]), texts[i].normalize('NFC'));
  }
});
