/**
 * `steel tokenizer train`: count pre-tokens of the input documents (a deterministic hold-out split by document id is
 * kept aside), train byte-level BPE (tokenizer/bpe.ts), write tokenizer.json, then check exact round trip on the
 * training sample and report compression (characters per token) on the held-out Chinese and English documents,
 * next to the Qwen tokenizer.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Executor } from '../pipeline/executor-types.ts';
import { detectFormat, readDocuments, readTextLines } from '../pipeline/readers/index.ts';
import { WordCounter, trainBpe, toTokenizerJson, writeTokenizerJson, type TrainResult } from './bpe.ts';
import { loadTokenizer, encodeTexts, decodeIds } from './encode.ts';
import { countWordsTask } from './tasks.ts';

export interface TrainTokenizerOptions {
  inputs: string[];
  vocabSize: number;
  out: string;
  minFrequency?: number;
  specialTokens?: string[];
  nfc?: boolean;
  /** Fraction of documents held out for the compression report (default 0.1). */
  holdout?: number;
  /** Stop reading training text after this many characters (default: no limit). */
  maxChars?: number;
  /** Documents of the training sample checked for exact round trip (default 2000). */
  roundTripDocs?: number;
  compareWith?: string | null;
  log?: (m: string) => void;
  /** Count pre-tokens in this many worker processes (needs `executor` and several input files). */
  workers?: number;
  executor?: Executor;
  /** Folder for the count tables (default: a temporary folder). */
  workDir?: string;
}

export interface CountTaskArgs {
  inputs: string[];
  workDir: string;
  holdout: number;
  nfc?: boolean;
  maxChars?: number;
  roundTripDocs: number;
}

export function countFile(workDir: string, rank: number): string {
  return join(workDir, `counts-${String(rank).padStart(5, '0')}.json`);
}

export interface CompressionRow {
  lang: string;
  documents: number;
  chars: number;
  tokens: number;
  charsPerToken: number;
  refTokens?: number;
  refCharsPerToken?: number;
}

