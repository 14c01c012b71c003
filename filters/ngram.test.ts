import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gopherRepetition,
  charRepetition,
  wordRepetition,
  gopherQuality,
  maxLineLength,
  stopwordCount,
  wordsOutsideSentencesAndTables,
  dupNgramShares,
  intSizes,
  finewebQuality,
  tableRowRuns,
  sentenceRuns,
} from './stats.ts';
import { splitLines, cpLength, wordsFromList as W, wordsOf, wordStrings } from './text.ts';
import { randomTexts } from './harness.ts';

/** Deterministic pseudo-random word sequences with many repeated phrases (small vocabulary, copied spans). */
function sample(seed: number, n: number, vocab: number): string[] {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const words: string[] = [];
  while (words.length < n) {
    if (words.length > 20 && rnd() < 0.2) {
      const from = Math.floor(rnd() * (words.length - 12));
      words.push(...words.slice(from, from + 2 + Math.floor(rnd() * 10)));
    } else
      words.push(
        ['的', '数据', 'apt', '包', 'Debian', '系统', '😊字', 'x'][Math.floor(rnd() * 8)] +
          String(Math.floor(rnd() * vocab)),
      );
  }
  return words.slice(0, n);
}

test('gopher_repetition: the candidate sweep (n >= 2) equals the full per-n passes', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const words = sample(seed, 5 + seed * 7, 1 + (seed % 9));
    const text = words.join(seed % 2 ? '' : ' ') + '\n\nfoo\nfoo\n\n' + words.slice(0, 5).join('');
    const joiner = seed % 2 ? '' : ' ';
    const fast = gopherRepetition(text, W(words), [2, 3, 4], [5, 6, 7, 8, 9, 10], joiner);
    // n = 1 in the list forces the reference implementation (one full counting pass per n)
    const ref = gopherRepetition(text, W(words), [1, 2, 3, 4], [1, 5, 6, 7, 8, 9, 10], joiner);
    for (const k of Object.keys(fast)) assert.equal(fast[k], ref[k], `seed ${seed} ${k}`);
    assert.ok(Object.keys(fast).length === 13);
  }
  // something actually repeats in these samples
  const w = sample(3, 200, 2);
  assert.ok(gopherRepetition(w.join(''), W(w), [2], [5], '').dup_5gram > 0);
});

/**
 * The n-gram statistics by their plain definitions over word strings: datatrove's find_top_duplicate (count of the most
 * frequent n-gram × its length with joiners; among equal counts the n-gram that reached the count first) and
 * find_all_duplicate (characters of n-grams seen before, the walk skipping the n words of each).
 */
function plainTop(words: string[], n: number, joiner: string): number {
  const counts = new Map<string, number>();
  let best = 0,
    gram = '';
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(joiner);
    const c = (counts.get(g) ?? 0) + 1;
    counts.set(g, c);
    if (c > best) [best, gram] = [c, g];
  }
  return best * cpLength(gram);
}
function plainDup(words: string[], n: number): number {
  const seen = new Set<string>();
  let rep = 0;
  for (let i = 0; i + n <= words.length;) {
    const g = JSON.stringify(words.slice(i, i + n));
    if (seen.has(g)) {
      rep += cpLength(words.slice(i, i + n).join(''));
      i += n;
    } else {
      seen.add(g);
      i++;
    }
  }
  return rep;
}

/** data-juicer word_repetition_filter: occurrences of the n-grams seen more than once / all n-gram occurrences. */
function plainWordRep(words: string[], n: number): number {
  const seen = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const k = JSON.stringify(words.slice(i, i + n));
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let rep = 0;
  for (const c of seen.values()) if (c > 1) rep += c;
  const total = words.length - n + 1;
  return total > 0 ? rep / total : 0;
}
/** data-juicer character_repetition_filter: the top floor(sqrt(#distinct)) repeated n-grams' share of all. */
function plainCharRep(text: string, n: number): number {
  const cps = [...text];
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= cps.length; i++) {
    const g = cps.slice(i, i + n).join('');
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  const total = cps.length - n + 1;
  if (total <= 0) return 0;
  const rep = [...counts.values()].filter((c) => c > 1).sort((a, b) => b - a);
  const k = Math.min(Math.floor(Math.sqrt(counts.size)), rep.length);
  return rep.slice(0, k).reduce((a, b) => a + b, 0) / total;
}

