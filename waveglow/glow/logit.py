"""The logit pre-processing flow of RealNVP (Dinh et al. 2017), for bounded, dequantised pixel data."""
from __future__ import annotations

import math

import torch

from waveglow.flows.flow import Flow


class LogitTransform(Flow):
    """u in [-0.5, 0.5) (centred, dequantised pixels) -> logit(s), s = alpha + (1 - 2 alpha)(u + 0.5).

    x: [B, ...] -> same shape; logdet [B] = sum of log(1 - 2 alpha) - log s - log(1 - s).
    Why: a flow on raw pixels must put density outside the data's box [-0.5, 0.5) (a Gaussian prior pushed
    through smooth maps has unbounded support) and cannot form the sharp box edges of the many saturated pixels
    (all-black backgrounds). The logit maps the box onto the real line, so no mass is wasted outside it; alpha
    keeps the edges finite. Same density bookkeeping as any flow layer: bits/dim stay on the pixel scale.
    """

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        s = self.alpha + (1.0 - 2.0 * self.alpha) * (x + 0.5)
        y = torch.log(s) - torch.log1p(-s)
        log_jac = math.log(1.0 - 2.0 * self.alpha) - torch.log(s) - torch.log1p(-s)
        return y, log_jac.flatten(1).sum(1, dtype=torch.promote_types(x.dtype, torch.float32))

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha) - 0.5

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
