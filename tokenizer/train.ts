/**
 * `steel tokenizer train`: count pre-tokens of the input documents (a deterministic hold-out split by document id is
 * kept aside), train byte-level BPE (tokenizer/bpe.ts), write tokenizer.json, then check exact round trip on the
 * training sample and report compression (characters per token) on the held-out Chinese and English documents,
 * next to the Qwen tokenizer.
 */
import { readDocs, readTextLines } from './docs-io.ts';
import { WordCounter, trainBpe, toTokenizerJson, writeTokenizerJson, type TrainResult } from './bpe.ts';
import { loadTokenizer, encodeTexts, decodeIds } from './encode.ts';

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
    if (/\.jsonl(\.zst|\.gz)?$/.test(f) || /\.json$/.test(f)) {
      for await (const d of readDocs(f)) yield d;
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
  let chars = 0, tokens = 0;
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

export async function trainTokenizer(o: TrainTokenizerOptions): Promise<TrainTokenizerReport> {
  const log = o.log ?? ((m: string) => console.error(m));
  const holdout = o.holdout ?? 0.1;
  const wc = new WordCounter();
  const held = new Map<string, string[]>();
  const rtSample: string[] = [];
  const rtMax = o.roundTripDocs ?? 2000;
  let t0 = performance.now();
  let nDocs = 0;
  for await (const d of inputDocs(o.inputs)) {
    const text = o.nfc ? d.text.normalize('NFC') : d.text;
    if (holdout > 0 && (fnv1a(d.id) % 10000) < holdout * 10000) {
      const lang = langOf(text, d.lang);
      if (!held.has(lang)) held.set(lang, []);
      held.get(lang)!.push(text);
      continue;
    }
    if (o.maxChars && wc.chars >= o.maxChars) continue;
    wc.add(text);
    nDocs++;
    if (rtSample.length < rtMax) rtSample.push(text);
    if (nDocs % 5000 === 0) log(`[train] counted ${nDocs} documents, ${(wc.chars / 1e6).toFixed(1)}M chars, ${wc.counts.size} distinct pre-tokens`);
  }
  if (wc.counts.size === 0) throw new Error(`no training text in ${o.inputs.join(', ')}`);
  const countSeconds = (performance.now() - t0) / 1000;
  log(`[train] ${nDocs} documents, ${(wc.chars / 1e6).toFixed(2)}M chars, ${wc.counts.size} distinct pre-tokens (${countSeconds.toFixed(1)}s); training ${o.vocabSize} tokens`);
  t0 = performance.now();
  const r: TrainResult = trainBpe(wc.counts, {
    vocabSize: o.vocabSize, minFrequency: o.minFrequency, specialTokens: o.specialTokens, nfc: o.nfc,
    onProgress: (m, t) => { if (m % 5000 === 0) log(`[train] ${m}/${t} merges`); },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  if (r.stats.stoppedEarly) log(`[train] stopped at ${r.vocab.length + r.specialTokens.length} tokens: no pair left with frequency >= ${o.minFrequency ?? 2}`);
  writeTokenizerJson(o.out, toTokenizerJson(r, { nfc: o.nfc }));
  log(`[train] wrote ${o.out}: ${r.vocab.length} tokens + ${r.specialTokens.length} special, ${r.merges.length} merges (${trainSeconds.toFixed(1)}s)`);

  // exact round trip on the training sample
  const mine = loadTokenizer(o.out);
  const enc = await encodeTexts(mine.tok, rtSample, null);
  let failures = 0;
  for (let i = 0; i < rtSample.length; i++) {
    const back = await decodeIds(mine.tok, enc[i]);
    if (back !== rtSample[i]) {
      failures++;
      if (failures <= 3) log(`[train] round trip differs for a sample document: ${JSON.stringify(rtSample[i].slice(0, 80))}`);
    }
  }

  const compression: CompressionRow[] = [];
  for (const lang of [...held.keys()].sort()) {
    const texts = held.get(lang)!;
    const m = await compressionOf(o.out, texts);
    const row: CompressionRow = { lang, documents: texts.length, chars: m.chars, tokens: m.tokens, charsPerToken: m.chars / Math.max(1, m.tokens) };
    if (o.compareWith !== null) {
      const q = await compressionOf(o.compareWith ?? 'qwen', texts);
      row.refTokens = q.tokens;
      row.refCharsPerToken = q.chars / Math.max(1, q.tokens);
    }
    compression.push(row);
  }
  return {
    out: o.out, vocabSize: r.vocab.length + r.specialTokens.length, merges: r.merges.length, trainChars: wc.chars,
    distinctWords: wc.counts.size, countSeconds, trainSeconds, roundTrip: { documents: rtSample.length, failures }, compression,
    stoppedEarly: r.stats.stoppedEarly,
  };
}