test('gopher_repetition and dupNgramShares equal the plain definitions for any set of n (the first round starts at the smallest)', () => {
  // adversarial word lists: one word repeated, short periods, a copied block, astral characters, random repeats
  const lists: string[][] = [
    Array(300).fill('的'),
    Array.from({ length: 400 }, (_, i) => ['a', 'b', 'c'][i % 3]),
    Array.from({ length: 400 }, (_, i) => ['x', 'y'][i % 2] + (i % 7 === 0 ? 'z' : '')),
    [...sample(7, 120, 50), ...sample(7, 120, 50), ...sample(8, 40, 3)],
    Array.from({ length: 2500 }, (_, i) => ['😊', '𠀀字', '数据', 'ab'][(i * i) % 4]),
    ['一'],
    [],
  ];
  for (let seed = 1; seed <= 40; seed++) lists.push(sample(seed, 3 + seed * 13, 1 + (seed % 6)));
  const sets: [number[], number[]][] = [
    [
      [2, 3, 4],
      [5, 6, 7, 8, 9, 10],
    ],
    [[], [5, 6, 7, 8, 9, 10]],
    [[3, 4], []],
    [[4], [7]],
    [[], [2]],
    [[6], [3, 9]],
    // an n below 2 in either list (the per-n passes), unsorted lists
    [[3], [1, 4]],
    [[4, 1], [2]],
    [
      [9, 3],
      [7, 2],
    ],
  ];
  for (const words of lists)
    for (const joiner of ['', ' ']) {
      const text = words.join(joiner);
      const len = cpLength(text) || 1;
      for (const [tops, dups] of sets) {
        const st = gopherRepetition(text, W(words), tops, dups, joiner);
        const what = `${words.length} words ${JSON.stringify([tops, dups, joiner])}`;
        for (const n of tops) assert.equal(st[`top_${n}gram`], plainTop(words, n, joiner) / len, `top ${n} ${what}`);
        for (const n of dups) assert.equal(st[`dup_${n}gram`], plainDup(words, n) / len, `dup ${n} ${what}`);
        if (tops.length) continue;
        const sh = dupNgramShares(text, W(words), dups, joiner);
        for (const n of dups) assert.equal(sh[`dup_${n}gram`], plainDup(words, n) / len, `shares ${n} ${what}`);
      }
    }
});

test('the n-gram kernel: small and large inputs in turn (its table moves up and grows between calls) keep every statistic exact', () => {
  // filters/ngram-kernel.c lays its arrays out per call and keeps its table above them, sized for the largest round
  // so far: a large input after small ones moves the table up, a more repetitive one grows it within a call
  const big = sample(11, 30000, 40);
  const lists = [sample(1, 8, 2), big, sample(2, 15, 3), sample(3, 60000, 4000), sample(4, 6, 1), big, []];
  for (const words of lists) {
    const text = words.join('');
    const len = cpLength(text) || 1;
    const what = `${words.length} words`;
    const st = gopherRepetition(text, W(words), [2, 3], [5, 10], '');
    for (const n of [2, 3]) assert.equal(st[`top_${n}gram`], plainTop(words, n, '') / len, `top ${n} ${what}`);
    for (const n of [5, 10]) assert.equal(st[`dup_${n}gram`], plainDup(words, n) / len, `dup ${n} ${what}`);
    assert.equal(wordRepetition(W(words), 10, false), plainWordRep(words, 10), what);
    const chars = text.slice(0, 1 + (words.length % 3) * 40000);
    assert.equal(charRepetition(chars, 10), plainCharRep(chars, 10), `${chars.length} characters`);
  }
});

