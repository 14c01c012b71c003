/**
 * Checks of a fine-tuned model: greedy exact match of chat replies (the learning test's accuracy) and held-out
 * preference accuracy / reward margin against a reference model (DPO).
 */
import type { Backend } from './backend.ts';
import { weightedLoss } from './backend.ts';
import { generate } from './generate.ts';
import { toModelIds } from './load.ts';
import { UNK_RAW_ID } from './config.ts';
import { dpoLoss } from './objectives.ts';
import { vocabTable, mapTokens } from './trainer.ts';
import { decodeIds, type LoadedTokenizer } from '../tokenizer/encode.ts';
import { encodeChatPrompt, encodePreferences } from '../tokenizer/sft.ts';
import type { ChatMessage } from '../pipeline/chat.ts';

export interface ChatItem {
  prompt: string;
  answer: string;
}

/**
 * Greedy reply to each prompt (chat template, stop at <|im_end|>), compared to the answer after trimming.
 * `fullForward`: re-run the whole context for every new token instead of the KV cache (for the Steel kind the
 * Soft-MoE then mixes the whole row as in training; with the KV cache it sees one token at a time).
 */
export async function chatExactMatch(
  be: Backend,
  vocabIds: Int32Array | null,
  tok: LoadedTokenizer['tok'],
  items: ChatItem[],
  o: { maxTokens?: number; fullForward?: boolean } = {},
): Promise<{ accuracy: number; samples: { prompt: string; answer: string; reply: string }[] }> {
  let ok = 0;
  const samples: { prompt: string; answer: string; reply: string }[] = [];
  const unk = vocabIds ? vocabIds.indexOf(UNK_RAW_ID) : -1;
  const gen = o.fullForward ? withoutCache(be) : be;
  for (const it of items) {
    const raw = await encodeChatPrompt(tok, [{ role: 'user', content: it.prompt }]);
    const ids = toModelIds(raw, vocabIds);
    const out = await generate(gen, ids, {
      maxTokens: o.maxTokens ?? 16,
      temperature: 0,
      topP: 1,
      seed: 1,
      stopIds: [be.config.eosId],
      banIds: unk >= 0 ? [unk] : [],
    });
    const body = out[out.length - 1] === be.config.eosId ? out.slice(0, -1) : out;
    const reply = (
      await decodeIds(
        tok,
        body.map((i) => (vocabIds ? vocabIds[i] : i)),
      )
    ).trim();
    if (reply === it.answer.trim() && out[out.length - 1] === be.config.eosId) ok++;
    if (samples.length < 6) samples.push({ prompt: it.prompt, answer: it.answer, reply });
  }
  return { accuracy: ok / items.length, samples };
}

/** the backend seen without its KV-cache decoder (generation then re-runs the full context). */
function withoutCache(be: Backend): Backend {
  return new Proxy(be, { get: (t, k) => (k === 'startDecode' ? undefined : Reflect.get(t, k, t)) });
}

export interface PairItem {
  prompt: ChatMessage[];
  chosen: string;
  rejected: string;
}

/** Summed reply log-probs of chosen and rejected replies for each pair (chat template as in training). */
export async function pairLogProbs(
  be: Backend,
  vocabIds: Int32Array | null,
  tok: LoadedTokenizer['tok'],
  pairs: PairItem[],
): Promise<{ chosen: Float64Array; rejected: Float64Array }> {
  const wl = weightedLoss(be);
  const enc = await encodePreferences(tok, pairs);
  const table = vocabIds ? vocabTable(vocabIds, be.config.padId) : null;
  const chosen = new Float64Array(pairs.length),
    rejected = new Float64Array(pairs.length);
  for (let i = 0; i < enc.length; i++) {
    for (const [col, dst] of [
      ['chosen', chosen],
      ['rejected', rejected],
    ] as const) {
      const p = enc[i].prompt,
        r = enc[i][col];
      const raw = new Int32Array(p.length + r.length);
      raw.set(p);
      raw.set(r, p.length);
      const T = raw.length - 1;
      const w = new Float32Array(T);
      for (let t = p.length - 1; t < T; t++) w[t] = 1;
      const ids = mapTokens(raw, table, be.config.padId).tokens;
      dst[i] = (await wl.sequenceLogProbs(ids, 1, T, w))[0];
    }
  }
  return { chosen, rejected };
}

/** Held-out DPO metrics of a policy against reference log-probs: preference accuracy and mean reward margin. */
export function preferenceMetrics(
  policy: { chosen: Float64Array; rejected: Float64Array },
  ref: { chosen: Float64Array; rejected: Float64Array },
  beta: number,
): { accuracy: number; margin: number; loss: number } {
  const d = dpoLoss(
    Float64Array.from([...policy.chosen, ...policy.rejected]),
    Float64Array.from([...ref.chosen, ...ref.rejected]),
    beta,
  );
  return { accuracy: d.accuracy, margin: d.margin, loss: d.loss };
}
