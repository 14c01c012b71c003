import type { Corpus } from './types.ts';

/** Registry of known corpora (manifests in corpora-manifests/). Placeholder until the adapters land. */
export async function getCorpus(_name: string): Promise<Corpus | undefined> {
  return undefined;
}

export async function listCorpora(): Promise<Corpus[]> {
  return [];
}
