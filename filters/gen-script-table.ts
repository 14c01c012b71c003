/**
 * Generates filters/zh-script-chars.json: Han characters that only exist in Traditional form (changed by OpenCC t2s)
 * and those that only exist in Simplified form (changed by s2t). Precomputed so workers don't build the table
 * (~0.3 s per process). Run: npx tsx filters/gen-script-table.ts
 */
import { writeFileSync } from 'node:fs';
import * as OpenCC from 'opencc-js';

const t2s = (OpenCC as any).Converter({ from: 't', to: 'cn' }) as (s: string) => string;
const s2t = (OpenCC as any).Converter({ from: 'cn', to: 't' }) as (s: string) => string;
const trad: string[] = [],
  simp: string[] = [];
for (const [a, b] of [
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xf900, 0xfaff],
  [0x20000, 0x2ffff],
]) {
  const chars: string[] = [];
  for (let cp = a; cp <= b; cp++) chars.push(String.fromCodePoint(cp));
  const joined = chars.join('\n');
  const ts = t2s(joined).split('\n');
  const st = s2t(joined).split('\n');
  if (ts.length !== chars.length || st.length !== chars.length) throw new Error('conversion changed the line count');
  for (let i = 0; i < chars.length; i++) {
    const t = ts[i] !== chars[i],
      s = st[i] !== chars[i];
    if (t && !s) trad.push(chars[i]);
    else if (s && !t) simp.push(chars[i]);
  }
}
const out = new URL('./zh-script-chars.json', import.meta.url);
writeFileSync(
  out,
  JSON.stringify({ source: 'opencc-js t2s / s2t', traditional: trad.join(''), simplified: simp.join('') }) + '\n',
);
console.log(`traditional-only ${trad.length}, simplified-only ${simp.length} -> ${out.pathname}`);
