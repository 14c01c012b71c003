import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  assertCollected,
  assertInputsCollected,
  collectCorpus,
  collectRootOf,
  readCollectRecord,
  verifyCollected,
  type CollectOptions,
} from './collect.ts';
import { fakeBytes, FakeHub, type FakeFile } from './fake-hub.ts';
import { globToRegExp } from '../readers/glob.ts';
import YAML from 'yaml';
import { parseManifest } from '../corpora/manifest.ts';
import { resolveSource, sourceFromManifest, type CollectSource } from './source.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

/** The keys every corpus manifest must have. */
const MINIMAL = {
  name: 'x',
  title: 'X',
  publisher: 'p',
  language: ['zh'],
  license: 'l',
  format: 'jsonl',
  fields: { text: 'the text' },
  unify: { kind: 'text' },
};
/** A validated manifest: MINIMAL with `extra` keys (undefined removes one). */
function manifest(extra: Record<string, unknown>) {
  return parseManifest(JSON.parse(JSON.stringify({ ...MINIMAL, ...extra })), 'test manifest');
}

/** Run a command without blocking this process's event loop (the test's servers live here). */
function runAsync(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const root = tmpDir('steel-collect-');
let n = 0;
const newDir = () => join(root, `run${++n}`);

function files(seed: number): FakeFile[] {
  return [
    { path: 'README.md', data: Buffer.from('# demo corpus\n说明\n') },
    { path: 'data/zh/part-0000.jsonl', data: fakeBytes(300_000, seed + 1), lfs: true },
    { path: 'data/zh/part-0001.jsonl', data: fakeBytes(200_000, seed + 2), lfs: true },
    { path: 'data/en/part-0000.jsonl', data: fakeBytes(100_000, seed + 3), lfs: true },
    { path: 'data/zh/sub dir/odd name #1.txt', data: Buffer.from('plain git file with spaces\n') },
  ];
}

const hfSource = (repo: string, include?: string[], revision = 'main'): CollectSource => ({
  kind: 'hf',
  name: repo.split('/')[1]!,
  repo,
  repoType: 'dataset',
  revision,
  include,
});

describe('collect against a local Hub server', () => {
  const hub = new FakeHub();
  let endpoint = '';
  const opts = (out: string, extra: Partial<CollectOptions> = {}): CollectOptions => ({
    out,
    endpoint,
    token: '',
    backoffMs: 5,
    maxBackoffMs: 20,
    retries: 4,
    progress: 'none',
    jobs: 3,
    ...extra,
  });

  before(async () => {
    endpoint = await hub.start();
    hub.pageSize = 3; // force pagination of the tree listing
  });
  after(async () => {
    await hub.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a corpus name that is a path, or a file name with control characters, is refused before anything is written', async () => {
    const out = newDir();
    for (const name of ['../../x', '/abs', 'a/b', '..', 'a\nb']) {
      await assert.rejects(collectCorpus({ ...hfSource('org/demo'), name }, opts(out)), /refusing corpus name/, name);
    }
    hub.addRepo('org/ctl', [
      { path: 'ok.txt', data: Buffer.from('ok\n') },
      { path: 'bad\nname.txt', data: Buffer.from('x\n') },
    ]);
    await assert.rejects(collectCorpus(hfSource('org/ctl'), opts(out)), /refusing unsafe file path "bad\nname\.txt"/);
    assert.equal(existsSync(join(out, 'ctl', 'ok.txt')), false);
  });

  test('downloads the selected files, verifies them, records collect.json; a rerun fetches nothing', async () => {
    const fx = files(10);
    const commit = hub.addRepo('org/demo', fx);
    const out = newDir();
    const s = await collectCorpus(hfSource('org/demo', ['data/zh/**', 'README.md']), opts(out));
    assert.equal(s.complete, true);
    assert.equal(s.files, 4);
    for (const f of fx.filter((f) => !f.path.startsWith('data/en'))) {
      assert.deepEqual(readFileSync(join(out, 'demo', f.path)), f.data, f.path);
    }
    assert.equal(existsSync(join(out, 'demo', 'data/en/part-0000.jsonl')), false);
    const rec = readCollectRecord(join(out, 'demo'))!;
    assert.equal(rec.complete, true);
    assert.equal(rec.source.commit, commit);
    assert.equal(rec.source.revision, 'main');
    const zh0 = rec.files.find((f) => f.path === 'data/zh/part-0000.jsonl')!;
    assert.equal(zh0.sha256, sha256(fx[1]!.data));
    assert.equal(zh0.size, 300_000);
    assert.equal(zh0.revision, commit);
    assert.ok(zh0.url.startsWith(`${endpoint}/datasets/org/demo/resolve/${commit}/`));
    assert.ok(!Number.isNaN(Date.parse(zh0.time)));
    // the non-LFS file was checked through its git blob id
    assert.ok(rec.files.find((f) => f.path === 'README.md')!.git_oid);
    assert.equal((await verifyCollected(join(out, 'demo'), { hash: true })).ok, true);
    assert.equal((await verifyCollected(out)).ok, true, 'parent folder holding corpus folders verifies too');
    assert.deepEqual(await assertInputsCollected([`demo=${join(out, 'demo', 'data/zh/*.jsonl')}`]), [
      join(out, 'demo'),
    ]);

    const before = hub.log.length;
    const again = await collectCorpus(hfSource('org/demo', ['data/zh/**', 'README.md']), opts(out));
    assert.equal(again.skipped, 4);
    assert.equal(again.downloaded, 0);
    assert.equal(hub.log.slice(before).filter((l) => l.path.includes('/resolve/')).length, 0);
  });

  test('a connection cut mid-file is resumed with a Range request', async () => {
    const fx = files(20);
    hub.addRepo('org/cut', fx);
    hub.faults.set('data/zh/part-0000.jsonl', { times: 1, cutAfter: 120_000 });
    const out = newDir();
    const s = await collectCorpus(hfSource('org/cut', ['data/zh/part-0000.jsonl']), opts(out));
    assert.equal(s.complete, true);
    assert.deepEqual(readFileSync(join(out, 'cut', 'data/zh/part-0000.jsonl')), fx[1]!.data);
    const gets = hub.requests('/cdn-lfs/org/cut/');
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    const start = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    assert.ok(start > 0 && start <= 120_000, `resumed at ${gets[1]!.range}`);
    assert.equal(gets[1]!.status, 206);
  });

  test('a partial file left by a killed run is resumed, not restarted', async () => {
    const fx = files(30);
    hub.addRepo('org/killed', fx);
    const out = newDir();
    const dest = join(out, 'killed', 'data/zh/part-0001.jsonl');
    mkdirSync(join(out, 'killed', 'data/zh'), { recursive: true });
    writeFileSync(`${dest}.part`, fx[2]!.data.subarray(0, 150_000));
    const s = await collectCorpus(hfSource('org/killed', ['data/zh/part-0001.jsonl']), opts(out));
    assert.equal(s.resumed, 1);
    assert.deepEqual(readFileSync(dest), fx[2]!.data);
    assert.equal(existsSync(`${dest}.part`), false);
    assert.deepEqual(
      hub.requests('/cdn-lfs/org/killed/').map((l) => l.range),
      ['bytes=150000-'],
    );
  });

  test('a corrupted byte fails the SHA-256 check; the file is refetched and never appears corrupted', async () => {
    const fx = files(40);
    hub.addRepo('org/corrupt', fx);
    hub.faults.set('data/en/part-0000.jsonl', { times: 1, corruptAt: 4321 });
    hub.faults.set('README.md', { times: 1, corruptAt: 3 }); // non-LFS: caught by the git blob id
    const out = newDir();
    const s = await collectCorpus(hfSource('org/corrupt', ['data/en/**', 'README.md']), opts(out));
    assert.equal(s.complete, true);
    assert.equal(s.refetched, 2);
    assert.deepEqual(readFileSync(join(out, 'corrupt', 'data/en/part-0000.jsonl')), fx[3]!.data);
    assert.deepEqual(readFileSync(join(out, 'corrupt', 'README.md')), fx[0]!.data);
    assert.equal(hub.requests('/cdn-lfs/org/corrupt/').length, 2);
  });

  test('a corrupted file on disk is caught by verifyCollected --hash, and a rerun repairs a truncated one', async () => {
    const fx = files(45);
    hub.addRepo('org/disk', fx);
    const out = newDir();
    await collectCorpus(hfSource('org/disk', ['data/zh/part-0001.jsonl']), opts(out));
    const p = join(out, 'disk', 'data/zh/part-0001.jsonl');
    const bytes = readFileSync(p);
    bytes[10] = bytes[10]! ^ 1;
    writeFileSync(p, bytes);
    assert.equal((await verifyCollected(join(out, 'disk'))).ok, true, 'size-only check');
    const deep = await verifyCollected(join(out, 'disk'), { hash: true });
    assert.equal(deep.ok, false);
    assert.match(deep.problems[0]!, /sha256 .* != recorded/);
    writeFileSync(p, bytes.subarray(0, 1000));
    await assert.rejects(assertCollected(join(out, 'disk')), /size 1000 != recorded 200000/);
    await collectCorpus(hfSource('org/disk', ['data/zh/part-0001.jsonl']), opts(out));
    assert.deepEqual(readFileSync(p), fx[2]!.data);
  });

  test('404: unknown repository and missing file are reported clearly; the corpus is marked incomplete', async () => {
    await assert.rejects(
      collectCorpus(hfSource('org/nope'), opts(newDir())),
      (e: Error) =>
        /HTTP 404/.test(e.message) && /org\/nope/.test(e.message) && /check the repository name/.test(e.message),
    );
    const fx = files(50);
    hub.addRepo('org/holes', fx);
    const repo = hub.repos.get('org/holes')!;
    const out = newDir();
    // The listing names a file the resolve endpoint no longer has.
    repo.files.push({ path: 'data/zh/gone.jsonl', data: Buffer.from('x'), lfs: true });
    const listing = [...repo.files];
    const origFind = repo.files.find.bind(repo.files);
    repo.files.find = ((pred: (f: FakeFile) => boolean) => {
      const f = origFind(pred);
      return f?.path === 'data/zh/gone.jsonl' ? undefined : f;
    }) as typeof repo.files.find;
    const s = await collectCorpus(hfSource('org/holes', ['data/zh/**']), opts(out));
    assert.equal(listing.length, 6);
    assert.equal(s.complete, false);
    assert.equal(s.failed.length, 1);
    assert.match(s.failed[0]!.error, /data\/zh\/gone\.jsonl: HTTP 404 Not Found/);
    const rec = readCollectRecord(join(out, 'holes'))!;
    assert.equal(rec.complete, false);
    assert.equal(rec.files.length, 3, 'the good files are kept and recorded');
    const v = await verifyCollected(join(out, 'holes'));
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /incomplete/.test(p)));
    await assert.rejects(assertCollected(out), /incomplete corpus/);
    assert.equal(collectRootOf(join(out, 'holes', 'data/zh/*.jsonl')), join(out, 'holes'));
    assert.equal(collectRootOf(join(out, 'holes', 'data', 'zh')), join(out, 'holes'));
    assert.equal(collectRootOf(root), undefined);
    await assert.rejects(
      assertInputsCollected([`holes=${join(out, 'holes', 'data/zh/*.jsonl')}`]),
      /incomplete corpus in .*holes/,
    );
    assert.deepEqual(
      await assertInputsCollected([join(root, 'elsewhere', '*.jsonl')]),
      [],
      'files outside a collection are not checked',
    );
  });

  test('401: a gated repository asks for HF_TOKEN; with the token it downloads', async () => {
    const fx = files(60);
    hub.addRepo('org/gated', fx);
    hub.token = 'hf_secret_123';
    try {
      await assert.rejects(
        collectCorpus(hfSource('org/gated', ['README.md']), opts(newDir())),
        (e: Error) => /HTTP 401/.test(e.message) && /set HF_TOKEN/.test(e.message),
      );
      await assert.rejects(
        collectCorpus(hfSource('org/gated', ['README.md']), opts(newDir(), { token: 'wrong' })),
        (e: Error) => /HF_TOKEN was sent but refused/.test(e.message) && !e.message.includes('wrong'),
      );
      const out = newDir();
      const s = await collectCorpus(hfSource('org/gated', ['data/en/**']), opts(out, { token: 'hf_secret_123' }));
      assert.equal(s.complete, true);
      assert.deepEqual(readFileSync(join(out, 'gated', 'data/en/part-0000.jsonl')), fx[3]!.data);
      assert.ok(
        !readFileSync(join(out, 'gated', 'collect.json'), 'utf8').includes('hf_secret_123'),
        'token never recorded',
      );
    } finally {
      hub.token = undefined;
    }
  });

  test('a server that ignores Range restarts from 0; plain URLs with sha256 from the manifest', async () => {
    const fx = files(70);
    hub.addRepo('org/plain', fx);
    hub.ignoreRange = true;
    hub.faults.set('data/zh/part-0000.jsonl', { times: 1, cutAfter: 50_000 });
    try {
      const src = sourceFromManifest(
        manifest({
          name: 'plain',
          urls: [
            { url: `${endpoint}/files/org/plain/data/zh/part-0000.jsonl`, sha256: sha256(fx[1]!.data) },
            { url: `${endpoint}/files/org/plain/data%2Fen%2Fpart-0000.jsonl`, path: 'en/part.jsonl' },
          ],
        }),
      );
      const out = newDir();
      const s = await collectCorpus(src, opts(out));
      assert.equal(s.complete, true, JSON.stringify(s.failed));
      assert.deepEqual(readFileSync(join(out, 'plain', 'part-0000.jsonl')), fx[1]!.data);
      const gets = hub.requests('/files/org/plain/data/zh/');
      assert.equal(gets.length, 2);
      assert.match(gets[1]!.range ?? '', /^bytes=\d+-$/, 'resume was tried');
      assert.equal(gets[1]!.status, 200, 'server answered with the whole file');
      assert.deepEqual(readFileSync(join(out, 'plain', 'en/part.jsonl')), fx[3]!.data);
      const rec = readCollectRecord(join(out, 'plain'))!;
      assert.equal(rec.files.find((f) => f.path === 'en/part.jsonl')!.sha256, sha256(fx[3]!.data));
    } finally {
      hub.ignoreRange = false;
    }
  });

  test('a mirror without the revision endpoint: files are listed and fetched at the branch', async () => {
    const fx = files(85);
    hub.addRepo('org/norev', fx);
    hub.noRevisionApi = true;
    try {
      const out = newDir();
      const s = await collectCorpus(hfSource('org/norev', ['README.md']), opts(out));
      assert.equal(s.complete, true);
      const rec = readCollectRecord(join(out, 'norev'))!;
      assert.equal(rec.source.commit, undefined);
      assert.ok(rec.files[0]!.url.includes('/resolve/main/README.md'));
      assert.equal(rec.files[0]!.revision, 'main');
    } finally {
      hub.noRevisionApi = false;
    }
  });

  test('a rerun after the dataset changed upstream reports and refetches what changed', async () => {
    const out = newDir();
    hub.addRepo('org/evolve', files(80));
    await collectCorpus(hfSource('org/evolve', ['data/**']), opts(out));
    const next = files(80);
    next[2] = { ...next[2]!, data: fakeBytes(200_000, 999) };
    next.splice(3, 1); // data/en removed
    const commit2 = hub.addRepo('org/evolve', next);
    const s = await collectCorpus(hfSource('org/evolve', ['data/**']), opts(out));
    assert.equal(s.downloaded, 1);
    const rec = readCollectRecord(join(out, 'evolve'))!;
    assert.deepEqual(rec.changes, {
      added: [],
      changed: ['data/zh/part-0001.jsonl'],
      removed: ['data/en/part-0000.jsonl'],
    });
    assert.equal(rec.source.commit, commit2);
    assert.deepEqual(readFileSync(join(out, 'evolve', 'data/zh/part-0001.jsonl')), next[2]!.data);
  });

  test('steel collect CLI: HF_ENDPOINT mirror, HF_TOKEN, manifest file, --include, progress lines, --verify', async () => {
    const mirror = new FakeHub();
    const mirrorEndpoint = await mirror.start();
    try {
      const fx = files(90);
      mirror.addRepo('mirror-org/mirrored', fx);
      mirror.token = 'tok';
      const dir = newDir();
      mkdirSync(dir, { recursive: true });
      const manifest = join(dir, 'mirrored.yaml');
      writeFileSync(
        manifest,
        YAML.stringify({
          ...MINIMAL,
          name: 'mirrored',
          hf: { repo: 'mirror-org/mirrored', revision: 'main', include: ['data/**'] },
        }),
      );
      const out = join(dir, 'raw dir');
      const cli = fileURLToPath(new URL('../../cli/steel.js', import.meta.url));
      const env = { ...process.env, HF_ENDPOINT: mirrorEndpoint + '/', HF_TOKEN: 'tok', STEEL_COLLECT_BACKOFF_MS: '5' };
      const r = await runAsync(
        [cli, 'collect', manifest, '--out', out, '--include', '*/zh/*.jsonl', '--jobs', '2', '--progress', 'lines'],
        env,
      );
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /mirrored: complete — 2 files/);
      assert.match(r.stderr, /part-0000\.jsonl: done/);
      assert.ok(mirror.log.length > 0 && mirror.log.every((l) => l.auth === 'Bearer tok'));
      assert.equal(readCollectRecord(join(out, 'mirrored'))!.source.endpoint, mirrorEndpoint);
      assert.deepEqual(readFileSync(join(out, 'mirrored', 'data/zh/part-0001.jsonl')), fx[2]!.data);
      const v = await runAsync([cli, 'collect', '--verify', out, '--hash'], env);
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /ok: 2 files/);
      const bad = await runAsync([cli, 'collect', 'no-such-corpus'], env);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /unknown corpus "no-such-corpus"/);
    } finally {
      await mirror.close();
    }
  });
});

