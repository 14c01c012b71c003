import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { trainKneserNey, formatArpa, ArpaModel, loadArpa, tokenizeLine } from './lm.ts';
import { zstdCompressChunk } from '../pipeline/writers/index.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);
const p = (m: ArpaModel, h: string[], w: string) => Math.pow(10, m.logProb(h, w));

test('modified Kneser-Ney on a hand-checked corpus ("a b", "a"; bigram)', () => {
  // Adjusted counts: unigram continuation a=1 (after <s>), b=1 (after a), </s>=2 (after a, b); discounts fall back to
  // 0.5/1/1.5 (too little data for count-of-counts). gamma() = (0.5*2 + 1*1)/4 = 0.5, |V| = 4 (a, b, </s>, <unk>).
  const km = trainKneserNey([['a', 'b'], ['a']], 2);
  const m = ArpaModel.parse(formatArpa(km));
  close(p(m, [], 'a'), 0.25);
  close(p(m, [], 'b'), 0.25);
  close(p(m, [], '</s>'), 0.375);
  close(p(m, [], '<unk>'), 0.125);
  // p(a|<s>) = (2-1)/2 + gamma(<s>)=0.5 * 0.25
  close(p(m, ['<s>'], 'a'), 0.625);
  // p(b|a) = (1-0.5)/2 + 0.5*0.25 ; p(</s>|a) = 0.25 + 0.5*0.375 ; p(</s>|b) = 0.5 + 0.5*0.375
  close(p(m, ['a'], 'b'), 0.375);
  close(p(m, ['a'], '</s>'), 0.4375);
  close(p(m, ['b'], '</s>'), 0.6875);
  // unseen bigram backs off: p(b|<s>) = gamma(<s>) * p(b)
  close(p(m, ['<s>'], 'b'), 0.125);
  // unknown words map to <unk>
  close(p(m, ['a'], 'zzz'), 0.5 * 0.125);
});

test('probabilities sum to 1 over the vocabulary for seen and unseen contexts (char 4-gram)', () => {
  const text = [
    '今天天气很好，我们去公园散步。',
    '今天天气不好，我们在家看书。',
    '明天天气很好吗？',
    'the cat sat on the mat',
    'the dog sat on the log',
  ];
  const km = trainKneserNey(
    text.map((l) => tokenizeLine(l, 'char')),
    4,
  );
  const m = ArpaModel.parse(formatArpa(km));
  const vocab = [...km.grams[0].keys()].filter((k) => k !== '<s>');
  for (const h of [
    ['<s>'],
    ['今', '天'],
    ['天', '天', '气'],
    ['t', 'h', 'e'],
    ['x', 'y', 'z'],
    ['<s>', '明', '天'],
    ['好'],
  ]) {
    const s = vocab.reduce((a, w) => a + p(m, h, w), 0);
    close(s, 1, 1e-5);
  }
  // a sentence seen in training is more probable than a shuffled one
  assert.ok(
    m.perplexity('今天天气很好，我们去公园散步。', 'char') < m.perplexity('园公去们我，好很气天天今步散。', 'char'),
  );
});

test('loads KenLM-style ARPA (word-level) and scores with back-off', () => {
  const arpa = `
\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.30103
-0.5\thello\t-0.2
-0.4\t</s>

\\2-grams:
-0.1\t<s> hello
-0.2\thello </s>

\\end\\
`;
  const m = ArpaModel.parse(arpa);
  close(m.logProb(['<s>'], 'hello'), -0.1);
  close(m.logProb(['hello'], '</s>'), -0.2);
  // back-off: bow(<s>) + p(</s>)
  close(m.logProb(['<s>'], '</s>'), -0.30103 - 0.4);
  close(m.scoreSentence(['hello']), -0.3);
  // data-juicer perplexity: 10^(-sum/len) with len = words + 1 per line
  close(m.perplexity('hello', 'whitespace'), Math.pow(10, 0.3 / 2));
  assert.throws(
    () => ArpaModel.parse('\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n\\end\\\n', 'x.arpa'),
    /x.arpa: header says 2 1-grams, found 1/,
  );
  assert.throws(() => ArpaModel.parse('hello', 'y.arpa'), /y.arpa: not an ARPA file/);
});

test('loadArpa reads a zstd-compressed ARPA file (several frames) as the plain one; a damaged one is a clear error', async () => {
  const dir = tmpDir('steel-lm-');
  const km = trainKneserNey(
    Array.from({ length: 400 }, (_, i) => [`w${i % 37}`, `w${(i * 7) % 53}`, `w${(i * 11) % 29}`]),
    3,
  );
  const text = Buffer.from(formatArpa(km));
  const frames = [];
  for (let at = 0; at < text.length; at += 5000) frames.push(await zstdCompressChunk(text.subarray(at, at + 5000)));
  assert.ok(frames.length > 2);
  writeFileSync(join(dir, 'm.arpa'), text);
  writeFileSync(join(dir, 'm.arpa.zst'), Buffer.concat(frames));
  const plain = await loadArpa(join(dir, 'm.arpa'));
  const zst = await loadArpa(join(dir, 'm.arpa.zst'));
  for (const line of ['w1 w7 w11 w3', 'w5 w35 w0', 'zzz w2'])
    assert.equal(zst.perplexity(line, 'whitespace'), plain.perplexity(line, 'whitespace'), line);
  const z = Buffer.concat(frames);
  writeFileSync(join(dir, 'bad.arpa.zst'), z.subarray(0, z.length - 7)); // the last frame cut short
  await assert.rejects(loadArpa(join(dir, 'bad.arpa.zst')), /bad\.arpa\.zst: truncated or corrupt zstd stream/);
});

test('steel lm train / score CLI', () => {
  const dir = tmpDir('steel-lm-');
  try {
    const input = join(dir, 'ref.jsonl');
    writeFileSync(
      input,
      ['今天天气很好。\n我们去公园。', '今天天气不好。', 'the cat sat']
        .map((t, i) => JSON.stringify({ id: `d${i}`, text: t }))
        .join('\n') + '\n',
    );
    const out = join(dir, 'm.arpa');
    const r = spawnSync(
      process.execPath,
      ['cli/steel.js', 'lm', 'train', '--input', input, '--order', '3', '--out', out],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 documents, 4 sentences/);
    const m = ArpaModel.parse(readFileSync(out, 'utf8'));
    assert.equal(m.order, 3);
    const s = spawnSync(process.execPath, ['cli/steel.js', 'lm', 'score', '--model', out, input], { encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    const lines = s.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.perplexity > 1 && l.perplexity < 100));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
