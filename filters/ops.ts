/**
 * Cleaning mappers, quality filters, language ID and perplexity, registered as MapOps usable by name in recipes.
 * Every filter stores its statistics in doc.meta.stats[RULE] (kept and dropped documents alike) and drops with
 * ctx.drop(doc, RULE, value); `steel refilter` re-applies changed thresholds to those stored statistics.
 */
import { z } from 'zod';
import type { Op } from '../pipeline/stage.ts';
import type { Document } from '../pipeline/document.ts';
import { filterOp, mapperOp, type FilterSpec, type MapperSpec, type RuleSpec, type Spec } from './framework.ts';
import * as M from './mappers.ts';
import * as S from './stats.ts';
import { docWords, resolveWordMode, wordsFromList, wordsOf, type WordMode, type Words } from './text.ts';
import { loadLid, identify, traditionalShare, scriptCounts, type LidModel } from './lid.ts';
import { loadArpa, type ArpaModel } from './lm.ts';
import { STOPWORDS, FLAGGED } from './wordlists.ts';
import { tokenCounter, type TokenCounter } from './tokens.ts';

// ---------- shared param pieces ----------
const num = (d: number | null, desc: string) => z.number().nullable().default(d).describe(desc);
const langs = () =>
  z
    .array(z.string())
    .default([])
    .describe('apply only to documents whose lang is in this list (prefix match, e.g. "zh"); empty = all');
const ruleName = (d: string) =>
  z.string().default(d).describe('rule / statistic name (doc.meta.stats key; unique within a recipe)');
const wordMode = (d: WordMode | 'datajuicer') =>
  z
    .enum(['auto', 'jieba', 'whitespace', 'datajuicer'])
    .default(d)
    .describe(
      'word tokeniser: auto = jieba for lang zh*, whitespace otherwise; datajuicer = split on space/\\n/\\t and strip its special characters (what Steel used)',
    );

function langMatch(doc: Document, ls: readonly string[]): boolean {
  if (ls.length === 0) return true;
  const l = doc.lang;
  if (!l) return false;
  return ls.some((x) => l === x || l.startsWith(x + '-') || l.startsWith(x + '_'));
}
/**
 * `${rule}.${k}`, made once per rule and key: a statistic's name built per document is a new string that every store
 * into doc.meta.stats hashes and looks up again (V8 internalises property keys), ~40 names per document in zh-web.
 */
const ruleKeys = new Map<string, Map<string, string>>();
function ruleKey(rule: string, k: string): string {
  let m = ruleKeys.get(rule);
  if (!m) ruleKeys.set(rule, (m = new Map()));
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = `${rule}.${k}`));
  return s;
}
/** The parsed n-gram sizes of a params record (its keys as numbers), once per record. */
const nKeys = new WeakMap<object, number[]>();
function ngramSizes(rec: Record<string, number>): number[] {
  let ns = nKeys.get(rec);
  if (!ns) nKeys.set(rec, (ns = S.intSizes(Object.keys(rec).map(Number))));
  return ns;
}
function minmax(rule: string, p: { min: number | null; max: number | null }): RuleSpec[] {
  return [{ rule, min: p.min, max: p.max }];
}
function words(doc: Document, mode: WordMode | 'datajuicer', lower = false): Words {
  if (mode === 'datajuicer') return wordsFromList(S.djWords(doc.text, lower));
  return docWords(doc.text, mode, doc.lang);
}

// ---------- mappers ----------
function mapper<P>(
  name: string,
  description: string,
  params: z.ZodType<P>,
  apply: (t: string, p: P, d: Document) => string,
  init?: (p: P) => Promise<void> | void,
): MapperSpec<P> {
  return { kind: 'mapper', name, description, params, apply, ...(init && { init }) };
}
const replParams = (pattern: string) =>
  z.object({
    pattern: z.string().default(pattern).describe('regular expression (JS syntax, Unicode mode)'),
    repl: z.string().default('').describe('replacement text'),
  });

