/** Test helpers: synthetic token shards in the steel-shards-v1 format, and fine-tuning shards. */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, tableToIPC, Table } from 'apache-arrow';
import { DPO_FORMAT, type FtManifest, type FtRow, SFT_FORMAT, writeFtShard } from '../tokenizer/sft.ts';
import { ShardWriter, buildManifest, writeManifest, type ShardInfo, type TokenizerInfo } from '../tokenizer/shards.ts';
import { Rng } from './rng.ts';

export const TEST_TOKENIZER: TokenizerInfo = {
  name: 'test',
  sha256: '0'.repeat(64),
  vocab_size: 64,
  eos_id: 1,
  pad_id: 0,
};

/**
 * Writes `shards` shards of `docsPerShard` documents into dir (names shard-0000i.arrow starting at startIndex) and a
 * manifest listing `existing` + the new shards. Documents follow a simple learnable pattern (token i+1 follows i).
 */
export function makeShards(
  dir: string,
  o: {
    shards: number;
    docsPerShard: number;
    seed: number;
    vocab?: number;
    startIndex?: number;
    existing?: ShardInfo[];
    sources?: string[];
  },
): ShardInfo[] {
  const rng = new Rng(o.seed);
  const V = o.vocab ?? 64;
  const all: ShardInfo[] = [...(o.existing ?? [])];
  for (let s = 0; s < o.shards; s++) {
    const w = new ShardWriter(dir, { tokenizer: TEST_TOKENIZER, startIndex: (o.startIndex ?? 0) + s });
    for (let d = 0; d < o.docsPerShard; d++) {
      const len = 5 + rng.int(30);
      const toks: number[] = [];
      let t = 2 + rng.int(V - 2);
      for (let i = 0; i < len; i++) {
        toks.push(t);
        t = rng.next() < 0.8 ? 2 + ((t - 2 + 1) % (V - 2)) : 2 + rng.int(V - 2);
      }
      toks.push(1);
      const src = o.sources ? o.sources[d % o.sources.length] : 'synthetic';
      w.add({ id: `s${s}-d${d}`, source: src, lang: 'en', tokens: Uint32Array.from(toks) });
    }
    all.push(...w.finish());
  }
  writeManifest(dir, buildManifest(TEST_TOKENIZER, all));
  return all;
}

// ------------------------------------------------------------------ fine-tuning shards

export const FT_COLUMNS = { sft: ['tokens', 'loss_mask'], dpo: ['prompt', 'chosen', 'rejected'] } as const;

/**
 * A fine-tuning folder (steel-sft-v1 / steel-dpo-v1) of `sizes` shards with rows of random lengths (3 to maxLen
 * tokens); the first token of a row (or of its prompt) is 1000 + its row number, so a served row names itself. With
 * `twoBatches` the first shard holds two record batches.
 */
export function makeFtShards(
  dir: string,
  task: 'sft' | 'dpo',
  sizes: number[],
  o: { twoBatches?: boolean; maxLen?: number } = {},
): FtManifest {
  const rng = new Rng(7);
  const maxLen = o.maxLen ?? 23;
  const list = (n: number, first?: number) => {
    const a = Uint32Array.from({ length: n }, () => Math.floor(rng.next() * 500));
    if (first !== undefined) a[0] = first;
    return a;
  };
  const meta = { 'steel.format': task === 'sft' ? SFT_FORMAT : DPO_FORMAT };
  const shards: FtManifest['shards'] = [];
  let row = 0;
  for (const [k, size] of sizes.entries()) {
    const rows: FtRow[] = [];
    for (let r = 0; r < size; r++, row++) {
      const len = 3 + Math.floor(rng.next() * (maxLen - 2));
      const lists: FtRow['lists'] =
        task === 'sft'
          ? { tokens: list(len, 1000 + row), loss_mask: Uint8Array.from({ length: len }, () => +(rng.next() < 0.5)) }
          : { prompt: list(len, 1000 + row), chosen: list(1 + (len % 5)), rejected: list(2 + (len % 3)) };
      rows.push({ id: `r${row}`, source: 's', lists });
    }
    const file = `shard-${String(k).padStart(5, '0')}.arrow`,
      path = join(dir, file);
    writeFtShard(path, rows, [...FT_COLUMNS[task]], meta);
    if (o.twoBatches && k === 0) {
      writeFtShard(path + '.a', rows.slice(0, size >> 1), [...FT_COLUMNS[task]], meta);
      writeFtShard(path + '.b', rows.slice(size >> 1), [...FT_COLUMNS[task]], meta);
      const [a, b] = [path + '.a', path + '.b'].map((p) => tableFromIPC(readFileSync(p)));
      writeFileSync(path, tableToIPC(new Table(a.schema, [...a.batches, ...b.batches]), 'file'));
      rmSync(path + '.a');
      rmSync(path + '.b');
    }
    const bytes = readFileSync(path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    shards.push({ file, sha256, bytes: bytes.length, rows: size, tokens: 0, supervised: 0 });
  }
  const m = {
    format: meta['steel.format'],
    cutoff: 64,
    system: '',
    shards,
    data_sha256: createHash('sha256')
      .update(shards.map((s) => s.sha256).join('\n'))
      .digest('hex'),
  } as unknown as FtManifest;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return m;
}

/** The loader before streaming (every row of every shard decoded into memory), kept here as the reference. */
export function inMemoryFtRows(dir: string, task: 'sft' | 'dpo'): Record<string, (Uint32Array | Uint8Array)[]> {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as FtManifest;
  const cols: Record<string, (Uint32Array | Uint8Array)[]> = {};
  for (const c of FT_COLUMNS[task]) cols[c] = [];
  for (const s of m.shards) {
    const t = tableFromIPC(readFileSync(join(dir, s.file)));
    for (const c of FT_COLUMNS[task])
      for (const d of t.getChild(c)!.data) {
        const vals = d.children[0].values as Uint32Array | Uint8Array;
        for (let i = 0; i < d.length; i++)
          cols[c].push(vals.subarray(d.valueOffsets[d.offset + i], d.valueOffsets[d.offset + i + 1]));
      }
  }
  return cols;
}