test('intSizes keeps the sizes and their order (whole ones as small integers, others as they are)', () => {
  const keys = Object.keys({ 10: 1, 2: 1, 2.5: 1, x: 1 }).map(Number);
  assert.deepEqual(intSizes(keys), [2, 10, 2.5, NaN]);
  assert.deepEqual(intSizes([]), []);
  assert.deepEqual(intSizes([-0, 3]), [0, 3]);
});

test('on sample documents: the Gopher n-gram statistics (whole text and outside sentences) equal their plain definitions', async () => {
  const { readSample } = await import('./harness.ts');
  const { removeRepeatSentences } = await import('./mappers.ts');
  let checked = 0,
    repeated = 0;
  for (const { docs } of await readSample((f) => f.includes('zh'), 12))
    for (const d of docs) {
      // as raw and as remove_repeat_sentences leaves it (the order of zh-web)
      for (const text of [d.text, removeRepeatSentences(d.text, 10)]) {
        const len = cpLength(text) || 1;
        const w = wordsOf(text, 'jieba');
        const words = wordStrings(w);
        const st = gopherRepetition(text, w, [2, 3, 4], [5, 6, 7, 8, 9, 10], '');
        for (const n of [2, 3, 4]) assert.equal(st[`top_${n}gram`], plainTop(words, n, '') / len, `${d.id} top ${n}`);
        for (const n of [5, 6, 7, 8, 9, 10]) assert.equal(st[`dup_${n}gram`], plainDup(words, n) / len, `${d.id} ${n}`);
        const outside = wordsOutsideSentencesAndTables(text, w);
        const ow = wordStrings(outside);
        const sh = dupNgramShares(text, outside, [5, 6, 7, 8, 9, 10], '');
        for (const n of [5, 6, 7, 8, 9, 10])
          assert.equal(sh[`dup_${n}gram`], plainDup(ow, n) / len, `${d.id} out ${n}`);
        checked++;
        if (sh.dup_5gram > 0) repeated++;
      }
    }
  assert.ok(checked >= 40 && repeated >= 5, `${checked} ${repeated}`);
});

test('gopher_repetition: duplicate lines and paragraphs as text.split(/\\n+/) and text.trim().split(/\\n{2,}/), blank parts left out', () => {
  const st = gopherRepetition('\na\n\nb\na\n \n\nb\na\n', W([]), [], [], '');
  // lines: ['a', 'b', 'a', 'b', 'a'] (the empty and the ' ' line are separators) -> 3 duplicates;
  // paragraphs: ['a', 'b\na\n ', 'b\na'] -> 0 duplicates ('b\na\n ' != 'b\na')
  assert.equal(st.dup_line_frac, 3 / 5);
  const st2 = gopherRepetition('\na\n\nb\na\n\n\nb\na\n', W([]), [], [], '');
  assert.equal(st2.dup_line_frac, 3 / 5);
  assert.equal(st2.dup_para_frac, 1 / 3);
  assert.equal(st2.dup_para_char_frac, 3 / 14);
});

