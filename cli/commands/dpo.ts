import { runTask } from './sft.ts';

export const summary =
  'DPO (sigmoid loss, beta 0.1) from an SFT model on steel sft-data --task dpo shards; reference log-probs cached';

export async function run(argv: string[]): Promise<number> {
  return runTask('dpo', argv);
}
