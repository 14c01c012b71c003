/**
 * The model side of evaluation: log-likelihood of continuations and greedy generation over a training Backend.
 *
 * Scoring runs the model the way it runs at inference. The Steel kind's Soft-MoE mixes every token of a sequence into
 * its slots, so one forward pass over prompt + answer would let the answer leak into its own score; it is scored with
 * the KV-cache decoder instead (prefill the context, then the answer tokens one at a time, as train/generate.ts does),
 * where each token's score depends only on the tokens before it. The dense kind is causal and is scored in one
 * forward pass per continuation (the same numbers, tested).
 */
import type { Backend } from '../train/backend.ts';
import { generateBatch } from '../train/generate.ts';
import { toModelIds } from '../train/load.ts';
import { UNK_RAW_ID } from '../train/config.ts';
import { decodeIds, encodeTexts, type LoadedTokenizer } from '../tokenizer/encode.ts';
import { encodeChatPrompt } from '../tokenizer/sft.ts';
import type { ChatMessage } from '../pipeline/chat.ts';

export interface LoglikRequest {
  context: string;
  continuation: string;
}
export interface LoglikResult {
  /** sum of the continuation tokens' log-probabilities (nats). */
  logprob: number;
  /** every continuation token is the argmax of its distribution. */
  greedy: boolean;
  /** continuation tokens and their log-probabilities. */
  tokens: number;
  tokenLogprobs: number[];
}

/** what the protocols need from a model (a Backend + tokenizer, or a scripted stand-in in tests). */
export interface EvalModel {
  readonly description: string;
  loglik(reqs: LoglikRequest[]): Promise<LoglikResult[]>;
  generate(prompt: string, o: { maxTokens: number }): Promise<string>;
  /** greedy reply to a conversation in the chat template (system prompt first), without the closing <|im_end|>. */
  chat(messages: ChatMessage[], o: { maxTokens: number; system?: string }): Promise<string>;
  /**
   * chat() for several conversations decoded together, at most `batch` at once (same replies as one at a time);
   * absent: chat() per item.
   */
  chatBatch?(
    conversations: ChatMessage[][],
    o: { maxTokens: number; system?: string; batch?: number },
  ): Promise<string[]>;
}

export type ScoringMode = 'incremental' | 'full';

function logSoftmaxAt(logits: Float32Array, off: number, V: number, target: number): { lp: number; argmax: boolean } {
  let mx = -Infinity,
    am = 0;
  for (let v = 0; v < V; v++) {
    const x = logits[off + v];
    if (x > mx) {
      mx = x;
      am = v;
    }
  }
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - mx);
  return {
    lp: logits[off + target] - mx - Math.log(s),
    argmax: logits[off + target] === mx && (am === target || logits[off + am] === logits[off + target]),
  };
}

/**
 * log-probabilities of `cont` after `ctx` (model ids). `incremental`: KV-cache decode (required for the Steel kind);
 * `full`: one causal forward pass over ctx + cont (dense kind only).
 */
export async function scoreContinuation(
  be: Backend,
  ctx: Int32Array,
  cont: Int32Array,
  mode: ScoringMode,
): Promise<{ lps: number[]; greedy: boolean }> {
  if (ctx.length === 0) throw new Error('scoring: empty context');
  if (cont.length === 0) throw new Error('scoring: empty continuation');
  const V = be.config.vocabSize,
    lps: number[] = [];
  let greedy = true;
  if (mode === 'full') {
    if (be.config.kind !== 'dense')
      throw new Error(
        `scoring: one-pass scoring would leak the answer into its own score on the ${be.config.kind} kind (Soft-MoE); use incremental`,
      );
    const seq = new Int32Array(ctx.length + cont.length);
    seq.set(ctx);
    seq.set(cont, ctx.length);
    const T = seq.length - 1;
    const logits = await be.forward(seq.subarray(0, T), 1, T);
    for (let i = 0; i < cont.length; i++) {
      const r = logSoftmaxAt(logits, (ctx.length - 1 + i) * V, V, cont[i]);
      lps.push(r.lp);
      greedy &&= r.argmax;
    }
    return { lps, greedy };
  }
  if (!be.startDecode)
    throw new Error(
      `scoring: backend ${be.name} has no KV-cache decoder (needed to score the ${be.config.kind} kind without the answer leaking)`,
    );
  const s = be.startDecode(ctx.length + cont.length);
  try {
    let logits = await s.feed(ctx);
    for (let i = 0; i < cont.length; i++) {
      const r = logSoftmaxAt(logits, 0, V, cont[i]);
      lps.push(r.lp);
      greedy &&= r.argmax;
      if (i < cont.length - 1) logits = await s.feed([cont[i]]);
    }
  } finally {
    s.dispose();
  }
  return { lps, greedy };
}

