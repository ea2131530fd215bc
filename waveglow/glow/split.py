"""Multi-scale split: factor out half the channels under a Gaussian prior predicted from the kept half."""
from __future__ import annotations

import torch
from torch import nn

from waveglow.flows.gaussian import DiagonalGaussian
from waveglow.flows.squeeze import split_channels
from waveglow.glow.zero_conv import ZeroConv2d


class Split(nn.Module):
    """x [B, C, H, W] -> kept [B, C // 2, H, W] and z [B, C - C // 2, H, W] with log p(z | kept) [B].

    The prior is N(mean, exp(log_std)^2) with [mean, log_std] = ZeroConv2d(kept) (channels: means first), so it
    starts as N(0, 1). This is not a bijection with a log-det but a change of what is modelled: the kept half
    flows on, the factored-out half is scored here.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.n_keep = channels // 2
        self.n_out = channels - self.n_keep
        self.prior = ZeroConv2d(self.n_keep, 2 * self.n_out)

    def prior_params(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of the factored-out half, each [B, n_out, H, W]."""
        h = self.prior(kept)
        return h[:, : self.n_out], h[:, self.n_out:]

    def prior_of(self, kept: torch.Tensor) -> DiagonalGaussian:
        """p(z | kept): the Gaussian of the factored-out half."""
        return DiagonalGaussian(*self.prior_params(kept))

    def forward(self, x: torch.Tensor):
        kept, z = split_channels(x, self.n_keep)
        return kept, z, self.prior_of(kept).log_prob(z)

    def inverse(self, kept: torch.Tensor, z: torch.Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Put z back next to `kept`; z=None draws it from the prior at `temperature`."""
        if z is None:
            z = self.prior_of(kept).sample(temperature, generator)
        return torch.cat([kept, z], 1)
