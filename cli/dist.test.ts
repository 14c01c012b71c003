import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PRESTART_MAX } from '../pipeline/executor.ts';
import { BUNDLE_WORKER_FLAGS } from '../pipeline/node-entry.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// plain JavaScript without types (cli/steel.js reads it before it may load TypeScript)
const { BUNDLED, WORKER_HEAP_FLAGS } = (await import(new URL('./dist.mjs', import.meta.url).href)) as {
  BUNDLED: string[];
  WORKER_HEAP_FLAGS: string[];
};
const DIST = join(ROOT, 'dist');
const bare = new RegExp(`^(${BUNDLED.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(/|$)`);

function* jsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    // symlinks are the source tree's data entries (recipes, tables), not compiled modules
    if (e.isDirectory()) yield* jsFiles(join(dir, e.name));
    else if (e.isFile() && e.name.endsWith('.js')) yield join(dir, e.name);
  }
}

test('dist/: the bundled packages come from dist/vendor/, never from node_modules, and work', () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  // no compiled module imports a bundled package by name
  const offenders: string[] = [];
  let modules = 0;
  for (const f of jsFiles(DIST)) {
    modules++;
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\(|require\()\s*"([^"]+)"/g))
      if (bare.test(m[1])) offenders.push(`${f}: ${m[1]}`);
  }
  assert.ok(modules > 100, `only ${modules} compiled modules found`);
  assert.deepEqual(offenders, []);
  assert.ok(readdirSync(join(DIST, 'vendor')).some((f) => f.endsWith('.js')));
  // at run time: a resolve hook fails any import of a bundled package by name while dist/'s modules that use them
  // (yaml + zod: recipes; apache-arrow: token shards; parse5 + opencc-js: the HTML and script mappers) load and run
  // it also reports every module loaded (the port), so the child can tell that the chunks of opencc-js (2.26 MB) and
  // parse5 load only when chinese_convert / clean_html's data-juicer mode need them, not with the mappers
  const hook = `let port;
  export function initialize(d) { port = d.port; }
  export async function resolve(s, c, next) {
    if (${bare}.test(s)) throw new Error('import of ' + s + ' from ' + c.parentURL);
    const r = await next(s, c);
    port.postMessage(r.url);
    return r;
  }`;
  const child = `
    import { register } from 'node:module';
    import { MessageChannel } from 'node:worker_threads';
    import { readFileSync } from 'node:fs';
    const { port1, port2 } = new MessageChannel();
    const loaded = [];
    port1.on('message', (u) => loaded.push(u));
    port1.unref();
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), {
      data: { port: port2 },
      transferList: [port2],
    });
    // every URL resolved so far has arrived once a fresh module's URL, resolved after them, has (one port, in order)
    let sentinels = 0;
    const settle = async () => {
      const url = 'data:text/javascript,export default ' + ++sentinels;
      await import(url);
      while (!loaded.includes(url)) await new Promise((r) => setTimeout(r, 5));
    };
    const has = (pkg) => loaded.some((u) => u.startsWith('file:') && readFileSync(new URL(u), 'utf8').slice(0, 300).includes('node_modules/' + pkg + '/'));
    const recipe = await import(${JSON.stringify(join(DIST, 'pipeline/recipe.js'))});
    const steps = recipe.loadRecipe('zh-web').steps.map((s) => s.op);
    const shards = await import(${JSON.stringify(join(DIST, 'tokenizer/shards.js'))});
    const schema = shards.shardSchema(new Map([['format', 'x']]));
    const mappers = await import(${JSON.stringify(join(DIST, 'filters/mappers.js'))});
    await settle();
    const withMappers = [has('opencc-js'), has('parse5')];
    await mappers.loadOpenCC();
    await mappers.loadParse5();
    await settle();
    const converted = [mappers.chineseConvert('這是一個測試', 't2s'), mappers.cleanHtml('<p>a &amp; b</p>')];
    console.log(JSON.stringify({ steps, fields: schema.fields.map((f) => f.name), withMappers, loaded: [has('opencc-js'), has('parse5')], converted }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    steps: string[];
    fields: string[];
    withMappers: boolean[];
    loaded: boolean[];
    converted: string[];
  };
  assert.deepEqual(out.withMappers, [false, false], 'opencc-js or parse5 load with filters/mappers.js');
  assert.deepEqual(out.loaded, [true, true], 'loadOpenCC / loadParse5 did not load their chunks');
  assert.deepEqual(out.converted, ['这是一个测试', 'a & b']);
  assert.ok(out.steps.includes('minhash_dedup') && out.steps.includes('tokenize'), r.stdout);
  assert.ok(out.fields.length > 0, r.stdout);
});

test('dist/steel.cjs: cli/steel.js runs it with its code cache, nothing of dist/ else; same output as dist/ modules', async () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const build = JSON.parse(readFileSync(join(DIST, 'build.json'), 'utf8')) as { bundle?: { size: number } };
  const bundle = readFileSync(join(DIST, 'steel.cjs'));
  assert.equal(build.bundle?.size, bundle.length, 'build.json does not record the code cache of dist/steel.cjs');
  assert.ok(
    bundle.every((c) => c < 0x80),
    'dist/steel.cjs is not ASCII',
  );
  const dist = JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href);
  // the file is the function cli/dist.mjs compiles as it is read (no copy made to wrap it), strict as ES modules are:
  // the directive opens the function's body
  const { BUNDLE_HEAD, BUNDLE_TAIL } = (await import(JSON.parse(dist))) as { BUNDLE_HEAD: string; BUNDLE_TAIL: string };
  const text = bundle.toString('latin1');
  // zod's locales: English only (scripts/build.mjs)
  assert.ok(text.includes('zod/v4/locales/en.js') && !text.includes('zod/v4/locales/fr.js'));
  // the build's parsed copy of the recipes (pipeline/yaml.ts)
  const parsed = JSON.parse(readFileSync(join(DIST, 'pipeline/yaml-parsed.json'), 'utf8')) as Record<string, string>;
  assert.ok(parsed[readFileSync(join(ROOT, 'pipeline/recipes/zh-web.yaml'), 'utf8')]);
  assert.ok(text.startsWith(BUNDLE_HEAD + "'use strict';"), text.slice(0, 120));
  assert.ok(text.endsWith(BUNDLE_TAIL), text.slice(-40));
  // the cache is used; the modules of a prep run when warm() imports them; a rejected cache compiles the source
  const child = `
    const { loadBundle, runBundle, BUNDLE, buildInfo } = await import(${dist});
    const b = loadBundle();
    const m = await b.warm();
    // the encoder adopts the image of its tables the build made; zod's messages are English
    const { tok } = m['tokenizer/encode.ts'].loadTokenizer('qwen');
    const ids = Array.from(tok.encode('Steel 是一个模型'));
    let message = '';
    try { m['pipeline/recipe.ts'].parseRecipe({ steps: 1 }); } catch (e) { message = e.message; }
    const junk = runBundle(BUNDLE, Buffer.from('not a code cache'));
    // a cache another Node release wrote is not handed to V8 (which would accept it and may crash)
    const info = buildInfo();
    const other = loadBundle({ ...info, bundle: { ...info.bundle, node: 'v20.0.0 11.3.244.8 linux-x64' } });
    console.log(JSON.stringify({ cacheUsed: b.cacheUsed, ops: b.loaded.includes('filters/ops.ts'),
      rejected: junk.script.cachedDataRejected, main: typeof junk.exports.main, otherNode: other.cacheUsed,
      tables: tok.tables, ids: ids.length > 0, english: message.includes('expected string') }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    cacheUsed: true,
    ops: true,
    rejected: true,
    main: 'function',
    otherNode: false,
    tables: 'image',
    ids: true,
    english: true,
  });
  // `steel ops --json` through cli/steel.js loads no module of dist/ (a load hook lists them) and prints what dist/'s
  // own modules print
  const hook = `import { appendFileSync } from 'node:fs';
  export async function load(u, c, next) { appendFileSync(process.env.STEEL_TEST_LOADED, u + '\\n'); return next(u, c); }`;
  const reg = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
  const log = join(tmpdir(), `steel-bundle-loaded-${process.pid}`);
  try {
    const viaSteel = spawnSync(
      process.execPath,
      ['--import', 'data:text/javascript,' + encodeURIComponent(reg), join(ROOT, 'cli/steel.js'), 'ops', '--json'],
      { encoding: 'utf8', cwd: ROOT, env: { ...process.env, STEEL_TEST_LOADED: log } },
    );
    assert.equal(viaSteel.status, 0, viaSteel.stderr);
    const loaded = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(
      loaded.filter((u) => u.startsWith('file:') && !/\/cli\/(steel\.js|dist\.mjs|prep-workers\.mjs)$/.test(u)),
      [],
    );
    const viaModules = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { main } = await import('./dist/cli/main.js'); process.exitCode = await main(['ops', '--json']);",
      ],
      { encoding: 'utf8', cwd: ROOT },
    );
    assert.equal(viaModules.status, 0, viaModules.stderr);
    assert.ok(viaSteel.stdout.length > 1000);
    assert.equal(viaSteel.stdout, viaModules.stdout);
  } finally {
    rmSync(log, { force: true });
  }
});

