#!/usr/bin/env python3
"""PyTorch twin of the Steel trainer's model (Steel-LLM-1B: Qwen2 decoder + Soft-MoE v3 with SENet experts; or the dense
Qwen2 kind), written plainly: bf16 autocast, SDPA (flash) attention, fused AdamW, fp32 master weights.

Modes:
  bench  [--preset steel-1b|qwen2-dense-1b] [--B 8 --T 2048 --steps 10] [--variants eager,compile] [--json FILE]
         tokens/s, MFU (3.81e9 FLOP/token for steel-1b) and peak memory per variant, same process, same GPU.
  parity --dir DIR [--layers 2 --B 2 --T 2048 --steps 50 --seed 1234]
         writes DIR/manifest.json + raw little-endian fp32/int32 files: initial parameters, a token stream, the loss,
         logits of a short prefix and every gradient (bf16 autocast AND plain fp32), then a 50-step AdamW loss trace.
Parameter names/shapes follow train/config.ts paramShapes() (HF / Steel-LLM names, Linear weight = [out, in]).
"""
import argparse, json, math, os, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")

PRESETS = {
    "steel-1b": dict(kind="steel", vocab=151936, d=1792, layers=18, heads=32, kv=32, hd=56, inter=448, ne=6, np=1),
    "qwen2-dense-1b": dict(kind="dense", vocab=151936, d=1792, layers=18, heads=32, kv=32, hd=56, inter=3584, ne=0, np=0),
}
PAD = 151643
EPS = 1e-6
THETA = 1e6


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS))


def rope_tables(T, hd, device):
    inv = 1.0 / (THETA ** (torch.arange(0, hd, 2, dtype=torch.float64, device=device) / hd))
    a = torch.arange(T, dtype=torch.float64, device=device)[:, None] * inv[None, :]
    return a.cos().float(), a.sin().float()


def apply_rope(x, cos, sin):  # x [B, H, T, hd] (any dtype) -> rotated in fp32, back to x.dtype
    h = x.shape[-1] // 2
    xf = x.float()
    x1, x2 = xf[..., :h], xf[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        q, kv = c["heads"] * c["hd"], c["kv"] * c["hd"]
        self.q_proj = nn.Linear(c["d"], q, bias=True)
        self.k_proj = nn.Linear(c["d"], kv, bias=True)
        self.v_proj = nn.Linear(c["d"], kv, bias=True)
        self.o_proj = nn.Linear(q, c["d"], bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        H, Hk, hd = self.c["heads"], self.c["kv"], self.c["hd"]
        q = self.q_proj(x).view(B, T, H, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, Hk, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, Hk, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=(H != Hk))
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * hd))


class Expert(nn.Module):  # SENet double SwiGLU
    def __init__(self, d, inter):
        super().__init__()
        self.gate_up_proj = nn.Linear(d, inter, bias=False)
        self.up_proj = nn.Linear(d, inter, bias=False)
        self.gate_down_proj = nn.Linear(inter, d, bias=False)
        self.down_proj = nn.Linear(inter, d, bias=False)

    def forward(self, x):
        h = F.silu(self.gate_up_proj(x)) * self.up_proj(x)
        return F.silu(self.gate_down_proj(h)) * self.down_proj(h)


class SoftMoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, ne, np_ = c["d"], c["ne"], c["np"]
        self.phi = nn.Parameter(torch.randn(d, ne, np_) / math.sqrt(d))
        self.scale = nn.Parameter(torch.ones(1))
        self.experts = nn.ModuleList([Expert(d, c["inter"]) for _ in range(ne)])

    def forward(self, x):  # x [B, T, d]
        ne, np_ = self.c["ne"], self.c["np"]
        S = ne * np_
        with torch.autocast("cuda", enabled=False):  # router, dispatch and combine in fp32
            xh = F.normalize(x.float(), dim=-1)
            ph = self.scale * F.normalize(self.phi.reshape(-1, S), dim=0)
            L = xh @ ph  # [B, T, S]
            D = torch.softmax(L, dim=1)
            C = torch.softmax(L, dim=-1)
            slots = torch.einsum("bts,btd->bsd", D, xh)  # [B, S, d]
        ys = [self.experts[e](slots[:, e * np_:(e + 1) * np_]) for e in range(ne)]
        Ys = torch.cat(ys, dim=1)
        with torch.autocast("cuda", enabled=False):
            return torch.einsum("bts,bsd->btd", C, Ys.float())


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c["d"], c["inter"], bias=False)
        self.up_proj = nn.Linear(c["d"], c["inter"], bias=False)
        self.down_proj = nn.Linear(c["inter"], c["d"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["d"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["d"])
        self.mlp = SoftMoE(c) if c["kind"] == "steel" else MLP(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab"], c["d"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["layers"])])
        self.norm = RMSNorm(c["d"])


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        self.lm_head = nn.Linear(c["d"], c["vocab"], bias=False)

    def init(self, seed):
        g = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("norm.weight") or name.endswith("mlp.scale"):
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                elif name.endswith("mlp.phi"):
                    p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(self.c["d"]))
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)

    def hidden(self, inp):
        T = inp.shape[1]
        cos, sin = rope_tables(T, self.c["hd"], inp.device)
        x = self.model.embed_tokens(inp)
        for l in self.model.layers:
            x = l(x, cos, sin)
        return self.model.norm(x)

    def forward(self, inp, tgt):
        logits = self.lm_head(self.hidden(inp))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD)


