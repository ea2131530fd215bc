"""The contract every flow layer follows (the `Flow` base class), and their composition.

A flow layer is a `Flow` (an `nn.Module`) with
    forward(x, cond=None) -> (y, logdet)   logdet: [B], log|det dy/dx| of each batch item
    inverse(y, cond=None) -> x             exact inverse of forward for the same cond
Layers that need no conditioning accept and ignore `cond`; a layer may take further keyword arguments of its own
(AffineCoupling's network_dtype).
"""
from __future__ import annotations

import abc

import torch
from torch import nn


def zero_logdet(x: torch.Tensor) -> torch.Tensor:
    """A [B] zero log-det in at least float32, whatever the activation dtype."""
    return x.new_zeros(x.shape[0], dtype=torch.promote_types(x.dtype, torch.float32))


class Flow(nn.Module, metaclass=abc.ABCMeta):
    """A bijection x <-> y with a per-item log|det| (the contract above); subclasses define both directions."""

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (y, logdet [B])."""

    @abc.abstractmethod
    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """y -> x, exactly undoing `forward` for the same cond."""


class FlowSequential(Flow, nn.Sequential):
    """Layers applied in order; forward sums their log-dets, inverse runs them backwards."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        logdet = zero_logdet(x)
        for layer in self:
            x, layer_logdet = layer(x, cond)
            logdet = logdet + layer_logdet
        return x, logdet

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        for layer in reversed(self):
            y = layer.inverse(y, cond)
        return y