test('dist/steel.cjs: its code cache is made under V8_FLAGS, which runBundle sets in the process that loads it', () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dist = JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href);
  // a process that compiles the bundle with its cache without setting the flags: V8 rejects the cache (the build's
  // process set them); one that loads it through loadBundle (runBundle sets them) has it accepted
  const plain = `
    const { readFileSync } = await import('node:fs');
    const { Script } = await import('node:vm');
    const { BUNDLE, BUNDLE_CACHE, V8_FLAGS } = await import(${dist});
    const s = new Script(readFileSync(BUNDLE, 'latin1'), { filename: BUNDLE, cachedData: readFileSync(BUNDLE_CACHE) });
    const { loadBundle } = await import(${dist});
    console.log(JSON.stringify({ flags: V8_FLAGS.length, plain: s.cachedDataRejected, used: loadBundle().cacheUsed }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', plain], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { flags: number; plain: boolean; used: boolean };
  assert.ok(out.flags > 0, 'V8_FLAGS is empty');
  assert.deepEqual(out, { flags: out.flags, plain: true, used: true });
});

test("a prep's workers start with WORKER_HEAP_FLAGS and load the bundle with its code cache", () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dist = JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href);
  const load = `const { loadBundle } = await import(${dist}); console.log(loadBundle().cacheUsed);`;
  // the flags on the command line (a worker) and none (the steel process, the build's): runBundle sets them in both,
  // so V8's hash of its flags, which a code cache must match, is the same
  for (const flags of [WORKER_HEAP_FLAGS, []]) {
    const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', load], {
      encoding: 'utf8',
      cwd: ROOT,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'true', `code cache rejected with ${JSON.stringify(flags)}`);
  }
  assert.ok(WORKER_HEAP_FLAGS.includes('--initial-old-space-size=128'));
  assert.deepEqual(
    [...BUNDLE_WORKER_FLAGS],
    WORKER_HEAP_FLAGS,
    "the bundle's executor starts workers with other flags",
  );
});

test('a prep of N ≥ 2 local workers: N − 1 bundle workers started before the bundle loads, which its executor takes', async () => {
  const { prepWorkersToStart } = (await import(new URL('./dist.mjs', import.meta.url).href)) as {
    prepWorkersToStart: (argv: string[], cpus?: number) => number;
  };
  const n = (argv: string[]) => prepWorkersToStart(argv, 4);
  assert.equal(n(['prep']), 3, 'default: the CPU count');
  assert.equal(n(['prep', '--workers', '2', '--input', 'x']), 1);
  assert.equal(n(['prep', '--out', 'o', '--workers=3']), 2);
  assert.equal(n(['prep', '--workers', '1']), 0);
  assert.equal(n(['prep', '--workers', '64']), PRESTART_MAX, "at most the executor's prestart");
  assert.equal(n(['prep', '--workers', 'two']), 0);
  assert.equal(n(['prep', '--executor', 'slurm']), 0);
  assert.equal(n(['prep', '--executor=local', '--workers', '2']), 1);
  assert.equal(n(['prep', '--help']), 0);
  assert.equal(n(['summary', '--workers', '2']), 0);

  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dist = JSON.stringify(pathToFileURL(join(ROOT, 'cli/dist.mjs')).href);
  // as cli/steel.js: started, the bundle loaded, adopted; the executor's prestart takes the early worker (no fork)
  const child = `
    const { loadBundle, startPrepWorkers } = await import(${dist});
    const early = await startPrepWorkers(['prep', '--workers', '2']);
    const b = loadBundle();
    b.adoptWorkers(early);
    const ex = new b.LocalExecutor({ progress: { quiet: true } });
    const pids = await ex.prestart(2);
    ex.close();
    console.log(JSON.stringify({ early: early.map((w) => w.child.pid), pids, worker: early[0]?.env.STEEL_WORKER }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { early: number[]; pids: number[]; worker: string };
  assert.equal(out.early.length, 1);
  assert.deepEqual(out.pids, out.early, 'the executor forked a worker of its own instead of taking the early one');
  assert.equal(out.worker, '1');
});

test("cli/steel.js starts a prep's workers before it reads cli/dist.mjs and walks the sources (distState)", () => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'steel-early-'));
  try {
    // records, in the steel process, the order of its first fork and its first readdirSync (distState's walk)
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      `import cp from 'node:child_process';
      import fs from 'node:fs';
      import { syncBuiltinESMExports } from 'node:module';
      const order = [];
      if (!process.send) {
        const fork = cp.fork, readdirSync = fs.readdirSync;
        cp.fork = (...a) => (order.push('fork'), fork(...a));
        fs.readdirSync = (...a) => (order.push('readdir'), readdirSync(...a));
        syncBuiltinESMExports();
        process.on('exit', () => process.stderr.write('ORDER ' + [...new Set(order)].join(',') + '\\n'));
      }`,
    );
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        pathToFileURL(hook).href,
        join(ROOT, 'cli/steel.js'),
        'prep',
        '--workers',
        '2',
        '--input',
        join(dir, 'none.jsonl'),
        '--out',
        join(dir, 'out'),
      ],
      { encoding: 'utf8', cwd: dir },
    );
    const order = /^ORDER (.*)$/m.exec(r.stderr)?.[1];
    assert.equal(order?.split(',').slice(0, 2).join(','), 'fork,readdir', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
