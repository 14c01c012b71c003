/**
 * Language ID, old against new (issue 21): child processes that alternate between this checkout and another one
 * (--other DIR, e.g. a worktree of the commit before a change); each loads lid.176 (filters/fasttext.ts) and runs
 * `identify` (filters/lid.ts, as zh-web's lang_id: 3 windows of 300 characters) once over every document of the
 * bundled sample, as a prep process meets them: a fresh process, model and token cache. Prints per run the CPU-seconds
 * (process.cpuUsage) of the load and of the pass, and a SHA-256 of every result, which must be equal.
 *
 *   npx tsx bench/lid-ab.ts --other DIR [--pairs 8]
 * (internal: --child ROOT runs one measurement with ROOT's filters and prints a JSON line)
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { other: { type: 'string' }, pairs: { type: 'string', default: '8' }, child: { type: 'string' } },
});
const HERE = fileURLToPath(new URL('..', import.meta.url));
const imp = (root: string, p: string) => import(pathToFileURL(resolve(root, p)).href);

interface Result {
  load: number;
  identify: number;
  sha: string;
}

if (values.child) {
  const root = values.child;
  const { loadFastText } = await imp(root, 'filters/fasttext.ts');
  const { identify, LID_MODEL_PATH } = await imp(root, 'filters/lid.ts');
  const { readSample } = await imp(HERE, 'filters/harness.ts');
  const docs: string[] = [];
  for (const s of await readSample()) for (const d of s.docs as { text: string }[]) docs.push(d.text);
  const opts = { windows: 3, width: 300, detectCode: true, codeLineRatio: 0.6 };
  const cpu = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1e6;
  };
  const c0 = cpu();
  const model = loadFastText(LID_MODEL_PATH);
  const c1 = cpu();
  const out = docs.map((d) => identify(model, d, opts));
  const c2 = cpu();
  const sha = createHash('sha256').update(JSON.stringify(out)).digest('hex').slice(0, 16);
  console.log(JSON.stringify({ load: c1 - c0, identify: c2 - c1, sha } satisfies Result));
} else {
  if (!values.other) throw new Error('usage: --other DIR [--pairs N]');
  const roots = { old: resolve(values.other), new: HERE };
  const runs: Record<string, Result[]> = { old: [], new: [] };
  for (let r = 0; r < Number(values.pairs); r++)
    for (const k of (r % 2 ? ['new', 'old'] : ['old', 'new']) as ('old' | 'new')[]) {
      const p = spawnSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), '--child', roots[k]],
        {
          encoding: 'utf8',
        },
      );
      if (p.status !== 0) throw new Error(p.stderr);
      const res = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as Result;
      runs[k].push(res);
      const load = loadavg()[0].toFixed(1);
      console.log(
        `${k} load ${res.load.toFixed(3)} identify ${res.identify.toFixed(3)} CPU-s  sha ${res.sha}  load ${load}`,
      );
    }
  const shas = new Set([...runs.old, ...runs.new].map((r) => r.sha));
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
  };
  const m = (k: string, f: keyof Result) => med(runs[k].map((r) => r[f] as number)).toFixed(3);
  console.log(shas.size === 1 ? 'results identical' : 'RESULTS DIFFER');
  console.log(
    `median CPU-s: load ${m('old', 'load')} -> ${m('new', 'load')}, identify ${m('old', 'identify')} -> ${m('new', 'identify')}`,
  );
  if (shas.size !== 1) process.exit(1);
}
