/** Deterministic bytes for the zstd tests: text-like (Chinese and ASCII runs, repeats far apart) or random. */
export function zstdSample(n: number, seed: number, random = false): Uint8Array {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  if (random) return Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  const words = ['文档', '记录', 'Debian', ' the ', '软件包', '\n', '{"id":', '，', 'manual ', '数据'];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = rnd() < 0.1 ? String.fromCharCode(0x4e00 + Math.floor(rnd() * 20000)) : words[Math.floor(rnd() * 10)];
    parts.push(w);
    len += Buffer.byteLength(w);
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}
