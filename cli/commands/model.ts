import { parseArgs } from 'node:util';
import { PRESETS, countParams, flopsPerToken, getPreset, type ModelConfig } from '../../train/config.ts';
import { resolveConfig } from '../../train/resolve.ts';
import { loadBackend } from '../../train/backend.ts';
import { checkCausal } from '../../train/causal.ts';
import { openModel } from '../../train/load.ts';

export const summary = 'model presets: parameter counts and FLOPs (info), causality check (check-causal), list';

const HELP = `usage:
  steel model list
  steel model info PRESET | --config FILE [--seq-len T] [--json]
      parameters per part and in total, training FLOPs per token, memory for fp32 AdamW training
  steel model check-causal [--preset NAME ... | --model PATH] [--tokens T]
      changes the last token of a random sequence and reports whether earlier logits change
      (default presets: tiny and tiny-dense at init std 0.3: the Steel kind leaks, the dense kind is causal)`;

const fmt = (n: number) => n.toLocaleString('en-US');

function info(c: ModelConfig, seqLen: number) {
  const { total, byPart } = countParams(c);
  const f = flopsPerToken(c, seqLen);
  return {
    name: c.name,
    kind: c.kind,
    total,
    byPart,
    flopsPerToken: f.total,
    steelFormulaFlopsPerToken: f.steelFormula,
    seqLen,
    trainMemoryBytes: total * 16,
  };
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return sub ? 0 : 2;
  }
  if (sub === 'list') {
    for (const [k, p] of Object.entries(PRESETS)) {
      const c = p.model.compactVocab && p.model.vocabCap ? { ...p.model, vocabSize: p.model.vocabCap + 3 } : p.model;
      console.log(
        `${k.padEnd(20)} ${((c !== p.model ? '~' : '') + fmt(countParams(c).total)).padStart(15)}  ${p.description}`,
      );
    }
    return 0;
  }
  if (sub === 'info') {
    const { values: v, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        'seq-len': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    const { model } = v.config
      ? resolveConfig({ config: v.config, preset: positionals[0] })
      : { model: getPreset(positionals[0] ?? '').model };
    if (model.compactVocab && model.vocabCap) model.vocabSize = model.vocabCap + 3; // cap + pad, eos, unk (upper bound)
    const r = info(model, v['seq-len'] ? Number(v['seq-len']) : model.seqLen);
    if (v.json) {
      console.log(JSON.stringify(r));
      return 0;
    }
    console.log(`${r.name} (${r.kind} kind): ${fmt(r.total)} parameters`);
    for (const [k, n] of Object.entries(r.byPart))
      console.log(`  ${k.padEnd(10)} ${fmt(n).padStart(15)}  ${((100 * n) / r.total).toFixed(1)}%`);
    const L = model.numLayers;
    const per = (r.total - (r.byPart.embedding ?? 0) - (r.byPart.lm_head ?? 0) - model.hiddenSize) / L;
    console.log(`  per layer  ${fmt(per).padStart(15)}`);
    console.log(
      `training FLOPs/token at T=${r.seqLen}: ${r.flopsPerToken.toExponential(3)} (executed; Steel's formula 6(L·4d² + dV) + 12·L·d·T: ${r.steelFormulaFlopsPerToken.toExponential(3)})`,
    );
    if (model.compactVocab)
      console.log(
        `note: CPU preset with a compact vocabulary (${model.vocabCap ? `the ${model.vocabCap} most frequent ids + pad/eos/unk` : 'the ids present in the data'}), counted at ${model.vocabSize} rows`,
      );
    console.log(`fp32 AdamW training state (weights+grads+m+v): ${(r.trainMemoryBytes / 2 ** 30).toFixed(2)} GiB`);
    return 0;
  }
  if (sub === 'check-causal') {
    const { values: v } = parseArgs({
      args: rest,
      options: {
        preset: { type: 'string', multiple: true },
        model: { type: 'string' },
        tokens: { type: 'string', default: '16' },
        help: { type: 'boolean' },
      },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    const reports = [];
    if (v.model) {
      const m = await openModel(v.model);
      reports.push(await checkCausal(m.backend, { T: Number(v.tokens) }));
    } else {
      for (const name of v.preset ?? ['tiny', 'tiny-dense']) {
        const c = { ...getPreset(name).model, initStd: 0.3 };
        if (c.compactVocab) c.vocabSize = 512;
        const be = await loadBackend('cpu', { ...c, padId: 0, eosId: 1 });
        await be.init(1);
        reports.push({ name, ...(await checkCausal(be, { T: Number(v.tokens) })) });
      }
    }
    for (const r of reports) {
      console.log(
        `${'name' in r ? (r as { name: string }).name : v.model} (${r.kind}): changing token ${r.changedAt} moves earlier logits by up to ${r.maxDiffBefore.toExponential(2)} -> ${r.causal ? 'CAUSAL' : 'NOT CAUSAL (future tokens leak into earlier positions)'}`,
      );
    }
    return 0;
  }
  console.error(`steel model: unknown subcommand "${sub}"\n\n${HELP}`);
  return 2;
}
