/**
 * What a `steel prep` worker process loads while the parent still plans the run (LocalExecutor.prestart, the worker
 * entry's Preload): the map task's modules, the recipe's operators, and the per-document stages of its first map
 * phase built once, so that their tables and models (language ID's, jieba's...) are in the process when its first map
 * task arrives. The stages built here are dropped; the task builds its own, from the same cached tables.
 */
import { PARSE_ONCE } from '../pipeline/stage.ts';
import { loadTask } from '../pipeline/task.ts';
import { tasks } from './tasks.ts';

/** The preload spec `steel prep` sends its workers: the recipe, as given to --recipe. */
export interface PrepPreload {
  recipe: string;
}

export async function preloadPrep(spec: unknown): Promise<void> {
  const recipe = (spec as Partial<PrepPreload> | undefined)?.recipe;
  if (typeof recipe !== 'string') return;
  const [{ loadRecipe }, { operators }] = await Promise.all([
    import('../pipeline/recipe.ts'),
    import('./operators.ts'),
    loadTask(tasks, 'pipeline.map'),
  ]);
  let firstPhase = true;
  for (const step of loadRecipe(recipe).steps) {
    const op = await operators.find(step.op);
    if (op.kind !== 'map') firstPhase = false;
    else if (firstPhase && op.createDoc) await op.createDoc(op.params.parse(step.params, PARSE_ONCE));
  }
}
