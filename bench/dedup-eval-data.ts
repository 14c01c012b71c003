/**
 * Real documents for the dedup evaluation, per language, from Debian packages installed on this machine:
 *
 *   apt-get install manpages manpages-zh manpages-ja debian-reference-en debian-reference-zh-cn \
 *     debian-reference-zh-tw debian-reference-ja
 *
 * - manual pages: /usr/share/man/{zh_CN,zh_TW,ja,.}/man[1-8]/*.gz, troff requests and font escapes removed
 *   (the text lines kept as written); one document per page;
 * - the Debian Reference: /usr/share/doc/debian-reference-LANG/docs/*.LANG.html, one document per section
 *   (split at <h2>/<h3>), tags removed, entities decoded.
 *
 * Languages are the packages' (zh-cn, zh-tw, ja, en). Documents shorter than 200 characters are skipped; longer
 * ones are cut at a line end before 3,000 characters. The choice within a language is a deterministic hash order.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fmix32 } from '../dedup/text.ts';

export type EvalLang = 'zh-cn' | 'zh-tw' | 'ja' | 'en';
export const LANGS: EvalLang[] = ['zh-cn', 'zh-tw', 'ja', 'en'];

export interface SourceDoc {
  id: string;
  text: string;
  lang: EvalLang;
  source: string;
}

const MAN_DIR: Record<EvalLang, string> = {
  'zh-cn': '/usr/share/man/zh_CN',
  'zh-tw': '/usr/share/man/zh_TW',
  ja: '/usr/share/man/ja',
  en: '/usr/share/man',
};

function hashStr(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** Text lines of a troff page: requests dropped (the text arguments of .SH/.SS/.B/.I/.TP-style ones kept). */
export function troffText(src: string): string {
  const out: string[] = [];
  for (const line of src.split('\n')) {
    let l = line;
    if (l.startsWith('.\\"') || l.startsWith('\'\\"')) continue;
    if (l.startsWith('.') || l.startsWith("'")) {
      const m = /^[.'](SH|SS|B|I|BI|BR|IB|IR|RB|RI|SM|SB|IP|TP|HP|Nm|Nd|Sh|Ss|Fl|Ar|Op|Xr|Pa|Dq|Sq|Em)\s+(.*)$/.exec(l);
      if (!m) continue;
      l = m[2]!.replace(/"/g, '');
    }
    l = l
      .replace(/\\f(\[[^\]]*\]|\(..|.)/g, '')
      .replace(/\\\*(\[[^\]]*\]|\(..|.)/g, '')
      .replace(/\\\(em/g, '—')
      .replace(/\\\((..)/g, '')
      .replace(/\\[-e]/g, (x) => (x === '\\-' ? '-' : '\\'))
      .replace(/\\[&,/|^ 0]/g, (x) => (x === '\\ ' || x === '\\0' ? ' ' : ''))
      .replace(/\\s[+-]?\d/g, '')
      .replace(/\\(.)/g, '$1');
    out.push(l);
  }
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const ENT: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Sections of a Debian Reference chapter (split at h2/h3), tags removed. */
export function htmlSections(html: string): string[] {
  const body = html.replace(/<head>[\s\S]*?<\/head>/i, '').replace(/<(script|style)[\s\S]*?<\/\1>/gi, '');
  return body
    .split(/<h[23][^>]*>/i)
    .map((s) =>
      s
        .replace(/<\/(p|div|h\d|li|tr|pre|dt|dd|table)>/gi, '\n')
        .replace(/<br\s*\/?>/gi, '\n')
        .replace(/<[^>]+>/g, '')
        .replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
          e[0] === '#'
            ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
            : (ENT[e] ?? m),
        )
        .replace(/[ \t]+\n/g, '\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim(),
    )
    .filter((s) => s.length > 0);
}

function cut(t: string): string {
  if (t.length <= 3000) return t;
  const c = t.lastIndexOf('\n', 3000);
  return t.slice(0, c > 1000 ? c : 3000);
}

/** Up to `perLang` documents per language (about half manual pages, half Debian Reference sections). */
export function loadEvalSources(perLang: number): SourceDoc[] {
  const out: SourceDoc[] = [];
  for (const lang of LANGS) {
    const man: SourceDoc[] = [];
    const base = MAN_DIR[lang];
    for (let s = 1; s <= 8; s++) {
      const dir = join(base, `man${s}`);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) {
        if (!f.endsWith('.gz')) continue;
        // cheap pre-selection for the large English set: hash order first
        if (lang === 'en' && hashStr(f) % 8 !== 0) continue;
        let src: string;
        try {
          src = gunzipSync(readFileSync(join(dir, f))).toString('utf8');
        } catch {
          continue;
        }
        if (src.startsWith('.so ')) continue; // a link to another page
        const text = troffText(src);
        if (text.length >= 200) man.push({ id: `man-${lang}-${f}`, text: cut(text), lang, source: `manpages:${dir}` });
      }
    }
    const ref: SourceDoc[] = [];
    const rdir = `/usr/share/doc/debian-reference-${lang}/docs`;
    if (existsSync(rdir)) {
      for (const f of readdirSync(rdir).sort()) {
        if (!f.endsWith(`.${lang}.html`)) continue;
        htmlSections(readFileSync(join(rdir, f), 'utf8')).forEach((t, k) => {
          if (t.length >= 200)
            ref.push({ id: `ref-${lang}-${f}-${k}`, text: cut(t), lang, source: `debian-reference:${rdir}` });
        });
      }
    }
    const pick = (a: SourceDoc[], n: number) => a.sort((x, y) => hashStr(x.id) - hashStr(y.id)).slice(0, n);
    const r = pick(ref, Math.floor(perLang / 2));
    out.push(...r, ...pick(man, perLang - r.length));
  }
  return out;
}
