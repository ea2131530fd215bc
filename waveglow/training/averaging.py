"""An exponential moving average of the weights (Polyak averaging), kept beside the trained model.

With a small batch the weights keep jittering around where the loss is low; their average usually scores better on
held-out audio than any single one of them, at the cost of one more copy of the parameters and one fused lerp per
step. The average never feeds back into training: the raw
weights follow exactly the same path with or without it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """avg <- decay * avg + (1 - decay) * weights after each optimizer step; the first update copies the weights.

    Averages parameters only (in the training model's form, weight norm included); `model` is a full copy of the
    network holding the average, usable for evaluation and export.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        self.decay = decay
        self._averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
        self._averaged.requires_grad_(False)

    @property
    def model(self) -> torch.nn.Module:
        return self._averaged.module

    @property
    def updates(self) -> int:
        """Optimizer steps averaged so far (0: the average is not started and holds the weights it was made from)."""
        return int(self._averaged.n_averaged)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self._averaged.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues a saved average (its weights and count; the decay stays this object's)."""
        self.model.load_state_dict(state["model"])
        self._averaged.n_averaged.fill_(int(state["updates"]))
