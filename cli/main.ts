import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The `steel` command. Each subcommand lives in cli/commands/NAME.ts and exports
 *   export const summary: string;                        // one line for `steel --help`
 *   export async function run(argv: string[]): Promise<number>;  // exit code; must handle --help itself
 */
export const COMMANDS = [
  'prep', 'stats', 'corpora', 'collect', 'ops', 'refilter', 'lm', 'dedup', 'tokenizer', 'inspect',
  'model', 'train', 'generate', 'eval', 'export', 'import',
] as const;

function commandPath(name: string): string {
  return fileURLToPath(new URL(`./commands/${name}.ts`, import.meta.url));
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const available = COMMANDS.filter((c) => existsSync(commandPath(c)));
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const lines = ['usage: steel COMMAND [options]   (steel COMMAND --help for details)', '', 'commands:'];
    for (const c of available) {
      const mod = await import(commandPath(c));
      lines.push(`  ${c.padEnd(11)} ${mod.summary ?? ''}`);
    }
    console.log(lines.join('\n'));
    return cmd ? 0 : 1;
  }
  if (!available.includes(cmd as (typeof COMMANDS)[number])) {
    console.error(`steel: unknown command "${cmd}" (try: steel --help)`);
    return 2;
  }
  const mod = await import(commandPath(cmd));
  try {
    return await mod.run(rest);
  } catch (e) {
    const err = e as Error;
    console.error(`steel ${cmd}: ${err.message}`);
    if (process.env.STEEL_DEBUG) console.error(err.stack);
    return 1;
  }
}
