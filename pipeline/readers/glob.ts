/**
 * The one glob implementation (inputs of `steel prep`, collect's include/exclude, corpus manifests' local files).
 * Syntax: `*` (any run of characters but "/"), `?`, `[abc]` / `[!abc]` within one path segment, `**` (any number of
 * segments, none included) and `{a,b}` alternatives (nested allowed).
 */

import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, sep } from 'node:path';

const GLOB_CHARS = /[*?[{]/;

export function hasGlob(s: string): boolean {
  return GLOB_CHARS.test(s);
}

/** Expand `{a,b}` alternatives (nested allowed) into plain glob patterns. */
export function expandBraces(p: string): string[] {
  let depth = 0;
  let start = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '{') {
      if (depth++ === 0) start = i;
    } else if (p[i] === '}' && depth > 0 && --depth === 0) {
      const body = p.slice(start + 1, i);
      const alts: string[] = [];
      let d = 0;
      let from = 0;
      for (let k = 0; k < body.length; k++) {
        if (body[k] === '{') d++;
        else if (body[k] === '}') d--;
        else if (body[k] === ',' && d === 0) {
          alts.push(body.slice(from, k));
          from = k + 1;
        }
      }
      alts.push(body.slice(from));
      const pre = p.slice(0, start);
      const post = p.slice(i + 1);
      return alts.flatMap((a) => expandBraces(pre + a + post));
    }
  }
  return [p];
}

/** Regex source for one path segment: `*`, `?`, `[abc]`, `[!abc]`. */
function segmentSource(seg: string): string {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = seg.slice(i + 1, end);
        if (cls[0] === '!') cls = '^' + cls.slice(1);
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return re;
}

/** Regex for one path segment: `*`, `?`, `[abc]`, `[!abc]`. */
export function segmentRegex(seg: string): RegExp {
  return new RegExp(`^${segmentSource(seg)}$`);
}

/**
 * Regex matching whole "/"-separated paths against a glob. A pattern without "/" matches the file name at any depth
 * (like `.gitignore`: `*.parquet` matches `data/x.parquet`).
 */
export function globToRegExp(pattern: string): RegExp {
  const alts = expandBraces(pattern).map((p) => {
    const segs = p.split('/');
    return segs
      .map((seg, i) => {
        const last = i === segs.length - 1;
        if (seg === '**') return last ? '.*' : '(?:[^/]*/)*';
        return segmentSource(seg) + (last ? '' : '/');
      })
      .join('');
  });
  const body = alts.length === 1 ? alts[0] : `(?:${alts.join('|')})`;
  return new RegExp(pattern.includes('/') ? `^${body}$` : `^(?:.*/)?${body}$`);
}

/** True when `path` matches at least one include pattern (all when none given) and no exclude pattern. */
export function makeMatcher(include: string[] | undefined, exclude: string[] | undefined): (path: string) => boolean {
  const inc = (include ?? []).map(globToRegExp);
  const exc = (exclude ?? []).map(globToRegExp);
  return (p) => (inc.length === 0 || inc.some((r) => r.test(p))) && !exc.some((r) => r.test(p));
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** All regular files under a folder, recursively, skipping hidden names; sorted. */
export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of list(dir)) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    if (isDir(p)) out.push(...walkFiles(p));
    else out.push(p);
  }
  return out;
}

function matchSegments(base: string, segs: string[], out: Set<string>): void {
  if (segs.length === 0) {
    if (existsSync(base) && !isDir(base)) out.add(base);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === '**') {
    matchSegments(base, rest, out); // zero folders
    for (const name of list(base || '.')) {
      if (name.startsWith('.')) continue;
      const p = base ? join(base, name) : name;
      if (isDir(p)) matchSegments(p, segs, out);
    }
    return;
  }
  if (!hasGlob(seg)) {
    matchSegments(base ? join(base, seg) : seg, rest, out);
    return;
  }
  const re = segmentRegex(seg);
  for (const name of list(base || '.')) {
    if (name.startsWith('.') && !seg.startsWith('.')) continue;
    if (re.test(name)) matchSegments(base ? join(base, name) : name, rest, out);
  }
}

/**
 * Expand one input: a file, a folder (every file under it, recursively) or a glob pattern (`*`, `?`, `[..]`, `{a,b}`,
 * `**`). Returns sorted paths; throws when nothing matches.
 */
export function expandInput(pattern: string): string[] {
  if (!hasGlob(pattern)) {
    if (!existsSync(pattern)) throw new Error(`input not found: ${pattern}`);
    return isDir(pattern) ? walkFiles(pattern) : [pattern];
  }
  const out = new Set<string>();
  for (const p of expandBraces(pattern)) {
    const abs = p.startsWith('/');
    const segs = p.split(/[\\/]+/).filter((s) => s !== '');
    matchSegments(abs ? sep : '', segs, out);
  }
  if (out.size === 0) throw new Error(`input pattern matched no files: ${pattern}`);
  return [...out].sort();
}
