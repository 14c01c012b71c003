// Run with --allow-natives-syntax (runner.test.ts): prints the V8 instance type of flatString's result for a sliced
// and a cons string, one-byte and two-byte, one line each.
import { flatString } from '../map-task.ts';

const debugPrint = new Function('s', '%DebugPrint(s)') as (s: string) => void;
const big = (u: string) => u.repeat(40) + String(Math.random());
const inputs = [
  ' '.concat(big('plain words ')).slice(1),
  ' '.concat(big('中文和\ud800标点，')).slice(1),
  big('plain words ') + big('more words '),
  big('中文') + big('字符\udc00'),
];
for (const s of inputs) {
  const f = flatString(s);
  if (f !== s) throw new Error('flatString changed the text');
  debugPrint(f);
}
