/**
 * Converts extracted Debian packages into the bundled sample corpus (JSONL documents, zstd-compressed).
 *
 *   npx tsx corpora-manifests/sample/convert.ts EXTRACT_DIR OUT_DIR
 *
 * EXTRACT_DIR holds one folder per package (made by build-sample.sh with `dpkg-deb -x`), each with a
 * `.version` file. Writes OUT_DIR/<name>.jsonl.zst (one file per source / locale), OUT_DIR/COUNTS.md and
 * OUT_DIR/copyright/<package>. Documents: one per HTML section (debian-reference), one per man page
 * (roff macros stripped here, no groff needed, so output is byte-identical on every machine), one per
 * group of fortunes. Markup remnants are kept on purpose (inline <code>/<a href>, <pre> blocks, ANSI colour
 * escapes in fortunes-zh, overstrike in English fortunes) so that cleaning stages have real work to do.
 * Text is only NFC-normalised with \r removed (no NFKC: full-width punctuation and traditional Chinese stay).
 */
import { readFileSync, readdirSync, lstatSync, existsSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, basename, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { zstdCompress } from '../../pipeline/readers/zstd.ts';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';

export interface SampleDoc {
  id: string;
  text: string;
  source: string;
  lang?: string;
  meta: { package: string; version: string; path: string; license: string; [k: string]: unknown };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function normalizeSample(s: string): string {
  return s.replace(/\r/g, '').normalize('NFC');
}

// ---------------------------------------------------------------- HTML (debian-reference)

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  copy: '©',
  mdash: '—',
  ndash: '–',
  hellip: '…',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  reg: '®',
  trade: '™',
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e] ?? m;
  });
}

/** Removes every <div class="CLS..."> ... matching </div> block (nesting-aware). */
export function removeDivs(html: string, cls: RegExp): string {
  const open = /<div\b[^>]*class="([^"]*)"[^>]*>/g;
  let out = '';
  let pos = 0;
  for (;;) {
    open.lastIndex = pos;
    let m: RegExpExecArray | null;
    let start = -1;
    let after = 0;
    while ((m = open.exec(html))) {
      if (cls.test(m[1]!)) {
        start = m.index;
        after = m.index + m[0].length;
        break;
      }
    }
    if (start < 0) {
      out += html.slice(pos);
      return out;
    }
    out += html.slice(pos, start);
    let depth = 1;
    const tag = /<div\b[^>]*?(\/?)>|<\/div\s*>/g;
    tag.lastIndex = after;
    let end = html.length;
    let t: RegExpExecArray | null;
    while ((t = tag.exec(html))) {
      if (t[0].startsWith('</')) depth--;
      else if (t[1] !== '/') depth++;
      if (depth === 0) {
        end = t.index + t[0].length;
        break;
      }
    }
    pos = end;
  }
}

const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/;

/** Joins an HTML source line break: nothing between two CJK characters, a space otherwise. */
function joinBreaks(s: string): string {
  return s.replace(
    /([^\n]?)[ \t]*\n[ \t\n]*([^\n]?)/g,
    (_m, a: string, b: string) => a + (a && b && CJK.test(a) && CJK.test(b) ? '' : ' ') + b,
  );
}

/**
 * HTML fragment -> text. Block elements become line breaks, table cells " | ", list items "- ".
 * Kept on purpose: <pre class="..."> blocks (verbatim inside), inline <code> and external <a href> tags.
 */
