/**
 * Steel's "step 1" unification, one adapter kind per record shape. Each kind has zod params (from the manifest's
 * `unify:` block) and turns one raw record into a Document, a drop `{drop: rule, value}`, or throws an Error for a
 * malformed record (the reader rejects it with file and line).
 *
 * Rules (Steel-LLM, see shared/docs/steel-llm.md §3): every text piece is NFKC-normalised and loses its `\r`
 * (the sample corpus uses NFC instead, see corpora-manifests/sample/LICENSES.md); QA and chat sets become ChatML;
 * WanJuan exam rows are flattened; Zhihu answers with < 100 upvotes are dropped; entries shorter than 20 characters
 * are dropped; Baidu Baike joins title "：" summary and its sections.
 * Normalisation is applied to the pieces before assembly, so our own full-width separators ("：") survive NFKC.
 */
import { z } from 'zod';
import type { Document } from '../document.ts';
import { PARSE_ONCE } from '../stage.ts';
import { type ChatMessage, renderChatML, validateMessages, validatePreference } from '../chat.ts';
import type { AdaptResult, RecordLocation } from './types.ts';

export const DEFAULT_SYSTEM = 'You are a helpful assistant.';

/** What an adapter knows about its corpus besides its own params. */
export interface AdapterContext {
  corpus: string;
  /** Language hint for documents ("zh", "en", "code", ...). */
  lang?: string;
  /** Field holding a stable record id, when the corpus has one. */
  idField?: string;
}

export type AdaptFn = (record: Record<string, unknown>, loc: RecordLocation) => AdaptResult;

interface AdapterKind<P> {
  params: z.ZodType<P>;
  create(params: P, ctx: AdapterContext): AdaptFn;
  describe: string;
}

// ------------------------------------------------------------------ helpers

export function normalizeNfkc(s: string): string {
  return s.normalize('NFKC').replace(/\r/g, '');
}

export function normalizeNfc(s: string): string {
  const t = s.replace(/\r/g, '');
  return NFC_MAY_CHANGE.test(t) ? t.normalize('NFC') : t;
}
/**
 * A unit from U+0300 on: a text of units below it is its own NFC (each is, and none combines with another), and on
 * a one-byte string V8 answers this test without reading the text, where `normalize` copies it for ICU's check.
 */
const NFC_MAY_CHANGE = /[\u0300-\uffff]/;

const normalizers = { nfkc: normalizeNfkc, nfc: normalizeNfc, none: (s: string) => s.replace(/\r/g, '') } as const;
const NormalizeParam = z.enum(['nfkc', 'nfc', 'none']).default('nfkc');

