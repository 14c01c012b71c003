/**
 * The project's WebAssembly modules (C compiled by clang, the .wasm files committed beside their sources and build
 * scripts: pipeline/readers/zstd-decoder.wasm, pipeline/readers/zstd-encoder.wasm, pipeline/writers/json-kernel.wasm,
 * filters/fasttext-kernel.wasm, filters/jieba-kernel.wasm, filters/ngram-kernel.wasm, dedup/minhash-kernel.wasm,
 * dedup/stages/bucket-kernel.wasm, tokenizer/bpe-kernel.wasm): each file compiled once per process.
 */
import { readFileSync } from 'node:fs';

/** Node's WebAssembly (the project's TypeScript lib, ES2023, does not declare it). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;
const modules = new Map<string, object>();

/** What every kernel built by clang exports beside its functions: its linear memory and where its heap starts. */
export interface KernelMemory {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  __heap_base: { value: number };
}

/** A new instance of the .wasm file at `url` with `imports`: its exports. */
export function instantiate<T>(url: URL, imports: object = {}): T {
  let m = modules.get(url.href);
  if (!m) modules.set(url.href, (m = new wasm.Module(readFileSync(url))));
  return new wasm.Instance(m, imports).exports as T;
}
