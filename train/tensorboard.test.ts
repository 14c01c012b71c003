import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c, maskedCrc, tfrecord, writeTensorBoard, TensorBoardMirror } from './tensorboard.ts';
import { parseMetrics, metricSeries } from './metrics.ts';
import { makeShards } from './testutil.ts';
import { train } from './trainer.ts';
import { getPreset } from './config.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const checker = new URL('./check_tensorboard.py', import.meta.url).pathname;
const hasTensorBoard =
  spawnSync('python3', ['-c', 'import tensorboard.backend.event_processing.event_accumulator'], { encoding: 'utf8' })
    .status === 0;

/** TensorBoard's own reading of a log folder: {tag: [[step, value]]}. */
function readWithTensorBoard(dir: string): Record<string, [number, number][]> {
  const r = spawnSync('python3', [checker, dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('CRC-32C and TFRecord framing', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283); // the standard check value
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  const rec = tfrecord(Uint8Array.from([1, 2, 3]));
  const dv = new DataView(rec.buffer);
  assert.equal(rec.length, 8 + 4 + 3 + 4);
  assert.equal(dv.getBigUint64(0, true), 3n);
  assert.equal(dv.getUint32(8, true), maskedCrc(rec.subarray(0, 8)));
  assert.equal(dv.getUint32(15, true), maskedCrc(Uint8Array.from([1, 2, 3])));
});

/** the payload lengths of the TFRecords in an event file (checking both CRCs of each). */
function records(file: string): number[] {
  const b = readFileSync(file),
    out: number[] = [];
  for (let o = 0; o < b.length;) {
    const n = Number(b.readBigUInt64LE(o));
    assert.equal(b.readUInt32LE(o + 8), maskedCrc(b.subarray(o, o + 8)));
    assert.equal(b.readUInt32LE(o + 12 + n), maskedCrc(b.subarray(o + 12, o + 12 + n)));
    out.push(n);
    o += 16 + n;
  }
  return out;
}

test('live mirror: reads only new whole lines of metrics.jsonl (a half-written line waits for its end)', () => {
  const dir = tmpDir('steel-tbm-');
  try {
    const m = join(dir, 'metrics.jsonl');
    writeFileSync(m, '{"step":1,"loss":3}\n');
    const tb = new TensorBoardMirror(m, join(dir, 'tb'));
    assert.equal(records(tb.file).length, 2); // file version + step 1
    appendFileSync(m, '{"step":2,"lo');
    tb.sync();
    assert.equal(records(tb.file).length, 2);
    appendFileSync(m, 'ss":2.5}\n{"step":3,"kind":"eval","loss":2}\n');
    tb.sync();
    tb.sync();
    assert.equal(records(tb.file).length, 4);
    appendFileSync(m, '{"step":4,"loss":\n{"step":5,"loss":1}\n');
    tb.sync(); // a bad line is skipped and named, never stops training
    assert.deepEqual(tb.skipped, [`${m}:4`]);
    assert.equal(records(tb.file).length, 5);
    tb.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metrics rows: numbers by key, eval rows prefixed by their grouping fields, bad line named', () => {
  const rows = parseMetrics(
    [
      '{"step":1,"loss":5,"lr":0.001,"elapsed_s":1.5,"epoch":0}',
      '{"step":1,"kind":"eval","split":"heldout","loss":5.5,"ppl":244.7,"scores":{"ceval":0.25}}',
      '{"step":2,"loss":4.5,"lr":0.002,"note":"text is not a curve"}',
    ].join('\n'),
  );
  const s = Object.fromEntries(metricSeries(rows).map((x) => [x.name, x]));
  assert.deepEqual(Object.keys(s), [
    'loss',
    'lr',
    'epoch',
    'eval/heldout/loss',
    'eval/heldout/ppl',
    'eval/heldout/scores/ceval',
  ]);
  assert.deepEqual(s.loss.steps, [1, 2]);
  assert.deepEqual(s.loss.values, [5, 4.5]);
  assert.deepEqual(s['eval/heldout/loss'].values, [5.5]);
  assert.equal(rows[0].elapsedS, 1.5);
  assert.throws(
    () => parseMetrics('{"step":1}\n{oops\n{"step":3}\n', 'run/metrics.jsonl'),
    /run\/metrics\.jsonl:2: not JSON/,
  );
  assert.throws(() => parseMetrics('{"loss":1}\n', 'm.jsonl'), /m\.jsonl:1: no numeric "step"/);
  assert.equal(
    parseMetrics('{"step":1,"loss":2}\n{"step":2,"lo').length,
    1,
    'a torn last line (crashed writer) is tolerated',
  );
});

test('steel train --tensorboard and the conversion of metrics.jsonl: TensorBoard itself reads every scalar', async (t) => {
  if (!hasTensorBoard) {
    console.log(
      '# SKIP TensorBoard read-back: python3 with the tensorboard package not available (pip install tensorboard)',
    );
    t.skip('tensorboard not installed');
    return;
  }
  const dir = tmpDir('steel-tb-');
  try {
    makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 10, seed: 3 });
    const p = getPreset('tiny-dense');
    await train({
      model: p.model,
      hyper: { ...p.train, logEvery: 1 },
      dataDir: join(dir, 'data'),
      outDir: join(dir, 'run'),
      backend: 'cpu',
      steps: 3,
      quiet: true,
      tensorboard: join(dir, 'tb'),
    });
    const metricsFile = join(dir, 'run', 'metrics.jsonl');
    const rows = parseMetrics(readFileSync(metricsFile, 'utf8'));
    assert.equal(rows.length, 3);
    const live = readWithTensorBoard(join(dir, 'tb'));
    for (const key of ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'mfu']) {
      assert.deepEqual(
        live[key].map((x) => x[0]),
        [1, 2, 3],
        key,
      );
      live[key].forEach(([, v], i) => assert.equal(v, Math.fround(rows[i].values[key]), `${key} at step ${i + 1}`));
    }
    // an eval row added by anyone, then the conversion (replaces steel's earlier file in that folder)
    appendFileSync(
      metricsFile,
      JSON.stringify({ step: 3, kind: 'eval', split: 'heldout', loss: 3.25, ppl: 25.79 }) + '\n',
    );
    const r = writeTensorBoard(metricsFile, join(dir, 'tb'));
    assert.equal(r.rows, 4);
    assert.equal(readdirSync(join(dir, 'tb')).filter((n) => n.includes('tfevents')).length, 1);
    const conv = readWithTensorBoard(join(dir, 'tb'));
    assert.deepEqual(conv.loss, live.loss);
    assert.deepEqual(conv['eval/heldout/loss'], [[3, 3.25]]);
    assert.deepEqual(conv['eval/heldout/ppl'], [[3, Math.fround(25.79)]]);
    // TensorBoard checks our CRCs: a damaged last record is dropped, not read as data
    const f = join(
      dir,
      'tb',
      readdirSync(join(dir, 'tb')).find((n) => n.includes('tfevents'))!,
    );
    const b = readFileSync(f);
    b[b.length - 10] ^= 0xff;
    mkdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'events.out.tfevents.1.test'), b);
    const bad = readWithTensorBoard(join(dir, 'bad'));
    assert.deepEqual(bad.loss, conv.loss);
    assert.equal(bad['eval/heldout/loss'], undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