/** Gets `a.b.c` from a record (dotted path). */
function getPath(record: Record<string, unknown>, path: string): unknown {
  let cur: unknown = record;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** A required string field; throws a clear error otherwise. */
function reqString(record: Record<string, unknown>, field: string, corpus: string): string {
  const v = getPath(record, field);
  if (v === undefined || v === null) throw new Error(`${corpus}: missing field "${field}"`);
  if (typeof v !== 'string') throw new Error(`${corpus}: field "${field}" must be a string, got ${describeType(v)}`);
  return v;
}

/** An optional string field (null/undefined -> ""); throws when present with another type. */
function optString(record: Record<string, unknown>, field: string, corpus: string): string {
  const v = getPath(record, field);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Error(`${corpus}: field "${field}" must be a string, got ${describeType(v)}`);
  return v;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Stable id: the record's own id field when present, else file (last two path parts) and line. */
export function docId(ctx: AdapterContext, record: Record<string, unknown>, loc: RecordLocation): string {
  if (ctx.idField) {
    const v = getPath(record, ctx.idField);
    if (typeof v === 'string' && v !== '') return `${ctx.corpus}/${v}`;
    if (typeof v === 'number' && Number.isFinite(v)) return `${ctx.corpus}/${v}`;
  }
  const parts = loc.file.split(/[\\/]/).filter(Boolean);
  return `${ctx.corpus}/${parts.slice(-2).join('/')}:${loc.line}`;
}

function makeDoc(
  ctx: AdapterContext,
  record: Record<string, unknown>,
  loc: RecordLocation,
  text: string,
  meta: Record<string, unknown> = {},
): Document {
  const doc: Document = {
    id: docId(ctx, record, loc),
    text,
    source: ctx.corpus,
    meta: { file: loc.file, line: loc.line, ...meta },
  };
  if (ctx.lang) doc.lang = ctx.lang;
  return doc;
}

export interface ChatTurn {
  user: string;
  assistant: string;
}

/**
 * ChatML as Steel wrote it (Qwen chat format):
 * <|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>
 * `finalImEnd: false` leaves the last <|im_end|> off (Steel's tokenizer appends one to every document).
 */
export function toChatML(turns: ChatTurn[], system = DEFAULT_SYSTEM, finalImEnd = true): string {
  let s = `<|im_start|>system\n${system}<|im_end|>\n`;
  turns.forEach((t, i) => {
    s += `<|im_start|>user\n${t.user}<|im_end|>\n<|im_start|>assistant\n${t.assistant}`;
    if (i < turns.length - 1) s += '<|im_end|>\n';
  });
  return finalImEnd ? s + '<|im_end|>' : s;
}

const ChatParams = {
  system: z.string().default(DEFAULT_SYSTEM),
  final_im_end: z.boolean().default(true),
  min_chars: z.number().int().min(0).default(20),
  normalize: NormalizeParam,
};

function minChars(text: string, min: number): AdaptResult | undefined {
  const n = [...text].length;
  return n < min ? { drop: 'min_chars', value: n } : undefined;
}

// ------------------------------------------------------------------ kinds

/** Plain text in one field (SkyPile, WanJuan content rows, Wikipedia-cn, StarCoderData). */
const TextParams = z.object({
  kind: z.literal('text'),
  field: z.string().default('text'),
  min_chars: z.number().int().min(0).default(0),
  /** Drop rule name for min_chars (e.g. "wikipedia_min_chars"). */
  min_chars_rule: z.string().default('min_chars'),
  normalize: NormalizeParam,
  /** Extra fields copied into meta (dotted paths), e.g. ["max_stars_repo_path"]. */
  meta_fields: z.array(z.string()).default([]),
  /** For code: derive meta.programming_language from the parent folder of the file (cpp/, python/, java/). */
  language_from_dir: z.boolean().default(false),
});

function metaFrom(record: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const f of fields) {
    const v = getPath(record, f);
    if (v !== undefined && v !== null) m[f] = typeof v === 'bigint' ? Number(v) : v;
  }
  return m;
}

const text: AdapterKind<z.infer<typeof TextParams>> = {
  params: TextParams,
  describe: 'text field → document (normalised); optional minimum length',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const t = norm(reqString(record, p.field, ctx.corpus));
      const n = [...t].length;
      const meta = metaFrom(record, p.meta_fields);
      if (p.language_from_dir) {
        const parts = loc.file.split(/[\\/]/).filter(Boolean);
        if (parts.length >= 2) meta.programming_language = parts[parts.length - 2];
      }
      if (n < p.min_chars || (p.min_chars === 0 && n === 0))
        return { drop: n === 0 ? 'empty' : p.min_chars_rule, value: n };
      return makeDoc(ctx, record, loc, t, meta);
    };
  },
};

/** WanJuan-1.0: `content` rows, and exam rows (q_main, option_a..e, std_ans, answer_detail) flattened. */
const WanjuanParams = z.object({
  kind: z.literal('wanjuan'),
  field: z.string().default('content'),
  min_chars: z.number().int().min(0).default(0),
  normalize: NormalizeParam,
  meta_fields: z.array(z.string()).default([]),
});

export function flattenExam(record: Record<string, unknown>, corpus: string, norm: (s: string) => string): string {
  const q = norm(reqString(record, 'q_main', corpus)).trim();
  if (!q) throw new Error(`${corpus}: exam row with empty "q_main"`);
  const lines = [q];
  for (const letter of ['a', 'b', 'c', 'd', 'e']) {
    const o = norm(optString(record, `option_${letter}`, corpus)).trim();
    if (o) lines.push(`${letter.toUpperCase()}. ${o}`);
  }
  const ansRaw = getPath(record, 'std_ans');
  const ans = Array.isArray(ansRaw)
    ? ansRaw.map(String).join('')
    : typeof ansRaw === 'number'
      ? String(ansRaw)
      : optString(record, 'std_ans', corpus);
  const detail = norm(optString(record, 'answer_detail', corpus)).trim();
  if (norm(ans).trim()) lines.push(`标准答案：${norm(ans).trim()}`);
  if (detail) lines.push(`解析：${detail}`);
  return lines.join('\n');
}

const wanjuan: AdapterKind<z.infer<typeof WanjuanParams>> = {
  params: WanjuanParams,
  describe: 'WanJuan-1.0 rows: content text, or exam rows flattened to question + options A–E + 标准答案 + 解析',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      if ('q_main' in record) {
        const t = flattenExam(record, ctx.corpus, norm);
        return makeDoc(ctx, record, loc, t, { ...metaFrom(record, p.meta_fields), wanjuan_row: 'exam' });
      }
      const t = norm(reqString(record, p.field, ctx.corpus));
      const n = [...t].length;
      if (n === 0) return { drop: 'empty', value: 0 };
      if (n < p.min_chars) return { drop: 'min_chars', value: n };
      return makeDoc(ctx, record, loc, t, metaFrom(record, p.meta_fields));
    };
  },
};

