/**
 * The encoder's WebAssembly kernel (tokenizer/bpe-kernel.c) against a reference written for clarity: pieces by the
 * TypeScript scanner (tokenizer/pretokenize.ts, itself tested against Qwen's regex), each piece's UTF-8 bytes merged
 * one merge at a time (the lowest rank present, leftmost among equal ranks), no piece cache and no cuts. The kernel's
 * ids on real documents are compared with Python `tokenizers` in encode.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from './encode.ts';
import { ByteBpe, NFC_UNSAFE, nfcLikeHf, nfcUnsafeBits, type ByteBpeSpec } from './bytebpe.ts';
import { pieceEnd } from './pretokenize.ts';
import { textLength } from '../pipeline/document.ts';
import { sampleFixtureDocs } from './fixtures/sample-docs.ts';

/** The reference encoder of `spec` (no added tokens). */
function reference(spec: ByteBpeSpec): (text: string) => number[] {
  const rank = new Map<number, number>();
  // a repeated merge keeps its first rank
  for (let r = spec.left.length - 1; r >= 0; r--) rank.set(spec.left[r] * 2 ** 21 + spec.right[r], r);
  const utf8 = new TextEncoder();
  return (text) => {
    const out: number[] = [];
    const s = spec.nfc ? nfcLikeHf(text) : text;
    for (let i = 0; i < s.length;) {
      const e = pieceEnd(s, i, s.length);
      const ids = Array.from(utf8.encode(s.slice(i, e)), (b) => spec.byteIds[b]);
      for (;;) {
        let best = -1,
          at = -1;
        for (let j = 0; j + 1 < ids.length; j++) {
          const r = rank.get(ids[j] * 2 ** 21 + ids[j + 1]);
          if (r !== undefined && (best < 0 || r < best)) [best, at] = [r, j];
        }
        if (best < 0) break;
        ids.splice(at, 2, spec.result[best]);
      }
      out.push(...ids);
      i = e;
    }
    return out;
  };
}

function lcg(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
}

const range = (c: number, k: number) => Array.from({ length: k }, (_, i) => String.fromCodePoint(c + i));