export interface TrainTokenizerReport {
  out: string;
  vocabSize: number;
  merges: number;
  trainChars: number;
  distinctWords: number;
  countSeconds: number;
  trainSeconds: number;
  roundTrip: { documents: number; failures: number };
  compression: CompressionRow[];
  stoppedEarly: boolean;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/g;
/** Language of a held-out document: its `lang`, else "zh" when at least 30% of characters are CJK, else "en". */
function langOf(text: string, lang?: string): string {
  if (lang) return lang;
  const n = text.match(CJK)?.length ?? 0;
  return n >= 0.3 * text.length ? 'zh' : 'en';
}

async function* inputDocs(files: string[]): AsyncGenerator<{ id: string; text: string; lang?: string }> {
  for (const f of files) {
    if (detectFormat(f) !== 'text') {
      for await (const { doc } of readDocuments(f)) yield doc;
    } else {
      // plain text: paragraphs (blank-line separated) are documents
      let buf: string[] = [];
      let start = 1;
      for await (const { line, text } of readTextLines(f)) {
        if (text.trim() === '' && buf.length) {
          yield { id: `${f}:${start}`, text: buf.join('\n') + '\n' };
          buf = [];
        } else if (text.trim() !== '') {
          if (!buf.length) start = line;
          buf.push(text);
        }
      }
      if (buf.length) yield { id: `${f}:${start}`, text: buf.join('\n') + '\n' };
    }
  }
}

export async function compressionOf(tokSpec: string, texts: string[]): Promise<{ chars: number; tokens: number }> {
  const { tok } = loadTokenizer(tokSpec);
  let chars = 0,
    tokens = 0;
  for (let i = 0; i < texts.length; i += 256) {
    const batch = texts.slice(i, i + 256);
    const enc = await encodeTexts(tok, batch, null);
    for (let j = 0; j < batch.length; j++) {
      chars += batch[j].length;
      tokens += enc[j].length;
    }
  }
  return { chars, tokens };
}

export interface CountResult {
  counts: Map<string, number>;
  chars: number;
  documents: number;
  held: Record<string, string[]>;
  roundTrip: string[];
}

/** Count the pre-tokens of the training part of `files`; keep the held-out documents (by id hash) aside. */
export async function countInputs(
  files: string[],
  o: { holdout: number; nfc?: boolean; maxChars?: number; roundTripDocs: number; log?: (m: string) => void },
): Promise<CountResult> {
  const wc = new WordCounter();
  const held: Record<string, string[]> = {};
  const roundTrip: string[] = [];
  let documents = 0;
  for await (const d of inputDocs(files)) {
    const text = o.nfc ? d.text.normalize('NFC') : d.text;
    if (o.holdout > 0 && fnv1a(d.id) % 10000 < o.holdout * 10000) {
      (held[langOf(text, d.lang)] ??= []).push(text);
      continue;
    }
    if (o.maxChars && wc.chars >= o.maxChars) continue;
    wc.add(text);
    documents++;
    if (roundTrip.length < o.roundTripDocs) roundTrip.push(text);
    if (documents % 5000 === 0)
      o.log?.(
        `[train] counted ${documents} documents, ${(wc.chars / 1e6).toFixed(1)}M chars, ${wc.counts.size} distinct pre-tokens`,
      );
  }
  return { counts: wc.counts, chars: wc.chars, documents, held, roundTrip };
}

export async function trainTokenizer(o: TrainTokenizerOptions): Promise<TrainTokenizerReport> {
  const log = o.log ?? ((m: string) => console.error(m));
  const holdout = o.holdout ?? 0.1;
  const rtMax = o.roundTripDocs ?? 2000;
  let t0 = performance.now();
  let counted: CountResult;
  const workers = o.workers ?? 1;
  if (workers > 1 && o.executor && o.inputs.length > 1) {
    // Parallel counting: task r counts files[r::world] and writes its table; the tables are summed here.
    const world = Math.min(o.inputs.length, 256);
    const workDir = o.workDir ?? mkdtempSync(join(tmpdir(), 'steel-bpe-count-'));
    const args: CountTaskArgs = {
      inputs: o.inputs.map((f) => resolve(f)),
      workDir,
      holdout,
      nfc: o.nfc,
      maxChars: o.maxChars ? Math.ceil(o.maxChars / world) : undefined,
      roundTripDocs: Math.ceil(rtMax / world),
    };
    const stats = await o.executor.runTasks(countWordsTask, args, {
      name: 'bpe-count',
      stateDir: join(workDir, 'markers'),
      count: world,
      workers,
    });
    const counts = new Map<string, number>();
    const held: Record<string, string[]> = {};
    const roundTrip: string[] = [];
    let chars = 0,
      documents = 0;
    for (let r = 0; r < world; r++) {
      const part = JSON.parse(readFileSync(countFile(workDir, r), 'utf8')) as {
        counts: [string, number][];
        held: Record<string, string[]>;
        roundTrip: string[];
      };
      for (const [w, c] of part.counts) counts.set(w, (counts.get(w) ?? 0) + c);
      for (const [lang, texts] of Object.entries(part.held)) (held[lang] ??= []).push(...texts);
      roundTrip.push(...part.roundTrip);
      chars += stats[r]!.chars;
      documents += stats[r]!.documents;
    }
    if (!o.workDir) rmSync(workDir, { recursive: true, force: true });
    else rmSync(join(workDir, 'markers'), { recursive: true, force: true });
    counted = { counts, chars, documents, held, roundTrip: roundTrip.slice(0, rtMax) };
  } else {
    counted = await countInputs(o.inputs, { holdout, nfc: o.nfc, maxChars: o.maxChars, roundTripDocs: rtMax, log });
  }
  const wc = { counts: counted.counts, chars: counted.chars };
  const nDocs = counted.documents;
  const held = new Map(Object.entries(counted.held));
  const rtSample = counted.roundTrip;
  if (wc.counts.size === 0) throw new Error(`no training text in ${o.inputs.join(', ')}`);
  const countSeconds = (performance.now() - t0) / 1000;
  log(
    `[train] ${nDocs} documents, ${(wc.chars / 1e6).toFixed(2)}M chars, ${wc.counts.size} distinct pre-tokens (${countSeconds.toFixed(1)}s); training ${o.vocabSize} tokens`,
  );
  t0 = performance.now();
  const r: TrainResult = trainBpe(wc.counts, {
    vocabSize: o.vocabSize,
    minFrequency: o.minFrequency,
    specialTokens: o.specialTokens,
    nfc: o.nfc,
    onProgress: (m, t) => {
      if (m % 5000 === 0) log(`[train] ${m}/${t} merges`);
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  if (r.stats.stoppedEarly)
    log(
      `[train] stopped at ${r.vocab.length + r.specialTokens.length} tokens: no pair left with frequency >= ${o.minFrequency ?? 2}`,
    );
  writeTokenizerJson(o.out, toTokenizerJson(r, { nfc: o.nfc }));
  log(
    `[train] wrote ${o.out}: ${r.vocab.length} tokens + ${r.specialTokens.length} special, ${r.merges.length} merges (${trainSeconds.toFixed(1)}s)`,
  );

  // exact round trip on the training sample
  const mine = loadTokenizer(o.out);
  const enc = await encodeTexts(mine.tok, rtSample, null);
  let failures = 0;
  for (let i = 0; i < rtSample.length; i++) {
    const back = await decodeIds(mine.tok, enc[i]);
    if (back !== rtSample[i]) {
      failures++;
      if (failures <= 3)
        log(`[train] round trip differs for a sample document: ${JSON.stringify(rtSample[i].slice(0, 80))}`);
    }
  }

  const compression: CompressionRow[] = [];
  for (const lang of [...held.keys()].sort()) {
    const texts = held.get(lang)!;
    const m = await compressionOf(o.out, texts);
    const row: CompressionRow = {
      lang,
      documents: texts.length,
      chars: m.chars,
      tokens: m.tokens,
      charsPerToken: m.chars / Math.max(1, m.tokens),
    };
    if (o.compareWith !== null) {
      const q = await compressionOf(o.compareWith ?? 'qwen', texts);
      row.refTokens = q.tokens;
      row.refCharsPerToken = q.chars / Math.max(1, q.tokens);
    }
    compression.push(row);
  }
  return {
    out: o.out,
    vocabSize: r.vocab.length + r.specialTokens.length,
    merges: r.merges.length,
    trainChars: wc.chars,
    distinctWords: wc.counts.size,
    countSeconds,
    trainSeconds,
    roundTrip: { documents: rtSample.length, failures },
    compression,
    stoppedEarly: r.stats.stoppedEarly,
  };
}