/** Baidu Baike: title "：" summary, then each section "title：content" on its own line. */
const BaikeParams = z.object({
  kind: z.literal('baike'),
  min_chars: z.number().int().min(0).default(20),
  section_separator: z.string().default('\n'),
  normalize: NormalizeParam,
});

const baike: AdapterKind<z.infer<typeof BaikeParams>> = {
  params: BaikeParams,
  describe: 'Baidu Baike: title "：" summary + sections ("title：content") joined',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const title = norm(reqString(record, 'title', ctx.corpus)).trim();
      const summary = norm(optString(record, 'summary', ctx.corpus)).trim();
      const sections = record.sections ?? [];
      if (!Array.isArray(sections))
        throw new Error(`${ctx.corpus}: field "sections" must be an array, got ${describeType(sections)}`);
      if (!title || !summary) return { drop: 'baike_empty', value: !title ? 'title' : 'summary' };
      const parts = [`${title}：${summary}`];
      sections.forEach((s, i) => {
        if (s === null || typeof s !== 'object' || Array.isArray(s))
          throw new Error(`${ctx.corpus}: sections[${i}] must be an object {title, content}`);
        const st = norm(optString(s as Record<string, unknown>, 'title', ctx.corpus)).trim();
        const sc = norm(optString(s as Record<string, unknown>, 'content', ctx.corpus)).trim();
        if (!sc) return;
        parts.push(st ? `${st}：${sc}` : sc);
      });
      const t = parts.join(p.section_separator);
      return minChars(t, p.min_chars) ?? makeDoc(ctx, record, loc, t, { title, sections: sections.length });
    };
  },
};

/** Single-turn QA from fields (Baidu QA, Firefly, BELLE 2M): user = question fields joined, assistant = answer. */
const QaParams = z.object({
  kind: z.literal('qa'),
  question: z.array(z.string()).min(1),
  /** Question fields after the first are optional (e.g. BELLE's `input`). */
  answer: z.string(),
  question_separator: z.string().default('\n'),
  meta_fields: z.array(z.string()).default([]),
  ...ChatParams,
});

const qa: AdapterKind<z.infer<typeof QaParams>> = {
  params: QaParams,
  describe: 'single-turn QA record → ChatML (system, user, assistant)',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const qs = p.question.map((f, i) =>
        norm(i === 0 ? reqString(record, f, ctx.corpus) : optString(record, f, ctx.corpus)).trim(),
      );
      const a = norm(reqString(record, p.answer, ctx.corpus)).trim();
      const q = qs.filter(Boolean).join(p.question_separator);
      if (!q || !a) return { drop: 'empty_turn', value: !q ? 'question' : 'answer' };
      const t = toChatML([{ user: q, assistant: a }], p.system, p.final_im_end);
      return minChars(t, p.min_chars) ?? makeDoc(ctx, record, loc, t, metaFrom(record, p.meta_fields));
    };
  },
};

/** Zhihu-KOL: INSTRUCTION / RESPONSE, upvotes inside the METADATA JSON string ("赞同 1.2 万"); < min_upvotes dropped. */
const ZhihuParams = z.object({
  kind: z.literal('zhihu'),
  min_upvotes: z.number().int().min(0).default(100),
  ...ChatParams,
});

/**
 * Parses Zhihu's upvote label: "赞同 77", "赞同 1.2 万", "1,024", "3.4k", 77, "赞同" (no number: 0).
 * Returns undefined when the label has no recognisable form. (Steel parsed int(label.replace("赞同 ", "")) and counted
 * every failure as 0, which dropped the most upvoted answers, those labelled in 万.)
 */
export function parseUpvotes(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/赞同|upvotes?|[\s,，]/gi, '');
  if (s === '') return 0;
  const m = /^(\d+(?:\.\d+)?)(万|w|W|千|k|K)?$/.exec(s);
  if (!m) return undefined;
  const mult = m[2] === '万' || m[2] === 'w' || m[2] === 'W' ? 10000 : m[2] ? 1000 : 1;
  return Math.round(Number(m[1]) * mult);
}

