"""The network inside Glow's affine coupling: it reads x_a and predicts a shift (and raw scale) for x_b."""
from __future__ import annotations

import torch
from torch import nn

from waveglow.flows.actnorm import ActNorm
from waveglow.glow.zero_conv import ZeroConv2d


class CouplingNet(nn.Module):
    """conv3x3 -> ActNorm -> ReLU -> conv1x1 -> ActNorm -> ReLU -> ZeroConv2d.

    x_a: [B, in_channels, H, W] -> [B, out_channels, H, W]. For `AffineCoupling` out_channels is n_b (additive)
    or 2 * n_b (shift, then raw scale). The hidden convolutions have no bias because ActNorm follows them; their
    weights start at N(0, 0.05^2) as in the Glow paper, and ActNorm's data-dependent init rescales them anyway.
    `cond` is accepted for the flow-core contract and ignored (class conditioning lives in the prior).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 512):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False)
        self.norm_in = ActNorm(hidden)
        self.conv_mid = nn.Conv2d(hidden, hidden, kernel_size=1, bias=False)
        self.norm_mid = ActNorm(hidden)
        self.conv_out = ZeroConv2d(hidden, out_channels)
        for conv in (self.conv_in, self.conv_mid):
            nn.init.normal_(conv.weight, 0.0, 0.05)

    def forward(self, x_a: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.norm_in(self.conv_in(x_a))[0])  # ActNorm returns (y, logdet); the net needs y only
        h = torch.relu(self.norm_mid(self.conv_mid(h))[0])
        return self.conv_out(h)