export const mapperSpecs: MapperSpec[] = [
  mapper(
    'chinese_convert',
    'OpenCC conversion (data-juicer chinese_convert_mapper); Steel used t2s. Optional: zh-web keeps the original script',
    z
      .object({
        mode: z.string().default('t2s').describe('t2s, s2t, tw2s, hk2s, s2tw, s2hk, ...'),
        dictionary: z
          .enum(['opencc-js', 'opencc-1.1.6'])
          .default('opencc-js')
          .describe(
            'opencc-js: opencc-js 1.4.2 (OpenCC data 1.4.2), every mode; opencc-1.1.6: the OpenCC data-juicer pinned (t2s only, what Steel ran)',
          ),
        langs: langs(),
      })
      .refine((p) => p.dictionary !== 'opencc-1.1.6' || p.mode === 't2s', {
        message: 'dictionary opencc-1.1.6 has t2s only',
      }),
    (t, p, d) =>
      langMatch(d, p.langs) ? (p.dictionary === 'opencc-1.1.6' ? M.openccT2s116(t) : M.chineseConvert(t, p.mode)) : t,
    (p) => (p.dictionary === 'opencc-js' ? M.loadOpenCC() : undefined),
  ),
  mapper(
    'clean_email',
    'remove e-mail addresses (data-juicer clean_email_mapper)',
    replParams(M.EMAIL_PATTERN),
    (t, p) => (t.includes('@') ? M.regexReplace(t, p.pattern, p.repl) : t),
  ),
  mapper(
    'clean_html',
    'HTML to text as data-juicer clean_html_mapper (selectolax) does: <li>/<ol> become "\\n*", then an HTML5 parse (parse5) and the text nodes under <body> (script/style text kept, comments dropped, entities decoded)',
    z.object({
      mode: z
        .enum(['datajuicer', 'strip_tags'])
        .default('datajuicer')
        .describe(
          'datajuicer: the HTML5 parse (what Steel ran); strip_tags: remove comments, script/style elements and tags closed by ">" (a table row of two or more cells becomes one "| a | b |" line), decode entities, never lose text outside tags (zh-web)',
        ),
    }),
    (t, p) => (p.mode === 'datajuicer' ? M.cleanHtml(t) : M.stripTags(t)),
    (p) => (p.mode === 'datajuicer' ? M.loadParse5() : undefined),
  ),
  mapper('clean_ip', 'remove IPv4 and IPv6 addresses (data-juicer clean_ip_mapper)', replParams(M.IP_PATTERN), (t, p) =>
    M.regexReplace(t, p.pattern, p.repl),
  ),
  mapper(
    'clean_links',
    'remove http/https/ftp/www links (data-juicer clean_links_mapper; Python \\b and \\w are Unicode-aware, kept so here)',
    replParams(M.LINK_PATTERN),
    (t, p) => M.cleanLinks(t, p.repl, p.pattern),
  ),
  mapper(
    'clean_copyright',
    'remove a leading /* */ block mentioning copyright, else leading //, #, -- comment lines (data-juicer clean_copyright_mapper)',
    z.object({}),
    (t) => M.cleanCopyright(t),
  ),
  mapper(
    'expand_macro',
    'inline-expand argument-free TeX \\newcommand / \\def macros (data-juicer expand_macro_mapper)',
    z.object({}),
    (t) => M.expandMacro(t),
  ),
  mapper(
    'fix_unicode',
    "ftfy's fix_text (data-juicer fix_unicode_mapper): mojibake, HTML entities, C1 controls, ligatures, terminal escapes, control characters, line breaks, normalisation. Defaults are Chinese-safe; Steel mode folds width and quotes",
    z.object({
      normalization: z
        .enum(['NFC', 'NFKC', 'NFKC_keep_cjk_punct', 'none'])
        .default('NFKC_keep_cjk_punct')
        .describe('unicode normalisation; NFKC_keep_cjk_punct keeps full-width CJK punctuation (，。：？！（）)'),
      fix_encoding: z.boolean().default(true).describe('repair UTF-8 decoded as Windows-1252/Latin-1 (mojibake)'),
      fix_character_width: z
        .boolean()
        .default(false)
        .describe('fold full-width forms to ASCII (ftfy default, what data-juicer did: folds ，！？：；（）)'),
      uncurl_quotes: z
        .boolean()
        .default(false)
        .describe('turn “”‘’ into straight quotes (ftfy default, what data-juicer did)'),
      fix_line_breaks: z.boolean().default(true).describe('\\r\\n, \\r, U+2028/2029, U+0085 -> \\n'),
      remove_control_chars: z
        .boolean()
        .default(true)
        .describe("remove ftfy's control characters (C0 but \\t \\n \\f \\r, DEL, U+206A-206F, BOM, U+FFF9-FFFC)"),
    }),
    (t, p) =>
      M.fixUnicode(t, {
        normalization: p.normalization,
        fixEncoding: p.fix_encoding,
        fixCharacterWidth: p.fix_character_width,
        uncurlQuotes: p.uncurl_quotes,
        fixLineBreaks: p.fix_line_breaks,
        removeControlChars: p.remove_control_chars,
      }),
  ),
  mapper(
    'punctuation_normalization',
    "map Unicode punctuation to ASCII with data-juicer's table (folds ，。：？！ — opt-in, Steel used it; zh-web does not)",
    z.object({}),
    (t) => M.punctuationNormalization(t),
  ),
  mapper(
    'remove_repeat_sentences',
    'remove repeated sentences (Chinese and English sentence boundaries; data-juicer remove_repeat_sentences_mapper)',
    z.object({
      min_repeat_sentence_length: z
        .number()
        .int()
        .default(2)
        .describe('shorter sentences (after removing special characters) are never removed'),
      lowercase: z.boolean().default(false).describe('compare sentences lower-cased'),
      ignore_special_character: z
        .boolean()
        .default(true)
        .describe('compare only Han, ASCII letters, digits and spaces'),
    }),
    (t, p) => M.removeRepeatSentences(t, p.min_repeat_sentence_length, p.lowercase, p.ignore_special_character),
  ),
  mapper(
    'remove_specific_chars',
    'remove the listed characters, and "|" when two or more are listed (data-juicer remove_specific_chars_mapper\'s class)',
    z.object({ chars_to_remove: z.string().default('◆●■►▼▲▴∆▻▷❖♡□').describe('characters to delete') }),
    (t, p) => M.removeSpecificChars(t, p.chars_to_remove),
  ),
  mapper(
    'whitespace_normalization',
    'strip the text and turn tabs, Unicode spaces and zero-width characters into " " (newlines kept; data-juicer whitespace_normalization_mapper)',
    z.object({}),
    (t) => M.whitespaceNormalization(t),
  ),
  mapper(
    'pii_mask',
    'mask PII: e-mail, IPv4, 18-digit resident ID numbers (checksum-valid) and mainland mobile numbers (1[3-9]xxxxxxxxx); null disables a kind',
    z.object({
      email: z.string().nullable().default('[EMAIL]').describe('replacement for e-mail addresses'),
      ip: z.string().nullable().default('[IP]').describe('replacement for IPv4 addresses'),
      mobile: z.string().nullable().default('[PHONE]').describe('replacement for mainland mobile numbers'),
      id_card: z.string().nullable().default('[ID]').describe('replacement for resident identity numbers'),
    }),
    (t, p) => M.maskPii(t, { email: p.email, ip: p.ip, mobile: p.mobile, idCard: p.id_card }),
  ),
];

