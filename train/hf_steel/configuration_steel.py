# Configuration of a Steel-LLM model exported by steel.
# Written for transformers 5.x. Steel-LLM is a Qwen2 decoder whose every FFN is a Soft-MoE "v3" with SENet experts;
# config.json keeps Steel-LLM's keys (model_type qwen2, FFN_type, mlp_type, n_experts, slots_per_expert, mlp_div_ratio).
from transformers.models.qwen2.configuration_qwen2 import Qwen2Config

STEEL_MLP_LAYER_TYPE = "softmoe_v3"


class SteelConfig(Qwen2Config):
    """Qwen2Config plus the Soft-MoE keys. `mlp_layer_types` lists "softmoe_v3" per layer: transformers' own Qwen2Config
    rejects that value, so loading an export without this code (no trust_remote_code=True) fails instead of building a
    Qwen2 with random MLP weights."""

    model_type = "qwen2"

    def __post_init__(self, **kwargs):
        defaults = dict(n_experts=6, slots_per_expert=1, mlp_div_ratio=4, FFN_type="softmoe_v3", mlp_type="senet")
        for k, v in defaults.items():
            if k in kwargs:
                setattr(self, k, kwargs.pop(k))
            elif not hasattr(self, k):
                setattr(self, k, v)
        super().__post_init__(**kwargs)
        if self.FFN_type != "softmoe_v3" or self.mlp_type != "senet":
            raise ValueError(f"SteelConfig: FFN_type {self.FFN_type!r} / mlp_type {self.mlp_type!r} not supported "
                             "(softmoe_v3 + senet only)")
        if self.intermediate_size % self.mlp_div_ratio:
            raise ValueError(f"SteelConfig: intermediate_size {self.intermediate_size} is not a multiple of "
                             f"mlp_div_ratio {self.mlp_div_ratio}")

    def validate_layer_type(self):
        types = getattr(self, "mlp_layer_types", None)
        if types is not None and (len(types) != self.num_hidden_layers or any(t != STEEL_MLP_LAYER_TYPE for t in types)):
            raise ValueError(f"SteelConfig: mlp_layer_types must be {self.num_hidden_layers} x {STEEL_MLP_LAYER_TYPE!r}, "
                             f"got {types}")
        layer_types = getattr(self, "layer_types", None)
        if layer_types is not None and any(t != "full_attention" for t in layer_types):
            raise ValueError(f"SteelConfig: only full attention is supported, got layer_types {layer_types}")


__all__ = ["SteelConfig"]

# Steel-LLM's published config.json names this class configuration_steel.Qwen2Config
Qwen2Config = SteelConfig
