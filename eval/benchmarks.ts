/**
 * Benchmark loaders for the public released layouts:
 * - C-Eval (ceval-exam.zip): {dev,val,test}/SUBJECT_{dev,val,test}.csv, header id,question,A,B,C,D,answer[,explanation]
 *   (test has no answers: they are hidden);
 * - CMMLU (cmmlu_v1_0_1.zip, or data/ of its repository): {dev,test}/SUBJECT.csv, header ",Question,A,B,C,D,Answer";
 * - MMLU (data.tar): data/{dev,val,test}/SUBJECT_{dev,val,test}.csv, no header, question,A,B,C,D,answer.
 * A malformed file (missing column, wrong field count, answer not in A-D, empty question) is an error naming file and line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from './csv.ts';
import { readArchive } from './archive.ts';
import {
  CEVAL_CATEGORIES,
  CEVAL_SUBJECTS,
  CMMLU_CATEGORIES,
  CMMLU_SUBJECTS,
  MMLU_CATEGORIES,
  MMLU_SUBJECTS,
  type SubjectInfo,
} from './subjects.ts';

export const LETTERS = ['A', 'B', 'C', 'D'] as const;
export type Letter = (typeof LETTERS)[number];
export type TaskName = 'ceval' | 'cmmlu' | 'mmlu';
export const TASKS: TaskName[] = ['ceval', 'cmmlu', 'mmlu'];

export interface Item {
  task: TaskName;
  subject: string;
  split: string;
  /** the id column (C-Eval) or the 0-based row index within the file. */
  id: string;
  question: string;
  choices: [string, string, string, string];
  /** null where the split's answers are not published (C-Eval test). */
  answer: Letter | null;
  file: string;
  line: number;
}

export interface BenchmarkSpec {
  name: TaskName;
  title: string;
  lang: 'zh' | 'en';
  subjects: SubjectInfo[];
  categories: string[];
  splits: string[];
  /** the split the published numbers use (C-Eval: val, its test answers are hidden; CMMLU, MMLU: test). */
  evalSplit: string;
  fewshotSplit: string;
  /** file of SUBJECT's SPLIT relative to the layout root. */
  file(split: string, subject: string): string;
  /** subject of a file name inside a split folder, or null when the name does not fit the layout. */
  subjectOf(split: string, fileName: string): string | null;
  parse(rows: string[][], lines: number[], file: string, split: string, subject: string): Item[];
}

function isLetter(s: string): s is Letter {
  return s === 'A' || s === 'B' || s === 'C' || s === 'D';
}

function checkAnswer(raw: string, file: string, line: number, required: boolean): Letter | null {
  const a = raw.trim();
  if (!a && !required) return null;
  if (!isLetter(a)) throw new Error(`${file}:${line}: answer ${JSON.stringify(raw)} is not one of A, B, C, D`);
  return a;
}

/** header-based parsing (C-Eval, CMMLU): columns by name; `answerOptional` splits may lack the answer column. */
function parseWithHeader(
  task: TaskName,
  cols: { id?: string; question: string; answer: string },
  answerOptional: boolean,
) {
  return (rows: string[][], lines: number[], file: string, split: string, subject: string): Item[] => {
    if (rows.length === 0) throw new Error(`${file}: empty file (no header)`);
    const header = rows[0].map((h) => h.trim());
    const col = (name: string, optional = false): number => {
      const i = header.indexOf(name);
      if (i < 0 && !optional)
        throw new Error(`${file}:${lines[0]}: missing column "${name}" (header: ${rows[0].join(',')})`);
      return i;
    };
    const qi = col(cols.question),
      ci = LETTERS.map((l) => col(l));
    const ai = col(cols.answer, answerOptional);
    const ii = cols.id ? col(cols.id, true) : 0;
    const out: Item[] = [];
    for (let r = 1; r < rows.length; r++) {
      const f = rows[r],
        line = lines[r];
      if (f.length !== header.length)
        throw new Error(`${file}:${line}: ${f.length} fields, the header has ${header.length}`);
      const question = f[qi];
      if (!question.trim()) throw new Error(`${file}:${line}: empty question`);
      out.push({
        task,
        subject,
        split,
        id: ii >= 0 ? f[ii] : String(r - 1),
        question,
        choices: ci.map((i) => f[i]) as Item['choices'],
        answer: ai >= 0 ? checkAnswer(f[ai], file, line, !answerOptional) : null,
        file,
        line,
      });
    }
    return out;
  };
}

