/**
 * The two evaluation protocols over a benchmark split:
 * - `chat-gen` (Steel's, steel-llm.md §6): 0-shot, ChatML with system "You are a helpful assistant.", the C-Eval user
 *   prompt, greedy generation, answer letter extracted by extract.ts;
 * - `loglik` (lm-evaluation-harness / OpenCompass PPL mode): 0..k-shot prompt ending in "答案：" / "Answer:", the
 *   option with the highest log-likelihood of " X" wins.
 * Per-subject accuracy, category scores (mean of the subjects' accuracies, as the benchmarks' own scripts average) and
 * the overall mean; the micro average over items beside it.
 */
import { DEFAULT_SYSTEM_PROMPT, renderChatPrompt } from '../pipeline/chat.ts';
import { LETTERS, subjectInfo, type BenchmarkSpec, type Item, type Letter, type LoadedSplit } from './benchmarks.ts';
import { extractAnswer, type ExtractRule } from './extract.ts';
import type { EvalModel } from './lm.ts';

export type Protocol = 'chat-gen' | 'loglik';
export const PROTOCOLS: Protocol[] = ['chat-gen', 'loglik'];
export const CHAT_SYSTEM = DEFAULT_SYSTEM_PROMPT;
/** new-token budgets of the published runs (C-Eval 1024, CMMLU 64); MMLU as CMMLU. */
export const DEFAULT_MAX_NEW_TOKENS: Record<string, number> = { ceval: 1024, cmmlu: 64, mmlu: 64 };
/** chat-gen questions decoded together by default (one GPU decode call: 578 items/s at 128 against 279 at 32 on an H200,
 * bench/results/eval.md; the CPU decodes them one after the other). */
export const DEFAULT_CHAT_BATCH = 128;
/** chat-gen: questions handed to the decoder at once, in batches (the slots refill from them; progress per chunk). */
const CHAT_CHUNK_BATCHES = 8;

function optionsBlock(it: Item): string {
  return LETTERS.map((l, i) => `${l}. ${it.choices[i]}\n`).join('');
}

/** the chat-gen user turn: "以下是一道单选题:\n" + question + "\n\n" + options + "请给出答案。\n", a "____。" blank as "( )". */
export function chatUserPrompt(it: Item, lang: 'zh' | 'en'): string {
  const body = `${it.question}\n\n${optionsBlock(it)}`.replaceAll('____。', '( )');
  return lang === 'zh'
    ? `以下是一道单选题:\n${body}请给出答案。\n`
    : `The following is a single-choice question:\n${body}Please give the answer.\n`;
}

/** the whole chat-gen prompt as text (the model side tokenizes it segment-wise as fine-tuning does). */
export function chatPrompt(it: Item, lang: 'zh' | 'en'): string {
  return renderChatPrompt([{ role: 'user', content: chatUserPrompt(it, lang) }], CHAT_SYSTEM);
}

/** loglik: one question as the harness's task configs write it (no answer). */
export function loglikQuestion(it: Item, lang: 'zh' | 'en'): string {
  return `${it.question.trim()}\n${LETTERS.map((l, i) => `${l}. ${it.choices[i]}`).join('\n')}\n${lang === 'zh' ? '答案：' : 'Answer:'}`;
}

export function loglikDescription(spec: BenchmarkSpec, subject: string): string {
  const s = subjectInfo(spec, subject);
  if (spec.name === 'ceval') return `以下是中国关于${s.title}考试的单项选择题，请选出其中的正确答案。\n\n`;
  if (spec.name === 'cmmlu') return `以下是关于${s.title}的单项选择题，请直接给出正确答案的选项。\n\n`;
  return `The following are multiple choice questions (with answers) about ${s.title}.\n\n`;
}

/** description + k solved dev examples ("\n\n" between) + the question; the continuation is " X". */
export function loglikContext(spec: BenchmarkSpec, it: Item, shots: Item[]): string {
  const solved = shots.map((s) => `${loglikQuestion(s, spec.lang)} ${s.answer}`);
  return loglikDescription(spec, it.subject) + solved.map((s) => s + '\n\n').join('') + loglikQuestion(it, spec.lang);
}

