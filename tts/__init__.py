"""Text-to-speech models: `Tacotron2` (text -> mel) and the `tts.text` front end (text -> symbol ids);
`Synthesizer` (text -> audio: Festival or Tacotron2, then WaveGlow or the Griffin-Lim fallback).

`Tacotron2` and `Synthesizer` are imported on first use, so `import tts.text` does not pay for importing torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Tacotron2", "Synthesizer", "SynthesisError", "FrontendError"]

if TYPE_CHECKING:
    from tts.festival import FrontendError
    from tts.pipeline import SynthesisError, Synthesizer
    from tts.tacotron2 import Tacotron2


def __getattr__(name: str) -> Any:
    if name == "Tacotron2":
        from tts.tacotron2 import Tacotron2

        return Tacotron2
    if name in ("Synthesizer", "SynthesisError"):
        from tts import pipeline

        return getattr(pipeline, name)
    if name == "FrontendError":
        from tts.festival import FrontendError

        return FrontendError
    raise AttributeError(f"module 'tts' has no attribute {name!r}")
