/** Operators loaded by reference (`PATH#EXPORT`) in pipeline/runner.test.ts. */
import { z } from 'zod';
import type { MapOp } from '../stage.ts';

/** Upper-cases the text. */
export const shout: MapOp<{ suffix: string }> = {
  kind: 'map',
  name: 'shout',
  description: 'upper-case the text',
  params: z.object({ suffix: z.string().default('!') }),
  create: (p) =>
    async function* (docs) {
      for await (const d of docs) yield { ...d, text: d.text.toUpperCase() + p.suffix };
    },
};

/** A buggy stage: loses every other document without dropping it (the runner must catch this). */
export const leaky: MapOp<Record<string, never>> = {
  kind: 'map',
  name: 'leaky',
  description: 'loses documents silently',
  params: z.object({}),
  create: () =>
    async function* (docs) {
      let i = 0;
      for await (const d of docs) if (i++ % 2 === 0) yield d;
    },
};
