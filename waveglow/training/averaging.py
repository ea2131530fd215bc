"""An exponential moving average of the weights (Polyak averaging), kept beside the trained model.

With a small batch the weights keep jittering around where the loss is low; their average usually scores better on
held-out audio than any single one of them, at the cost of one more copy of the parameters and one fused lerp per
step. The average never feeds back into training: the raw weights follow exactly the same path with or without it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay applied at the update after `updates` earlier ones: min(decay, (1 + n) / (10 + n)).

    A fixed 0.999 from the first step would keep 13 % of the untrained start in the average after 2,000 steps; the
    warm-up (the schedule of TensorFlow's ExponentialMovingAverage with num_updates) averages over a window that grows
    with the run until it reaches 1 / (1 - decay) steps (n ~ 9,000 for 0.999).
    """
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """avg <- d * avg + (1 - d) * weights after each optimizer step, d = warmed_up_decay(decay, updates so far);
    the first update copies the weights.

    Averages parameters only (in the training model's form, weight norm included); `model` is a full copy of the
    network holding the average, usable for evaluation and export.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        self.decay = decay
        self._averaged = AveragedModel(model, multi_avg_fn=self._lerp, use_buffers=False)
        self._averaged.requires_grad_(False)
        self._updates = 0  # host-side copy of n_averaged: the warm-up decay needs no read from the device

    def _lerp(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _n_averaged) -> None:
        # Only ever called after the first (copying) update; all our parameters are floating point.
        torch._foreach_lerp_(averaged, current, 1.0 - warmed_up_decay(self.decay, self._updates))

    @property
    def model(self) -> torch.nn.Module:
        return self._averaged.module

    @property
    def updates(self) -> int:
        """Optimizer steps averaged so far (0: the average is not started and holds the weights it was made from)."""
        return self._updates

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self._averaged.update_parameters(model)
        self._updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues a saved average (its weights and count; the decay stays this object's)."""
        self.model.load_state_dict(state["model"])
        self._updates = int(state["updates"])
        self._averaged.n_averaged.fill_(self._updates)
