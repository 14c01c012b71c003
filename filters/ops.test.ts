import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ops, specs } from './ops.ts';
import { provideTokenCounters } from './tokens.ts';
import { tokenCounter as realTokenCounter } from '../tokenizer/encode.ts';
import '../cli/operators.ts'; // installs the composition root's tokenizers
import { loadRecipe, resolveSteps } from '../pipeline/recipe.ts';
import type { FilterSpec, RuleSpec } from './framework.ts';
import { boundsFor, firstViolation } from './framework.ts';
import { operators } from '../cli/operators.ts';

test('every operator has a description, and its params parse from {} with described defaults', () => {
  const names = new Set<string>();
  for (const op of ops) {
    assert.ok(!names.has(op.name), `duplicate ${op.name}`);
    names.add(op.name);
    assert.ok(op.description.length > 20, op.name);
    const parsed = op.params.parse({});
    assert.equal(typeof parsed, 'object');
    const shape = (op.params as z.ZodObject).shape as Record<string, z.ZodType>;
    for (const [k, v] of Object.entries(shape)) assert.ok(v.description, `${op.name}.${k} has no description`);
  }
  for (const n of [
    'chinese_convert',
    'clean_email',
    'clean_html',
    'clean_ip',
    'clean_links',
    'clean_copyright',
    'expand_macro',
    'fix_unicode',
    'punctuation_normalization',
    'remove_repeat_sentences',
    'remove_specific_chars',
    'whitespace_normalization',
    'pii_mask',
    'alnum_ratio',
    'alnum_token_ratio',
    'avg_line_length',
    'max_line_length',
    'char_repetition',
    'special_char_ratio',
    'text_length',
    'word_count',
    'word_repetition',
    'stopwords',
    'flagged_words',
    'gopher_quality',
    'gopher_repetition',
    'fineweb_quality',
    'perplexity',
    'lang_id',
    'zh_script',
  ]) {
    assert.ok(names.has(n), `missing operator ${n}`);
  }
});

test('filter statistics are stored under their rule names', () => {
  for (const s of specs.values()) {
    if (s.kind !== 'filter' || s.name === 'perplexity' || s.name === 'alnum_token_ratio' || s.name === 'lang_id')
      continue;
    const f = s as FilterSpec;
    const p = f.params.parse({ langs: [] });
    const st = f.compute(
      {
        id: 'x',
        text: 'The quick brown fox jumps over the lazy dog.\n敏捷的棕色狐狸跳过了懒狗。',
        source: 's',
        lang: 'en',
        meta: {},
      },
      p,
    ) as Record<string, number>;
    for (const r of f.rules(p)) assert.equal(typeof st[r.rule], 'number', `${s.name}: ${r.rule}`);
  }
});

