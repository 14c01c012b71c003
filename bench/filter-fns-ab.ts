/**
 * One filter function, old against new, in one process (issue 21): loads the function from this checkout and from
 * another one (--other DIR, e.g. a worktree of the commit before a change), runs each over every document of the
 * prep-eval set (out/prep-eval/docs.jsonl) and the bundled sample, alternating old and new `--rounds` times, and prints
 * the CPU-seconds of each pass (process.cpuUsage) and whether every result is the same.
 *
 *   npx tsx bench/filter-fns-ab.ts --other DIR --fn NAME [--rounds 3] [--chunk N] [--new-first] [--evict MB]
 * NAME: remove_repeat_sentences | clean_html | clean_links | clean_email | whitespace_normalization | fix_unicode | char_repetition | word_repetition |
 *   gopher_repetition | gopher_step | pii_mask | flagged_words | stopword_count | char_ratios | zh_script | lang_id |
 *   jieba
 * --evict MB: before each document, read MB of other memory (one byte per cache line, not timed: each call is timed on
 * its own), as the pipeline's other steps and their models do between two calls of one step: a step's tables are then
 * cold at each document, as in the map task, instead of staying in the cache over a pass.
 * gopher_step: zh-web's gopher_repetition as filters/ops.ts computes it (the whole text's statistics, then the
 * duplicated n-grams outside sentences and tables) over the Chinese documents after remove_repeat_sentences.
 * --chunk N: old and new alternate on every N documents (order flipped per chunk) and a round sums them: on a shared
 * machine both sides then see the same load. --new-first: load this checkout first (the checkout loaded second ran a
 * few per cent slower in A/A runs, so report both orders). Without out/prep-eval/docs.jsonl: the sample alone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    other: { type: 'string' },
    fn: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    chunk: { type: 'string' },
    'new-first': { type: 'boolean', default: false },
    evict: { type: 'string' },
  },
});
if (!values.other || !values.fn) throw new Error('usage: --other DIR --fn NAME');
const HERE = fileURLToPath(new URL('..', import.meta.url));
const roots = { old: resolve(values.other), new: HERE };
const imp = (root: string, p: string) => import(pathToFileURL(resolve(root, p)).href);

let docs: string[] = [];
const evalSet = resolve(HERE, 'out/prep-eval/docs.jsonl');
if (existsSync(evalSet))
  for (const l of readFileSync(evalSet, 'utf8').split('\n')) if (l.trim()) docs.push(JSON.parse(l).text);
const { readSample } = await imp(HERE, 'filters/harness.ts');
for (const s of await readSample()) for (const d of s.docs) docs.push(d.text);
if (values.fn === 'gopher_step') {
  const { removeRepeatSentences } = await imp(HERE, 'filters/mappers.ts');
  docs = docs.filter((t) => /\p{Script=Han}/u.test(t.slice(0, 2000))).map((t) => removeRepeatSentences(t, 10));
}
const mb = docs.reduce((a, d) => a + Buffer.byteLength(d), 0) / 1e6;

const { jiebaWords } = await imp(HERE, 'filters/text.ts');
const segmented = new Map(docs.map((d) => [d, jiebaWords(d) as string[]]));
const jiebaOf = (t: string) => segmented.get(t)!;
/** The jieba words a checkout's statistics take, segmented before the timed passes: strings, or spans (Words) where filters/text.ts has them. */
async function jiebaFor(root: string): Promise<(t: string) => unknown> {
  const m = await imp(root, 'filters/text.ts');
  if (!m.jiebaSpanWords) return jiebaOf;
  const spans = new Map(docs.map((d) => [d, m.jiebaSpanWords(d)]));
  return (t) => spans.get(t);
}

