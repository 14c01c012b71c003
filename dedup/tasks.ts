/**
 * The staged dedup tasks, one file per stage in dedup/stages/ (run through the executor; each is a typed task):
 *
 *  1. signatures  (one task per input file)  sig/f{F}.bin (per band, runs sorted by (key, doc)) + sig/info/f{F}.bin
 *  2. buckets     (a task per partition)     per band, k-way merge of its runs -> candidate edges edges/from-{T}/to-{P}.bin
 *  2b. verify   (runs of files, then ranges MinHash: exact Jaccard of candidate pairs -> edges/from-v{K}/to-p{P}.bin
 *               of pairs by cost)
 *  3. cc rounds   (one task per partition)   alternating large-star / small-star (Kiveris et al.) until every
 *                                            component is a star around its smallest node; cc/r{R}/from-p{P}/to-p{Q}.bin
 *  4. route/join/reduce (partitions, groups) attach length / score / id to every clustered node, pick the keeper
 *  5. filter      (one task per file group)  kept docs -> docs/part-GGGGG.jsonl.zst, duplicates, excluded
 *  6. index       (a task per partition)     signatures of kept documents for later runs
 *
 * Every file is written under a temporary name and renamed when complete; every intermediate is checksummed and
 * verified when read. A rerun skips finished tasks (executor markers) and finished files.
 */
import { bucketsTask } from './stages/buckets.ts';
import { ccTask } from './stages/cc.ts';
import { filterTask } from './stages/filter.ts';
import { indexTask } from './stages/kept-index.ts';
import { joinTask } from './stages/join.ts';
import { reduceTask } from './stages/reduce.ts';
import { routeTask } from './stages/route.ts';
import { signaturesTask } from './stages/signatures.ts';
import { verifySetsTask, verifyTask } from './stages/verify.ts';

export {
  bucketsTask,
  ccTask,
  filterTask,
  indexTask,
  joinTask,
  reduceTask,
  routeTask,
  signaturesTask,
  verifySetsTask,
  verifyTask,
};
export { docsPartPath, sigPath, type Numbering } from './stages/common.ts';
