import type { Document } from '../document.ts';
import type { InputFormat } from '../readers/formats.ts';
import type { Manifest } from './manifest.ts';

/** Where a raw record came from, for error messages and derived ids. */
export interface RecordLocation {
  file: string;
  /** 1-based line (JSONL/text) or row (Parquet/Arrow) number. */
  line: number;
}

/** How the reader should read a corpus's files (from its YAML manifest in corpora-manifests/). */
export interface ReaderOptions {
  format: InputFormat;
  /** Field holding the text for generic conversion (default "text"). */
  textField?: string;
  /** Field holding the id (default: derived from file and line). */
  idField?: string;
  /** Declared encoding of text files, e.g. "utf-8", "gbk", "gb18030" (default utf-8). */
  encoding?: string;
}

/** The result of adapting one raw record: a document, or a drop with the rule that removed it. */
export type AdaptResult = Document | { drop: string; value?: number | string };

export interface Corpus {
  name: string;
  /** Its validated manifest (publisher, license, language, format, fields, unification rules...) and file path. */
  manifest: Manifest & { path?: string };
  reader: ReaderOptions;
  /**
   * Steel's "step 1" unification for this corpus: raw record -> Document (ChatML for QA/chat, exam flattening,
   * NFKC + \r removal, ...). Throws an Error with a clear message for a malformed record (the caller rejects it
   * with file and line).
   */
  adapt(record: Record<string, unknown>, loc: RecordLocation): AdaptResult;
}