const suffixSubject = (split: string, fileName: string): string | null => {
  const suf = `_${split}.csv`;
  return fileName.endsWith(suf) ? fileName.slice(0, -suf.length) : null;
};

export const BENCHMARKS: Record<TaskName, BenchmarkSpec> = {
  ceval: {
    name: 'ceval',
    title: 'C-Eval',
    lang: 'zh',
    subjects: CEVAL_SUBJECTS,
    categories: CEVAL_CATEGORIES,
    splits: ['dev', 'val', 'test'],
    evalSplit: 'val',
    fewshotSplit: 'dev',
    file: (split, subject) => `${split}/${subject}_${split}.csv`,
    subjectOf: suffixSubject,
    parse: (rows, lines, file, split, subject) =>
      parseWithHeader('ceval', { id: 'id', question: 'question', answer: 'answer' }, split === 'test')(
        rows,
        lines,
        file,
        split,
        subject,
      ),
  },
  cmmlu: {
    name: 'cmmlu',
    title: 'CMMLU',
    lang: 'zh',
    subjects: CMMLU_SUBJECTS,
    categories: CMMLU_CATEGORIES,
    splits: ['dev', 'test'],
    evalSplit: 'test',
    fewshotSplit: 'dev',
    file: (split, subject) => `${split}/${subject}.csv`,
    subjectOf: (_split, fileName) => (fileName.endsWith('.csv') ? fileName.slice(0, -4) : null),
    parse: parseWithHeader('cmmlu', { question: 'Question', answer: 'Answer' }, false),
  },
  mmlu: {
    name: 'mmlu',
    title: 'MMLU',
    lang: 'en',
    subjects: MMLU_SUBJECTS,
    categories: MMLU_CATEGORIES,
    splits: ['dev', 'val', 'test'],
    evalSplit: 'test',
    fewshotSplit: 'dev',
    file: (split, subject) => `${split}/${subject}_${split}.csv`,
    subjectOf: suffixSubject,
    parse(rows, lines, file, split, subject) {
      return rows.map((f, r) => {
        const line = lines[r];
        if (f.length !== 6)
          throw new Error(`${file}:${line}: ${f.length} fields, MMLU rows have 6 (question,A,B,C,D,answer)`);
        if (!f[0].trim()) throw new Error(`${file}:${line}: empty question`);
        return {
          task: 'mmlu' as const,
          subject,
          split,
          id: String(r),
          question: f[0],
          choices: f.slice(1, 5) as Item['choices'],
          answer: checkAnswer(f[5], file, line, true),
          file,
          line,
        };
      });
    },
  },
};

export function getBenchmark(name: string): BenchmarkSpec {
  const b = BENCHMARKS[name as TaskName];
  if (!b) throw new Error(`unknown task "${name}" (known: ${TASKS.join(', ')})`);
  return b;
}

/** where a split's files come from: an unpacked folder, or the released archive as downloaded. */
export interface LayoutSource {
  /** names of the CSV files of a split (sorted). */
  list(split: string): string[];
  /** text of one file and the name errors use for it (a path, or ARCHIVE!ENTRY). */
  read(split: string, name: string): { text: string; where: string };
  where(split: string): string;
}

function folderSource(root: string): LayoutSource {
  return {
    list: (split) => {
      const d = join(root, split);
      return existsSync(d)
        ? readdirSync(d)
            .filter((f) => f.endsWith('.csv'))
            .sort()
        : [];
    },
    read: (split, name) => {
      const f = join(root, split, name);
      return { text: readFileSync(f, 'utf8'), where: f };
    },
    where: (split) => join(root, split),
  };
}