test('bpe kernel: pieces and ids equal the reference on random text (CJK, emoji, numbers, white space, lone surrogates)', () => {
  const spec = { ...loadTokenizer('qwen').tok.spec, added: [] };
  const kernel = new ByteBpe(spec);
  const ref = reference(spec);
  const pool = [
    ...'abcXYZ019.,;:!?-_()[]{}"\'/\\@#$%^&*+=<>|~`',
    ...["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "'x", "'", 'don', 'the', ' the', '  '],
    ...[' ', ' ', '\t', '\n', '\r\n', '\r', '\n\n', '\v', '\f', '\u3000', '\u00a0', '\u0085', '\u2028', '\u2003'],
    ...range(0x4e00, 40), // CJK
    ...range(0x9fa0, 6),
    ...'，。、；：？！“”（）《》【】…—',
    ...range(0x3040, 20), // kana
    ...range(0xac00, 12), // Hangul
    ...range(0xff01, 20), // full-width forms
    ...range(0x0410, 20), // Cyrillic
    ...range(0x03b1, 10), // Greek
    ...range(0x0627, 10), // Arabic
    ...range(0x00c0, 30), // Latin-1 letters
    ...['e\u0301', 'a\u0308', '\u1100\u1161', '\u212b', '\uf900'], // NFC changes these
    ...['😀', '👍🏽', '🇨🇳', '𝐀', '𝐳', '𝟎', '𝟗', '𠀀', '𪚥', '🚀'], // astral: emoji, letters, digits, CJK ext. B
    ...['\ud800', '\udc00', '\udbff', '\ud83d'], // lone surrogates
    ...range(0x0660, 10), // Arabic-Indic digits
    ...['½', '²', 'Ⅷ', '①'],
  ];
  const rnd = lcg(20261205);
  let ids = 0,
    astral = 0,
    sized = 0;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const n = 1 + rnd(40);
    for (let k = 0; k < n; k++) s += pool[rnd(pool.length)];
    const ends: number[] = [];
    for (let j = 0; j < s.length; j = pieceEnd(s, j, s.length)) ends.push(pieceEnd(s, j, s.length));
    assert.deepEqual(kernel.pieceEnds(s), ends, `pieces of ${JSON.stringify(s)}`);
    const got = Array.from(kernel.encode(s));
    assert.deepEqual(got, ref(s), JSON.stringify(s));
    // the text's size as the kernel counted it (when it saw it unchanged by NFC)
    const size = kernel.lastTextSize();
    const marks = Array.from(s, (c) => c.charCodeAt(0)).some(
      (u) => (u >= 0x300 && u < 0x370) || (u >= 0xd800 && u < 0xe000),
    );
    if (s.normalize('NFC') === s && !marks) assert.ok(size, JSON.stringify(s));
    if (size) {
      assert.deepEqual(size, { chars: textLength(s), utf8Bytes: Buffer.byteLength(s, 'utf8') }, JSON.stringify(s));
      sized++;
    }
    ids += got.length;
    if (/[\ud800-\udfff]/.test(s)) astral++;
  }
  assert.ok(ids > 40_000 && astral > 500 && sized > 1000, `${ids} ids, ${astral} with surrogates, ${sized} sized`);
  // sizes of texts with surrogates (pairs and lone ones), NFC-safe otherwise
  const sk = new ByteBpe({ ...spec, nfc: false });
  for (const s of ['a😀b', '\ud800x', 'x\udc00', '\ud83d', '中文😀\ud800\udc00', '']) {
    sk.encode(s);
    assert.deepEqual(sk.lastTextSize(), { chars: textLength(s), utf8Bytes: Buffer.byteLength(s, 'utf8') }, s);
  }
  // not counted when added tokens split the text; counted when a "<" starts none
  const withAdded = loadTokenizer('qwen').tok;
  withAdded.encode('a<|im_end|>b');
  assert.equal(withAdded.lastTextSize(), undefined);
  withAdded.encode('a < b');
  assert.deepEqual(withAdded.lastTextSize(), { chars: 5, utf8Bytes: 5 });
  withAdded.encode('e\u0301');
  assert.equal(withAdded.lastTextSize(), undefined);
});

test('bpe kernel: pieces cut where no token can span give the ids of BPE over the whole piece', async () => {
  const spec = { ...loadTokenizer('qwen').tok.spec, added: [] };
  const kernel = new ByteBpe(spec);
  const ref = reference(spec);
  // characters of 2 and 3 UTF-8 bytes, among them the ones whose partial bytes Qwen's merges join across characters
  // (CJK, kana, Hangul, full-width forms, Latin-1 / Cyrillic / Greek / Arabic letters)
  const docs = await sampleFixtureDocs();
  const zh = [...new Set([...docs.map((d) => d.text).join('')].filter((c) => c.codePointAt(0)! >= 0x80))];
  const extra = [
    0xa0, 0xc0, 0x3b1, 0x430, 0x5d0, 0x627, 0x3042, 0x30a2, 0xac00, 0xff01, 0x4e00, 0x9fa5, 0x3000, 0x2014,
  ];
  const pool = [...zh, ...extra.flatMap((c) => range(c, 16))];
  const rnd = lcg(12345);
  let n = 0;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const k = 2 + rnd(60);
    for (let j = 0; j < k; j++) s += pool[rnd(pool.length)];
    const a = Array.from(kernel.encode(s));
    assert.deepEqual(a, ref(s), JSON.stringify(s));
    n += a.length;
  }
  // pieces longer than the cache's 48 units, cut and not
  for (const d of docs.slice(0, 60)) {
    const runs = d.text.match(/[^\s\p{P}a-zA-Z0-9]{49,400}/gu) ?? [];
    for (const r of runs) assert.deepEqual(Array.from(kernel.encode(r)), ref(r), d.file);
  }
  assert.ok(pool.length > 1000 && n > 40_000, `${pool.length} characters, ${n} ids`);
});

