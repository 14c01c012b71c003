import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warm } from './bundle.ts';

test('warm({ prep: true }) runs a prep of a few sample documents, whose schemas zod parses without compiling code', async () => {
  // zod's JIT compiles a parser per object schema (new Function, its body reading `payload`) on the first parse
  // unless the parse says jitless: a recipe, its steps' params and a manifest are parsed with PARSE_ONCE
  // (pipeline/stage.ts), since each is parsed once or twice per process
  const F = globalThis.Function;
  const compiled: string[] = [];
  globalThis.Function = new Proxy(F, {
    construct(target, args: unknown[], newTarget) {
      const body = String(args[args.length - 1] ?? '');
      if (body.includes('payload')) compiled.push(body.slice(0, 200));
      return Reflect.construct(target, args, newTarget) as object;
    },
  });
  let modules: Record<string, unknown>;
  try {
    modules = await warm({ prep: true });
  } finally {
    globalThis.Function = F;
  }
  assert.ok(modules['pipeline/recipe.ts'] && modules['filters/ops.ts']);
  assert.deepEqual(compiled, []);
});
