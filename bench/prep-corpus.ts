/**
 * Real text that is not the bundled sample, for bench/prep.ts's fixed/marginal split: documents in the sample's
 * JSONL.zst layout (id, text, source, lang, meta), built at bench time from what Debian installed on this machine, into
 * a folder under /tmp (never the repository: the text is third-party prose under its packages' licenses).
 *
 *   npx tsx bench/prep-corpus.ts OUT_DIR [--mb N]      (N: English man-page text to take, MB; default 12)
 *   npx tsx bench/prep-corpus.ts OUT_DIR --tiny N      (N documents of the bundled sample, spread over its files)
 *   npx tsx bench/prep-corpus.ts OUT_DIR --docs N      (N MB of English package documentation, for larger sets)
 *
 * Sources (the sample's own packages, manpages / manpages-zh / debian-reference / fortunes, are left out):
 * - English man pages, /usr/share/man/man[1-8]/*.gz of every package but `manpages` (dpkg -L), rendered by the
 *   sample's roff formatter (corpora-manifests/sample/convert.ts), in file-name order up to --mb;
 * - Chinese man pages, /usr/share/man/zh_CN and zh_TW (passwd, login, man-db: not manpages-zh);
 * - Chinese message catalogs, /usr/share/locale/zh_{CN,TW,HK}/LC_MESSAGES/*.mo: the translations (msgstr) of each
 *   catalog, one per line, cut into documents of at most ~6,000 characters at a line end.
 * - with --docs: the English text of /usr/share/doc/PACKAGE/ (changelogs, NEWS, READMEs and other notes, plain or .gz;
 *   not copyright files, which are licences repeated across packages), in path order, each file cut into documents of
 *   at most ~20,000 characters at a line end, up to N MB: real text on the scale of a larger prep (the man pages end
 *   near 76 MB).
 * Writes OUT_DIR/extra-en.jsonl.zst and OUT_DIR/extra-zh.jsonl.zst (or OUT_DIR/tiny.jsonl.zst, or
 * OUT_DIR/extra-doc.jsonl.zst) and prints the sizes.
 * Read them as the sample corpus (`--input 'sample=OUT_DIR/*.jsonl.zst'`) so they get the sample's unification.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { zstdCompress } from '../pipeline/readers/zstd.ts';
import { normalizeSample, roffToText, type SampleDoc } from '../corpora-manifests/sample/convert.ts';
import { readLines } from '../pipeline/readers/jsonl.ts';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { regularFilesUnder } from './files.ts';

const { values, positionals } = parseArgs({
  options: { mb: { type: 'string', default: '12' }, tiny: { type: 'string' }, docs: { type: 'string' } },
  allowPositionals: true,
});
const out = positionals[0];
if (!out) {
  console.error('usage: prep-corpus.ts OUT_DIR [--mb N | --tiny N | --docs N]');
  process.exit(2);
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

function writeZst(path: string, docs: SampleDoc[]): void {
  const chunks: Buffer[] = [];
  for (let i = 0; i < docs.length; i += 256) {
    const lines = docs.slice(i, i + 256).map((d) => JSON.stringify(d) + '\n');
    chunks.push(Buffer.from(zstdCompress(Buffer.from(lines.join('')), 9)));
  }
  writeFileAtomic(path, Buffer.concat(chunks));
  const mb = docs.reduce((a, d) => a + Buffer.byteLength(d.text), 0) / 1e6;
  console.log(`${path}: ${docs.length} documents, ${mb.toFixed(2)} MB of text`);
}

function manPage(path: string, source: string, lang: string, locale?: string): SampleDoc | undefined {
  let src: string;
  try {
    src = utf8.decode(path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path));
  } catch {
    return undefined; // not UTF-8 (a few old pages)
  }
  if (/^\.so\s/m.test(src) && src.split('\n').filter((l) => l.trim() && !/^[.']\s*\\"/.test(l)).length <= 2) return;
  const page = roffToText(src);
  if (page.text.replace(/\s/g, '').length < 40) return;
  return {
    id: `${source}/${locale ? locale + '/' : ''}${basename(path).replace(/\.gz$/, '')}`,
    text: normalizeSample(page.text),
    source,
    lang,
    meta: { package: 'installed', version: '', path, license: 'per package', ...(locale ? { locale } : {}) },
  };
}

const files = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .sort()
        .map((n) => join(dir, n))
        .filter((p) => lstatSync(p).isFile())
    : [];

/** The translations of a GNU .mo catalog, in the catalog's order. */
function moStrings(buf: Buffer): string[] {
  const le = buf.readUInt32LE(0) === 0x950412de;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const n = u32(8);
  const trans = u32(16);
  const outS: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = u32(trans + 8 * i);
    const off = u32(trans + 8 * i + 4);
    if (len === 0) continue;
    const s = buf.toString('utf8', off, off + len);
    if (s.startsWith('Project-Id-Version') || s.includes('\ufffd')) continue; // the header, a non-UTF-8 catalog
    outS.push(...s.split('\0')); // plural forms
  }
  return outS;
}

