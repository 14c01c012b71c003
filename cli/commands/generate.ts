import { parseArgs } from 'node:util';
import { openModel, toModelIds } from '../../train/load.ts';
import { generate } from '../../train/generate.ts';
import { loadTokenizer, encodeTexts, decodeIds } from '../../tokenizer/encode.ts';
import { UNK_RAW_ID } from '../../train/config.ts';
import { encodeChatPrompt } from '../../tokenizer/sft.ts';
import { DEFAULT_SYSTEM_PROMPT } from '../../pipeline/chat.ts';

export const summary = 'generate text from a checkpoint (temperature / top-p sampling, KV cache)';

const HELP = `usage: steel generate --model PATH [--prompt TEXT] [options]

  --model PATH        run folder (latest checkpoint), checkpoint folder, model.safetensors, or HF folder
  --prompt TEXT       prompt (default: "<|im_start|>" for an unconditional sample); with --chat: the user message
  --chat              wrap --prompt in the Qwen chat template (system prompt, user turn, assistant header, as in
                      steel sft-data) and stop at <|im_end|>; prints only the reply
  --system TEXT       with --chat: system prompt (default "You are a helpful assistant.")
  --max-tokens N      default 100
  --temperature X     default 0.8 (0 = greedy)
  --top-p X           default 0.9
  --top-k N           default 0 (off)
  --seed N            default 1
  --tokenizer SPEC    default qwen
  --backend cpu|cuda  default cpu
  --ids               print token ids instead of text
  --allow-unk         capped compact vocabularies: also sample the unk class (shown as ⁇); default: never
Note: with the KV cache the Steel kind's Soft-MoE mixes the whole prompt at prefill, then sees one new token at a time
(m = 1), as Steel-LLM's modeling code does under transformers' generate; in training it mixes whole blocks.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string', default: '100' },
      temperature: { type: 'string', default: '0.8' },
      'top-p': { type: 'string', default: '0.9' },
      'top-k': { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      tokenizer: { type: 'string', default: 'qwen' },
      backend: { type: 'string', default: 'cpu' },
      ids: { type: 'boolean' },
      'allow-unk': { type: 'boolean' },
      chat: { type: 'boolean' },
      system: { type: 'string' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.model) {
    console.error('steel generate: --model is required\n\n' + HELP);
    return 2;
  }
  const m = await openModel(v.model, v.backend);
  const tk = loadTokenizer(v.tokenizer);
  if (v.chat && v.prompt === undefined) {
    console.error('steel generate --chat: --prompt (the user message) is required');
    return 2;
  }
  const prompt = v.chat ? '' : (v.prompt ?? '<|im_start|>');
  const raw = v.chat
    ? await encodeChatPrompt(tk.tok, [{ role: 'user', content: v.prompt! }], v.system ?? DEFAULT_SYSTEM_PROMPT)
    : (await encodeTexts(tk.tok, [prompt], null))[0];
  if (raw.length === 0) throw new Error('the prompt encodes to no tokens');
  const ids = toModelIds(raw, m.vocabIds);
  const toRaw = (id: number) => (m.vocabIds ? m.vocabIds[id] : id);
  const eos = m.config.eosId;
  const out: number[] = [];
  let printed = '',
    count = 0;
  process.stdout.write(prompt);
  await generate(m.backend, ids, {
    maxTokens: Number(v['max-tokens']),
    temperature: Number(v.temperature),
    topP: Number(v['top-p']),
    topK: Number(v['top-k']),
    seed: Number(v.seed),
    stopIds: [eos],
    banIds:
      m.vocabIds && !v['allow-unk'] && m.vocabIds.indexOf(UNK_RAW_ID) >= 0 ? [m.vocabIds.indexOf(UNK_RAW_ID)] : [],
    onToken: async (id) => {
      if (v.chat && id === eos) return; // the end of the reply, not part of it
      if (v.ids) {
        process.stdout.write(` ${toRaw(id)}`);
        count++;
        return;
      }
      if (toRaw(id) === UNK_RAW_ID) {
        // a token outside a capped compact vocabulary
        const text = await decodeIds(tk.tok, out, false);
        process.stdout.write(text.slice(printed.length) + '⁇');
        out.length = 0;
        printed = '';
        count++;
        return;
      }
      out.push(toRaw(id));
      count++;
      const text = await decodeIds(tk.tok, out, false);
      if (text.length > printed.length && !text.endsWith('\uFFFD')) {
        process.stdout.write(text.slice(printed.length));
        printed = text;
      }
    },
  });
  if (!v.ids) {
    const text = await decodeIds(tk.tok, out, false);
    if (text.length > printed.length) process.stdout.write(text.slice(printed.length));
  }
  process.stdout.write('\n');
  process.stderr.write(`(${count} tokens, model ${m.source}, kind ${m.config.kind})\n`);
  await m.backend.dispose();
  return 0;
}
