import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBenchmark, loadSplit } from './benchmarks.ts';
import { writeFixtures, CEVAL_VAL } from './fixtures.ts';
import { parseCsv } from './csv.ts';

function withDir(fn: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'steel-bench-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('csv: quotes, escaped quotes, newlines inside quotes, BOM, CRLF; line numbers of records', () => {
  const rows = parseCsv('\ufeffa,b\r\n"x,1","he said ""hi"""\r\n"two\nlines",z\n\n', 'f.csv');
  assert.deepEqual(rows.map((r) => r.fields), [['a', 'b'], ['x,1', 'he said "hi"'], ['two\nlines', 'z']]);
  assert.deepEqual(rows.map((r) => r.line), [1, 2, 3]);
  assert.throws(() => parseCsv('a,"b\nc', 'bad.csv'), /bad\.csv:1: unterminated quoted field/);
});

test('loaders read the released layouts of C-Eval, CMMLU and MMLU', () => withDir((dir) => {
  const f = writeFixtures(dir);
  const val = loadSplit(getBenchmark('ceval'), f.ceval, 'val');
  assert.deepEqual([...val.bySubject.keys()].sort(), Object.keys(CEVAL_VAL).sort());
  const cn = val.bySubject.get('computer_network')!;
  assert.equal(cn.length, 4);
  assert.deepEqual(cn[0].choices, ['物理层', '数据链路层', '网络层', '传输层']);
  assert.equal(cn[0].answer, 'C');
  assert.equal(cn[0].line, 2);
  assert.equal(val.missing.length, 52 - 5);
  // C-Eval test: no answer column -> answers null
  const t = loadSplit(getBenchmark('ceval'), f.ceval, 'test');
  assert.equal(t.bySubject.get('law')![0].answer, null);
  const dev = loadSplit(getBenchmark('ceval'), f.ceval, 'dev', ['law']);
  assert.deepEqual([...dev.bySubject.keys()], ['law']);
  const cm = loadSplit(getBenchmark('cmmlu'), f.cmmlu, 'test');
  assert.equal(cm.bySubject.get('chinese_history')!.length, 3);
  assert.equal(cm.bySubject.get('chinese_history')![2].answer, 'C');
  assert.equal(cm.bySubject.get('chinese_history')![1].id, '1');
  const mm = loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'); // data/ inside the folder, no header
  assert.equal(mm.bySubject.get('philosophy')![0].question, 'Who wrote "The Republic"?');
  assert.equal(mm.bySubject.get('philosophy')![0].line, 1);
}));

test('malformed files are errors naming file and line', () => withDir((dir) => {
  const f = writeFixtures(dir);
  const p = join(f.ceval, 'val', 'law_val.csv');
  writeFileSync(p, 'id,question,A,B,C,D,answer\n0,q1,a,b,c,d,A\n1,q2,a,b,c,d,E\n');
  assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val'), new RegExp(`${p.replace(/[.]/g, '\\.')}:3: answer "E" is not one of A, B, C, D`));
  writeFileSync(p, 'id,question,A,B,C,answer\n0,q1,a,b,c,A\n');
  assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val'), /law_val\.csv:1: missing column "D"/);
  writeFileSync(p, 'id,question,A,B,C,D,answer\n0,q1,a,b,c,d\n');
  assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val'), /law_val\.csv:2: 6 fields, the header has 7/);
  const c = join(f.cmmlu, 'test', 'agronomy.csv');
  writeFileSync(c, ',Question,A,B,C,D\n0,q,a,b,c,d\n');
  assert.throws(() => loadSplit(getBenchmark('cmmlu'), f.cmmlu, 'test'), /agronomy\.csv:1: missing column "Answer"/);
  const m = join(f.mmlu, 'data', 'test', 'astronomy_test.csv');
  writeFileSync(m, 'q,a,b,c,d,A\n"q2",a,b,c,d,a\n');
  assert.throws(() => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'), /astronomy_test\.csv:2: answer "a" is not one of A, B, C, D/);
  writeFileSync(m, 'q,a,b,c,A\n');
  assert.throws(() => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'), /astronomy_test\.csv:1: 5 fields, MMLU rows have 6/);
  mkdirSync(join(f.mmlu, 'data', 'test'), { recursive: true });
  writeFileSync(join(f.mmlu, 'data', 'test', 'cooking_test.csv'), 'q,a,b,c,d,A\n');
  assert.throws(() => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'), /cooking_test\.csv: not a MMLU test file \(unknown subject "cooking"\)/);
  assert.throws(() => loadSplit(getBenchmark('ceval'), join(dir, 'nothing'), 'val'), /no C-Eval layout here/);
  mkdirSync(join(dir, 'collected'));
  writeFileSync(join(dir, 'collected', 'ceval-exam.zip'), 'PK');
  assert.throws(() => loadSplit(getBenchmark('ceval'), join(dir, 'collected'), 'val'), /ceval-exam\.zip not unpacked yet \(unzip ceval-exam\.zip in that folder\)/);
  assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val', ['cooking']), /C-Eval has no subject "cooking"/);
}));

test('benchmark manifests: steel collect sources for C-Eval, CMMLU and MMLU; prep refuses them', async () => {
  const { getCorpus } = await import('../pipeline/corpora/index.ts');
  const { sourceFromManifest } = await import('../pipeline/collect/source.ts');
  const want = { ceval: 'hf:ceval/ceval-exam:ceval-exam.zip', cmmlu: 'hf:haonan-li/cmmlu:cmmlu_v1_0_1.zip', mmlu: 'urls:data.tar' };
  for (const [name, w] of Object.entries(want)) {
    const c = (await getCorpus(name))!;
    assert.equal(c.manifest.task, 'eval');
    const s = sourceFromManifest(c.manifest);
    const got = s.kind === 'hf' ? `hf:${s.repo}:${s.include!.join(',')}` : s.kind === 'urls' ? `urls:${s.urls.map((u) => u.path).join(',')}` : s.kind;
    assert.equal(got, w);
    assert.throws(() => c.adapt({ text: 'x' }, { file: 'f', line: 1 } as never), new RegExp(`${name} is an evaluation benchmark: evaluate with steel eval --task ${name}`));
  }
});
