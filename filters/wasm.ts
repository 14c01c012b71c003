/** The WebAssembly kernels' instantiation (filters/fasttext-kernel.wasm, filters/jieba-kernel.wasm): pipeline/wasm.ts. */
export { instantiate } from '../pipeline/wasm.ts';
