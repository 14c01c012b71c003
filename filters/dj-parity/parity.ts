/**
 * Parity harness: steel-text's operators against data-juicer's own operator code (dj_run.py).
 *
 *   npx tsx filters/dj-parity/parity.ts docs OUT.jsonl [--max-per-source N]   # build the document set
 *   python3 filters/dj-parity/dj_run.py --dj DJ_SRC --emoji EMOJI_SRC --in OUT.jsonl --out DJ.jsonl
 *   npx tsx filters/dj-parity/parity.ts compare DJ.jsonl [--show N] [--json REPORT.json]
 *
 * Documents (all real text found on this machine, none written for the test):
 *  - the bundled sample, corpora-manifests/sample/*.jsonl.zst (Debian reference zh-cn/zh-tw/en, man pages zh/en,
 *    fortunes zh/en);
 *  - HTML pages under /usr/share/doc (package documentation, raw HTML: the clean_html test);
 *  - plain-text documentation under /usr/share/doc (README*, *.txt, changelogs; .gz decompressed).
 *
 * compare: each of our mappers runs on data-juicer's input to that mapper (the text after data-juicer's previous
 * mapper), so every operator is judged on its own, without carrying an earlier difference forward; each filter's
 * statistic and keep/drop decision is computed on data-juicer's final text. Statistics must agree to 1e-9 (relative).
 */
import { createReadStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readSample } from '../harness.ts';
import { loadRecipe } from '../../pipeline/recipe.ts';
import { specs } from '../ops.ts';
import { firstViolation, type FilterSpec, type MapperSpec } from '../framework.ts';
import type { Document } from '../../pipeline/document.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};

/** data-juicer mapper/filter module -> our op name; filters also name data-juicer's statistic. */
const MAPPERS: [string, string][] = [
  ['chinese_convert_mapper', 'chinese_convert'],
  ['clean_email_mapper', 'clean_email'],
  ['clean_html_mapper', 'clean_html'],
  ['clean_ip_mapper', 'clean_ip'],
  ['clean_links_mapper', 'clean_links'],
  ['clean_copyright_mapper', 'clean_copyright'],
  ['expand_macro_mapper', 'expand_macro'],
  ['fix_unicode_mapper', 'fix_unicode'],
  ['punctuation_normalization_mapper', 'punctuation_normalization'],
  ['remove_repeat_sentences_mapper', 'remove_repeat_sentences'],
  ['remove_specific_chars_mapper', 'remove_specific_chars'],
  ['whitespace_normalization_mapper', 'whitespace_normalization'],
];
const FILTERS: [string, string, string][] = [
  ['alphanumeric_filter', 'alnum_ratio', 'alnum_ratio'],
  ['average_line_length_filter', 'avg_line_length', 'avg_line_length'],
  ['character_repetition_filter', 'char_repetition', 'char_rep_ratio'],
  ['maximum_line_length_filter', 'max_line_length', 'max_line_length'],
  ['special_characters_filter', 'special_char_ratio', 'special_char_ratio'],
  ['text_length_filter', 'text_length', 'text_len'],
  ['word_num_filter', 'word_count', 'num_words'],
  ['word_repetition_filter', 'word_repetition', 'word_rep_ratio'],
];

