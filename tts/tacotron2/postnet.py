"""Tacotron2 postnet: a conv stack that predicts a residual correction of the decoder's mel."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tts.tacotron2.layers import ConvBatchNorm


class Postnet(nn.Module):
    """mel [B, n_mel, T] -> residual [B, n_mel, T].

    `n_convolutions` (>= 2) conv + BatchNorm blocks: n_mel -> embedding_dim -> ... -> n_mel, tanh after every
    block except the last; dropout `dropout` after every block in training mode only.
    """

    def __init__(self, n_mel_channels: int, embedding_dim: int, kernel_size: int, n_convolutions: int,
                 dropout: float = 0.5):
        super().__init__()
        if n_convolutions < 2:
            raise ValueError(f"the postnet needs at least 2 convolutions, got {n_convolutions}")
        self.dropout = dropout
        channels = [n_mel_channels] + [embedding_dim] * (n_convolutions - 1) + [n_mel_channels]
        self.convolutions = nn.ModuleList(
            ConvBatchNorm(channels[i], channels[i + 1], kernel_size,
                          w_init_gain="linear" if i == n_convolutions - 1 else "tanh")
            for i in range(n_convolutions)
        )

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`frame_mask` [B, T] (True = valid frame), optional: zeroes invalid frames before every conv, so each
        item of a padded batch gets exactly what it would get alone (the conv's own zero padding)."""
        last = len(self.convolutions) - 1
        for i, conv in enumerate(self.convolutions):
            if frame_mask is not None:
                x = x * frame_mask.unsqueeze(1)
            x = conv(x)
            if i < last:
                x = torch.tanh(x)
            x = F.dropout(x, self.dropout, self.training)
        return x
