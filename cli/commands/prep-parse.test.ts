import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../pipeline/node-entry.ts';
import { readLines } from '../../pipeline/readers/jsonl.ts';
import { JsonlWriter } from '../../pipeline/writers/jsonl.ts';
import { tmpDir } from '../../pipeline/test-fixtures/tmp-dir.ts';
import { run } from './prep.ts';

test('steel prep (zh-web, corpus sample): zod parses the recipe, params and manifest without compiling a parser', async () => {
  // a few documents of each file of the bundled sample
  const dir = tmpDir('steel-prep-parse-');
  const sample = join(REPO_ROOT, 'corpora-manifests', 'sample');
  for (const f of readdirSync(sample).filter((n) => n.endsWith('.jsonl.zst'))) {
    const w = new JsonlWriter(join(dir, f));
    let n = 0;
    for await (const l of readLines(join(sample, f))) {
      if (l.text === undefined) continue;
      await w.writeLine(l.text);
      if (++n === 4) break;
    }
    await w.close();
  }
  // zod's JIT compiles a parser per object schema (new Function, its body reading `payload`) on the first parse
  // unless the parse says jitless: a recipe, its steps' params and a manifest are parsed with PARSE_ONCE
  // (pipeline/stage.ts), since each is parsed once or twice per process
  const F = globalThis.Function;
  const compiled: string[] = [];
  globalThis.Function = new Proxy(F, {
    construct(target, args: unknown[], newTarget) {
      const body = String(args[args.length - 1] ?? '');
      if (body.includes('payload')) compiled.push(body.slice(0, 200));
      return Reflect.construct(target, args, newTarget) as object;
    },
  });
  let code: number;
  try {
    const args = ['--quiet', '--workers', '1', '--input', `sample=${join(dir, '*.jsonl.zst')}`];
    code = await run([...args, '--out', join(dir, 'out')]);
  } finally {
    globalThis.Function = F;
  }
  assert.equal(code, 0);
  assert.deepEqual(compiled, []);
});