export function htmlToText(html: string): string {
  const parts: string[] = [];
  const pre = /<pre\b([^>]*)>([\s\S]*?)<\/pre>/g;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = pre.exec(html))) {
    parts.push(inlineToText(html.slice(pos, m.index)));
    const cls = /class="([^"]*)"/.exec(m[1]!)?.[1];
    const body = decodeEntities(m[2]!.replace(/<[^>]+>/g, ''))
      .replace(/^\n/, '')
      .replace(/\s+$/, '');
    parts.push(`\n<pre${cls ? ` class="${cls}"` : ''}>\n${body}\n</pre>\n`);
    pos = m.index + m[0].length;
  }
  parts.push(inlineToText(html.slice(pos)));
  return parts
    .join('')
    .split('\n')
    .map((l) => l.replace(/[ \t]+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function inlineToText(html: string): string {
  let s = html.replace(/<!--[\s\S]*?-->/g, '');
  s = joinBreaks(s);
  // Keep remnants: external links and inline code stay as (simplified) HTML.
  s = s.replace(/<a\b[^>]*class="ulink"[^>]*href="([^"]*)"[^>]*>/g, '\u0001a href="$1"\u0002');
  s = s.replace(/<a\b[^>]*href="([^"]*)"[^>]*class="ulink"[^>]*>/g, '\u0001a href="$1"\u0002');
  s = s.replace(/<code\b[^>]*>/g, '\u0001code\u0002').replace(/<\/code>/g, '\u0001/code\u0002');
  // Block structure. A table row of two or more cells is one line: paragraphs, line breaks and lists inside its cells
  // (LibreOffice help wraps every cell in a <p>) become spaces, so a row is never split into one cell per line. A
  // one-cell row is a layout box (DocBook notes and tips) and keeps its paragraphs.
  s = s.replace(/<tr\b[^>]*>([\s\S]*?)<\/tr>/g, (m, row: string) =>
    (row.match(/<t[dh]\b/g) ?? []).length >= 2 ? `${inlineCells(row)}</tr>` : m,
  );
  s = s.replace(/<(td|th)\b[^>]*>/g, ' | ');
  s = s.replace(/<\/tr>/g, ' |\n');
  s = s.replace(/<li\b[^>]*>/g, '\n- ');
  s = s.replace(/<br\s*\/?>/g, '\n');
  s = s.replace(/<h([1-6])\b[^>]*>/g, '\n\n');
  s = s.replace(/<\/(p|div|h[1-6]|table|ul|ol|dl|dt|dd|li|thead|tbody)>/g, '\n');
  s = s.replace(/<(p|div|table|ul|ol|dl|dt|dd)\b[^>]*>/g, '\n');
  // Close kept links: an </a> right after a kept <a ...> run (approximation: every </a> whose opener was kept).
  s = balanceLinks(s);
  s = s.replace(/<[^>]+>/g, '');
  s = s.replace(/\u0001/g, '<').replace(/\u0002/g, '>');
  s = decodeEntities(s);
  s = s
    .split('\n')
    .map((l) => l.replace(/[ \t\u00a0]{2,}/g, ' ').trim())
    .join('\n');
  s = s.replace(/^-\n+(?=\S)/gm, '- ');
  return '\n' + s + '\n';
}

/** The inside of a table row on one line: block tags and line breaks within its cells become spaces. */
function inlineCells(row: string): string {
  return row
    .replace(/<br\s*\/?>|<\/?(?:p|div|h[1-6]|ul|ol|dl|dt|dd|li)\b[^>]*>/g, ' ')
    .replace(/[ \t]*\n[ \t\n]*/g, ' ');
}

function balanceLinks(s: string): string {
  // Walk <a ...> openers in order; kept ones (marked \u0001a) get their </a> kept, others dropped.
  const stack: boolean[] = [];
  return s.replace(/\u0001a href="[^"]*"\u0002|<a\b[^>]*>|<\/a>/g, (t) => {
    if (t.startsWith('\u0001a')) {
      stack.push(true);
      return t;
    }
    if (t.startsWith('<a')) {
      if (!t.endsWith('/>')) stack.push(false);
      return '';
    }
    return stack.pop() ? '\u0001/a\u0002' : '';
  });
}

export interface HtmlSection {
  anchor: string;
  title: string;
  level: number;
  text: string;
}

/** Splits one DocBook chapter page into sections: each heading with its content up to the next heading. */
export function splitHtmlSections(html: string): HtmlSection[] {
  const bodyStart = html.search(/<body\b/);
  let body = bodyStart >= 0 ? html.slice(bodyStart) : html;
  body = removeDivs(body, /^(toc|list-of-tables|list-of-figures|list-of-examples|navheader|navfooter)\b/);
  const heading = /<h([1-5])\b[^>]*class="title"[^>]*>([\s\S]*?)<\/h\1>/g;
  const heads: { index: number; end: number; level: number; inner: string }[] = [];
  let m: RegExpExecArray | null;
  while ((m = heading.exec(body)))
    heads.push({ index: m.index, end: m.index + m[0].length, level: Number(m[1]), inner: m[2]! });
  const out: HtmlSection[] = [];
  let carry = '';
  for (let i = 0; i < heads.length; i++) {
    const h = heads[i]!;
    const anchor = /id="([^"]+)"/.exec(h.inner)?.[1] ?? `h${i}`;
    const title = decodeEntities(h.inner.replace(/<[^>]+>/g, ''))
      .replace(/\s+/g, ' ')
      .trim();
    const content = htmlToText(body.slice(h.end, i + 1 < heads.length ? heads[i + 1]!.index : body.length));
    // A heading directly followed by a sub-heading carries over into the next section.
    if (content.replace(/\s/g, '').length < 20 && i + 1 < heads.length) {
      carry += title + '\n\n';
      continue;
    }
    out.push({ anchor, title, level: h.level, text: (carry + title + '\n\n' + content).trim() });
    carry = '';
  }
  return out;
}

