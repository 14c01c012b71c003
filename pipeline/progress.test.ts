import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtBar, fmtBytes, fmtCount, fmtDuration, Progress } from './progress.ts';

function fakeStream(tty: boolean) {
  const out: string[] = [];
  return {
    out,
    stream: { isTTY: tty, columns: 200, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream,
  };
}

test('progress: one-line logs when not a terminal, final line on stop', () => {
  const { out, stream } = fakeStream(false);
  const p = new Progress('p0-map', 4, { stream, unit: 'bytes', quiet: false, logIntervalMs: 3_600_000 });
  p.update(0, 1 << 20, 4 << 20);
  p.update(1, 3 << 20, 4 << 20);
  p.taskFinished(1);
  p.render();
  p.log('[p0-map 1/4] hello');
  p.stop();
  // only 2 of 4 tasks have reported their size: no overall total yet
  // no " / TOTAL" yet; the rate "(x/s)" only appears once some time has elapsed, so it is optional here
  assert.match(out[0], /^\[progress\] p0-map: tasks 1\/4 \| 5\.0 MiB( \(| \|)/);
  assert.equal(out[1], '[p0-map 1/4] hello\n');
  assert.match(out[2], /^\[progress\] p0-map: tasks 1\/4/);
  p.update(2, 0, 1 << 20);
  p.update(3, 0, 1 << 20);
  assert.match(p.line(), /tasks 1\/4 \| 5\.0 MiB \/ 10\.0 MiB/);
  assert.ok(out.every((l) => !l.includes('\r')));
});

test('progress: a redrawn bar on a terminal', () => {
  const { out, stream } = fakeStream(true);
  const prev = process.env.STEEL_PROGRESS;
  delete process.env.STEEL_PROGRESS;
  const p = new Progress('dedup', 2, { stream, quiet: false, unit: 'docs' });
  p.update(0, 50, 100);
  p.update(1, 0, 100);
  p.render();
  p.stop();
  if (prev !== undefined) process.env.STEEL_PROGRESS = prev;
  assert.match(out[0], /^\r\[######------------------\]  25% dedup: tasks 0\/2 \| 50 \/ 200 docs/);
  assert.equal(out[out.length - 1], '\n');
});

test('progress: silent when quiet', () => {
  const { out, stream } = fakeStream(false);
  const p = new Progress('x', 1, { stream, quiet: true });
  p.update(0, 1, 1);
  p.render();
  p.log('nothing');
  p.stop();
  assert.deepEqual(out, []);
});

test('formats: numbers rounded, with units', () => {
  assert.deepEqual([512, 1536, 12.34 * 2 ** 20, 4.567 * 2 ** 30, 1.2 * 2 ** 40].map(fmtBytes), [
    '512 B',
    '1.5 KiB',
    '12.3 MiB',
    '4.57 GiB',
    '1.20 TiB',
  ]);
  assert.deepEqual([950, 12_345, 4_560_000, 1.234e9].map(fmtCount), ['950', '12.3k', '4.56M', '1.23G']);
  assert.deepEqual([4.24, 42.4, 185, 7620, Infinity].map(fmtDuration), ['4.2s', '42s', '3m05s', '2h07m', '?']);
  assert.equal(fmtBar(0.25, 8), '[##------]');
});
