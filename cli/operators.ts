/**
 * The operator list (composition root): every area's recipe operators, loaded lazily per area. pipeline/ knows only
 * its own operators; the runner, recipe resolution, workers (cli/tasks.ts) and `steel ops` get this registry.
 * filters/ is listed by its metadata (filters/op-meta.ts): the implementations load in the process that runs an op.
 * Wiring between areas happens here too: filters count tokens with tokenizer/'s tokenizers.
 */
import { provideTokenCounters } from '../filters/tokens.ts';
import { OperatorRegistry, PIPELINE_OPS } from '../pipeline/registry.ts';

provideTokenCounters(async (spec) => (await import('../tokenizer/encode.ts')).tokenCounter(spec));

export const operators = new OperatorRegistry([
  ...PIPELINE_OPS,
  () => import('../filters/op-meta.ts'),
  () => import('../dedup/ops.ts'),
  () => import('../tokenizer/ops.ts'),
]);
