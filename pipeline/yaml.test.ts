/**
 * pipeline/yaml.ts: the build's parsed copy of YAML files gives each text's document as the `yaml` package parses it;
 * a text not in it (edited, other) is parsed; a document JSON cannot hold is left out of the copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { RECIPES_DIR } from './recipe.ts';
import { writeYamlParsed, yamlParser } from './yaml.ts';

test('yaml: parsed copies stand in for the same texts only, and only where JSON holds the document', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-yaml-'));
  try {
    mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
    const a = 'name: a\nsteps:\n  - op: x\n    params: { n: 3, f: 0.5, s: "y", b: true, z: null }\n';
    const inf = 'name: inf\nmax: .inf\n';
    writeFileSync(join(dir, 'in', 'a.yaml'), a);
    writeFileSync(join(dir, 'in', 'sub', 'inf.yml'), inf);
    writeFileSync(join(dir, 'in', 'bad.yaml'), 'a: [1,\n');
    writeFileSync(join(dir, 'in', 'other.txt'), 'x: 1\n');
    const out = join(dir, 'parsed.json');
    assert.equal(writeYamlParsed([join(dir, 'in'), RECIPES_DIR], out), 1 + 4);
    const copy = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    assert.deepEqual(JSON.parse(copy[a]), parse(a));
    assert.equal(copy[inf], undefined); // Infinity: not JSON
    const zhWeb = readFileSync(join(RECIPES_DIR, 'zh-web.yaml'), 'utf8');
    assert.deepEqual(JSON.parse(copy[zhWeb]), parse(zhWeb));

    // the copy is what answers for a known text (marked here to tell), a fresh object each time
    copy[a] = JSON.stringify({ from: 'copy' });
    writeFileSync(out, JSON.stringify(copy));
    const p = yamlParser(out);
    assert.deepEqual(p(a), { from: 'copy' });
    assert.notEqual(p(a), p(a));
    // any other text is parsed
    assert.deepEqual(p(a + '# edited\n'), parse(a));
    assert.deepEqual(p(inf), { name: 'inf', max: Infinity });
    assert.throws(() => p('a: [1,\n'));
    // no copy: everything parsed
    assert.deepEqual(yamlParser(join(dir, 'none.json'))(a), parse(a));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
