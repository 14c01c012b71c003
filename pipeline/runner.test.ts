import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, readdirSync, existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decompress } from 'fzstd';
import { runPipeline, parseInputSpec, planPhases } from './runner.ts';
import { flatString } from './map-task.ts';
import { loadRecipe, resolveSteps, parseRecipe } from './recipe.ts';
import { LocalExecutor, readMarker, markerPath } from './executor.ts';
import { HOOKED_WORKER, TEST_HOOKS_ENV, testHooksEnv } from './test-fixtures/hooks.ts';
import { zstdCompressChunk } from './writers/index.ts';
import { OperatorRegistry, PIPELINE_OPS, pipelineOperators } from './registry.ts';
import type { GlobalOp } from './stage.ts';
import { z } from 'zod';
import { tmpDir } from './test-fixtures/tmp-dir.ts';
import { setTestHooks } from './settings.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = () => tmpDir('steel-run-');

/** n JSONL files of k docs each; doc j of file i has id f{i}-{j}. */
function makeInputs(dir: string, n: number, k: number, opts: { zst?: boolean } = {}): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const lines = Array.from({ length: k }, (_, j) =>
        JSON.stringify({
          id: `f${i}-${j}`,
          text: `Ｄｏｃ ${i}/${j}\r\n第${j}段。` + 'abc '.repeat(j % 17),
          source: i % 2 ? 'odd' : 'even',
        }),
      );
      const raw = Buffer.from(lines.join('\n') + '\n');
      const p = join(dir, `in-${i}.jsonl${opts.zst ? '.zst' : ''}`);
      writeFileSync(p, opts.zst ? await zstdCompressChunk(raw) : raw);
      return p;
    }),
  );
}

function docsOf(file: string): { id: string; text: string; source: string; meta: Record<string, unknown> }[] {
  const buf = readFileSync(file);
  const text = file.endsWith('.zst')
    ? buf.length
      ? Buffer.from(decompress(buf)).toString('utf8')
      : ''
    : buf.toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function partsOf(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const n of readdirSync(dir).sort()) m.set(n, readFileSync(join(dir, n)));
  return m;
}

test('input specs, recipe loading and validation, phase planning', async () => {
  assert.deepEqual(parseInputSpec('wikipedia-cn=raw/wiki/*.parquet'), {
    corpus: 'wikipedia-cn',
    pattern: 'raw/wiki/*.parquet',
  });
  assert.deepEqual(parseInputSpec('data/**/*.jsonl'), { pattern: 'data/**/*.jsonl' });
  const basic = loadRecipe('basic');
  assert.equal(basic.name, 'basic');
  assert.deepEqual(
    basic.steps.map((s) => s.op),
    ['nfkc'],
  );
  const steps = await resolveSteps(
    parseRecipe({
      name: 'x',
      steps: [{ op: 'nfkc' }, { op: 'repartition', params: { parts: 2 } }, { op: 'nfkc', params: { form: 'NFC' } }],
    }),
    pipelineOperators,
  );
  assert.deepEqual(
    steps.map((s) => s.name),
    ['nfkc', 'repartition', 'nfkc#2'],
  );
  assert.deepEqual(steps[0].rawParams, { form: 'NFKC', remove_cr: true });
  assert.deepEqual(
    planPhases(steps).map((p) => `${p.kind}:${p.name}`),
    ['map:p0-map', 'global:p1-repartition', 'map:p2-map'],
  );
  assert.deepEqual(
    planPhases(steps.slice(1, 2)).map((p) => p.kind),
    ['map', 'global'],
  );
  assert.deepEqual(
    planPhases([steps[0], steps[1], steps[1]]).map((p) => p.kind),
    ['map', 'global', 'global'],
  );
  await assert.rejects(
    resolveSteps(parseRecipe({ name: 'x', steps: [{ op: 'no_such_op' }] }), pipelineOperators),
    /unknown operator "no_such_op"/,
  );
  await assert.rejects(
    resolveSteps(parseRecipe({ name: 'x', steps: [{ op: 'nfkc', params: { form: 'NFX' } }] }), pipelineOperators),
    /step 1 \(nfkc\): bad params: form:/,
  );
  assert.throws(() => parseRecipe({ name: 'x', stepz: [] }), /invalid recipe/);
  assert.throws(() => loadRecipe('does-not-exist'), /recipe not found/);
  const dir = tmp();
  writeFileSync(join(dir, 'r.yaml'), 'name: mine\nsteps:\n  - op: limit\n    params: {n: 3}\n');
  assert.equal(loadRecipe(join(dir, 'r.yaml')).steps[0].params.n, 3);
});

