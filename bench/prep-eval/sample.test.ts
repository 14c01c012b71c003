// The committed sample of the prep evaluation set (27 documents, licences in SAMPLE.md): zh-web tags each with its
// labelled language (mixed, code- and table-heavy pages included; paragraphs separated by blank lines, as the HTML
// conversion leaves them) and keeps the Chinese documents judged "keep" by reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mapSteps, runMapSteps } from '../../filters/harness.ts';
import { operators } from '../../cli/operators.ts';
import { textHash, type EvalDoc } from './convert.ts';
import type { LangLabel } from './label.ts';

const read = <T>(f: string): T[] =>
  readFileSync(new URL(f, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

test('prep-eval sample: zh-web language tags match the labels, judged-keep Chinese documents are kept', async () => {
  const docs = read<EvalDoc>('./sample.jsonl');
  const labels = new Map(read<LangLabel>('./labels.jsonl').map((l) => [l.id, l]));
  const judged = new Map(
    ['./judgements.jsonl', './judgements-2.jsonl']
      .flatMap((f) => read<{ id: string; keep: boolean }>(f))
      .map((j) => [j.id, j.keep]),
  );
  for (const d of docs) assert.equal(labels.get(d.id)?.sha, textHash(d.text), `${d.id}: text differs from its label`);
  assert.ok(docs.some((d) => d.meta.kinds.includes('mixed')) && docs.some((d) => d.meta.kinds.includes('code')));
  assert.ok(docs.some((d) => /\n\n/.test(d.text) && d.meta.locale.startsWith('zh')));
  const res = await runMapSteps(
    await mapSteps('zh-web', operators),
    docs.map((d) => ({ id: d.id, text: d.text, source: d.source, meta: {} })),
  );
  const out = new Map([...res.kept, ...res.excluded].map((d) => [d.id, d]));
  let keeps = 0;
  for (const d of docs) {
    const o = out.get(d.id)!;
    const lang = labels.get(d.id)!.lang;
    const script = o.meta.script === 'Hant' ? 'zh-tw' : 'zh-cn';
    assert.equal(o.lang === 'zh' ? script : o.lang, lang, `${d.id}: tagged ${o.lang} ${String(o.meta.script)}`);
    if (judged.get(d.id) === true) {
      keeps++;
      const ex = res.excluded.find((e) => e.id === d.id);
      assert.equal(ex, undefined, `${d.id} judged keep, dropped by ${ex?.rule}`);
    }
  }
  assert.ok(keeps >= 8);
});