const zhihu: AdapterKind<z.infer<typeof ZhihuParams>> = {
  params: ZhihuParams,
  describe: 'Zhihu-KOL answer → ChatML; answers with fewer than min_upvotes upvotes dropped (rule zhihu_upvotes)',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const q = norm(reqString(record, 'INSTRUCTION', ctx.corpus)).trim();
      const a = norm(reqString(record, 'RESPONSE', ctx.corpus)).trim();
      const raw = record.METADATA;
      let md: Record<string, unknown>;
      if (typeof raw === 'string') {
        try {
          md = JSON.parse(raw) as Record<string, unknown>;
        } catch (e) {
          throw new Error(`${ctx.corpus}: METADATA is not valid JSON (${(e as Error).message})`);
        }
      } else if (raw && typeof raw === 'object' && !Array.isArray(raw)) md = raw as Record<string, unknown>;
      else throw new Error(`${ctx.corpus}: missing field "METADATA" (JSON string with "upvotes")`);
      if (md === null || typeof md !== 'object') throw new Error(`${ctx.corpus}: METADATA must be a JSON object`);
      const up = parseUpvotes(md.upvotes);
      if (up === undefined)
        throw new Error(`${ctx.corpus}: METADATA.upvotes not understood: ${JSON.stringify(md.upvotes)}`);
      if (up < p.min_upvotes) return { drop: 'zhihu_upvotes', value: up };
      if (!q || !a) return { drop: 'empty_turn', value: !q ? 'question' : 'answer' };
      const t = toChatML([{ user: q, assistant: a }], p.system, p.final_im_end);
      const meta: Record<string, unknown> = { upvotes: up };
      if (typeof md.url === 'string') meta.url = md.url;
      if (typeof record.SOURCE === 'string') meta.origin = record.SOURCE;
      return minChars(t, p.min_chars) ?? makeDoc(ctx, record, loc, t, meta);
    };
  },
};

/**
 * Multi-turn chat. Accepted shapes (auto-detected):
 * - BELLE 3.5M: conversations: [{from: "human"|"assistant", value}]
 * - MOSS-003-sft as repackaged by YeungNLP (Steel's copy): conversation: [{human, assistant}]
 * - MOSS-003-sft as published by fnlp: chat: {turn_1: {Human: "<|Human|>: ...<eoh>", MOSS: "<|MOSS|>: ...<eom>"}, ...}
 * - BELLE 2M style single turn: instruction (+ input) / output
 */
const ChatKindParams = z.object({
  kind: z.literal('chat'),
  user_roles: z.array(z.string()).default(['human', 'user']),
  assistant_roles: z.array(z.string()).default(['assistant', 'gpt', 'bot']),
  meta_fields: z.array(z.string()).default([]),
  ...ChatParams,
});

function stripMoss(s: string): string {
  return s
    .replace(/^\s*<\|(Human|MOSS)\|>:\s?/, '')
    .replace(/<(eoh|eom|eoc|eot)>\s*$/, '')
    .trim();
}

export function extractTurns(
  record: Record<string, unknown>,
  corpus: string,
  userRoles: string[],
  assistantRoles: string[],
  norm: (s: string) => string,
): ChatTurn[] {
  const turns: ChatTurn[] = [];
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string') throw new Error(`${corpus}: ${what} must be a string, got ${describeType(v)}`);
    return norm(v).trim();
  };
  if (Array.isArray(record.conversations)) {
    let pending: string | undefined;
    record.conversations.forEach((m, i) => {
      if (!m || typeof m !== 'object')
        throw new Error(`${corpus}: conversations[${i}] must be an object {from, value}`);
      const msg = m as Record<string, unknown>;
      const from = typeof msg.from === 'string' ? msg.from : typeof msg.role === 'string' ? msg.role : undefined;
      const value = str(msg.value ?? msg.content, `conversations[${i}].value`);
      if (from === undefined) throw new Error(`${corpus}: conversations[${i}] has no "from"`);
      if (userRoles.includes(from)) {
        if (pending !== undefined) throw new Error(`${corpus}: conversations[${i}]: two user turns in a row`);
        pending = value;
      } else if (assistantRoles.includes(from)) {
        if (pending === undefined)
          throw new Error(`${corpus}: conversations[${i}]: assistant turn without a user turn`);
        turns.push({ user: pending, assistant: value });
        pending = undefined;
      } else if (from !== 'system') throw new Error(`${corpus}: conversations[${i}]: unknown role "${from}"`);
    });
    return turns;
  }
  if (Array.isArray(record.conversation)) {
    record.conversation.forEach((m, i) => {
      if (!m || typeof m !== 'object')
        throw new Error(`${corpus}: conversation[${i}] must be an object {human, assistant}`);
      const msg = m as Record<string, unknown>;
      turns.push({
        user: str(msg.human, `conversation[${i}].human`),
        assistant: str(msg.assistant, `conversation[${i}].assistant`),
      });
    });
    return turns;
  }
  if (record.chat && typeof record.chat === 'object' && !Array.isArray(record.chat)) {
    const chat = record.chat as Record<string, unknown>;
    const keys = Object.keys(chat)
      .filter((k) => /^turn_\d+$/.test(k))
      .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
    for (const k of keys) {
      const t = chat[k] as Record<string, unknown>;
      if (!t || typeof t !== 'object') throw new Error(`${corpus}: chat.${k} must be an object {Human, MOSS}`);
      turns.push({
        user: stripMoss(str(t.Human, `chat.${k}.Human`)),
        assistant: stripMoss(str(t.MOSS, `chat.${k}.MOSS`)),
      });
    }
    return turns;
  }
  if (typeof record.instruction === 'string' || typeof record.output === 'string') {
    const ins = str(record.instruction, 'instruction');
    const inp = record.input === undefined || record.input === null ? '' : str(record.input, 'input');
    turns.push({ user: [ins, inp].filter(Boolean).join('\n'), assistant: str(record.output, 'output') });
    return turns;
  }
  throw new Error(
    `${corpus}: no conversation found (expected "conversations", "conversation", "chat" or "instruction"/"output")`,
  );
}