// ---------- filters ----------
function filter<P extends { langs: string[] }>(
  f: Omit<FilterSpec<P>, 'kind' | 'applies'> & { applies?: FilterSpec<P>['applies'] },
): FilterSpec<P> {
  return { kind: 'filter', applies: (d, p) => langMatch(d, p.langs), ...f };
}

const tokCounters = new Map<string, TokenCounter>();
const stopSets = new WeakMap<string[], Set<string>>();
function stopSet(list: string[]): Set<string> {
  let s = stopSets.get(list);
  if (!s) stopSets.set(list, (s = new Set(list.map((x) => x.toLowerCase()))));
  return s;
}
function counterFor(spec: string): TokenCounter {
  const c = tokCounters.get(spec);
  if (!c) throw new Error(`alnum_token_ratio: tokenizer "${spec}" used before init`);
  return c;
}
const flaggedCache = new Map<string, { latin: Set<string>; cjk: S.SubstringCounter | null }>();
const lidState: { model?: LidModel } = {};
const lmState = new Map<string, ArpaModel | null>();

export const filterSpecs: FilterSpec[] = [
  filter({
    name: 'alnum_ratio',
    description:
      'alphanumeric characters / characters, Unicode-aware (Han characters count as letters, as Python isalnum); data-juicer alphanumeric_filter. Steel max 0.9 drops clean Chinese; zh-web sets only a min',
    params: z.object({
      rule: ruleName('alnum_ratio'),
      min: num(0, 'keep when ratio >= min'),
      max: num(0.9, 'keep when ratio <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.alnumRatio(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'alnum_token_ratio',
    description:
      'alphanumeric characters / tokenizer tokens (data-juicer alphanumeric_filter with tokenization; Qwen tokenizer instead of pythia)',
    params: z.object({
      rule: ruleName('alnum_token_ratio'),
      min: num(0.546, 'keep when ratio >= min'),
      max: num(3.65, 'keep when ratio <= max'),
      tokenizer: z.string().default('qwen').describe('"qwen" or a tokenizer.json path'),
      langs: langs(),
    }),
    async init(p) {
      if (!tokCounters.has(p.tokenizer)) tokCounters.set(p.tokenizer, await tokenCounter(p.tokenizer));
    },
    async compute(d, p) {
      const [n] = await counterFor(p.tokenizer).countTokens([d.text]);
      return { [p.rule]: S.alnumTokenRatio(d.text, n!) };
    },
    async computeBatch(ds, p) {
      const ns = await counterFor(p.tokenizer).countTokens(ds.map((d) => d.text));
      return ds.map((d, i) => ({ [p.rule]: S.alnumTokenRatio(d.text, ns[i]!) }));
    },
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'avg_line_length',
    description: 'characters / lines (Python splitlines); data-juicer average_line_length_filter',
    params: z.object({
      rule: ruleName('avg_line_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.avgLineLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'max_line_length',
    description: 'length of the longest line in characters; data-juicer maximum_line_length_filter',
    params: z.object({
      rule: ruleName('max_line_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.maxLineLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'char_repetition',
    description:
      'character n-gram repetition: share of n-gram occurrences held by the top sqrt(#distinct) repeated n-grams; data-juicer character_repetition_filter',
    params: z.object({
      rule: ruleName('char_repetition'),
      rep_len: z.number().int().positive().default(10).describe('n-gram length in characters'),
      min: num(0, 'keep when >= min'),
      max: num(0.5, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.charRepetition(d.text, p.rep_len) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'special_char_ratio',
    description:
      'special characters / characters. category (default): symbols, controls and non-prose punctuation by Unicode category — never Han; datajuicer: its fixed list (contains 一 上 士)',
    params: z.object({
      rule: ruleName('special_char_ratio'),
      mode: z.enum(['category', 'datajuicer']).default('category').describe('definition of "special"'),
      min: num(0, 'keep when >= min'),
      max: num(0.25, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.specialCharRatio(d.text, p.mode) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'text_length',
    description: 'text length in characters (code points); data-juicer text_length_filter',
    params: z.object({
      rule: ruleName('text_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({ [p.rule]: S.textLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'word_count',
    description:
      'number of words: jieba words for Chinese (auto), whitespace words otherwise; datajuicer mode reproduces words_num_filter (space split — meaningless for Chinese)',
    params: z.object({
      rule: ruleName('word_count'),
      words: wordMode('auto'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => ({
      [p.rule]: p.words === 'datajuicer' ? S.djWords(d.text, false).length : S.countAlnumWords(words(d, p.words)),
    }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'word_repetition',
    description:
      'word n-gram repetition: occurrences of repeated word n-grams / all (data-juicer word_repetition_filter); jieba words for Chinese in auto mode',
    params: z.object({
      rule: ruleName('word_repetition'),
      words: wordMode('auto'),
      rep_len: z.number().int().positive().default(10).describe('n-gram length in words'),
      min: num(0, 'keep when >= min'),
      max: num(0.5, 'keep when <= max'),
      langs: langs(),
    }),
    compute: (d, p) => {
      const w = p.words === 'datajuicer' ? wordsFromList(S.djWords(d.text, true)) : words(d, p.words);
      return { [p.rule]: S.wordRepetition(w, p.rep_len, p.words !== 'datajuicer') };
    },
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'stopwords',
    description:
      "stopword occurrences (count) and share of words (ratio); per-language lists: zh = FineWeb-2's 22 words, en = Gopher's 8; counted over jieba/whitespace words",
    params: z.object({
      rule: ruleName('stopwords'),
      words: wordMode('auto'),
      lists: z
        .record(z.string(), z.array(z.string()))
        .default({})
        .describe('extra/override stopword lists by language'),
      min_count: num(2, 'keep when count >= min_count'),
      min_ratio: num(null, 'keep when ratio >= min_ratio'),
      langs: langs(),
    }),
    compute: (d, p) => {
      const l = (d.lang ?? 'en').split('-')[0];
      const list = stopSet(p.lists[l] ?? STOPWORDS[l] ?? STOPWORDS.en);
      const w = words(d, p.words);
      const c = S.stopwordCount(w, list);
      const out: Record<string, number> = {};
      out[ruleKey(p.rule, 'count')] = c;
      out[ruleKey(p.rule, 'ratio')] = w.n ? c / w.n : 0;
      return out;
    },
    rules: (p) => [
      { rule: `${p.rule}.count`, min: p.min_count },
      { rule: `${p.rule}.ratio`, min: p.min_ratio },
    ],
  }),
  filter({
    name: 'flagged_words',
    description:
      'flagged (adult/gambling/spam) word occurrences / words; Chinese entries are matched as substrings (no segmentation needed)',
    params: z.object({
      rule: ruleName('flagged_words'),
      words: wordMode('auto'),
      list: z.array(z.string()).default([]).describe('extra flagged words (added to the built-in zh/en lists)'),
      builtin: z.boolean().default(true).describe('use the built-in lists'),
      max: num(0.01, 'keep when ratio <= max'),
      langs: langs(),
    }),
    compute: (d, p) => {
      const key = JSON.stringify([p.builtin, p.list]);
      let fl = flaggedCache.get(key);
      if (!fl) {
        const all = [...(p.builtin ? FLAGGED : []), ...p.list];
        const cjk = all.filter((x) => /\p{Script=Han}/u.test(x));
        fl = {
          latin: new Set(all.filter((x) => !/\p{Script=Han}/u.test(x)).map((x) => x.toLowerCase())),
          // (Latin entries must start with an ASCII character)
          cjk: cjk.length ? new S.SubstringCounter(cjk) : null,
        };
        flaggedCache.set(key, fl);
      }
      return { [p.rule]: S.flaggedRatio(d.text, words(d, p.words), fl.latin, fl.cjk) };
    },
    rules: (p) => [{ rule: p.rule, max: p.max }],
  }),
  filter({
    name: 'gopher_quality',
    description:
      'Gopher quality rules (datatrove semantics): word count, mean word length, #/ellipsis per word, bullet and ellipsis lines, alphabetic-word share, stopwords. zh-web: FineWeb-2 Mandarin thresholds with jieba words',
    params: z.object({
      rule: ruleName('gopher'),
      words: wordMode('auto'),
      min_words: num(50, 'min non-symbol words'),
      min_words_unless_sentence_chars: num(
        null,
        'the word minimum does not apply when the complete sentences (runs of a line ending in 。！？ with >= 4 Han characters) hold at least this many non-whitespace characters; null: it always applies',
      ),
      max_words: num(100000, 'max non-symbol words'),
      min_avg_word_length: num(3, 'min mean word length (characters)'),
      max_avg_word_length: num(10, 'max mean word length'),
      max_symbol_word_ratio: num(0.1, 'max "#" and "..." per word'),
      max_bullet_lines_ratio: num(0.9, 'max share of lines starting with • or -'),
      max_ellipsis_lines_ratio: num(0.3, 'max share of lines ending with ... or …'),
      min_alpha_words_ratio: num(0.8, 'min share of words containing a letter (datatrove max_non_alpha_words_ratio)'),
      min_alpha_words_ratio_unless_sentence_share: num(
        null,
        'the alphabetic-word minimum does not apply when the complete sentences (as for min_words_unless_sentence_chars) hold at least this share of the non-whitespace characters: dates, versions and formulas inside prose are text, a table of numbers is not (a number then counts as a word: every non-symbol word holds a letter or a digit); null: it always applies',
      ),
      min_stop_words: num(2, 'min stopword occurrences (language list, see stopwords op)'),
      min_stop_words_unless_sentence_chars: num(
        null,
        'the stopword minimum does not apply when the complete sentences (as for min_words_unless_sentence_chars) hold at least this many non-whitespace characters; null: it always applies',
      ),
      langs: langs(),
    }),
    compute: (d, p) => {
      const w = words(d, p.words);
      const q = S.gopherQuality(d.text, w);
      const sc =
        p.min_words_unless_sentence_chars === null &&
        p.min_stop_words_unless_sentence_chars === null &&
        p.min_alpha_words_ratio_unless_sentence_share === null
          ? 0
          : S.completeSentenceChars(d.text);
      const l = (d.lang ?? 'en').split('-')[0];
      const stop = stopSet(STOPWORDS[l] ?? STOPWORDS.en);
      const r = p.rule;
      const out: Record<string, number> = {};
      out[ruleKey(r, 'n_words')] = q.n_words;
      out[ruleKey(r, 'mean_word_length')] = q.mean_word_length;
      out[ruleKey(r, 'symbol_word_ratio')] = q.hash_ratio + q.ellipsis_ratio;
      out[ruleKey(r, 'bullet_lines_ratio')] = q.bullet_lines_ratio;
      out[ruleKey(r, 'ellipsis_lines_ratio')] = q.ellipsis_lines_ratio;
      out[ruleKey(r, 'alpha_words_ratio')] = q.alpha_words_ratio;
      out[ruleKey(r, 'stop_words')] = S.stopwordCount(w, stop);
      if (
        p.min_words_unless_sentence_chars !== null ||
        p.min_stop_words_unless_sentence_chars !== null ||
        p.min_alpha_words_ratio_unless_sentence_share !== null
      )
        out[ruleKey(r, 'sentence_chars')] = sc;
      if (p.min_alpha_words_ratio_unless_sentence_share !== null)
        out[ruleKey(r, 'sentence_share')] = sc / (S.nonSpaceChars(d.text) || 1);
      return out;
    },
    rules: (p) => {
      const r = p.rule;
      return [
        {
          rule: `${r}.n_words`,
          min: p.min_words,
          max: p.max_words,
          ...(p.min_words_unless_sentence_chars === null
            ? {}
            : { minUnless: { rule: `${r}.sentence_chars`, min: p.min_words_unless_sentence_chars } }),
        },
        { rule: `${r}.mean_word_length`, min: p.min_avg_word_length, max: p.max_avg_word_length },
        { rule: `${r}.symbol_word_ratio`, max: p.max_symbol_word_ratio },
        { rule: `${r}.bullet_lines_ratio`, max: p.max_bullet_lines_ratio },
        { rule: `${r}.ellipsis_lines_ratio`, max: p.max_ellipsis_lines_ratio },
        {
          rule: `${r}.alpha_words_ratio`,
          min: p.min_alpha_words_ratio,
          ...(p.min_alpha_words_ratio_unless_sentence_share === null
            ? {}
            : { minUnless: { rule: `${r}.sentence_share`, min: p.min_alpha_words_ratio_unless_sentence_share } }),
        },
        {
          rule: `${r}.stop_words`,
          min: p.min_stop_words,
          ...(p.min_stop_words_unless_sentence_chars === null
            ? {}
            : { minUnless: { rule: `${r}.sentence_chars`, min: p.min_stop_words_unless_sentence_chars } }),
        },
      ];
    },
  }),
  filter({
    name: 'gopher_repetition',
    description:
      'Gopher repetition rules (datatrove semantics): duplicate line/paragraph fractions, top word n-gram character fractions (2-4), duplicate n-gram character fractions (5-10); jieba words for Chinese',
    params: z.object({
      rule: ruleName('gopher_rep'),
      words: wordMode('auto'),
      dup_line_frac: num(0.3, 'max share of duplicate lines'),
      dup_para_frac: num(0.3, 'max share of duplicate paragraphs'),
      dup_line_char_frac: num(0.2, 'max share of characters in duplicate lines'),
      dup_para_char_frac: num(0.2, 'max share of characters in duplicate paragraphs'),
      top_n_grams: z
        .record(z.string(), z.number())
        .default({ 2: 0.2, 3: 0.18, 4: 0.16 })
        .describe('n -> max character fraction of the most frequent n-gram'),
      dup_n_grams: z
        .record(z.string(), z.number())
        .default({ 5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1 })
        .describe('n -> max character fraction of duplicated n-grams'),
      top_n_grams_min_words: z
        .number()
        .int()
        .nullable()
        .default(null)
        .describe(
          'the top n-gram rules apply only to documents of at least this many words (null: to all); below it a few mentions of the topic term set the share',
        ),
      dup_n_grams_outside_sentences: z
        .record(z.string(), z.number())
        .nullable()
        .default(null)
        .describe(
          'n -> max character fraction (of the whole text) of duplicated n-grams in the text outside complete Chinese sentences (runs of a line ending in 。！？ with >= 4 Han characters) and outside table rows (lines "| a | b |"): labels, menus and listings, not the phrases that distinct sentences share nor the vocabulary that the cells of a table column share; null: not measured',
        ),
      langs: langs(),
    }),
    compute: (d, p) => {
      const mode = p.words === 'datajuicer' ? 'whitespace' : resolveWordMode(p.words as WordMode, d.lang);
      const w = wordsOf(d.text, mode);
      const short = p.top_n_grams_min_words !== null && w.n < p.top_n_grams_min_words;
      const joiner = mode === 'jieba' ? '' : ' ';
      const st = S.gopherRepetition(
        d.text,
        w,
        short ? [] : ngramSizes(p.top_n_grams),
        ngramSizes(p.dup_n_grams),
        joiner,
      );
      const out: Record<string, number> = {};
      for (const k in st) out[ruleKey(p.rule, k)] = st[k];
      if (p.dup_n_grams_outside_sentences) {
        const ns = ngramSizes(p.dup_n_grams_outside_sentences);
        const outside = S.wordsOutsideSentencesAndTables(d.text, w);
        // no word inside a complete sentence: the measure outside sentences is the whole-text one computed above
        const o =
          outside.n === w.n && ns.every((n) => S.ngramKey('dup', n) in st)
            ? st
            : S.dupNgramShares(d.text, outside, ns, joiner);
        for (const n of ns) out[ruleKey(p.rule, S.ngramKey('dup_outside', n))] = o[S.ngramKey('dup', n)];
      }
      return out;
    },
    rules: (p) => {
      const r = p.rule;
      const rs: RuleSpec[] = [
        { rule: `${r}.dup_para_frac`, max: p.dup_para_frac },
        { rule: `${r}.dup_para_char_frac`, max: p.dup_para_char_frac },
        { rule: `${r}.dup_line_frac`, max: p.dup_line_frac },
        { rule: `${r}.dup_line_char_frac`, max: p.dup_line_char_frac },
      ];
      for (const [n, v] of Object.entries(p.top_n_grams)) rs.push({ rule: `${r}.top_${n}gram`, max: v });
      for (const [n, v] of Object.entries(p.dup_n_grams)) rs.push({ rule: `${r}.dup_${n}gram`, max: v });
      for (const [n, v] of Object.entries(p.dup_n_grams_outside_sentences ?? {}))
        rs.push({ rule: `${r}.dup_${n}gram_outside`, max: v });
      return rs;
    },
  }),
  filter({
    name: 'fineweb_quality',
    description:
      'FineWeb quality rules (datatrove semantics): share of lines ending in terminal punctuation (CJK included), short lines, duplicated line characters, newlines per word',
    params: z.object({
      rule: ruleName('fineweb'),
      words: wordMode('auto'),
      line_punct_thr: num(0.12, 'min share of lines ending with terminal punctuation'),
      short_line_thr: num(0.67, 'max share of lines of <= short_line_length characters'),
      short_line_length: z.number().int().default(30).describe('what counts as a short line'),
      char_duplicates_ratio: num(0.01, 'max share of characters in duplicated lines'),
      new_line_ratio: num(0.3, 'max newlines per word'),
      langs: langs(),
    }),
    compute: (d, p) => {
      const mode = p.words === 'datajuicer' ? 'whitespace' : resolveWordMode(p.words as WordMode, d.lang);
      const st = S.finewebQuality(d.text, wordsOf(d.text, mode), p.short_line_length);
      const out: Record<string, number> = {};
      for (const k in st) out[ruleKey(p.rule, k)] = st[k as keyof typeof st];
      return out;
    },
    rules: (p) => [
      { rule: `${p.rule}.line_punct_ratio`, min: p.line_punct_thr },
      { rule: `${p.rule}.short_line_ratio`, max: p.short_line_thr },
      { rule: `${p.rule}.char_dup_ratio`, max: p.char_duplicates_ratio },
      { rule: `${p.rule}.new_line_ratio`, max: p.new_line_ratio },
    ],
  }),
  filter({
    name: 'perplexity',
    description:
      "perplexity under an ARPA n-gram model (ours from `steel lm train`, or KenLM's); data-juicer perplexity_filter semantics (per-line scores, 10^(-logp/(tokens+lines)))",
    params: z.object({
      rule: ruleName('perplexity'),
      model: z.string().default('models/zh.char.arpa').describe('ARPA file (.arpa, .arpa.gz, .arpa.zst)'),
      tokenization: z
        .enum(['char', 'whitespace', 'jieba'])
        .default('char')
        .describe(
          'how the model was trained: char (one token per character, spaces as ▁), whitespace words, or jieba words',
        ),
      max_chars: z
        .number()
        .int()
        .default(20000)
        .describe('score at most this many characters of each document (speed)'),
      if_missing: z
        .enum(['error', 'skip'])
        .default('error')
        .describe('when the model file does not exist: fail, or pass every document with a warning'),
      min: num(null, 'keep when perplexity >= min'),
      max: num(1500, 'keep when perplexity <= max'),
      langs: langs(),
    }),
    async init(p) {
      if (lmState.has(p.model)) return;
      const { existsSync } = await import('node:fs');
      if (!existsSync(p.model)) {
        if (p.if_missing === 'skip') {
          console.warn(`perplexity: model ${p.model} not found; the filter passes every document (if_missing: skip)`);
          lmState.set(p.model, null);
          return;
        }
        throw new Error(
          `perplexity: model file ${p.model} not found (train one with \`steel lm train\`, or set if_missing: skip)`,
        );
      }
      lmState.set(p.model, await loadArpa(p.model));
    },
    applies: (d, p) => langMatch(d, p.langs) && lmState.get(p.model) !== null,
    compute: (d, p) => ({
      [p.rule]: lmState
        .get(p.model)!
        .perplexity(d.text.length > p.max_chars ? d.text.slice(0, p.max_chars) : d.text, p.tokenization),
    }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    name: 'lang_id',
    description:
      'language ID with fastText lid.176 (bundled) over windows spread across the whole document, weighted by content units, with the CJK script share of the whole document as a prior (filters/lid.ts identify): tags doc.lang and meta.lang_score; drops when the score is below the threshold for that language (default_threshold for others). Optional "code" label from a code detector (never for a mostly-CJK page)',
    params: z.object({
      rule: ruleName('lang_id'),
      thresholds: z.record(z.string(), z.number()).default({ zh: 0.5, en: 0.5 }).describe('per-language minimum score'),
      default_threshold: z
        .number()
        .default(0)
        .describe('minimum score for languages not listed (set > 1 to drop every other language)'),
      action: z.enum(['tag', 'drop']).default('drop').describe('tag only, or also drop below threshold'),
      windows: z
        .number()
        .int()
        .positive()
        .default(3)
        .describe(
          'identify from this many windows spread over the whole document (not its head): a page with an English header and a Chinese body is Chinese',
        ),
      window_chars: z
        .number()
        .int()
        .positive()
        .default(300)
        .describe('characters per window (fastText cost grows with the characters read: windows x window_chars)'),
      detect_code: z
        .boolean()
        .default(true)
        .describe('label as "code" (score 1) when most lines look like source code or shell'),
      code_line_ratio: z.number().default(0.6).describe('min share of code-looking lines for "code"'),
      keep_original_lang: z
        .boolean()
        .default(false)
        .describe('keep an existing doc.lang and only record meta.lid_lang'),
      langs: langs(),
    }),
    async init() {
      lidState.model ??= await loadLid();
    },
    compute: (d, p) => {
      const { lang, score } = identify(lidState.model!, d.text, {
        windows: p.windows,
        width: p.window_chars,
        detectCode: p.detect_code,
        codeLineRatio: p.code_line_ratio,
      });
      if (p.keep_original_lang && d.lang) d.meta.lid_lang = lang;
      else d.lang = lang;
      d.meta.lang_score = score;
      return { [p.rule]: score };
    },
    rules: (p) => {
      const byLang: Record<string, { min: number }> = {};
      for (const [l, v] of Object.entries(p.thresholds)) byLang[l] = { min: v };
      return p.action === 'tag' ? [] : [{ rule: p.rule, min: p.default_threshold, byLang }];
    },
  }),
  filter({
    name: 'zh_script',
    description:
      'Simplified vs Traditional script detection for Chinese: share of Traditional-only among script-distinctive Han characters (OpenCC tables); tags meta.script = Hans | Hant',
    params: z.object({
      rule: ruleName('zh_script'),
      langs: z.array(z.string()).default(['zh']).describe('apply to these languages'),
      hant_above: z.number().default(0.5).describe('tag Hant when the Traditional share is above this'),
      max_chars: z.number().int().default(5000).describe('look at the first N characters'),
      min: num(null, 'keep when Traditional share >= min'),
      max: num(null, 'keep when Traditional share <= max (e.g. 0.5 keeps Simplified only)'),
    }),
    compute: (d, p) => {
      const c = scriptCounts(d.text, p.max_chars);
      const share = c.trad + c.simp === 0 ? 0.5 : c.trad / (c.trad + c.simp);
      d.meta.script = share > p.hant_above ? 'Hant' : 'Hans';
      return { [p.rule]: share };
    },
    rules: (p) => minmax(p.rule, p),
  }),
];

export { traditionalShare };

export const specs: Map<string, Spec> = new Map([...mapperSpecs, ...filterSpecs].map((s) => [s.name, s]));

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [...mapperSpecs.map((s) => mapperOp(s)), ...filterSpecs.map((s) => filterOp(s))];