test('the line statistics of one text read one index of its "\n" (a one-text cache): equal to their definitions, other texts between', () => {
  const pieces = [
    'a',
    'b',
    '中文',
    ' ',
    '\n',
    '\n',
    '\n\n',
    '| a | b |',
    '|',
    '…',
    '-',
    '\u3000',
    '😊',
    'x y.',
    '。',
    '\r\n',
    '\u2028',
  ];
  const texts: string[] = ['', '\n', '\n\n', 'a', 'a\n', '\na\n\nb\na\n \n\nb\na\n'];
  // (most without "\r\n" and U+2028, the last two pieces: "\n" then is the only line break)
  texts.push(...randomTexts(pieces, 140, 40, 11), ...randomTexts(pieces.slice(0, -2), 260, 40, 12));
  const alnum = (p: string) => /[\p{L}\p{N}]/u.test(p);
  const dups = (parts: string[]) => {
    const seen = new Set<string>();
    let elems = 0,
      chars = 0;
    for (const p of parts) {
      if (seen.has(p)) {
        elems++;
        chars += cpLength(p);
      }
      seen.add(p);
    }
    return { parts: parts.length, elems, chars };
  };
  const nonSpace = (l: string) => /[^ \t\r\v\f\u00a0\u3000\u2000-\u200a]/.test(l);
  const rowDef = (t: string) => {
    const runs: number[] = [];
    let at = 0;
    for (const l of t.split('\n')) {
      const x = l.trim();
      if (at < t.length && x.length >= 3 && x[0] === '|' && x.at(-1) === '|' && x.slice(1, -1).includes('|'))
        runs.push(at, at + l.length);
      at += l.length + 1;
    }
    return runs;
  };
  let checked = 0;
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i],
      other = texts[(i * 7 + 3) % texts.length];
    const len = cpLength(t) || 1;
    const ld = dups(t.split(/\n+/).filter(alnum)),
      pd = dups(
        t
          .trim()
          .split(/\n{2,}/)
          .filter(alnum),
      );
    const fwLines = t.split('\n').filter(nonSpace);
    const fwDup = dups(fwLines).chars;
    const nl = t.split('\n').length - 1;
    const ws = W(['w']);
    for (const first of ['rep', 'fw', 'max', 'rows']) {
      // the other text first (its index cached), then this one's statistics starting with a different one each time
      maxLineLength(other);
      const order = ['rep', 'fw', 'max', 'rows'];
      order.push(...order.splice(0, order.indexOf(first)));
      for (const what of order) {
        if (what === 'rep') {
          const st = gopherRepetition(t, ws, [], [], '');
          assert.equal(st.dup_line_frac, ld.parts ? ld.elems / ld.parts : 0, JSON.stringify(t));
          assert.equal(st.dup_line_char_frac, ld.chars / len, JSON.stringify(t));
          assert.equal(st.dup_para_frac, pd.parts ? pd.elems / pd.parts : 0, JSON.stringify(t));
          assert.equal(st.dup_para_char_frac, pd.chars / len, JSON.stringify(t));
        } else if (what === 'fw') {
          const fw = finewebQuality(t, ws);
          const nonNl = cpLength(t) - nl;
          assert.equal(fw.char_dup_ratio, fwLines.length === 0 || !nonNl ? 0 : fwDup / nonNl, JSON.stringify(t));
          assert.equal(fw.new_line_ratio, fwLines.length ? fwLines.length - 1 : 0, JSON.stringify(t));
        } else if (what === 'max') {
          const ref = splitLines(t).reduce((m, l) => Math.max(m, cpLength(l)), 0);
          assert.equal(maxLineLength(t), ref, JSON.stringify(t));
        } else assert.deepEqual(tableRowRuns(t), rowDef(t), JSON.stringify(t));
        checked++;
      }
    }
  }
  assert.ok(checked > 6000);
});

test('word_repetition equals its definition: occurrences of n-grams seen more than once / all n-grams', () => {
  // only the n-grams that may repeat are counted (a bitmap of their hashes first): every count must still be exact
  for (let seed = 1; seed <= 60; seed++) {
    const words = sample(seed, 3 + seed * 11, 1 + (seed % 7));
    for (const n of [1, 2, 5, 10]) {
      for (const lower of [false, true]) {
        const ws = lower ? words.map((w) => w.toLowerCase()) : words;
        assert.equal(wordRepetition(W(words), n, lower), plainWordRep(ws, n), `seed ${seed} n ${n} ${lower}`);
      }
    }
  }
});

