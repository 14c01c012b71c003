// Run with --allow-natives-syntax (filters/chinese.test.ts): prints the V8 instance type of stripTags' result for texts
// whose tags or entities it removes, one-byte and two-byte, one line each.
import { stripTags } from '../mappers.ts';

const debugPrint = new Function('s', '%DebugPrint(s)') as (s: string) => void;
const big = (u: string) => u.repeat(40) + String(Math.random());
const inputs = [
  big('plain <b>words</b> here '),
  big('中文<i>和</i>标点，'),
  big('fish &amp; chips, '),
  big('<p>鱼 &amp; 薯条</p>'),
];
for (const s of inputs) {
  const r = stripTags(s);
  if (r === s) throw new Error('stripTags left the text as it was');
  debugPrint(r);
}
