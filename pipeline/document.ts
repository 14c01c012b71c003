/** The unit that flows through every pipeline stage. */
export interface Document {
  /** Stable identifier, unique within a corpus (readers derive one from file + line when the record has none). */
  id: string;
  text: string;
  /** Corpus or source name (e.g. "wikipedia-cn", "sample/debian-reference-zh-cn"). */
  source: string;
  /** ISO 639-1 language code when known ("zh", "en", "code", ...). */
  lang?: string;
  /** Free-form metadata: statistics computed by filters live here (see filters/), e.g. meta.stats = {...}. */
  meta: Record<string, unknown>;
}

/**
 * The length of a text in characters: Unicode code points (Python's len()), so a CJK Extension B character or an
 * emoji is one character, not two UTF-16 units. Every character count of steel (filters, chars/token, inspect) uses it.
 */
/** Whitespace as String.prototype.trim and /\s/ see it (WhiteSpace incl. Zs and BOM, and LineTerminator), by code unit. */
export function isJsSpace(c: number): boolean {
  if (c < 0x80) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

export function textLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
