/**
 * The repository's YAML files parsed once, at build time: scripts/build.mjs writes dist/pipeline/yaml-parsed.json
 * (`writeYamlParsed`), the text of each bundled recipe and corpus manifest with its document as JSON, and
 * `parseYamlText` takes a text's document from there when the text is one of them, character for character (an edited
 * or other file is parsed by the `yaml` package). A `steel prep` so skips the package's first parses (the recipe and a
 * corpus manifest: ~0.02 CPU-s at idle, most of it compiling the parser). From the sources there is no such file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { writeFileAtomic } from './fsutil.ts';

export const YAML_PARSED = fileURLToPath(new URL('./yaml-parsed.json', import.meta.url));

function readKnown(path: string): Map<string, string> | null {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const m = new Map<string, string>();
    for (const [text, json] of Object.entries(j)) if (typeof json === 'string') m.set(text, json);
    return m;
  } catch {
    return null;
  }
}

/**
 * A parser of YAML texts that takes the documents of the texts in `parsed` (a file `writeYamlParsed` wrote, read on
 * the first call; none when it is missing) from there: each as the `yaml` package's `parse` gives it, a fresh object
 * each call.
 */
export function yamlParser(parsed: string): (text: string) => unknown {
  let known: Map<string, string> | null | undefined;
  return (text) => {
    if (known === undefined) known = readKnown(parsed);
    const json = known?.get(text);
    return json === undefined ? parse(text) : JSON.parse(json);
  };
}

/** The document of a YAML text (the build's parsed copy of the repository's recipes and manifests, else parsed). */
export const parseYamlText = yamlParser(YAML_PARSED);

/**
 * Writes to `out` the texts of the .yaml files under `dirs` (recursively) with their documents as JSON: those whose
 * document JSON holds exactly (plain objects, arrays, strings, finite numbers, booleans, null). Returns how many.
 */
export function writeYamlParsed(dirs: string[], out = YAML_PARSED): number {
  const entries: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) visit(p);
      else if (/\.ya?ml$/.test(e.name)) {
        const text = readFileSync(p, 'utf8');
        let doc: unknown;
        try {
          doc = parse(text);
        } catch {
          continue; // an invalid file is parsed (and reported) where it is read
        }
        const json = JSON.stringify(doc);
        if (json !== undefined && isDeepStrictEqual(JSON.parse(json), doc)) entries[text] = json;
      }
    }
  };
  for (const d of dirs) visit(d);
  writeFileAtomic(out, JSON.stringify(entries));
  return Object.keys(entries).length;
}