test('word_repetition lower-cases a word with a unit of [A-Z\u00c0-\u024f\u0370-\u052f] (toLowerCase), no other', () => {
  // ASCII words with capitals are lowered without a string: mixed with units outside ASCII they must still go through
  // toLowerCase (Ａ and the Cyrillic, Greek and Latin-1 letters lower there; a word without a listed unit is kept)
  const vocab = [
    'Hello',
    'HELLO',
    'hello',
    'Linux内核',
    'linux内核',
    'LinuxＡ',
    'linuxａ',
    'Ａb',
    'ａb',
    'ÉCOLE',
    'école',
    'ΣΑΣ',
    'σας',
    'İz',
    'i̇z',
    'Ёж',
    'ёж',
    'A1_b',
    'a1_b',
    '内核',
    'X😊',
    'x😊',
    'Ⅻ',
    'ⅻ',
    'ǅ',
    'ǆ',
  ];
  const lower = (w: string) => (/[A-Z\u00c0-\u024f\u0370-\u052f]/.test(w) ? w.toLowerCase() : w);
  for (let seed = 1; seed <= 40; seed++) {
    let q = seed;
    const words = Array.from({ length: 30 + seed * 5 }, () => vocab[(q = (q * 7 + 3) % 101) % vocab.length]);
    for (const n of [1, 2, 3])
      assert.equal(wordRepetition(W(words), n, true), plainWordRep(words.map(lower), n), `seed ${seed} n ${n}`);
  }
});

test('words outside sentences take the hashes and lengths of the words they come from', () => {
  const ns = [5, 6, 7, 8, 9, 10];
  for (let seed = 1; seed <= 30; seed++) {
    // runs of words, some ending as complete sentences, some as labels; astral characters change code-point lengths
    const ws = sample(seed, 40 + seed * 9, 1 + (seed % 5));
    let text = '';
    for (let i = 0; i < ws.length; i++) text += ws[i] + (i % 13 === 12 ? '数据包。\n' : i % 7 === 6 ? '\n' : '');
    const w = wordsOf(text, 'jieba');
    gopherRepetition(text, w, [2], ns, ''); // hashes the document's words
    const outside = wordsOutsideSentencesAndTables(text, w);
    assert.ok(outside.n > 0 && outside.n < w.n, `seed ${seed}`);
    const fresh = W(wordStrings(outside)); // the same words, hashed on their own
    assert.deepEqual(dupNgramShares(text, outside, ns, ''), dupNgramShares(text, fresh, ns, ''), `seed ${seed}`);
  }
});

test('word statistics share cached word hashes/lengths without mixing documents', () => {
  const a = ['Hello', 'world', '𠀀𠀀', 'Hello', 'world', 'Hello', 'world'];
  const b = ['hello', 'world', '𠀀𠀀', 'hello', 'world', 'hello', 'world'];
  assert.equal(wordRepetition(W(a), 2, true), wordRepetition(W(b), 2, false));
  assert.equal(gopherQuality('x', W(a)).mean_word_length, 32 / 7);
  assert.equal(gopherQuality('x', W(['ab', '𠀀𠀀𠀀', '😊'])).mean_word_length, 2.5);
  assert.equal(charRepetition('abcabcabcabc', 3), charRepetition('abcabcabcabc', 3));
});

test('max_line_length scan equals max(cpLength) over splitLines', () => {
  for (const t of [
    '',
    'abc',
    'ab\r\ncd\u2028efg\x85h',
    '😊😊😊\nab',
    'a\n\n',
    '\ud800x\udc00\ny',
    '中文\r\r长一点的行\f',
    // "\n" only, no surrogate (the indexOf path): the longest line first, last, in the middle, alone
    '长一点的行\nab\n',
    'a\n\nabc',
    'ab\nabcd\nabc',
    '\n',
    'abcdef',
  ]) {
    const ref = splitLines(t).reduce((m, l) => Math.max(m, cpLength(l)), 0);
    assert.equal(maxLineLength(t), ref, JSON.stringify(t));
  }
});

test('gopher_quality bullet/ellipsis lines follow trimStart/trimEnd', () => {
  const q = gopherQuality(' \u3000• a\n-b\n  \nc...\u00a0\nd…\ne..\n.. .\n\ufeff-x..', W(['a']));
  // 7 non-empty lines (the "  " line is blank): bullets "• a", "-b", "-x.." (BOM trimmed); ellipsis "c...", "d…"
  assert.equal(q.bullet_lines_ratio, 3 / 7);
  assert.equal(q.ellipsis_lines_ratio, 2 / 7);
});

