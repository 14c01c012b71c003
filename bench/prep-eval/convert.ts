/**
 * Converts the packages extracted by bench/prep-eval/build.sh into evaluation documents (JSONL), one per DocBook section
 * (debian-faq, maint-guide, debian-reference-ja; for the second judged set debian-handbook zh-CN / zh-TW and the
 * installation guide zh_CN), per help page (LibreOffice, every 8th page in path order, and for the second set every 8th
 * from the 5th, zh-CN / zh-TW; GNOME help zh_CN, Mallard), per LilyPond manual page and per man page (manpages-ja every
 * 3rd page, git-man every page), for the third judged set per section of the KiCad manuals zh (Asciidoctor HTML), and
 * for the fourth per GIMP help page (zh_CN), per section of the Debian Edu bookworm manual zh-cn and per help page of
 * eight GNOME applications (zh_CN, five of them zh_TW too), and for the fifth per help page of six more GNOME
 * applications (Evolution, Zenity, Brasero zh_CN / zh_TW, Boxes, Accerciser, Music) and LibreOffice help zh-CN / zh-TW
 * pages none of the earlier sets drew from (every 24th from the 3rd).
 * HTML becomes text as in the bundled sample (a table row as one "| a | b |" line, <pre> blocks kept with their tags),
 * so cleaning stages have their real work.
 *
 *   npx tsx bench/prep-eval/convert.ts EXTRACT_DIR OUT.jsonl
 *
 * Each line: {id, text, source, meta: {package, version, path, locale, license, kinds}}. `kinds` are measured
 * properties (mixed: 20-80% of the prose units are Latin words; table: >= 30% of non-empty lines are table rows;
 * code: >= 30% of the characters are in <pre> blocks). The language label of each document is in labels.jsonl.
 */
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join, relative, basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { regularFilesUnder } from '../files.ts';
import {
  htmlToText,
  splitHtmlSections,
  roffToText,
  normalizeSample,
  removeDivs,
} from '../../corpora-manifests/sample/convert.ts';

export interface EvalDoc {
  id: string;
  text: string;
  source: string;
  meta: { package: string; version: string; path: string; locale: string; license: string; kinds: string[] };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function readUtf8(path: string): string {
  const buf = path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path);
  return utf8.decode(buf);
}
function version(root: string, pkg: string): string {
  const f = join(root, pkg, '.version');
  if (!existsSync(f)) throw new Error(`${join(root, pkg)}: package not extracted (run bench/prep-eval/build.sh)`);
  return readFileSync(f, 'utf8').trim();
}

/** sha256 of the text, first 16 hex digits: the labels' key together with the id. */
/** The records of a JSONL file (the evaluation set's documents, labels and judgements). */
export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** A judged set's or the labels' file beside this module. */
export const evalFile = (f: string): string => join(import.meta.dirname, f);
/** The judged sets of Chinese documents (keep/drop read by hand), in the order they were made. */
export const JUDGED_SETS = [
  'judgements.jsonl',
  'judgements-2.jsonl',
  'judgements-3.jsonl',
  'judgements-4.jsonl',
  'judgements-5.jsonl',
  'judgements-6.jsonl',
  'judgements-7.jsonl',
];

export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu;
const LATIN_WORD = /\p{Script=Latin}{2,}/gu;
/** CJK characters and Latin words of the prose (outside <pre> blocks): one CJK character ~ one word. */
export function proseUnits(text: string): { cjk: number; latin: number } {
  const prose = text.replace(/<pre\b[\s\S]*?<\/pre>/g, ' ').replace(/<[^>]+>/g, ' ');
  return { cjk: (prose.match(CJK_CHAR) ?? []).length, latin: (prose.match(LATIN_WORD) ?? []).length };
}

function kindsOf(text: string): string[] {
  const k: string[] = [];
  const { cjk, latin } = proseUnits(text);
  const share = latin / Math.max(1, cjk + latin);
  if (cjk > 0 && share >= 0.2 && share <= 0.8) k.push('mixed');
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length && lines.filter((l) => /^\s*\|.*\|\s*$/.test(l)).length / lines.length >= 0.3) k.push('table');
  const pre = [...text.matchAll(/<pre\b[\s\S]*?<\/pre>/g)].reduce((s, m) => s + m[0].length, 0);
  if (pre / Math.max(1, text.length) >= 0.3) k.push('code');
  return k;
}