/** Per checkout: a function of one document returning something comparable (JSON). */
async function load(root: string): Promise<(text: string) => unknown> {
  switch (values.fn) {
    case 'remove_repeat_sentences': {
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => m.removeRepeatSentences(t, 10);
    }
    case 'clean_links': {
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => m.cleanLinks(t);
    }
    case 'clean_html': {
      // zh-web's mode
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => m.stripTags(t);
    }
    case 'whitespace_normalization': {
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => m.whitespaceNormalization(t);
    }
    case 'clean_email': {
      // as the step calls it (filters/ops.ts): the recipe's pattern through regexReplace, texts with an "@"
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => (t.includes('@') ? m.regexReplace(t, m.EMAIL_PATTERN, '') : t);
    }
    case 'char_repetition': {
      const m = await imp(root, 'filters/stats.ts');
      return (t) => m.charRepetition(t, 10);
    }
    case 'word_repetition': {
      // zh-web's: jieba words (segmented once, outside the timed passes; hashed at the first pass), 10-grams, lowercased
      const m = await imp(root, 'filters/stats.ts');
      const words = await jiebaFor(root);
      return (t) => m.wordRepetition(words(t), 10, true);
    }
    case 'gopher_repetition': {
      // zh-web's n-grams over jieba words (segmented once, outside the timed passes)
      const m = await imp(root, 'filters/stats.ts');
      const words = await jiebaFor(root);
      return (t) => m.gopherRepetition(t, words(t), [2, 3, 4], [5, 6, 7, 8, 9, 10], '');
    }
    case 'gopher_step': {
      const m = await imp(root, 'filters/stats.ts');
      const words = await jiebaFor(root);
      const ns = [5, 6, 7, 8, 9, 10];
      return (t) => {
        const w = words(t) as { n: number; hashedGen: number };
        w.hashedGen = -1; // the step hashes the document's words (wordsOf gives it fresh ones)
        const st = m.gopherRepetition(t, w, [2, 3, 4], ns, '');
        const outside = m.wordsOutsideSentencesAndTables(t, w);
        return [st, outside.n === w.n ? st : m.dupNgramShares(t, outside, ns, '')];
      };
    }
    case 'flagged_words': {
      // zh-web's step: the built-in list, jieba words (segmented outside the timed passes)
      const m = await imp(root, 'filters/stats.ts');
      const { FLAGGED } = await imp(root, 'filters/wordlists.ts');
      const han = (x: string) => /\p{Script=Han}/u.test(x);
      const latin = new Set((FLAGGED as string[]).filter((x) => !han(x)).map((x) => x.toLowerCase()));
      const cjk = new m.SubstringCounter((FLAGGED as string[]).filter(han));
      const words = await jiebaFor(root);
      return (t) => m.flaggedRatio(t, words(t), latin, cjk);
    }
    case 'char_ratios': {
      // text_length, alnum_ratio and special_char_ratio of one document, as zh-web's steps take them in turn
      const m = await imp(root, 'filters/stats.ts');
      return (t) => [m.textLength(t), m.alnumRatio(t), m.specialCharRatio(t, 'category')];
    }
    case 'zh_script': {
      // zh-web's zh_script (the first 5,000 characters; the document's code points decoded first)
      const m = await imp(root, 'filters/lid.ts');
      return (t) => m.scriptCounts(t, 5000);
    }
    case 'stopword_count': {
      // zh-web's gopher_quality stopwords: FineWeb-2's Mandarin list over jieba words
      const m = await imp(root, 'filters/stats.ts');
      const { STOPWORDS } = await imp(root, 'filters/wordlists.ts');
      const stop = new Set((STOPWORDS.zh as string[]).map((x) => x.toLowerCase()));
      const words = await jiebaFor(root);
      return (t) => m.stopwordCount(words(t), stop);
    }
    case 'pii_mask': {
      const m = await imp(root, 'filters/mappers.ts');
      const o = { email: '<EMAIL>', ip: '<IP>', mobile: '<MOBILE>', idCard: '<ID>' };
      return (t) => m.maskPii(t, o);
    }
    case 'fix_unicode': {
      // zh-web's options, then data-juicer's defaults
      const m = await imp(root, 'filters/mappers.ts');
      const zh = {
        normalization: 'NFKC_keep_cjk_punct',
        fixEncoding: true,
        fixCharacterWidth: false,
        uncurlQuotes: false,
        fixLineBreaks: true,
        removeControlChars: true,
      };
      return (t) => m.fixUnicode(t, zh);
    }
    case 'lang_id': {
      const m = await imp(root, 'filters/lid.ts');
      const model = await m.loadLid();
      const opts = { windows: 3, width: 300, detectCode: true, codeLineRatio: 0.6 };
      return (t) => m.identify(model, t, opts);
    }
    case 'jieba': {
      const m = await imp(root, 'filters/text.ts');
      return (t) => m.jiebaWords(t);
    }
    default:
      throw new Error(`unknown --fn ${values.fn}`);
  }
}
const first = values['new-first'] ? 'new' : 'old';
const loaded = { [first]: await load(roots[first]) } as Record<string, (text: string) => unknown>;
const fns = { old: loaded.old ?? (await load(roots.old)), new: loaded.new ?? (await load(roots.new)) };
const cpu: Record<string, number[]> = { old: [], new: [] };
// timed passes keep no results (a kept result would load the garbage collector of one side only)
let sink = 0;
const chunk = values.chunk ? Number(values.chunk) : docs.length;
const evict = values.evict ? new Uint8Array(Number(values.evict) * 2 ** 20).fill(1) : undefined;
let evicted = 0;
for (let r = 0; r < Number(values.rounds); r++) {
  const acc = { old: 0, new: 0 };
  for (let b = 0, q = 0; b < docs.length; b += chunk, q++)
    for (const k of ((r + q) % 2 ? ['new', 'old'] : ['old', 'new']) as ('old' | 'new')[]) {
      const f = fns[k];
      const e = Math.min(docs.length, b + chunk);
      if (evict) {
        for (let i = b; i < e; i++) {
          for (let j = 0; j < evict.length; j += 64) evicted += evict[j];
          const c0 = process.cpuUsage();
          if (f(docs[i]) === undefined) sink++;
          const c = process.cpuUsage(c0);
          acc[k] += (c.user + c.system) / 1e6;
        }
        continue;
      }
      const c0 = process.cpuUsage();
      for (let i = b; i < e; i++) if (f(docs[i]) === undefined) sink++;
      const c = process.cpuUsage(c0);
      acc[k] += (c.user + c.system) / 1e6;
    }
  for (const k of ['old', 'new'] as const) {
    cpu[k].push(acc[k]);
    console.log(`${k} ${values.fn} ${acc[k].toFixed(3)} CPU-s (${(mb / acc[k]).toFixed(1)} MB/CPU-s)`);
  }
}
let diff = sink;
if (evicted < 0) diff++; // (read, so that the eviction reads stay)
for (let i = 0; i < docs.length; i++) if (JSON.stringify(fns.old(docs[i])) !== JSON.stringify(fns.new(docs[i]))) diff++;
console.log(`${docs.length} documents, ${mb.toFixed(2)} MB; results differ on ${diff}`);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`median CPU-s: old ${med(cpu.old).toFixed(3)}, new ${med(cpu.new).toFixed(3)}`);
if (diff) process.exit(1);
