import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runPipeline } from '../pipeline/runner.ts';
import { writeDocs } from '../pipeline/writers/index.ts';
import { readManifest, verifyManifest } from './shards.ts';
import { inspectDir } from './inspect.ts';
import { operators } from '../cli/operators.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';
import { LocalExecutor } from '../pipeline/executor.ts';
import { HOOKED_WORKER, TEST_HOOKS_ENV, testHooksEnv } from '../pipeline/test-fixtures/hooks.ts';
import { tokenizeToShards } from './tokenize.ts';

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

test('prep: tokenization takes the documents as the step before writes them (map phase, dedup filter), the same shards as tokenizing the written files; a run killed in the filter resumes to them', async () => {
  const root = tmpDir('steel-prep-sink-');
  try {
    const base = Array.from({ length: 40 }, (_, i) => ({
      id: `d${i}`,
      source: i % 3 ? 'web' : 'book',
      lang: i % 2 ? 'zh' : 'en',
      meta: {},
      text:
        i % 2
          ? `第${i}篇：钢铁是怎样炼成的。保尔在第${i * 7}页读完了这一章，又写下了很长的笔记和一些问题。`.repeat(3)
          : `Document ${i}: how the steel was tempered, chapter ${i * 7}, with a long note and some questions.`.repeat(
              3,
            ),
    }));
    // near-copies for MinHash to remove
    const docs = [...base, ...base.slice(0, 8).map((d) => ({ ...d, id: `${d.id}-copy`, text: d.text + ' 完' }))];
    await writeDocs(join(root, 'in', 'a.jsonl.zst'), docs.slice(0, 24));
    await writeDocs(join(root, 'in', 'b.jsonl.zst'), docs.slice(24));
    let keptDedup = 0;
    const shardsOf = (dir: string) => readManifest(dir).shards.map((s) => [s.sha256, s.tokens, s.documents]);
    /** The shards tokenizing the run's final documents gives (no sink). */
    const reference = async (out: string) => {
      const files = readdirSync(join(out, 'docs'))
        .sort()
        .map((f) => join(out, 'docs', f));
      const ex = new LocalExecutor({ inProcess: 'always', progress: { quiet: true } });
      await tokenizeToShards(files, join(out, 'ref-shards'), {
        executor: ex,
        workers: 1,
        workDir: join(out, 'ref-work'),
        log: () => {},
      });
      return shardsOf(join(out, 'ref-shards'));
    };
    for (const steps of [
      [{ op: 'nfkc' }, { op: 'tokenize' }],
      [{ op: 'nfkc' }, { op: 'minhash_dedup' }, { op: 'tokenize' }],
    ]) {
      const out = join(root, `out-${steps.length}`);
      const logs: string[] = [];
      const executor = new LocalExecutor({
        inProcess: 'always',
        progress: { quiet: true },
        onLog: (_r, m) => logs.push(m),
      });
      const stats = await runPipeline({
        recipe: { name: 'sink', steps } as any,
        inputs: [join(root, 'in', '*.jsonl.zst')],
        outDir: out,
        workers: 1,
        quiet: true,
        operators,
        executor,
      });
      if (steps.length === 3) {
        assert.ok(stats.dropped >= 8, 'the near-copies removed');
        keptDedup = stats.kept;
      } else assert.equal(stats.kept, 48);
      const tokPhase = stats.phases.find((p) => p.op === 'tokenize')!;
      assert.equal(
        logs.filter((l) => l.includes('encoded as written')).length,
        stats.outputs.docs.length,
        logs.join('\n'),
      );
      assert.ok(tokPhase.cpu_seconds > 0, 'the sink CPU time is counted in the tokenize phase');
      assert.deepEqual(shardsOf(join(out, 'shards')), await reference(out));
    }
    // killed while the filter encodes (worker processes): the rerun resumes to the shards of its documents
    const out = join(root, 'out-kill');
    const recipe = { name: 'sink', steps: [{ op: 'minhash_dedup' }, { op: 'tokenize' }] } as any;
    const run = async (hooks?: Record<string, string>) => {
      if (hooks) Object.assign(process.env, hooks);
      const executor = new LocalExecutor({ inProcess: 'never', progress: { quiet: true }, worker: HOOKED_WORKER });
      try {
        return await runPipeline({
          recipe,
          inputs: [join(root, 'in', '*.jsonl.zst')],
          outDir: out,
          workers: 2,
          quiet: true,
          operators,
          executor,
        });
      } finally {
        delete process.env[TEST_HOOKS_ENV];
        executor.close();
      }
    };
    await assert.rejects(run(testHooksEnv({ dedupCrash: 'filter' })), /died while running/);
    const st = await run();
    assert.equal(st.kept, keptDedup);
    assert.deepEqual(shardsOf(join(out, 'shards')), await reference(out));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
