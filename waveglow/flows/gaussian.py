"""The Gaussian base distributions of the flows, as objects in nflows' style (`log_prob(z) -> [B]`, `sample`): the
one place the Gaussian log-density, a flow's Gaussian negative log-likelihood and temperature sampling are written.

    DiagonalGaussian(mean, log_std)  N(mean, exp(log_std)^2) per element: Glow's split and top priors
    StandardNormal(sigma)            N(0, sigma^2 I): WaveGlow's prior (sigma: the training sigma)
    LN2                              nats per bit (bits = nats / LN2)

A flow's negative log-likelihood of x with z, logdet = flow(x) is -log p(z) - logdet; `StandardNormal.nll` writes
it in NVIDIA's arrangement, sum z^2 / (2 sigma^2) [+ constant] - sum logdet, so WaveGlow's training loss (which
leaves the constant out) keeps NVIDIA's value to the last bit.
"""
from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)
LN2 = math.log(2)


class DiagonalGaussian:
    """N(mean, exp(log_std)^2) independently per element; mean and log_std broadcast against z ([B, ...])."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.mean, self.log_std = mean, log_std

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Sum over all but the batch dim of log N(z; mean, exp(log_std)^2) -> [B]."""
        log_density = -0.5 * (LOG_2PI + 2.0 * self.log_std + (z - self.mean) ** 2 * torch.exp(-2.0 * self.log_std))
        return log_density.flatten(1).sum(1)

    def sample(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + temperature * exp(log_std) * eps, eps ~ N(0, 1), of mean's shape: Glow's reduced-temperature
        sampling (the std times T)."""
        mean = self.mean
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + temperature * torch.exp(self.log_std) * eps


class StandardNormal:
    """N(0, sigma^2 I) over all but the batch dim; sigma=1 is the standard normal."""

    def __init__(self, sigma: float = 1.0):
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def log_normalizer(self, n: int = 1) -> float:
        """n * 0.5 log(2 pi sigma^2): the constant nats of n dimensions (what NVIDIA's loss leaves out)."""
        return n * 0.5 * math.log(2 * math.pi * self.sigma**2)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Sum over all but the batch dim of log N(z; 0, sigma^2) -> [B]."""
        log_std = torch.tensor(math.log(self.sigma), dtype=z.dtype, device=z.device)
        return DiagonalGaussian(torch.zeros((), dtype=z.dtype, device=z.device), log_std).log_prob(z)

    def nll(self, z: torch.Tensor, logdet: torch.Tensor, constant: bool = True,
            dtype: torch.dtype | None = None) -> torch.Tensor:
        """The flow's negative log-likelihood of the whole batch in nats, -sum log p(z) - sum logdet (a scalar),
        as sum z^2 / (2 sigma^2) [+ log_normalizer(z.numel())] - sum logdet. dtype: z is reduced in it (logdet
        in it or wider); None: z's. constant=False is NVIDIA's WaveGlowLoss numerator."""
        if dtype is not None:
            z, logdet = z.to(dtype), logdet.to(torch.promote_types(logdet.dtype, dtype))
        nats = z.pow(2).sum() / (2 * self.sigma**2)
        if constant:
            nats = nats + self.log_normalizer(z.numel())
        return nats - logdet.sum()

    def sample(self, shape, temperature: float = 1.0, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """z of `shape` with std temperature * sigma (temperature < 1: Glow's / WaveGlow's reduced-noise sampling)."""
        eps = torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)
        return (temperature * self.sigma) * eps