const chat: AdapterKind<z.infer<typeof ChatKindParams>> = {
  params: ChatKindParams,
  describe: 'multi-turn chat (BELLE conversations, MOSS turns, instruction/input/output) → ChatML',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const turns = extractTurns(record, ctx.corpus, p.user_roles, p.assistant_roles, norm);
      if (turns.length === 0) return { drop: 'empty_turn', value: 'no turns' };
      if (turns.some((t) => !t.user || !t.assistant)) return { drop: 'empty_turn', value: 'empty message' };
      const t = toChatML(turns, p.system, p.final_im_end);
      return (
        minChars(t, p.min_chars) ??
        makeDoc(ctx, record, loc, t, { turns: turns.length, ...metaFrom(record, p.meta_fields) })
      );
    };
  },
};

/** Already-unified documents (the bundled sample): keeps id, source, lang and meta; only \r removal + NFC. */
const PassthroughParams = z.object({
  kind: z.literal('passthrough'),
  normalize: z.enum(['nfkc', 'nfc', 'none']).default('nfc'),
});

const passthrough: AdapterKind<z.infer<typeof PassthroughParams>> = {
  params: PassthroughParams,
  describe: 'already-unified Document records (id, text, source, lang?, meta): \\r removal + NFC only',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const t = norm(reqString(record, 'text', ctx.corpus));
      const id = record.id === undefined ? docId({ ...ctx, idField: undefined }, record, loc) : record.id;
      if (typeof id !== 'string' || !id) throw new Error(`${ctx.corpus}: field "id" must be a non-empty string`);
      const source = record.source === undefined ? ctx.corpus : record.source;
      if (typeof source !== 'string' || !source)
        throw new Error(`${ctx.corpus}: field "source" must be a non-empty string`);
      if (record.lang !== undefined && record.lang !== null && typeof record.lang !== 'string')
        throw new Error(`${ctx.corpus}: field "lang" must be a string`);
      const meta = record.meta ?? {};
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta))
        throw new Error(`${ctx.corpus}: field "meta" must be an object`);
      if (t.length === 0) return { drop: 'empty', value: 0 };
      const doc: Document = { id, text: t, source, meta: meta as Record<string, unknown> };
      const lang = (record.lang as string | undefined) ?? ctx.lang;
      if (lang) doc.lang = lang;
      return doc;
    };
  },
};

// ------------------------------------------------------------------ fine-tuning kinds (chat schema, pipeline/chat.ts)
// These produce documents whose meta carries the chat schema (meta.messages, or meta.prompt/chosen/rejected) and whose
// text is the ChatML rendering. A record with an unknown role, an empty assistant turn or identical chosen/rejected
// replies throws (rejected with file and line by the reader).

function sftDoc(
  ctx: AdapterContext,
  record: Record<string, unknown>,
  loc: RecordLocation,
  messages: unknown,
  meta: Record<string, unknown> = {},
): Document {
  let ms: ChatMessage[];
  try {
    ms = validateMessages(messages);
  } catch (e) {
    throw new Error(`${ctx.corpus}: ${(e as Error).message}`);
  }
  return makeDoc(ctx, record, loc, renderChatML(ms), { ...meta, chat: 'sft', messages: ms });
}