def flops_per_token(c, T):
    """Steel's formula (3.81e9 for steel-1b: the experts see only n*p slots per sequence); the dense kind adds its MLP."""
    d, L, V = c["d"], c["layers"], c["vocab"]
    mlp = 3 * d * c["inter"] if c["kind"] == "dense" else 0
    return 6 * (L * (4 * d * d + mlp) + d * V) + 12 * L * d * T


def bench(a):
    res = []
    for preset in a.preset.split(","):
        res += bench_one(a, preset)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


def bench_one(a, preset):
    c = dict(PRESETS[preset])
    dev = "cuda"
    B, T = a.B, a.T
    res = []
    g = torch.Generator(device="cpu").manual_seed(0)
    data = torch.randint(0, c["vocab"], (a.steps + 3, B, T + 1), generator=g).to(dev)
    for variant in a.variants.split(","):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(0)
        model = Model(c).to(dev)
        model.init(0)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05, fused=True)
        fwd = torch.compile(model) if variant == "compile" else model
        t_compile = time.time()

        def step(i):
            x = data[i]
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = fwd(x[:, :-1], x[:, 1:])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

        for i in range(3):
            l = step(i)
        torch.cuda.synchronize()
        t_compile = time.time() - t_compile
        t0 = time.time()
        for i in range(a.steps):
            l = step(3 + i)
        torch.cuda.synchronize()
        dt = time.time() - t0
        tps = B * T * a.steps / dt
        fpt = flops_per_token(c, T)
        r = dict(variant=variant, preset=preset, device=torch.cuda.get_device_name(), tokens_per_s=tps,
                 mfu=tps * fpt / 989e12, peak_gb=torch.cuda.max_memory_allocated() / 1e9,
                 step_ms=dt / a.steps * 1e3, warmup_s=t_compile, loss=float(l))
        print(json.dumps(r), flush=True)
        res.append(r)
        del model, opt, fwd
        torch._dynamo.reset()
    return res


def parity(a):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    c = dict(PRESETS[a.preset])
    c["layers"] = a.layers
    dev = "cuda"
    os.makedirs(a.dir, exist_ok=True)
    B, T = a.B, a.T
    # token stream with learnable structure: a sparse random Markov chain over a few thousand ids (+ pad sprinkled in)
    g = torch.Generator(device="cpu").manual_seed(a.seed)
    nstates = 4096
    ids = torch.randint(0, c["vocab"] - 8, (nstates,), generator=g)
    nxt = torch.randint(0, nstates, (nstates, 4), generator=g)
    toks = torch.empty((a.steps + 1) * B * (T + 1), dtype=torch.int64)
    s = 0
    ch = torch.randint(0, 4, (toks.numel(),), generator=g)
    for i in range(toks.numel()):
        s = int(nxt[s, ch[i]])
        toks[i] = ids[s]
    toks[torch.randint(0, toks.numel(), (toks.numel() // 100,), generator=g)] = PAD
    toks = toks.view(a.steps + 1, B, T + 1)
    toks.to(torch.int32).numpy().tofile(os.path.join(a.dir, "tokens.i32"))
    man = dict(config=c, B=B, T=T, steps=a.steps, seed=a.seed, lr=a.lr, params=[], files={})
    model = Model(c).to(dev)
    model.init(a.seed)
    for name, p in model.named_parameters():
        f = "p." + name + ".f32"
        p.detach().float().cpu().numpy().tofile(os.path.join(a.dir, f))
        man["params"].append(dict(name=name, shape=list(p.shape), file=f))
    x = toks[0].to(dev)
    prefix = 64
    for tag, amp in (("bf16", True), ("fp32", False)):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            lg = model.lm_head(model.hidden(x[:1, :prefix])).float()
        lg.cpu().numpy().tofile(os.path.join(a.dir, f"logits.{tag}.f32"))
        man["files"][tag] = dict(loss=float(loss), logits=f"logits.{tag}.f32", prefix=prefix, grads={})
        for name, p in model.named_parameters():
            f = f"g.{tag}.{name}.f32"
            p.grad.float().cpu().numpy().tofile(os.path.join(a.dir, f))
            man["files"][tag]["grads"][name] = f
        print(f"parity {tag}: loss {float(loss):.6f}", flush=True)
    # loss trace: fresh AdamW, constant lr, clip 1.0, one micro-batch per step
    model.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05, fused=True)
    trace = []
    for i in range(a.steps):
        xb = toks[i + 1].to(dev)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(xb[:, :-1], xb[:, 1:])
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        trace.append(dict(loss=float(loss), gnorm=float(gn)))
    man["trace"] = trace
    print("parity trace:", " ".join(f"{t['loss']:.4f}" for t in trace[::5]), flush=True)
    with open(os.path.join(a.dir, "manifest.json"), "w") as f:
        json.dump(man, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bench", "parity"])
    ap.add_argument("--preset", default="steel-1b")
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--T", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--variants", default="eager,compile")
    ap.add_argument("--json", default=None)
    ap.add_argument("--dir", default="/tmp/parity")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lr", type=float, default=3e-4)
    a = ap.parse_args()
    if a.mode == "bench":
        bench(a)
    else:
        parity(a)


if __name__ == "__main__":
    main()