export interface ItemResult {
  subject: string;
  id: string;
  file: string;
  line: number;
  answer: Letter;
  pred: Letter;
  correct: boolean;
  /** chat-gen */
  reply?: string;
  rule?: ExtractRule;
  /** loglik: the four options' log-likelihoods (nats) */
  logprobs?: number[];
}

export interface SubjectScore {
  n: number;
  correct: number;
  acc: number;
  categories: string[];
}
export interface CategoryScore {
  subjects: number;
  acc: number;
}

export interface TaskResult {
  task: string;
  title: string;
  protocol: Protocol;
  shots: number;
  split: string;
  seed: number;
  limit: number | null;
  maxNewTokens: number | null;
  model: string;
  subjects: Record<string, SubjectScore>;
  categories: Record<string, CategoryScore>;
  /** mean of the subjects' accuracies (the benchmarks' scripts' "average"). */
  average: number;
  /** accuracy over all items. */
  micro: number;
  items: number;
  /** benchmark subjects with no file in the folder (the average covers the others only). */
  missingSubjects: string[];
  seconds: number;
}

export interface RunOptions {
  protocol: Protocol;
  shots: number;
  limit?: number;
  maxNewTokens?: number;
  seed?: number;
  /** chat-gen: questions decoded together (default DEFAULT_CHAT_BATCH; the replies do not depend on it). */
  batch?: number;
  /** dev split (for k-shot loglik). */
  dev?: LoadedSplit;
  onItem?: (done: number, total: number, r: ItemResult) => void;
}

export async function runTask(
  model: EvalModel,
  data: LoadedSplit,
  o: RunOptions,
): Promise<{ result: TaskResult; items: ItemResult[] }> {
  const t0 = performance.now();
  const spec = data.spec;
  if (o.protocol === 'chat-gen' && o.shots !== 0)
    throw new Error("chat-gen is 0-shot (Steel's protocol); use --protocol loglik for k-shot");
  if (o.shots > 0 && !o.dev) throw new Error(`${o.shots}-shot needs the ${spec.fewshotSplit} split`);
  const maxNew = o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS[spec.name];
  const todo: Item[] = [];
  for (const items of data.bySubject.values()) {
    const sel = o.limit ? items.slice(0, o.limit) : items;
    for (const it of sel) {
      if (it.answer === null)
        throw new Error(
          `${it.file}: ${spec.title} ${data.split} has no answers (they are hidden); evaluate the ${spec.evalSplit} split`,
        );
      todo.push(it);
    }
  }
  const out: ItemResult[] = [];
  const base = (it: Item) => ({ subject: it.subject, id: it.id, file: it.file, line: it.line, answer: it.answer! });
  if (o.protocol === 'chat-gen') {
    // the questions decoded together, `batch` at a time (a slot whose reply has ended takes the next question; each
    // reply as if alone), in item order; progress after every chunk of CHAT_CHUNK_BATCHES batches
    const batch = Math.max(1, o.batch ?? DEFAULT_CHAT_BATCH);
    const gen = { maxTokens: maxNew, system: CHAT_SYSTEM, batch };
    for (let i = 0; i < todo.length; i += batch * CHAT_CHUNK_BATCHES) {
      const part = todo.slice(i, i + batch * CHAT_CHUNK_BATCHES);
      const convs = part.map((it) => [{ role: 'user' as const, content: chatUserPrompt(it, spec.lang) }]);
      let replies: string[];
      if (model.chatBatch) replies = await model.chatBatch(convs, gen);
      else {
        replies = [];
        for (const c of convs) replies.push(await model.chat(c, gen));
      }
      part.forEach((it, j) => {
        const reply = replies[j];
        const x = extractAnswer(reply, it.question, it.choices);
        out.push({ ...base(it), pred: x.letter, correct: x.letter === it.answer, reply, rule: x.rule });
        o.onItem?.(out.length, todo.length, out[out.length - 1]);
      });
    }
  }
  for (const it of o.protocol === 'loglik' ? todo : []) {
    const dev = o.dev?.bySubject.get(it.subject) ?? [];
    if (dev.length < o.shots)
      throw new Error(
        `${spec.title} ${it.subject}: ${o.shots}-shot needs ${o.shots} ${spec.fewshotSplit} examples, the folder has ${dev.length}`,
      );
    const ctx = loglikContext(spec, it, dev.slice(0, o.shots));
    const ll = await model.loglik(LETTERS.map((l) => ({ context: ctx, continuation: ` ${l}` })));
    const lps = ll.map((x) => x.logprob);
    let best = 0;
    for (let i = 1; i < 4; i++) if (lps[i] > lps[best]) best = i;
    const r: ItemResult = { ...base(it), pred: LETTERS[best], correct: LETTERS[best] === it.answer, logprobs: lps };
    out.push(r);
    o.onItem?.(out.length, todo.length, r);
  }
  return {
    result: aggregate(
      spec,
      data,
      out,
      { ...o, maxNewTokens: o.protocol === 'chat-gen' ? maxNew : undefined },
      model.description,
      (performance.now() - t0) / 1000,
    ),
    items: out,
  };
}

