"""Invertible 1x1 convolutions (Glow, Kingma & Dhariwal 2018): a learned channel mixing at every position."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from waveglow.flows.flow import Flow, zero_logdet


def random_rotation(channels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random orthogonal [C, C] matrix with determinant +1 (so log|det| starts at 0 and slogdet's sign is +)."""
    q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _mix_channels(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """y[:, i] = sum_j weight[i, j] x[:, j] for x [B, C, *positions] (any number of position dims)."""
    batch, channels = x.shape[:2]
    # Under mixed-precision training autocast would round the signal itself to bf16/fp16 at every flow; the flow
    # path stays in x's dtype (only the coupling networks, where the FLOPs are, run in the reduced dtype).
    with torch.autocast(x.device.type, enabled=False):
        y = F.conv1d(x.reshape(batch, channels, -1), weight.to(x.dtype).unsqueeze(-1))
    return y.reshape(batch, weight.shape[0], *x.shape[2:])


def _positions(x: torch.Tensor) -> int:
    n = 1
    for size in x.shape[2:]:
        n *= size
    return n


def _logdet_dtype(weight: torch.Tensor) -> torch.dtype:
    # Determinants of fp16/bf16 matrices are too coarse; float64 stays float64 for exactness tests.
    return torch.promote_types(weight.dtype, torch.float32)


class InvertibleConv1x1(Flow):
    """y = W x at every position. x: [B, C, *positions]; logdet [B] = positions * log|det W|.

    `weight` is the plain [C, C] matrix (NVIDIA WaveGlow's `convinv.k.conv.weight` without the trailing 1).
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__()
        self.weight = nn.Parameter(random_rotation(channels, generator))

    def matrix(self) -> torch.Tensor:
        return self.weight

    def log_abs_det(self) -> torch.Tensor:
        w = self.matrix()
        return torch.linalg.slogdet(w.to(_logdet_dtype(w)))[1]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        logdet = zero_logdet(x) + _positions(x) * self.log_abs_det()
        return _mix_channels(x, self.matrix()), logdet

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        w = self.matrix()
        # Invert in at least float32 (as NVIDIA does for fp16 inference), then mix in y's dtype.
        return _mix_channels(y, torch.linalg.inv(w.to(_logdet_dtype(w))))


class LUInvertibleConv1x1(InvertibleConv1x1):
    """1x1 convolution with W = P L (U + diag(sign * exp(log_scale))) (Glow's LU form).

    P is a fixed permutation, L unit lower-triangular, U strictly upper-triangular: log|det W| = sum(log_scale),
    an O(C) computation instead of O(C^3).
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        nn.Module.__init__(self)
        p, lower, upper = torch.linalg.lu(random_rotation(channels, generator))
        diag = torch.diagonal(upper)
        self.register_buffer("permutation", p)
        self.register_buffer("sign", torch.sign(diag))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_scale = nn.Parameter(torch.log(torch.abs(diag)))

    def matrix(self) -> torch.Tensor:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_scale))
        return self.permutation @ lower @ upper

    def log_abs_det(self) -> torch.Tensor:
        return self.log_scale.to(_logdet_dtype(self.log_scale)).sum()