describe('manifests and globs', () => {
  test('glob semantics', () => {
    assert.ok(globToRegExp('data/**').test('data/a/b.parquet'));
    assert.ok(globToRegExp('**/*.parquet').test('x.parquet'));
    assert.ok(globToRegExp('*.parquet').test('data/zh/x.parquet'));
    assert.ok(!globToRegExp('data/*.parquet').test('data/zh/x.parquet'));
    assert.ok(globToRegExp('data/{zh,en}/part-00[0-4]?.jsonl').test('data/en/part-0042.jsonl'));
    assert.ok(!globToRegExp('data/{zh,en}/part-00[0-4]?.jsonl').test('data/de/part-0042.jsonl'));
    assert.ok(globToRegExp('a+b (1).txt').test('a+b (1).txt'));
  });

  test('manifest shapes and errors: one strict schema (pipeline/corpora/manifest.ts), unknown keys refused', async () => {
    const s = sourceFromManifest(
      manifest({ name: 'skypile', hf: { repo: 'Skywork/SkyPile-150B', revision: 'v1', include: ['data/*.jsonl'] } }),
    );
    assert.deepEqual(s, {
      kind: 'hf',
      name: 'skypile',
      repo: 'Skywork/SkyPile-150B',
      repoType: 'dataset',
      revision: 'v1',
      include: ['data/*.jsonl'],
      exclude: undefined,
      manifestPath: undefined,
    });
    const model = sourceFromManifest(manifest({ hf: { repo: 'a/b', type: 'model', include: ['*.json'] } }));
    assert.ok(model.kind === 'hf' && model.revision === 'main' && model.repoType === 'model');
    // what the second, untyped parser used to accept is refused by the one schema, naming the key
    assert.throws(() => manifest({ source: { hf: 'a/b' } }), /unrecognized key.*"source"|source/i);
    assert.throws(() => manifest({ hf: { repo: 'a/b', include: ['x'], allow_patterns: ['y'] } }), /hf/);
    assert.throws(() => manifest({ hf: { repo: 'bad repo', include: ['x'] } }), /hf\.repo: owner\/name/);
    assert.throws(() => manifest({ urls: [{ url: 'https://a/x', sha256: 'abc' }] }), /urls\.0\.sha256: 64 hex digits/);
    assert.throws(() => manifest({ license: undefined, manual: 'ask' }), /license/);
    assert.throws(
      () => sourceFromManifest(manifest({ urls: ['https://a/x.gz', 'https://b/x.gz'] })),
      /share the output path "x\.gz"/,
    );
    assert.throws(() => sourceFromManifest(manifest({ urls: [{ url: 'https://a/x', path: '../x' }] })), /unsafe/);
    const dir = join(root, 'manifests');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'tiny.yaml'),
      YAML.stringify({ ...MINIMAL, name: 'tiny', urls: ['https://example.invalid/a.txt'] }),
    );
    const t = await resolveSource('tiny', dir);
    assert.equal(t.kind, 'urls');
    assert.equal(t.manifestPath, join(dir, 'tiny.yaml'));
    await assert.rejects(resolveSource('nope', dir), /unknown corpus "nope".*known: tiny/);
    // a manifest with a key the schema lacks is an error naming its file, not skipped
    writeFileSync(
      join(dir, 'typo.yaml'),
      YAML.stringify({ ...MINIMAL, name: 'typo', urls: ['https://example.invalid/a.txt'], licence: 'x' }),
    );
    await assert.rejects(resolveSource(join(dir, 'typo.yaml')), /typo\.yaml: invalid corpus manifest: .*licence/);
    // the project's own manifests
    const sky = await resolveSource('skypile-150b');
    assert.ok(sky.kind === 'hf' && sky.repo === 'Skywork/SkyPile-150B' && sky.include!.length > 0);
    assert.equal((await resolveSource('sample')).kind, 'local');
    assert.equal((await resolveSource('wanjuan-1.0-zh')).kind, 'manual');
    writeFileSync(join(dir, 'broken.yaml'), 'hf: [unclosed\n');
    await assert.rejects(resolveSource(join(dir, 'broken.yaml')), /broken\.yaml/);
  });
});
