// `steel refilter` with a changed threshold gives the same result as a full rerun with that threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import type { Document } from '../pipeline/document.ts';
import { readRecords } from '../pipeline/readers/index.ts';
import { JsonlWriter, ExclusionWriter } from '../pipeline/writers/index.ts';
import { parseRecipe, resolveSteps } from '../pipeline/recipe.ts';
import { mapSteps, runMapSteps, readSample } from './harness.ts';
import { planFrom, refilterRun, parseOverride, applyOverrides } from './refilter.ts';
import { operators } from '../cli/operators.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

/** A recipe with mappers before and after filters (so a newly kept document must get the later mappers applied). */
function recipe(o: { alnumMin: number; repMax: number; lenMin: number; gopherWords: number }) {
  return {
    name: 'refilter-test',
    description: 'test',
    steps: [
      { op: 'clean_html' },
      { op: 'whitespace_normalization' },
      { op: 'lang_id', params: { action: 'tag' } },
      { op: 'text_length', params: { min: o.lenMin, max: null } },
      { op: 'remove_specific_chars', params: { chars_to_remove: '◆●■' } },
      { op: 'alnum_ratio', params: { min: o.alnumMin, max: null } },
      { op: 'char_repetition', params: { rep_len: 10, max: o.repMax } },
      { op: 'pii_mask' },
      { op: 'gopher_quality', params: { rule: 'gq', langs: ['en'], min_words: o.gopherWords } },
      { op: 'word_count', params: { min: 20, max: null } },
    ],
  };
}
const A = { alnumMin: 0.75, repMax: 0.2, lenMin: 200, gopherWords: 50 };
const B = { alnumMin: 0.6, repMax: 0.3, lenMin: 400, gopherWords: 80 };
const SETS = ['alnum_ratio.min=0.6', 'char_repetition.max=0.3', 'text_length.min=400', 'gq.n_words.min=80'];

async function readAll(file: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const it of readRecords(file, { format: 'jsonl' })) if (it.kind === 'record') out.push(it.record);
  return out;
}
async function readDir(dir: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(dir)) return [];
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.jsonl.zst'))
    .sort())
    out.push(...(await readAll(join(dir, f))));
  return out;
}
const keptKey = (d: Record<string, unknown>) => `${d.id}\u0001${d.lang}\u0001${d.text}`;
// An excluded document's text is compared only when it was already excluded: a document kept by the run and dropped
// by the new thresholds carries its final text (the run kept no earlier version), a rerun the text at the dropping step.
const exclKey = (d: Record<string, unknown>) => `${d.id}\u0001${d.stage}\u0001${d.rule}\u0001${d.value}`;

function assertSameResult(
  got: { kept: Record<string, unknown>[]; excl: Record<string, unknown>[] },
  want: { kept: Record<string, unknown>[]; excl: Record<string, unknown>[] },
) {
  assert.deepEqual(got.kept.map(keptKey).sort(), want.kept.map(keptKey).sort());
  assert.deepEqual(got.excl.map(exclKey).sort(), want.excl.map(exclKey).sort());
  // statistics of the kept documents agree with the rerun's
  const byId = new Map(
    want.kept.map((d) => [d.id, (d.meta as Record<string, unknown>).stats as Record<string, number>]),
  );
  for (const d of got.kept) {
    const ws = byId.get(d.id)!;
    const gs = (d.meta as Record<string, unknown>).stats as Record<string, number>;
    for (const k of Object.keys(ws)) assert.equal(gs[k], ws[k], `${d.id} ${k}`);
  }
}

