/** Test helpers: tiny models that read Qwen-tokenized benchmark text through a compact vocabulary. */
import { loadBackend, type Backend } from '../train/backend.ts';
import { saveModel } from '../train/checkpoint.ts';
import { getPreset, UNK_RAW_ID, type ModelConfig } from '../train/config.ts';
import { encodeTexts, loadTokenizer, QWEN_EOS_ID } from '../tokenizer/encode.ts';

/**
 * A tiny randomly initialised model (init std 0.3, so outputs depend visibly on the input) whose compact vocabulary
 * holds every Qwen token of `texts` plus unk and <|im_end|>; saved to `path` when given.
 */
export async function tinyQwenModel(
  kind: 'tiny' | 'tiny-dense',
  texts: string[],
  o: { path?: string; seed?: number; seqLen?: number } = {},
): Promise<{ be: Backend; vocabIds: Int32Array }> {
  const tk = loadTokenizer('qwen');
  const ids = new Set<number>([UNK_RAW_ID, QWEN_EOS_ID]);
  for (const e of await encodeTexts(tk.tok, texts, null)) for (const id of e) ids.add(id);
  const vocabIds = Int32Array.from([...ids].sort((a, b) => a - b));
  const base = getPreset(kind).model;
  const config: ModelConfig = {
    ...base,
    vocabSize: vocabIds.length,
    seqLen: o.seqLen ?? 512,
    initStd: 0.3,
    compactVocab: true,
    eosId: vocabIds.indexOf(QWEN_EOS_ID),
    padId: vocabIds.indexOf(UNK_RAW_ID),
  };
  const be = await loadBackend('cpu', config);
  await be.init(o.seed ?? 1);
  if (o.path) await saveModel(o.path, be, vocabIds);
  return { be, vocabIds };
}
