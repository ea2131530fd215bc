"""Which clips a run trains on and which it scores: the fixed held-out rule, never trained on."""
from __future__ import annotations

import os
from dataclasses import dataclass

from waveglow.common.errors import DataError
from waveglow_data.ljspeech import Utterance, read_utterances
from waveglow_data.splits import is_held_out


@dataclass(frozen=True)
class RunData:
    """train: clips outside the held-out set; held_out: LJ050-* and LJ002-0181..0200 present in the source."""

    train: list[Utterance]
    held_out: list[Utterance]

    @classmethod
    def read(cls, source: str | os.PathLike) -> "RunData":
        """An LJSpeech directory or a filelist (see waveglow_data.read_utterances)."""
        utterances = read_utterances(source)
        train = [u for u in utterances if not is_held_out(u.utt_id)]
        held_out = [u for u in utterances if is_held_out(u.utt_id)]
        if not train:
            raise DataError(f"{source}: no training clips (all {len(utterances)} are held out)")
        return cls(train=train, held_out=held_out)
