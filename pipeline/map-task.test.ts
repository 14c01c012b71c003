import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskFile, type MapInputFile } from './map-task.ts';

test('taskFile: every map unit in one layout (the same fields in one order), sliced or not, last slice or not', () => {
  const units: MapInputFile[] = [
    { path: '/d/a.jsonl' },
    { path: '/d/b.jsonl.zst', corpus: 'sample' },
    { corpus: 'sample', path: '/d/c.jsonl.zst', slice: { offset: 0, skip: 0, line: 1, start: 0, bytes: 50, lines: 2 } },
    { path: '/d/c.jsonl.zst', corpus: 'sample', slice: { line: 3, offset: 40, skip: 7, start: 50 } },
    { path: '/d/e.jsonl', gone: true },
  ];
  const copies = units.map(taskFile);
  const layout = (o: object) => Object.keys(o).join(',');
  assert.deepEqual(new Set(copies.map(layout)), new Set(['path,corpus,gone,slice']));
  const slices = copies.flatMap((c) => (c.slice ? [c.slice] : []));
  assert.equal(slices.length, 2);
  assert.deepEqual(new Set(slices.map(layout)), new Set(['offset,skip,line,start,bytes,lines']));
  // the same unit: every field the planner gave, nothing else set
  const defined = (o: object) => JSON.parse(JSON.stringify(o)) as unknown;
  assert.deepEqual(copies.map(defined), units.map(defined));
  assert.notEqual(copies[2], units[2]);
});
