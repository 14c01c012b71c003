# Steel-LLM for transformers 5.x, shipped with steel's exports: the Qwen2 decoder of transformers with every MLP
# replaced by Steel-LLM's Soft-MoE v3 over SENet experts. Tensor names as Steel-LLM's checkpoints:
# model.layers.N.mlp.{phi, scale, experts.E.{gate_up_proj, up_proj, gate_down_proj, down_proj}.weight}.
import torch.nn as nn
from transformers.models.qwen2.modeling_qwen2 import Qwen2ForCausalLM, Qwen2Model

from .configuration_steel import SteelConfig
from .softmoe_v3 import SteelSoftMoEV3


def _use_softmoe(model: Qwen2Model, config: SteelConfig):
    for layer in model.layers:
        layer.mlp = SteelSoftMoEV3(config)


class SteelModel(Qwen2Model):
    config_class = SteelConfig

    def __init__(self, config: SteelConfig):
        super().__init__(config)
        _use_softmoe(self, config)
        self.post_init()


class SteelForCausalLM(Qwen2ForCausalLM):
    config_class = SteelConfig

    def __init__(self, config: SteelConfig):
        super().__init__(config)
        _use_softmoe(self.model, config)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, SteelSoftMoEV3):
            nn.init.normal_(module.phi, mean=0.0, std=module.phi.shape[0] ** -0.5)
            nn.init.ones_(module.scale)
        else:
            super()._init_weights(module)


# Steel-LLM's published config.json names modeling_steel.Qwen2ForCausalLM
Qwen2ForCausalLM = SteelForCausalLM

__all__ = ["SteelConfig", "SteelModel", "SteelForCausalLM"]
