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