function doc(
  id: string,
  text: string,
  pkg: string,
  ver: string,
  path: string,
  locale: string,
  license: string,
): EvalDoc | undefined {
  const t = normalizeSample(text).trim();
  if (t.replace(/\s/g, '').length < 40) return undefined;
  return {
    id,
    text: t,
    source: pkg,
    meta: { package: pkg, version: ver, path, locale, license, kinds: kindsOf(t) },
  };
}

/** DocBook HTML books: one document per section. */
function docbook(
  root: string,
  pkg: string,
  dir: string,
  suffix: RegExp,
  locale: string,
  license: string,
  idBase = pkg,
): EvalDoc[] {
  const ver = version(root, pkg);
  const out: EvalDoc[] = [];
  for (const f of regularFilesUnder(join(root, pkg, dir))) {
    if (!suffix.test(f) || basename(f).startsWith('index.')) continue;
    for (const s of splitHtmlSections(readUtf8(f))) {
      const d = doc(
        `${idBase}/${basename(f)}#${s.anchor}`,
        s.text,
        pkg,
        ver,
        '/' + relative(join(root, pkg), f),
        locale,
        license,
      );
      if (d) out.push(d);
    }
  }
  return out;
}

/** Asciidoctor HTML manuals (KiCad): one document per section, headings made DocBook-like for splitHtmlSections. */
function asciidoc(root: string, pkg: string, dir: string, locale: string, license: string): EvalDoc[] {
  const ver = version(root, pkg);
  const out: EvalDoc[] = [];
  for (const f of regularFilesUnder(join(root, pkg, dir))) {
    if (!f.endsWith('.html')) continue;
    const html = readUtf8(f).replace(/<h([2-5]) id="([^"]+)">/g, '<h$1 class="title"><a id="$2"></a>');
    for (const s of splitHtmlSections(html)) {
      const d = doc(
        `${pkg}/${basename(f)}#${s.anchor}`,
        s.text,
        pkg,
        ver,
        '/' + relative(join(root, pkg), f),
        locale,
        license,
      );
      if (d) out.push(d);
    }
  }
  return out;
}

/** Whole-page HTML (LibreOffice help, LilyPond manuals): the content area without navigation, every `step`-th page. */
function pages(
  root: string,
  pkg: string,
  dir: string,
  suffix: RegExp,
  locale: string,
  license: string,
  step: number,
  content: (html: string) => string,
  first = 0,
): EvalDoc[] {
  const ver = version(root, pkg);
  const files = regularFilesUnder(join(root, pkg, dir)).filter(
    (f) => suffix.test(f) && !/big-page|index_toc|\/index\./.test(f),
  );
  const out: EvalDoc[] = [];
  for (let i = first; i < files.length; i += step) {
    const f = files[i];
    const rel = relative(join(root, pkg, dir), f);
    const d = doc(
      `${pkg}/${rel}`,
      htmlToText(content(readUtf8(f))),
      pkg,
      ver,
      '/' + relative(join(root, pkg), f),
      locale,
      license,
    );
    if (d) out.push(d);
  }
  return out;
}
function libreofficeContent(html: string): string {
  const a = html.indexOf('<div id="DisplayArea"');
  let s = a >= 0 ? html.slice(a) : html;
  const e = s.indexOf('<div id="SearchFrame"');
  if (e >= 0) s = s.slice(0, e);
  return s.replace(/<div class="relatedtopics">[\s\S]*$/, '');
}
function lilypondContent(html: string): string {
  const b = html.search(/<body\b/);
  let s = b >= 0 ? html.slice(b) : html;
  s = removeDivs(s, /^(?:header|nav-panel|navigation)/);
  s = s.replace(/<div id="tocframe"[\s\S]*$/, '').replace(/<div id="footer"[\s\S]*$/, '');
  s = s.replace(/<script\b[\s\S]*?<\/script>/g, '').replace(/<style\b[\s\S]*?<\/style>/g, '');
  return s;
}

