/**
 * Writes bench/prep-eval/labels.jsonl from the documents of convert.ts: per document its id, the sha256 (16 hex) of
 * its text and its language. The language is the package's locale (zh-cn, zh-tw, ja, en) unless the translation is
 * missing: prose units (CJK characters and Latin words outside <pre> blocks, proseUnits) decide, Latin share < 0.5 ->
 * the locale, > 0.75 -> en (an untranslated page), in between -> "LOCALE|en" (either answer counts as right).
 *
 *   npx tsx bench/prep-eval/label.ts DOCS.jsonl [OUT=bench/prep-eval/labels.jsonl]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { proseUnits, textHash, type EvalDoc } from './convert.ts';

export interface LangLabel {
  id: string;
  sha: string;
  lang: string;
  kinds: string[];
}

export function labelOf(d: EvalDoc): LangLabel {
  const loc = d.meta.locale;
  let lang = loc;
  if (loc !== 'en') {
    const u = proseUnits(d.text);
    const s = u.latin / Math.max(1, u.cjk + u.latin);
    if (s > 0.75) lang = 'en';
    else if (s >= 0.5) lang = `${loc}|en`;
  }
  return { id: d.id, sha: textHash(d.text), lang, kinds: d.meta.kinds };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [src, out = new URL('./labels.jsonl', import.meta.url).pathname] = process.argv.slice(2);
  const docs = readFileSync(src, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EvalDoc);
  const labels = docs.map(labelOf);
  writeFileSync(out, labels.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const by = new Map<string, number>();
  for (const l of labels) by.set(l.lang, (by.get(l.lang) ?? 0) + 1);
  console.log([...by].map(([k, v]) => `${k}: ${v}`).join(', '));
}
