import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, formatReport, renderHtml, niceTicks, fmtNum, downsample } from './report.ts';
import { readMetrics } from '../train/metrics.ts';
import { makeShards } from '../train/testutil.ts';
import { train } from '../train/trainer.ts';
import { getPreset } from '../train/config.ts';
import { main } from '../cli/main.ts';
import { openInChromium, type OpenedPage } from '../pipeline/browser-check.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

/** a real 6-step training run plus two eval rows of the kind in-loop evaluation writes. */
async function makeRun(root: string): Promise<string> {
  makeShards(join(root, 'data'), { shards: 1, docsPerShard: 10, seed: 4 });
  const p = getPreset('tiny');
  const run = join(root, 'run');
  await train({
    model: p.model,
    hyper: { ...p.train, logEvery: 1 },
    dataDir: join(root, 'data'),
    outDir: run,
    backend: 'cpu',
    steps: 6,
    quiet: true,
  });
  appendFileSync(
    join(run, 'metrics.jsonl'),
    [
      { step: 3, kind: 'eval', split: 'heldout', loss: 3.9, ppl: 49.4 },
      { step: 6, kind: 'eval', split: 'heldout', loss: 3.5, ppl: 33.1 },
    ]
      .map((r) => JSON.stringify(r) + '\n')
      .join(''),
  );
  return run;
}

