import { parseArgs } from 'node:util';
import { z } from 'zod';
import { operators } from '../operators.ts';
import type { Op } from '../../pipeline/stage.ts';

export const summary = 'list the operators usable in recipes (kind, description, params with defaults)';

const HELP = `usage: steel ops [NAME...] [--json]

Lists every operator of cli/operators.ts (gathered from pipeline/, filters/, dedup/, tokenizer/ ops.ts) with its
kind (map: streaming stage inside each task; global: whole-dataset step), description and params (type, default,
description), read from its zod schema. Use them in a recipe as  steps: [{op: NAME, params: {...}}].

options:
  --json   machine-readable output (params as JSON Schema)`;

export interface ParamInfo {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

type JS = {
  type?: string | string[];
  enum?: unknown[];
  items?: JS;
  anyOf?: JS[];
  oneOf?: JS[];
  const?: unknown;
  properties?: Record<string, JS>;
  required?: string[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
};

export function paramsSchema(op: Op): JS {
  try {
    return z.toJSONSchema(op.params, { io: 'input', unrepresentable: 'any' }) as JS;
  } catch {
    return {};
  }
}

function typeName(s: JS | undefined): string {
  if (!s) return 'any';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join('|');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeName).join(' | ');
  const t = Array.isArray(s.type) ? s.type.join('|') : s.type;
  if (t === 'array') return `${typeName(s.items)}[]`;
  if (t === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`;
  let out = t ?? 'any';
  const lo = s.minimum !== undefined && Math.abs(s.minimum) < Number.MAX_SAFE_INTEGER ? s.minimum : undefined;
  const hi = s.maximum !== undefined && Math.abs(s.maximum) < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (lo !== undefined || hi !== undefined) out += ` [${lo ?? ''}..${hi ?? ''}]`;
  return out;
}

export function paramInfo(op: Op): ParamInfo[] {
  const js = paramsSchema(op);
  const req = new Set(js.required ?? []);
  return Object.entries(js.properties ?? {}).map(([name, p]) => ({
    name,
    type: typeName(p),
    required: req.has(name) && p.default === undefined,
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.description ? { description: p.description } : {}),
  }));
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const all = await operators.all();
  let ops = [...all.values()].sort((a, b) =>
    a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'map' ? -1 : 1,
  );
  if (positionals.length) {
    const unknown = positionals.filter((n) => !all.has(n));
    if (unknown.length)
      throw new Error(`unknown operator(s): ${unknown.join(', ')} (known: ${[...all.keys()].sort().join(', ')})`);
    ops = ops.filter((o) => positionals.includes(o.name));
  }
  if (values.json) {
    console.log(
      JSON.stringify(
        ops.map((o) => ({ name: o.name, kind: o.kind, description: o.description, params: paramsSchema(o) })),
        null,
        2,
      ),
    );
    return 0;
  }
  const lines: string[] = [];
  for (const o of ops) {
    lines.push(`${o.name}  [${o.kind}]`);
    lines.push(`    ${o.description}`);
    for (const p of paramInfo(o)) {
      const def = p.default !== undefined ? ` = ${JSON.stringify(p.default)}` : p.required ? ' (required)' : '';
      lines.push(`    - ${p.name}: ${p.type}${def}${p.description ? `  — ${p.description}` : ''}`);
    }
    lines.push('');
  }
  lines.push(`${ops.length} operator(s). In a recipe: steps: [{op: NAME, params: {...}}]`);
  console.log(lines.join('\n'));
  return 0;
}
