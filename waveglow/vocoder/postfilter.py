"""A small non-causal WaveNet applied to the flow's output (WG-WaveNet's post-filter, Hsu & Lee 2020).

The flow stays exact and keeps its likelihood; the post-filter only shapes what `infer` returns. It is trained by
the spectral loss on inverse-flow samples (train.spectral_loss), never by the likelihood.
"""
from __future__ import annotations

import torch
from torch import nn


class PostFilter(nn.Module):
    """audio [B, T] -> audio [B, T]: x + end(sum of gated dilated-conv skips) (dilations 1, 2, 4, ...; kernel 3).

    `end` is zero-initialised, so a new post-filter is the identity and a WaveGlow without training is unchanged.
    """

    def __init__(self, n_layers: int, n_channels: int, kernel_size: int = 3):
        super().__init__()
        self.n_channels = n_channels
        self.start = nn.Conv1d(1, n_channels, 1)
        self.in_layers = nn.ModuleList(
            nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=2**i, padding=2**i * (kernel_size - 1) // 2)
            for i in range(n_layers))
        self.res_skip_layers = nn.ModuleList(nn.Conv1d(n_channels, 2 * n_channels, 1) for _ in range(n_layers))
        self.end = nn.Conv1d(n_channels, 1, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.unsqueeze(1)
        h = self.start(x)
        c = self.n_channels
        skip = 0
        for in_layer, res_skip in zip(self.in_layers, self.res_skip_layers):
            gate = in_layer(h)
            out = res_skip(torch.tanh(gate[:, :c]) * torch.sigmoid(gate[:, c:]))
            h = h + out[:, :c]
            skip = skip + out[:, c:]
        # the residual path (the flow's audio) stays in its own dtype under autocast
        return (x + self.end(skip).to(x.dtype)).squeeze(1)
