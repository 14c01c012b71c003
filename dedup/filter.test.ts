import { test } from 'node:test';
import assert from 'node:assert/strict';
import { excludedLine, keptLine } from './stages/filter.ts';
import { recordToDocument } from '../pipeline/readers/index.ts';
import { docLine } from '../pipeline/writers/index.ts';
import type { Document } from '../pipeline/document.ts';

/** What the filter writes for a kept document when it serialises it. */
const serialised = (doc: Document, size: number) =>
  JSON.stringify({
    id: doc.id,
    text: doc.text,
    source: doc.source,
    ...(doc.lang ? { lang: doc.lang } : {}),
    meta: { ...doc.meta, dup_cluster_size: size },
  });

/** The written line of `doc` and the document as the filter reads it back. */
function readBack(doc: Document): { json: string; back: Document } {
  const json = JSON.stringify(docLine(doc));
  return { json, back: recordToDocument(JSON.parse(json) as Record<string, unknown>, { file: 'x.jsonl', line: 7 }) };
}

test('keptLine: the spliced line is the serialised kept document, byte for byte', () => {
  const docs: Document[] = [
    { id: 'a:1', text: '中文文本，有"引号"和\\反斜杠\\', source: 'zh', lang: 'zh', meta: { stats: { n: 1.5, m: -0 } } },
    { id: 'b', text: '', source: 's', meta: {} },
    { id: 'c', text: 'ends with a backslash \\', source: 's', lang: 'en', meta: { 2: 'x', 10: 'y', k: [1, null] } },
    { id: 'd', text: 'fake keys: ","source":"zz","meta":{}}', source: 'src"q', meta: { a: 'b' } },
    { id: 'e', text: 'lone \ud800 surrogate \udfff and 😀 \u2028', source: 's', lang: 'zh-tw', meta: { big: 1e21 } },
    { id: 'f', text: 'control \u0001\t\n chars', source: 's', meta: { nested: { '"k"': { deep: [{}] } } } },
  ];
  for (const doc of docs)
    for (const size of [1, 3]) {
      const { json, back } = readBack(doc);
      const parts = keptLine(json, back, size);
      assert.notEqual(parts, undefined, `${doc.id}: spliced`);
      const line = parts![0] + parts![1];
      assert.equal(line, serialised(back, size), doc.id);
      assert.deepEqual(JSON.parse(line), JSON.parse(serialised(back, size)));
    }
});

/** What the filter writes for a dropped document when it serialises it (the excluded line). */
const excludedSerialised = (doc: Document, stage: string, rule: string, value: string) =>
  JSON.stringify({
    stage,
    rule,
    value,
    id: doc.id,
    text: doc.text,
    source: doc.source,
    ...(doc.lang ? { lang: doc.lang } : {}),
    meta: doc.meta,
  });

test('excludedLine: the spliced line is the serialised excluded document, byte for byte', () => {
  const docs: Document[] = [
    { id: 'a:1', text: '中文文本，有"引号"和\\反斜杠\\', source: 'zh', lang: 'zh', meta: { stats: { n: 1.5, m: -0 } } },
    { id: 'b', text: '', source: 's', meta: {} },
    { id: 'c', text: 'ends with a backslash \\', source: 's', lang: 'en', meta: { 2: 'x', 10: 'y', k: [1, null] } },
    { id: 'd', text: 'fake keys: ","source":"zz","meta":{}}', source: 'src"q', meta: { dup_cluster_size: 4 } },
    { id: 'e', text: 'lone \ud800 surrogate \udfff and 😀 \u2028', source: 's', lang: 'zh-tw', meta: { big: 1e21 } },
  ];
  for (const doc of docs)
    for (const [stage, rule, value] of [
      ['minhash_dedup', 'minhash_dup', 'a:1'],
      ['st"age', 'r\\ule', 'keeper "id" 中'],
    ] as const) {
      const { json, back } = readBack(doc);
      const head = `{"stage":${JSON.stringify(stage)},"rule":${JSON.stringify(rule)},"value":${JSON.stringify(value)},`;
      const parts = excludedLine(json, back, head);
      assert.notEqual(parts, undefined, `${doc.id}: spliced`);
      assert.equal(parts![0] + parts![1], excludedSerialised(back, stage, rule, value), doc.id);
    }
});

test('excludedLine: lines that do not have the written layout are left to serialisation', () => {
  const doc: Document = { id: '5', text: 't', source: 's', meta: {} };
  const head = '{"stage":"x","rule":"y","value":"z",';
  for (const json of [
    '{"id":5,"text":"t","source":"s","meta":{}}',
    '{"text":"t","id":"5","source":"s","meta":{}}',
    '{"id":"5","text":"t","source":"s","meta":[]}',
    '{"id":"5","text":"t","source":"s"}',
    '{"id":"5","text":"t","source":"s2","meta":{}}',
    '{"id":"5","text":"t","source":"s","lang":"en","meta":{}}',
  ])
    assert.equal(excludedLine(json, doc, head), undefined, json);
  assert.equal(excludedLine('{"id":"5","text":"t","source":"s","meta":{}}', { ...doc, lang: 'en' }, head), undefined);
});

test('keptLine: lines that do not have the written layout are left to serialisation', () => {
  // a meta that already has the key (the spread replaces it in place)
  const dup = readBack({ id: 'a', text: 't', source: 's', meta: { dup_cluster_size: 2, z: 1 } });
  assert.equal(keptLine(dup.json, dup.back, 1), undefined);
  // an empty id or source: reading back makes them from the file
  for (const doc of [
    { id: '', text: 't', source: 's', meta: {} },
    { id: 'i', text: 't', source: '', meta: {} },
  ]) {
    const { json, back } = readBack(doc);
    assert.notEqual(back.id + back.source, doc.id + doc.source);
    assert.equal(keptLine(json, back, 1), undefined);
  }
  const doc: Document = { id: '5', text: 't', source: 's', meta: {} };
  // a numeric id, another key order, no meta object (keys after meta are not looked for: lines written by docLine
  // have none, which is what FilterArgs.canonicalLines vouches for)
  for (const json of [
    '{"id":5,"text":"t","source":"s","meta":{}}',
    '{"text":"t","id":"5","source":"s","meta":{}}',
    '{"id":"5","text":"t","source":"s","meta":[]}',
    '{"id":"5","text":"t","source":"s"}',
  ])
    assert.equal(keptLine(json, doc, 1), undefined, json);
  // a lang the line lacks, or another one
  assert.equal(keptLine('{"id":"5","text":"t","source":"s","meta":{}}', { ...doc, lang: 'en' }, 1), undefined);
  assert.equal(
    keptLine('{"id":"5","text":"t","source":"s","lang":"zh","meta":{}}', { ...doc, lang: 'en' }, 1),
    undefined,
  );
});