test('bpe kernel: merges by scans (up to 64 bytes) and by the heap (more) equal the reference, ties and repeats', () => {
  const spec = { ...loadTokenizer('qwen').tok.spec, added: [] };
  const kernel = new ByteBpe(spec);
  const ref = reference(spec);
  const rnd = lcg(64);
  // one piece each, 1 to 90 UTF-8 bytes: letters of a small alphabet (repeated pairs, equal ranks side by side), runs
  // of one letter or of one multi-byte character, punctuation runs, Cyrillic and kana words (2 and 3 bytes a letter)
  const kinds = [
    (n: number) => Array.from({ length: n }, () => 'abe'[rnd(3)]).join(''),
    (n: number) => 'a'.repeat(n),
    (n: number) => ' ' + 'ab'.repeat(n >> 1),
    (n: number) => '='.repeat(n),
    (n: number) => '-_'.repeat(n >> 1) + '\n',
    (n: number) => Array.from({ length: n >> 1 }, () => String.fromCharCode(0x430 + rnd(4))).join(''),
    (n: number) => 'ー'.repeat(Math.ceil(n / 3)),
    (n: number) => Array.from({ length: Math.ceil(n / 3) }, () => String.fromCharCode(0x30a2 + rnd(3))).join(''),
  ];
  const sizes = new Set<number>();
  for (let i = 0; i < 4000; i++) {
    const s = kinds[i % kinds.length](1 + rnd(90));
    assert.deepEqual(Array.from(kernel.encode(s)), ref(s), JSON.stringify(s));
    sizes.add(Buffer.byteLength(s));
  }
  for (const n of [2, 63, 64, 65, 66, 90]) assert.ok(sizes.has(n), `${n} bytes`);
});

test('bpe kernel: boundary tables of merges out of rank order or never reachable (a trained tokenizer.json)', () => {
  // bytes are their own ids; merges: 中's 3 bytes (E4 B8 AD) and 文's (E6 96 87) joined, then 中文, listed before the
  // merges that form its operands; one merge whose operand (id 300) no merge forms
  const tokens = { count: 310, make: () => [] };
  const byteIds = Uint32Array.from({ length: 256 }, (_, b) => b);
  const m: [number, number, number][] = [
    [260, 261, 262], // 中 + 文 (operands formed by later ranks)
    [0xe4, 0xb8, 256],
    [256, 0xad, 260], // 中
    [0xe6, 0x96, 257],
    [257, 0x87, 261], // 文
    [300, 0x41, 263], // never formed
  ];
  const spec = {
    byteIds,
    left: Uint32Array.from(m.map((x) => x[0])),
    right: Uint32Array.from(m.map((x) => x[1])),
    result: Uint32Array.from(m.map((x) => x[2])),
    tokens,
    added: [],
    nfc: false,
  };
  const kernel = new ByteBpe(spec);
  const ref = reference(spec);
  for (const s of ['中文', '中文中文文中', '文中中', 'é中文ü文', '中文字'])
    assert.deepEqual(Array.from(kernel.encode(s)), ref(s), s);
  assert.deepEqual(Array.from(kernel.encode('中文')), [262]);
});

test('bpe kernel: long texts grow its buffers; many encoders; the piece cache cleared when full', () => {
  const spec = loadTokenizer('qwen').tok.spec;
  const a = new ByteBpe(spec);
  const ref = reference({ ...spec, added: [] });
  const long = '中文 text 123 😀\n'.repeat(5000) + '汉'.repeat(3000);
  assert.deepEqual(Array.from(a.encode(long)), ref(long));
  assert.deepEqual(Array.from(a.encode('short')), ref('short'));
  // more distinct cached pieces than the cache holds (2^18): it is cleared and refilled, ids unchanged
  const words: string[] = [];
  for (let i = 0; i < 300_000; i++) words.push(' w' + i.toString(36));
  const text = words.join('');
  const ids = ref(text);
  assert.deepEqual(Array.from(a.encode(text)), ids);
  assert.deepEqual(Array.from(a.encode(text)), ids);
  assert.deepEqual(Array.from(new ByteBpe(spec).encode(text)), ids);
});

