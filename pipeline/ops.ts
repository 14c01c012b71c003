import { z } from 'zod';
import type { GlobalOp, MapOp, Op, Stage } from './stage.ts';
import type { Document } from './document.ts';
import { repartitionTask } from './global-tasks.ts';

/** Steel's per-record normalisation: Unicode normal form (NFKC by default) and removal of `\r`. */
export function normalizeText(
  text: string,
  form: 'NFC' | 'NFKC' | 'NFD' | 'NFKD' | 'none' = 'NFKC',
  removeCr = true,
): string {
  let t = form === 'none' ? text : text.normalize(form);
  if (removeCr && t.includes('\r')) t = t.replace(/\r/g, '');
  return t;
}

const NormalizeParams = z.object({
  form: z
    .enum(['NFKC', 'NFC', 'NFD', 'NFKD', 'none'])
    .default('NFKC')
    .describe(
      'Unicode normal form; NFKC (Steel) also folds full-width punctuation and letters to ASCII, NFC keeps them',
    ),
  remove_cr: z.boolean().default(true).describe('remove every carriage return (\\r)'),
});

function mapDocs(fn: (d: Document) => Document): Stage {
  return async function* (docs) {
    for await (const d of docs) yield fn(d);
  };
}

const nfkc: MapOp<z.infer<typeof NormalizeParams>> = {
  kind: 'map',
  name: 'nfkc',
  description:
    "Steel's per-record normalisation: Unicode normal form (NFKC by default, configurable) and removal of \\r",
  params: NormalizeParams,
  create: (p) => mapDocs((d) => ({ ...d, text: normalizeText(d.text, p.form, p.remove_cr) })),
};

const LimitParams = z.object({
  n: z
    .number()
    .int()
    .min(0)
    .default(1000)
    .describe('documents to keep per task; the rest of the task input is not read'),
});

function limitOp(name: string, description: string): MapOp<z.infer<typeof LimitParams>> {
  return {
    kind: 'map',
    name,
    description,
    params: LimitParams,
    stopsEarly: true,
    create: (p) =>
      async function* (docs) {
        if (p.n <= 0) return;
        let k = 0;
        for await (const d of docs) {
          yield d;
          if (++k >= p.n) return; // stop pulling: upstream records are not read, so they are not counted
        }
      },
  };
}

const SetLangParams = z.object({
  lang: z.string().min(1).describe('language code to set (e.g. "zh", "en", "code")'),
  overwrite: z.boolean().default(false).describe('replace a language the document already has'),
});

const setLang: MapOp<z.infer<typeof SetLangParams>> = {
  kind: 'map',
  name: 'set_lang',
  description: 'Set the document language (only where missing unless overwrite)',
  params: SetLangParams,
  create: (p) => mapDocs((d) => (d.lang && !p.overwrite ? d : { ...d, lang: p.lang })),
};

const SelectSourceParams = z.object({
  include: z
    .array(z.string())
    .default([])
    .describe('keep only these sources (exact name, or prefix ending with "*"); empty = all'),
  exclude: z.array(z.string()).default([]).describe('drop these sources (exact name, or prefix ending with "*")'),
});

function matches(source: string, pats: string[]): boolean {
  return pats.some((p) => (p.endsWith('*') ? source.startsWith(p.slice(0, -1)) : source === p));
}

const selectSource: MapOp<z.infer<typeof SelectSourceParams>> = {
  kind: 'map',
  name: 'select_source',
  description: 'Keep or drop documents by source name (rule "select_source")',
  params: SelectSourceParams,
  create: (p) =>
    async function* (docs, ctx) {
      for await (const d of docs) {
        if ((p.include.length && !matches(d.source, p.include)) || matches(d.source, p.exclude))
          ctx.drop(d, 'select_source', d.source);
        else yield d;
      }
    },
};

const SelectLangParams = z.object({
  langs: z
    .array(z.string())
    .min(1)
    .describe('languages to keep; documents with another or no language are dropped (rule "select_lang")'),
});

const selectLang: MapOp<z.infer<typeof SelectLangParams>> = {
  kind: 'map',
  name: 'select_lang',
  description: 'Keep only documents whose lang is in the list (rule "select_lang")',
  params: SelectLangParams,
  create: (p) =>
    async function* (docs, ctx) {
      for await (const d of docs) {
        if (d.lang && p.langs.includes(d.lang)) yield d;
        else ctx.drop(d, 'select_lang', d.lang ?? '');
      }
    },
};

const RepartitionParams = z.object({
  parts: z.number().int().min(1).default(8).describe('number of output files'),
});

const repartition: GlobalOp<z.infer<typeof RepartitionParams>> = {
  kind: 'global',
  name: 'repartition',
  rewritesDocs: true,
  description:
    'Redistribute the documents round-robin into `parts` files (every task scans all inputs; for modest sizes)',
  params: RepartitionParams,
  async run(p, ctx) {
    const results = await ctx.executor.runTasks(
      repartitionTask,
      { inputFiles: ctx.inputFiles, workDir: ctx.workDir, outDir: ctx.outDir },
      { name: 'repartition', stateDir: ctx.workDir, count: p.parts, workers: ctx.workers },
    );
    const sum = (k: 'read' | 'kept' | 'rejected') => results.reduce((a, r) => a + r[k], 0);
    return {
      outputFiles: results.map((r) => r.file),
      stats: { read: sum('read'), kept: sum('kept'), dropped: {}, rejected: sum('rejected') },
    };
  },
};

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [
  nfkc,
  limitOp('limit', 'Keep the first n documents of each task and stop reading (quick runs)'),
  limitOp('head', 'Alias of limit: the first n documents of each task'),
  setLang,
  selectSource,
  selectLang,
  repartition,
];
