import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeShards } from './testutil.ts';
import { train } from './trainer.ts';
import { getPreset } from './config.ts';
import { openModel } from './load.ts';
import { exportHf, importHf } from './hf.ts';
import { SafetensorsFile } from './safetensors.ts';
import { generate } from './generate.ts';
import { evaluate } from './evaluate.ts';

for (const preset of ['tiny-dense', 'tiny']) {
  test(`export to HF and import back (${preset}): same weights, same logits; training continues from the import`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'steel-hf-'));
    try {
      makeShards(join(dir, 'data'), { shards: 1, docsPerShard: 15, seed: 6 });
      const p = getPreset(preset);
      await train({ model: p.model, hyper: p.train, dataDir: join(dir, 'data'), outDir: join(dir, 'run'), backend: 'cpu', steps: 5, quiet: true });
      const m = await openModel(join(dir, 'run'));
      const check = Int32Array.from([5, 9, 2, 33, 7, 1, 60, 4]);
      await exportHf(m.backend, m.vocabIds, join(dir, 'hf'), { checkTokens: check });
      const cfg = JSON.parse(readFileSync(join(dir, 'hf', 'config.json'), 'utf8'));
      assert.deepEqual(cfg.architectures, ['Qwen2ForCausalLM']);
      assert.equal(cfg.model_type, 'qwen2');
      assert.equal(cfg.tie_word_embeddings, false);
      if (preset === 'tiny') {
        assert.equal(cfg.FFN_type, 'softmoe_v3');
        assert.equal(cfg.mlp_type, 'senet');
        assert.equal(cfg.n_experts, 4);
        assert.equal(cfg.intermediate_size / cfg.mlp_div_ratio, 16);
        const f = new SafetensorsFile(join(dir, 'hf', 'model.safetensors'));
        assert.ok(f.has('model.layers.1.mlp.experts.3.gate_down_proj.weight') && f.has('model.layers.0.mlp.phi'));
        f.close();
      } else assert.equal(cfg.intermediate_size, 64);
      const imp = importHf(join(dir, 'hf'));
      for (const q of m.backend.params()) assert.deepEqual(imp.tensors.get(q.name), await m.backend.getParam(q.name), q.name);
      const m2 = await openModel(join(dir, 'hf'));
      assert.deepEqual(await m2.backend.forward(check, 1, 8), await m.backend.forward(check, 1, 8));
      const sc = new SafetensorsFile(join(dir, 'hf', 'steel_check.safetensors'));
      assert.deepEqual(sc.float32('logits'), await m.backend.forward(check, 1, 8));
      sc.close();
      // continue training from the imported weights (steel import output)
      const { writeSafetensors } = await import('./safetensors.ts');
      const { paramShapes } = await import('./config.ts');
      const impFile = join(dir, 'imported.safetensors');
      writeSafetensors(impFile, paramShapes(imp.config).map((s) => ({ name: s.name, shape: s.shape, data: imp.tensors.get(s.name)! })), { 'steel.config': JSON.stringify({ ...imp.config, seqLen: p.model.seqLen }) });
      const r = await train({ model: p.model, hyper: p.train, dataDir: join(dir, 'data'), outDir: join(dir, 'run2'), backend: 'cpu', steps: 2, quiet: true, initFrom: impFile });
      assert.equal(r.step, 2);
      // generation and evaluation work on the checkpoint
      const ids = await generate(m.backend, Int32Array.from([3, 4]), { maxTokens: 6, temperature: 0.8, topP: 0.9, seed: 1 });
      assert.ok(ids.length >= 1 && ids.every((t) => t >= 0 && t < p.model.vocabSize));
      const ev = await evaluate(m.backend, null, join(dir, 'data'), { batch: 2 });
      assert.ok(ev.loss > 0 && ev.loss < Math.log(64) + 1 && ev.tokens > 0);
      assert.ok(existsSync(join(dir, 'hf', 'generation_config.json')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
