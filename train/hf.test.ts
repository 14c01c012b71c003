import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeShards } from './testutil.ts';
import { train } from './trainer.ts';
import { getPreset, UNK_RAW_ID, type ModelConfig } from './config.ts';
import { openModel, toModelIds } from './load.ts';
import { exportHf, importHf, STEEL_MODELING_FILES, suppressedIds } from './hf.ts';
import { SafetensorsFile } from './safetensors.ts';
import { generate } from './generate.ts';
import { evaluate } from './evaluate.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

const checker = new URL('../scripts/fixtures/torch-check-hf-export.py', import.meta.url).pathname;
const hasTransformers =
  spawnSync('python3', ['-c', 'import torch, transformers, safetensors'], { encoding: 'utf8' }).status === 0;
const SKIP_HF =
  '# SKIP transformers cross-check of the export: python3 with torch + transformers not available (pip install torch transformers)';

interface HfCheck {
  ok: boolean;
  class: string;
  max_rel_err?: number;
  max_abs_err?: number;
  generated?: number[];
  refusals?: Record<string, string | null>;
}
/** loads an export in transformers (scripts/fixtures/torch-check-hf-export.py): logits vs ours, greedy generate, refusals. */
function hfCheck(dir: string, o: { prompt?: number[]; maxNew?: number; refusal?: boolean } = {}): HfCheck {
  const args = [checker, dir];
  if (o.prompt) args.push('--generate', o.prompt.join(','), '--max-new', String(o.maxNew ?? 10));
  if (o.refusal) args.push('--expect-refusal');
  const r = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  assert.ok(line.startsWith('{'), `checker failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line);
}

for (const preset of ['tiny-dense', 'tiny']) {
  test(`export to HF and import back (${preset}): same weights, same logits; training continues from the import`, async () => {
    const dir = tmpDir('steel-hf-');
    try {
      makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 15, seed: 6 });
      const p = getPreset(preset);
      await train({
        model: p.model,
        hyper: p.train,
        dataDir: join(dir, 'data'),
        outDir: join(dir, 'run'),
        backend: 'cpu',
        steps: 5,
        quiet: true,
      });
      const m = await openModel(join(dir, 'run'));
      const check = Int32Array.from([5, 9, 2, 33, 7, 1, 60, 4]);
      await exportHf(m.backend, m.vocabIds, join(dir, 'hf'), { checkTokens: check });
      const cfg = JSON.parse(readFileSync(join(dir, 'hf', 'config.json'), 'utf8'));
      assert.equal(cfg.model_type, 'qwen2');
      assert.equal(cfg.tie_word_embeddings, false);
      if (preset === 'tiny') {
        assert.equal(cfg.FFN_type, 'softmoe_v3');
        assert.equal(cfg.mlp_type, 'senet');
        assert.equal(cfg.n_experts, 4);
        assert.equal(cfg.intermediate_size / cfg.mlp_div_ratio, 16);
        assert.deepEqual(cfg.architectures, ['SteelForCausalLM']);
        assert.equal(cfg.auto_map.AutoModelForCausalLM, 'modeling_steel.SteelForCausalLM');
        assert.deepEqual(cfg.mlp_layer_types, ['softmoe_v3', 'softmoe_v3']);
        for (const f of STEEL_MODELING_FILES) assert.ok(existsSync(join(dir, 'hf', f)), f);
        const f = new SafetensorsFile(join(dir, 'hf', 'model.safetensors'));
        assert.ok(f.has('model.layers.1.mlp.experts.3.gate_down_proj.weight') && f.has('model.layers.0.mlp.phi'));
        assert.deepEqual(f.tensors.get('model.layers.0.mlp.phi')!.shape, [32, 4, 1]);
        f.close();
      } else {
        assert.equal(cfg.intermediate_size, 64);
        assert.deepEqual(cfg.architectures, ['Qwen2ForCausalLM']);
        assert.equal(cfg.auto_map, undefined);
      }
      const imp = importHf(join(dir, 'hf'));
      for (const q of m.backend.params())
        assert.deepEqual(imp.tensors.get(q.name), await m.backend.getParam(q.name), q.name);
      const m2 = await openModel(join(dir, 'hf'));
      assert.deepEqual(await m2.backend.forward(check, 1, 8), await m.backend.forward(check, 1, 8));
      const sc = new SafetensorsFile(join(dir, 'hf', 'steel_check.safetensors'));
      assert.deepEqual(sc.float32('logits'), await m.backend.forward(check, 1, 8));
      sc.close();
      // continue training from the imported weights (steel import output)
      const { writeSafetensors } = await import('./safetensors.ts');
      const { paramShapes } = await import('./config.ts');
      const impFile = join(dir, 'imported.safetensors');
      writeSafetensors(
        impFile,
        paramShapes(imp.config).map((s) => ({ name: s.name, shape: s.shape, data: imp.tensors.get(s.name)! })),
        { 'steel.config': JSON.stringify({ ...imp.config, seqLen: p.model.seqLen }) },
      );
      const r = await train({
        model: p.model,
        hyper: p.train,
        dataDir: join(dir, 'data'),
        outDir: join(dir, 'run2'),
        backend: 'cpu',
        steps: 2,
        quiet: true,
        initFrom: impFile,
      });
      assert.equal(r.step, 2);
      // generation and evaluation work on the checkpoint
      const ids = await generate(m.backend, Int32Array.from([3, 4]), {
        maxTokens: 6,
        temperature: 0.8,
        topP: 0.9,
        seed: 1,
      });
      assert.ok(ids.length >= 1 && ids.every((t) => t >= 0 && t < p.model.vocabSize));
      const ev = await evaluate(m.backend, null, join(dir, 'data'), { batch: 2 });
      assert.ok(ev.loss > 0 && ev.loss < Math.log(64) + 1 && ev.tokens > 0);
      assert.ok(existsSync(join(dir, 'hf', 'generation_config.json')));
      // Steel-LLM's published layout (its config.json: architectures Qwen2ForCausalLM, auto_map to Qwen2Config /
      // Qwen2ForCausalLM in its own files, no mlp_layer_types) imports to the same weights and logits
      if (preset === 'tiny') {
        const pub = {
          ...cfg,
          architectures: ['Qwen2ForCausalLM'],
          auto_map: {
            AutoConfig: 'configuration_steel.Qwen2Config',
            AutoModelForCausalLM: 'modeling_steel.Qwen2ForCausalLM',
          },
          _attn_implementation: 'sdpa',
          sliding_window: 32768,
          transformers_version: '4.37.0',
        };
        delete pub.mlp_layer_types;
        writeFileSync(join(dir, 'hf', 'config.json'), JSON.stringify(pub, null, 2));
        const impPub = importHf(join(dir, 'hf'));
        assert.equal(impPub.config.kind, 'steel');
        assert.equal(impPub.config.numExperts, 4);
        assert.equal(impPub.config.intermediateSize, 16);
        for (const q of m.backend.params())
          assert.deepEqual(impPub.tensors.get(q.name), await m.backend.getParam(q.name), q.name);
        const m3 = await openModel(join(dir, 'hf'));
        assert.deepEqual(await m3.backend.forward(check, 1, 8), await m.backend.forward(check, 1, 8));
        writeFileSync(join(dir, 'hf', 'config.json'), JSON.stringify(cfg, null, 2));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const preset of ['tiny-dense', 'tiny']) {
  test(`export (${preset}) in transformers: logits match ours, plain generate = steel generate (greedy, prefill then KV cache)${preset === 'tiny' ? ', refuses to load without its modeling code' : ''}`, async (t) => {
    if (!hasTransformers) {
      console.log(SKIP_HF);
      t.skip('torch/transformers not installed');
      return;
    }
    const dir = tmpDir('steel-hfx-');
    try {
      makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 15, seed: 6 });
      const p = getPreset(preset);
      await train({
        model: { ...p.model, initStd: 0.2 },
        hyper: p.train,
        dataDir: join(dir, 'data'),
        outDir: join(dir, 'run'),
        backend: 'cpu',
        steps: 5,
        quiet: true,
      });
      const m = await openModel(join(dir, 'run'));
      await exportHf(m.backend, m.vocabIds, join(dir, 'hf'), {
        checkTokens: Int32Array.from([5, 9, 2, 33, 7, 1, 60, 4]),
      });
      const prompt = [5, 6, 7, 8, 30];
      const ours = await generate(m.backend, Int32Array.from(prompt), {
        maxTokens: 10,
        temperature: 0,
        topP: 1,
        seed: 1,
        stopIds: [m.config.eosId],
      });
      const r = hfCheck(join(dir, 'hf'), { prompt, maxNew: 10, refusal: preset === 'tiny' });
      console.log(
        `# ${preset} export in transformers: ${r.class}, logits max rel err ${r.max_rel_err!.toExponential(2)} (max abs ${r.max_abs_err!.toExponential(2)}); greedy ${JSON.stringify(r.generated)}`,
      );
      assert.equal(r.class, preset === 'tiny' ? 'SteelForCausalLM' : 'Qwen2ForCausalLM');
      assert.ok(r.max_rel_err! < 1e-4, `logits differ: ${r.max_rel_err}`);
      assert.deepEqual(r.generated, ours);
      if (preset === 'tiny') {
        // plain transformers (no trust_remote_code, or Qwen2ForCausalLM directly) must refuse, not build a random MLP
        for (const [name, err] of Object.entries(r.refusals!))
          assert.match(err ?? 'loaded', /mlp_layer_types.*softmoe_v3/s, name);
        // the Soft-MoE mixes the prompt at prefill: feeding the prompt one token at a time gives other logits
        const s1 = m.backend.startDecode!(16),
          s2 = m.backend.startDecode!(16);
        const a = await s1.feed(prompt);
        let b: Float32Array = new Float32Array(0);
        for (const id of prompt) b = await s2.feed([id]);
        assert.ok(
          a.some((x, i) => Math.abs(x - b[i]) > 1e-4),
          'prefill and token-by-token decoding should differ for the Steel kind',
        );
        // our modeling code also loads a folder in Steel-LLM's published form (its config.json names
        // configuration_steel.Qwen2Config / modeling_steel.Qwen2ForCausalLM and has no mlp_layer_types)
        const cfg = JSON.parse(readFileSync(join(dir, 'hf', 'config.json'), 'utf8'));
        delete cfg.mlp_layer_types;
        Object.assign(cfg, {
          architectures: ['Qwen2ForCausalLM'],
          auto_map: {
            AutoConfig: 'configuration_steel.Qwen2Config',
            AutoModelForCausalLM: 'modeling_steel.Qwen2ForCausalLM',
          },
        });
        writeFileSync(join(dir, 'hf', 'config.json'), JSON.stringify(cfg, null, 2));
        const pub = hfCheck(join(dir, 'hf'));
        assert.equal(pub.class, 'SteelForCausalLM');
        assert.ok(pub.max_rel_err! < 1e-4, `published-layout logits differ: ${pub.max_rel_err}`);
      }
      await m.backend.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('compact-vocabulary export (capped vocabulary + unk): transformers generate = steel generate, never the unk row', async (t) => {
  if (!hasTransformers) {
    console.log(SKIP_HF);
    t.skip('torch/transformers not installed');
    return;
  }
  const dir = tmpDir('steel-hfc-');
  try {
    makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 30, seed: 8 });
    for (const kind of ['dense', 'steel'] as const) {
      const base = getPreset(kind === 'dense' ? 'small-dense' : 'small');
      // tiny dimensions; 24 ids of the 63 in the data + pad/eos/unk, so the unk class is frequent
      const model: ModelConfig = {
        ...base.model,
        hiddenSize: 32,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 8,
        intermediateSize: kind === 'dense' ? 64 : 16,
        numExperts: kind === 'dense' ? 0 : 4,
        seqLen: 16,
        vocabCap: 24,
      };
      if (kind === 'steel') model.numKvHeads = 4;
      const run = join(dir, `run-${kind}`),
        hf = join(dir, `hf-${kind}`);
      await train({
        model,
        hyper: { ...base.train, lr: 1e-2, warmupSteps: 2, totalSteps: 40, logEvery: 100, ckptEvery: 1000 },
        dataDir: join(dir, 'data'),
        outDir: run,
        backend: 'cpu',
        steps: 40,
        quiet: true,
      });
      const m = await openModel(run);
      assert.ok(m.vocabIds && m.vocabIds.length >= 27 && m.vocabIds.length <= 30 && m.vocabIds.includes(UNK_RAW_ID)); // 24 ids + pad/eos/unk (+ specials)
      const unk = m.vocabIds.indexOf(UNK_RAW_ID);
      const check = Int32Array.from([m.vocabIds[3], m.vocabIds[5], m.vocabIds[8], m.vocabIds[2]]);
      await exportHf(m.backend, m.vocabIds, hf, { checkTokens: check });
      const gen = JSON.parse(readFileSync(join(hf, 'generation_config.json'), 'utf8'));
      assert.deepEqual(gen.suppress_tokens, suppressedIds(m.vocabIds));
      assert.equal(gen.suppress_tokens.length, 151936 - (m.vocabIds.length - 1)); // all but the vocabulary, plus unk
      assert.ok(gen.suppress_tokens.includes(UNK_RAW_ID));
      // a prompt with an id outside the vocabulary: steel reads it as unk, and so does the export (its embedding row)
      const outside = Array.from({ length: 64 }, (_, i) => i).find((i) => !m.vocabIds!.includes(i))!;
      const promptRaw = [m.vocabIds[4], outside, m.vocabIds[6], m.vocabIds[7]];
      const promptIds = toModelIds(promptRaw, m.vocabIds);
      assert.equal(promptIds[1], unk);
      const opts = { maxTokens: 12, temperature: 0, topP: 1, seed: 1, stopIds: [m.config.eosId] };
      const oursFree = (await generate(m.backend, promptIds, opts)).map((i) => m.vocabIds![i]);
      const ours = (await generate(m.backend, promptIds, { ...opts, banIds: [unk] })).map((i) => m.vocabIds![i]);
      assert.ok(oursFree.includes(UNK_RAW_ID), `the test needs a model whose greedy choice is often unk: ${oursFree}`);
      const r = hfCheck(hf, { prompt: promptRaw, maxNew: 12 });
      console.log(
        `# compact ${kind} export: logits max rel err ${r.max_rel_err!.toExponential(2)}; steel ${JSON.stringify(ours)} transformers ${JSON.stringify(r.generated)} (unbanned steel: ${JSON.stringify(oursFree)})`,
      );
      assert.ok(r.max_rel_err! < 1e-4, `logits differ: ${r.max_rel_err}`);
      assert.deepEqual(r.generated, ours);
      assert.ok(!r.generated!.includes(UNK_RAW_ID));
      await m.backend.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
