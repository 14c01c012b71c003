#!/usr/bin/env python3
"""Prints the GPU table (markdown) from gpu-check.json (ours) and torch-bench.json (PyTorch baseline)."""
import json, os, sys

ours = json.load(open(sys.argv[1])) if len(sys.argv) > 1 and os.path.exists(sys.argv[1]) else {}
torch = json.load(open(sys.argv[2])) if len(sys.argv) > 2 and os.path.exists(sys.argv[2]) else []
rows = []
eager = {r["preset"]: r["tokens_per_s"] for r in torch if r["variant"] == "eager"}
comp = {r["preset"]: r["tokens_per_s"] for r in torch if r["variant"] == "compile"}
for k, r in ours.items():
    if k.startswith("bench-"):
        mem, how = (r["allocatedGB"], "allocated by the addon") if "allocatedGB" in r else (r["memUsedGB"], "device used (cudaMemGetInfo)")
        rows.append((f"steel CUDA addon ({r['preset']})", r["device"], r["tokensPerS"], r["mfu"], mem, how))
for r in torch:
    rows.append((f"PyTorch {r['variant']} ({r['preset']})", r["device"], r["tokens_per_s"], r["mfu"], r["peak_gb"], "max_memory_allocated"))
print("| run | card | tokens/s | MFU | memory GB | memory measure | vs PyTorch eager | vs torch.compile |")
print("|---|---|---|---|---|---|---|---|")
for name, dev, tps, mfu, mem, how in rows:
    preset = name[name.rindex("(") + 1:-1]
    e, c = eager.get(preset), comp.get(preset)
    print(f"| {name} | {dev} | {tps:,.0f} | {mfu * 100:.1f}% | {mem:.1f} | {how} | {f'{tps / e:.2f}x' if e else '-'} | {f'{tps / c:.2f}x' if c else '-'} |")
print(f"\nchecks failed: {ours.get('failures', 'n/a')}")
for k in ("attn", "cpu", "torch"):
    if k in ours:
        print(f"{k}: {json.dumps(ours[k])[:1500]}")