test('rank sharding: task r of w processes files[r::w]; every document exactly once', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 5, 40);
  const out = join(dir, 'out');
  const s = await runPipeline({
    recipe: 'basic',
    inputs: [join(dir, 'in', '*.jsonl')],
    outDir: out,
    workers: 1,
    tasks: 3,
    quiet: true,
  });
  assert.deepEqual(
    s.tasks.map((t) => [t.rank, t.files.map((f) => f.replace(/.*\//, ''))]),
    [
      [0, ['in-0.jsonl', 'in-3.jsonl']],
      [1, ['in-1.jsonl', 'in-4.jsonl']],
      [2, ['in-2.jsonl']],
    ],
  );
  assert.deepEqual(readdirSync(join(out, 'docs')).sort(), [
    'part-00000.jsonl.zst',
    'part-00001.jsonl.zst',
    'part-00002.jsonl.zst',
  ]);
  const p0 = docsOf(join(out, 'docs', 'part-00000.jsonl.zst'));
  assert.deepEqual([...new Set(p0.map((d) => d.id.split('-')[0]))], ['f0', 'f3']);
  const all = [0, 1, 2].flatMap((r) => docsOf(join(out, 'docs', `part-0000${r}.jsonl.zst`)).map((d) => d.id));
  assert.equal(all.length, 200);
  assert.equal(new Set(all).size, 200);
  // nfkc folded the full-width letters and removed \r
  assert.equal(p0[0].text.startsWith('Doc 0/0\n第0段。'), true);
  assert.equal(s.read, 200);
  assert.equal(s.kept, 200);
  assert.equal(s.invariant.ok, true);
});

test('accounting and rejects: every malformed kind is rejected with file and line, drops are kept with their rule', async () => {
  const dir = tmp();
  const f = join(dir, 'mixed.jsonl');
  writeFileSync(
    f,
    Buffer.concat([
      Buffer.from('{"id":"a","text":"good one","source":"keep"}\n'), // 1
      Buffer.from('{"id":"b","text":"broken\n'), // 2 bad JSON
      Buffer.from('{"id":"c","body":"no text"}\n'), // 3 missing text
      Buffer.from('{"id":"d","text":["not","a","string"]}\n'), // 4 non-string text
      Buffer.from('{"id":"e","text":"bad '),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'), // 5 invalid UTF-8
      Buffer.from('{"id":"f","text":"dropped by source","source":"spam"}\n'), // 6
      Buffer.from('{"id":"g","text":"good two","source":"keep"}\n'), // 7
    ]),
  );
  const recipe = { name: 't', steps: [{ op: 'select_source', params: { exclude: ['spam'] } }, { op: 'nfkc' }] };
  const out = join(dir, 'out');
  const s = await runPipeline({ recipe, inputs: [f], outDir: out, workers: 1, quiet: true });
  assert.equal(s.read, 7);
  assert.equal(s.kept, 2);
  assert.equal(s.dropped, 1);
  assert.equal(s.rejected, 4);
  assert.equal(s.read, s.kept + s.dropped + s.rejected);
  assert.deepEqual(s.dropped_by_rule, { select_source: 1 });
  assert.deepEqual(s.rejected_by_error, {
    'bad JSON': 1,
    'invalid UTF-8 byte sequence': 1,
    'missing text field "text"': 1,
    'text field "text" is not a string (got array)': 1,
  });
  const st = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  assert.deepEqual([st.read, st.kept, st.dropped, st.rejected], [7, 2, 1, 4]);
  assert.equal(st.invariant.ok, true);
  const byName = Object.fromEntries(st.stages.map((x: { name: string }) => [x.name, x]));
  assert.deepEqual([byName.read.in, byName.read.out, byName.read.rejected], [7, 5, 2]);
  assert.deepEqual([byName.unify.in, byName.unify.out, byName.unify.rejected], [5, 3, 2]);
  assert.deepEqual([byName.select_source.in, byName.select_source.out, byName.select_source.dropped], [3, 2, 1]);
  const rej = readFileSync(join(out, 'rejects', 'part-00000.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rej.map((r) => [r.line, r.stage]),
    [
      [2, 'read'],
      [3, 'unify'],
      [4, 'unify'],
      [5, 'read'],
    ],
  );
  assert.ok(rej.every((r) => r.file.endsWith('mixed.jsonl')));
  assert.match(rej[2].raw, /not","a","string/);
  const ex = docsOf(join(out, 'excluded', 'part-00000.jsonl.zst'));
  assert.deepEqual(
    ex.map((e: Record<string, unknown>) => [e.id, e.stage, e.rule, e.value]),
    [['f', 'select_source', 'select_source', 'spam']],
  );
  assert.deepEqual(
    docsOf(join(out, 'docs', 'part-00000.jsonl.zst')).map((d) => d.id),
    ['a', 'g'],
  );
});

test('resume after a killed worker: rerun redoes only the unfinished task; output byte-identical to an uninterrupted run', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 4, 1500, { zst: true });
  const inputs = [join(dir, 'in', '*.jsonl.zst')];
  const recipe = { name: 'r', steps: [{ op: 'select_source', params: { exclude: ['odd'] } }, { op: 'nfkc' }] };
  const clean = join(dir, 'clean');
  const a = await runPipeline({ recipe, inputs, outDir: clean, workers: 2, quiet: true });
  assert.equal(a.read, 6000);

  const crashed = join(dir, 'crashed');
  // the worker processes (a test entry) get the hooks through the one test-hook channel
  Object.assign(process.env, testHooksEnv({ crashAfterDocs: 700, crashRank: 2 }));
  try {
    const executor = new LocalExecutor({ progress: { quiet: true }, inProcess: 'never', worker: HOOKED_WORKER });
    await assert.rejects(
      runPipeline({ recipe, inputs, outDir: crashed, workers: 2, quiet: true, executor }),
      /rank 2: worker process \d+ died while running the task \(signal SIGKILL\)/,
    );
  } finally {
    delete process.env[TEST_HOOKS_ENV];
  }
  // no final-named partial output for the killed task; the other tasks finished with markers
  const docsAfterCrash = readdirSync(join(crashed, 'docs'));
  assert.equal(docsAfterCrash.includes('part-00002.jsonl.zst'), false);
  assert.ok(
    docsAfterCrash
      .filter((n) => n.includes('part-00002'))
      .every((n) => n.startsWith('.part-00002.jsonl.zst.') && n.endsWith('.tmp')),
    'killed task left at most its temp file',
  );
  assert.equal(existsSync(join(crashed, 'stats.json')), false);
  const state = join(crashed, '.state');
  const before = [0, 1, 3].map((r) => readMarker(markerPath(state, 'p0-map', r))!.finishedAt);
  assert.equal(readMarker(markerPath(state, 'p0-map', 2)), undefined);

  const b = await runPipeline({ recipe, inputs, outDir: crashed, workers: 2, quiet: true });
  const after = [0, 1, 3].map((r) => readMarker(markerPath(state, 'p0-map', r))!.finishedAt);
  assert.deepEqual(after, before, 'finished tasks were not redone');
  assert.deepEqual(partsOf(join(crashed, 'docs')), partsOf(join(clean, 'docs'))); // also: no leftover temp files
  assert.deepEqual(partsOf(join(crashed, 'excluded')), partsOf(join(clean, 'excluded')));
  assert.deepEqual([b.read, b.kept, b.dropped, b.rejected], [a.read, a.kept, a.dropped, a.rejected]);
  assert.equal(b.kept, 3000);

  // a different recipe on the same output folder is refused (resume needs the same run)
  await assert.rejects(
    runPipeline({ recipe: 'basic', inputs, outDir: crashed, workers: 1, quiet: true }),
    /different recipe; use --fresh/,
  );
});

test("--fresh: the earlier outputs are gone when the run returns, a killed run's ones too; the new run is whole", async () => {
  const dir = tmp();
  const inputs = await makeInputs(join(dir, 'in'), 2, 40);
  const out = join(dir, 'out');
  const a = await runPipeline({ recipe: 'basic', inputs, outDir: out, workers: 1, quiet: true });
  const first = partsOf(join(out, 'docs'));
  // what only the earlier run had: a document part, a rejects file, a state folder; and what a run killed while it
  // removed earlier outputs leaves (removeInBackground's folder, named for a process that is gone)
  writeFileSync(join(out, 'docs', 'part-00099.jsonl.zst'), 'old');
  mkdirSync(join(out, 'rejects'), { recursive: true });
  writeFileSync(join(out, 'rejects', 'part-00099.jsonl'), 'old');
  mkdirSync(join(out, '.state', 'p9-old'), { recursive: true });
  const killed = join(out, '.removed.999999999.1.tmp');
  mkdirSync(join(killed, 'docs'), { recursive: true });
  writeFileSync(join(killed, 'docs', 'part-00000.jsonl.zst'), 'old');
  const b = await runPipeline({ recipe: 'basic', inputs, outDir: out, workers: 2, quiet: true, fresh: true });
  assert.deepEqual(partsOf(join(out, 'docs')), first, "only the new run's documents");
  assert.equal(existsSync(join(out, 'rejects', 'part-00099.jsonl')), false);
  assert.equal(existsSync(join(out, '.state', 'p9-old')), false);
  assert.deepEqual(
    readdirSync(out).filter((n) => n.startsWith('.removed')),
    [],
    'no folder of earlier outputs is left',
  );
  assert.deepEqual([b.read, b.kept, b.dropped, b.rejected], [a.read, a.kept, a.dropped, a.rejected]);
  assert.equal(JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')).kept, b.kept);
});

test('global op between map phases (repartition), limit stops reading; accounting holds across phases', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 3, 50);
  const inputs = [join(dir, 'in', '*.jsonl')];
  const out = join(dir, 'out');
  const recipe = {
    name: 'g',
    steps: [{ op: 'nfkc' }, { op: 'repartition', params: { parts: 2 } }, { op: 'set_lang', params: { lang: 'xx' } }],
  };
  const s = await runPipeline({ recipe, inputs, outDir: out, workers: 1, quiet: true });
  assert.deepEqual(
    s.phases.map((p) => [p.name, p.read, p.kept]),
    [
      ['p0-map', 150, 150],
      ['p1-repartition', 150, 150],
      ['p2-map', 150, 150],
    ],
  );
  assert.deepEqual(readdirSync(join(out, 'docs')).sort(), ['part-00000.jsonl.zst', 'part-00001.jsonl.zst']);
  const docs = [0, 1].flatMap((r) => docsOf(join(out, 'docs', `part-0000${r}.jsonl.zst`)));
  assert.equal(docs.length, 150);
  assert.ok(docs.every((d) => (d as { lang?: string }).lang === 'xx'));
  assert.equal(new Set(docs.map((d) => d.id)).size, 150);
  assert.equal(s.invariant.ok, true);
  // rerun: every phase is already done
  const again = await runPipeline({ recipe, inputs, outDir: out, workers: 1, quiet: true });
  assert.equal(again.kept, 150);

  const lim = await runPipeline({
    recipe: { name: 'l', steps: [{ op: 'limit', params: { n: 7 } }] },
    inputs,
    outDir: join(dir, 'lim'),
    workers: 1,
    quiet: true,
  });
  assert.equal(lim.kept, 21);
  assert.equal(lim.read, 21, 'records after the limit are not read');
  assert.equal(lim.invariant.ok, true);
});