function* walk(dir: string): Generator<string> {
  let ents;
  try {
    ents = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

async function buildDocs(out: string, maxPerSource: number) {
  const lines: string[] = [];
  const add = (id: string, source: string, text: string) => lines.push(JSON.stringify({ id, source, text }));
  for (const s of await readSample()) for (const d of s.docs) add(d.id, s.file, d.text);
  let html = 0,
    plain = 0;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  for (const p of walk('/usr/share/doc')) {
    const isHtml = /\.html?(\.gz)?$/.test(p);
    const isText = /(\/README[^/]*|\.txt|\/changelog[^/]*|\/NEWS[^/]*)(\.gz)?$/i.test(p) && !isHtml;
    if (!isHtml && !isText) continue;
    if ((isHtml ? html : plain) >= maxPerSource || statSync(p).size > 300_000) continue;
    let buf = readFileSync(p);
    if (p.endsWith('.gz')) buf = gunzipSync(buf);
    let text: string;
    try {
      text = utf8.decode(buf);
    } catch {
      continue; // not UTF-8
    }
    if (!text.trim()) continue;
    add(p, isHtml ? 'usr-share-doc-html' : 'usr-share-doc-text', text);
    if (isHtml) html++;
    else plain++;
  }
  writeFileSync(out, lines.join('\n') + '\n');
  console.log(
    `${lines.length} documents (${html} HTML pages, ${plain} plain-text files from /usr/share/doc) -> ${out}`,
  );
}

interface DjRecord {
  id: string;
  input: string;
  after: Record<string, string>;
  stats: Record<string, number>;
  keep: Record<string, boolean>;
}

function firstDiff(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const ctx = (s: string) => JSON.stringify(s.slice(Math.max(0, i - 30), i + 40));
  return `at ${i}: data-juicer ${ctx(a)}\n      steel       ${ctx(b)}`;
}

async function compare(djFile: string, show: number, jsonOut: string | null) {
  const recipe = loadRecipe('steel-text');
  const params = new Map(recipe.steps.map((s) => [s.op, (s as { params?: unknown }).params ?? {}]));
  const rl = createInterface({ input: createReadStream(djFile, 'utf8'), crlfDelay: Infinity });
  let meta: unknown = null;
  let n = 0,
    bytes = 0;
  const diffs = new Map<string, number>();
  const examples = new Map<string, string[]>();
  const cpu = new Map<string, number>();
  const note = (op: string, msg: string) => {
    diffs.set(op, (diffs.get(op) ?? 0) + 1);
    const ex = examples.get(op) ?? [];
    if (ex.length < show) ex.push(msg);
    examples.set(op, ex);
  };
  for await (const line of rl) {
    if (!line) continue;
    const rec = JSON.parse(line);
    if (rec.meta) {
      meta = rec.meta;
      continue;
    }
    const r = rec as DjRecord;
    n++;
    bytes += Buffer.byteLength(r.input, 'utf8');
    let prev = r.input;
    for (const [dj, ours] of MAPPERS) {
      const want = r.after[dj];
      const spec = specs.get(ours) as MapperSpec;
      const p = spec.params.parse(params.get(ours) ?? {});
      const doc: Document = { id: r.id, text: prev, source: 'parity', meta: {} };
      const t0 = process.cpuUsage();
      const got = (meta as { skipped: string[] }).skipped.includes(dj) ? prev : spec.apply(prev, p, doc);
      const t = process.cpuUsage(t0);
      cpu.set(ours, (cpu.get(ours) ?? 0) + (t.user + t.system) / 1e6);
      if (got !== want) note(ours, `${r.id} ${firstDiff(want, got)}`);
      prev = want;
    }
    for (const [dj, ours, key] of FILTERS) {
      const spec = specs.get(ours) as FilterSpec;
      const p = spec.params.parse(params.get(ours) ?? {});
      const doc: Document = { id: r.id, text: prev, source: 'parity', meta: {} };
      const st = (await spec.compute(doc, p)) as Record<string, number>;
      const v = st[p.rule];
      const w = r.stats[key];
      const keep = !firstViolation(spec.rules(p), st, undefined);
      if (!(Math.abs(v - w) <= 1e-9 * Math.max(1, Math.abs(w))))
        note(ours, `${r.id} statistic ${key}: data-juicer ${w}, steel ${v}`);
      else if (keep !== r.keep[dj])
        note(ours, `${r.id} decision: data-juicer keep=${r.keep[dj]}, steel keep=${keep} (${key} ${w})`);
    }
  }
  console.log(`${n} documents (${(bytes / 1e6).toFixed(1)} MB) compared with data-juicer ${JSON.stringify(meta)}`);
  const rows: Record<string, { differing: number; cpuSec: number }> = {};
  for (const [, ours] of [...MAPPERS, ...FILTERS]) {
    const d = diffs.get(ours) ?? 0;
    rows[ours] = { differing: d, cpuSec: cpu.get(ours) ?? 0 };
    console.log(
      `${ours.padEnd(26)} ${String(d).padStart(5)} differing` +
        (cpu.has(ours) ? `   ${(bytes / 1e6 / (cpu.get(ours)! || 1e-9)).toFixed(1)} MB/CPU-s` : ''),
    );
    for (const e of examples.get(ours) ?? []) console.log('    ' + e);
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ documents: n, mb: bytes / 1e6, meta, ops: rows }, null, 1));
}

const cmd = args[0];
if (cmd === 'docs') await buildDocs(args[1], Number(opt('--max-per-source', '400')));
else if (cmd === 'compare')
  await compare(args[1], Number(opt('--show', '3')), args.includes('--json') ? opt('--json', '') : null);
else {
  console.error('usage: parity.ts docs OUT.jsonl [--max-per-source N] | compare DJ.jsonl [--show N] [--json FILE]');
  process.exit(2);
}
