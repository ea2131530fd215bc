"""WaveGlow vocoder and Glow image flows on one flow core.

    from waveglow import WaveGlow, CheckpointError
    model = WaveGlow.from_pretrained("waveglow_256channels_universal_v5.pt")
    audio = model.infer(mel, sigma=0.666)

The names below are imported on first use (PEP 562), so `import waveglow` (and `waveglow --help`) import neither
torch nor any room of the package. Rooms and their one-way dependencies: docs/architecture.md.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that owns it
_EXPORTS = {
    "ActNorm": "waveglow.flows.actnorm",
    "AffineCoupling": "waveglow.flows.coupling",
    "Flow": "waveglow.flows.flow",
    "FlowSequential": "waveglow.flows.flow",
    "InvertibleConv1x1": "waveglow.flows.invertible_conv",
    "LUInvertibleConv1x1": "waveglow.flows.invertible_conv",
    "GroupSamples": "waveglow.flows.squeeze",
    "Squeeze2d": "waveglow.flows.squeeze",
    "CheckpointError": "waveglow.common.errors",
    "ConfigError": "waveglow.common.errors",
    "ToolkitError": "waveglow.common.errors",
    "WaveGlowConfig": "waveglow.vocoder.config",
    "Denoiser": "waveglow.vocoder.denoiser",
    "WaveGlow": "waveglow.vocoder.model",
    "WaveGlowLoss": "waveglow.vocoder.model",
    "WN": "waveglow.vocoder.wavenet",
    "vocode": "waveglow.vocoder.inference",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from waveglow.common.errors import CheckpointError, ConfigError, ToolkitError
    from waveglow.flows.actnorm import ActNorm
    from waveglow.flows.coupling import AffineCoupling
    from waveglow.flows.flow import Flow, FlowSequential
    from waveglow.flows.invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1
    from waveglow.flows.squeeze import GroupSamples, Squeeze2d
    from waveglow.vocoder.config import WaveGlowConfig
    from waveglow.vocoder.denoiser import Denoiser
    from waveglow.vocoder.inference import vocode
    from waveglow.vocoder.model import WaveGlow, WaveGlowLoss
    from waveglow.vocoder.wavenet import WN


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'waveglow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
