"""Building blocks shared by the Tacotron2 modules.

`LinearNorm` and `ConvNorm` wrap `nn.Linear` / `nn.Conv1d` under the attribute names NVIDIA uses
(`linear_layer`, `conv`), so state_dict keys match NVIDIA checkpoints, and apply Xavier-uniform init with the
gain of the non-linearity that follows them.
"""
from __future__ import annotations

import torch
from torch import nn


class LinearNorm(nn.Module):
    """`nn.Linear` stored as `.linear_layer`; x [..., in_dim] -> [..., out_dim]."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """`nn.Conv1d` with "same" padding stored as `.conv`; x [B, in_channels, T] -> [B, out_channels, T].

    Only odd kernel sizes keep the length T (padding is (kernel_size - 1) / 2 on each side).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, bias: bool = True,
                 w_init_gain: str = "linear"):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvNorm needs an odd kernel size to keep the length, got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=bias)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ConvBatchNorm(nn.Sequential):
    """ConvNorm followed by BatchNorm1d, as `nn.Sequential` so the keys are `.0.conv.*` and `.1.*`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_init_gain: str):
        super().__init__(ConvNorm(in_channels, out_channels, kernel_size, w_init_gain=w_init_gain),
                         nn.BatchNorm1d(out_channels))


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool mask [B, max_len], True at valid positions (index < length)."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)
