/**
 * A labelled language-ID set built from the bundled sample (real Debian text): prose paragraphs of the zh-cn,
 * zh-tw and en documents, and code/shell blocks (<pre> listings) of debian-reference. Labels come from the
 * document's locale; paragraphs of a zh document need >= 20 Han characters (untranslated English passages and
 * command lines are left out), en paragraphs need >= 40 letters and no Han; prose paragraphs need a sentence ending and
 * < 2% code punctuation ({};=<>$\\|), since man pages embed C listings and shell sessions in plain paragraphs.
 */
import type { Document } from '../pipeline/document.ts';
import { stripTags, decodeEntities } from './mappers.ts';
import { readSample } from './harness.ts';

export type LidLabel = 'zh-cn' | 'zh-tw' | 'en' | 'code';
export interface LidItem {
  label: LidLabel;
  text: string;
  source: string;
}

const HAN = /\p{Script=Han}/gu;
const LETTER = /\p{L}/gu;

function labelOf(doc: Document): LidLabel | undefined {
  const loc = String((doc.meta.locale as string | undefined) ?? '')
    .toLowerCase()
    .replace('_', '-');
  if (doc.source.startsWith('fortunes')) return undefined; // verse and quotations; left out
  if (loc === 'zh-cn') return 'zh-cn';
  if (loc === 'zh-tw') return 'zh-tw';
  if (loc === 'en' || doc.lang === 'en') return 'en';
  return undefined;
}

export async function buildLidSet(perClass = 400): Promise<LidItem[]> {
  const sample = await readSample();
  const by: Record<LidLabel, LidItem[]> = { 'zh-cn': [], 'zh-tw': [], en: [], code: [] };
  const seenCode = new Set<string>();
  for (const { docs } of sample) {
    for (const d of docs) {
      const label = labelOf(d);
      if (!label) continue;
      // code blocks
      for (const m of d.text.matchAll(/<pre class="(?:programlisting|screen)">([\s\S]*?)<\/pre>/g)) {
        const code = decodeEntities(m[1].replace(/<[^>]+>/g, '')).trim();
        if (code.split('\n').length >= 3 && code.length >= 60 && !seenCode.has(code)) {
          seenCode.add(code);
          by.code.push({ label: 'code', text: code, source: d.source });
        }
      }
      const prose = stripTags(d.text.replace(/<pre[\s\S]*?<\/pre>/g, '\n\n'));
      for (const para of prose.split(/\n\s*\n/)) {
        const t = para.trim();
        const han = (t.match(HAN) ?? []).length;
        const letters = (t.match(LETTER) ?? []).length;
        // prose only: a sentence ending and little code punctuation (man pages embed C listings in plain paragraphs)
        const prose = /[.!?。！？](?:\s|$)/.test(t) && (t.match(/[{};=<>$\\|]/g) ?? []).length / t.length < 0.02;
        if (prose && (label === 'en' ? letters >= 40 && han === 0 : han >= 20))
          by[label].push({ label, text: t, source: d.source });
      }
    }
  }
  const out: LidItem[] = [];
  for (const k of Object.keys(by) as LidLabel[]) {
    const xs = by[k];
    const step = Math.max(1, Math.floor(xs.length / perClass));
    for (let i = 0; i < xs.length && out.filter((x) => x.label === k).length < perClass; i += step) out.push(xs[i]);
  }
  return out;
}
