/**
 * `steel inspect DIR`: what is in a prep output folder (OUT/stats.json, OUT/docs/, OUT/shards/) or a shard folder.
 * Documents, characters and tokens per source and language, length histograms (characters and tokens), characters
 * per token, the most frequent tokens, duplicate-cluster sizes (meta.dup_cluster_size) and the pipeline's per-rule
 * drop counts. Rendered as text tables, JSON, or a self-contained HTML page with inline SVG charts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readDocuments } from '../pipeline/readers/index.ts';
import { textLength } from '../pipeline/document.ts';
import { charsPerToken, iterShardBatches, readManifest, type Manifest, type TokenizerInfo } from './shards.ts';
import type { ByteBpe } from './bytebpe.ts';

export interface Row {
  name: string;
  documents: number;
  chars?: number;
  tokens?: number;
  /** Characters per token, the appended eos not counted. */
  charsPerToken?: number;
}

export interface Histogram {
  /** Bin i holds values in [edges[i], edges[i+1]); the last bin is open-ended. */
  edges: number[];
  counts: number[];
  total: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface TopToken {
  id: number;
  count: number;
  share: number;
  piece: string;
  text: string;
}

export interface InspectReport {
  dir: string;
  kind: 'prep' | 'shards';
  generated: string;
  docsDir?: string;
  shardsDir?: string;
  tokenizer?: TokenizerInfo;
  totals: {
    documents: number;
    chars?: number;
    tokens?: number;
    charsPerToken?: number;
    shards?: number;
    shardBytes?: number;
  };
  bySource: Row[];
  byLang: Row[];
  histograms: { chars?: Histogram; tokens?: Histogram };
  topTokens?: TopToken[];
  dupClusters?: { documentsWithField: number; clusters: { size: number; count: number }[]; duplicatesRemoved: number };
  drops?: {
    read?: number;
    kept?: number;
    dropped?: number;
    rejected?: number;
    byRule: { rule: string; documents: number }[];
    recipe?: string;
  };
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------------

const HIST_EDGES = [
  0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288,
  1048576,
];

class HistBuilder {
  counts = new Array(HIST_EDGES.length).fill(0);
  values: number[] = [];
  sum = 0;
  add(v: number): void {
    let i = HIST_EDGES.length - 1;
    while (i > 0 && v < HIST_EDGES[i]) i--;
    this.counts[i]++;
    this.values.push(v);
    this.sum += v;
  }
  build(): Histogram | undefined {
    const n = this.values.length;
    if (!n) return undefined;
    const sorted = Float64Array.from(this.values).sort();
    let last = this.counts.length - 1;
    while (last > 0 && this.counts[last] === 0) last--;
    let first = 0;
    while (first < last && this.counts[first] === 0) first++;
    const q = (p: number) => sorted[Math.min(n - 1, Math.floor(p * n))];
    return {
      edges: HIST_EDGES.slice(first, last + 2 <= HIST_EDGES.length ? last + 2 : undefined),
      counts: this.counts.slice(first, last + 1),
      total: n,
      min: sorted[0],
      max: sorted[n - 1],
      mean: this.sum / n,
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
    };
  }
}

interface Acc {
  documents: number;
  chars: number;
  tokens: number;
}
const acc = (m: Map<string, Acc>, k: string) => {
  let a = m.get(k);
  if (!a) m.set(k, (a = { documents: 0, chars: 0, tokens: 0 }));
  return a;
};

export interface InspectOptions {
  /** Most frequent tokens to list (default 30). */
  topTokens?: number;
  /** Shards-only folders: decode up to this many documents to estimate characters (default 2000). */
  decodeSample?: number;
  log?: (m: string) => void;
}

function docFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.jsonl(\.zst|\.gz)?$/.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
}

/** What a folder is: a shard folder (manifest.json) or a prep output folder (stats.json, docs/, shards/). */
function folderLayout(
  dir: string,
  dirIn: string,
  notes: string[],
): { kind: 'prep' | 'shards'; docsDir?: string; shardsDir?: string } {
  if (existsSync(join(dir, 'manifest.json'))) return { kind: 'shards', shardsDir: dir };
  if (!existsSync(join(dir, 'stats.json')) && !existsSync(join(dir, 'docs')))
    throw new Error(`${dirIn}: neither a prep output folder (stats.json, docs/) nor a shard folder (manifest.json)`);
  const out: { kind: 'prep'; docsDir?: string; shardsDir?: string } = { kind: 'prep' };
  if (existsSync(join(dir, 'docs'))) out.docsDir = join(dir, 'docs');
  if (existsSync(join(dir, 'shards', 'manifest.json'))) out.shardsDir = join(dir, 'shards');
  else if (existsSync(join(dir, 'shards')))
    notes.push('OUT/shards/ has no manifest.json (tokenization unfinished?): tokens not reported');
  else notes.push('no OUT/shards/ (the recipe has no tokenize step): tokens not reported');
  return out;
}

/** Counts per source and language, and the length histograms, filled by the documents and shard passes. */
interface Tally {
  src: Map<string, Acc>;
  lng: Map<string, Acc>;
  charH: HistBuilder;
  tokH: HistBuilder;
}

/** The documents pass: characters per source / language, the character histogram, duplicate-cluster sizes. */
async function scanDocs(
  docsDir: string,
  t: Tally,
  log?: (m: string) => void,
): Promise<{ docCount: number; clusters: Map<number, number>; withCluster: number }> {
  const clusters = new Map<number, number>();
  let withCluster = 0;
  let docCount = 0;
  const files = docFilesIn(docsDir);
  for (const f of files) {
    for await (const { doc: d } of readDocuments(f)) {
      docCount++;
      const n = textLength(d.text);
      t.charH.add(n);
      const a = acc(t.src, d.source),
        b = acc(t.lng, d.lang ?? 'unknown');
      a.documents++;
      a.chars += n;
      b.documents++;
      b.chars += n;
      const cs = (d.meta as Record<string, unknown>).dup_cluster_size;
      if (typeof cs === 'number' && cs >= 1) {
        withCluster++;
        clusters.set(cs, (clusters.get(cs) ?? 0) + 1);
      }
    }
  }
  log?.(`[inspect] ${docCount} documents in ${files.length} file(s)`);
  return { docCount, clusters, withCluster };
}

interface DecodeItem {
  tokens: Uint32Array;
  source: string;
  lang: string;
}

/**
 * The shards pass: tokens per source / language, the token histogram, every token's count, and (when there is no
 * docs/ folder, so documents are counted here) an evenly spread sample of documents to decode for characters.
 */
async function scanShards(
  shardsDir: string,
  manifest: Manifest,
  t: Tally,
  countDocs: boolean,
  sampleMax: number,
): Promise<{ shardDocs: number; tokenCounts: Float64Array; decodeSample: DecodeItem[] }> {
  let tokenCounts = new Float64Array(Math.max(manifest.tokenizer.vocab_size, 1));
  const decodeSample: DecodeItem[] = [];
  let shardDocs = 0;
  for (const s of manifest.shards) {
    for await (const b of iterShardBatches(join(shardsDir, s.file), { withMeta: true })) {
      for (let i = 0; i < b.numDocs; i++) {
        const len = b.docOffsets[i + 1] - b.docOffsets[i];
        t.tokH.add(len);
        const source = b.sources![i],
          lang = b.langs![i] ?? 'unknown';
        const a = acc(t.src, source),
          c = acc(t.lng, lang);
        a.tokens += len;
        c.tokens += len;
        if (countDocs) {
          a.documents++;
          c.documents++;
        }
        if (
          countDocs &&
          decodeSample.length < sampleMax &&
          shardDocs % Math.max(1, Math.ceil(manifest.totals.documents / sampleMax)) === 0
        ) {
          decodeSample.push({ tokens: b.tokens.slice(b.docOffsets[i], b.docOffsets[i + 1]), source, lang });
        }
        shardDocs++;
      }
      const tk = b.tokens;
      for (let i = 0; i < tk.length; i++) {
        const id = tk[i];
        if (id >= tokenCounts.length) {
          const bigger = new Float64Array(id + 1);
          bigger.set(tokenCounts);
          tokenCounts = bigger;
        }
        tokenCounts[id]++;
      }
    }
  }
  return { shardDocs, tokenCounts, decodeSample };
}

/** The shards' tokenizer (the manifest's build.tokenizer, or the bundled Qwen files), matched by sha256. */
async function shardTokenizer(manifest: Manifest, notes: string[]): Promise<ByteBpe | undefined> {
  try {
    const { loadTokenizer } = await import('./encode.ts');
    const built = manifest.build?.tokenizer;
    const candidates = [typeof built === 'string' ? built : undefined, 'qwen', 'qwen3'].filter(
      (x): x is string => !!x && (x === 'qwen' || x === 'qwen3' || existsSync(x)),
    );
    for (const c of candidates) {
      const t = loadTokenizer(c);
      if (t.info.sha256 === manifest.tokenizer.sha256) return t.tok;
    }
    notes.push(
      'tokenizer of the shards not found (sha256 matches neither manifest build.tokenizer nor the bundled Qwen): tokens shown as ids',
    );
  } catch (e) {
    notes.push(`tokenizer not loadable: ${(e as Error).message}`);
  }
  return undefined;
}

/**
 * Characters of a shards-only folder: the sample is decoded (eos dropped) into the character histogram, and each
 * source's and language's characters are its text tokens times the sample's characters per token (its own where the
 * sample has it, else the sample's overall ratio).
 */
function estimateChars(sample: DecodeItem[], tok: ByteBpe, eos: number, t: Tally): void {
  let chars = 0,
    toks = 0;
  const perSrc = new Map<string, { c: number; t: number }>();
  const perLang = new Map<string, { c: number; t: number }>();
  for (const d of sample) {
    const ids = Array.from(
      d.tokens[d.tokens.length - 1] === eos ? d.tokens.subarray(0, d.tokens.length - 1) : d.tokens,
    );
    const n = textLength(tok.decode(ids, false));
    t.charH.add(n);
    chars += n;
    toks += ids.length;
    for (const [m, k] of [
      [perSrc, d.source],
      [perLang, d.lang],
    ] as const) {
      const x = m.get(k) ?? { c: 0, t: 0 };
      x.c += n;
      x.t += ids.length;
      m.set(k, x);
    }
  }
  const cpt = chars / Math.max(1, toks);
  for (const [rowsOf, per] of [
    [t.src, perSrc],
    [t.lng, perLang],
  ] as const)
    for (const [k, a] of rowsOf) {
      const x = per.get(k);
      a.chars = Math.round((a.tokens - a.documents) * (x ? x.c / Math.max(1, x.t) : cpt));
    }
}

/** The n most frequent tokens (ties: lower id), with their pieces and decoded text when the tokenizer is known. */
function topTokenList(counts: Float64Array, total: number, n: number, tok: ByteBpe | undefined): TopToken[] {
  const ids = Array.from(counts.keys()).filter((i) => counts[i] > 0);
  ids.sort((a, b) => counts[b] - counts[a] || a - b);
  return ids.slice(0, n).map((id) => ({
    id,
    count: counts[id],
    share: counts[id] / Math.max(1, total),
    piece: tok?.idToToken(id) ?? String(id),
    text: tok ? tok.decode([id], false) : String(id),
  }));
}

/** The pipeline's drop counts from OUT/stats.json (a note when it cannot be read). */
function readDrops(dir: string, notes: string[]): InspectReport['drops'] {
  try {
    const st = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8'));
    const byRule = Object.entries((st.dropped_by_rule ?? {}) as Record<string, number>)
      .map(([rule, documents]) => ({ rule, documents }))
      .sort((a, b) => b.documents - a.documents);
    return { read: st.read, kept: st.kept, dropped: st.dropped, rejected: st.rejected, byRule, recipe: st.recipe };
  } catch (e) {
    notes.push(`${join(dir, 'stats.json')}: unreadable (${(e as Error).message})`);
    return undefined;
  }
}

/** Table rows of a tally map, largest first (by tokens, else characters, else documents). */
function tallyRows(m: Map<string, Acc>, haveChars: boolean, haveTokens: boolean): Row[] {
  return [...m]
    .map(([name, a]) => {
      const r: Row = { name, documents: a.documents };
      if (haveChars) r.chars = a.chars;
      if (haveTokens) r.tokens = a.tokens;
      if (haveChars && haveTokens) r.charsPerToken = charsPerToken(a.chars, a.tokens, a.documents);
      return r;
    })
    .sort((x, y) => (y.tokens ?? y.chars ?? y.documents) - (x.tokens ?? x.chars ?? x.documents));
}

export async function inspectDir(dirIn: string, o: InspectOptions = {}): Promise<InspectReport> {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dirIn}: not a folder`);
  const notes: string[] = [];
  const { kind, docsDir, shardsDir } = folderLayout(dir, dirIn, notes);
  const report: InspectReport = {
    dir,
    kind,
    generated: new Date().toISOString(),
    totals: { documents: 0 },
    bySource: [],
    byLang: [],
    histograms: {},
    notes,
  };
  if (docsDir) report.docsDir = docsDir;
  if (shardsDir) report.shardsDir = shardsDir;
  const t: Tally = { src: new Map(), lng: new Map(), charH: new HistBuilder(), tokH: new HistBuilder() };

  const docs = docsDir ? await scanDocs(docsDir, t, o.log) : undefined;
  let docCount = docs?.docCount ?? 0;
  let manifest: Manifest | undefined;
  let shards: Awaited<ReturnType<typeof scanShards>> | undefined;
  if (shardsDir) {
    manifest = readManifest(shardsDir);
    report.tokenizer = manifest.tokenizer;
    shards = await scanShards(shardsDir, manifest, t, !docsDir, o.decodeSample ?? 2000);
    if (docsDir && shards.shardDocs !== docCount)
      notes.push(
        `shards hold ${shards.shardDocs} documents, docs/ holds ${docCount}: the shards are from another run?`,
      );
    if (!docsDir) docCount = shards.shardDocs;
    report.totals.shards = manifest.shards.length;
    report.totals.shardBytes = manifest.shards.reduce((x, s) => x + s.bytes, 0);
    o.log?.(
      `[inspect] ${shards.shardDocs} documents, ${manifest.totals.tokens} tokens in ${manifest.shards.length} shard(s)`,
    );
  }
  const tok = manifest ? await shardTokenizer(manifest, notes) : undefined;
  let haveChars = !!docsDir;
  const haveTokens = !!shardsDir;
  if (!docsDir && tok && shards?.decodeSample.length) {
    estimateChars(shards.decodeSample, tok, manifest!.tokenizer.eos_id, t);
    haveChars = true;
    notes.push(`characters estimated by decoding a sample of ${shards.decodeSample.length} of ${docCount} documents`);
  }

  report.bySource = tallyRows(t.src, haveChars, haveTokens);
  report.byLang = tallyRows(t.lng, haveChars, haveTokens);
  report.totals.documents = docCount;
  if (haveChars) report.totals.chars = report.bySource.reduce((x, r) => x + (r.chars ?? 0), 0);
  if (haveTokens) report.totals.tokens = manifest!.totals.tokens;
  if (haveChars && haveTokens)
    report.totals.charsPerToken = charsPerToken(report.totals.chars!, report.totals.tokens!, docCount);
  const ch = t.charH.build();
  if (ch) report.histograms.chars = ch;
  const th = t.tokH.build();
  if (th) report.histograms.tokens = th;
  if (shards && manifest)
    report.topTokens = topTokenList(shards.tokenCounts, manifest.totals.tokens, o.topTokens ?? 30, tok);

  if (docs?.withCluster) {
    const cl = [...docs.clusters].map(([size, count]) => ({ size, count })).sort((a, b) => a.size - b.size);
    report.dupClusters = {
      documentsWithField: docs.withCluster,
      clusters: cl,
      duplicatesRemoved: cl.reduce((x, c) => x + (c.size - 1) * c.count, 0),
    };
  } else if (docsDir) notes.push('no meta.dup_cluster_size in the documents (no dedup step in the recipe?)');

  if (kind === 'prep' && existsSync(join(dir, 'stats.json'))) {
    const drops = readDrops(dir, notes);
    if (drops) report.drops = drops;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// Text tables

function fmtInt(n: number | undefined): string {
  return n === undefined ? '-' : Math.round(n).toLocaleString('en-US');
}
function fmtF(n: number | undefined, d = 2): string {
  return n === undefined ? '-' : n.toFixed(d);
}
function table(head: string[], rows: string[][], alignLeft = 1, leftCols: number[] = []): string {
  const w = head.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i]))));
  const pad = (s: string, i: number) =>
    i < alignLeft || leftCols.includes(i)
      ? s + ' '.repeat(w[i] - displayWidth(s))
      : ' '.repeat(w[i] - displayWidth(s)) + s;
  return [
    head.map(pad).join('  '),
    w.map((x) => '-'.repeat(x)).join('  '),
    ...rows.map((r) => r.map(pad).join('  ')),
  ].join('\n');
}
/** Terminal columns of a string (CJK and emoji count 2). */
function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w +=
      c >= 0x1100 &&
      (c <= 0x115f ||
        (c >= 0x2e80 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) ||
        (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) ||
        (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) ||
        (c >= 0x1f300 && c <= 0x1faff) ||
        (c >= 0x20000 && c <= 0x3fffd))
        ? 2
        : 1;
  }
  return w;
}
export function histLabel(h: Histogram, i: number): string {
  const lo = h.edges[i],
    hi = h.edges[i + 1];
  if (hi === undefined) return `>= ${fmtInt(lo)}`;
  if (hi - lo === 1) return fmtInt(lo);
  return `${fmtInt(lo)}-${fmtInt(hi - 1)}`;
}
export function showToken(t: TopToken): string {
  return JSON.stringify(t.text);
}

export function formatReport(r: InspectReport): string {
  const out: string[] = [];
  out.push(`${r.kind === 'prep' ? 'prep output' : 'shard folder'} ${r.dir}`);
  const t = r.totals;
  out.push(
    `documents ${fmtInt(t.documents)}  characters ${fmtInt(t.chars)}  tokens ${fmtInt(t.tokens)}  chars/token ${fmtF(t.charsPerToken, 3)}` +
      (t.shards !== undefined ? `  shards ${t.shards} (${fmtInt(t.shardBytes)} bytes)` : ''),
  );
  if (r.tokenizer)
    out.push(
      `tokenizer ${r.tokenizer.name} (sha256 ${r.tokenizer.sha256.slice(0, 12)}…, vocab ${r.tokenizer.vocab_size}, eos ${r.tokenizer.eos_id})`,
    );
  const rowTable = (title: string, rows: Row[]) => {
    out.push('', title);
    out.push(
      table(
        [title.split(' ').pop()!, 'docs', 'chars', 'tokens', 'chars/token', '% tokens'],
        rows.map((x) => [
          x.name,
          fmtInt(x.documents),
          fmtInt(x.chars),
          fmtInt(x.tokens),
          fmtF(x.charsPerToken, 3),
          x.tokens !== undefined && t.tokens ? `${((100 * x.tokens) / t.tokens).toFixed(1)}%` : '-',
        ]),
      ),
    );
  };
  rowTable('per source', r.bySource);
  rowTable('per lang', r.byLang);
  for (const [name, h] of Object.entries(r.histograms) as [string, Histogram][]) {
    out.push(
      '',
      `document length (${name}): mean ${fmtF(h.mean, 1)}, median ${fmtInt(h.p50)}, p90 ${fmtInt(h.p90)}, p99 ${fmtInt(h.p99)}, max ${fmtInt(h.max)}`,
    );
    const maxC = Math.max(...h.counts);
    out.push(
      table(
        [name, 'docs', ''],
        h.counts.map((c, i) => [histLabel(h, i), fmtInt(c), '#'.repeat(Math.round((30 * c) / maxC))]),
        1,
        [2],
      ),
    );
  }
  if (r.topTokens?.length) {
    out.push('', 'most frequent tokens');
    out.push(
      table(
        ['rank', 'id', 'token', 'count', 'share'],
        r.topTokens.map((x, i) => [
          String(i + 1),
          String(x.id),
          showToken(x),
          fmtInt(x.count),
          `${(100 * x.share).toFixed(2)}%`,
        ]),
        0,
      ),
    );
  }
  if (r.dupClusters) {
    out.push(
      '',
      `duplicate clusters (meta.dup_cluster_size on ${fmtInt(r.dupClusters.documentsWithField)} kept documents; ${fmtInt(r.dupClusters.duplicatesRemoved)} duplicates removed)`,
    );
    out.push(
      table(
        ['cluster size', 'clusters'],
        r.dupClusters.clusters.map((c) => [String(c.size), fmtInt(c.count)]),
        0,
      ),
    );
  }
  if (r.drops) {
    const d = r.drops;
    out.push(
      '',
      `pipeline${d.recipe ? ` (recipe ${d.recipe})` : ''}: read ${fmtInt(d.read)}, kept ${fmtInt(d.kept)}, dropped ${fmtInt(d.dropped)}, rejected ${fmtInt(d.rejected)}`,
    );
    if (d.byRule.length)
      out.push(
        table(
          ['dropped by rule', 'docs', '% of read'],
          d.byRule.map((x) => [
            x.rule,
            fmtInt(x.documents),
            d.read ? `${((100 * x.documents) / d.read).toFixed(2)}%` : '-',
          ]),
        ),
      );
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// HTML

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/** Horizontal bar chart (one bar per label). */
export function hbarSvg(
  title: string,
  items: { label: string; value: number; note?: string }[],
  opts: { color?: string } = {},
): string {
  if (!items.length) return '';
  const rowH = 22,
    labelW = 200,
    barW = 420,
    top = 28,
    valueW = 130;
  const h = top + items.length * rowH + 8;
  const max = Math.max(...items.map((i) => i.value), 1);
  const parts = [
    `<svg class="chart" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + valueW}" height="${h}" viewBox="0 0 ${labelW + barW + valueW} ${h}">`,
    `<title>${esc(title)}</title><text x="0" y="16" class="ct">${esc(title)}</text>`,
  ];
  items.forEach((it, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (barW * it.value) / max);
    const label = it.label.length > 28 ? it.label.slice(0, 27) + '…' : it.label;
    parts.push(
      `<text x="${labelW - 6}" y="${y + 15}" text-anchor="end" class="cl">${esc(label)}</text>`,
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${opts.color ?? PALETTE[i % PALETTE.length]}"><title>${esc(`${it.label}: ${fmtInt(it.value)}${it.note ? ` (${it.note})` : ''}`)}</title></rect>`,
      `<text x="${labelW + w + 6}" y="${y + 15}" class="cv">${esc(fmtInt(it.value) + (it.note ? ` ${it.note}` : ''))}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Vertical bar chart of a histogram. */
export function histSvg(title: string, h: Histogram, color: string): string {
  const W = 720,
    H = 260,
    left = 56,
    bottom = 60,
    top = 28,
    right = 10;
  const n = h.counts.length;
  const bw = (W - left - right) / n;
  const max = Math.max(...h.counts, 1);
  const parts = [
    `<svg class="chart" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<title>${esc(title)}</title><text x="0" y="16" class="ct">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#888"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="#888"/>`,
  ];
  for (const f of [0, 0.5, 1]) {
    const y = H - bottom - f * (H - bottom - top);
    parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" class="cl">${fmtInt(f * max)}</text>`);
  }
  h.counts.forEach((c, i) => {
    const bh = ((H - bottom - top) * c) / max;
    const x = left + i * bw;
    parts.push(
      `<rect x="${(x + 1).toFixed(1)}" y="${(H - bottom - bh).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"><title>${esc(`${histLabel(h, i)}: ${fmtInt(c)} documents`)}</title></rect>`,
      `<text transform="translate(${(x + bw / 2).toFixed(1)},${H - bottom + 10}) rotate(45)" class="cl small">${esc(histLabel(h, i))}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function htmlTable(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${i > 0 && typeof c === 'string' && /^[\d,.%\- ]+$/.test(c) ? ' class="num"' : ''}>${esc(String(c))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

export function renderHtml(r: InspectReport): string {
  const t = r.totals;
  const sec: string[] = [];
  const rowsOf = (rows: Row[]) =>
    rows.map((x) => [x.name, fmtInt(x.documents), fmtInt(x.chars), fmtInt(x.tokens), fmtF(x.charsPerToken, 3)]);
  const metric = (rows: Row[]) =>
    rows.map((x) => ({
      label: x.name,
      value: x.tokens ?? x.chars ?? x.documents,
      note: x.charsPerToken !== undefined ? `· ${x.charsPerToken.toFixed(2)} c/t` : undefined,
    }));
  const unit = t.tokens !== undefined ? 'tokens' : t.chars !== undefined ? 'characters' : 'documents';
  sec.push(
    `<section id="sources"><h2>Sources</h2>${hbarSvg(`${unit} per source`, metric(r.bySource))}${htmlTable(['source', 'docs', 'chars', 'tokens', 'chars/token'], rowsOf(r.bySource))}</section>`,
  );
  sec.push(
    `<section id="langs"><h2>Languages</h2>${hbarSvg(`${unit} per language`, metric(r.byLang))}${htmlTable(['lang', 'docs', 'chars', 'tokens', 'chars/token'], rowsOf(r.byLang))}</section>`,
  );
  const hs: string[] = [];
  if (r.histograms.chars) {
    const h = r.histograms.chars;
    hs.push(
      histSvg(
        `document length in characters (median ${fmtInt(h.p50)}, p90 ${fmtInt(h.p90)}, max ${fmtInt(h.max)})`,
        h,
        '#4e79a7',
      ),
    );
  }
  if (r.histograms.tokens) {
    const h = r.histograms.tokens;
    hs.push(
      histSvg(
        `document length in tokens (median ${fmtInt(h.p50)}, p90 ${fmtInt(h.p90)}, max ${fmtInt(h.max)})`,
        h,
        '#f28e2b',
      ),
    );
  }
  if (hs.length) sec.push(`<section id="lengths"><h2>Document lengths</h2>${hs.join('')}</section>`);
  if (r.topTokens?.length) {
    sec.push(
      `<section id="tokens"><h2>Most frequent tokens</h2>${hbarSvg(
        'token count',
        r.topTokens
          .slice(0, 25)
          .map((x) => ({ label: `${x.id} ${showToken(x)}`, value: x.count, note: `${(100 * x.share).toFixed(2)}%` })),
        { color: '#59a14f' },
      )}` +
        htmlTable(
          ['rank', 'id', 'token (decoded)', 'piece', 'count', 'share'],
          r.topTokens.map((x, i) => [
            String(i + 1),
            String(x.id),
            showToken(x),
            x.piece,
            fmtInt(x.count),
            `${(100 * x.share).toFixed(2)}%`,
          ]),
        ) +
        '</section>',
    );
  }
  if (r.dupClusters) {
    const d = r.dupClusters;
    sec.push(
      `<section id="dups"><h2>Duplicate clusters</h2><p>${fmtInt(d.documentsWithField)} kept documents carry <code>meta.dup_cluster_size</code>; ${fmtInt(d.duplicatesRemoved)} duplicates were removed.</p>` +
        hbarSvg(
          'clusters by size',
          d.clusters.map((c) => ({ label: `size ${c.size}`, value: c.count })),
          { color: '#b07aa1' },
        ) +
        '</section>',
    );
  }
  if (r.drops) {
    const d = r.drops;
    sec.push(
      `<section id="drops"><h2>Pipeline drops</h2><p>recipe ${esc(d.recipe ?? '?')}: read ${fmtInt(d.read)}, kept ${fmtInt(d.kept)}, dropped ${fmtInt(d.dropped)}, rejected ${fmtInt(d.rejected)}</p>` +
        (d.byRule.length
          ? hbarSvg(
              'documents dropped per rule',
              d.byRule.map((x) => ({ label: x.rule, value: x.documents })),
              { color: '#e15759' },
            )
          : '<p>no documents dropped</p>') +
        '</section>',
    );
  }
  const cards = [
    ['documents', fmtInt(t.documents)],
    ['characters', fmtInt(t.chars)],
    ['tokens', fmtInt(t.tokens)],
    ['chars / token', fmtF(t.charsPerToken, 3)],
    ['shards', t.shards !== undefined ? String(t.shards) : '-'],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>steel inspect: ${esc(r.dir)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #e3e3e3;padding:3px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}svg.chart{display:block;margin:8px 0;max-width:100%;height:auto}
svg .ct{font-weight:600;font-size:13px}svg .cl{font-size:11px;fill:#333}svg .cv{font-size:11px;fill:#555}svg .small{font-size:10px}.note{color:#8a6d3b}
</style></head><body>
<h1>steel inspect</h1>
<div class="meta">${esc(r.kind === 'prep' ? 'prep output' : 'shard folder')} <code>${esc(r.dir)}</code> · generated ${esc(r.generated)}${r.tokenizer ? ` · tokenizer ${esc(r.tokenizer.name)} (vocab ${r.tokenizer.vocab_size}, eos ${r.tokenizer.eos_id})` : ''}</div>
<div class="cards">${cards.map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
${sec.join('\n')}
${r.notes.map((n) => `<p class="note">note: ${esc(n)}</p>`).join('')}
<script type="application/json" id="report-data">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