test('a corpus input goes through its adapter (bundled sample)', async () => {
  const { getCorpus } = await import('./corpora/index.ts');
  assert.ok(await getCorpus('sample'), 'the bundled sample corpus has a manifest');
  const files = readdirSync(join(ROOT, 'corpora-manifests/sample')).filter(
    (n) => n.startsWith('fortunes') && n.endsWith('.jsonl.zst'),
  );
  assert.deepEqual(files.sort(), ['fortunes-en.jsonl.zst', 'fortunes-zh.jsonl.zst']);
  const out = join(tmp(), 'out');
  const s = await runPipeline({
    recipe: 'basic',
    inputs: files.map((f) => `sample=${join(ROOT, 'corpora-manifests/sample', f)}`),
    outDir: out,
    workers: 1,
    quiet: true,
  });
  assert.ok(s.kept > 0);
  assert.equal(s.read, s.kept + s.dropped + s.rejected);
  assert.ok(s.inputs.every((i) => i.corpus === 'sample'));
  const d = docsOf(join(out, 'docs', 'part-00000.jsonl.zst'))[0];
  assert.ok(d.source && d.id && typeof d.text === 'string');
});

test('CLI: steel prep, steel stats, steel ops --json', () => {
  const dir = tmp();
  const f = join(dir, 'x.jsonl');
  writeFileSync(f, '{"text":"Ｈｅｌｌｏ"}\n{"text":1}\n');
  const out = join(dir, 'out');
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'cli/steel.js'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, STEEL_QUIET: '1' },
    });
  const p = cli(['prep', '--recipe', 'basic', '--input', f, '--out', out, '--workers', '1']);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /accounting: read 2 = kept 1 \+ dropped 0 \+ rejected 1 {2}\[OK\]/);
  assert.deepEqual(
    docsOf(join(out, 'docs', 'part-00000.jsonl.zst')).map((d) => [d.id, d.text]),
    [['x.jsonl:1', 'Hello']],
  );
  const st = cli(['stats', out]);
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /^nfkc\s+p0-map\s+1\s+1\s+0\s+0/m);
  assert.match(st.stdout, /text field "text" is not a string \(got number\)\s+1/);
  const ops = cli(['ops', '--json']);
  assert.equal(ops.status, 0, ops.stderr);
  const list = JSON.parse(ops.stdout) as {
    name: string;
    kind: string;
    params: { properties: Record<string, { default?: unknown }> };
  }[];
  const nfkc = list.find((o) => o.name === 'nfkc')!;
  assert.equal(nfkc.kind, 'map');
  assert.equal(nfkc.params.properties.form.default, 'NFKC');
  assert.equal(list.find((o) => o.name === 'repartition')?.kind, 'global');
  const bad = cli(['prep', '--input', join(dir, 'nope-*.jsonl'), '--out', out]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /input pattern matched no files/);
  const h = cli(['prep', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage: steel prep/);
});

