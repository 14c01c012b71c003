/** RFC 4180 CSV (quoted fields, "" escapes, newlines inside quotes, optional UTF-8 BOM, \r\n or \n). */

export interface CsvRow {
  /** 1-based line number where the record starts in the file. */
  line: number;
  fields: string[];
}

/** parses CSV text; `file` names the source in errors (an unterminated quote names its starting line). */
export function parseCsv(text: string, file: string): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: CsvRow[] = [];
  let i = 0,
    line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        const qLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new Error(`${file}:${qLine}: unterminated quoted field`);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r')
          throw new Error(`${file}:${line}: text after a closing quote`);
      } else {
        const s = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
        field = text.slice(s, i);
        if (field.includes('"')) throw new Error(`${file}:${line}: stray quote in an unquoted field`);
      }
      fields.push(field);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') {
      i++;
      line++;
    }
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: start, fields }); // blank lines are skipped
  }
  return rows;
}

/** quotes a field when it needs it (for writing fixtures and result tables). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
