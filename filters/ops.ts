/**
 * Cleaning mappers, quality filters, language ID and perplexity, registered as MapOps usable by name in recipes.
 * Every filter stores its statistics in doc.meta.stats[RULE] (kept and dropped documents alike) and drops with
 * ctx.drop(doc, RULE, value); `steel refilter` re-applies changed thresholds to those stored statistics.
 */
import type { z } from 'zod';
import type { MapOp } from '../pipeline/stage.ts';
import type { Document } from '../pipeline/document.ts';
import { MAPPERS, FILTERS, type OpMeta } from './op-meta.ts';
import { filterOp, mapperOp, type FilterSpec, type MapperSpec, type RuleSpec, type Spec } from './framework.ts';
import * as M from './mappers.ts';
import * as S from './stats.ts';
import { docWords, resolveWordMode, wordsFromList, wordsOf, type WordMode, type Words } from './text.ts';
import { loadLid, identify, traditionalShare, scriptCounts, type LidModel } from './lid.ts';
import { loadArpa, type ArpaModel } from './lm.ts';
import { STOPWORDS, FLAGGED } from './wordlists.ts';
import { tokenCounter, type TokenCounter } from './tokens.ts';

function langMatch(doc: Document, ls: readonly string[]): boolean {
  if (ls.length === 0) return true;
  const l = doc.lang;
  if (!l) return false;
  // a loop, not ls.some with a closure made per document and step
  for (let i = 0; i < ls.length; i++) {
    const x = ls[i];
    if (l === x || l.startsWith(x + '-') || l.startsWith(x + '_')) return true;
  }
  return false;
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
// feedback before the first compile: a rule first met after the compile (the English rules after Chinese documents)
// threw away the code that inlines ruleKey; the names made here are not used
for (let k = 0; k < 24; k++) ruleKey(`prime${k >> 3}`, `k${k}`);
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
  m: OpMeta<P>,
  apply: (t: string, p: P, d: Document) => string,
  init?: (p: P) => Promise<void> | void,
): MapperSpec<P> {
  return { kind: 'mapper', ...m, apply, ...(init && { init }) };
}
export const mapperSpecs: MapperSpec[] = [
  mapper(
    MAPPERS.chinese_convert,
    (t, p, d) =>
      langMatch(d, p.langs) ? (p.dictionary === 'opencc-1.1.6' ? M.openccT2s116(t) : M.chineseConvert(t, p.mode)) : t,
    (p) => (p.dictionary === 'opencc-js' ? M.loadOpenCC() : undefined),
  ),
  mapper(MAPPERS.clean_email, (t, p) => (t.includes('@') ? M.regexReplace(t, p.pattern, p.repl) : t)),
  mapper(
    MAPPERS.clean_html,
    (t, p) => (p.mode === 'datajuicer' ? M.cleanHtml(t) : M.stripTags(t)),
    (p) => (p.mode === 'datajuicer' ? M.loadParse5() : undefined),
  ),
  mapper(MAPPERS.clean_ip, (t, p) => M.regexReplace(t, p.pattern, p.repl)),
  mapper(MAPPERS.clean_links, (t, p) => M.cleanLinks(t, p.repl, p.pattern)),
  mapper(MAPPERS.clean_copyright, (t) => M.cleanCopyright(t)),
  mapper(MAPPERS.expand_macro, (t) => M.expandMacro(t)),
  mapper(MAPPERS.fix_unicode, (t, p) =>
    M.fixUnicode(t, {
      normalization: p.normalization,
      fixEncoding: p.fix_encoding,
      fixCharacterWidth: p.fix_character_width,
      uncurlQuotes: p.uncurl_quotes,
      fixLineBreaks: p.fix_line_breaks,
      removeControlChars: p.remove_control_chars,
    }),
  ),
  mapper(MAPPERS.punctuation_normalization, (t) => M.punctuationNormalization(t)),
  mapper(MAPPERS.remove_repeat_sentences, (t, p) =>
    M.removeRepeatSentences(t, p.min_repeat_sentence_length, p.lowercase, p.ignore_special_character),
  ),
  mapper(MAPPERS.remove_specific_chars, (t, p) => M.removeSpecificChars(t, p.chars_to_remove)),
  mapper(MAPPERS.whitespace_normalization, (t) => M.whitespaceNormalization(t)),
  mapper(MAPPERS.pii_mask, (t, p) => M.maskPii(t, { email: p.email, ip: p.ip, mobile: p.mobile, idCard: p.id_card })),
];

// ---------- filters ----------
function filter<P extends { langs: string[] }>(
  f: Omit<FilterSpec<P>, 'kind' | 'applies'> & { applies?: FilterSpec<P>['applies'] },
): FilterSpec<P> {
  return { kind: 'filter', applies: (d, p) => langMatch(d, p.langs), ...f };
}

