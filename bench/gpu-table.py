#!/usr/bin/env python3
"""Prints the GPU table (markdown) from gpu-check.json (ours) and torch-bench.json (PyTorch baseline)."""
import json, os, sys

ours = json.load(open(sys.argv[1])) if len(sys.argv) > 1 and os.path.exists(sys.argv[1]) else {}
torch = json.load(open(sys.argv[2])) if len(sys.argv) > 2 and os.path.exists(sys.argv[2]) else []
rows = []
base = {r["variant"]: r for r in torch}
eager = base.get("eager", {}).get("tokens_per_s")
for k, r in ours.items():
    if k.startswith("bench-"):
        rows.append((f"steel CUDA addon ({r['preset']})", r["device"], r["tokensPerS"], r["mfu"], r["memUsedGB"], "device used (cudaMemGetInfo)"))
for r in torch:
    rows.append((f"PyTorch {r['variant']} ({r['preset']})", r["device"], r["tokens_per_s"], r["mfu"], r["peak_gb"], "max_memory_allocated"))
print("| run | card | tokens/s | MFU | memory GB | memory measure | vs PyTorch eager |")
print("|---|---|---|---|---|---|---|")
for name, dev, tps, mfu, mem, how in rows:
    rel = f"{tps / eager:.2f}x" if eager else "-"
    print(f"| {name} | {dev} | {tps:,.0f} | {mfu * 100:.1f}% | {mem:.1f} | {how} | {rel} |")
print(f"\nchecks failed: {ours.get('failures', 'n/a')}")
for k in ("attn", "cpu", "torch"):
    if k in ours:
        print(f"{k}: {json.dumps(ours[k])[:1500]}")
