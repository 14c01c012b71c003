/** The input formats the document readers know (pipeline/readers): the one list, used by manifests and the CLI. */
export const INPUT_FORMATS = ['jsonl', 'parquet', 'arrow', 'text'] as const;

export type InputFormat = (typeof INPUT_FORMATS)[number];

export function isInputFormat(s: string): s is InputFormat {
  return (INPUT_FORMATS as readonly string[]).includes(s);
}
