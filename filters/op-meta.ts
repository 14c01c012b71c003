/**
 * The metadata of filters/'s operators (name, description, params schema with its defaults): what the parent of a
 * run needs to resolve a recipe and what `steel ops` prints. The implementations (filters/ops.ts, with the models,
 * jieba, parse5, the statistics' kernels) are imported by the process that runs an op, when it creates the op's
 * stage: a `steel prep --workers N` parent never imports them. filters/ops.ts builds its specs from these entries
 * (`...FILTERS.name`, `mapper(MAPPERS.name, ...)`), so the schema an op is validated with and the one it runs with are
 * the same object.
 */
import { z } from 'zod';
import type { MapOp, Op } from '../pipeline/stage.ts';
import type { Spec } from './framework.ts';
import type { WordMode } from './text.ts';
import { EMAIL_PATTERN, IP_PATTERN, LINK_PATTERN } from './patterns.ts';

/** An operator's metadata. */
export interface OpMeta<P> {
  name: string;
  description: string;
  params: z.ZodType<P>;
}
function meta<P>(name: string, description: string, params: z.ZodType<P>): OpMeta<P> {
  return { name, description, params };
}

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
const replParams = (pattern: string) =>
  z.object({
    pattern: z.string().default(pattern).describe('regular expression (JS syntax, Unicode mode)'),
    repl: z.string().default('').describe('replacement text'),
  });

export const MAPPERS = {
  chinese_convert: meta(
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
  ),
  clean_email: meta(
    'clean_email',
    'remove e-mail addresses (data-juicer clean_email_mapper)',
    replParams(EMAIL_PATTERN),
  ),
  clean_html: meta(
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
  ),
  clean_ip: meta('clean_ip', 'remove IPv4 and IPv6 addresses (data-juicer clean_ip_mapper)', replParams(IP_PATTERN)),
  clean_links: meta(
    'clean_links',
    'remove http/https/ftp/www links (data-juicer clean_links_mapper; Python \\b and \\w are Unicode-aware, kept so here)',
    replParams(LINK_PATTERN),
  ),
  clean_copyright: meta(
    'clean_copyright',
    'remove a leading /* */ block mentioning copyright, else leading //, #, -- comment lines (data-juicer clean_copyright_mapper)',
    z.object({}),
  ),
  expand_macro: meta(
    'expand_macro',
    'inline-expand argument-free TeX \\newcommand / \\def macros (data-juicer expand_macro_mapper)',
    z.object({}),
  ),
  fix_unicode: meta(
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
  ),
  punctuation_normalization: meta(
    'punctuation_normalization',
    "map Unicode punctuation to ASCII with data-juicer's table (folds ，。：？！ — opt-in, Steel used it; zh-web does not)",
    z.object({}),
  ),
  remove_repeat_sentences: meta(
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
  ),
  remove_specific_chars: meta(
    'remove_specific_chars',
    'remove the listed characters, and "|" when two or more are listed (data-juicer remove_specific_chars_mapper\'s class)',
    z.object({ chars_to_remove: z.string().default('◆●■►▼▲▴∆▻▷❖♡□').describe('characters to delete') }),
  ),
  whitespace_normalization: meta(
    'whitespace_normalization',
    'strip the text and turn tabs, Unicode spaces and zero-width characters into " " (newlines kept; data-juicer whitespace_normalization_mapper)',
    z.object({}),
  ),
  pii_mask: meta(
    'pii_mask',
    'mask PII: e-mail, IPv4, 18-digit resident ID numbers (checksum-valid) and mainland mobile numbers (1[3-9]xxxxxxxxx); null disables a kind',
    z.object({
      email: z.string().nullable().default('[EMAIL]').describe('replacement for e-mail addresses'),
      ip: z.string().nullable().default('[IP]').describe('replacement for IPv4 addresses'),
      mobile: z.string().nullable().default('[PHONE]').describe('replacement for mainland mobile numbers'),
      id_card: z.string().nullable().default('[ID]').describe('replacement for resident identity numbers'),
    }),
  ),
};

