export {
  collectCorpus,
  verifyCollected,
  assertCollected,
  assertInputsCollected,
  readCollectRecord,
  collectRootOf,
  formatSummary,
  COLLECT_FILE,
} from './collect.ts';
export type { CollectOptions, CollectSummary, CollectRecord, CollectedFile, VerifyReport } from './collect.ts';
export { resolveSource, sourceFromManifest } from './source.ts';
export type { CollectSource, UrlEntry } from './source.ts';
