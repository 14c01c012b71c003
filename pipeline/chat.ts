/**
 * The one chat schema of fine-tuning data (SFT and preference pairs), produced by the chat/preference adapters
 * (pipeline/corpora/adapters.ts) and read by the SFT/DPO tokenizer (tokenizer/sft.ts):
 *   SFT:        meta.messages = [{role: system|user|assistant, content}], at least one assistant turn, none empty
 *   preference: meta.prompt = [{role, content}] ending with a user turn; meta.chosen / meta.rejected = the two
 *               assistant replies (strings), different from each other
 * The document's text is the ChatML rendering (Qwen template) of the conversation (preference: prompt + chosen), so
 * filters, dedup and `steel inspect` see the same thing as pretraining-style documents.
 */
export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}
export interface PreferencePair {
  prompt: ChatMessage[];
  chosen: string;
  rejected: string;
}

export const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant.';
const ROLES = new Set<string>(['system', 'user', 'assistant']);

/**
 * Validates a message list: known roles, string contents, a system message only first, user and assistant
 * alternating from a user turn, no empty assistant (or user) turn; `needAssistant` requires it to end with one.
 * Throws an Error naming the offending message.
 */
export function validateMessages(v: unknown, what = 'messages', needAssistant = true): ChatMessage[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be an array of {role, content}`);
  const out: ChatMessage[] = [];
  v.forEach((m, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m))
      throw new Error(`${what}[${i}] must be an object {role, content}`);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role))
      throw new Error(`${what}[${i}]: unknown role ${JSON.stringify(role)} (system, user or assistant)`);
    if (typeof content !== 'string') throw new Error(`${what}[${i}]: content must be a string`);
    if (role === 'system' && i !== 0) throw new Error(`${what}[${i}]: a system message may only come first`);
    if (role !== 'system') {
      const prev = out.length ? out[out.length - 1].role : 'system';
      const want = prev === 'user' ? 'assistant' : 'user';
      if (role !== want)
        throw new Error(
          `${what}[${i}]: ${role} turn where a ${want} turn is expected (turns alternate, starting with user)`,
        );
      if (content.trim() === '') throw new Error(`${what}[${i}]: empty ${role} turn`);
    }
    out.push({ role: role as ChatRole, content });
  });
  const last = out[out.length - 1];
  if (needAssistant && (!last || last.role !== 'assistant'))
    throw new Error(`${what}: must end with an assistant turn`);
  if (!needAssistant && (!last || last.role !== 'user')) throw new Error(`${what}: a prompt must end with a user turn`);
  return out;
}

export function validatePreference(prompt: unknown, chosen: unknown, rejected: unknown): PreferencePair {
  const p = validateMessages(prompt, 'prompt', false);
  if (typeof chosen !== 'string' || chosen.trim() === '') throw new Error('chosen: empty assistant reply');
  if (typeof rejected !== 'string' || rejected.trim() === '') throw new Error('rejected: empty assistant reply');
  if (chosen.trim() === rejected.trim()) throw new Error('chosen and rejected are identical');
  return { prompt: p, chosen, rejected };
}

/** Qwen chat template: `<|im_start|>role\ncontent<|im_end|>\n` per message, default system prompt when none. */
export function renderChatML(messages: ChatMessage[], system = DEFAULT_SYSTEM_PROMPT): string {
  const ms = messages[0]?.role === 'system' ? messages : [{ role: 'system' as const, content: system }, ...messages];
  return ms.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
}

/** The prompt of a generation turn: the conversation so far plus `<|im_start|>assistant\n`. */
export function renderChatPrompt(messages: ChatMessage[], system = DEFAULT_SYSTEM_PROMPT): string {
  return renderChatML(messages, system) + '<|im_start|>assistant\n';
}