test('refilter == rerun, in process, on the sample (loosened and tightened thresholds, mappers after filters)', async () => {
  const docs: Document[] = (await readSample(undefined, 60)).flatMap((s) => s.docs);
  // seed a few documents that only pass once the thresholds change
  docs.push({
    id: 'rep',
    text: ('重复的句子重复的句子。' as string).repeat(30) + ' 联系 13812345678 ◆',
    source: 't',
    meta: {},
  });
  docs.push({
    id: 'sym',
    text: '●■ ' + 'a1 = b2 + c3; '.repeat(40) + ' mail me: x.y@example.com',
    source: 't',
    meta: {},
  });
  const runA = await runMapSteps(await mapSteps(parseRecipe(recipe(A)), operators), docs);
  const runB = await runMapSteps(await mapSteps(parseRecipe(recipe(B)), operators), docs);
  const dir = tmpDir('steel-refilter-');
  try {
    const kw = new JsonlWriter(join(dir, 'run', 'docs', 'part-00000.jsonl.zst'));
    for (const d of runA.kept) await kw.write(d);
    await kw.close();
    const xw = new ExclusionWriter(join(dir, 'run', 'excluded', 'part-00000.jsonl.zst'));
    for (const e of runA.excluded) {
      const { stage, rule, value, ...doc } = e;
      await xw.write(doc as Document, stage, rule, value);
    }
    await xw.close();
    const plan = await planFrom(
      (await resolveSteps(parseRecipe(recipe(A)), operators)) as never,
      SETS.map(parseOverride),
    );
    const res = await refilterRun({ runDir: join(dir, 'run'), outDir: join(dir, 'out'), plan });
    assert.ok(res.newly_kept > 0 && res.newly_dropped > 0, JSON.stringify(res));
    assert.equal(res.read, docs.length);
    const got = { kept: await readDir(join(dir, 'out', 'docs')), excl: await readDir(join(dir, 'out', 'excluded')) };
    const want = {
      kept: runB.kept as unknown as Record<string, unknown>[],
      excl: runB.excluded as unknown as Record<string, unknown>[],
    };
    assertSameResult(got, JSON.parse(JSON.stringify(want)));
    // a newly kept document went through the mapper after its old dropping step (PII masked)
    const rep = got.kept.find((d) => d.id === 'rep');
    if (rep) assert.match(String(rep.text), /\[PHONE\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refilter rejects unknown rules and bad values', async () => {
  assert.throws(() => parseOverride('alnum_ratio=3'), /must end in .min or .max/);
  assert.throws(() => parseOverride('alnum_ratio.max=abc'), /not a number/);
  assert.deepEqual(parseOverride('lang_id.zh.min=0.8'), { rule: 'lang_id.zh', bound: 'min', value: 0.8 });
  assert.equal(parseOverride('gq.n_words.max=none').value, null);
  await assert.rejects(
    planFrom((await resolveSteps(parseRecipe(recipe(A)), operators)) as never, [parseOverride('nope.max=1')]),
    /unknown rule "nope"/,
  );
});

test('refilter: STAT.min sets or removes the exemption from a rule minimum (minUnless)', () => {
  const base = [[{ rule: 'q.n_words', min: 50, max: null, minUnless: { rule: 'q.sentence_chars', min: 92 } }]];
  const set = (s: string) => applyOverrides(base, [parseOverride(s)])[0][0];
  assert.deepEqual(set('q.sentence_chars.min=70').minUnless, { rule: 'q.sentence_chars', min: 70 });
  assert.equal(set('q.sentence_chars.min=none').minUnless, undefined);
  assert.equal(set('q.n_words.min=40').min, 40);
  assert.equal(base[0][0].minUnless.min, 92, 'the recipe rules are not changed');
  assert.throws(() => set('q.sentence_chars.max=3'), /only .min can be set/);
  // one statistic exempting from two minima (zh-web: words and stopwords): an override changes both
  const two = [
    [
      { rule: 'q.n_words', min: 50, max: null, minUnless: { rule: 'q.sentence_chars', min: 72 } },
      { rule: 'q.stop_words', min: 2, max: null, minUnless: { rule: 'q.sentence_chars', min: 72 } },
    ],
  ];
  const both = applyOverrides(two, [parseOverride('q.sentence_chars.min=90')])[0];
  assert.deepEqual(
    both.map((r) => r.minUnless?.min),
    [90, 90],
  );
});

test('steel prep + steel refilter == steel prep with the new thresholds (CLI, real pipeline)', () => {
  const dir = tmpDir('steel-refilter-cli-');
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, ['cli/steel.js', ...args], {
      encoding: 'utf8',
      env: { ...process.env, STEEL_PROGRESS: 'lines' },
    });
    assert.equal(r.status, 0, `steel ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  try {
    writeFileSync(join(dir, 'a.yaml'), stringify(recipe(A)));
    writeFileSync(join(dir, 'b.yaml'), stringify({ ...recipe(B), name: 'refilter-test' }));
    const input = 'corpora-manifests/sample/debian-reference-{en,zh-cn}.jsonl.zst';
    run([
      'prep',
      '--recipe',
      join(dir, 'a.yaml'),
      '--input',
      input,
      '--out',
      join(dir, 'runA'),
      '--workers',
      '1',
      '--quiet',
    ]);
    run([
      'prep',
      '--recipe',
      join(dir, 'b.yaml'),
      '--input',
      input,
      '--out',
      join(dir, 'runB'),
      '--workers',
      '1',
      '--quiet',
    ]);
    const out = run([
      'refilter',
      join(dir, 'runA'),
      '--recipe',
      join(dir, 'a.yaml'),
      ...SETS.flatMap((s) => ['--set', s]),
      '--out',
      join(dir, 'ref'),
    ]);
    assert.match(out, /dropped by rule:/);
    return (async () => {
      const got = { kept: await readDir(join(dir, 'ref', 'docs')), excl: await readDir(join(dir, 'ref', 'excluded')) };
      const want = {
        kept: await readDir(join(dir, 'runB', 'docs')),
        excl: await readDir(join(dir, 'runB', 'excluded')),
      };
      assert.ok(
        want.kept.length > 100 && want.excl.length > 10,
        `${want.kept.length} kept, ${want.excl.length} excluded`,
      );
      assertSameResult(got, want);
    })().finally(() => rmSync(dir, { recursive: true, force: true }));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
});
