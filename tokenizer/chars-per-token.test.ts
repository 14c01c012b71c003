import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runPipeline } from '../pipeline/runner.ts';
import { writeDocs } from '../pipeline/writers/index.ts';
import { charsPerToken, readManifest } from './shards.ts';
import { textLength } from '../pipeline/document.ts';
import { inspectDir } from './inspect.ts';
import { operators } from '../cli/operators.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test('chars/token has one definition: code points over text tokens (no per-document eos), tokenize = inspect', async () => {
  assert.equal(charsPerToken(30, 13, 3), 3);
  assert.equal(charsPerToken(5, 2, 2), undefined);
  assert.equal(textLength('a𠀀😀中'), 4);
  const root = tmpDir('steel-cpt-');
  // astral characters (CJK Extension B, emoji) are one character each, not two UTF-16 units
  const docs = Array.from({ length: 12 }, (_, i) => ({
    id: `d${i}`,
    source: 's',
    meta: {},
    text: i % 2 ? `第${i}篇 𠀀𠀁 😀😀 钢铁。` : `Document ${i} 🎉 about steel.`,
  }));
  await writeDocs(join(root, 'in', 'a.jsonl.zst'), docs);
  const out = join(root, 'out');
  const stats = await runPipeline({
    recipe: { name: 'tok', steps: [{ op: 'tokenize' }] },
    inputs: [join(root, 'in', '*.jsonl.zst')],
    outDir: out,
    workers: 1,
    quiet: true,
    operators,
    log: () => {},
  });
  const extra = stats.phases.find((p) => p.op === 'tokenize')!.extra as { chars: number; tokens: number };
  const chars = docs.reduce((a, d) => a + textLength(d.text), 0);
  assert.equal(extra.chars, chars, 'the tokenize step counts code points');
  const m = readManifest(join(out, 'shards'));
  assert.equal(extra.tokens, m.totals.tokens);
  const r = await inspectDir(out);
  assert.equal(r.totals.chars, chars);
  assert.equal(r.totals.charsPerToken, charsPerToken(extra.chars, extra.tokens, docs.length));
});