type GopherQualityP = z.infer<typeof FILTERS.gopher_quality.params>;
/** gopher_quality's statistics that every rule has. */
function gopherQualityStats(d: Document, p: GopherQualityP): Record<string, number> {
  const w = words(d, p.words);
  const q = S.gopherQuality(d.text, w);
  const stop = builtinStopSet(d.lang);
  const r = p.rule;
  const out: Record<string, number> = {};
  out[ruleKey(r, 'n_words')] = q.n_words;
  out[ruleKey(r, 'mean_word_length')] = q.mean_word_length;
  out[ruleKey(r, 'symbol_word_ratio')] = q.hash_ratio + q.ellipsis_ratio;
  out[ruleKey(r, 'bullet_lines_ratio')] = q.bullet_lines_ratio;
  out[ruleKey(r, 'ellipsis_lines_ratio')] = q.ellipsis_lines_ratio;
  out[ruleKey(r, 'alpha_words_ratio')] = q.alpha_words_ratio;
  out[ruleKey(r, 'stop_words')] = S.stopwordCount(w, stop);
  return out;
}
/** gopher_quality's statistics for a rule with exemptions (the complete sentences' characters, their share). */
function gopherQualitySentences(d: Document, p: GopherQualityP, out: Record<string, number>): void {
  const sc = S.completeSentenceChars(d.text);
  out[ruleKey(p.rule, 'sentence_chars')] = sc;
  if (p.min_alpha_words_ratio_unless_sentence_share !== null)
    out[ruleKey(p.rule, 'sentence_share')] = sc / (S.nonSpaceChars(d.text) || 1);
}
type GopherRepetitionP = z.infer<typeof FILTERS.gopher_repetition.params>;
/** The words gopher_repetition counts in (whitespace for datajuicer). */
const repetitionMode = (d: Document, p: GopherRepetitionP) =>
  p.words === 'datajuicer' ? 'whitespace' : resolveWordMode(p.words as WordMode, d.lang);
/** gopher_repetition's statistics that every rule has, into `out` as the rule's; the unprefixed record. */
function gopherRepetitionStats(d: Document, p: GopherRepetitionP, out: Record<string, number>): Record<string, number> {
  const mode = repetitionMode(d, p);
  const w = wordsOf(d.text, mode);
  // (read by every step: a rule without the minimum had left these loads without feedback, and the first document
  // of the rule that has one threw the compiled code away)
  const short = w.n < (p.top_n_grams_min_words ?? 0);
  const st = S.gopherRepetition(
    d.text,
    w,
    short ? [] : ngramSizes(p.top_n_grams),
    ngramSizes(p.dup_n_grams),
    mode === 'jieba' ? '' : ' ',
  );
  for (const k in st) out[ruleKey(p.rule, k)] = st[k];
  return st;
}
/** gopher_repetition's duplicated n-grams outside complete sentences and table rows (sizes `rec`), into `out`. */
function dupOutsideSentences(
  d: Document,
  p: GopherRepetitionP,
  rec: Record<string, number>,
  st: Record<string, number>,
  out: Record<string, number>,
): void {
  const mode = repetitionMode(d, p);
  const w = wordsOf(d.text, mode);
  const ns = ngramSizes(rec);
  const outside = S.wordsOutsideSentencesAndTables(d.text, w);
  // no word inside a complete sentence: the measure outside sentences is the whole-text one computed above
  const o =
    outside.n === w.n && ns.every((n) => S.ngramKey('dup', n) in st)
      ? st
      : S.dupNgramShares(d.text, outside, ns, mode === 'jieba' ? '' : ' ');
  for (const n of ns) out[ruleKey(p.rule, S.ngramKey('dup_outside', n))] = o[S.ngramKey('dup', n)];
}

const tokCounters = new Map<string, TokenCounter>();
const stopSets = new WeakMap<string[], Set<string>>();
function stopSet(list: string[]): Set<string> {
  let s = stopSets.get(list);
  if (!s) stopSets.set(list, (s = new Set(list.map((x) => x.toLowerCase()))));
  return s;
}
/**
 * A step's init: the stop sets of its languages and their indexes (stats.ts stopIndexOf: the zh one registered with
 * jieba's kernel), made here, not at the first document of each language. Made there, inside the per-document code V8
 * had compiled on documents of the other language (the English man pages come first), the first-time path threw that
 * code away ("insufficient type feedback"), with stopwordCount's.
 */
function prepareStops(langs: readonly string[], lists: Record<string, string[]>): void {
  for (const lang of langs) {
    const l = lang.split('-')[0];
    S.stopIndexOf(stopSet(lists[l] ?? STOPWORDS[l] ?? STOPWORDS.en));
  }
}
/**
 * The built-in stop set of a document's language (its base language's, else English's), by the language as it is:
 * the sets of a step's languages are stored at its init (a lookup by the base language's name, compiled with one
 * name, was thrown away at the other's first document, "wrong name", and a split compiled for one kind of string at
 * another's, "wrong map").
 */
