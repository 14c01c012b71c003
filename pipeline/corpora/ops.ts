import type { Op } from '../stage.ts';

/** Operators of this area, usable by name in recipes. */
export const ops: Op[] = [];