test("the recipes resolve, in Steel's order and with its thresholds", async () => {
  const text = await resolveSteps(loadRecipe('steel-text'), operators);
  assert.deepEqual(
    text.map((s) => s.op.name),
    [
      'chinese_convert',
      'clean_email',
      'clean_html',
      'clean_ip',
      'clean_links',
      'clean_copyright',
      'expand_macro',
      'fix_unicode',
      'punctuation_normalization',
      'remove_repeat_sentences',
      'remove_specific_chars',
      'whitespace_normalization',
      'alnum_ratio',
      'avg_line_length',
      'char_repetition',
      'max_line_length',
      'perplexity',
      'special_char_ratio',
      'text_length',
      'word_count',
      'word_repetition',
      'simhash_dedup',
    ],
  );
  const p = (name: string) => text.find((s) => s.op.name === name)!.params as Record<string, unknown>;
  assert.deepEqual([p('alnum_ratio').min, p('alnum_ratio').max], [0, 0.9]);
  assert.deepEqual([p('avg_line_length').min, p('avg_line_length').max], [10, 150]);
  assert.equal(p('char_repetition').max, 0.4);
  assert.equal(p('max_line_length').max, 1000);
  assert.equal(p('perplexity').max, 1500);
  assert.equal(p('special_char_ratio').max, 0.25);
  assert.deepEqual([p('text_length').min, p('text_length').max], [10, 100000]);
  assert.deepEqual([p('word_count').min, p('word_count').max], [10, 10000]);
  assert.equal(p('word_repetition').max, 0.5);
  assert.equal(p('remove_specific_chars').chars_to_remove, '◆●■►▼▲▴∆▻▷❖♡□');
  const code = await resolveSteps(loadRecipe('steel-code'), operators);
  assert.deepEqual(
    code.map((s) => s.op.name),
    [
      'clean_email',
      'clean_links',
      'fix_unicode',
      'punctuation_normalization',
      'whitespace_normalization',
      'clean_copyright',
      'alnum_ratio',
      'alnum_token_ratio',
      'avg_line_length',
      'char_repetition',
      'max_line_length',
      'text_length',
      'word_count',
      'word_repetition',
      'simhash_dedup',
    ],
  );
  const c = (name: string) => code.find((s) => s.op.name === name)!.params as Record<string, unknown>;
  assert.deepEqual(
    [c('alnum_ratio').min, c('alnum_ratio').max, c('alnum_token_ratio').min, c('alnum_token_ratio').max],
    [0.2, 0.9163, 0.546, 3.65],
  );
  assert.deepEqual(
    [
      c('char_repetition').max,
      c('text_length').max,
      c('word_count').min,
      c('word_count').max,
      c('word_repetition').max,
    ],
    [0.36, 96714, 20, 6640, 0.357],
  );
  const zw = await resolveSteps(loadRecipe('zh-web'), operators);
  const names = zw.map((s) => s.op.name);
  assert.ok(!names.includes('punctuation_normalization'));
  assert.ok(names.includes('lang_id') && names.includes('pii_mask'));
  assert.deepEqual(names.slice(-2), ['minhash_dedup', 'tokenize']);
  const fu = zw.find((s) => s.op.name === 'fix_unicode')!.params as Record<string, unknown>;
  assert.equal(fu.fix_character_width, false);
});

test('alnum_token_ratio: batched and single computation agree', async () => {
  const spec = specs.get('alnum_token_ratio') as FilterSpec;
  const p = spec.params.parse({});
  await spec.init!(p);
  const docs = ['int main() { return 0; }', '今天天气很好，我们去公园散步。', 'The quick brown fox.'].map(
    (text, i) => ({ id: String(i), text, source: 's', meta: {} }),
  );
  const batch = await spec.computeBatch!(docs, p);
  for (let i = 0; i < docs.length; i++) assert.deepEqual(batch[i], await spec.compute(docs[i], p));
  assert.ok(batch[2].alnum_token_ratio > 2 && batch[2].alnum_token_ratio < 5);
});

test('alnum_token_ratio counts with the tokenizer its step names (one counter per spec, not the first one loaded)', async () => {
  // two made-up tokenizers besides the real ones: one token per character, one per space-separated word
  provideTokenCounters((name) =>
    name === 'test-chars'
      ? { countTokens: async (ts) => ts.map((t) => [...t].length) }
      : name === 'test-words'
        ? { countTokens: async (ts) => ts.map((t) => t.split(' ').length) }
        : realTokenCounter(name),
  );
  const spec = specs.get('alnum_token_ratio') as FilterSpec;
  const doc = { id: 'd', text: 'ab cd ef', source: 's', meta: {} };
  const ratio = async (tokenizer: string) => {
    const p = spec.params.parse({ tokenizer });
    await spec.init!(p);
    const one = (await spec.compute(doc, p)).alnum_token_ratio;
    assert.deepEqual((await spec.computeBatch!([doc], p))[0]!.alnum_token_ratio, one);
    return one;
  };
  assert.equal(await ratio('test-chars'), 6 / 8);
  assert.equal(await ratio('test-words'), 6 / 3);
  assert.equal(await ratio('test-chars'), 6 / 8, 'the first spec still counts with its own tokenizer');
  const [qwenTokens] = await realTokenCounter('qwen').countTokens([doc.text]);
  assert.equal(await ratio('qwen'), 6 / qwenTokens!);
});

