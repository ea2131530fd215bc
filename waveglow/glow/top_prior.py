"""The prior of the top (last) latent: learned, optionally class-conditional, with Glow's classification head."""
from __future__ import annotations

import math

import torch
from torch import nn

from waveglow.flows.gaussian import DiagonalGaussian
from waveglow.glow.zero_conv import ZeroLinear


class TopPrior(nn.Module):
    """N(mean, exp(log_std)^2) over the top latent z [B, C, H, W].

    learn_top: a free [2C, H, W] table of (mean, log std), zero-initialised (so it starts as N(0, 1)).
    n_classes > 0: a zero-initialised linear map one-hot(y) -> [2C, H, W] is added (a learned mean and log std
    per class and position). With y=None a class-conditional prior scores z under the uniform mixture over
    classes, log p(z) = logsumexp_y log p(z | y) - log n_classes, so bits/dim without labels stay a density.
    The classification head predicts y from the spatial mean of z (Glow paper, section 5): [B, C] -> [B, classes].
    """

    def __init__(self, channels: int, height: int, width: int, learn_top: bool = True, n_classes: int = 0):
        super().__init__()
        self.shape = (channels, height, width)
        self.n_classes = n_classes
        self.table = nn.Parameter(torch.zeros(2 * channels, height, width)) if learn_top else None
        if n_classes > 0:
            self.class_embedding = ZeroLinear(n_classes, 2 * channels * height * width)
            self.class_head = ZeroLinear(channels, n_classes)

    def params(self, y: torch.Tensor | None, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std), each [B, C, H, W]; y: [B] class indices or None (then no class term)."""
        c, h, w = self.shape
        out = like.new_zeros(batch, 2 * c, h, w)
        if self.table is not None:
            out = out + self.table.to(like.dtype)
        if y is not None:
            if self.n_classes == 0:
                raise ValueError("this prior is unconditional; pass y=None")
            one_hot = nn.functional.one_hot(y.long(), self.n_classes).to(like.dtype)
            out = out + self.class_embedding(one_hot).view(batch, 2 * c, h, w)
        return out[:, :c], out[:, c:]

    def distribution(self, y: torch.Tensor | None, batch: int, like: torch.Tensor) -> DiagonalGaussian:
        """p(z | y) (no class term for y=None) as a DiagonalGaussian of [B, C, H, W]."""
        return DiagonalGaussian(*self.params(y, batch, like))

    def log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z | y) [B]; for a class-conditional prior with y=None, log of the uniform class mixture."""
        batch = z.shape[0]
        if y is not None or self.n_classes == 0:
            return self.distribution(y, batch, z).log_prob(z)
        per_class = []
        for k in range(self.n_classes):
            y_k = torch.full((batch,), k, dtype=torch.long, device=z.device)
            per_class.append(self.distribution(y_k, batch, z).log_prob(z))
        return torch.logsumexp(torch.stack(per_class, 1), 1) - math.log(self.n_classes)

    def sample(self, batch: int, like: torch.Tensor, y: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """z [B, C, H, W] at `temperature`; a class-conditional prior with y=None draws y uniformly first."""
        if y is None and self.n_classes > 0:
            y = torch.randint(self.n_classes, (batch,), generator=generator, device=like.device)
        return self.distribution(y, batch, like).sample(temperature, generator)

    def class_logits(self, z: torch.Tensor) -> torch.Tensor:
        """[B, n_classes] logits of y from the spatial mean of the top latent z [B, C, H, W]."""
        if self.n_classes == 0:
            raise ValueError("this prior has no classification head (n_classes=0)")
        return self.class_head(z.mean(dim=(2, 3)))