/** Field value as messages: a list of {role, content} / {from, value} (ShareGPT), mapped through `roles`. */
function toMessages(
  v: unknown,
  roles: Record<string, string>,
  norm: (s: string) => string,
  what: string,
  corpus: string,
): ChatMessage[] {
  if (!Array.isArray(v)) throw new Error(`${corpus}: ${what} must be an array of messages, got ${describeType(v)}`);
  return v.map((m, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error(`${corpus}: ${what}[${i}] must be an object`);
    const o = m as Record<string, unknown>;
    const r = o.role ?? o.from;
    const c = o.content ?? o.value;
    if (typeof r !== 'string') throw new Error(`${corpus}: ${what}[${i}] has no role ("role" or "from")`);
    const role = roles[r];
    if (!role)
      throw new Error(`${corpus}: ${what}[${i}]: unknown role "${r}" (known: ${Object.keys(roles).join(', ')})`);
    if (typeof c !== 'string')
      throw new Error(`${corpus}: ${what}[${i}]: content must be a string, got ${describeType(c)}`);
    return { role: role as ChatMessage['role'], content: norm(c).trim() };
  });
}

const DEFAULT_ROLES: Record<string, ChatMessage['role']> = {
  system: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
};

/**
 * SFT conversations: `sharegpt` (field of {from, value}: Infinity-Instruct, OpenHermes-2.5), `openai` (field of
 * {role, content}: Code-Feedback) or `fields` (question fields + answer field: WebInstructSub, Better-Ruozhiba).
 * `keep_if: {field, in: [...]}` keeps only records whose field is one of the values (drop rule `keep_rule`).
 */
const SftParams = z
  .object({
    kind: z.literal('sft'),
    layout: z.enum(['sharegpt', 'openai', 'fields']),
    field: z.string().optional(),
    roles: z.record(z.string(), z.enum(['system', 'user', 'assistant'])).default(DEFAULT_ROLES),
    question: z.array(z.string()).min(1).optional(),
    answer: z.string().optional(),
    question_separator: z.string().default('\n'),
    keep_if: z
      .object({ field: z.string(), in: z.array(z.string()).min(1) })
      .strict()
      .optional(),
    keep_rule: z.string().default('subset'),
    meta_fields: z.array(z.string()).default([]),
    normalize: NormalizeParam,
  })
  .strict()
  .refine((p) => p.layout !== 'fields' || (p.question && p.answer), {
    message: 'layout "fields" needs question and answer',
  });

const sft: AdapterKind<z.infer<typeof SftParams>> = {
  params: SftParams,
  describe: 'SFT conversation (ShareGPT, OpenAI messages or question/answer fields) → chat schema meta.messages',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      if (p.keep_if) {
        const v = getPath(record, p.keep_if.field);
        if (typeof v !== 'string' || !p.keep_if.in.includes(v))
          return { drop: p.keep_rule, value: typeof v === 'string' ? v : describeType(v) };
      }
      const meta = metaFrom(record, p.meta_fields);
      if (p.layout === 'fields') {
        const q = p
          .question!.map((f, i) =>
            norm(i === 0 ? reqString(record, f, ctx.corpus) : optString(record, f, ctx.corpus)).trim(),
          )
          .filter(Boolean)
          .join(p.question_separator);
        const a = norm(reqString(record, p.answer!, ctx.corpus)).trim();
        return sftDoc(
          ctx,
          record,
          loc,
          [
            { role: 'user', content: q },
            { role: 'assistant', content: a },
          ],
          meta,
        );
      }
      const field = p.field ?? (p.layout === 'sharegpt' ? 'conversations' : 'messages');
      const v = getPath(record, field);
      if (v === undefined || v === null) throw new Error(`${ctx.corpus}: missing field "${field}"`);
      return sftDoc(ctx, record, loc, toMessages(v, p.roles, norm, field, ctx.corpus), meta);
    };
  },
};

/**
 * Multiple-choice questions as SFT turns: user = question + lettered options, assistant = the answer letter(s)
 * (`format: plain`) or the explanation then the answer (`format: cot`, falls back to plain without an explanation).
 * Layouts: wanjuan (q_main, option_a..e, std_ans, answer_detail), openbookqa (question_stem, choices{text,label},
 * answerKey), arc (question, choices{text,label}, answerKey), logiqa (context, query, options[], correct_option index).
 */
const McqParams = z
  .object({
    kind: z.literal('sft_mcq'),
    layout: z.enum(['wanjuan', 'openbookqa', 'arc', 'logiqa']),
    format: z.enum(['plain', 'cot']).default('plain'),
    /** language of the answer wording: 答案：X or Answer: X */
    answer_lang: z.enum(['zh', 'en']).default('en'),
    normalize: NormalizeParam,
  })
  .strict();