test('gopher_quality bullet/ellipsis lines equal their definition over splitlines(), with "\\n" only or other breaks', () => {
  const parts = ['• a', '- b', '  ', 'c...', 'd…', '\u3000-x', 'e..', '', 'f… ', '中文。', '-', '…'];
  const breaks = ['\n', '\n', '\n\n', '\r\n', '\r', '\u2028', '\x1c', '\f', '\x85'];
  let s = 7;
  const rnd = (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n) as number;
  for (let k = 0; k < 300; k++) {
    const nlOnly = k % 2 === 0;
    let text = '';
    for (let i = 0, n = 1 + rnd(12); i < n; i++) text += parts[rnd(parts.length)] + breaks[nlOnly ? rnd(3) : rnd(9)];
    // and the text without its last line break, or with the last "\r\n" cut to "\r" (the scan's end of text)
    for (const t of [text, text.slice(0, -1)]) {
      const lines = splitLines(t).filter((l) => l.trim() !== '');
      const bullets = lines.filter((l) => /^[•-]/.test(l.trimStart())).length;
      const ellipsis = lines.filter((l) => /(\.\.\.|…)$/.test(l.trimEnd())).length;
      const q = gopherQuality(t, W(['a']));
      assert.equal(q.bullet_lines_ratio, lines.length ? bullets / lines.length : 0, JSON.stringify(t));
      assert.equal(q.ellipsis_lines_ratio, lines.length ? ellipsis / lines.length : 0, JSON.stringify(t));
    }
  }
});

test('stopword counting equals Set membership (with the lower-cased retry)', () => {
  const stop = new Set(['的', '·', 'the', 'and', '在这']);
  const words = ['的', '的的', 'The', 'THE', 'the', 'a', '·', '在这', '在', 'And', 'x'];
  const ref = words.filter((w) => stop.has(w) || (w.charCodeAt(0) < 128 && stop.has(w.toLowerCase()))).length;
  assert.equal(ref, 7);
  assert.equal(stopwordCount(W(words), stop), ref);
  // a set that is not lower-cased (an ASCII word is then looked up as it is too), one-unit ASCII entries, words with a
  // unit outside ASCII after an ASCII one, and ASCII words whose first unit begins no entry
  const mixed = new Set(['The', 'AND', 'x', 'y', 'thé', 'of', 'İ', 'i̇s']);
  const ws = [
    'The',
    'the',
    'THE',
    'AND',
    'and',
    'And',
    'X',
    'x',
    'Y',
    'THÉ',
    'Thé',
    'OF',
    'Of',
    'of',
    'İ',
    'İS',
    'is',
    'q',
    'Qx',
    '',
  ];
  const ref2 = ws.filter((w) => mixed.has(w) || (w.charCodeAt(0) < 128 && mixed.has(w.toLowerCase()))).length;
  assert.equal(ref2, 11);
  assert.equal(stopwordCount(W(ws), mixed), ref2);
});

test('remove_repeat_sentences: unchanged text comes back as is; the skipped regexes still apply when needed', async () => {
  const M = await import('./mappers.ts');
  const t = '第一句话在这里。第二句话在这里！\n\n第一句话在这里。还有别的内容。';
  assert.equal(M.removeRepeatSentences(t, 2), '第一句话在这里。第二句话在这里！\n\n还有别的内容。');
  const u = '没有重复的句子。每一句都不同！\nline one. line two';
  assert.equal(M.removeRepeatSentences(u, 2), u);
  // six dots, two ellipses and closing quotes: the patterns that are only run when their substring occurs
  assert.deepEqual(M.splitSentence('他说……好的“对。”然后'), ['他说……', '好的“对。”', '然后']);
  // minimum length counted in code points: 5 astral characters are 5 (< 6) characters, kept although repeated
  assert.equal(
    M.removeRepeatSentences('😊😊😊😊😊𠀀𠀀𠀀𠀀𠀀。𠀀𠀀𠀀𠀀𠀀。', 6, false, false),
    '😊😊😊😊😊𠀀𠀀𠀀𠀀𠀀。𠀀𠀀𠀀𠀀𠀀。',
  );
  assert.equal(M.removeRepeatSentences('𠀀𠀀𠀀𠀀𠀀。𠀀𠀀𠀀𠀀𠀀。', 5, false, false), '𠀀𠀀𠀀𠀀𠀀。');
});