test('ops by module reference (PATH#EXPORT); a stage that loses documents fails the run loudly', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 2, 10);
  const fx = fileURLToPath(new URL('./test-fixtures/custom-ops.ts', import.meta.url));
  const ok = await runPipeline({
    recipe: { name: 'c', steps: [{ op: `${fx}#shout`, params: { suffix: '?' } }] },
    inputs: [join(dir, 'in', '*.jsonl')],
    outDir: join(dir, 'ok'),
    workers: 1,
    quiet: true,
  });
  assert.equal(ok.kept, 20);
  assert.ok(
    docsOf(join(dir, 'ok', 'docs', 'part-00000.jsonl.zst')).every(
      (d) => d.text.endsWith('?') && d.text === d.text.toUpperCase(),
    ),
  );
  const out = join(dir, 'bad');
  await assert.rejects(
    runPipeline({
      recipe: { name: 'b', steps: [{ op: `${fx}#leaky` }] },
      inputs: [join(dir, 'in', '*.jsonl')],
      outDir: out,
      workers: 1,
      quiet: true,
    }),
    /ACCOUNTING INVARIANT VIOLATED[\s\S]*read 20 != kept 10 \+ dropped 0 \+ rejected 0[\s\S]*stage "leaky" \(p0-map\): in 20 != out 10/,
  );
  const st = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  assert.equal(st.invariant.ok, false);
  await assert.rejects(
    resolveSteps(parseRecipe({ name: 'x', steps: [{ op: `${fx}#nothing` }] }), pipelineOperators),
    /has no exported operator "nothing"/,
  );
});

