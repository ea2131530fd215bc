"""Text-to-speech models: `Tacotron2` (text -> mel) and the `tts.text` front end (text -> symbol ids).

`Tacotron2` is imported on first use, so `import tts.text` does not pay for importing torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Tacotron2"]

if TYPE_CHECKING:
    from .tacotron2 import Tacotron2


def __getattr__(name: str) -> Any:
    if name == "Tacotron2":
        from .tacotron2 import Tacotron2

        return Tacotron2
    raise AttributeError(f"module 'tts' has no attribute {name!r}")
