"""Precompute the mel cache of a dataset (what `AudioMelDataset(cache_dir=...)` would otherwise fill lazily)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from waveglow.audio.features import MelSpectrogram, load_wav
from waveglow_data.ljspeech import Utterance, read_utterances
from waveglow_data.mel_cache import MelCache


@dataclass
class CacheReport:
    """What build_mel_cache did: clip ids computed now, and ids whose valid cached mel was kept."""

    cache_dir: Path
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def build_mel_cache(source: str | os.PathLike | Sequence[Utterance], cache_dir: str | os.PathLike,
                    mel: MelSpectrogram | None = None, resample: bool = False,
                    audio_root: str | os.PathLike | None = None, overwrite: bool = False,
                    progress: bool = False) -> CacheReport:
    """Write `<cache_dir>/<utt_id>.npy` for every clip of `source`.

    source: an LJSpeech directory, a filelist (relative paths against `audio_root`), or a list of Utterances.
    Existing valid entries are kept unless `overwrite`. Raises DataError (naming the file) on the first bad clip.
    """
    utterances = list(source) if not isinstance(source, (str, os.PathLike)) else \
        read_utterances(source, audio_root=audio_root)
    mel = (mel if mel is not None else MelSpectrogram()).cpu()
    cache = MelCache(cache_dir, mel)
    report = CacheReport(cache_dir=cache.directory)
    iterator = utterances
    if progress:
        from tqdm import tqdm

        iterator = tqdm(utterances, desc="mel cache", unit="clip")
    for utt in iterator:
        audio, _ = load_wav(utt.audio_path, sampling_rate=mel.sampling_rate, resample=resample)
        if not overwrite and cache.load(utt.utt_id, audio.shape[0]) is not None:
            report.reused.append(utt.utt_id)
            continue
        cache.store(utt.utt_id, cache.compute(audio, utt.audio_path))
        report.computed.append(utt.utt_id)
    return report
