#!/usr/bin/env python3
"""Prints the GPU table (markdown) from gpu-check.json (ours), torch-bench.json (our PyTorch twin, bench/gpu-baseline.py)
and steel-ref.jsonl (the project owner's reference, bench/torch-ref/steel_ref.py --compile), all from one command on one
card. The last column is our ratio against the faster torch.compile of the two."""
import json, os, sys

arg = lambda i: sys.argv[i] if len(sys.argv) > i and os.path.exists(sys.argv[i]) else None
ours = json.load(open(arg(1))) if arg(1) else {}
torch = json.load(open(arg(2))) if arg(2) else []
ref = [json.loads(l) for l in open(arg(3)) if l.strip()] if arg(3) else []
rows = []
eager = {r["preset"]: r["tokens_per_s"] for r in torch if r["variant"] == "eager"}
comp = {r["preset"]: r["tokens_per_s"] for r in torch if r["variant"] == "compile"}
refc = {r["preset"]: r["tok_s"] for r in ref}
best = {p: max(v for v in (comp.get(p), refc.get(p)) if v) for p in set(comp) | set(refc)}
dev = next((r["device"] for k, r in ours.items() if k.startswith("bench-")), "")
for k, r in ours.items():
    if k.startswith("bench-") or k.startswith("sftbench-"):
        mem, how = (r["allocatedGB"], "allocated by the addon") if "allocatedGB" in r else (r["memUsedGB"], "device used (cudaMemGetInfo)")
        shape = f"{r['B']}x{r['T']}" + (", SFT loss weights" if r.get("sft") else "")
        rows.append((f"steel CUDA addon ({r['preset']})", shape, r["device"], r["tokensPerS"], r["mfu"], mem, how, not r.get("sft")))
for r in torch:
    rows.append((f"our PyTorch twin, {r['variant']} ({r['preset']})", f"{r.get('B', 8)}x{r.get('T', 2048)}", r["device"], r["tokens_per_s"], r["mfu"], r["peak_gb"], "max_memory_allocated", True))
for r in ref:
    rows.append((f"steel_ref.py --compile ({r['preset']})", f"{r['micro']}x{r['seq']}", dev, r["tok_s"], r["mfu_989"], r["peak_mem_gb"] * 2**30 / 1e9, "max_memory_allocated", True))
print("| run | shape | card | tokens/s | MFU | memory GB | memory measure | vs twin eager | vs twin compile | vs steel_ref compile | vs faster compile |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, shape, d, tps, mfu, mem, how, ratios in rows:
    preset = name[name.rindex("(") + 1:-1]
    e, c, s, b = eager.get(preset), comp.get(preset), refc.get(preset), best.get(preset)
    f = lambda x: f"{tps / x:.2f}x" if x and ratios else "-"
    print(f"| {name} | {shape} | {d} | {tps:,.0f} | {mfu * 100:.1f}% | {mem:.1f} | {how} | {f(e)} | {f(c)} | {f(s)} | {f(b)} |")
# one line per preset: our training benchmark against the faster of the two torch.compile baselines of this command
bestName = {p: ("steel_ref.py" if refc.get(p, 0) >= comp.get(p, 0) else "our twin") for p in best}
for name, shape, d, tps, mfu, mem, how, ratios in rows:
    preset = name[name.rindex("(") + 1:-1]
    if name.startswith("steel CUDA addon") and ratios:
        b = best.get(preset)
        print(f"\n{preset}: {tps:,.0f} tok/s against {bestName[preset]} --compile {b:,.0f}: {tps / b:.2f}x" if b
              else f"\n{preset}: {tps:,.0f} tok/s (no torch.compile baseline in this command)")
print("\nMFU: ours and the twin with Steel's FLOP/token formula at 989 TFLOP/s; steel_ref.py with its own count (mfu_989).")
print(f"checks failed: {ours.get('failures', 'n/a')}")
for k in ("attn", "attnTime", "cpu", "torch"):
    if k in ours:
        print(f"{k}: {json.dumps(ours[k])[:1500]}")