/** data-juicer's splitter and remove_repeat_sentences_mapper as written there (regex passes, a string per sentence). */
function refSplitSentence(text: string): string[] {
  if (!/[.。！!？?…]/.test(text)) return [text];
  text = text.replace(/([.。！!？?])([^’”])/gu, '$1\n$2');
  text = text.replace(/(\.{6})([^’”])/gu, '$1\n$2');
  text = text.replace(/(…{2})([^’”])/gu, '$1\n$2');
  text = text.replace(/([.。!！？?{6}…2][’”])([^’”])/gu, '$1\n$2');
  return text.split('\n');
}
function refRemoveRepeatSentences(
  text: string,
  minLen: number,
  lowercase: boolean,
  ignoreSpecial: boolean,
  strip: (s: string) => string,
): string {
  const seen = new Set<string>();
  return text
    .split('\n')
    .map((line) => {
      if (!line) return line;
      let nl = '';
      for (const sentence of refSplitSentence(line)) {
        let copy = strip(sentence);
        if (lowercase) copy = copy.toLowerCase();
        if (ignoreSpecial) copy = copy.replace(/[^a-zA-Z0-9\u4e00-\u9fa5\n\t ]/g, '');
        if (cpLength(copy) < minLen) nl += sentence;
        else if (!seen.has(copy)) {
          nl += sentence;
          seen.add(copy);
        } else {
          // removed
        }
      }
      return nl;
    })
    .join('\n');
}

test('remove_repeat_sentences and splitSentence equal the regex passes of data-juicer on random texts', async () => {
  const M = await import('./mappers.ts');
  // an alphabet dense in sentence ends, ellipses, closing quotes, the class's literal {6}2 and surrogates
  const alphabet = [...'.。！!？?…’”“{6}2ab A中文句子 \t\u3000\ufeff\x85\x1cİ\u212a😊', '\ud800', '\udc00', '\n'];
  let s = 12345;
  const rnd = (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n) as number;
  const pieces = ['第一句话。', 'Hello there. ', '他说……', '“对。”', 'a.b', '……', '!!'];
  for (let t = 0; t < 4000; t++) {
    let text = '';
    const len = rnd(60);
    for (let i = 0; i < len; i++) text += rnd(4) === 0 ? pieces[rnd(pieces.length)] : alphabet[rnd(alphabet.length)];
    const line = text.split('\n')[0];
    assert.deepEqual(M.splitSentence(line), refSplitSentence(line), JSON.stringify(line));
    for (const [minLen, lower, special] of [
      [2, false, true],
      [1, false, true],
      [3, true, true],
      [2, false, false],
      [2, true, false],
    ] as const)
      assert.equal(
        M.removeRepeatSentences(text, minLen, lower, special),
        refRemoveRepeatSentences(text, minLen, lower, special, M.pyStrip),
        JSON.stringify([text, minLen, lower, special]),
      );
  }
});

test('wordsOf keeps the words of two texts per mode (a part of a document segmented in between)', async () => {
  const { wordsOf, wordStrings } = await import('./text.ts');
  const doc = '这是一个文档。它有两句话。\n菜单 菜单';
  const part = ' \n菜单 菜单';
  const w = wordsOf(doc, 'jieba');
  const p = wordsOf(part, 'jieba');
  assert.notEqual(w, p);
  const [wg, pg, ps] = [w.gen, p.gen, wordStrings(p)];
  // the same words come back: no second segmentation
  assert.equal(wordsOf(doc, 'jieba'), w);
  assert.equal(wordsOf(part, 'jieba'), p);
  assert.equal(wordsOf(doc, 'jieba'), w);
  assert.deepEqual([w.gen, p.gen], [wg, pg]);
  // a third text replaces the least recently used one
  wordsOf('另一个', 'jieba');
  assert.equal(wordsOf(doc, 'jieba').gen, wg);
  const p2 = wordsOf(part, 'jieba');
  assert.notEqual(p2.gen, pg);
  assert.deepEqual(wordStrings(p2), ps);
});