test('bpe kernel: NFC_UNSAFE is derived from the ICU of Node; text of the other units is left unchanged by NFC', () => {
  // what follows another character in some canonical decomposition (it may compose with what precedes it)
  const follows = new Set<number>();
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    const c = String.fromCodePoint(cp);
    const d = [...c.normalize('NFD')];
    if (d.length > 1 || d[0] !== c) for (const x of d.slice(1)) follows.add(x.codePointAt(0)!);
  }
  const unsafe = (u: number) => {
    const c = String.fromCharCode(u);
    return (
      (u >= 0xd800 && u < 0xe000) ||
      c.normalize('NFC') !== c ||
      /\p{M}/u.test(c) ||
      follows.has(u) ||
      follows.has(c.normalize('NFD').codePointAt(0)!)
    );
  };
  const ranges: string[] = [];
  for (let u = 0; u < 0x10000; u++) {
    if (!unsafe(u) || (u > 0 && unsafe(u - 1))) continue;
    let e = u;
    while (e + 1 < 0x10000 && unsafe(e + 1)) e++;
    ranges.push(u === e ? u.toString(16) : `${u.toString(16)}-${e.toString(16)}`);
  }
  assert.equal(NFC_UNSAFE, ranges.join(','), 'Unicode data changed: set NFC_UNSAFE in tokenizer/bytebpe.ts to this');
  const bits = nfcUnsafeBits();
  const safe: string[] = [];
  for (let u = 0; u < 0x10000; u++) if (!(bits[u >> 3] & (1 << (u & 7)))) safe.push(String.fromCharCode(u));
  assert.ok(safe.length > 60_000 && !safe.includes('\u0301') && safe.includes('中') && safe.includes('\uac00'));
  // strings of safe units, weighted to those with a decomposition (precomposed letters, Hangul syllables): NFC and
  // nfcLikeHf leave them as they are
  const decomposable = safe.filter((c) => c.normalize('NFD') !== c);
  assert.ok(decomposable.length > 12_000, `${decomposable.length}`);
  const rnd = lcg(7);
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    for (let k = 1 + rnd(12); k > 0; k--) s += rnd(2) ? decomposable[rnd(decomposable.length)] : safe[rnd(safe.length)];
    assert.equal(s.normalize('NFC'), s, JSON.stringify(s));
    assert.equal(nfcLikeHf(s), s, JSON.stringify(s));
  }
  // and the kernel sends text with unsafe units through NFC: the same ids as the normalised text
  const tok = loadTokenizer('qwen').tok;
  for (const s of ['e\u0301t\u00e9', '\u212b\u1100\u1161\uac00\u11a8', '\uf900中文', 'x\u0308\u0301', 'Ω\u2126'])
    assert.deepEqual(Array.from(tok.encode(s)), Array.from(tok.encode(s.normalize('NFC'))), JSON.stringify(s));
});

test('bpe kernel: bpe-kernel.wasm is the build of bpe-kernel.c (rebuilt when clang is installed)', (t) => {
  const sh = fileURLToPath(new URL('./bpe-kernel.sh', import.meta.url));
  const wasm = fileURLToPath(new URL('./bpe-kernel.wasm', import.meta.url));
  const version = ['clang', 'clang-14']
    .map((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).stdout ?? '')
    .find((v) => v.includes('clang version'));
  const hasLld = ['wasm-ld', 'wasm-ld-14'].some((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
  if (!version || !hasLld) return t.skip('clang or wasm-ld not installed (apt-get install clang lld)');
  if (!/clang version 14\./.test(version)) return t.skip(`the .wasm was built by clang 14, this is ${version}`);
  const out = mkdtempSync(join(tmpdir(), 'bpe-kernel-'));
  try {
    const r = spawnSync('bash', [sh, join(out, 'k.wasm')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'k.wasm')).equals(readFileSync(wasm)), 'stale: run bash tokenizer/bpe-kernel.sh');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
