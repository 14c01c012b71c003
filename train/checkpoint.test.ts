import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
  closeSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeShards } from './testutil.ts';
import { train } from './trainer.ts';
import { getPreset } from './config.ts';
import { findValidCheckpoint, lastGoodCheckpoint, listCheckpoints, verifyCheckpoint } from './checkpoint.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

function flip(path: string, at: number, mask: number): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] ^= mask;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

test('checkpoints: sha256 manifest, keep K, resume falls back past a corrupt newest checkpoint naming the file', async () => {
  const dir = tmpDir('steel-ckpt-');
  try {
    makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 12, seed: 7 });
    const p = getPreset('tiny');
    const hyper = { ...p.train, ckptEvery: 2, logEvery: 1 };
    const base = join(dir, 'base');
    await train({
      model: p.model,
      hyper,
      dataDir: join(dir, 'data'),
      outDir: base,
      backend: 'cpu',
      steps: 8,
      quiet: true,
      keepCheckpoints: 2,
    });
    // steps 2, 4, 6, 8 were saved; only the 2 newest are kept
    assert.deepEqual(listCheckpoints(base), ['step-00000006', 'step-00000008']);
    for (const d of listCheckpoints(base)) assert.equal(verifyCheckpoint(join(base, 'checkpoints', d)), null);
    assert.equal(findValidCheckpoint(base).dir, join(base, 'checkpoints', 'step-00000008'));

    const cases: [string, (ck: string) => void, RegExp][] = [
      [
        'flipped byte in optimizer.safetensors',
        (ck) => {
          const f = join(ck, 'optimizer.safetensors');
          flip(f, statSync(f).size - 100, 0xff);
        },
        /optimizer\.safetensors has sha256 .* corrupt/,
      ],
      [
        'flipped bit in model.safetensors',
        (ck) => {
          const f = join(ck, 'model.safetensors');
          flip(f, statSync(f).size - 7, 0x01);
        },
        /model\.safetensors has sha256/,
      ],
      [
        'broken trainer.json',
        (ck) => writeFileSync(join(ck, 'trainer.json'), '{"step": 8,'),
        /trainer\.json is \d+ bytes, the manifest says \d+ \(truncated\)/,
      ],
      [
        'truncated model.safetensors',
        (ck) => {
          const f = join(ck, 'model.safetensors');
          truncateSync(f, statSync(f).size - 1000);
        },
        /model\.safetensors is \d+ bytes, the manifest says \d+ \(truncated\)/,
      ],
    ];
    for (const [name, damage, want] of cases) {
      const out = join(dir, name.replace(/\W+/g, '-'));
      cpSync(base, out, { recursive: true });
      const newest = join(out, 'checkpoints', 'step-00000008');
      damage(newest);
      assert.match(verifyCheckpoint(newest) ?? '', want, name);
      assert.match(lastGoodCheckpoint(out), /step-00000006 \(skipped as corrupt: .*step-00000008/, name);
      const msgs: string[] = [];
      const r = await train({
        model: p.model,
        hyper,
        dataDir: join(dir, 'data'),
        outDir: out,
        backend: 'cpu',
        steps: 9,
        quiet: true,
        resume: true,
        log: (m) => msgs.push(m),
      });
      const text = msgs.join('\n');
      assert.match(text, new RegExp(`step-00000008 is not usable: ${want.source}`), name + '\n' + text);
      assert.match(text, /falling back to the newest valid checkpoint, .*step-00000006/, name);
      assert.match(text, /resumed from .*step-00000006 at step 6/, name);
      assert.equal(r.step, 9);
      const last = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!);
      assert.ok(Number.isFinite(last.loss) && last.loss < 10, `loss ${last.loss}`);
    }
    // nothing valid: refused, with the reasons
    const out = join(dir, 'none');
    cpSync(base, out, { recursive: true });
    for (const d of listCheckpoints(out)) {
      const f = join(out, 'checkpoints', d, 'optimizer.safetensors');
      flip(f, 200, 0x10);
    }
    const msgs: string[] = [];
    await assert.rejects(
      train({
        model: p.model,
        hyper,
        dataDir: join(dir, 'data'),
        outDir: out,
        backend: 'cpu',
        steps: 9,
        quiet: true,
        resume: true,
        log: (m) => msgs.push(m),
      }),
      /no valid checkpoint/,
    );
    assert.equal(msgs.filter((m) => /not usable: optimizer\.safetensors/.test(m)).length, 2);
    assert.match(lastGoodCheckpoint(out), /^\(none verified\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
