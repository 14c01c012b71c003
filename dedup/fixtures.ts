/**
 * Deterministic synthetic corpora for dedup tests: random Chinese / English documents plus planted duplicates
 * (exact copies with case / whitespace changes, and near-duplicates with character edits).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from './minhash.ts';

const ZH =
  '的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许稜先口由死安写性马光白或住难望教命花结乐色';
const EN =
  'the of and to in is was for that with as on by at from his her it an are which be this had were not or but also first new one two their they has its after been who other time year into more school city world game used may over state these people history known part most some music three high national university when during film only between series can while would than team best made season early under many where called government'.split(
    ' ',
  );

export interface FixtureDoc {
  id: string;
  text: string;
  source: string;
  lang?: string;
  meta: Record<string, unknown>;
}

export function randomZh(rnd: () => number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) {
    s += ZH[rnd() % ZH.length];
    if (i % 40 === 39) s += '。\n';
  }
  return s;
}

export function randomEn(rnd: () => number, words: number): string {
  const w: string[] = [];
  for (let i = 0; i < words; i++) w.push(EN[rnd() % EN.length]!);
  return w.join(' ');
}

/** Replace a fraction of characters at random positions. */
export function editChars(rnd: () => number, text: string, fraction: number): string {
  const a = Array.from(text);
  const n = Math.round(a.length * fraction);
  for (let i = 0; i < n; i++) a[rnd() % a.length] = ZH[rnd() % ZH.length]!;
  return a.join('');
}

export interface Fixture {
  files: string[];
  /** id of a planted duplicate -> id of its original. */
  planted: Map<string, string>;
}

/**
 * `files` JSONL files under dir; each holds `perFile` original docs (alternating zh / en) and near-duplicates of
 * earlier originals (1% character edits for zh, a changed word for en, and exact copies with changed case/spaces).
 */
export function writeFixture(dir: string, opts: { files?: number; perFile?: number; seed?: number } = {}): Fixture {
  const files = opts.files ?? 3;
  const perFile = opts.perFile ?? 30;
  const rnd = seededRandom(opts.seed ?? 7);
  mkdirSync(dir, { recursive: true });
  const originals: FixtureDoc[] = [];
  const planted = new Map<string, string>();
  const paths: string[] = [];
  for (let f = 0; f < files; f++) {
    const lines: string[] = [];
    for (let i = 0; i < perFile; i++) {
      const zh = i % 2 === 0;
      const id = `f${f}-d${i}`;
      const doc: FixtureDoc = {
        id,
        text: zh ? randomZh(rnd, 300 + (rnd() % 300)) : randomEn(rnd, 150 + (rnd() % 100)),
        source: 'fixture',
        meta: { quality_score: (rnd() % 1000) / 1000 },
      };
      if (!zh) doc.lang = 'en';
      originals.push(doc);
      lines.push(JSON.stringify(doc));
      // a duplicate of an earlier original every third document
      if (i % 3 === 2 && originals.length > 3) {
        const o = originals[rnd() % (originals.length - 1)]!;
        if ([...planted.values()].includes(o.id) || planted.has(o.id)) continue;
        const did = `${id}-dup`;
        let t: string;
        if (i % 2 === 0) t = o.lang === 'en' ? o.text.toUpperCase() + '  ' : editChars(rnd, o.text, 0.01);
        else t = o.lang === 'en' ? o.text.replace(/ school /, ' schools ') + ' extra' : o.text + '\n转载请注明出处';
        planted.set(did, o.id);
        lines.push(JSON.stringify({ ...o, id: did, text: t }));
        if (i % 4 === 0 && o.lang !== 'en') {
          // a chain: an edit of the edit (near the first copy, further from the original)
          const cid = `${id}-dup2`;
          planted.set(cid, o.id);
          lines.splice(lines.length - 1, 0, JSON.stringify({ ...o, id: cid, text: editChars(rnd, t, 0.01) }));
        }
      }
    }
    const p = join(dir, `part-${f}.jsonl`);
    writeFileSync(p, lines.join('\n') + '\n');
    paths.push(p);
  }
  return { files: paths, planted };
}
