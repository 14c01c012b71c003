/** Test helpers: synthetic token shards in the steel-shards-v1 format. */
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
