// The fine-tuning data loader reads rows on demand from the shards (tokenizer/sft.ts FtShardRows). It must serve the
// same steps as the loader it replaced, which decoded every shard into memory: same row order for a seed, same
// micro-batches. Every row is served exactly once per epoch, also when a run resumes mid-epoch from the position its
// checkpoint stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DataPos, dpoRows, FtData, packRows, takeRows } from './finetune.ts';
import { Rng } from './rng.ts';
import { FT_COLUMNS as COLS, inMemoryFtRows as inMemoryRows, makeFtShards as fixture } from './testutil.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

/** Its row order: a seeded shuffle of all rows per epoch, consumed in steps. */
function referenceTake(pos: DataPos, n: number, seed: number, count: number): number[] {
  const out: number[] = [];
  while (out.length < count) {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    new Rng(seed * 1000003 + pos.epoch).shuffle(p);
    out.push(p[pos.cursor]);
    if (++pos.cursor >= n) {
      pos.epoch++;
      pos.cursor = 0;
    }
  }
  return out;
}

const ident = (raw: Int32Array) => raw.map((x) => (x < 0 ? 0 : x));

test('fine-tuning data: the streaming loader serves the batches of the in-memory loader (SFT and DPO, same seed)', async () => {
  for (const task of ['sft', 'dpo'] as const) {
    const dir = tmpDir('steel-ftdata-');
    fixture(dir, task, [13, 1, 20], { twoBatches: true });
    const old = inMemoryRows(dir, task);
    const data = await FtData.open(dir, task);
    try {
      assert.equal(data.n, 34);
      const a: DataPos = { epoch: 0, cursor: 0 },
        b: DataPos = { epoch: 0, cursor: 0 };
      const cache = { epoch: -1, order: null as Int32Array | null };
      for (let step = 0; step < 9; step++) {
        // 9 steps of 10 rows: 2.6 epochs, steps across epoch ends
        const idx = takeRows(b, data.n, 5, 10, cache);
        assert.deepEqual(idx, referenceTake(a, old[COLS[task][0]].length, 5, 10), `${task} step ${step} rows`);
        for (let s = 0; s < idx.length; s += 4) {
          const part = idx.slice(s, s + 4);
          const mine = task === 'sft' ? part.map((i) => data.sft(i)) : dpoRows(data, part);
          const theirs =
            task === 'sft'
              ? part.map((i) => ({ ids: old.tokens[i], sup: old.loss_mask[i] }))
              : [
                  ...part.map((i) => ({ p: old.prompt[i], r: old.chosen[i] })),
                  ...part.map((i) => ({ p: old.prompt[i], r: old.rejected[i] })),
                ].map(({ p, r }) => ({
                  ids: Uint32Array.from([...p, ...r]),
                  sup: Uint8Array.from([...p.map(() => 0), ...r.map(() => 1)]),
                }));
          assert.deepEqual(packRows(mine, ident, 0), packRows(theirs, ident, 0), `${task} step ${step} micro ${s}`);
        }
      }
      assert.deepEqual(b, a);
    } finally {
      data.close();
    }
  }
});

test('fine-tuning data: every row once per epoch, straight and across a mid-epoch resume', async () => {
  const dir = tmpDir('steel-ftdata-');
  fixture(dir, 'sft', [7, 9, 5]);
  const serve = async (pos: DataPos, steps: number) => {
    const data = await FtData.open(dir, 'sft');
    const cache = { epoch: -1, order: null as Int32Array | null };
    const out: { epoch: number; row: number }[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const epoch = pos.epoch,
          cursor = pos.cursor;
        takeRows(pos, data.n, 3, 4, cache).forEach((i, k) =>
          // the row's own marker, and the epoch it was served in
          out.push({ epoch: epoch + Math.floor((cursor + k) / data.n), row: data.sft(i).ids[0] - 1000 }),
        );
      }
    } finally {
      data.close();
    }
    return out;
  };
  const straight = await serve({ epoch: 0, cursor: 0 }, 12); // 48 rows of 21: two full epochs and 6 more
  const pos: DataPos = { epoch: 0, cursor: 0 };
  const first = await serve(pos, 7); // stops in epoch 1, row 7
  assert.deepEqual(pos, { epoch: 1, cursor: 7 });
  const saved = JSON.parse(JSON.stringify(pos)) as DataPos; // as the checkpoint's trainer state keeps it
  const resumed = [...first, ...(await serve(saved, 5))];
  assert.deepEqual(resumed, straight);
  for (const e of [0, 1]) {
    const rows = straight.filter((x) => x.epoch === e).map((x) => x.row);
    assert.deepEqual(
      [...rows].sort((x, y) => x - y),
      Array.from({ length: 21 }, (_, i) => i),
      `epoch ${e}: each row once`,
    );
  }
  assert.equal(new Set(straight.filter((x) => x.epoch === 2).map((x) => x.row)).size, 6);
});

test('fine-tuning data: a row outside the folder and a shard whose row count disagrees are errors', async () => {
  const dir = tmpDir('steel-ftdata-');
  const m = fixture(dir, 'sft', [4, 3]);
  const data = await FtData.open(dir, 'sft');
  assert.throws(() => data.sft(7), /row 7 outside 0\.\.6/);
  data.close();
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ ...m, shards: [m.shards[0], { ...m.shards[1], rows: 4 }] }),
  );
  await assert.rejects(() => FtData.open(dir, 'sft'), /shard-00001\.arrow: 3 rows, the manifest says 4/);
  await assert.rejects(() => FtData.open(dir, 'dpo'), /steel-sft-v1 data, but dpo needs steel-dpo-v1/);
});
