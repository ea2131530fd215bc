"""WaveGlow vocoder and Glow image flows on one flow core.

    from waveglow import WaveGlow, CheckpointError
    model = WaveGlow.from_pretrained("waveglow_256channels_universal_v5.pt")
    audio = model.infer(mel, sigma=0.666)
"""
from .actnorm import ActNorm
from .config import ConfigError, WaveGlowConfig
from .denoiser import Denoiser
from .coupling import AffineCoupling
from .flow import FlowSequential
from .invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1
from .model import WaveGlow, WaveGlowLoss
from .safe_pickle import CheckpointError
from .squeeze import GroupSamples, Squeeze2d
from .wavenet import WN
from .vocode import vocode  # the function; `from waveglow.vocode import get_vocoder` still reaches the module

__version__ = "0.1.0"

__all__ = [
    "ActNorm", "AffineCoupling", "CheckpointError", "ConfigError", "Denoiser", "FlowSequential", "GroupSamples",
    "InvertibleConv1x1", "LUInvertibleConv1x1", "Squeeze2d", "WN", "WaveGlow", "WaveGlowConfig", "WaveGlowLoss",
    "vocode",
]
