import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WordCounter, trainBpe, toTokenizerJson, writeTokenizerJson, pretokenize, byteLevelAlphabet } from './bpe.ts';
import { loadTokenizer, encodeTexts, decodeIds } from './encode.ts';
import { nfcLikeHf } from './bytebpe.ts';
import { trainTokenizer } from './train.ts';
import { writeDocs } from '../pipeline/writers/index.ts';
import { LocalExecutor } from '../pipeline/executor.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/qwen-ids.json', import.meta.url), 'utf8')) as {
  cases: { text: string; pieces: string[] }[];
};

/** Reference trainer: recount every pair after every merge (slow, obviously right). */
function naiveBpe(counts: Map<string, number>, nMerges: number, minFreq = 2): [string, string][] {
  const { chars, idOfByte } = byteLevelAlphabet();
  const vocab = chars.slice();
  const words = [...counts].map(([w, c]) => ({ s: Array.from(new TextEncoder().encode(w), (b) => idOfByte[b]), c }));
  const merges: [string, string][] = [];
  for (let m = 0; m < nMerges; m++) {
    const pc = new Map<string, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.s.length; i++) {
        const k = `${w.s[i]},${w.s[i + 1]}`;
        pc.set(k, (pc.get(k) ?? 0) + w.c);
      }
    let best: [number, number] | null = null,
      bc = 0;
    for (const [k, c] of pc) {
      const [a, b] = k.split(',').map(Number);
      if (c > bc || (c === bc && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bc = c;
      }
    }
    if (!best || bc < minFreq) break;
    const N = vocab.length;
    vocab.push(vocab[best[0]] + vocab[best[1]]);
    merges.push([vocab[best[0]], vocab[best[1]]]);
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.s.length;) {
        if (i + 1 < w.s.length && w.s[i] === best[0] && w.s[i + 1] === best[1]) {
          out.push(N);
          i += 2;
        } else out.push(w.s[i++]);
      }
      w.s = out;
    }
  }
  return merges;
}

const CORPUS = [
  '钢铁是怎样炼成的？钢铁是在烈火与骤冷中铸造而成的。所以它很坚固，我们什么也不怕。',
  '臺灣的國語與香港的粵語，龍鳳呈祥。憂鬱的臺北，鬱鬱蔥蔥。',
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away. aaaa aaaaaaa abab ababab',
  'def tokenize(text):\n    return [t for t in text.split() if t]\n\n\nclass A:\n    pass\n',
  'emoji 😀😀😀 🇨🇳 flags, tabs\t\t\tand   spaces    and\r\nCRLF lines 1234567890 数字 ①②',
  'combining e\u0301 vs \u00e9, zero\u200bwidth, bom\ufeff, <|im_end|> literal, nbsp\u00a0here',
];

test("bpe: pre-tokenizer equals the HF engine splitting with Qwen's regex (pieces from Python tokenizers)", () => {
  for (const { text, pieces } of fixture.cases) {
    assert.deepEqual(pretokenize(nfcLikeHf(text)), pieces, JSON.stringify(text).slice(0, 80));
  }
});

test('bpe: incremental training gives exactly the merges of a naive full recount', () => {
  const wc = new WordCounter();
  for (let r = 0; r < 3; r++) for (const t of CORPUS) wc.add(t);
  const fast = trainBpe(wc.counts, { vocabSize: 256 + 3 + 120, minFrequency: 2 });
  const slow = naiveBpe(wc.counts, 120, 2);
  assert.ok(fast.merges.length > 50);
  assert.deepEqual(fast.merges, slow);
});

