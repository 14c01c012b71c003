"""transformers' generate on the same card as `gpu-check decodebench` (train/native/run-gpu-checks.sh, section
decodebench): loads the HF export our run wrote (same random weights), runs greedy generation of the same prompts
(bf16, SDPA attention, static KV cache, exactly N new tokens, no stop token), times it after a warm-up, and compares
the tokens with ours. Where a row diverges, a teacher-forced forward pass of transformers on the prompt and our tokens
up to that point gives the logit gap between its choice and ours (a bf16 near-tie when small).
Usage: python3 bench/decode-peer.py --dir /tmp/steel-decode --presets steel-1b,qwen2-dense-1b [--json FILE]
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from transformers import AutoModelForCausalLM, GenerationConfig

ap = argparse.ArgumentParser()
ap.add_argument("--dir", default="/tmp/steel-decode")
ap.add_argument("--presets", default="steel-1b,qwen2-dense-1b")
ap.add_argument("--json")
a = ap.parse_args()

results = {}
for preset in a.presets.split(","):
    meta = json.load(open(os.path.join(a.dir, f"{preset}.json")))
    B, P, N = meta["B"], meta["prompt"], meta["newTokens"]
    prompts = np.fromfile(os.path.join(a.dir, f"{preset}.prompts.i32"), dtype=np.int32).reshape(B, P)
    ours = np.fromfile(os.path.join(a.dir, f"{preset}.ours.i32"), dtype=np.int32).reshape(B, N)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(
        os.path.join(a.dir, preset), dtype=torch.bfloat16, attn_implementation="sdpa", trust_remote_code=True
    ).cuda().eval()
    load_s = time.time() - t0
    inp = torch.tensor(prompts, dtype=torch.long, device="cuda")
    mask = torch.ones_like(inp)

    def gen(n):
        gc = GenerationConfig(
            do_sample=False, max_new_tokens=n, min_new_tokens=n, eos_token_id=None, pad_token_id=0,
            cache_implementation="static",
        )
        with torch.inference_mode():
            return model.generate(input_ids=inp, attention_mask=mask, generation_config=gc)

    # warm-up at the timed length: the static cache's length is part of the shapes generate compiles its decode step
    # for, so a shorter warm-up left the compilation (~15 s on a machine without inductor's on-disk cache) inside the
    # timed run (952 tokens/s measured that way on a fresh machine, 2026-12-04)
    t0 = time.time()
    gen(N)
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    t0 = time.time()
    out = gen(N)
    torch.cuda.synchronize()
    secs = time.time() - t0
    hf = out[:, P:].cpu().numpy()
    same_rows = 0
    first_div = []
    for b in range(B):
        d = np.nonzero(hf[b, : ours.shape[1]] != ours[b, : hf.shape[1]])[0]
        if len(d) == 0 and hf.shape[1] == N:
            same_rows += 1
        else:
            first_div.append((b, int(d[0]) if len(d) else int(min(hf.shape[1], N))))
    same_tokens = int((hf[:, :N] == ours[:, : hf.shape[1]]).sum())
    gaps = []
    for b, k in first_div[:8]:  # transformers' logits where the first divergence happens
        ctx = torch.tensor(np.concatenate([prompts[b], ours[b, :k]]), dtype=torch.long, device="cuda")[None]
        with torch.inference_mode():
            lg = model(input_ids=ctx).logits[0, -1].float()
        gaps.append(float(lg[int(hf[b, k])] - lg[int(ours[b, k])]))
    r = {
        "preset": preset,
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "B": B,
        "prompt": P,
        "newTokens": int(hf.shape[1]),
        "seconds": secs,
        "tokensPerS": B * hf.shape[1] / secs,
        "loadS": load_s,
        "warmupS": warm_s,
        "identicalRows": same_rows,
        "identicalTokens": same_tokens,
        "firstDivergence": first_div[:16],
        "gapAtDivergence": gaps,
        "oursTokensPerS": meta["tokensPerS"],
        "ratio": meta["tokensPerS"] / (B * hf.shape[1] / secs),
    }
    print("PEER " + json.dumps(r), flush=True)
    results[preset] = r
    del model
    torch.cuda.empty_cache()
if a.json:
    json.dump(results, open(a.json, "w"), indent=1)