test('charRepetition equals the plain count over all n-grams (data-juicer character_repetition_filter)', () => {
  let s = 3;
  const rnd = (n: number) => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n;
  for (let t = 0; t < 300; t++) {
    const alphabet = [...'ab中文😊 \n'].slice(0, 2 + rnd(6));
    let text = '';
    const len = rnd(t < 250 ? 60 : 5000);
    for (let i = 0; i < len; i++) text += alphabet[rnd(alphabet.length)];
    for (const n of [1, 3, 10]) assert.equal(charRepetition(text, n), plainCharRep(text, n), JSON.stringify([text, n]));
  }
});

test('charRepetition: counts of 4,096 and more (the kernel sorts those, a histogram counts the rest) give the plain top-k share', () => {
  // n = 1: distinct = 6, so k = 2 (the two largest of the sorted large counts), then with 60 single characters added
  // k = 8 (every repeated count, large and small); n = 3 over the same runs, and over the runs interleaved
  const runs: [string, number][] = [
    ['a', 4097],
    ['b', 9000],
    ['c', 4096],
    ['d', 4095],
    ['e', 5000],
    ['f', 2],
  ];
  const block = runs.map(([c, k]) => c.repeat(k)).join('');
  const singles = Array.from({ length: 60 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
  let s = 7;
  const rnd = (n: number) => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n;
  const pool = runs.flatMap(([c, k]) => Array<string>(k).fill(c));
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  for (const text of [block, block + singles, singles + block, pool.join(''), 'x'.repeat(20000)])
    for (const n of [1, 3, 10]) assert.equal(charRepetition(text, n), plainCharRep(text, n), `${text.length} ${n}`);
  assert.equal(charRepetition(block, 1), (9000 + 5000) / block.length);
});

test('wordsOutsideSentencesAndTables keeps exactly the words inside no sentence and no table row (their hashes and lengths with them)', () => {
  // sentences and table rows that overlap, touch or hold each other, words across their edges, space words
  const pieces = [
    '这是一个完整的句子。',
    '汉字汉字！',
    '| 名称 | 说明 |',
    '|',
    '\n',
    ' ',
    '标签',
    'abc',
    '。',
    '」',
    '数据包',
  ];
  let compared = 0;
  // (whitespace words: a word can start inside a sentence and end after it)
  for (const t of randomTexts(pieces, 300, 24, 11))
    for (const mode of ['jieba', 'whitespace'] as const) {
      const w = wordsOf(t, mode);
      // inside: within one sentence, or (with table rows) every unit of the word in a sentence or a row (the two
      // lists merged: runs that overlap or touch are one; sentences alone are taken as they are)
      const sents = sentenceRuns(t),
        rows = tableRowRuns(t);
      const covered = new Uint8Array(t.length);
      for (const r of [sents, rows]) for (let k = 0; k < r.length; k += 2) covered.fill(1, r[k], r[k + 1]);
      const inside = (b: number, e: number) =>
        rows.length
          ? covered.subarray(b, e).every((x) => x === 1)
          : sents.some((_, k) => k % 2 === 0 && sents[k] <= b && e <= sents[k + 1]);
      const all = wordStrings(w);
      const want = all.filter((_, i) => !inside(w.start[i], w.end[i]));
      const out = wordsOutsideSentencesAndTables(t, w);
      assert.deepEqual(wordStrings(out), want, JSON.stringify(t));
      // the kept words' hashes and cumulative lengths as the words' own (a fresh list of them hashes to the same)
      const fresh = W(want);
      for (const ns of [[5], [2, 3]])
        assert.deepEqual(dupNgramShares(t, out, ns, ''), dupNgramShares(t, fresh, ns, ''), JSON.stringify(t));
      compared += all.length - want.length;
    }
  assert.ok(compared > 1000, `${compared} words inside`);
});