/** first-token log-probabilities of several single-token continuations after one shared prefill. */
async function scoreFirstTokens(
  be: Backend,
  ctx: Int32Array,
  firsts: number[],
  mode: ScoringMode,
): Promise<{ lp: number; argmax: boolean }[]> {
  const V = be.config.vocabSize;
  let logits: Float32Array,
    off = 0;
  if (mode === 'full') {
    logits = await be.forward(ctx, 1, ctx.length);
    off = (ctx.length - 1) * V;
  } else {
    if (!be.startDecode) throw new Error(`scoring: backend ${be.name} has no KV-cache decoder`);
    const s = be.startDecode(ctx.length);
    try {
      logits = await s.feed(ctx);
    } finally {
      s.dispose();
    }
  }
  return firsts.map((t) => logSoftmaxAt(logits, off, V, t));
}

export interface BackendModelOptions {
  /** token budget (default: the model's training context): longer context + continuation is cut from the left. */
  maxLength?: number;
  /** default: incremental for the Steel kind, full for the dense kind. */
  scoring?: ScoringMode;
}

/** An EvalModel over a Backend and a tokenizer (compact vocabularies mapped through vocabIds). */
export class BackendModel implements EvalModel {
  readonly scoring: ScoringMode;
  readonly maxLength: number;
  truncated = 0;
  constructor(
    readonly be: Backend,
    readonly tk: LoadedTokenizer,
    readonly vocabIds: Int32Array | null,
    readonly description: string,
    o: BackendModelOptions = {},
  ) {
    this.scoring = o.scoring ?? (be.config.kind === 'dense' ? 'full' : 'incremental');
    if (this.scoring === 'full' && be.config.kind !== 'dense')
      throw new Error(
        `--scoring full is for the dense kind only (the ${be.config.kind} kind's Soft-MoE is not causal)`,
      );
    this.maxLength = o.maxLength ?? be.config.seqLen;
  }

  async encode(text: string): Promise<number[]> {
    if (!text) return [];
    const [raw] = await encodeTexts(this.tk.tok, [text], null);
    return Array.from(raw);
  }

  /**
   * context/continuation split as lm-evaluation-harness does it: trailing spaces of the context move to the
   * continuation, the continuation's tokens are those of (context + continuation) past the context's tokens.
   */
  async encodePair(context: string, continuation: string): Promise<{ ctx: number[]; cont: number[] }> {
    const n = context.length - context.trimEnd().length;
    if (n > 0) {
      continuation = context.slice(context.length - n) + continuation;
      context = context.slice(0, context.length - n);
    }
    const whole = await this.encode(context + continuation);
    const ctx = await this.encode(context);
    return { ctx: whole.slice(0, ctx.length), cont: whole.slice(ctx.length) };
  }

