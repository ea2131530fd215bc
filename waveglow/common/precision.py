"""Which precision inference runs in: the one owner of 'auto' (fast where the hardware has native bf16).

'auto' is bf16 on a CUDA device that supports it and on a CPU with native bf16 arithmetic (AVX512-BF16 or AMX, as
torch reports it), fp32 elsewhere. On CPUs without it bf16 is emulated: measured here 5-35x slower than fp32 (the
small config's infer at RTF 2.46 vs 0.071 on an AVX2 machine), so an explicit bf16 there runs but warns once.
"""
from __future__ import annotations

import warnings

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
CHOICES = ("auto", *PRECISIONS)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

_warned: set[str] = set()


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` does bf16 arithmetic in hardware (CUDA: compute capability 8.0+; CPU: AVX512-BF16 / AMX)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(probe() for probe in probes if probe is not None)
    return False


def network_dtype(precision: str | None) -> torch.dtype | None:
    """'fp32' | 'bf16' | 'fp16' (None: fp32) -> the dtype coupling networks run in; None for fp32 (their input's).
    Passed down as an argument (`AffineCoupling(..., network_dtype=)`): no layer stores it."""
    if precision is None or precision == "fp32":
        return None
    if precision not in DTYPES:
        raise ValueError(f"precision must be one of {sorted(DTYPES)}, got {precision!r}")
    return DTYPES[precision]


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """'auto' | 'fp32' | 'bf16' | 'fp16' -> the precision to run on `device` ('auto' resolved; the rest unchanged).
    An explicit bf16 on a CPU without native bf16 warns once per process."""
    if precision not in CHOICES:
        raise ValueError(f"precision must be one of {', '.join(CHOICES)}, got {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and device.type == "cpu" and not native_bf16(device) and "cpu-bf16" not in _warned:
        _warned.add("cpu-bf16")
        warnings.warn("bf16 on a CPU without native bf16 (no AVX512-BF16 / AMX) is emulated: 5-35x slower than "
                      "fp32 here; --precision auto picks fp32 on this machine", RuntimeWarning, stacklevel=2)
    return precision
