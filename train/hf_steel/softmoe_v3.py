# Steel-LLM's FFN, written for steel's exports: Soft-MoE "v3" (Puigcerver et al., "From Sparse to Soft Mixtures of
# Experts", with normalised inputs and router) over SENet experts (a double SwiGLU, no bias).
import torch
import torch.nn as nn
import torch.nn.functional as F


class SENetExpert(nn.Module):
    """f(x) = SiLU(h W_gd) * (h W_dn) with h = SiLU(x W_gu) * (x W_u); W_gu, W_u: d -> w, W_gd, W_dn: w -> d."""

    def __init__(self, hidden: int, width: int):
        super().__init__()
        self.gate_up_proj = nn.Linear(hidden, width, bias=False)
        self.up_proj = nn.Linear(hidden, width, bias=False)
        self.gate_down_proj = nn.Linear(width, hidden, bias=False)
        self.down_proj = nn.Linear(width, hidden, bias=False)

    def forward(self, x):
        h = F.silu(self.gate_up_proj(x)) * self.up_proj(x)
        return F.silu(self.gate_down_proj(h)) * self.down_proj(h)


class SteelSoftMoEV3(nn.Module):
    """Soft-MoE over the tokens of each sequence in the call: X^ = X/||X|| per token, Phi^ = s * Phi/||Phi|| per slot,
    L = X^ Phi^; dispatch D = softmax of L over the tokens, combine C = softmax of L over the slots (both in fp32);
    slot inputs D^T X^, slot outputs f_e(.), token outputs C Y. Under generate with a KV cache it mixes the tokens
    present in each forward call, as Steel-LLM's own code does: the whole prompt at prefill, then one token per step
    (padding tokens of a batch included)."""

    def __init__(self, config):
        super().__init__()
        d = config.hidden_size
        self.num_experts = config.n_experts
        self.slots_per_expert = config.slots_per_expert
        self.phi = nn.Parameter(torch.empty(d, self.num_experts, self.slots_per_expert))
        self.scale = nn.Parameter(torch.ones(1))
        width = config.intermediate_size // config.mlp_div_ratio
        self.experts = nn.ModuleList([SENetExpert(d, width) for _ in range(self.num_experts)])

    def forward(self, x):
        b, m, d = x.shape
        n, p = self.num_experts, self.slots_per_expert
        xn = F.normalize(x, dim=-1)
        phi = self.scale * F.normalize(self.phi, dim=0)
        logits = torch.einsum("bmd,dnp->bmnp", xn, phi).float()
        dispatch = torch.softmax(logits, dim=1).to(x.dtype)
        combine = torch.softmax(logits.reshape(b, m, n * p), dim=-1).reshape(b, m, n, p).to(x.dtype)
        slots = torch.einsum("bmd,bmnp->bnpd", xn, dispatch)
        outs = torch.stack([f(slots[:, e]) for e, f in enumerate(self.experts)], dim=1)
        return torch.einsum("bnpd,bmnp->bmd", outs, combine)
