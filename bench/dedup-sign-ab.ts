/**
 * Same-process A/B of the map sink's MinHash signing (dedup/stages/signatures.ts FileSigner, as dedup/ops.ts mapSink
 * drives it) between two checkouts, over a prep's map outputs held in memory (no reading metered), alternating the
 * order every round; also checks that both wrote the same sig/, sig/info/ and sig/lines/ files (one SHA-256 each).
 *
 *   npx tsx bench/dedup-sign-ab.ts --docs OUT/.state/p0-map/docs --a TREE_A --b TREE_B [--rounds 8]
 *
 * Prints per round the CPU-seconds (user + system of this process) of A and B, B/A, and the two digests.
 *
 *   npx tsx bench/dedup-sign-ab.ts --strings --a TREE_A --b TREE_B [--rounds 8]
 *
 * instead times dedup/runfile.ts RecordWriter alone: 4 files of 50,000 records with a string each (ids like the
 * sample's, a third of them Chinese), and checks that both trees wrote the same bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import type { Document } from '../pipeline/document.ts';

const { values } = parseArgs({
  options: {
    docs: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    rounds: { type: 'string', default: '8' },
    strings: { type: 'boolean', default: false },
  },
});
if (!values.a || !values.b || (!values.docs && !values.strings)) throw new Error('--a, --b and --docs (or --strings)');
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
if (values.strings) {
  type RF = typeof import('../dedup/runfile.ts');
  const ra: RF = await import(resolve(values.a, 'dedup/runfile.ts'));
  const rb: RF = await import(resolve(values.b, 'dedup/runfile.ts'));
  const ids: string[] = [];
  for (let i = 0; i < 50000; i++)
    ids.push(i % 3 ? `corpora-manifests/sample/manpages-zh-cn.jsonl.zst:${i}` : `手册页-${i}-x`);
  const rec = [1, 2];
  const pa = join(tmpdir(), `steel-strings-a-${process.pid}.bin`);
  const pb = join(tmpdir(), `steel-strings-b-${process.pid}.bin`);
  const write = (m: RF, p: string) => {
    const c0 = cpu();
    for (let k = 0; k < 4; k++) {
      const w = new m.RecordWriter(p, 2, true);
      for (const id of ids) w.write(rec, 0, id);
      w.close();
    }
    return cpu() - c0;
  };
  for (let r = 0; r < Number(values.rounds); r++) {
    const [a, b] = r % 2 === 0 ? [write(ra, pa), write(rb, pb)] : [write(rb, pb), write(ra, pa)].reverse();
    const same = readFileSync(pa).equals(readFileSync(pb));
    console.log(
      `round ${r} A ${a!.toFixed(3)} B ${b!.toFixed(3)} ratio ${(b! / a!).toFixed(3)}${same ? '' : ' DIFFER'}`,
    );
  }
  rmSync(pa, { force: true });
  rmSync(pb, { force: true });
  process.exit(0);
}
const DOCS = values.docs!;
const files = readdirSync(DOCS)
  .filter((f) => f.endsWith('.jsonl.zst'))
  .sort()
  .map((f) => join(DOCS, f));
type Tree = {
  sig: typeof import('../dedup/stages/signatures.ts');
  params: typeof import('../dedup/params.ts');
  run: typeof import('../dedup/run.ts');
};
const load = async (t: string): Promise<Tree> => ({
  sig: await import(resolve(t, 'dedup/stages/signatures.ts')),
  params: await import(resolve(t, 'dedup/params.ts')),
  run: await import(resolve(t, 'dedup/run.ts')),
});
const ta = await load(values.a);
const tb = await load(values.b);
const { readDocuments } = await import('../pipeline/readers/index.ts');
const docs: { doc: Document; line: number }[][] = [];
for (const f of files) {
  const l: { doc: Document; line: number }[] = [];
  for await (const { doc, line } of readDocuments(f, {})) l.push({ doc, line });
  docs.push(l);
}
async function once(t: Tree, work: string) {
  rmSync(work, { recursive: true, force: true });
  const p = t.params.minhashParams.parse({});
  const cfg = t.run.finishConfig(t.params.buildConfig('minhash', p, { inputs: files, workDir: work, outDir: work }), 1);
  const c0 = cpu();
  for (let fi = 0; fi < files.length; fi++) {
    const s = await t.sig.FileSigner.open(cfg, fi);
    for (const { doc, line } of docs[fi]!) s.add(doc, line);
    s.close();
  }
  const c = cpu() - c0;
  const h = createHash('sha256');
  for (const d of ['sig', 'sig/info', 'sig/lines'])
    for (const f of readdirSync(join(work, d))
      .filter((x) => x.endsWith('.bin'))
      .sort())
      h.update(readFileSync(join(work, d, f)));
  return { c, h: h.digest('hex').slice(0, 16) };
}
const wa = join(tmpdir(), `steel-sign-ab-a-${process.pid}`);
const wb = join(tmpdir(), `steel-sign-ab-b-${process.pid}`);
await once(ta, wa);
await once(tb, wb);
for (let r = 0; r < Number(values.rounds); r++) {
  const aFirst = r % 2 === 0;
  const x = aFirst ? await once(ta, wa) : await once(tb, wb);
  const y = aFirst ? await once(tb, wb) : await once(ta, wa);
  const [a, b] = aFirst ? [x, y] : [y, x];
  console.log(
    `round ${r} A ${a.c.toFixed(3)} B ${b.c.toFixed(3)} ratio ${(b.c / a.c).toFixed(3)} sha A ${a.h} B ${b.h}${a.h === b.h ? '' : ' DIFFER'}`,
  );
}
rmSync(wa, { recursive: true, force: true });
rmSync(wb, { recursive: true, force: true });