test("bpe: same merges as Hugging Face's BpeTrainer (Python) on the same text", async (t) => {
  const { spawnSync } = await import('node:child_process');
  if (spawnSync('python3', ['-c', 'import tokenizers'], { encoding: 'utf8' }).status !== 0) {
    console.log('# SKIP BpeTrainer cross-check: python3 with tokenizers not available (pip install tokenizers)');
    t.skip('python tokenizers missing');
    return;
  }
  const dir = tmpDir('steel-bpe-');
  try {
    const texts: string[] = [];
    for (let r = 0; r < 4; r++) texts.push(...CORPUS.map((c, i) => `${c} ${r * 7 + i}`));
    texts.push(...fixture.cases.map((c) => c.text));
    const wc = new WordCounter();
    for (const x of texts) wc.add(x);
    const ours = trainBpe(wc.counts, { vocabSize: 700, minFrequency: 2 });
    const f = join(dir, 'texts.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(f, JSON.stringify(texts));
    const r = spawnSync('python3', [new URL('./fixtures/hf-bpe-train.py', import.meta.url).pathname, f, '700', '2'], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, r.stderr);
    const hf = JSON.parse(r.stdout) as [string, string][];
    assert.ok(ours.merges.length > 300);
    assert.equal(ours.merges.length, hf.length);
    assert.deepEqual(ours.merges, hf);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bpe: tokenizer.json loads in our encoder; decode(encode(x)) == x; specials; ids 0..255 = Qwen bytes', async () => {
  const dir = tmpDir('steel-bpe-');
  try {
    const wc = new WordCounter();
    for (let r = 0; r < 5; r++) for (const t of CORPUS) wc.add(t);
    const res = trainBpe(wc.counts, { vocabSize: 1000 });
    const path = join(dir, 'tokenizer.json');
    writeTokenizerJson(path, toTokenizerJson(res));
    const t = loadTokenizer(path);
    assert.equal(t.tok.vocabSize, res.vocab.length + 3);
    assert.equal(t.tok.tokenToId('<|im_end|>'), res.vocab.length + 2);
    assert.equal(t.info.eos_id, res.vocab.length + 2);
    const q = loadTokenizer('qwen');
    for (let i = 0; i < 256; i++) assert.equal(t.tok.idToToken(i), q.tok.idToToken(i));
    const texts = [...CORPUS, ...fixture.cases.map((c) => c.text)];
    const enc = await encodeTexts(t.tok, texts, null);
    for (let i = 0; i < texts.length; i++) assert.equal(await decodeIds(t.tok, enc[i]), texts[i], `round trip ${i}`);
    // trained merges compress the training text well below one token per byte
    const bytes = Buffer.byteLength(CORPUS[0]);
    assert.ok(enc[0].length < bytes / 2, `${enc[0].length} tokens for ${bytes} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bpe: steel tokenizer train driver (hold-out compression report vs Qwen)', async () => {
  const dir = tmpDir('steel-bpe-');
  try {
    const docs = [];
    for (let i = 0; i < 400; i++) {
      const zh = i % 2 === 0;
      docs.push({
        id: `d${i}`,
        source: 's',
        lang: zh ? 'zh' : 'en',
        text: zh ? `${CORPUS[i % 2]}第${i}号。` : `${CORPUS[2]} Number ${i}.`,
      });
    }
    const f = join(dir, 'docs.jsonl.zst');
    await writeDocs(f, docs);
    const rep = await trainTokenizer({ inputs: [f], vocabSize: 600, out: join(dir, 'tok.json'), log: () => {} });
    // parallel counting (2 files, 2 worker processes) gives the same tokenizer and report
    const f1 = join(dir, 'a.jsonl.zst'),
      f2 = join(dir, 'b.jsonl.zst');
    await writeDocs(f1, docs.slice(0, 150));
    await writeDocs(f2, docs.slice(150));
    const rep2 = await trainTokenizer({
      inputs: [f1, f2],
      vocabSize: 600,
      out: join(dir, 'tok2.json'),
      log: () => {},
      workers: 2,
      executor: new LocalExecutor({ inProcess: 'never', progress: { quiet: true } }),
    });
    assert.equal(readFileSync(join(dir, 'tok2.json'), 'utf8'), readFileSync(join(dir, 'tok.json'), 'utf8'));
    assert.deepEqual(rep2.compression, rep.compression);
    assert.equal(rep2.trainChars, rep.trainChars);
    assert.equal(rep.roundTrip.failures, 0);
    assert.ok(rep.roundTrip.documents > 300);
    const langs = rep.compression.map((r) => r.lang);
    assert.deepEqual(langs, ['en', 'zh']);
    for (const r of rep.compression) {
      assert.ok(r.documents > 5 && r.tokens > 0 && r.refTokens! > 0);
      assert.ok(r.charsPerToken > 1, `${r.lang}: ${r.charsPerToken}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
