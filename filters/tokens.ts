/**
 * Token counts for filters that need a tokenizer (alnum_token_ratio). filters/ does not load tokenizers itself: the
 * composition root (cli/operators.ts) provides them from tokenizer/, so the dependency runs down the house only.
 * Counters are kept per tokenizer spec (the step's `tokenizer` parameter), so two steps with different tokenizers
 * each count with their own.
 */

/** Counts the tokens of each text (no special tokens added). */
export interface TokenCounter {
  countTokens(texts: string[]): Promise<number[]>;
}

export type TokenCounterProvider = (spec: string) => TokenCounter | Promise<TokenCounter>;

let provider: TokenCounterProvider | undefined;
const counters = new Map<string, Promise<TokenCounter>>();

/** Install where token counters come from (the composition root does; tests may install their own). */
export function provideTokenCounters(p: TokenCounterProvider): void {
  provider = p;
  counters.clear();
}

/** The counter for tokenizer `spec` ("qwen", a tokenizer.json path, ...), loaded once per spec. */
export function tokenCounter(spec: string): Promise<TokenCounter> {
  let c = counters.get(spec);
  if (!c) {
    const p = provider;
    if (!p)
      return Promise.reject(
        new Error(
          `no tokenizer provider for "${spec}": filters get tokenizers from the composition root (cli/operators.ts)`,
        ),
      );
    c = Promise.resolve().then(() => p(spec));
    c.catch(() => counters.delete(spec));
    counters.set(spec, c);
  }
  return c;
}