export const FILTERS = {
  alnum_ratio: meta(
    'alnum_ratio',
    'alphanumeric characters / characters, Unicode-aware (Han characters count as letters, as Python isalnum); data-juicer alphanumeric_filter. Steel max 0.9 drops clean Chinese; zh-web sets only a min',
    z.object({
      rule: ruleName('alnum_ratio'),
      min: num(0, 'keep when ratio >= min'),
      max: num(0.9, 'keep when ratio <= max'),
      langs: langs(),
    }),
  ),
  alnum_token_ratio: meta(
    'alnum_token_ratio',
    'alphanumeric characters / tokenizer tokens (data-juicer alphanumeric_filter with tokenization; Qwen tokenizer instead of pythia)',
    z.object({
      rule: ruleName('alnum_token_ratio'),
      min: num(0.546, 'keep when ratio >= min'),
      max: num(3.65, 'keep when ratio <= max'),
      tokenizer: z.string().default('qwen').describe('"qwen" or a tokenizer.json path'),
      langs: langs(),
    }),
  ),
  avg_line_length: meta(
    'avg_line_length',
    'characters / lines (Python splitlines); data-juicer average_line_length_filter',
    z.object({
      rule: ruleName('avg_line_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  max_line_length: meta(
    'max_line_length',
    'length of the longest line in characters; data-juicer maximum_line_length_filter',
    z.object({
      rule: ruleName('max_line_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  char_repetition: meta(
    'char_repetition',
    'character n-gram repetition: share of n-gram occurrences held by the top sqrt(#distinct) repeated n-grams; data-juicer character_repetition_filter',
    z.object({
      rule: ruleName('char_repetition'),
      rep_len: z.number().int().positive().default(10).describe('n-gram length in characters'),
      min: num(0, 'keep when >= min'),
      max: num(0.5, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  special_char_ratio: meta(
    'special_char_ratio',
    'special characters / characters. category (default): symbols, controls and non-prose punctuation by Unicode category — never Han; datajuicer: its fixed list (contains 一 上 士)',
    z.object({
      rule: ruleName('special_char_ratio'),
      mode: z.enum(['category', 'datajuicer']).default('category').describe('definition of "special"'),
      min: num(0, 'keep when >= min'),
      max: num(0.25, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  text_length: meta(
    'text_length',
    'text length in characters (code points); data-juicer text_length_filter',
    z.object({
      rule: ruleName('text_length'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  word_count: meta(
    'word_count',
    'number of words: jieba words for Chinese (auto), whitespace words otherwise; datajuicer mode reproduces words_num_filter (space split — meaningless for Chinese)',
    z.object({
      rule: ruleName('word_count'),
      words: wordMode('auto'),
      min: num(10, 'keep when >= min'),
      max: num(null, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  word_repetition: meta(
    'word_repetition',
    'word n-gram repetition: occurrences of repeated word n-grams / all (data-juicer word_repetition_filter); jieba words for Chinese in auto mode',
    z.object({
      rule: ruleName('word_repetition'),
      words: wordMode('auto'),
      rep_len: z.number().int().positive().default(10).describe('n-gram length in words'),
      min: num(0, 'keep when >= min'),
      max: num(0.5, 'keep when <= max'),
      langs: langs(),
    }),
  ),
  stopwords: meta(
    'stopwords',
    "stopword occurrences (count) and share of words (ratio); per-language lists: zh = FineWeb-2's 22 words, en = Gopher's 8; counted over jieba/whitespace words",
    z.object({
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
  ),
  flagged_words: meta(
    'flagged_words',
    'flagged (adult/gambling/spam) word occurrences / words; Chinese entries are matched as substrings (no segmentation needed)',
    z.object({
      rule: ruleName('flagged_words'),
      words: wordMode('auto'),
      list: z.array(z.string()).default([]).describe('extra flagged words (added to the built-in zh/en lists)'),
      builtin: z.boolean().default(true).describe('use the built-in lists'),
      max: num(0.01, 'keep when ratio <= max'),
      langs: langs(),
    }),
  ),
  gopher_quality: meta(
    'gopher_quality',
    'Gopher quality rules (datatrove semantics): word count, mean word length, #/ellipsis per word, bullet and ellipsis lines, alphabetic-word share, stopwords. zh-web: FineWeb-2 Mandarin thresholds with jieba words',
    z.object({
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
  ),
  gopher_repetition: meta(
    'gopher_repetition',
    'Gopher repetition rules (datatrove semantics): duplicate line/paragraph fractions, top word n-gram character fractions (2-4), duplicate n-gram character fractions (5-10); jieba words for Chinese',
    z.object({
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
  ),
  fineweb_quality: meta(
    'fineweb_quality',
    'FineWeb quality rules (datatrove semantics): share of lines ending in terminal punctuation (CJK included), short lines, duplicated line characters, newlines per word',
    z.object({
      rule: ruleName('fineweb'),
      words: wordMode('auto'),
      line_punct_thr: num(0.12, 'min share of lines ending with terminal punctuation'),
      short_line_thr: num(0.67, 'max share of lines of <= short_line_length characters'),
      short_line_length: z.number().int().default(30).describe('what counts as a short line'),
      char_duplicates_ratio: num(0.01, 'max share of characters in duplicated lines'),
      new_line_ratio: num(0.3, 'max newlines per word'),
      langs: langs(),
    }),
  ),
  perplexity: meta(
    'perplexity',
    "perplexity under an ARPA n-gram model (ours from `steel lm train`, or KenLM's); data-juicer perplexity_filter semantics (per-line scores, 10^(-logp/(tokens+lines)))",
    z.object({
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
  ),
  lang_id: meta(
    'lang_id',
    'language ID with fastText lid.176 (bundled) over windows spread across the whole document, weighted by content units, with the CJK script share of the whole document as a prior (filters/lid.ts identify): tags doc.lang and meta.lang_score; drops when the score is below the threshold for that language (default_threshold for others). Optional "code" label from a code detector (never for a mostly-CJK page)',
    z.object({
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
  ),
  zh_script: meta(
    'zh_script',
    'Simplified vs Traditional script detection for Chinese: share of Traditional-only among script-distinctive Han characters (OpenCC tables); tags meta.script = Hans | Hant',
    z.object({
      rule: ruleName('zh_script'),
      langs: z.array(z.string()).default(['zh']).describe('apply to these languages'),
      hant_above: z.number().default(0.5).describe('tag Hant when the Traditional share is above this'),
      max_chars: z.number().int().default(5000).describe('look at the first N characters'),
      min: num(null, 'keep when Traditional share >= min'),
      max: num(null, 'keep when Traditional share <= max (e.g. 0.5 keeps Simplified only)'),
    }),
  ),
};

/** Filters with computeBatch: their op streams batches (no per-document createDoc). */
const BATCHED = new Set<string>(['alnum_token_ratio']);

/** The implementation of op `name` (filters/ops.ts), imported by the process that runs it. */
async function impl(name: string) {
  return (await import('./ops.ts')).opsByName.get(name)!;
}

/** The recipe operator of `m`: its create / createDoc import the implementation when called. */
function lazyOp(m: OpMeta<unknown>, perDocument: boolean, keepsText = false): MapOp & { loadSpec(): Promise<Spec> } {
  return {
    kind: 'map',
    name: m.name,
    description: m.description,
    params: m.params,
    /** The filter or mapper spec (`steel refilter` runs its parts). */
    loadSpec: async () => (await impl(m.name)).spec,
    create: async (p) => (await impl(m.name)).create(p),
    ...(perDocument && { createDoc: async (p: unknown) => (await impl(m.name)).createDoc!(p) }),
    ...(keepsText && { keepsText }),
  };
}

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [
  ...Object.values(MAPPERS).map((m: OpMeta<unknown>) => lazyOp(m, true)),
  ...Object.values(FILTERS).map((m: OpMeta<unknown>) => lazyOp(m, !BATCHED.has(m.name), true)),
];
