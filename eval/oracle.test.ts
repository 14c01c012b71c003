// Independent oracle: lm-evaluation-harness on an exported dense model gives the same per-item log-likelihoods as
// `steel eval --protocol loglik` (CPU, within 1e-4) and the same accuracy. Skips visibly without Python's lm_eval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { compareWithHarness, hasLmEval } from './oracle/compare.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

test(
  'lm-evaluation-harness agrees with steel eval --protocol loglik on an exported dense model (1-shot C-Eval subject)',
  { timeout: 1_800_000 },
  async (t) => {
    if (!hasLmEval()) {
      console.log(
        '# SKIP lm-evaluation-harness oracle: python3 with lm_eval, torch, transformers and datasets not available',
      );
      t.skip('lm_eval not installed');
      return;
    }
    const dir = tmpDir('steel-oracle-');
    try {
      const c = await compareWithHarness(dir, 'computer_network', '计算机网络', 1);
      console.log(
        `# oracle: ${c.items} items, max |steel - harness| log-likelihood ${c.maxAbsDiff.toExponential(2)} nats, accuracy steel ${c.steelAcc} harness ${c.harnessAcc}`,
      );
      assert.ok(c.maxAbsDiff < 1e-4, `max difference ${c.maxAbsDiff}`);
      assert.equal(c.steelAcc, c.harnessAcc);
      assert.ok(c.samePred);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
