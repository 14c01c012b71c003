import type { Op } from '../pipeline/stage.ts';

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [];