test('generic reader options through the runner: Parquet/Arrow with another text field, GBK-encoded JSONL', async () => {
  const td = (f: string) => fileURLToPath(new URL(`./readers/testdata/${f}`, import.meta.url));
  const dir = tmp();
  const s = await runPipeline({
    recipe: 'basic',
    inputs: [td('pyarrow-zstd.parquet'), td('pyarrow-file.arrow')],
    outDir: join(dir, 'pq'),
    workers: 1,
    quiet: true,
    reader: { textField: 'content' },
  });
  assert.deepEqual([s.read, s.kept, s.rejected], [10, 8, 2]);
  assert.deepEqual(s.rejected_by_error, { 'missing text field "content"': 2 });
  const docs = docsOf(join(dir, 'pq', 'docs', 'part-00001.jsonl.zst'));
  assert.equal(docs[0].id, 'doc-1');
  assert.equal(docs[0].meta.url, 'https://zh.example/1');
  const g = await runPipeline({
    recipe: 'basic',
    inputs: [td('gbk.jsonl')],
    outDir: join(dir, 'gbk'),
    workers: 1,
    quiet: true,
    reader: { encoding: 'gbk' },
  });
  assert.equal(g.kept, 2);
  assert.deepEqual(
    docsOf(join(dir, 'gbk', 'docs', 'part-00000.jsonl.zst')).map((d) => d.text),
    ['中文编码测试:北京欢迎你', '第二行,简体字'],
  );
});

