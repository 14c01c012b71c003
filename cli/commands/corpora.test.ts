import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const STEEL = fileURLToPath(new URL('../steel.js', import.meta.url));
const steel = (...args: string[]) => spawnSync(process.execPath, [STEEL, ...args], { encoding: 'utf8' });

test('steel corpora lists every manifest (table and --json)', () => {
  const t = steel('corpora');
  assert.equal(t.status, 0, t.stderr);
  for (const n of ['skypile-150b', 'wanjuan-1.0-zh', 'zhihu-kol', 'starcoderdata', 'sample'])
    assert.match(t.stdout, new RegExp(`^${n.replace('.', '\\.')}\\s`, 'm'));
  assert.match(t.stdout, /hf:Skywork\/SkyPile-150B/);
  const j = steel('corpora', '--json');
  assert.equal(j.status, 0, j.stderr);
  const rows = JSON.parse(j.stdout) as { name: string; license: string; source: string; format: string }[];
  const zhihu = rows.find((r) => r.name === 'zhihu-kol');
  assert.ok(zhihu);
  assert.equal(zhihu.format, 'parquet');
  assert.equal(zhihu.source, 'hf:wangrui6/Zhihu-KOL');
});

test('steel corpora show NAME prints one manifest; unknown names fail clearly', () => {
  const s = steel('corpora', 'show', 'zhihu-kol');
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /min_upvotes: 100/);
  const js = steel('corpora', 'show', 'sample', '--json');
  assert.equal(js.status, 0, js.stderr);
  const m = JSON.parse(js.stdout) as { name: string; files: string[]; reader: { format: string } };
  assert.equal(m.name, 'sample');
  assert.ok(m.files.length >= 5);
  assert.equal(m.reader.format, 'jsonl');
  const bad = steel('corpora', 'show', 'no-such-corpus');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown corpus "no-such-corpus" \(known: .*zhihu-kol/);
  assert.equal(steel('corpora', '--help').status, 0);
});