mkdirSync(out, { recursive: true });
if (values.docs) {
  const cap = Number(values.docs) * 1e6;
  const docs: SampleDoc[] = [];
  let bytes = 0;
  for (const p of regularFilesUnder('/usr/share/doc')) {
    if (/copyright|\.(html|png|svg|jpg|gif|pdf|css|js|json|xml|py|c|h|sh|pl|el|conf|cfg|ini|ya?ml)(\.gz)?$/i.test(p))
      continue;
    let text: string;
    try {
      const raw = readFileSync(p);
      text = utf8.decode(p.endsWith('.gz') ? gunzipSync(raw) : raw);
    } catch {
      continue; // not UTF-8, or not gzip
    }
    if (text.includes('\0')) continue; // binary
    let cur: string[] = [];
    let len = 0;
    let part = 0;
    const flush = () => {
      const t = normalizeSample(cur.join('\n'));
      if (t.replace(/\s/g, '').length >= 200) {
        docs.push({
          id: `installed-doc/${p.slice('/usr/share/doc/'.length)}#${++part}`,
          text: t,
          source: 'installed-doc-en',
          lang: 'en',
          meta: { package: 'installed', version: '', path: p, license: 'per package' },
        });
        bytes += Buffer.byteLength(t);
      }
      cur = [];
      len = 0;
    };
    for (const l of text.split('\n')) {
      cur.push(l);
      len += l.length + 1;
      if (len >= 20000) flush();
    }
    flush();
    if (bytes >= cap) break;
  }
  writeZst(join(out, 'extra-doc.jsonl.zst'), docs);
} else if (values.tiny) {
  // N documents of the sample, spread evenly over its files (every k-th document of the whole list)
  const dir = new URL('../corpora-manifests/sample/', import.meta.url).pathname;
  const docs: SampleDoc[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl.zst'))
    .sort())
    for await (const l of readLines(join(dir, f))) if (l.text) docs.push(JSON.parse(l.text) as SampleDoc);
  const n = Number(values.tiny);
  const step = docs.length / n;
  writeZst(
    join(out, 'tiny.jsonl.zst'),
    Array.from({ length: n }, (_, i) => docs[Math.floor(i * step)]!),
  );
} else {
  const sampleOwn = new Set(
    spawnSync('dpkg', ['-L', 'manpages'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.endsWith('.gz')),
  );
  const capEn = Number(values.mb) * 1e6;
  const en: SampleDoc[] = [];
  let enBytes = 0;
  outer: for (let s = 1; s <= 8; s++)
    for (const p of files(`/usr/share/man/man${s}`)) {
      if (sampleOwn.has(p)) continue;
      const d = manPage(p, 'installed-man-en', 'en');
      if (!d) continue;
      en.push(d);
      enBytes += Buffer.byteLength(d.text);
      if (enBytes >= capEn) break outer;
    }
  const zh: SampleDoc[] = [];
  for (const loc of ['zh_CN', 'zh_TW'])
    for (let s = 1; s <= 8; s++)
      for (const p of files(`/usr/share/man/${loc}/man${s}`)) {
        const d = manPage(p, 'installed-man-zh', 'zh', loc);
        if (d) zh.push(d);
      }
  for (const loc of ['zh_CN', 'zh_TW', 'zh_HK'])
    for (const p of files(`/usr/share/locale/${loc}/LC_MESSAGES`).filter((f) => f.endsWith('.mo'))) {
      const lines = moStrings(readFileSync(p));
      let cur: string[] = [];
      let len = 0;
      let part = 0;
      const flush = () => {
        if (cur.join('').replace(/\s/g, '').length >= 40)
          zh.push({
            id: `installed-mo/${loc}/${basename(p)}#${++part}`,
            text: normalizeSample(cur.join('\n')),
            source: 'installed-mo-zh',
            lang: 'zh',
            meta: { package: 'installed', version: '', path: p, license: 'per package', locale: loc },
          });
        cur = [];
        len = 0;
      };
      for (const l of lines) {
        cur.push(l);
        len += l.length + 1;
        if (len >= 6000) flush();
      }
      flush();
    }
  writeZst(join(out, 'extra-en.jsonl.zst'), en);
  writeZst(join(out, 'extra-zh.jsonl.zst'), zh);
}
