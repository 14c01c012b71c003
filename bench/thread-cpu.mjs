// Per-thread CPU of a Node process, printed to stderr at exit as one line: `THREADS main=U+S bg=U+S n=N [each]`
// (seconds; "main" is the thread with the most CPU, the JS thread; "bg" the others: V8's platform threads (TurboFan,
// GC helpers) and libuv's pool). Linux only (/proc/self/task). Load it into every process of a command with
//   NODE_OPTIONS="--import $PWD/bench/thread-cpu.mjs" steel prep ...
// Node 20 names all its threads "node", so they are told apart by their CPU only.
import { readdirSync, readFileSync } from 'node:fs';
const hz = 100; // USER_HZ: /proc's clock ticks per second on Linux
process.on('exit', () => {
  const per = [];
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      per.push((Number(f[11]) + Number(f[12])) / hz);
    }
  } catch {
    return;
  }
  per.sort((a, b) => b - a);
  const bg = per.slice(1).reduce((a, b) => a + b, 0);
  const each = per
    .slice(1, 7)
    .map((x) => x.toFixed(2))
    .join(' ');
  process.stderr.write(
    `THREADS pid=${process.pid} main=${per[0].toFixed(2)} bg=${bg.toFixed(2)} n=${per.length} [${each}]\n`,
  );
});