/** GNOME applications whose help the fourth judged set draws from: package, help folder, translated into zh_TW too. */
const GNOME_APPS: [string, string, boolean][] = [
  ['evince-common', 'evince', true],
  ['gedit-common', 'gedit', true],
  ['eog', 'eog', true],
  ['gnome-calculator', 'gnome-calculator', true],
  ['totem-common', 'totem', true],
  ['cheese-common', 'cheese', false],
  ['baobab', 'baobab', false],
  ['file-roller', 'file-roller', false],
];

/** GNOME application help for the fifth judged set (added after the fourth's, so earlier documents stay the same). */
const GNOME_APPS_5: [string, string, boolean][] = [
  ['evolution-common', 'evolution', false],
  ['zenity-common', 'zenity', false],
  ['brasero-common', 'brasero', true],
  ['gnome-boxes', 'gnome-boxes', false],
  ['accerciser', 'accerciser', false],
  ['gnome-music', 'gnome-music', false],
];

/** A GIMP help page (DocBook HTML): the body without the navigation header and footer. */
function gimpContent(html: string): string {
  const b = html.search(/<body\b/);
  return removeDivs(b >= 0 ? html.slice(b) : html, /^(?:navheader|navfooter)\b/);
}

/** A Mallard page (GNOME help) as HTML for htmlToText: <info> (credits, links) goes, titles are headings, list and
 * step items list items, sections and notes blocks, <screen>/<code> blocks <pre>. */
export function mallardContent(xml: string): string {
  return xml
    .replace(/<\?xml[^>]*>/, '')
    .replace(/<info\b[\s\S]*?<\/info>/g, '')
    .replace(/<(\/?)title\b[^>]*>/g, '<$1h2>')
    .replace(/<(\/?)item\b[^>]*>/g, '<$1li>')
    .replace(/<(\/?)(?:list|steps|terms|tree)\b[^>]*>/g, '<$1ul>')
    .replace(/<(\/?)(?:section|note|links|example|figure|media)\b[^>]*>/g, '<$1div>')
    .replace(/<(\/?)screen\b[^>]*>/g, '<$1pre>');
}

