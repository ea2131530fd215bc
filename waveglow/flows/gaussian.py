"""Diagonal Gaussians parametrised by (mean, log std): log-density per item, and sampling at a temperature."""
from __future__ import annotations

import math

import torch

_LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """sum over all but the batch dim of log N(z; mean, exp(log_std)^2). z, mean, log_std broadcast; -> [B]."""
    log_density = -0.5 * (_LOG_2PI + 2.0 * log_std + (z - mean) ** 2 * torch.exp(-2.0 * log_std))
    return log_density.flatten(1).sum(1)


def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """mean + temperature * exp(log_std) * eps, eps ~ N(0, 1): Glow's reduced-temperature sampling (std * T)."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + temperature * torch.exp(log_std) * eps
