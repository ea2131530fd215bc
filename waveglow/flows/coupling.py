"""Affine coupling (RealNVP/Glow/WaveGlow): half the channels predict a scale and shift for the other half."""
from __future__ import annotations

import torch
from torch import nn

from waveglow.flows.flow import Flow

SCALES = ("exp", "sigmoid", "additive")


class AffineCoupling(Flow):
    """x = [x_a, x_b] along channels (x_a: the first C // 2); y = [x_a, x_b * s + t].

    `net(x_a, cond)` returns [B, 2 * n_b, ...]: shift t in the first n_b channels, raw scale h in the rest
    (WaveGlow's order), or only t ([B, n_b, ...]) when `scale="additive"`.
      scale="exp":      s = exp(h), log s = h (WaveGlow)
      scale="sigmoid":  s = sigmoid(h + 2) (Glow; bounded, numerically gentle)
      scale="additive": s = 1 (NICE)
    logdet [B] = sum of log s over channels and positions.

    network_dtype (an argument of forward / inverse, never stored): the dtype the network runs in, e.g.
    torch.bfloat16 for fast inference; the affine arithmetic and the log-det stay in the input's dtype. None: the
    network runs in the input's dtype.
    """

    def __init__(self, net: nn.Module, scale: str = "exp"):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.net = net
        self.scale = scale

    def log_scale_and_shift(self, x_a: torch.Tensor, cond: torch.Tensor | None,
                            network_dtype: torch.dtype | None = None):
        """(log s or None for additive, t) for the second half, both [B, n_b, ...]."""
        dtype = network_dtype
        if dtype is None or dtype == x_a.dtype:
            h = self.net(x_a, cond)
        elif getattr(self.net, "casts_own_weights", False):  # e.g. WN: cached weights, no per-call casts
            h = self.net(x_a.to(dtype), None if cond is None else cond.to(dtype)).to(x_a.dtype)
        else:
            with torch.autocast(x_a.device.type, dtype=dtype):
                h = self.net(x_a, cond)
            h = h.to(x_a.dtype)
        if self.scale == "additive":
            return None, h
        n_b = h.shape[1] // 2
        shift, raw = h[:, :n_b], h[:, n_b:]
        if self.scale == "exp":
            return raw, shift
        return nn.functional.logsigmoid(raw + 2.0), shift

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, network_dtype: torch.dtype | None = None):
        n_a = x.shape[1] // 2
        x_a, x_b = x[:, :n_a], x[:, n_a:]
        log_s, shift = self.log_scale_and_shift(x_a, cond, network_dtype)
        if log_s is None:
            y_b = x_b + shift
            logdet = x.new_zeros(x.shape[0], dtype=torch.promote_types(x.dtype, torch.float32))
        else:
            y_b = torch.exp(log_s) * x_b + shift
            logdet = log_s.flatten(1).sum(1, dtype=torch.promote_types(log_s.dtype, torch.float32))
        return torch.cat([x_a, y_b], 1), logdet

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None,
                network_dtype: torch.dtype | None = None) -> torch.Tensor:
        n_a = y.shape[1] // 2
        y_a, y_b = y[:, :n_a], y[:, n_a:]
        log_s, shift = self.log_scale_and_shift(y_a, cond, network_dtype)
        if log_s is None:
            x_b = y_b - shift
        else:
            x_b = (y_b - shift) / torch.exp(log_s)
        return torch.cat([y_a, x_b], 1)