/** entries SPLIT/NAME.csv anywhere in the archive (C-Eval: val/x_val.csv; MMLU: data/val/x_val.csv). */
function archiveSource(spec: BenchmarkSpec, path: string): LayoutSource {
  const entries = readArchive(path);
  const bySplit = new Map<string, Map<string, string>>();
  for (const name of entries.keys()) {
    const parts = name.split('/');
    if (parts.length < 2 || !parts[parts.length - 1].endsWith('.csv') || parts.some((x) => x === '__MACOSX')) continue;
    const split = parts[parts.length - 2];
    if (!spec.splits.includes(split)) continue;
    if (!bySplit.has(split)) bySplit.set(split, new Map());
    bySplit.get(split)!.set(parts[parts.length - 1], name);
  }
  if (bySplit.size === 0)
    throw new Error(
      `${path}: no ${spec.title} files inside (expected ${spec.file(spec.evalSplit, 'SUBJECT')} entries)`,
    );
  return {
    list: (split) => [...(bySplit.get(split)?.keys() ?? [])].sort(),
    read: (split, name) => {
      const entry = bySplit.get(split)!.get(name)!;
      return { text: entries.get(entry)!.toString('utf8'), where: `${path}!${entry}` };
    },
    where: (split) => `${path}!${split}/`,
  };
}

/**
 * the files of a benchmark folder: unpacked split folders in DIR or DIR/data (MMLU's data.tar, CMMLU's repository),
 * else the released archive in DIR (what `steel collect` downloads), read without unpacking.
 */
export function openLayout(spec: BenchmarkSpec, dir: string): LayoutSource {
  for (const r of [dir, join(dir, 'data')])
    if (spec.splits.some((s) => existsSync(join(r, s)) && statSync(join(r, s)).isDirectory())) return folderSource(r);
  const archives = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.(zip|tar)$/.test(f))
        .sort()
    : [];
  if (archives.length === 1) return archiveSource(spec, join(dir, archives[0]));
  if (archives.length > 1) throw new Error(`${dir}: several archives (${archives.join(', ')}); keep one or unpack it`);
  throw new Error(
    `${dir}: no ${spec.title} layout here (expected folders ${spec.splits.join('/')}/ with ${spec.file(spec.evalSplit, 'SUBJECT')}, ` +
      `or the released archive as steel collect downloads it)`,
  );
}

export interface LoadedSplit {
  spec: BenchmarkSpec;
  split: string;
  /** subject -> items in file order. Only subjects whose file exists. */
  bySubject: Map<string, Item[]>;
  /** subjects of the benchmark with no file in this folder. */
  missing: string[];
}

/** reads one split of a benchmark; `subjects` restricts it (unknown names are an error). */
export function loadSplit(spec: BenchmarkSpec, dir: string, split: string, subjects?: string[]): LoadedSplit {
  if (!spec.splits.includes(split))
    throw new Error(`${spec.title} has no split "${split}" (splits: ${spec.splits.join(', ')})`);
  const known = new Set(spec.subjects.map((s) => s.name));
  if (subjects) for (const s of subjects) if (!known.has(s)) throw new Error(`${spec.title} has no subject "${s}"`);
  const src = openLayout(spec, dir);
  const present = new Map<string, string>();
  for (const f of src.list(split)) {
    const subj = spec.subjectOf(split, f);
    if (!subj || !known.has(subj))
      throw new Error(
        `${src.read(split, f).where}: not a ${spec.title} ${split} file (unknown subject "${subj ?? f}")`,
      );
    present.set(subj, f);
  }
  const want = (subjects ?? spec.subjects.map((s) => s.name)).filter((s) => present.has(s));
  if (want.length === 0)
    throw new Error(
      `${src.where(split)}: no ${spec.title} ${split} files${subjects ? ` for ${subjects.join(', ')}` : ''}`,
    );
  const bySubject = new Map<string, Item[]>();
  for (const subj of want) {
    const { text, where } = src.read(split, present.get(subj)!);
    const rows = parseCsv(text, where);
    bySubject.set(
      subj,
      spec.parse(
        rows.map((r) => r.fields),
        rows.map((r) => r.line),
        where,
        split,
        subj,
      ),
    );
  }
  const missing = (subjects ?? spec.subjects.map((s) => s.name)).filter((s) => !present.has(s));
  return { spec, split, bySubject, missing };
}

export function subjectInfo(spec: BenchmarkSpec, subject: string): SubjectInfo {
  const s = spec.subjects.find((x) => x.name === subject);
  if (!s) throw new Error(`${spec.title} has no subject "${subject}"`);
  return s;
}