test('report: summary of every metrics key, eval rows grouped with the training curve of the same name', async () => {
  const root = tmpDir('steel-report-');
  try {
    const run = await makeRun(root);
    const rows = readMetrics(join(run, 'metrics.jsonl'));
    const r = buildReport(run);
    assert.equal(r.rows, 8);
    assert.equal(r.lastStep, 6);
    assert.equal(r.model?.kind, 'steel');
    const losses = rows
      .filter((x) => x.values.loss !== undefined && !('eval/heldout/loss' in x.values))
      .map((x) => x.values.loss);
    const loss = r.summary.find((s) => s.name === 'loss')!;
    assert.equal(loss.points, 6);
    assert.equal(loss.first, losses[0]);
    assert.equal(loss.last, losses[5]);
    assert.equal(loss.min, Math.min(...losses));
    const ev = r.summary.find((s) => s.name === 'eval/heldout/loss')!;
    assert.deepEqual([ev.points, ev.first, ev.last, ev.minStep], [2, 3.9, 3.5, 6]);
    for (const k of ['lr', 'grad_norm', 'tokens_per_s', 'mfu', 'eval/heldout/ppl'])
      assert.ok(
        r.summary.some((s) => s.name === k),
        k,
      );
    assert.deepEqual(
      r.charts.slice(0, 5).map((c) => c.series),
      [['loss', 'eval/heldout/loss'], ['lr'], ['grad_norm'], ['tokens_per_s'], ['mfu']],
    );
    assert.deepEqual(r.charts.find((c) => c.series.includes('eval/heldout/ppl'))!.series, ['eval/heldout/ppl']);
    const txt = formatReport(r);
    assert.match(txt, /^step 6 of 100, 192 tokens, /m);
    assert.match(txt, new RegExp(`^eval/heldout/loss\\s+2\\s+3\\.9\\s+3\\.5\\s+3\\.5 \\(6\\)\\s+3\\.9 \\(3\\)$`, 'm'));
    // bad input names the file and line
    writeFileSync(join(root, 'bad.jsonl'), '{"step":1,"loss":2}\n{"step":2,"loss":\n{"step":3,"loss":1}\n');
    assert.throws(() => buildReport(join(root, 'bad.jsonl')), /bad\.jsonl:2: not JSON/);
    assert.throws(() => buildReport(join(root, 'data')), /no metrics\.jsonl/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("report: long curves are drawn from at most ~1,500 points that keep every bucket's extremes", () => {
  const n = 100_000,
    steps = Array.from({ length: n }, (_, i) => i + 1),
    values = steps.map((s) => Math.sin(s / 500) + (s === 77_777 ? 9 : 0));
  const d = downsample(steps, values);
  assert.ok(d.steps.length <= 1500 && d.steps.length > 1000, String(d.steps.length));
  assert.ok(
    d.steps.every((s, i) => i === 0 || s > d.steps[i - 1]),
    'steps stay in order',
  );
  assert.ok(d.steps.includes(77_777) && Math.max(...d.values) === Math.max(...values), 'a spike survives');
  assert.equal(Math.min(...d.values), Math.min(...values));
  assert.deepEqual(downsample([1, 2, 3], [3, 2, 1]), { steps: [1, 2, 3], values: [3, 2, 1] });
});

test('report: number formatting and axis ticks', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3.2, 4.9), [3.5, 4, 4.5]);
  assert.deepEqual(niceTicks(1, 1), [1]);
  assert.equal(fmtNum(0.00025), '2.50e-4');
  assert.equal(fmtNum(12345), '12,345');
  assert.equal(fmtNum(3.14159), '3.142');
});

test('steel report RUN --html --tensorboard: the HTML renders in headless Chromium with one chart per curve group', async (t) => {
  const root = tmpDir('steel-report-');
  let opened: OpenedPage | null = null;
  try {
    const run = await makeRun(root);
    const file = join(root, 'out', 'report.html');
    const log = console.log;
    let printed = '';
    console.log = (s: string) => {
      printed += s + '\n';
    };
    const origErr = console.error;
    console.error = () => {};
    let code: number;
    try {
      code = await main(['report', run, '--html', file, '--tensorboard', join(root, 'tb')]);
    } finally {
      console.log = log;
      console.error = origErr;
    }
    assert.equal(code, 0);
    assert.match(printed, /^loss\s+6\s/m);
    assert.equal(readdirSync(join(root, 'tb')).filter((n) => n.includes('tfevents')).length, 1);
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=["']?https?:/i, 'no external resources');
    assert.ok(existsSync(file));
    const r = buildReport(run);
    opened = await openInChromium(t, file, 'the run report');
    if (!opened) return;
    const { page, errors, requests } = opened;
    assert.equal(await page.title(), `steel report: ${run}`);
    assert.equal(await page.locator('svg.chart.line').count(), r.charts.length);
    // the loss chart: the training curve (6 points) and the eval curve (2 points), laid out at a real size
    const lossChart = page.locator('#chart-0');
    const box = await lossChart.boundingBox();
    assert.ok(box && box.width > 300 && box.height > 150, JSON.stringify(box));
    assert.deepEqual(
      await lossChart.locator('polyline.series').evaluateAll((els) => els.map((e) => e.getAttribute('data-name'))),
      ['loss', 'eval/heldout/loss'],
    );
    const pointsOf = async (i: number) =>
      ((await lossChart.locator('polyline.series').nth(i).getAttribute('points')) ?? '')
        .trim()
        .split(/\s+/)
        .map((q) => q.split(',').map(Number));
    assert.equal((await pointsOf(0)).length, 6);
    // higher values are drawn higher (smaller y): the eval points at step 3 (3.9) and 6 (3.5)
    const evalYs = (await pointsOf(1)).map((q) => q[1]);
    assert.ok(evalYs[0] < evalYs[1], JSON.stringify(evalYs));
    assert.match(await lossChart.innerHTML(), /eval\/heldout\/loss/);
    assert.match(await page.locator('#metrics').innerText(), /grad_norm/);
    const data = JSON.parse((await page.locator('#report-data').textContent()) ?? '{}');
    assert.equal(data.lastStep, 6);
    if (process.env.STEEL_SCREENSHOT) await page.screenshot({ path: process.env.STEEL_SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
  } finally {
    await opened?.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('report HTML escapes metric names (no markup injection through metrics.jsonl keys)', () => {
  const root = tmpDir('steel-report-');
  try {
    writeFileSync(join(root, 'metrics.jsonl'), '{"step":1,"<b>x</b>":1}\n{"step":2,"<b>x</b>":2}\n');
    const html = renderHtml(buildReport(join(root, 'metrics.jsonl')));
    assert.doesNotMatch(html, /<b>x<\/b>/);
    assert.match(html, /&lt;b&gt;x&lt;\/b&gt;/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
