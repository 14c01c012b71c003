import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  rmSync,
  copyFileSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  existsSync,
  statSync,
  truncateSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeShards } from './testutil.ts';
import { DataLoader, contentHash } from './data.ts';
import { readManifest, writeManifest, sha256File, VERIFIED_CACHE } from '../tokenizer/shards.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const tmp = () => tmpDir('steel-data-');
const opts = (dir: string) => ({ dir, seqLen: 15, seed: 3407, padId: 0 });

async function take(dl: DataLoader, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(Array.from(await dl.next(1)).join(','));
  return out;
}

test('blocks of seqLen+1, shards split by rank, every block once per epoch, reshuffled per epoch', async () => {
  const dir = tmp();
  try {
    makeShards(dir, { shards: 4, docsPerShard: 10, seed: 1 });
    const m = readManifest(dir);
    const r0 = await DataLoader.open({ ...opts(dir), rank: 0, world: 2 });
    const r1 = await DataLoader.open({ ...opts(dir), rank: 1, world: 2 });
    assert.deepEqual(
      r0.files.map((f) => f.file),
      [m.shards[0].file, m.shards[2].file],
    );
    assert.deepEqual(
      r1.files.map((f) => f.file),
      [m.shards[1].file, m.shards[3].file],
    );
    const n = r0.numBlocks;
    assert.equal(n, Math.ceil(m.shards[0].tokens / 16) + Math.ceil(m.shards[2].tokens / 16));
    const e0 = await take(r0, n),
      e1 = await take(r0, n);
    assert.equal(new Set(e0).size, n, 'an epoch serves every block once');
    assert.deepEqual([...e0].sort(), [...e1].sort());
    assert.notDeepEqual(e0, e1, 'reshuffled per epoch');
    assert.equal(r0.epoch, 1);
    // all the rank's tokens are in the blocks (the shard tail is padded, not dropped)
    const blk = await r0.next(1);
    assert.equal(blk.length, 16);
    const again = await DataLoader.open({ ...opts(dir), rank: 0, world: 2 });
    assert.deepEqual(await take(again, n), e0, 'same seed, same order');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resume from a saved state continues exactly; a changed shard is rejected', async () => {
  const dir = tmp();
  try {
    makeShards(dir, { shards: 2, docsPerShard: 10, seed: 2 });
    const a = await DataLoader.open(opts(dir));
    await take(a, 7);
    const st = a.state();
    const restA = await take(a, 30);
    const b = await DataLoader.open({ ...opts(dir), state: st });
    assert.deepEqual(await take(b, 30), restA);
    // change a shard's content
    const m = readManifest(dir);
    copyFileSync(join(dir, m.shards[1].file), join(dir, m.shards[0].file));
    await assert.rejects(DataLoader.open({ ...opts(dir), state: st }), new RegExp(`${m.shards[0].file}: .*manifest`));
    // the manifest rewritten for the new content (a re-prep): still not the data the checkpoint trained on
    m.shards[0] = { ...m.shards[0], bytes: m.shards[1].bytes, sha256: m.shards[1].sha256 };
    writeManifest(dir, m);
    await assert.rejects(DataLoader.open({ ...opts(dir), state: st }), /content changed since the checkpoint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('new shards on resume: appended, only the unconsumed tail reshuffled; a duplicate shard is rejected', async () => {
  const dir = tmp();
  try {
    const first = makeShards(dir, { shards: 2, docsPerShard: 10, seed: 3 });
    const a = await DataLoader.open(opts(dir));
    await take(a, 5);
    const st = a.state();
    const oldBlocks = a.numBlocks;
    makeShards(dir, { shards: 1, docsPerShard: 10, seed: 9, startIndex: 2, existing: first });
    const b = await DataLoader.open({ ...opts(dir), state: st });
    assert.ok(b.numBlocks > oldBlocks);
    const p = b.state().perm;
    assert.deepEqual(Array.from(p.subarray(0, 5)), Array.from(st.perm.subarray(0, 5)), 'consumed prefix kept');
    const tail = Array.from(p.subarray(5)).sort((x, y) => x - y);
    const expect = [
      ...Array.from(st.perm.subarray(5)),
      ...Array.from({ length: b.numBlocks - oldBlocks }, (_, i) => oldBlocks + i),
    ].sort((x, y) => x - y);
    assert.deepEqual(tail, expect, 'tail = old unconsumed blocks + the new blocks');
    // duplicate: a copy of shard 0 under a new name
    const m = readManifest(dir);
    copyFileSync(join(dir, m.shards[0].file), join(dir, 'shard-00099.arrow'));
    m.shards.push({ ...m.shards[0], file: 'shard-00099.arrow', sha256: sha256File(join(dir, 'shard-00099.arrow')) });
    writeManifest(dir, m);
    await assert.rejects(DataLoader.open({ ...opts(dir), state: st }), /duplicates .* \(rejected\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-source mixture weights repeat or drop blocks of a source', async () => {
  const dir = tmp();
  try {
    const s1 = makeShards(dir, { shards: 1, docsPerShard: 8, seed: 4, sources: ['web'] });
    makeShards(dir, { shards: 1, docsPerShard: 8, seed: 5, sources: ['code'], startIndex: 1, existing: s1 });
    const plain = await DataLoader.open(opts(dir));
    const web = plain.files[0].blocks,
      code = plain.files[1].blocks;
    assert.equal(plain.epochLength, web + code);
    const w = await DataLoader.open({ ...opts(dir), weights: { web: 2, code: 0 } });
    assert.equal(w.epochLength, 2 * web);
    const ids = Array.from(w.state().perm);
    assert.ok(
      ids.every((i) => i < web),
      'no code blocks',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('content hash: whole file when small; first and last 25 MB when over 50 MB (Steel)', () => {
  const dir = tmp();
  try {
    const small = join(dir, 's.bin');
    writeFileSync(small, 'abc');
    assert.match(contentHash(small), /^sha256:/);
    const big = join(dir, 'b.bin');
    writeFileSync(big, Buffer.alloc(60 * 1024 * 1024, 7));
    const h0 = contentHash(big);
    assert.match(h0, /^sha256-ends:/);
    const fd = openSync(big, 'r+');
    writeSync(fd, Buffer.from([1]), 0, 1, 30 * 1024 * 1024); // middle: not hashed
    assert.equal(contentHash(big), h0);
    writeSync(fd, Buffer.from([1]), 0, 1, 10); // head: hashed
    closeSync(fd);
    assert.notEqual(contentHash(big), h0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shard cache keeps decoded shards: with the default 2 GiB each shard is read once over two epochs', async () => {
  const dir = tmp();
  try {
    makeShards(dir, { shards: 4, docsPerShard: 10, seed: 5 });
    const dl = await DataLoader.open(opts(dir));
    await take(dl, 2 * dl.numBlocks);
    assert.equal(dl.shardLoads, 4);
    // a cache smaller than one shard re-reads on every switch of shard (LRU eviction still works)
    const tiny = await DataLoader.open({ ...opts(dir), cacheBytes: 1 });
    await take(tiny, dl.numBlocks);
    assert.ok(tiny.shardLoads > 4, `loads ${tiny.shardLoads}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every start checks the shards against the manifest: sizes always, sha256 once per shard (cached by size+mtime)', async () => {
  const dir = tmp();
  try {
    makeShards(dir, { shards: 2, docsPerShard: 10, seed: 9 });
    const m = readManifest(dir);
    const logs: string[] = [];
    await DataLoader.open({ ...opts(dir), log: (s) => logs.push(s) });
    assert.ok(
      logs.some((l) => /2 of 2 shard\(s\) hashed/.test(l)),
      logs.join('\n'),
    );
    assert.ok(existsSync(join(dir, VERIFIED_CACHE)));
    logs.length = 0;
    await DataLoader.open({ ...opts(dir), log: (s) => logs.push(s) });
    assert.ok(!logs.some((l) => /hashed/.test(l)), 'the second start hashes nothing');
    // same size, one byte changed (new mtime): refused on a fresh start, naming the shard
    const p = join(dir, m.shards[1].file);
    const fd = openSync(p, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, statSync(p).size - 40);
    closeSync(fd);
    utimesSync(p, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(
      DataLoader.open(opts(dir)),
      new RegExp(`${m.shards[1].file}: sha256 [0-9a-f]+ differs from manifest`),
    );
    // a shorter file: refused by size
    truncateSync(p, 100);
    await assert.rejects(
      DataLoader.open(opts(dir)),
      new RegExp(`${m.shards[1].file}: 100 bytes, manifest says ${m.shards[1].bytes}`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