export function aggregate(
  spec: BenchmarkSpec,
  data: LoadedSplit,
  items: ItemResult[],
  o: RunOptions,
  model: string,
  seconds: number,
): TaskResult {
  const subjects: Record<string, SubjectScore> = {};
  for (const r of items) {
    const s = (subjects[r.subject] ??= {
      n: 0,
      correct: 0,
      acc: 0,
      categories: subjectInfo(spec, r.subject).categories,
    });
    s.n++;
    if (r.correct) s.correct++;
  }
  for (const s of Object.values(subjects)) s.acc = s.n ? s.correct / s.n : 0;
  const categories: Record<string, CategoryScore> = {};
  for (const c of spec.categories) {
    const accs = Object.values(subjects)
      .filter((s) => s.categories.includes(c))
      .map((s) => s.acc);
    if (accs.length) categories[c] = { subjects: accs.length, acc: accs.reduce((a, b) => a + b, 0) / accs.length };
  }
  const accs = Object.values(subjects).map((s) => s.acc);
  return {
    task: spec.name,
    title: spec.title,
    protocol: o.protocol,
    shots: o.shots,
    split: data.split,
    seed: o.seed ?? 0,
    limit: o.limit ?? null,
    maxNewTokens: o.maxNewTokens ?? null,
    model,
    subjects,
    categories,
    average: accs.length ? accs.reduce((a, b) => a + b, 0) / accs.length : 0,
    micro: items.length ? items.filter((r) => r.correct).length / items.length : 0,
    items: items.length,
    missingSubjects: data.missing,
    seconds,
  };
}

const pct = (x: number) => (100 * x).toFixed(2);

/** a Markdown table: categories and average first, then every subject. */
export function resultTable(r: TaskResult): string {
  const lines = [
    `## ${r.title} (${r.split}, ${r.protocol}, ${r.shots}-shot${r.limit ? `, first ${r.limit} per subject` : ''}): average ${pct(r.average)}%`,
    '',
    `model ${r.model}; seed ${r.seed}; ${r.items} items in ${Object.keys(r.subjects).length} subjects; micro average ${pct(r.micro)}%` +
      (r.missingSubjects.length ? `; ${r.missingSubjects.length} subjects not in the folder` : ''),
    '',
    '| category | subjects | accuracy % |',
    '|---|---:|---:|',
    ...Object.entries(r.categories).map(([c, s]) => `| ${c} | ${s.subjects} | ${pct(s.acc)} |`),
    `| **average** | ${Object.keys(r.subjects).length} | **${pct(r.average)}** |`,
    '',
    '| subject | items | correct | accuracy % |',
    '|---|---:|---:|---:|',
    ...Object.entries(r.subjects).map(([n, s]) => `| ${n} | ${s.n} | ${s.correct} | ${pct(s.acc)} |`),
  ];
  return lines.join('\n') + '\n';
}
