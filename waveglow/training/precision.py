"""Mixed precision: torch.amp autocast (bf16 / fp16) and, for fp16, a GradScaler against gradient underflow."""
from __future__ import annotations

import contextlib

import torch

from waveglow.common.errors import ConfigError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """fp32: no autocast. bf16: autocast on CPU or CUDA. fp16: autocast + loss scaling, CUDA only (CPU fp16
    kernels are slow and partial). Parameters and optimizer state stay float32 in every mode."""

    def __init__(self, name: str, device: torch.device):
        if name not in ("fp32", *_DTYPES):
            raise ConfigError(f"precision must be fp32, bf16 or fp16, got {name!r}")
        if name == "fp16" and device.type != "cuda":
            raise ConfigError("precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
        self.name = name
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    @property
    def uses_scaler(self) -> bool:
        return self.scaler.is_enabled()

    def autocast(self):
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_DTYPES[self.name])
