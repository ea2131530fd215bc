"""The training forward pass, optionally with per-flow activation checkpointing.

Without it, autograd keeps every flow's WN activations (several times n_channels * n_layers floats per audio
step, per flow) until backward: memory grows linearly with n_flows. With `memory_efficient=True` each flow (1x1 conv +
coupling) runs under torch.utils.checkpoint: only its input [B, C_k, T / n_group] is kept, and its WN activations
are recomputed during backward, one flow at a time. Activation memory then stays at one flow's worth plus
n_flows small inputs (about 2/3 more compute for the recomputed forward). Results are bit-identical.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from waveglow.vocoder.model import WaveGlow


class WaveGlowForTraining(nn.Module):
    """forward(audio [B, T], mel [B, n_mel, T // hop + 1]) -> (z [B, n_group, T / n_group], logdet [B]), the same
    values as `waveglow(audio, mel)`. This is the module DistributedDataParallel wraps."""

    def __init__(self, waveglow: WaveGlow, memory_efficient: bool = False):
        super().__init__()
        self.waveglow = waveglow
        self.memory_efficient = memory_efficient

    def forward(self, audio: torch.Tensor, mel: torch.Tensor, reverse_z: torch.Tensor | None = None,
                reverse_sigma: float = 1.0, excitation: torch.Tensor | None = None):
        """With reverse_z [B, n_group, F * hop / n_group], also the differentiable inverse-flow sample of `mel` at
        reverse_sigma, cropped to audio's length: (z, logdet, sample [B, T]). Inside this module, so DDP sees one
        forward per step. excitation [B, 2, T]: the model's sine excitation, when it takes one."""
        if excitation is None:
            excitation = self.waveglow.excitation_of_audio(audio)
        if not (self.memory_efficient and torch.is_grad_enabled()):
            out = self.waveglow(audio, mel, excitation)
        else:
            out = self._checkpointed_forward(audio, mel, excitation)
        if reverse_z is None:
            return out
        sample = self.waveglow.reverse(mel, reverse_z, reverse_sigma, excitation)[:, : audio.shape[-1]]
        return (*out, sample)

    def _checkpointed_step(self, k: int, x: torch.Tensor, cond: torch.Tensor):
        # No RNG inside a flow, so the RNG state need not be stashed for the recomputation.
        return checkpoint(self.waveglow.flow_step, k, x, cond, use_reentrant=False, preserve_rng_state=False)

    def _checkpointed_forward(self, audio: torch.Tensor, mel: torch.Tensor, excitation: torch.Tensor | None):
        """WaveGlow.forward itself (early outputs, logdet order), each flow one checkpointed segment."""
        return self.waveglow(audio, mel, excitation, step=self._checkpointed_step)
