/** Evaluation runs over several benchmarks: used by `steel eval --task` and by the trainer's in-loop evaluation. */
import { join } from 'node:path';
import { writeFileAtomic } from '../pipeline/fsutil.ts';
import { getBenchmark, loadSplit, type TaskName } from './benchmarks.ts';
import type { EvalModel } from './lm.ts';
import { resultTable, runTask, type ItemResult, type Protocol, type TaskResult } from './protocols.ts';

export interface BenchOptions {
  tasks: TaskName[];
  /** folder holding one folder per task (steel collect's output: raw/ceval, raw/cmmlu, raw/mmlu), or per-task folders. */
  benchDir: string | Partial<Record<TaskName, string>>;
  protocol: Protocol;
  shots: number;
  limit?: number;
  split?: string;
  subjects?: string[];
  maxNewTokens?: number;
  /** chat-gen: questions decoded together. */
  batch?: number;
  seed?: number;
  onItem?: (task: TaskName, done: number, total: number, r: ItemResult) => void;
}

export function parseTasks(s: string): TaskName[] {
  const out = s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (out.length === 0) throw new Error('--task: give one or more of ceval, cmmlu, mmlu');
  return out.map((t) => getBenchmark(t).name);
}

export function taskDir(o: Pick<BenchOptions, 'benchDir'>, task: TaskName): string {
  if (typeof o.benchDir === 'string') return join(o.benchDir, task);
  const d = o.benchDir[task];
  if (!d) throw new Error(`no folder given for ${task}`);
  return d;
}

export async function runBenchmarks(
  model: EvalModel,
  o: BenchOptions,
): Promise<{ result: TaskResult; items: ItemResult[] }[]> {
  const out = [];
  for (const task of o.tasks) {
    const spec = getBenchmark(task),
      dir = taskDir(o, task);
    const data = loadSplit(spec, dir, o.split ?? spec.evalSplit, o.subjects);
    const dev =
      o.protocol === 'loglik' && o.shots > 0
        ? loadSplit(spec, dir, spec.fewshotSplit, [...data.bySubject.keys()])
        : undefined;
    out.push(
      await runTask(model, data, {
        protocol: o.protocol,
        shots: o.shots,
        limit: o.limit,
        maxNewTokens: o.maxNewTokens,
        batch: o.batch,
        seed: o.seed,
        dev,
        onItem: (d, t, r) => o.onItem?.(task, d, t, r),
      }),
    );
  }
  return out;
}

/** OUT/TASK.json (scores, protocol, seed), OUT/TASK.md (table), OUT/TASK.items.jsonl (every item's reply or log-likelihoods). */
export function writeResults(outDir: string, runs: { result: TaskResult; items: ItemResult[] }[]): string[] {
  const files: string[] = [];
  for (const { result, items } of runs) {
    const base = join(outDir, result.task);
    writeFileAtomic(`${base}.items.jsonl`, items.map((i) => JSON.stringify(i)).join('\n') + '\n');
    writeFileAtomic(`${base}.md`, resultTable(result));
    writeFileAtomic(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
    files.push(`${base}.json`, `${base}.md`, `${base}.items.jsonl`);
  }
  return files;
}
