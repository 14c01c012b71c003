/**
 * Generates filters/char-tables.bin: the BMP's category flags, count bits, word unit classes and sentence classes of filters/text.ts
 * (bmpTablesByDefinition), with the Unicode version of the Node that made them (text.ts uses the file only under that
 * version). Precomputed so that a process reads them instead of ~65k code points through eight regular expressions
 * (~20 ms per process). Run after a change to those definitions or to the project's Node: npx tsx
 * filters/gen-char-tables.ts (filters/text.test.ts fails while the file is stale).
 */
import { writeFileSync } from 'node:fs';
import { CHAR_TABLES_MAGIC, CHAR_TABLES_URL, bmpTablesByDefinition } from './text.ts';

const { flags, bits, words, sentences } = bmpTablesByDefinition();
const head = Buffer.alloc(32);
head.write(CHAR_TABLES_MAGIC, 0, 'latin1');
head.write(process.versions.unicode ?? '', 16, 'latin1');
writeFileSync(CHAR_TABLES_URL, Buffer.concat([head, flags, bits, words, sentences]));
console.log(`Unicode ${process.versions.unicode} -> ${CHAR_TABLES_URL.pathname}`);