  async loglik(reqs: LoglikRequest[]): Promise<LoglikResult[]> {
    const enc = await Promise.all(reqs.map((r) => this.encodePair(r.context, r.continuation)));
    const out: LoglikResult[] = new Array(reqs.length);
    // requests sharing a context whose continuations are one token each: one prefill for all of them
    const groups = new Map<string, number[]>();
    enc.forEach((e, i) => {
      if (e.cont.length === 0)
        throw new Error(`loglik: continuation ${JSON.stringify(reqs[i].continuation)} encodes to no tokens`);
      const key = e.cont.length === 1 ? e.ctx.join(',') : `#${i}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const idx of groups.values()) {
      const { ctx, cont } = this.fit(enc[idx[0]].ctx, enc[idx[0]].cont);
      if (idx.length > 1 || cont.length === 1) {
        const r = await scoreFirstTokens(
          this.be,
          ctx,
          idx.map((i) => this.fit(enc[i].ctx, enc[i].cont).cont[0]),
          this.scoring,
        );
        idx.forEach((i, j) => {
          out[i] = { logprob: r[j].lp, greedy: r[j].argmax, tokens: 1, tokenLogprobs: [r[j].lp] };
        });
      } else {
        const r = await scoreContinuation(this.be, ctx, cont, this.scoring);
        out[idx[0]] = {
          logprob: r.lps.reduce((a, b) => a + b, 0),
          greedy: r.greedy,
          tokens: cont.length,
          tokenLogprobs: r.lps,
        };
      }
    }
    return out;
  }

  /** tokenizer ids -> model ids (compact vocabularies map through vocabIds; a full vocabulary must hold every id). */
  private modelIds(raw: number[]): Int32Array {
    if (this.vocabIds) return toModelIds(raw, this.vocabIds);
    const V = this.be.config.vocabSize;
    for (const id of raw)
      if (id >= V)
        throw new Error(
          `token id ${id} is outside the model's vocabulary of ${V} (evaluate with the tokenizer the model was trained with: --tokenizer)`,
        );
    return Int32Array.from(raw);
  }

  /** raw ids -> model ids, cut to maxLength + 1 tokens from the left (lm-evaluation-harness's rule). */
  private fit(ctxRaw: number[], contRaw: number[]): { ctx: Int32Array; cont: Int32Array } {
    const all = this.modelIds([...ctxRaw, ...contRaw]);
    const keep = this.maxLength + 1;
    if (contRaw.length >= keep)
      throw new Error(
        `loglik: continuation of ${contRaw.length} tokens does not fit the ${this.maxLength}-token context`,
      );
    const start = Math.max(0, all.length - keep);
    if (start > 0) this.truncated++;
    const ctx = all.subarray(start, ctxRaw.length);
    return { ctx, cont: all.subarray(ctxRaw.length) };
  }

  async generate(prompt: string, o: { maxTokens: number }): Promise<string> {
    return (await this.continueIds([await this.encode(prompt)], o.maxTokens))[0];
  }

  /** the chat template tokenized as fine-tuning tokenizes it (tokenizer/sft.ts encodeChatPrompt). */
  async chat(messages: ChatMessage[], o: { maxTokens: number; system?: string }): Promise<string> {
    return (await this.chatBatch([messages], o))[0];
  }

  /**
   * every conversation's greedy reply, decoded in one ragged batch of at most `batch` sequences at once, a slot whose
   * reply has ended taking the next conversation (train/generate.ts generateBatch).
   */
  async chatBatch(
    conversations: ChatMessage[][],
    o: { maxTokens: number; system?: string; batch?: number },
  ): Promise<string[]> {
    const raws = await Promise.all(
      conversations.map(async (m) => Array.from(await encodeChatPrompt(this.tk.tok, m, o.system))),
    );
    return this.continueIds(raws, o.maxTokens, o.batch);
  }

  /** greedy continuations (stop at eos, the unk class of a compact vocabulary banned), decoded to text. */
  private async continueIds(raws: number[][], maxTokensWanted: number, batch?: number): Promise<string[]> {
    const maxTokens = Math.max(1, Math.min(maxTokensWanted, this.maxLength - 1));
    const prompts = raws.map((raw) => {
      const ids = this.modelIds(raw);
      if (ids.length + maxTokens <= this.maxLength) return ids;
      this.truncated++;
      return ids.subarray(ids.length - (this.maxLength - maxTokens));
    });
    const unk = this.vocabIds ? this.vocabIds.indexOf(UNK_RAW_ID) : -1;
    const outs = await generateBatch(this.be, prompts, {
      maxTokens,
      temperature: 0,
      topP: 1,
      seed: 0,
      stopIds: [this.be.config.eosId],
      banIds: unk >= 0 ? [unk] : [],
      batch,
    });
    return Promise.all(
      outs.map((out) =>
        decodeIds(
          this.tk.tok,
          out.filter((id) => id !== this.be.config.eosId).map((id) => (this.vocabIds ? this.vocabIds[id] : id)),
          true,
        ),
      ),
    );
  }
}
