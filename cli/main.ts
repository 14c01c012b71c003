/**
 * The `steel` command. Each subcommand lives in cli/commands/NAME.ts and exports
 *   export const summary: string;                                  // one line for `steel --help`
 *   export async function run(argv: string[]): Promise<number>;    // exit code; must handle --help itself
 * Only the command that runs is imported: `steel --help` prints the summaries from the table below, which
 * cli/main.test.ts keeps equal to each module's `summary`.
 */
import { setting } from '../pipeline/settings.ts';

interface CommandModule {
  summary: string;
  run(argv: string[]): Promise<number>;
}

interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  prep: {
    summary:
      'run a data-prep recipe over inputs (default: recipe "zh-web" on the bundled sample, ending with token shards)',
    load: () => import('./commands/prep.ts'),
  },
  stats: {
    summary: "print a run's merged stats (totals, per stage, per rule, accounting invariant)",
    load: () => import('./commands/stats.ts'),
  },
  corpora: {
    summary: 'list the corpus manifests (corpora-manifests/), or show one: steel corpora show NAME',
    load: () => import('./commands/corpora.ts'),
  },
  collect: {
    summary: 'download corpora named in corpora-manifests/ (resumable, verified, records collect.json)',
    load: () => import('./commands/collect.ts'),
  },
  ops: {
    summary: 'list the operators usable in recipes (kind, description, params with defaults)',
    load: () => import('./commands/ops.ts'),
  },
  refilter: {
    summary: 'Re-apply changed filter thresholds to a finished run from its stored statistics (no recomputation)',
    load: () => import('./commands/refilter.ts'),
  },
  lm: {
    summary:
      'Train a character (or word) n-gram LM with modified Kneser-Ney smoothing, written as ARPA; score text with one',
    load: () => import('./commands/lm.ts'),
  },
  dedup: {
    summary: 'deduplicate documents (exact, MinHash LSH, SimHash) into kept docs + duplicates.jsonl',
    load: () => import('./commands/dedup.ts'),
  },
  tokenizer: {
    summary: 'tokenize documents into Arrow shards, train a byte-level BPE, verify and export shards',
    load: () => import('./commands/tokenizer.ts'),
  },
  inspect: {
    summary: 'report on a prep output or shard folder: sources, languages, lengths, tokens, duplicates, drops',
    load: () => import('./commands/inspect.ts'),
  },
  model: {
    summary: 'model presets: parameter counts and FLOPs (info), causality check (check-causal), list',
    load: () => import('./commands/model.ts'),
  },
  train: {
    summary: 'pretrain a model on token shards (CPU reference backend or CUDA), with exact resume',
    load: () => import('./commands/train.ts'),
  },
  generate: {
    summary: 'generate text from a checkpoint (temperature / top-p sampling, KV cache)',
    load: () => import('./commands/generate.ts'),
  },
  eval: {
    summary: 'benchmarks (C-Eval, CMMLU, MMLU: chat-gen or loglik) or held-out perplexity of a checkpoint',
    load: () => import('./commands/eval.ts'),
  },
  report: {
    summary:
      'report on a training run: loss, LR, grad norm, tokens/s, MFU and eval curves (terminal, JSON, HTML, TensorBoard)',
    load: () => import('./commands/report.ts'),
  },
  export: {
    summary: 'export a checkpoint as a Hugging Face folder (dense: Qwen2ForCausalLM; steel: Steel-LLM layout)',
    load: () => import('./commands/export.ts'),
  },
  import: {
    summary: 'import a Hugging Face Qwen2 / Steel-LLM checkpoint as a steel model.safetensors',
    load: () => import('./commands/import.ts'),
  },
  'sft-data': {
    summary: 'fine-tuning data: tokenize chat / preference records into SFT or DPO shards (loss mask, cutoff)',
    load: () => import('./commands/sft-data.ts'),
  },
  sft: {
    summary:
      'supervised fine-tuning (Steel-LLM-Chat recipe) from a pretrained run or HF folder on steel sft-data shards',
    load: () => import('./commands/sft.ts'),
  },
  dpo: {
    summary:
      'DPO (sigmoid loss, beta 0.1) from an SFT model on steel sft-data --task dpo shards; reference log-probs cached',
    load: () => import('./commands/dpo.ts'),
  },
};

export function usage(): string {
  const lines = ['usage: steel COMMAND [options]   (steel COMMAND --help for details)', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(11)} ${c.summary}`);
  return lines.join('\n');
}

/**
 * `--workers -3` becomes `--workers=-3`: node's parseArgs reads a value starting with a dash as another option ("argument
 * is ambiguous"), so a negative number would never reach the command's own check ("must be a positive integer, got -3").
 */
export function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i],
      b = args[i + 1];
    if (/^--[\w-]+$/.test(a) && b !== undefined && /^-\d/.test(b)) {
      out.push(`${a}=${b}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 1;
  }
  if (!Object.hasOwn(COMMANDS, cmd)) {
    console.error(`steel: unknown command "${cmd}" (try: steel --help)`);
    return 2;
  }
  const mod = await COMMANDS[cmd]!.load();
  try {
    return await mod.run(joinNegativeValues(rest));
  } catch (e) {
    const err = e as Error;
    console.error(`steel ${cmd}: ${err.message}`);
    if (setting('debug')) console.error(err.stack);
    return 1;
  }
}