function man(
  root: string,
  pkg: string,
  dir: string,
  locale: string,
  license: string,
  step: number,
  first = 0,
): EvalDoc[] {
  const ver = version(root, pkg);
  const files = regularFilesUnder(join(root, pkg, dir)).filter((f) => /\.\d\w*(\.gz)?$/.test(f));
  const out: EvalDoc[] = [];
  let k = 0;
  for (const f of files) {
    const src = readUtf8(f);
    if (/^\.so\s/m.test(src) && src.split('\n').filter((l) => l.trim() && !/^[.']\s*\\"/.test(l)).length <= 2) continue;
    const i = k++;
    if (i < first || (i - first) % step !== 0) continue;
    const page = roffToText(src);
    const d = doc(
      `${pkg}/${basename(f).replace(/\.gz$/, '')}`,
      page.text,
      pkg,
      ver,
      '/' + relative(join(root, pkg), f),
      locale,
      page.spdx ?? license,
    );
    if (d) out.push(d);
  }
  return out;
}

/** A DocBook XML help page (AisleRiot's game rules) as HTML for htmlToText: titles are headings, paragraphs
 * paragraphs, table rows and entries rows and cells, lists and list items lists and items; comments (authors' credits)
 * go. */
export function docbookXmlContent(xml: string): string {
  return xml
    .replace(/<\?xml[^>]*>/, '')
    .replace(/<!DOCTYPE[^>]*>/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(\/?)title\b[^>]*>/g, '<$1h2>')
    .replace(/<(\/?)(?:para|simpara|term)\b[^>]*>/g, '<$1p>')
    .replace(/<(\/?)row\b[^>]*>/g, '<$1tr>')
    .replace(/<(\/?)entry\b[^>]*>/g, '<$1td>')
    .replace(/<(\/?)(?:informaltable|table)\b[^>]*>/g, '<$1table>')
    .replace(/<(\/?)(?:itemizedlist|orderedlist|variablelist)\b[^>]*>/g, '<$1ul>')
    .replace(/<(\/?)listitem\b[^>]*>/g, '<$1li>')
    .replace(/<(\/?)(?:sect\d|section|note|tip|figure|varlistentry)\b[^>]*>/g, '<$1div>')
    .replace(/<(\/?)(?:screen|programlisting)\b[^>]*>/g, '<$1pre>');
}

/** GNOME application help (Mallard, one document per page) in zh_CN and, where `tw`, zh_TW; ids PACKAGE/LOCALE/[HELP/]PAGE. */
function gnomeHelp(root: string, apps: [string, string, boolean][], withHelpDir = false): EvalDoc[] {
  return apps.flatMap(([pkg, app, tw]) =>
    (tw ? (['zh_CN', 'zh_TW'] as const) : (['zh_CN'] as const)).flatMap((l) =>
      pages(
        root,
        pkg,
        `usr/share/help/${l}/${app}`,
        /\.page$/,
        l === 'zh_CN' ? 'zh-cn' : 'zh-tw',
        'CC-BY-SA (per page, see the package)',
        1,
        mallardContent,
      ).map((d) => ({ ...d, id: d.id.replace(`${pkg}/`, `${pkg}/${l}/${withHelpDir ? `${app}/` : ''}`) })),
    ),
  );
}

export function convert(root: string): EvalDoc[] {
  // LibreOffice's help pages of one locale, every step-th page from the (first + 1)-th
  const lo = (l: string, loc: string, step = 8, first = 0) =>
    pages(
      root,
      `libreoffice-help-${l}`,
      `usr/share/libreoffice/help/${loc}/text`,
      /\.html$/,
      l,
      'MPL-2.0',
      step,
      libreofficeContent,
      first,
    );
  const loZh = (step: number, first: number) =>
    (['zh-cn', 'zh-tw'] as const).flatMap((l) => lo(l, l === 'zh-cn' ? 'zh-CN' : 'zh-TW', step, first));
  return [
    ...docbook(root, 'debian-faq-zh-cn', 'usr/share/doc/debian/FAQ/zh-cn', /\.html$/, 'zh-cn', 'GPL-2+'),
    ...docbook(root, 'debian-faq', 'usr/share/doc/debian/FAQ', /FAQ\/[^/]+\.en\.html$/, 'en', 'GPL-2+'),
    ...docbook(root, 'maint-guide-zh-cn', 'usr/share/doc/maint-guide-zh-cn/html', /\.html$/, 'zh-cn', 'GPL-2+'),
    ...docbook(root, 'maint-guide-zh-tw', 'usr/share/doc/maint-guide-zh-tw/html', /\.html$/, 'zh-tw', 'GPL-2+'),
    ...docbook(root, 'maint-guide-ja', 'usr/share/doc/maint-guide-ja/html', /\.html$/, 'ja', 'GPL-2+'),
    ...docbook(root, 'maint-guide', 'usr/share/doc/maint-guide/html', /\.html$/, 'en', 'GPL-2+'),
    ...docbook(root, 'debian-reference-ja', 'usr/share/debian-reference', /\.ja\.html$/, 'ja', 'GPL-2+'),
    ...lo('zh-cn', 'zh-CN'),
    ...lo('zh-tw', 'zh-TW'),
    ...lo('ja', 'ja'),
    ...lo('en-us', 'en-US').map((d) => ({ ...d, meta: { ...d.meta, locale: 'en' } })),
    ...pages(
      root,
      'lilypond-doc-html-zh',
      'usr/share/doc/lilypond/html/Documentation',
      /\.zh\.html$/,
      'zh-cn',
      'GFDL-1.1+',
      1,
      lilypondContent,
    ),
    ...man(root, 'manpages-ja', 'usr/share/man/ja', 'ja', 'see meta.path (per page)', 3),
    ...man(root, 'git-man', 'usr/share/man', 'en', 'GPL-2', 1),
    // added for the second judged set (judgements-2.jsonl): sources the first set did not draw from
    ...(['zh-CN', 'zh-TW'] as const).flatMap((l) =>
      docbook(
        root,
        'debian-handbook',
        `usr/share/doc/debian-handbook/html/${l}`,
        /\.html$/,
        l.toLowerCase(),
        'GPL-2.0+ or CC-BY-SA-3.0',
        `debian-handbook/${l}`,
      ),
    ),
    ...docbook(
      root,
      'installation-guide-amd64',
      'usr/share/doc/installation-guide-amd64/zh_CN',
      /\.html$/,
      'zh-cn',
      'GPL-2',
    ),
    ...pages(
      root,
      'gnome-user-docs',
      'usr/share/help/zh_CN/gnome-help',
      /\.page$/,
      'zh-cn',
      'CC-BY-SA-3.0',
      1,
      mallardContent,
    ),
    // the LibreOffice pages halfway between the ones above (every 8th page from the 5th)
    ...loZh(8, 4),
    // added for the third judged set (judgements-3.jsonl): the KiCad 6 manuals in Simplified Chinese (Asciidoctor),
    // one document per section
    ...asciidoc(root, 'kicad-doc-zh', 'usr/share/doc/kicad/help/zh', 'zh-cn', 'GPL-3+'),
    // added for the fourth judged set (judgements-4.jsonl): the GIMP 2.10 user manual in Simplified Chinese (DocBook
    // HTML, one document per help page, partly translated) and the Debian Edu bookworm manual zh-cn (one document per
    // section)
    ...pages(root, 'gimp-help-zh-cn', 'usr/share/gimp/2.0/help/zh_CN', /\.html$/, 'zh-cn', 'GFDL-1.2', 1, gimpContent),
    ...docbook(
      root,
      'debian-edu-doc-zh-cn',
      'usr/share/doc/debian-edu-doc-zh-cn',
      /bookworm-manual\.html$/,
      'zh-cn',
      'GPL-2+',
    ),
    // and the help of GNOME applications (Mallard, one document per page) in zh_CN and, where translated, zh_TW
    ...gnomeHelp(root, GNOME_APPS),
    // added for the fifth judged set (judgements-5.jsonl): the help of six more GNOME applications
    ...gnomeHelp(root, GNOME_APPS_5, true),
    // and LibreOffice help pages none of the earlier sets drew from (every 24th page from the 3rd, zh-CN / zh-TW)
    ...loZh(24, 2),
    // added for the sixth judged set (judgements-6.jsonl): the Chinese man pages of manpages-zh (zh_CN every 12th page,
    // zh_TW every 12th from the 6th, so no page is drawn in both scripts), AisleRiot's solitaire rules in zh_CN
    // (DocBook XML, every 2nd game), and the GNOME help pages of Logs (zh_CN) and Document Scanner (zh_TW)
    ...man(root, 'manpages-zh', 'usr/share/man/zh_CN', 'zh-cn', 'GFDL-1.2+ (per page, see the package)', 12),
    ...man(root, 'manpages-zh', 'usr/share/man/zh_TW', 'zh-tw', 'GFDL-1.2+ (per page, see the package)', 12, 6),
    ...pages(
      root,
      'aisleriot',
      'usr/share/help/zh_CN/aisleriot',
      /\/(?!legal\.xml$)[^/]+\.xml$/,
      'zh-cn',
      'GFDL-NIV-1.1+',
      2,
      docbookXmlContent,
    ),
    ...gnomeHelp(root, [['gnome-logs', 'gnome-logs', false]], true),
    ...pages(
      root,
      'simple-scan',
      'usr/share/help/zh_TW/simple-scan',
      /\.page$/,
      'zh-tw',
      'CC-BY-SA-3.0',
      1,
      mallardContent,
    ).map((d) => ({ ...d, id: d.id.replace('simple-scan/', 'simple-scan/zh_TW/') })),
    // added for the seventh judged set (judgements-7.jsonl): LibreOffice help pages none of the earlier sets drew from
    // (every 40th from the 14th, zh-CN / zh-TW; the earlier draws were every 8th from the 1st and the 5th and every 24th
    // from the 3rd), a held-out set rich in the shortcut tables, number functions and mixed pages session 8 changed
    // the rules for
    ...loZh(40, 13),
  ];
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [root, out] = process.argv.slice(2);
  if (!root || !out) throw new Error('usage: convert.ts EXTRACT_DIR OUT.jsonl');
  const docs = convert(root);
  writeFileSync(out, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const by = new Map<string, number>();
  for (const d of docs) by.set(d.source, (by.get(d.source) ?? 0) + 1);
  for (const [s, n] of by) console.log(`${s}\t${n}`);
  console.log(`${docs.length} documents -> ${out}`);
}
