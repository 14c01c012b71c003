/**
 * One filter function, old against new, in one process (issue 21): loads the function from this checkout and from
 * another one (--other DIR, e.g. a worktree of the commit before a change), runs each over every document of the
 * prep-eval set (out/prep-eval/docs.jsonl) and the bundled sample, alternating old and new `--rounds` times, and prints
 * the CPU-seconds of each pass (process.cpuUsage) and whether every result is the same.
 *
 *   npx tsx bench/filter-fns-ab.ts --other DIR --fn NAME [--rounds 3]
 * NAME: remove_repeat_sentences | clean_links | clean_email | fix_unicode | char_repetition | gopher_repetition | pii_mask | flagged_words | lang_id | jieba
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { other: { type: 'string' }, fn: { type: 'string' }, rounds: { type: 'string', default: '3' } },
});
if (!values.other || !values.fn) throw new Error('usage: --other DIR --fn NAME');
const HERE = fileURLToPath(new URL('..', import.meta.url));
const roots = { old: resolve(values.other), new: HERE };
const imp = (root: string, p: string) => import(pathToFileURL(resolve(root, p)).href);

const docs: string[] = [];
for (const l of readFileSync(resolve(HERE, 'out/prep-eval/docs.jsonl'), 'utf8').split('\n'))
  if (l.trim()) docs.push(JSON.parse(l).text);
const { readSample } = await imp(HERE, 'filters/harness.ts');
for (const s of await readSample()) for (const d of s.docs) docs.push(d.text);
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
    case 'clean_email': {
      const m = await imp(root, 'filters/mappers.ts');
      return (t) => m.cleanEmail(t);
    }
    case 'char_repetition': {
      const m = await imp(root, 'filters/stats.ts');
      return (t) => m.charRepetition(t, 10);
    }
    case 'gopher_repetition': {
      // zh-web's n-grams over jieba words (segmented once, outside the timed passes)
      const m = await imp(root, 'filters/stats.ts');
      const words = await jiebaFor(root);
      return (t) => m.gopherRepetition(t, words(t), [2, 3, 4], [5, 6, 7, 8, 9, 10], '');
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
const fns = { old: await load(roots.old), new: await load(roots.new) };
const cpu: Record<string, number[]> = { old: [], new: [] };
// timed passes keep no results (a kept result would load the garbage collector of one side only)
let sink = 0;
for (let r = 0; r < Number(values.rounds); r++)
  for (const k of (r % 2 ? ['new', 'old'] : ['old', 'new']) as ('old' | 'new')[]) {
    const f = fns[k];
    const c0 = process.cpuUsage();
    for (let i = 0; i < docs.length; i++) if (f(docs[i]) === undefined) sink++;
    const c = process.cpuUsage(c0);
    cpu[k].push((c.user + c.system) / 1e6);
    console.log(`${k} ${values.fn} ${cpu[k].at(-1)!.toFixed(3)} CPU-s (${(mb / cpu[k].at(-1)!).toFixed(1)} MB/CPU-s)`);
  }
let diff = sink;
for (let i = 0; i < docs.length; i++) if (JSON.stringify(fns.old(docs[i])) !== JSON.stringify(fns.new(docs[i]))) diff++;
console.log(`${docs.length} documents, ${mb.toFixed(2)} MB; results differ on ${diff}`);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`median CPU-s: old ${med(cpu.old).toFixed(3)}, new ${med(cpu.new).toFixed(3)}`);
if (diff) process.exit(1);