function choiceList(record: Record<string, unknown>, corpus: string): { labels: string[]; texts: string[] } {
  const c = record.choices;
  if (!c || typeof c !== 'object' || Array.isArray(c))
    throw new Error(`${corpus}: field "choices" must be an object {text: [...], label: [...]}`);
  const { text, label } = c as Record<string, unknown>;
  if (!Array.isArray(text) || !Array.isArray(label) || text.length !== label.length || text.length === 0)
    throw new Error(`${corpus}: choices.text and choices.label must be non-empty arrays of one length`);
  return { labels: label.map(String), texts: text.map(String) };
}

export function mcqTurns(
  record: Record<string, unknown>,
  p: z.infer<typeof McqParams>,
  corpus: string,
): { question: string; answer: string; detail: string } {
  const norm = normalizers[p.normalize];
  let stem: string,
    labels: string[],
    texts: string[],
    answer: string,
    detail = '';
  if (p.layout === 'wanjuan') {
    stem = reqString(record, 'q_main', corpus);
    labels = [];
    texts = [];
    for (const l of ['a', 'b', 'c', 'd', 'e']) {
      const o = norm(optString(record, `option_${l}`, corpus)).trim();
      if (o) {
        labels.push(l.toUpperCase());
        texts.push(o);
      }
    }
    const raw = getPath(record, 'std_ans');
    answer = Array.isArray(raw)
      ? raw.map(String).join('')
      : typeof raw === 'number'
        ? String(raw)
        : optString(record, 'std_ans', corpus);
    detail = optString(record, 'answer_detail', corpus);
  } else if (p.layout === 'logiqa') {
    const ctxText = reqString(record, 'context', corpus);
    stem = `${ctxText.trim()}\n${reqString(record, 'query', corpus).trim()}`;
    const opts = record.options;
    if (!Array.isArray(opts) || opts.length === 0)
      throw new Error(`${corpus}: field "options" must be a non-empty array`);
    texts = opts.map(String);
    labels = texts.map((_, i) => String.fromCharCode(65 + i));
    const k = typeof record.correct_option === 'bigint' ? Number(record.correct_option) : record.correct_option;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= texts.length)
      throw new Error(`${corpus}: correct_option must be an index into options, got ${JSON.stringify(k)}`);
    answer = labels[k];
  } else {
    stem = reqString(record, p.layout === 'openbookqa' ? 'question_stem' : 'question', corpus);
    ({ labels, texts } = choiceList(record, corpus));
    answer = reqString(record, 'answerKey', corpus);
    if (!labels.includes(answer))
      throw new Error(`${corpus}: answerKey "${answer}" is not one of the labels ${labels.join(',')}`);
  }
  stem = norm(stem).trim();
  if (!stem) throw new Error(`${corpus}: empty question`);
  answer = norm(answer).trim();
  if (!answer) throw new Error(`${corpus}: empty answer`);
  const question = [stem, ...texts.map((t, i) => `${labels[i]}. ${norm(t).trim()}`)].join('\n');
  return { question, answer, detail: norm(detail).trim() };
}

const sftMcq: AdapterKind<z.infer<typeof McqParams>> = {
  params: McqParams,
  describe:
    'multiple-choice question (WanJuan exam, OpenBookQA, AI2-ARC, LogiQA) → SFT turn, plain or chain-of-thought answer',
  create(p, ctx) {
    return (record, loc) => {
      const { question, answer, detail } = mcqTurns(record, p, ctx.corpus);
      const ans = p.answer_lang === 'zh' ? `答案：${answer}` : `Answer: ${answer}`;
      const reply =
        p.format === 'cot' && detail ? (p.answer_lang === 'zh' ? `解析：${detail}\n${ans}` : `${detail}\n${ans}`) : ans;
      return sftDoc(
        ctx,
        record,
        loc,
        [
          { role: 'user', content: question },
          { role: 'assistant', content: reply },
        ],
        { mcq_format: p.format },
      );
    };
  },
};

/**
 * Self-cognition template records {instruction, output} with {{name}} / {{author}} placeholders (our own template in
 * corpora-manifests/self-cognition/), filled with the model's name and author (params; `steel sft-data
 * self-cognition --name --author` writes a filled copy).
 */
const SelfParams = z
  .object({
    kind: z.literal('self_cognition'),
    name: z.string().min(1),
    author: z.string().min(1),
  })
  .strict();

export function fillSelfCognition(s: string, name: string, author: string): string {
  return s.replace(/\{\{name\}\}/g, name).replace(/\{\{author\}\}/g, author);
}