test('fused per-document steps: a step answering with a promise is awaited, the next steps see its text, drops keep their order', async () => {
  const dir = tmp();
  const files = await makeInputs(join(dir, 'in'), 2, 60);
  const fx = fileURLToPath(new URL('./test-fixtures/custom-ops.ts', import.meta.url));
  const recipe = {
    name: 'fused-async',
    steps: [{ op: `${fx}#twice` }, { op: `${fx}#asyncThree` }, { op: `${fx}#twice` }, { op: `${fx}#dropOdd` }],
  };
  const out = join(dir, 'out');
  const s = await runPipeline({ recipe, inputs: [join(dir, 'in', '*.jsonl')], outDir: out, workers: 1, quiet: true });
  assert.equal(s.invariant.ok, true);
  const input = files.flatMap((f) => docsOf(f));
  const num = (id: string) => Number(id.split('-')[1]);
  const want = input.filter((d) => num(d.id) % 3 !== 0 && num(d.id) % 2 === 0);
  const kept = readdirSync(join(out, 'docs')).flatMap((f) => docsOf(join(out, 'docs', f)));
  assert.deepEqual(kept.map((d) => [d.id, d.text]).sort(), want.map((d) => [d.id, d.text.repeat(8)]).sort());
  const st = (name: string) => s.stages.find((x) => x.name === name)!;
  assert.equal(st('async_three').in, 120);
  assert.equal(st('async_three').dropped_by_rule.three, 40);
  assert.equal(st('async_three').bytes_out * 2, st('twice#2').bytes_out);
  assert.equal(st('drop_odd').in, 80);
  // drops of both steps reach excluded/ in the order they happened (document order within each file)
  const ex = readdirSync(join(out, 'excluded')).flatMap((f) => docsOf(join(out, 'excluded', f)));
  assert.equal(ex.length, 120 - want.length);
  for (const f of [0, 1]) {
    const ids = ex.map((d) => d.id).filter((id) => id.startsWith(`f${f}-`));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => num(a) - num(b)),
    );
  }
  // a rejected promise names its step
  writeFileSync(join(dir, 'in', 'in-1.jsonl'), JSON.stringify({ id: 'x-1', text: 'fail' }) + '\n');
  await assert.rejects(
    runPipeline({
      recipe,
      inputs: [join(dir, 'in', '*.jsonl')],
      outDir: join(dir, 'out-fail'),
      workers: 1,
      quiet: true,
    }),
    /stage "async_three".*asked to fail/s,
  );
});

test('flatString: the same text, as a flat sequential string (V8 instance types, from a sliced or cons string)', () => {
  const fx = fileURLToPath(new URL('./test-fixtures/flat-string.ts', import.meta.url));
  // %DebugPrint writes with C stdio, which can lose output on a non-blocking pipe: the child writes to a file
  const file = join(tmp(), 'debug-print.txt');
  const fd = openSync(file, 'w');
  const env = { ...process.env, NODE_TEST_CONTEXT: undefined };
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--allow-natives-syntax', fx], {
    encoding: 'utf8',
    env,
    stdio: ['ignore', fd, 'pipe'],
  });
  closeSync(fd);
  assert.equal(r.status, 0, r.stderr);
  const types = [...readFileSync(file, 'utf8').matchAll(/^ - type: ([A-Z_]+)$/gm)].map((m) => m[1]);
  assert.deepEqual(types, ['ONE_BYTE_STRING_TYPE', 'STRING_TYPE', 'ONE_BYTE_STRING_TYPE', 'STRING_TYPE']);
  for (const s of ['', 'a', '\ud800', 'x\udc00y中文', '\u{1f600}'.repeat(9)]) assert.equal(flatString(s), s);
});

test('stats.json meters CPU-seconds per stage and phase, peak RSS, and text bytes in one unit (per-document steps fused)', async () => {
  const dir = tmp();
  const files = await makeInputs(join(dir, 'in'), 2, 90, { zst: true });
  const textBytes = files.flatMap((f) => docsOf(f)).reduce((a, d) => a + Buffer.byteLength(d.text, 'utf8'), 0);
  const fx = fileURLToPath(new URL('./test-fixtures/custom-ops.ts', import.meta.url));
  const recipe = {
    name: 'fused',
    steps: [{ op: 'nfkc' }, { op: `${fx}#twice` }, { op: `${fx}#dropOdd` }, { op: 'set_lang', params: { lang: 'xx' } }],
  };
  for (const workers of [1, 2]) {
    const out = join(dir, `out-${workers}`);
    const s = await runPipeline({
      recipe,
      inputs: [join(dir, 'in', '*.jsonl.zst')],
      outDir: out,
      workers,
      quiet: true,
    });
    assert.equal(s.invariant.ok, true);
    const st = (name: string) => s.stages.find((x) => x.name === name)!;
    // one unit: the read row counts the records' text (not the compressed file sizes)
    assert.equal(st('read').bytes_in, textBytes);
    assert.equal(st('unify').bytes_in, textBytes);
    // the fused run's first step takes the lengths the unify stage measured
    assert.equal(st('nfkc').bytes_in, st('unify').bytes_out);
    const afterNfkc = st('nfkc').bytes_out;
    assert.equal(st('twice').bytes_in, afterNfkc);
    assert.equal(st('twice').bytes_out, 2 * afterNfkc);
    assert.equal(st('drop_odd').dropped, 90);
    // each document's own length: the kept ones' texts (twice doubled them) are what drop_odd lets out
    const docs = readdirSync(join(out, 'docs')).flatMap((f) => docsOf(join(out, 'docs', f)));
    assert.equal(
      st('drop_odd').bytes_out,
      docs.reduce((a, d) => a + Buffer.byteLength(d.text, 'utf8'), 0),
    );
    assert.equal(st('drop_odd').dropped_by_rule.odd, 90);
    // CPU time: every stage metered, the stages within their phase's total, the run's total is the phases'
    for (const x of s.stages) assert.ok(x.cpu_seconds >= 0 && Number.isFinite(x.cpu_seconds), x.name);
    assert.ok(s.stages.reduce((a, x) => a + x.cpu_seconds, 0) > 0);
    const phase = s.phases[0];
    assert.ok(phase.cpu_seconds > 0);
    assert.ok(s.stages.reduce((a, x) => a + x.cpu_seconds, 0) <= phase.cpu_seconds * 1.05 + 0.05);
    assert.ok(Math.abs(s.cpu_seconds - phase.cpu_seconds) < 1e-9);
    assert.ok(phase.peak_rss_bytes > 20 * 2 ** 20 && phase.peak_rss_bytes < 4 * 2 ** 30);
    assert.ok(s.tasks.every((t) => t.cpu_seconds >= 0));
    // drops reach excluded/ in document order
    const ex = readdirSync(join(out, 'excluded')).flatMap((f) => docsOf(join(out, 'excluded', f)));
    assert.equal(ex.length, 90);
    for (const f of [0, 1]) {
      const ids = ex.map((d) => d.id).filter((id) => id.startsWith(`f${f}-`));
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])),
      );
    }
  }
});

