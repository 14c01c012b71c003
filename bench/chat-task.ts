/**
 * A small instruction task with a checkable answer, for the fine-tuning learning test: reverse a string of digits
 * (Qwen's tokenizer gives one token per digit), asked in Chinese or English. Deterministic from a seed; the held-out
 * split holds digit strings that never occur in the training split.
 *   SFT records:  {id, source, messages: [{role: user, content}, {role: assistant, content: reversed}]}
 *   DPO records:  {id, source, prompt: [{role: user, content}], chosen: reversed, rejected: a wrong answer}
 * Usage: node --import tsx bench/chat-task.ts OUT_DIR [--train N] [--heldout N] [--digits D] [--seed S]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../train/rng.ts';

const TEMPLATES = [
  { lang: 'zh', q: (s: string) => `把这串数字倒过来：${s}` },
  { lang: 'zh', q: (s: string) => `请倒序输出${s}` },
  { lang: 'en', q: (s: string) => `Reverse the digits: ${s}` },
  { lang: 'en', q: (s: string) => `Write ${s} backwards.` },
];

export interface TaskItem {
  id: string;
  lang: string;
  prompt: string;
  answer: string;
  wrong: string;
}

function reverse(s: string): string {
  return [...s].reverse().join('');
}

/** a wrong answer: the digits unreversed, or the reversal with one digit changed (never equal to the answer). */
function wrongAnswer(s: string, rng: Rng): string {
  const r = reverse(s);
  if (r !== s && rng.next() < 0.5) return s;
  const a = [...r];
  const i = rng.int(a.length);
  a[i] = String((Number(a[i]) + 1 + rng.int(9)) % 10);
  return a.join('');
}

export function makeTask(o: { train: number; heldout: number; digits: number; seed: number }): {
  train: TaskItem[];
  heldout: TaskItem[];
} {
  const rng = new Rng(o.seed);
  const space = 10 ** o.digits;
  if (o.train + o.heldout > space)
    throw new Error(`${o.train + o.heldout} items from ${space} digit strings: use more digits`);
  const seen = new Set<string>();
  const items: TaskItem[] = [];
  while (items.length < o.train + o.heldout) {
    const s = String(rng.int(space)).padStart(o.digits, '0');
    if (seen.has(s)) continue;
    seen.add(s);
    const t = TEMPLATES[rng.int(TEMPLATES.length)];
    items.push({ id: `rev-${s}`, lang: t.lang, prompt: t.q(s), answer: reverse(s), wrong: wrongAnswer(s, rng) });
  }
  return { train: items.slice(0, o.train), heldout: items.slice(o.train) };
}

export function sftRecord(it: TaskItem): Record<string, unknown> {
  return {
    id: it.id,
    source: `reverse-${it.lang}`,
    messages: [
      { role: 'user', content: it.prompt },
      { role: 'assistant', content: it.answer },
    ],
  };
}
export function dpoRecord(it: TaskItem): Record<string, unknown> {
  return {
    id: it.id,
    source: `reverse-${it.lang}`,
    prompt: [{ role: 'user', content: it.prompt }],
    chosen: it.answer,
    rejected: it.wrong,
  };
}

export function writeTask(dir: string, t: { train: TaskItem[]; heldout: TaskItem[] }): void {
  mkdirSync(dir, { recursive: true });
  const jl = (rs: Record<string, unknown>[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(dir, 'sft-train.jsonl'), jl(t.train.map(sftRecord)));
  writeFileSync(join(dir, 'dpo-train.jsonl'), jl(t.train.map(dpoRecord)));
  writeFileSync(join(dir, 'heldout.jsonl'), jl(t.heldout.map((x) => ({ ...x }))));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = process.argv.slice(2);
  const arg = (k: string, d: number) => {
    const i = a.indexOf(k);
    return i >= 0 ? Number(a[i + 1]) : d;
  };
  if (!a[0]) {
    console.error('usage: bench/chat-task.ts OUT_DIR [--train N] [--heldout N] [--digits D] [--seed S]');
    process.exit(2);
  }
  const t = makeTask({
    train: arg('--train', 2000),
    heldout: arg('--heldout', 200),
    digits: arg('--digits', 4),
    seed: arg('--seed', 1),
  });
  writeTask(a[0], t);
  console.error(`wrote ${t.train.length} training and ${t.heldout.length} held-out items to ${a[0]}`);
}
