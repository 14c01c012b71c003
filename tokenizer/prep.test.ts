import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runPipeline } from '../pipeline/runner.ts';
import { writeDocs } from '../pipeline/writers/index.ts';
import { readManifest, verifyManifest } from './shards.ts';
import { inspectDir } from './inspect.ts';
import { operators } from '../cli/operators.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test('prep: a recipe ending with the tokenize op writes OUT/shards (and inspect reads the run)', async () => {
  const root = tmpDir('steel-prep-tok-');
  try {
    const docs = Array.from({ length: 50 }, (_, i) => ({
      id: `d${i}`,
      source: 'mix',
      lang: i % 2 ? 'zh' : 'en',
      meta: {},
      text: i % 2 ? `第${i}篇：钢铁是怎样炼成的。` : `Document ${i}: how the steel was tempered.`,
    }));
    await writeDocs(join(root, 'in', 'a.jsonl.zst'), docs.slice(0, 25));
    await writeDocs(join(root, 'in', 'b.jsonl.zst'), docs.slice(25));
    const out = join(root, 'out');
    const stats = await runPipeline({
      recipe: {
        name: 'tok-test',
        description: 'nfkc then tokenize',
        steps: [{ op: 'nfkc' }, { op: 'tokenize', params: { max_shard_bytes: 1_000_000 } }],
      } as any,
      inputs: [join(root, 'in', '*.jsonl.zst')],
      outDir: out,
      workers: 1,
      quiet: true,
      operators,
    });
    assert.equal(stats.kept, 50);
    verifyManifest(join(out, 'shards'));
    const m = readManifest(join(out, 'shards'));
    assert.equal(m.totals.documents, 50);
    assert.equal(m.tokenizer.name, 'qwen');
    const r = await inspectDir(out);
    assert.equal(r.kind, 'prep');
    assert.equal(r.totals.documents, 50);
    assert.equal(r.totals.tokens, m.totals.tokens);
    assert.ok(r.totals.charsPerToken! > 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
