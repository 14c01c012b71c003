import { parseArgs } from 'node:util';

export const summary =
  'Train a character (or word) n-gram LM with modified Kneser-Ney smoothing, written as ARPA; score text with one';

const HELP = `usage:
  steel lm train --input FILES... --out model.arpa [--order 5] [--tokenization char|whitespace|jieba] [--field text] [--max-docs N]
  steel lm score --model model.arpa [--tokenization char] TEXT_FILE_OR_JSONL...

train: reads text files (one sentence per line) or JSONL(.zst/.gz) documents (field "text"; each line of a document is
a sentence) and writes an interpolated modified Kneser-Ney model as an ARPA file (loadable by KenLM too).
score: prints the perplexity of each document (data-juicer formula) as JSON lines {id, perplexity}.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return sub ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      input: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      model: { type: 'string' },
      order: { type: 'string', default: '5' },
      tokenization: { type: 'string', default: 'char' },
      field: { type: 'string', default: 'text' },
      'max-docs': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const tok = values.tokenization as 'char' | 'whitespace' | 'jieba';
  if (!['char', 'whitespace', 'jieba'].includes(tok))
    throw new Error(`--tokenization must be char, whitespace or jieba (got ${tok})`);
  const { readRecords, detectFormat, expandInput } = await import('../../pipeline/readers/index.ts');
  const lm = await import('../../filters/lm.ts');
  const files = [...(values.input as string[]), ...positionals].flatMap((p) => expandInput(p));
  async function* docs(): AsyncGenerator<{ id: string; text: string }> {
    let n = 0;
    const max = values['max-docs'] ? Number(values['max-docs']) : Infinity;
    for (const f of files) {
      const fmt = detectFormat(f);
      for await (const it of readRecords(f, { format: fmt === 'jsonl' ? 'jsonl' : 'text' })) {
        if (it.kind === 'reject') throw new Error(`${f}:${it.loc.line}: ${it.error}`);
        const t = it.record[fmt === 'jsonl' ? values.field! : 'text'];
        if (typeof t !== 'string') throw new Error(`${f}:${it.loc.line}: field "${values.field}" is not a string`);
        yield { id: typeof it.record.id === 'string' ? it.record.id : `${f}:${it.loc.line}`, text: t };
        if (++n >= max) return;
      }
    }
  }
  if (sub === 'train') {
    if (files.length === 0) throw new Error('--input FILES is required');
    if (!values.out) throw new Error('--out model.arpa is required');
    const order = Number(values.order);
    if (!Number.isInteger(order) || order < 1 || order > 10) throw new Error('--order must be an integer 1..10');
    const t0 = performance.now();
    const sentences: string[][] = [];
    let chars = 0,
      nd = 0;
    for await (const d of docs()) {
      nd++;
      for (const line of d.text.split('\n')) {
        const toks = lm.tokenizeLine(line, tok);
        if (toks.length) {
          sentences.push(toks);
          chars += line.length;
        }
      }
      if (nd % 1000 === 0) console.error(`lm train: ${nd} documents, ${sentences.length} sentences`);
    }
    const model = lm.trainKneserNey(sentences, order);
    const { writeFileAtomic } = await import('../../pipeline/fsutil.ts');
    writeFileAtomic(values.out, lm.formatArpa(model));
    console.log(
      `lm train: ${nd} documents, ${sentences.length} sentences, ${chars.toLocaleString('en-US')} characters -> ${values.out} ` +
        `(order ${order}, ${tok}; n-grams ${model.grams.map((g) => g.size).join('/')}; discounts ${model.discounts.map((d) => d.map((x) => x.toFixed(3)).join(',')).join(' | ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return 0;
  }
  if (sub === 'score') {
    if (!values.model) throw new Error('--model model.arpa is required');
    const m = await lm.loadArpa(values.model);
    for await (const d of docs()) console.log(JSON.stringify({ id: d.id, perplexity: m.perplexity(d.text, tok) }));
    return 0;
  }
  throw new Error(`unknown subcommand "${sub}" (train, score)`);
}
