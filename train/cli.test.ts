// CLI paths of the trainer: steel model / train / eval / generate / export / import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeShards } from './testutil.ts';
import { readModelConfig } from './checkpoint.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const CLI = fileURLToPath(new URL('../cli/steel.js', import.meta.url));
function steel(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('steel model info / check-causal', () => {
  const info = steel('model', 'info', 'steel-1b');
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /1,122,922,770 parameters/);
  assert.match(info.out, /per layer\s+32,132,353/);
  assert.match(info.out, /FLOPs\/token at T=2048: 3\.81\de\+9/);
  const cc = steel('model', 'check-causal');
  assert.equal(cc.code, 0, cc.err);
  assert.match(cc.out, /tiny \(steel\).*NOT CAUSAL/);
  assert.match(cc.out, /tiny-dense \(dense\).*-> CAUSAL/);
});

test('steel train (compact vocab) -> eval -> generate -> export -> import', () => {
  const dir = tmpDir('steel-cli-');
  try {
    makeShards(join(dir, 'data'), { shards: 2, docsPerShard: 20, seed: 8 });
    const run = join(dir, 'run');
    const t = steel(
      'train',
      '--preset',
      'small-dense',
      '--data',
      join(dir, 'data'),
      '--out',
      run,
      '--steps',
      '3',
      '--quiet',
    );
    assert.equal(t.code, 0, t.err);
    assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2); // step 1 and the last
    const again = steel(
      'train',
      '--preset',
      'small-dense',
      '--data',
      join(dir, 'data'),
      '--out',
      run,
      '--steps',
      '3',
      '--quiet',
    );
    assert.notEqual(again.code, 0);
    assert.match(again.err, /already has checkpoints.*--resume/);
    const ev = steel('eval', '--model', run, '--data', join(dir, 'data'), '--json');
    assert.equal(ev.code, 0, ev.err);
    const e = JSON.parse(ev.out);
    assert.ok(e.loss > 0 && e.tokens > 0);
    const g = steel('generate', '--model', run, '--prompt', 'hello', '--max-tokens', '5', '--ids');
    assert.equal(g.code, 0, g.err);
    assert.match(g.err, /tokens, model .* kind dense/);
    const printedIds = g.out.trim().split(/\s+/).slice(1); // after the prompt
    assert.ok(printedIds.length > 0 && printedIds.every((t) => /^\d+$/.test(t)), g.out);
    assert.equal(Number(/\((\d+) tokens/.exec(g.err)![1]), printedIds.length, 'the count matches the ids printed');
    const hf = join(dir, 'hf');
    const x = steel('export', '--model', run, '--format', 'hf', '--out', hf, '--no-tokenizer');
    assert.equal(x.code, 0, x.err);
    assert.match(x.out, /compact vocabulary expanded to 151,936 rows/);
    assert.equal(JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')).vocab_size, 151936);
    const imp = join(dir, 'imp.safetensors');
    const i = steel('import', '--from', hf, '--out', imp, '--seq-len', '64');
    assert.equal(i.code, 0, i.err);
    assert.ok(existsSync(imp));
    const cfg = readModelConfig(imp); // continued training from it is covered in hf.test.ts
    assert.equal(cfg.kind, 'dense');
    assert.equal(cfg.vocabSize, 151936);
    assert.equal(cfg.seqLen, 64);
    const bad = steel('train', '--preset', 'tiny', '--data', join(dir, 'nope'), '--out', join(dir, 'run3'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /no manifest\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