// ---------------------------------------------------------------- roff (man pages)

const ROFF_CHARS: Record<string, string> = {
  em: '—',
  en: '–',
  hy: '-',
  bu: '•',
  aq: "'",
  dq: '"',
  co: '©',
  rg: '®',
  tm: '™',
  lq: '“',
  rq: '”',
  oq: '‘',
  cq: '’',
  'R ': '®',
  mu: '×',
  di: '÷',
  '+-': '±',
  '<=': '≤',
  '>=': '≥',
  '!=': '≠',
  '->': '→',
  '<-': '←',
  de: '°',
  ga: '`',
  ha: '^',
  ti: '~',
  rs: '\\',
  sl: '/',
  ba: '|',
  br: '│',
  ul: '_',
  ct: '¢',
  Po: '£',
  Ye: '¥',
  Eu: '€',
  ss: 'ß',
  dg: '†',
  sc: '§',
  fm: '′',
  pl: '+',
  mi: '−',
  eq: '=',
  ua: '↑',
  da: '↓',
  or: '|',
  tno: '¬',
};
const ROFF_STRINGS: Record<string, string> = { lq: '“', rq: '”', R: '®', Tm: '™', ', ': '', '': '' };

/** Replaces roff escapes in one line of text. */
export function roffInline(s: string): string {
  let r = s.replace(/\\".*$/, '');
  r = r.replace(/\\f(\[[^\]]*\]|\([A-Za-z]{2}|[A-Za-z0-9])/g, '');
  r = r.replace(/\\s[+-]?(\d|\(\d\d|\[\d+\])/g, '');
  r = r.replace(/\\\(([^\s]{2})/g, (_m, c: string) => ROFF_CHARS[c] ?? '');
  r = r.replace(
    /\\\[([^\]]+)\]/g,
    (_m, c: string) =>
      ROFF_CHARS[c] ?? (/^u[0-9A-Fa-f]{4,6}$/.test(c) ? String.fromCodePoint(parseInt(c.slice(1), 16)) : ''),
  );
  r = r.replace(/\\\*(\(..|\[[^\]]*\]|.)/g, (_m, c: string) => ROFF_STRINGS[c.replace(/^[([]|]$/g, '')] ?? '');
  r = r.replace(/\\[nwhvlLxXbo]'[^']*'/g, '').replace(/\\[kmMYgnV](\(..|\[[^\]]*\]|.)/g, '');
  r = r
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\u0000')
    .replace(/\\[&|^%:cdu,/]/g, '')
    .replace(/\\[ ~0]/g, ' ');
  r = r.replace(/\\(.)/g, '$1').replace(/\u0000/g, '\\');
  return r;
}

/** Splits macro arguments, honouring "double quoted" arguments. */
function roffArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"]|"")*)"?|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
  return out;
}

export interface ManPage {
  name: string;
  section: string;
  text: string;
  spdx?: string;
}

/** Renders man(7) roff source to plain text (simple formatter: no filling, source line breaks kept). */
export function roffToText(src: string): ManPage {
  const lines = src.replace(/\r/g, '').split('\n');
  const out: string[] = [];
  let name = '';
  let section = '';
  let spdx: string | undefined;
  let inTable = false;
  let tableFormatPending = false;
  let skipDef = false;
  let fill = true;
  let tpTag = false;
  let para: string[] = [];
  // Fill mode: text lines of a paragraph are joined (no space between two CJK characters).
  const flush = () => {
    if (!para.length) return;
    let joined = '';
    for (const p of para) {
      const t = p.trim();
      if (!t) continue;
      joined = joined && !(CJK.test(joined.slice(-1)) && CJK.test(t[0]!)) ? joined + ' ' + t : joined + t;
    }
    if (joined) out.push(joined);
    para = [];
  };
  const blank = () => {
    flush();
    if (out.length && out[out.length - 1] !== '') out.push('');
  };
  const text = (t: string) => {
    if (!fill) {
      out.push(t.trimEnd());
      return;
    }
    para.push(t);
    if (tpTag) {
      tpTag = false;
      flush();
    }
  };
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    while (line.endsWith('\\') && !line.endsWith('\\\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i];
    if (skipDef) {
      if (/^\.\.\s*$/.test(line)) skipDef = false;
      continue;
    }
    const comment = /^[.'][ \t]*\\"(.*)$/.exec(line);
    if (comment) {
      const sp = /SPDX-License-Identifier:\s*(.+)$/.exec(comment[1]!);
      if (sp) spdx = sp[1]!.trim();
      continue;
    }
    if (inTable) {
      if (/^\.TE\b/.test(line)) {
        inTable = false;
        blank();
        continue;
      }
      if (tableFormatPending) {
        if (/\.\s*$/.test(line)) tableFormatPending = false;
        continue;
      }
      if (/^[.']/.test(line)) continue;
      out.push(
        roffInline(line)
          .replace(/\t/g, ' | ')
          .replace(/T\{|T\}/g, '')
          .trimEnd(),
      );
      continue;
    }
    const req = /^[.']\s*([A-Za-z][A-Za-z0-9]?[A-Za-z0-9]?)(?:\s+(.*))?$/.exec(line);
    if (!req) {
      if (/^[.']/.test(line)) continue; // unknown/empty request ("." alone)
      if (fill && line.trim() === '') {
        blank();
        continue;
      }
      text(roffInline(line));
      continue;
    }
    const mac = req[1]!;
    const rest = req[2] ?? '';
    const args = roffArgs(rest);
    switch (mac) {
      case 'TH':
        name = roffInline(args[0] ?? '');
        section = roffInline(args[1] ?? '');
        out.push(`${name}(${section})`, '');
        break;
      case 'SH':
      case 'SS': {
        let t = roffInline(args.join(' '));
        if (!t && i + 1 < lines.length) t = roffInline(lines[++i]!);
        blank();
        out.push(mac === 'SH' ? t : '  ' + t);
        break;
      }
      case 'B':
      case 'I':
      case 'SM':
      case 'SB': {
        const t = args.length ? roffInline(args.join(' ')) : i + 1 < lines.length ? roffInline(lines[++i]!) : '';
        text(t);
        break;
      }
      case 'BR':
      case 'IR':
      case 'RB':
      case 'BI':
      case 'IB':
      case 'RI':
        text(roffInline(args.join('')));
        break;
      case 'PP':
      case 'P':
      case 'LP':
      case 'sp':
      case 'HP':
        blank();
        break;
      case 'TP':
        blank();
        tpTag = true;
        break;
      case 'IP':
        blank();
        if (args[0]) para.push(roffInline(args[0]));
        break;
      case 'br':
        flush();
        break;
      case 'nf':
      case 'EX':
        flush();
        fill = false;
        break;
      case 'fi':
      case 'EE':
        fill = true;
        break;
      case 'TS':
        inTable = true;
        tableFormatPending = true;
        blank();
        break;
      case 'UR':
      case 'MT':
        text('<' + roffInline(args[0] ?? '') + '>');
        break;
      case 'UE':
      case 'ME':
        if (args[0]) text(roffInline(args[0]));
        break;
      case 'de':
      case 'ig':
        skipDef = true;
        break;
      case 'so':
        flush();
        out.push(`.so ${rest}`);
        break;
      default:
        break; // formatting requests without text: .RS .RE .in .ft .ad .na .hy .nh .ne .ti .ta .ds .if ...
    }
  }
  flush();
  const body = out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { name, section, text: body, spdx };
}

// ---------------------------------------------------------------- fortunes

/** Splits a fortune file (entries separated by lines holding "%") into entries. */
export function splitFortunes(text: string): string[] {
  return text
    .replace(/\r/g, '')
    .split(/^%[ \t]*$/m)
    .map((s) => s.replace(/^\n+|\s+$/g, ''))
    .filter((s) => s.length > 0);
}

/** Groups consecutive fortunes: at most `maxEntries` entries or about `maxChars` characters per group. */
export function groupFortunes(entries: string[], maxEntries = 8, maxChars = 1500): string[][] {
  const groups: string[][] = [];
  let cur: string[] = [];
  let len = 0;
  for (const e of entries) {
    if (cur.length && (cur.length >= maxEntries || len + e.length > maxChars)) {
      groups.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(e);
    len += e.length;
  }
  if (cur.length) groups.push(cur);
  return groups;
}

// ---------------------------------------------------------------- packages

interface Pkg {
  dir: string;
  name: string;
  version: string;
}

function pkg(root: string, name: string): Pkg {
  const dir = join(root, name);
  if (!existsSync(dir)) throw new Error(`${dir}: package not extracted (run build-sample.sh)`);
  const vf = join(dir, '.version');
  return { dir, name, version: existsSync(vf) ? readFileSync(vf, 'utf8').trim() : 'unknown' };
}

function readUtf8(path: string): string {
  const buf = path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path);
  try {
    return utf8.decode(buf);
  } catch {
    throw new Error(`${path}: not valid UTF-8`);
  }
}

function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...walkFiles(p));
    else if (st.isFile()) out.push(p); // symlinks (man page aliases, .u8 links) skipped
  }
  return out;
}

function debianReference(root: string, lang: 'en' | 'zh-cn' | 'zh-tw'): SampleDoc[] {
  const p = pkg(root, `debian-reference-${lang}`);
  const dir = join(p.dir, 'usr/share/debian-reference');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(`.${lang}.html`) && !f.startsWith('index.'))
    .sort();
  const docs: SampleDoc[] = [];
  for (const f of files) {
    for (const s of splitHtmlSections(readUtf8(join(dir, f)))) {
      docs.push({
        id: `debian-reference-${lang}/${f}#${s.anchor}`,
        text: normalizeSample(s.text),
        source: `debian-reference-${lang}`,
        lang: lang === 'en' ? 'en' : 'zh',
        meta: {
          package: p.name,
          version: p.version,
          path: `/usr/share/debian-reference/${f}`,
          license: 'GPL-2+',
          section: s.title,
          locale: lang,
        },
      });
    }
  }
  return docs;
}

function manPages(
  root: string,
  name: string,
  manDir: string,
  source: string,
  lang: string,
  license: string,
  locale?: string,
): SampleDoc[] {
  const p = pkg(root, name);
  const dir = join(p.dir, manDir);
  const docs: SampleDoc[] = [];
  for (const f of walkFiles(dir)) {
    if (!/\.\d\w*(\.gz)?$/.test(f)) continue;
    const src = readUtf8(f);
    if (/^\.so\s/m.test(src) && src.split('\n').filter((l) => l.trim() && !/^[.']\s*\\"/.test(l)).length <= 2) continue; // alias page
    const page = roffToText(src);
    if (page.text.replace(/\s/g, '').length < 40) continue;
    const rel = '/' + relative(p.dir, f);
    docs.push({
      id: `${source}${locale ? '/' + locale : ''}/${basename(f).replace(/\.gz$/, '')}`,
      text: normalizeSample(page.text),
      source,
      lang,
      meta: {
        package: p.name,
        version: p.version,
        path: rel,
        license: page.spdx ?? license,
        ...(locale ? { locale } : {}),
        page: `${page.name}(${page.section})`,
      },
    });
  }
  return docs;
}

function fortunes(root: string, names: string[], source: string, lang: string, license: string): SampleDoc[] {
  const docs: SampleDoc[] = [];
  for (const name of names) {
    const p = pkg(root, name);
    const dir = join(p.dir, 'usr/share/games/fortunes');
    for (const f of readdirSync(dir).sort()) {
      const path = join(dir, f);
      if (f.includes('.') || !lstatSync(path).isFile()) continue; // skip .dat indexes and .u8 links
      const groups = groupFortunes(splitFortunes(readUtf8(path)));
      groups.forEach((g, gi) =>
        docs.push({
          id: `${source}/${f}/${String(gi + 1).padStart(4, '0')}`,
          text: normalizeSample(g.join('\n\n')),
          source,
          lang,
          meta: {
            package: p.name,
            version: p.version,
            path: `/usr/share/games/fortunes/${f}`,
            license,
            entries: g.length,
          },
        }),
      );
    }
  }
  return docs;
}

// ---------------------------------------------------------------- output

async function writeZst(path: string, docs: SampleDoc[]): Promise<number> {
  const chunks: Buffer[] = [];
  let cur: string[] = [];
  let curLen = 0;
  const flush = () => {
    if (!cur.length) return;
    chunks.push(Buffer.from(zstdCompress(Buffer.from(cur.join('')), 19)));
    cur = [];
    curLen = 0;
  };
  for (const d of docs) {
    const line = JSON.stringify(d) + '\n';
    cur.push(line);
    curLen += Buffer.byteLength(line);
    if (curLen >= 1 << 20) flush(); // independent ~1 MB frames, concatenated
  }
  flush();
  const data = Buffer.concat(chunks);
  writeFileAtomic(path, data);
  return data.length;
}

async function main(): Promise<void> {
  const [root, outDir] = process.argv.slice(2);
  if (!root || !outDir) {
    console.error('usage: convert.ts EXTRACT_DIR OUT_DIR');
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  const outputs: { file: string; docs: () => SampleDoc[] }[] = [
    { file: 'debian-reference-en', docs: () => debianReference(root, 'en') },
    { file: 'debian-reference-zh-cn', docs: () => debianReference(root, 'zh-cn') },
    { file: 'debian-reference-zh-tw', docs: () => debianReference(root, 'zh-tw') },
    {
      file: 'manpages-zh-cn',
      docs: () => manPages(root, 'manpages-zh', 'usr/share/man/zh_CN', 'manpages-zh', 'zh', 'GFDL-1.2+', 'zh_CN'),
    },
    {
      file: 'manpages-zh-tw',
      docs: () => manPages(root, 'manpages-zh', 'usr/share/man/zh_TW', 'manpages-zh', 'zh', 'GFDL-1.2+', 'zh_TW'),
    },
    { file: 'manpages-en', docs: () => manPages(root, 'manpages', 'usr/share/man', 'manpages-en', 'en', 'GPL-2+') },
    { file: 'fortunes-zh', docs: () => fortunes(root, ['fortunes-zh'], 'fortunes-zh', 'zh', 'GPL-3.0+') },
    {
      file: 'fortunes-en',
      docs: () =>
        fortunes(
          root,
          ['fortunes-min', 'fortunes'],
          'fortunes-en',
          'en',
          'BSD (fortune-mod, see copyright/fortunes; quotations by their authors)',
        ),
    },
  ];
  const rows: string[] = [
    '| file | source | documents | text MB (UTF-8) | compressed MB |',
    '|---|---|---:|---:|---:|',
  ];
  let tDocs = 0,
    tRaw = 0,
    tZst = 0;
  for (const o of outputs) {
    const docs = o.docs();
    const raw = docs.reduce((a, d) => a + Buffer.byteLength(d.text), 0);
    const z = await writeZst(join(outDir, `${o.file}.jsonl.zst`), docs);
    tDocs += docs.length;
    tRaw += raw;
    tZst += z;
    rows.push(
      `| ${o.file}.jsonl.zst | ${docs[0]?.source ?? '-'} | ${docs.length} | ${(raw / 1e6).toFixed(2)} | ${(z / 1e6).toFixed(2)} |`,
    );
    console.log(
      `${o.file.padEnd(24)} ${String(docs.length).padStart(6)} docs  ${(raw / 1e6).toFixed(2).padStart(6)} MB text  ${(z / 1e6).toFixed(2).padStart(5)} MB zst`,
    );
  }
  rows.push(`| **total** | | ${tDocs} | ${(tRaw / 1e6).toFixed(2)} | ${(tZst / 1e6).toFixed(2)} |`);
  console.log(
    `${'total'.padEnd(24)} ${String(tDocs).padStart(6)} docs  ${(tRaw / 1e6).toFixed(2).padStart(6)} MB text  ${(tZst / 1e6).toFixed(2).padStart(5)} MB zst`,
  );
  writeFileSync(join(outDir, 'COUNTS.md'), rows.join('\n') + '\n');
  mkdirSync(join(outDir, 'copyright'), { recursive: true });
  for (const name of [
    'debian-reference-en',
    'debian-reference-zh-cn',
    'debian-reference-zh-tw',
    'manpages-zh',
    'manpages',
    'fortunes-zh',
    'fortunes-min',
    'fortunes',
  ]) {
    copyFileSync(join(root, name, 'usr/share/doc', name, 'copyright'), join(outDir, 'copyright', name));
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e) => {
    console.error(`convert: ${(e as Error).message}`);
    process.exit(1);
  });
}
