/**
 * Minimal glob matching for repository paths ("/" separated): `*` (any run of characters except "/"), `**` (any number of
 * path segments, including none), `?`, `[abc]`/`[!abc]` classes and `{a,b}` alternatives. Patterns without a "/" match
 * the file name at any depth (like `.gitignore`), so `*.parquet` matches `data/x.parquet`.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` -> zero or more segments; trailing `**` -> everything
        if (pattern[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 3;
        } else {
          re += '.*';
          i += 2;
        }
      } else {
        re += '[^/]*';
        i++;
      }
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        i++;
      } else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = end + 1;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
      i++;
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
      i++;
    } else if (c === ',' && braces > 0) {
      re += '|';
      i++;
    } else {
      re += c.replace(/[.+^${}()|\\]/g, '\\$&');
      i++;
    }
  }
  if (braces > 0) throw new Error(`glob "${pattern}": unclosed "{"`);
  const anchored = pattern.includes('/') ? `^${re}$` : `^(?:.*/)?${re}$`;
  return new RegExp(anchored);
}

/** True when `path` matches at least one include pattern (all when none given) and no exclude pattern. */
export function makeMatcher(include: string[] | undefined, exclude: string[] | undefined): (path: string) => boolean {
  const inc = (include ?? []).map(globToRegExp);
  const exc = (exclude ?? []).map(globToRegExp);
  return (p) => (inc.length === 0 || inc.some((r) => r.test(p))) && !exc.some((r) => r.test(p));
}