const builtinStops = new Map<string, Set<string>>();
function builtinStopSet(lang: string | undefined): Set<string> {
  const k = lang ?? 'en';
  let s = builtinStops.get(k);
  if (s === undefined) builtinStops.set(k, (s = stopSet(STOPWORDS[k.split('-')[0]] ?? STOPWORDS.en)));
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
    ...FILTERS.alnum_ratio,
    compute: (d, p) => ({ [p.rule]: S.alnumRatio(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.alnum_token_ratio,
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
    ...FILTERS.avg_line_length,
    compute: (d, p) => ({ [p.rule]: S.avgLineLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.max_line_length,
    compute: (d, p) => ({ [p.rule]: S.maxLineLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.char_repetition,
    compute: (d, p) => ({ [p.rule]: S.charRepetition(d.text, p.rep_len) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.special_char_ratio,
    compute: (d, p) => ({ [p.rule]: S.specialCharRatio(d.text, p.mode) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.text_length,
    compute: (d, p) => ({ [p.rule]: S.textLength(d.text) }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.word_count,
    compute: (d, p) => ({
      [p.rule]: p.words === 'datajuicer' ? S.djWords(d.text, false).length : S.countAlnumWords(words(d, p.words)),
    }),
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.word_repetition,
    compute: (d, p) => {
      const w = p.words === 'datajuicer' ? wordsFromList(S.djWords(d.text, true)) : words(d, p.words);
      return { [p.rule]: S.wordRepetition(w, p.rep_len, p.words !== 'datajuicer') };
    },
    rules: (p) => minmax(p.rule, p),
  }),
  filter({
    ...FILTERS.stopwords,
    init: (p) => prepareStops(p.langs, p.lists),
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
    ...FILTERS.flagged_words,
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
    ...FILTERS.gopher_quality,
    init: (p) => {
      for (const lang of p.langs) S.stopIndexOf(builtinStopSet(lang));
    },
    compute: (d, p) => {
      const out = gopherQualityStats(d, p);
      // (the exemptions' statistics in their own function: this compiled on the rules without them, the English
      // documents first, was thrown away at the first document of a rule with them, with all it had inlined)
      if (
        p.min_words_unless_sentence_chars !== null ||
        p.min_stop_words_unless_sentence_chars !== null ||
        p.min_alpha_words_ratio_unless_sentence_share !== null
      )
        gopherQualitySentences(d, p, out);
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
    ...FILTERS.gopher_repetition,
    // the sizes parsed here (ngramSizes' first call per record, inlined in compute, threw its code away)
    init: (p) => {
      ngramSizes(p.top_n_grams);
      ngramSizes(p.dup_n_grams);
      if (p.dup_n_grams_outside_sentences) ngramSizes(p.dup_n_grams_outside_sentences);
    },
    compute: (d, p) => {
      const out: Record<string, number> = {};
      const st = gopherRepetitionStats(d, p, out);
      // (in its own function, as gopher_quality's exemptions)
      if (p.dup_n_grams_outside_sentences) dupOutsideSentences(d, p, p.dup_n_grams_outside_sentences, st, out);
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
    ...FILTERS.fineweb_quality,
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
    ...FILTERS.perplexity,
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
    ...FILTERS.lang_id,
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
      // (meta has one shape per source: stored through Reflect, as framework.ts' statsOf, not by a store compiled
      // for the shapes seen so far, thrown away at the next one)
      if (p.keep_original_lang && d.lang) Reflect.set(d.meta, 'lid_lang', lang);
      else d.lang = lang;
      Reflect.set(d.meta, 'lang_score', score);
      return { [p.rule]: score };
    },
    rules: (p) => {
      const byLang: Record<string, { min: number }> = {};
      for (const [l, v] of Object.entries(p.thresholds)) byLang[l] = { min: v };
      return p.action === 'tag' ? [] : [{ rule: p.rule, min: p.default_threshold, byLang }];
    },
  }),
  filter({
    ...FILTERS.zh_script,
    compute: (d, p) => {
      const c = scriptCounts(d.text, p.max_chars);
      const share = c.trad + c.simp === 0 ? 0.5 : c.trad / (c.trad + c.simp);
      // (through Reflect, as lang_id's lang_score: a store compiled for one shape of meta was thrown away at another)
      Reflect.set(d.meta, 'script', share > p.hant_above ? 'Hant' : 'Hans');
      return { [p.rule]: share };
    },
    rules: (p) => minmax(p.rule, p),
  }),
];

export { traditionalShare };

export const specs: Map<string, Spec> = new Map([...mapperSpecs, ...filterSpecs].map((s) => [s.name, s]));

/**
 * The operators' implementations (filters/op-meta.ts lists the operators by name for recipes and imports this module
 * when one of them creates its stage).
 */
export const ops: (MapOp & { spec: Spec })[] = [
  ...mapperSpecs.map((s) => mapperOp(s)),
  ...filterSpecs.map((s) => filterOp(s)),
];
export const opsByName = new Map(ops.map((o) => [o.name, o]));
