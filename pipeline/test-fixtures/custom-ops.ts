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

/** Per-document form (createDoc): doubles the text. */
export const twice: MapOp<Record<string, never>> = {
  kind: 'map',
  name: 'twice',
  description: 'doubles the text (per document)',
  params: z.object({}),
  createDoc: () => (doc) => {
    doc.text = doc.text + doc.text;
    return true;
  },
  create: () =>
    async function* (docs) {
      for await (const d of docs) yield { ...d, text: d.text + d.text };
    },
};

/** Per-document form (createDoc): drops documents whose id ends in an odd digit (rule "odd"). */
export const dropOdd: MapOp<Record<string, never>> = {
  kind: 'map',
  name: 'drop_odd',
  description: 'drops ids ending in an odd digit (per document)',
  params: z.object({}),
  createDoc: () => (doc, ctx) => {
    if (Number(doc.id.at(-1)) % 2 === 0) return true;
    ctx.drop(doc, 'odd', doc.id);
    return false;
  },
  create: () =>
    async function* (docs, ctx) {
      for await (const d of docs) {
        if (Number(d.id.at(-1)) % 2 === 0) yield d;
        else ctx.drop(d, 'odd', d.id);
      }
    },
};

/**
 * Per-document form answering with a promise (the fused loop awaits it and goes on with the next step): drops
 * documents whose number (after the id's "-") is a multiple of 3 (rule "three"), doubles the others' text; a step
 * of a document whose text starts with "fail" rejects.
 */
export const asyncThree: MapOp<Record<string, never>> = {
  kind: 'map',
  name: 'async_three',
  description: 'drops multiples of 3, doubles the rest, after an await (per document)',
  params: z.object({}),
  createDoc: () => async (doc, ctx) => {
    await Promise.resolve();
    if (doc.text.startsWith('fail')) throw new Error('asked to fail');
    if (Number(doc.id.split('-').at(-1)) % 3 === 0) {
      ctx.drop(doc, 'three', doc.id);
      return false;
    }
    doc.text = doc.text + doc.text;
    return true;
  },
  create: () => {
    throw new Error('async_three runs per document only');
  },
};
