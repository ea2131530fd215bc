"""Fixed channel permutations as flow layers (log-det 0), and the factory for Glow's four permutation kinds."""
from __future__ import annotations

import torch
from torch import nn

from waveglow.flows.flow import Flow, zero_logdet
from waveglow.flows.invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1

PERMUTATIONS = ("reverse", "shuffle", "conv1x1", "lu")


class ChannelPermutation(Flow):
    """y[:, i] = x[:, perm[i]] for x [B, C, *positions]; logdet [B] = 0 (a permutation has |det| = 1)."""

    def __init__(self, perm: torch.Tensor):
        super().__init__()
        perm = perm.to(torch.long)
        if not torch.equal(torch.sort(perm).values, torch.arange(len(perm))):
            raise ValueError("perm must be a permutation of 0..C-1")
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        return x[:, self.perm], zero_logdet(x)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return y[:, self.inverse_perm]


class ReversePermutation(ChannelPermutation):
    """Channels in reverse order (RealNVP / the Glow paper's 'reverse' baseline)."""

    def __init__(self, channels: int):
        super().__init__(torch.arange(channels - 1, -1, -1))


class ShufflePermutation(ChannelPermutation):
    """A fixed random channel order, drawn once at construction and stored as a buffer (so checkpoints keep it)."""

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__(torch.randperm(channels, generator=generator))


def make_permutation(kind: str, channels: int, generator: torch.Generator | None = None) -> nn.Module:
    """The flow layer for `kind` in PERMUTATIONS; `generator` draws the shuffle order or the initial rotation."""
    if kind == "reverse":
        return ReversePermutation(channels)
    if kind == "shuffle":
        return ShufflePermutation(channels, generator)
    if kind == "conv1x1":
        return InvertibleConv1x1(channels, generator)
    if kind == "lu":
        return LUInvertibleConv1x1(channels, generator)
    raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {kind!r}")