test('a large input in slices: 1 and 2 workers give identical outputs, the documents of an unsliced run; a crash mid-slice resumes', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 2, 300, { zst: true });
  // one large file of many frames, cut at arbitrary bytes (lines straddle frames)
  const lines = Array.from({ length: 3000 }, (_, j) =>
    JSON.stringify({ text: `Ｂｉｇ ${j} ` + '字 '.repeat(j % 97), source: j % 3 ? 'even' : 'odd' }),
  );
  const raw = Buffer.from(lines.join('\n') + '\n');
  const frames: Uint8Array[] = [];
  for (let off = 0; off < raw.length; off += 20_011)
    frames.push(await zstdCompressChunk(raw.subarray(off, off + 20_011)));
  writeFileSync(join(dir, 'in', 'big.jsonl.zst'), Buffer.concat(frames));
  const inputs = [join(dir, 'in', '*.jsonl.zst')];
  const recipe = { name: 'r', steps: [{ op: 'select_source', params: { exclude: ['odd'] } }, { op: 'nfkc' }] };
  let logs: string[] = [];
  const run = (outDir: string, workers: number, executor?: LocalExecutor) => {
    logs = [];
    const log = (l: string) => logs.push(l);
    return runPipeline({ recipe, inputs, outDir, workers, quiet: true, log, ...(executor ? { executor } : {}) });
  };
  const whole = await run(join(dir, 'whole'), 1);
  assert.equal(whole.tasks.length, 3);
  setTestHooks({ sliceBytes: 100_000 });
  try {
    const one = await run(join(dir, 'one'), 1);
    assert.ok(logs.some((l) => /big\.jsonl\.zst: \d+ slices of/.test(l)));
    const big = one.tasks.filter((t) => t.files[0].includes('big.jsonl.zst:'));
    assert.ok(big.length >= 4, `big.jsonl.zst in ${big.length} slices`);
    assert.equal(one.tasks.length, 2 + big.length);
    const state = JSON.parse(readFileSync(join(dir, 'one', '.state', 'run.json'), 'utf8'));
    assert.equal(state.files.find((f: { path: string }) => f.path.endsWith('big.jsonl.zst')).slices.length, big.length);
    const two = await run(join(dir, 'two'), 2);
    assert.deepEqual([two.read, two.kept], [one.read, one.kept]);
    for (const d of ['docs', 'excluded']) assert.deepEqual(partsOf(join(dir, 'two', d)), partsOf(join(dir, 'one', d)));
    // the same documents as the run that read big.jsonl.zst whole (ids file:line, text), as sets
    const docs = (out: string, d: string) =>
      readdirSync(join(out, d))
        .flatMap((n) => docsOf(join(out, d, n)))
        .map((x) => `${x.id}\t${x.text}`)
        .sort();
    for (const d of ['docs', 'excluded']) assert.deepEqual(docs(join(dir, 'one'), d), docs(join(dir, 'whole'), d), d);
    assert.deepEqual([one.read, one.kept, one.dropped], [whole.read, whole.kept, whole.dropped]);
    assert.ok(docs(join(dir, 'one'), 'docs').some((x) => /big\.jsonl\.zst:2999\t/.test(x)));

    // a crash in the middle of a slice of big.jsonl.zst (rank 1): the rerun redoes only that task
    const crashed = join(dir, 'crashed');
    Object.assign(process.env, testHooksEnv({ crashAfterDocs: 100, crashRank: 1 }));
    try {
      const executor = new LocalExecutor({ progress: { quiet: true }, inProcess: 'never', worker: HOOKED_WORKER });
      await assert.rejects(run(crashed, 2, executor), /rank 1: worker process \d+ died/);
    } finally {
      delete process.env[TEST_HOOKS_ENV];
    }
    assert.match(one.tasks[1].files[0], /big\.jsonl\.zst:\d+-\d+$/);
    const st = join(crashed, '.state');
    const others = one.tasks.map((t) => t.rank).filter((r) => r !== 1);
    const before = others.map((r) => readMarker(markerPath(st, 'p0-map', r))!.finishedAt);
    const again = await run(crashed, 2);
    assert.ok(!logs.some((l) => /slices of/.test(l)), 'the resumed run took the slice table from its state');
    assert.deepEqual(
      others.map((r) => readMarker(markerPath(st, 'p0-map', r))!.finishedAt),
      before,
    );
    assert.deepEqual(partsOf(join(crashed, 'docs')), partsOf(join(dir, 'one', 'docs')));
    assert.equal(again.kept, one.kept);
  } finally {
    setTestHooks(undefined);
  }
});

