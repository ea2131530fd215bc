"""Discrete images <-> the continuous, centred inputs of the flow, and the bits/dim of a discrete image.

Convention (Glow, Kingma & Dhariwal 2018; Theis et al. 2016 for the bound):
  an image with K = n_bins levels per value is given in [0, 1] as x = k / (K - 1), k in {0, ..., K - 1};
  the flow sees u = (k + noise) / K - 0.5 with noise ~ U[0, 1) per value  (uniform dequantisation, centred on 0:
  the -0.5 shift only moves the density and has Jacobian 1);
  bits/dim = (-log p(u) + D log K) / (D log 2), D = C * H * W.
Each bin of width 1/K in u holds one discrete value, so p(u) (1/K)^D is the probability mass of that value under
the dequantised density, and E_noise[bits/dim] is an upper bound on -log2 P(k) / D. For K = 2^n_bits the D log K
term is Glow's `-log(n_bins) * D` objective offset.
"""
from __future__ import annotations

import math

import torch

from waveglow.flows.gaussian import LN2


def n_bins_for_bits(n_bits: int) -> int:
    """2^n_bits levels per value."""
    return 2 ** int(n_bits)


def to_levels(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Image in [0, 1] (values k / (n_bins - 1)) -> integer levels k as float, rounded and clamped."""
    return torch.clamp(torch.round(x * (n_bins - 1)), 0, n_bins - 1)


def dequantize(x: torch.Tensor, n_bins: int, generator: torch.Generator | None = None,
               noise: str = "uniform") -> torch.Tensor:
    """Image in [0, 1] -> flow input (k + noise) / n_bins - 0.5 in [-0.5, 0.5).

    noise="uniform" draws U[0, 1) per value (training, bits/dim); noise="center" uses 0.5 (deterministic
    encoding of a given image for interpolation and manipulation).
    """
    levels = to_levels(x, n_bins)
    if noise == "uniform":
        offset = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    elif noise == "center":
        offset = torch.full_like(x, 0.5)
    else:
        raise ValueError(f"noise must be 'uniform' or 'center', got {noise!r}")
    return (levels + offset) / n_bins - 0.5


def to_image(u: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Flow output -> image in [0, 1] on the n_bins grid (the bin that u falls in, clamped to the valid range)."""
    levels = torch.clamp(torch.floor((u + 0.5) * n_bins), 0, n_bins - 1)
    return levels / (n_bins - 1)


def bits_per_dim_from_log_density(log_density: torch.Tensor, dims: int, n_bins: int) -> torch.Tensor:
    """bits/dim [B] of discrete images from log p(u) [B] of their dequantised, centred versions."""
    return (-log_density + dims * math.log(n_bins)) / (dims * LN2)
