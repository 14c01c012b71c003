/**
 * Memory of the fine-tuning data loader: peak RSS and CPU-seconds of one epoch of SFT steps (Steel's batch of 256 rows,
 * micro-batches of 16 packed as `steel sft` packs them) read by the streaming loader (train/finetune.ts FtData:
 * positioned reads of each row) and by the loader it replaced (every row of every shard decoded into memory,
 * train/testutil.ts inMemoryFtRows), each in its own process. Both must serve the same micro-batches (checked by a
 * sha256 over every packed micro-batch).
 *
 * Usage: node --import tsx bench/finetune-data.ts [--rows 60000] [--max-len 1024] [--shard-rows 20000] [--dir DIR]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type DataPos, FtData, packRows, takeRows } from '../train/finetune.ts';
import { inMemoryFtRows, makeFtShards } from '../train/testutil.ts';

const { values: v } = parseArgs({
  options: {
    rows: { type: 'string', default: '60000' },
    'max-len': { type: 'string', default: '1024' },
    'shard-rows': { type: 'string', default: '20000' },
    dir: { type: 'string' },
    child: { type: 'string' },
  },
});
const BATCH = 256,
  MICRO = 16,
  SEED = 42;

/** One epoch of steps; returns the sha256 of every packed micro-batch and the tokens served. */
function epoch(n: number, row: (i: number) => { ids: Uint32Array; sup: Uint8Array }) {
  const h = createHash('sha256');
  const pos: DataPos = { epoch: 0, cursor: 0 };
  const cache = { epoch: -1, order: null as Int32Array | null };
  let tokens = 0;
  while (pos.epoch === 0) {
    const rows = takeRows(pos, n, SEED, Math.min(BATCH, n - pos.cursor), cache).map(row);
    for (let s = 0; s < rows.length; s += MICRO) {
      const m = packRows(rows.slice(s, s + MICRO), (raw) => raw, 0);
      h.update(new Uint8Array(m.tokens.buffer)).update(new Uint8Array(m.weightsMask.buffer));
      tokens += m.B * (m.T + 1);
    }
  }
  return { sha256: h.digest('hex'), tokens };
}

if (v.child) {
  const dir = v.dir!;
  const c0 = process.cpuUsage();
  let r;
  if (v.child === 'in-memory') {
    const cols = inMemoryFtRows(dir, 'sft');
    r = epoch(cols.tokens.length, (i) => ({
      ids: cols.tokens[i] as Uint32Array,
      sup: cols.loss_mask[i] as Uint8Array,
    }));
  } else {
    const data = await FtData.open(dir, 'sft');
    r = epoch(data.n, (i) => data.sft(i));
    data.close();
  }
  const c = process.cpuUsage(c0);
  const out = { ...r, maxRssMiB: process.resourceUsage().maxRSS / 1024, cpuS: (c.user + c.system) / 1e6 };
  process.stdout.write(JSON.stringify(out) + '\n');
} else {
  const dir = v.dir ?? mkdtempSync(join(tmpdir(), 'steel-ftbench-'));
  const rows = Number(v.rows),
    per = Number(v['shard-rows']);
  if (!existsSync(join(dir, 'manifest.json'))) {
    mkdirSync(dir, { recursive: true });
    const sizes = Array.from({ length: Math.ceil(rows / per) }, (_, k) => Math.min(per, rows - k * per));
    makeFtShards(dir, 'sft', sizes, { maxLen: Number(v['max-len']) });
  }
  const m = (await FtData.open(dir, 'sft')).manifest;
  const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
  console.log(`fixture ${dir}: ${rows} SFT rows, ${m.shards.length} shards, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  const res: Record<string, { sha256: string; tokens: number; maxRssMiB: number; cpuS: number }> = {};
  for (const which of ['in-memory', 'streaming']) {
    const p = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--child', which, '--dir', dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (p.status !== 0) throw new Error(`${which}: ${p.stderr}`);
    res[which] = JSON.parse(p.stdout.trim().split('\n').pop()!);
    const r = res[which];
    console.log(
      `${which.padEnd(10)} peak RSS ${r.maxRssMiB.toFixed(0)} MiB, ${r.cpuS.toFixed(2)} CPU-s for one epoch ` +
        `(${r.tokens} packed tokens), batches sha256 ${r.sha256.slice(0, 16)}…`,
    );
  }
  if (res['in-memory'].sha256 !== res.streaming.sha256) throw new Error('the two loaders served different batches');
  console.log('same micro-batches: yes');
  if (!v.dir) rmSync(dir, { recursive: true, force: true });
}
