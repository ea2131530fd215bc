"""Activation normalisation (Glow): a per-channel affine map initialised from the first batch it sees."""
from __future__ import annotations

import torch
from torch import nn

from waveglow.flows.flow import Flow, zero_logdet


class ActNorm(Flow):
    """y = (x + bias) * exp(log_scale) per channel. x: [B, C, *positions]; logdet [B] = positions * sum(log_scale).

    The first forward call (data-dependent init) sets bias and log_scale so that this batch leaves with zero mean
    and unit variance per channel. `initialized` is a buffer, so a loaded model never re-initialises.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))
        self.eps = eps

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (1, -1) + (1,) * (x.dim() - 2)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        self.bias.copy_(-flat.mean(1))
        self.log_scale.copy_(-torch.log(flat.std(1) + self.eps))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        if not bool(self.initialized):
            self.initialize(x)
        positions = x[0, 0].numel()
        logdet = zero_logdet(x) + positions * self.log_scale.sum()
        shape = self._shape(x)
        return (x + self.bias.view(shape)) * torch.exp(self.log_scale).view(shape), logdet

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        shape = self._shape(y)
        return y * torch.exp(-self.log_scale).view(shape) - self.bias.view(shape)
