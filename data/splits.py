"""The train / validation split.

Held-out rule (fixed, not configurable, so that no model of this project is ever trained on evaluation clips):
    every LJ050-* clip, and LJ002-0181 ... LJ002-0200 (inclusive)
are held out: they go to validation/test and never to training, whatever the seed or fraction.

On top of that, `split(..., val_fraction=f)` moves roughly a fraction f of the other clips to validation. The
choice is a hash of (seed, clip id), so it depends on nothing else: not on the order of the list, nor on which
other clips are present. Adding clips to a dataset never moves an existing clip between train and validation.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

from waveglow_data.ljspeech import Utterance

_LJ_ID = re.compile(r"^LJ(\d{3})-(\d{4})$")
HELD_OUT_CHAPTER = 50                 # LJ050-*
HELD_OUT_RANGE = (2, 181, 200)        # LJ002-0181 ... LJ002-0200 (chapter, first, last)


def is_held_out(utt_id: str) -> bool:
    """True if this clip id must never be trained on (LJ050-*, LJ002-0181..LJ002-0200). Non-LJ ids: False."""
    match = _LJ_ID.match(utt_id.strip())
    if match is None:
        return False
    chapter, number = int(match.group(1)), int(match.group(2))
    held_chapter, first, last = HELD_OUT_RANGE
    return chapter == HELD_OUT_CHAPTER or (chapter == held_chapter and first <= number <= last)


def _unit_hash(seed: int, utt_id: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, id); stable across runs, platforms and Python versions."""
    digest = hashlib.sha256(f"{seed}:{utt_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


@dataclass(frozen=True)
class DataSplit:
    """train: clips to train on; val: every held-out clip plus the hashed validation share. Input order kept."""

    train: list[Utterance]
    val: list[Utterance]


def split(utterances: Sequence[Utterance], val_fraction: float = 0.0, seed: int = 0) -> DataSplit:
    """Deterministic train/val split honouring the held-out rule (see module docstring)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for utt in utterances:
        if is_held_out(utt.utt_id) or _unit_hash(seed, utt.utt_id) < val_fraction:
            val.append(utt)
        else:
            train.append(utt)
    return DataSplit(train=train, val=val)