test('per-language bounds: the language, else its base language, else the rule; each bound falls back on the rule', () => {
  const r: RuleSpec = {
    rule: 'x',
    min: 1,
    max: 10,
    byLang: { zh: { min: 2 }, 'zh-tw': { max: 5 }, en: { min: null } },
  };
  for (let pass = 0; pass < 2; pass++) {
    assert.deepEqual(boundsFor(r, 'zh-tw'), { min: 1, max: 5 });
    assert.deepEqual(boundsFor(r, 'zh-cn'), { min: 2, max: 10 });
    assert.deepEqual(boundsFor(r, 'zh'), { min: 2, max: 10 });
    assert.deepEqual(boundsFor(r, 'en'), { min: 1, max: 10 });
    assert.equal(boundsFor(r, 'fr'), r);
    assert.equal(boundsFor(r, undefined), r);
  }
  assert.deepEqual(firstViolation([r], { x: 1.5 }, 'zh-cn'), { rule: 'x', value: 1.5 });
  assert.equal(firstViolation([r], { x: 1.5 }, 'fr'), undefined);
  assert.deepEqual(firstViolation([r], { x: 6 }, 'zh-tw'), { rule: 'x', value: 6 });
  // another rule object (refilter's copies with overrides) gets its own bounds
  const r2: RuleSpec = { ...r, byLang: { zh: { min: 3 } } };
  assert.deepEqual(boundsFor(r2, 'zh-cn'), { min: 3, max: 10 });
  assert.deepEqual(boundsFor(r, 'zh-cn'), { min: 2, max: 10 });
});

test('a filter step stores its statistics in meta.stats whatever the shape of meta, and drops by every kind of rule', async () => {
  const { filterOp, statsOf } = await import('./framework.ts');
  // rules of several shapes (bounds, per-language bounds, an exemption): the step reads them as one shape
  const spec: FilterSpec<Record<string, never>> = {
    kind: 'filter',
    name: 't',
    description: 'test filter',
    params: z.object({}),
    applies: () => true,
    compute: (d) => ({ a: d.text.length, b: d.text.split(' ').length, ok: d.text.endsWith('.') ? 1 : 0 }),
    rules: () => [
      { rule: 'a', max: 20 },
      { rule: 'b', min: 3, minUnless: { rule: 'ok', min: 1 } },
      { rule: 'a', min: 1, byLang: { zh: { min: 6 } } },
    ],
  };
  const drops: [string, string, number | string | undefined][] = [];
  const ctx = {
    rank: 0,
    world: 1,
    outDir: '',
    drop: (d: { id: string }, rule: string, v?: number | string) => drops.push([d.id, rule, v]),
    log: () => {},
  };
  const step = await filterOp(spec).createDoc!({});
  const metas: Record<string, unknown>[] = [
    {},
    { a: 1 },
    { x: 'y', z: [1] },
    { stats: 5 },
    { stats: { old: 1 } },
    { p: 1, q: 2, r: 3 },
  ];
  const docs = [
    { id: '0', text: 'one two three', lang: 'en' },
    { id: '1', text: 'too long a text for the max bound', lang: 'en' },
    { id: '2', text: 'short.', lang: 'en' },
    { id: '3', text: 'short', lang: 'en' },
    { id: '4', text: 'a b z', lang: 'zh' },
    { id: '5', text: 'a b c zh one', lang: 'zh' },
  ].map((d, i) => ({ ...d, source: 's', meta: metas[i] }));
  const kept = docs.filter((d) => step(d, ctx) === true).map((d) => d.id);
  assert.deepEqual(kept, ['0', '2', '5']);
  assert.deepEqual(drops, [
    ['1', 'a', 33],
    ['3', 'b', 1],
    ['4', 'a', 5],
  ]);
  // the statistics object: made where meta had none (or not an object), the existing one kept and added to
  assert.deepEqual(docs[0].meta, { stats: { a: 13, b: 3, ok: 0 } });
  assert.deepEqual(docs[2].meta, { x: 'y', z: [1], stats: { a: 6, b: 1, ok: 1 } });
  assert.deepEqual(docs[3].meta.stats, { a: 5, b: 1, ok: 0 });
  assert.deepEqual(docs[4].meta.stats, { old: 1, a: 5, b: 3, ok: 0 });
  assert.equal(statsOf(docs[4]), docs[4].meta.stats);
});