const selfCognition: AdapterKind<z.infer<typeof SelfParams>> = {
  params: SelfParams,
  describe: 'self-cognition template (instruction/output with {{name}} and {{author}}) → SFT turn',
  create(p, ctx) {
    return (record, loc) => {
      const q = fillSelfCognition(reqString(record, 'instruction', ctx.corpus), p.name, p.author).trim();
      const a = fillSelfCognition(reqString(record, 'output', ctx.corpus), p.name, p.author).trim();
      return sftDoc(ctx, record, loc, [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ]);
    };
  },
};

/**
 * Preference pairs: prompt field (a string = one user turn, or a message list), chosen and rejected fields (a string,
 * or a message list whose last message is the assistant reply; a list that repeats the prompt is accepted).
 */
const PreferenceParams = z
  .object({
    kind: z.literal('preference'),
    prompt: z.string().default('prompt'),
    chosen: z.string().default('chosen'),
    rejected: z.string().default('rejected'),
    roles: z.record(z.string(), z.enum(['system', 'user', 'assistant'])).default(DEFAULT_ROLES),
    meta_fields: z.array(z.string()).default([]),
    normalize: NormalizeParam,
  })
  .strict();

const preference: AdapterKind<z.infer<typeof PreferenceParams>> = {
  params: PreferenceParams,
  describe:
    'preference pair (prompt, chosen, rejected; strings or message lists) → chat schema meta.prompt/chosen/rejected',
  create(p, ctx) {
    const norm = normalizers[p.normalize];
    return (record, loc) => {
      const pv = getPath(record, p.prompt);
      if (pv === undefined || pv === null) throw new Error(`${ctx.corpus}: missing field "${p.prompt}"`);
      const prompt: ChatMessage[] =
        typeof pv === 'string'
          ? [{ role: 'user', content: norm(pv).trim() }]
          : toMessages(pv, p.roles, norm, p.prompt, ctx.corpus);
      const answer = (field: string): string => {
        const v = getPath(record, field);
        if (v === undefined || v === null) throw new Error(`${ctx.corpus}: missing field "${field}"`);
        if (typeof v === 'string') return norm(v).trim();
        const ms = toMessages(v, p.roles, norm, field, ctx.corpus);
        const last = ms[ms.length - 1];
        if (!last || last.role !== 'assistant')
          throw new Error(`${ctx.corpus}: ${field} must end with an assistant message`);
        return last.content;
      };
      let pair;
      try {
        pair = validatePreference(prompt, answer(p.chosen), answer(p.rejected));
      } catch (e) {
        throw new Error(`${ctx.corpus}: ${(e as Error).message}`);
      }
      const text = renderChatML([...pair.prompt, { role: 'assistant', content: pair.chosen }]);
      return makeDoc(ctx, record, loc, text, {
        ...metaFrom(record, p.meta_fields),
        chat: 'preference',
        prompt: pair.prompt,
        chosen: pair.chosen,
        rejected: pair.rejected,
      });
    };
  },
};

/** Evaluation benchmarks (C-Eval, CMMLU, MMLU): collected like a corpus, read by `steel eval --task`, never prepared. */
const BenchmarkParams = z.object({ kind: z.literal('benchmark'), task: z.enum(['ceval', 'cmmlu', 'mmlu']) });

const benchmark: AdapterKind<z.infer<typeof BenchmarkParams>> = {
  params: BenchmarkParams,
  describe: 'evaluation benchmark files (read by steel eval --task, not by prep)',
  create(p, ctx) {
    return () => {
      throw new Error(
        `${ctx.corpus} is an evaluation benchmark: evaluate with steel eval --task ${p.task}; it is not training text`,
      );
    };
  },
};

export const ADAPTER_KINDS = {
  text,
  wanjuan,
  baike,
  qa,
  zhihu,
  chat,
  passthrough,
  sft,
  sft_mcq: sftMcq,
  self_cognition: selfCognition,
  preference,
  benchmark,
} as const;
export type AdapterKindName = keyof typeof ADAPTER_KINDS;

/** Validates a manifest's `unify:` block and builds its adapter. */
export function buildAdapter(unify: unknown, ctx: AdapterContext): AdaptFn {
  if (!unify || typeof unify !== 'object') throw new Error(`${ctx.corpus}: manifest has no "unify" block`);
  const kindName = (unify as { kind?: unknown }).kind;
  const kind = ADAPTER_KINDS[kindName as AdapterKindName] as AdapterKind<unknown> | undefined;
  if (!kind)
    throw new Error(
      `${ctx.corpus}: unknown unify.kind "${String(kindName)}" (known: ${Object.keys(ADAPTER_KINDS).join(', ')})`,
    );
  const parsed = kind.params.safeParse(unify, PARSE_ONCE);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `unify.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${ctx.corpus}: invalid unify block: ${issues}`);
  }
  return kind.create(parsed.data, ctx);
}
