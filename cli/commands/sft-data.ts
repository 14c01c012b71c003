import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { buildFtShards, type MixFile } from '../../tokenizer/sft.ts';
import { fillSelfCognition } from '../../pipeline/corpora/adapters.ts';
import { writeFileAtomic } from '../../pipeline/fsutil.ts';
import { detectFormat } from '../../pipeline/readers/index.ts';
import { REPO_ROOT } from '../../pipeline/corpora/index.ts';

export const summary =
  'fine-tuning data: tokenize chat / preference records into SFT or DPO shards (loss mask, cutoff)';

const HELP = `usage: steel sft-data --task sft|dpo --input PATH... --out DIR [options]
       steel sft-data self-cognition --name NAME --author AUTHOR --out FILE.jsonl

  --task sft|dpo      sft: conversations (meta.messages) -> tokens + loss_mask; dpo: pairs -> prompt/chosen/rejected
  --input PATH        prep output (folder of docs, or files) or chat-schema JSONL; repeatable
  --out DIR           shard folder (manifest.json, shard-NNNNN.arrow, rejects.jsonl)
  --mix FILE          YAML mix file: per-source ratios (corpora-manifests/mixes/steel-chat-v2-sft.yaml, ...)
  --cutoff N          maximum tokens per row (default: sft 768, dpo 1536, as Steel); longer rows are cut and counted
  --system TEXT       system prompt for conversations without one (default "You are a helpful assistant.")
  --tokenizer SPEC    default qwen

self-cognition: writes the bundled template (corpora-manifests/self-cognition/template.jsonl) filled with the
model's name and author as chat-schema JSONL, ready for --input.`;

const Mix = z
  .object({
    name: z.string().optional(),
    task: z.enum(['sft', 'preference']),
    sources: z.record(z.string(), z.number().min(0).max(1)),
  })
  .strict();

export function readMix(path: string): MixFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid YAML: ${(e as Error).message}`);
  }
  const r = Mix.safeParse(raw);
  if (!r.success)
    throw new Error(
      `${path}: invalid mix file: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

function inputFiles(inputs: string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new Error(`input ${p}: not found`);
    if (statSync(p).isDirectory()) {
      const d = existsSync(join(p, 'docs')) && statSync(join(p, 'docs')).isDirectory() ? join(p, 'docs') : p;
      const fs = readdirSync(d)
        .filter((f) => detectFormat(f) !== 'text' && !f.startsWith('.'))
        .sort();
      if (!fs.length)
        throw new Error(`input ${p}: no JSONL, Parquet or Arrow files (formats as pipeline/readers detects them)`);
      out.push(...fs.map((f) => join(d, f)));
    } else out.push(p);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'self-cognition') {
    const { values: v } = parseArgs({
      args: argv.slice(1),
      options: { name: { type: 'string' }, author: { type: 'string' }, out: { type: 'string' } },
    });
    if (!v.name || !v.author || !v.out) {
      console.error('steel sft-data self-cognition: --name, --author and --out are required');
      return 2;
    }
    const lines = readFileSync(join(REPO_ROOT, 'corpora-manifests/self-cognition/template.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean);
    const out = lines.map((l, i) => {
      const r = JSON.parse(l) as { instruction: string; output: string };
      return JSON.stringify({
        id: `self-cognition/${i + 1}`,
        source: 'self-cognition',
        messages: [
          { role: 'user', content: fillSelfCognition(r.instruction, v.name!, v.author!) },
          { role: 'assistant', content: fillSelfCognition(r.output, v.name!, v.author!) },
        ],
      });
    });
    writeFileAtomic(v.out, out.join('\n') + '\n');
    console.error(`wrote ${out.length} self-cognition conversations to ${v.out}`);
    return 0;
  }
  const { values: v } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      task: { type: 'string' },
      input: { type: 'string', multiple: true },
      out: { type: 'string' },
      mix: { type: 'string' },
      cutoff: { type: 'string' },
      system: { type: 'string' },
      tokenizer: { type: 'string', default: 'qwen' },
      quiet: { type: 'boolean' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (v.task !== 'sft' && v.task !== 'dpo') {
    console.error('steel sft-data: --task sft or --task dpo is required\n\n' + HELP);
    return 2;
  }
  if (!v.input?.length || !v.out) {
    console.error('steel sft-data: --input and --out are required\n\n' + HELP);
    return 2;
  }
  const mix = v.mix ? readMix(v.mix) : null;
  if (mix && (mix.task === 'sft') !== (v.task === 'sft'))
    throw new Error(`${v.mix}: a ${mix.task} mix, but --task ${v.task}`);
  const cutoff = v.cutoff ? Number(v.cutoff) : v.task === 'sft' ? 768 : 1536;
  if (!Number.isInteger(cutoff) || cutoff < 8) throw new Error(`--cutoff must be an integer >= 8, got "${v.cutoff}"`);
  await buildFtShards({
    inputs: inputFiles(v.input),
    outDir: v.out,
    task: v.task,
    tokenizer: v.tokenizer,
    cutoff,
    system: v.system,
    mix,
    log: v.quiet ? undefined : (m) => console.error(m),
  });
  return 0;
}
