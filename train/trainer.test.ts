import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, existsSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeShards } from './testutil.ts';
import { train, lrAt } from './trainer.ts';
import { getPreset, STEEL_TRAIN } from './config.ts';
import { latestCheckpoint } from './checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from './safetensors.ts';
import { paramShapes, numel } from './config.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const CLI = fileURLToPath(new URL('../cli/steel.js', import.meta.url));

function losses(out: string): number[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).loss);
}
function modelBytes(out: string): Buffer {
  const f = new SafetensorsFile(join(latestCheckpoint(out)!, 'model.safetensors'));
  const parts: Buffer[] = [];
  for (const k of [...f.tensors.keys()].sort()) parts.push(Buffer.from(f.float32(k).buffer));
  f.close();
  return Buffer.concat(parts);
}

test('LR schedule: linear warmup then cosine to the minimum', () => {
  const h = { ...STEEL_TRAIN, lr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 };
  assert.equal(lrAt(0, h), 0.1);
  assert.equal(lrAt(9, h), 1);
  assert.ok(Math.abs(lrAt(60, h) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(110, h) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt(500, h) - 0.1) < 1e-12);
});

for (const preset of ['tiny', 'tiny-dense']) {
  test(`exact resume (${preset}): 2N steps straight == N steps + resume N (bitwise losses and weights)`, async () => {
    const dir = tmpDir('steel-resume-');
    try {
      makeShards(join(dir, 'data'), { shards: 3, docsPerShard: 12, seed: 3 });
      const p = getPreset(preset);
      // grad accumulation 2 and small data so an epoch boundary falls inside the run
      const hyper = { ...p.train, gradAccum: 2, logEvery: 1, ckptEvery: 1000 };
      const common = { model: p.model, hyper, dataDir: join(dir, 'data'), backend: 'cpu', quiet: true };
      const a = await train({ ...common, outDir: join(dir, 'a'), steps: 16 });
      assert.equal(a.stoppedBy, 'done');
      await train({ ...common, outDir: join(dir, 'b'), steps: 8 });
      await train({ ...common, outDir: join(dir, 'b'), steps: 16, resume: true });
      const la = losses(join(dir, 'a')),
        lb = losses(join(dir, 'b'));
      assert.equal(la.length, 16);
      assert.deepEqual(lb, la);
      assert.ok(modelBytes(join(dir, 'a')).equals(modelBytes(join(dir, 'b'))), 'weights differ');
      const st = JSON.parse(readFileSync(join(latestCheckpoint(join(dir, 'a'))!, 'trainer.json'), 'utf8'));
      assert.ok(st.step === 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('killed with SIGTERM mid-run: checkpoint on signal, resume reproduces the straight run bit for bit', async () => {
  const dir = tmpDir('steel-kill-');
  try {
    makeShards(join(dir, 'data'), { shards: 2, docsPerShard: 20, seed: 4 });
    const args = (out: string, steps: number, extra: string[] = []) => [
      'train',
      '--preset',
      'tiny',
      '--data',
      join(dir, 'data'),
      '--out',
      out,
      '--steps',
      String(steps),
      '--log-every',
      '1',
      '--ckpt-every',
      '100000',
      '--quiet',
      ...extra,
    ];
    const runCli = (a: string[], onSpawn?: (pid: number, out: string) => void) =>
      new Promise<number>((res) => {
        const ch = spawn(process.execPath, [CLI, ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        ch.stderr!.on('data', (d) => {
          err += d;
        });
        if (onSpawn) onSpawn(ch.pid!, a[a.indexOf('--out') + 1]);
        ch.on('exit', (code) => {
          if (code !== 0) process.stderr.write(err);
          res(code ?? -1);
        });
      });
    // killed run
    const killed = join(dir, 'k');
    const code = await runCli(args(killed, 1_000_000), (pid, out) => {
      const iv = setInterval(() => {
        const m = join(out, 'metrics.jsonl');
        if (existsSync(m) && readFileSync(m, 'utf8').split('\n').length > 4) {
          clearInterval(iv);
          process.kill(pid, 'SIGTERM');
        }
      }, 20);
    });
    assert.equal(code, 0);
    const ck = latestCheckpoint(killed);
    assert.ok(ck, 'no checkpoint written on SIGTERM');
    const s = JSON.parse(readFileSync(join(ck!, 'trainer.json'), 'utf8'));
    assert.match(s.reason, /SIGTERM/);
    const target = s.step + 5;
    assert.equal(await runCli(args(killed, target, ['--resume'])), 0);
    const straight = join(dir, 's');
    assert.equal(await runCli(args(straight, target)), 0);
    assert.deepEqual(losses(killed), losses(straight));
    assert.ok(modelBytes(killed).equals(modelBytes(straight)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NaN/inf loss stops with a clear message and keeps the last good checkpoint', async () => {
  const dir = tmpDir('steel-nan-');
  try {
    makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 10, seed: 5 });
    const p = getPreset('tiny');
    const hyper = { ...p.train, ckptEvery: 2, logEvery: 1 };
    const out = join(dir, 'o');
    await train({
      model: p.model,
      hyper,
      dataDir: join(dir, 'data'),
      outDir: out,
      backend: 'cpu',
      steps: 4,
      quiet: true,
    });
    const good = latestCheckpoint(out)!;
    // poison the weights of a copy used as init
    const bad = join(dir, 'bad.safetensors');
    const specs = paramShapes(p.model);
    writeSafetensors(
      bad,
      specs.map((s) => ({
        name: s.name,
        shape: s.shape,
        data: new Float32Array(numel(s.shape)).fill(s.name.includes('norm') ? NaN : 0.01),
      })),
      { 'steel.config': JSON.stringify(p.model) },
    );
    const msgs: string[] = [];
    const out2 = join(dir, 'o2');
    const r = await train({
      model: p.model,
      hyper,
      dataDir: join(dir, 'data'),
      outDir: out2,
      backend: 'cpu',
      steps: 4,
      quiet: true,
      initFrom: bad,
      log: (m) => msgs.push(m),
    });
    assert.equal(r.stoppedBy, 'nan');
    assert.equal(latestCheckpoint(out2), null);
    assert.ok(
      msgs.some((m) => /loss is NaN; stopping/.test(m)),
      msgs.join('\n'),
    );
    assert.ok(existsSync(join(good, 'model.safetensors')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void copyFileSync;
void writeFileSync;
void readdirSync;
