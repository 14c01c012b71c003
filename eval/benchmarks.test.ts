import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getBenchmark, loadSplit } from './benchmarks.ts';
import { writeFixtures, writeFixtureArchives, CEVAL_VAL } from './fixtures.ts';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseCsv } from './csv.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

function withDir(fn: (dir: string) => void) {
  const dir = tmpDir('steel-bench-');
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('csv: quotes, escaped quotes, newlines inside quotes, BOM, CRLF; line numbers of records', () => {
  const rows = parseCsv('\ufeffa,b\r\n"x,1","he said ""hi"""\r\n"two\nlines",z\n\n', 'f.csv');
  assert.deepEqual(
    rows.map((r) => r.fields),
    [
      ['a', 'b'],
      ['x,1', 'he said "hi"'],
      ['two\nlines', 'z'],
    ],
  );
  assert.deepEqual(
    rows.map((r) => r.line),
    [1, 2, 3],
  );
  assert.throws(() => parseCsv('a,"b\nc', 'bad.csv'), /bad\.csv:1: unterminated quoted field/);
});

test('loaders read the released layouts of C-Eval, CMMLU and MMLU', () =>
  withDir((dir) => {
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

test('malformed files are errors naming file and line', () =>
  withDir((dir) => {
    const f = writeFixtures(dir);
    const p = join(f.ceval, 'val', 'law_val.csv');
    writeFileSync(p, 'id,question,A,B,C,D,answer\n0,q1,a,b,c,d,A\n1,q2,a,b,c,d,E\n');
    assert.throws(
      () => loadSplit(getBenchmark('ceval'), f.ceval, 'val'),
      new RegExp(`${p.replace(/[.]/g, '\\.')}:3: answer "E" is not one of A, B, C, D`),
    );
    writeFileSync(p, 'id,question,A,B,C,answer\n0,q1,a,b,c,A\n');
    assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val'), /law_val\.csv:1: missing column "D"/);
    writeFileSync(p, 'id,question,A,B,C,D,answer\n0,q1,a,b,c,d\n');
    assert.throws(() => loadSplit(getBenchmark('ceval'), f.ceval, 'val'), /law_val\.csv:2: 6 fields, the header has 7/);
    const c = join(f.cmmlu, 'test', 'agronomy.csv');
    writeFileSync(c, ',Question,A,B,C,D\n0,q,a,b,c,d\n');
    assert.throws(() => loadSplit(getBenchmark('cmmlu'), f.cmmlu, 'test'), /agronomy\.csv:1: missing column "Answer"/);
    const m = join(f.mmlu, 'data', 'test', 'astronomy_test.csv');
    writeFileSync(m, 'q,a,b,c,d,A\n"q2",a,b,c,d,a\n');
    assert.throws(
      () => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'),
      /astronomy_test\.csv:2: answer "a" is not one of A, B, C, D/,
    );
    writeFileSync(m, 'q,a,b,c,A\n');
    assert.throws(
      () => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'),
      /astronomy_test\.csv:1: 5 fields, MMLU rows have 6/,
    );
    mkdirSync(join(f.mmlu, 'data', 'test'), { recursive: true });
    writeFileSync(join(f.mmlu, 'data', 'test', 'cooking_test.csv'), 'q,a,b,c,d,A\n');
    assert.throws(
      () => loadSplit(getBenchmark('mmlu'), f.mmlu, 'test'),
      /cooking_test\.csv: not a MMLU test file \(unknown subject "cooking"\)/,
    );
    assert.throws(() => loadSplit(getBenchmark('ceval'), join(dir, 'nothing'), 'val'), /no C-Eval layout here/);
    mkdirSync(join(dir, 'collected'));
    writeFileSync(join(dir, 'collected', 'ceval-exam.zip'), 'PK');
    assert.throws(
      () => loadSplit(getBenchmark('ceval'), join(dir, 'collected'), 'val'),
      /ceval-exam\.zip: not a ZIP file/,
    );
    assert.throws(
      () => loadSplit(getBenchmark('ceval'), f.ceval, 'val', ['cooking']),
      /C-Eval has no subject "cooking"/,
    );
  }));

test('benchmark manifests: steel collect sources for C-Eval, CMMLU and MMLU; prep refuses them', async () => {
  const { getCorpus } = await import('../pipeline/corpora/index.ts');
  const { sourceFromManifest } = await import('../pipeline/collect/source.ts');
  const want = {
    ceval: 'hf:ceval/ceval-exam:ceval-exam.zip',
    cmmlu: 'hf:haonan-li/cmmlu:cmmlu_v1_0_1.zip',
    mmlu: 'urls:data.tar',
  };
  for (const [name, w] of Object.entries(want)) {
    const c = (await getCorpus(name))!;
    assert.equal(c.manifest.task, 'eval');
    const s = sourceFromManifest(c.manifest);
    const got =
      s.kind === 'hf'
        ? `hf:${s.repo}:${s.include!.join(',')}`
        : s.kind === 'urls'
          ? `urls:${s.urls.map((u) => u.path).join(',')}`
          : s.kind;
    assert.equal(got, w);
    assert.throws(
      () => c.adapt({ text: 'x' }, { file: 'f', line: 1 } as never),
      new RegExp(`${name} is an evaluation benchmark: evaluate with steel eval --task ${name}`),
    );
  }
});

test('the released archives (zip deflated / stored, tar) read without unpacking give the same items', () =>
  withDir((dir) => {
    const folders = writeFixtures(join(dir, 'folders'));
    const arch = writeFixtureArchives(join(dir, 'archives'));
    for (const [task, split] of [
      ['ceval', 'val'],
      ['ceval', 'test'],
      ['ceval', 'dev'],
      ['cmmlu', 'test'],
      ['mmlu', 'test'],
      ['mmlu', 'dev'],
    ] as const) {
      const spec = getBenchmark(task);
      const a = loadSplit(spec, folders[task], split),
        b = loadSplit(spec, arch[task], split);
      assert.deepEqual([...b.bySubject.keys()], [...a.bySubject.keys()]);
      for (const [subj, items] of a.bySubject) {
        const other = b.bySubject.get(subj)!;
        assert.deepEqual(
          other.map((i) => ({ ...i, file: '' })),
          items.map((i) => ({ ...i, file: '' })),
          `${task} ${split} ${subj}`,
        );
      }
    }
    // Python's own zipfile / tarfile read the fixture archives too (they are real archives)
    const py = spawnSync(
      'python3',
      [
        '-c',
        `import zipfile, tarfile, sys
for z in sys.argv[1:3]: assert zipfile.ZipFile(z).testzip() is None
assert 'data/test/astronomy_test.csv' in tarfile.open(sys.argv[3]).getnames()`,
        join(arch.ceval, 'ceval-exam.zip'),
        join(arch.cmmlu, 'cmmlu_v1_0_1.zip'),
        join(arch.mmlu, 'data.tar'),
      ],
      { encoding: 'utf8' },
    );
    if (py.error) console.log('# SKIP python3 check of the fixture archives: python3 not available');
    else assert.equal(py.status, 0, py.stderr);
    assert.match(
      loadSplit(getBenchmark('mmlu'), arch.mmlu, 'test').bySubject.get('astronomy')![0].file,
      /data\.tar!data\/test\/astronomy_test\.csv$/,
    );
    // a corrupted byte inside a stored entry: CRC-32 mismatch, named
    const z = join(arch.cmmlu, 'cmmlu_v1_0_1.zip');
    const buf = readFileSync(z);
    const at = buf.indexOf(Buffer.from('水稻'));
    buf[at] ^= 1;
    writeFileSync(z, buf);
    assert.throws(
      () => loadSplit(getBenchmark('cmmlu'), arch.cmmlu, 'test'),
      /cmmlu_v1_0_1\.zip: test\/agronomy\.csv: size or CRC-32 mismatch/,
    );
    // a malformed row inside an archive names ARCHIVE!ENTRY and the line
    const bad = writeFixtureArchives(join(dir, 'bad'));
    const t = join(bad.mmlu, 'data.tar');
    const tb = readFileSync(t);
    const k = tb.indexOf(Buffer.from(',C\n'));
    tb[k + 1] = 'E'.charCodeAt(0);
    writeFileSync(t, tb);
    assert.throws(
      () => loadSplit(getBenchmark('mmlu'), bad.mmlu, 'test'),
      /data\.tar!data\/test\/astronomy_test\.csv:1: answer "E" is not one of A, B, C, D/,
    );
  }));