test('a last phase done by its sink (GlobalOp.sinkCompletes): the workers go once the phase before fed it, and it runs in this process', async () => {
  const dir = tmp();
  await makeInputs(join(dir, 'in'), 3, 20);
  const inputs = [join(dir, 'in', '*.jsonl')];
  // what each op saw, and when the executor was told to let its workers go
  const seen: string[] = [];
  let sunk = 0;
  const sinked = (name: string, completes: boolean): GlobalOp<{ n?: number }> => ({
    kind: 'global',
    name,
    description: 'test: counts the documents its sink was handed',
    params: z.object({ n: z.number().optional() }),
    terminal: true,
    sinkCompletes: () => completes,
    mapSink: () => ({ add: () => void sunk++, close: () => undefined, abort: () => undefined }),
    async run(_p, ctx) {
      seen.push(`${name} workers=${ctx.workers}`);
      return { outputFiles: ctx.inputFiles, stats: { read: sunk, kept: sunk, dropped: {}, rejected: 0 } };
    },
  });
  const middle: GlobalOp<{ n?: number }> = {
    kind: 'global',
    name: 'test_middle',
    description: 'test: passes its inputs on, hands every document to the next op sink, then lets the workers go',
    params: z.object({ n: z.number().optional() }),
    async run(_p, ctx) {
      seen.push(`test_middle release=${!!ctx.release} sink=${!!ctx.sink}`);
      let n = 0;
      for (const f of ctx.inputFiles) for (const _ of docsOf(f)) n++;
      sunk += n;
      ctx.release?.();
      seen.push('test_middle after release');
      return { outputFiles: ctx.inputFiles, stats: { read: n, kept: n, dropped: {}, rejected: 0 } };
    },
  };
  const operators = new OperatorRegistry([
    ...PIPELINE_OPS,
    async () => ({ ops: [sinked('test_sinked', true), sinked('test_unsinked', false), middle] }),
  ]);
  class Recording extends LocalExecutor {
    override release(): void {
      seen.push('release');
      super.release();
    }
  }
  const run = async (steps: { op: string }[]) => {
    seen.length = 0;
    sunk = 0;
    const s = await runPipeline({
      recipe: { name: 't', steps },
      inputs,
      outDir: join(dir, `out-${steps.map((x) => x.op).join('-')}`),
      workers: 2,
      quiet: true,
      operators,
      executor: new Recording({ inProcess: 'always' }),
    });
    assert.equal(s.invariant.ok, true);
    assert.equal(s.kept, 60);
    return [...seen];
  };
  // map phase → the op done by its sink: released after the map phase, the op runs with one worker
  assert.deepEqual(await run([{ op: 'nfkc' }, { op: 'test_sinked' }]), ['release', 'test_sinked workers=1']);
  // a global op before it: given release, which it calls once it fed the sink
  assert.deepEqual(await run([{ op: 'nfkc' }, { op: 'test_middle' }, { op: 'test_sinked' }]), [
    'test_middle release=true sink=true',
    'release',
    'test_middle after release',
    'test_sinked workers=1',
  ]);
  // an op whose sink leaves work (a shuffle's steps): nothing released, every worker for it
  assert.deepEqual(await run([{ op: 'nfkc' }, { op: 'test_middle' }, { op: 'test_unsinked' }]), [
    'test_middle release=false sink=true',
    'test_middle after release',
    'test_unsinked workers=2',
  ]);
});
