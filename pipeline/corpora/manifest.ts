/**
 * Corpus manifests (corpora-manifests/NAME.yaml): the one schema and the one parser. Strict: a key the schema does not
 * name is an error (a typo must not silently drop a setting). Everything that reads a manifest (the corpus registry,
 * `steel corpora`, `steel collect`, the runner's bundled-corpus inputs) gets a validated, typed Manifest from here.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { INPUT_FORMATS } from '../readers/formats.ts';
import { PARSE_ONCE } from '../stage.ts';
import { parseYamlText } from '../yaml.ts';

const Glob = z.string().min(1);

const UrlEntry = z
  .object({
    url: z.string().url(),
    /** Path of the file inside the corpus's output folder (default: the URL's last path segment). */
    path: z.string().min(1).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, '64 hex digits')
      .optional(),
    size: z.number().int().min(0).optional(),
  })
  .strict();

export const ManifestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-"'),
    title: z.string().min(1),
    publisher: z.string().min(1),
    homepage: z.string().optional(),
    description: z.string().optional(),
    /** ISO 639-1 codes, or "code". The first is the documents' lang hint. */
    language: z.array(z.string().min(1)).min(1),
    /**
     * What the corpus is for: pretraining text, SFT conversations or preference pairs (chat schema, pipeline/chat.ts),
     * or an evaluation benchmark (read by `steel eval --task`, never by prep; unify kind `benchmark`).
     */
    task: z.enum(['pretrain', 'sft', 'preference', 'eval']).default('pretrain'),
    license: z.string().min(1),
    /** Format of the raw files as the reader sees them (after any unpacking listed in `packaging`); csv: benchmarks. */
    format: z.enum([...INPUT_FORMATS, 'csv']),
    /** How the published files are packed when the reader cannot read them directly (e.g. "zip", "tar.gz"). */
    packaging: z.string().optional(),
    encoding: z.string().optional(),
    hf: z
      .object({
        repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name'),
        revision: z.string().min(1).default('main'),
        /** Hub repository type. */
        type: z.enum(['dataset', 'model']).default('dataset'),
        include: z.array(Glob).min(1),
        exclude: z.array(Glob).optional(),
        gated: z.boolean().optional(),
      })
      .strict()
      .optional(),
    urls: z
      .array(z.union([z.string().url(), UrlEntry]))
      .min(1)
      .optional(),
    /** Files that ship with this repository (the bundled sample). */
    local: z
      .object({ path: z.string().min(1), include: z.array(Glob).min(1) })
      .strict()
      .optional(),
    /** Where to get the data when it cannot be fetched automatically (login walls, other hubs). */
    manual: z.string().optional(),
    size: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    /** What Steel-LLM took from it (share of its mix, subset). */
    steel: z.string().optional(),
    /** Raw record fields: name -> type and meaning. */
    fields: z.record(z.string(), z.string()),
    reader: z.object({ text_field: z.string().optional(), id_field: z.string().optional() }).strict().default({}),
    /** Steel's step-1 unification: `kind` picks the adapter (pipeline/corpora/adapters.ts), which checks its own keys. */
    unify: z.object({ kind: z.string() }).passthrough(),
    /** Caveats, including what we are not sure of about the published schema. */
    notes: z.array(z.string()).default([]),
  })
  .strict()
  .refine((m) => m.hf || m.urls || m.local || m.manual, { message: 'one of hf, urls, local or manual is required' })
  .refine((m) => (m.task === 'eval') === (m.unify.kind === 'benchmark'), {
    message: 'task: eval goes with unify kind "benchmark" (and only it)',
    path: ['task'],
  })
  .refine((m) => m.format !== 'csv' || m.task === 'eval', {
    message: `csv is for evaluation benchmarks only (task: eval); documents are ${INPUT_FORMATS.join(', ')}`,
    path: ['format'],
  });

export type Manifest = z.infer<typeof ManifestSchema>;

/** Validate a parsed manifest; errors name `where` (the file) and the offending keys. */
export function parseManifest(raw: unknown, where: string): Manifest {
  const parsed = ManifestSchema.safeParse(raw, PARSE_ONCE);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`${where}: invalid corpus manifest: ${issues}`);
  }
  return parsed.data;
}

/** Read and validate one manifest file (NAME.yaml, whose `name` must be NAME). */
export function readManifestFile(path: string): Manifest {
  let raw: unknown;
  try {
    raw = parseYamlText(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid YAML: ${(e as Error).message}`);
  }
  const m = parseManifest(raw, path);
  if (basename(path).replace(/\.ya?ml$/, '') !== m.name)
    throw new Error(`${path}: manifest name "${m.name}" must match the file name`);
  return m;
}
