"""Glow's zero-initialised convolution: the last layer of every network that feeds a flow or a prior."""
from __future__ import annotations

import torch
from torch import nn


class ZeroConv2d(nn.Module):
    """3x3 convolution (zero padding) times a learned per-channel scale exp(log_scale * log_scale_factor).

    x: [B, C_in, H, W] -> [B, C_out, H, W]. Weight, bias and log_scale all start at zero, so the output starts at
    exactly zero: a coupling it ends starts as the identity (additive) or a constant scale (sigmoid), and a prior
    it parametrises starts as N(0, 1). The factor (3 in the Glow paper's code) lets the scale move faster than
    Adam's per-parameter step size would otherwise allow.
    """

    def __init__(self, in_channels: int, out_channels: int, log_scale_factor: float = 3.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.log_scale = nn.Parameter(torch.zeros(out_channels))
        self.log_scale_factor = log_scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.exp(self.log_scale * self.log_scale_factor).view(1, -1, 1, 1)
        return self.conv(x) * scale


class ZeroLinear(nn.Module):
    """Linear layer with the same zero start and per-output scale as `ZeroConv2d`. x: [B, F_in] -> [B, F_out]."""

    def __init__(self, in_features: int, out_features: int, log_scale_factor: float = 3.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.log_scale = nn.Parameter(torch.zeros(out_features))
        self.log_scale_factor = log_scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * torch.exp(self.log_scale * self.log_scale_factor)
