"""WaveGlow training examples: random fixed-length audio segments with their log-mels (NVIDIA's Mel2Samp).

Each item is (mel [n_mels, segment_length // hop + 1], audio [segment_length]), float32, audio in [-1, 1]
(= int16 / 32768). A clip longer than a segment gives a random window of it; a shorter clip is zero-padded at
the end to `segment_length`, as Mel2Samp does.

Where the mel comes from:
  * no cache (default): the mel of the segment itself, reflect-padded at the segment edges, the segment start
    any sample. Identical to Mel2Samp.
  * `cache_dir`: the whole-clip mel is computed once and stored (see waveglow_data.mel_cache); the segment starts on a
    multiple of hop_length so that its frames are exactly frames k .. k + segment_length // hop of the clip's
    mel. Differences from the no-cache mode: the first and last ~2 frames see the real neighbouring audio instead
    of a reflection, and starts are hop-aligned. Clips shorter than a segment are still computed directly from
    the zero-padded segment (one segment of work, and the same numbers as the no-cache mode).

With `excitation=True` each item also carries the segment's sine excitation [2, segment_length] (waveglow.audio.excitation:
pYIN F0 of the whole clip, computed once per clip and kept in `f0_cache_dir` when given, its phase aligned to the
recording), for a WaveGlow with config.excitation_channels.

Randomness: the segment start of item `index` is drawn from a generator seeded by (seed, epoch, index) only, so a
run resumed at epoch e sees exactly the segments the uninterrupted run would have seen, whatever the number of
DataLoader workers or the order the sampler asks for items. Call `set_epoch(epoch)` before each epoch (like
DistributedSampler.set_epoch); with `persistent_workers=True` the workers keep the epoch they started with, so
leave persistent workers off or the segments repeat every epoch.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from waveglow.audio.excitation import alignment_reach, excitation as sine_excitation, f0_track
from waveglow.audio.features import MelSpectrogram, load_wav
from waveglow.common.errors import DataError
from waveglow_data.ljspeech import Utterance
from waveglow_data.mel_cache import MelCache


class AudioMelDataset(torch.utils.data.Dataset):
    """(mel, audio) training segments of `utterances`; see the module docstring for caching and seeding."""

    def __init__(self, utterances: Sequence[Utterance], segment_length: int = 16000,
                 mel: MelSpectrogram | None = None, seed: int = 0, cache_dir: str | os.PathLike | None = None,
                 resample: bool = False, excitation: bool = False,
                 f0_cache_dir: str | os.PathLike | None = None, excitation_harmonics: int = 1):
        self.utterances = list(utterances)
        if not self.utterances:
            raise DataError("no utterances given to AudioMelDataset (empty metadata or filelist?)")
        self.mel = (mel if mel is not None else MelSpectrogram()).cpu()
        if segment_length <= self.mel.n_fft // 2:
            raise ValueError(f"segment_length must exceed n_fft // 2 = {self.mel.n_fft // 2}, got {segment_length}")
        self.segment_length = int(segment_length)
        self.seed = int(seed)
        self.epoch = 0
        self.resample = resample
        self.cache = MelCache(cache_dir, self.mel) if cache_dir is not None else None
        self.excitation = excitation
        self.excitation_harmonics = int(excitation_harmonics)  # K > 1: each harmonic's own phase, [2K, T]
        self.f0_cache_dir = None if f0_cache_dir is None else os.fspath(f0_cache_dir)
        self._f0: dict[str, np.ndarray] = {}

    @property
    def mel_frames(self) -> int:
        """Frames per item: segment_length // hop_length + 1."""
        return self.mel.num_frames(self.segment_length)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.utterances)

    def segment_start(self, index: int, n_samples: int) -> int:
        """First sample of item `index`'s segment in a clip of `n_samples`; 0 if the clip is not longer."""
        room = n_samples - self.segment_length
        if room <= 0:
            return 0
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.cache is None:
            return int(rng.integers(0, room + 1))
        hop = self.mel.hop_length
        return hop * int(rng.integers(0, room // hop + 1))  # hop-aligned, so cached frames line up

    def load_audio(self, utt: Utterance) -> np.ndarray:
        """The whole clip, float32 [T] in [-1, 1] at the mel's rate (DataError naming the file otherwise)."""
        audio, _ = load_wav(utt.audio_path, sampling_rate=self.mel.sampling_rate, resample=self.resample)
        return audio

    def clip_f0(self, utt: Utterance, audio: np.ndarray) -> np.ndarray:
        """pYIN F0 [frames] (Hz, 0 unvoiced) of the whole clip, one frame per hop; cached in memory and on disk."""
        f0 = self._f0.get(utt.utt_id)
        if f0 is not None:
            return f0
        path = None if self.f0_cache_dir is None else os.path.join(self.f0_cache_dir, f"{utt.utt_id}.f0.npy")
        if path is not None and os.path.exists(path):
            f0 = np.load(path, allow_pickle=False)  # our own cache, written below
        else:
            f0 = f0_track(audio, self.mel.sampling_rate, self.mel.hop_length)
            if path is not None:
                os.makedirs(self.f0_cache_dir, exist_ok=True)
                temporary = f"{path}.{os.getpid()}.tmp.npy"
                np.save(temporary, f0)
                os.replace(temporary, path)
        self._f0[utt.utt_id] = f0
        return f0

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        utt = self.utterances[index]
        audio = self.load_audio(utt)
        start = self.segment_start(index, audio.shape[0])
        segment = audio[start:start + self.segment_length]
        if segment.shape[0] < self.segment_length:
            segment = np.pad(segment, (0, self.segment_length - segment.shape[0]))
        segment = torch.from_numpy(np.ascontiguousarray(segment, dtype=np.float32))

        if self.cache is not None and audio.shape[0] >= self.segment_length:
            first = start // self.mel.hop_length
            clip_mel = self.cache.get(utt.utt_id, audio, utt.audio_path)
            mel = torch.from_numpy(np.array(clip_mel[:, first:first + self.mel_frames], dtype=np.float32))
        else:
            with torch.no_grad():
                mel = self.mel(segment)
        if not self.excitation:
            return mel, segment
        clip = audio if audio.shape[0] >= start + self.segment_length else np.pad(
            audio, (0, start + self.segment_length - audio.shape[0]))
        # only the segment and the low-pass's reach around it: on the segment, the values of the whole clip's
        reach = alignment_reach(self.mel.sampling_rate)
        lo, hi = max(0, start - reach), min(clip.shape[0], start + self.segment_length + reach)
        stretch = sine_excitation(self.clip_f0(utt, audio), hi - lo, self.mel.hop_length, self.mel.sampling_rate,
                                  audio=clip[lo:hi], first_sample=lo, harmonics=self.excitation_harmonics)
        stretch = stretch[:, start - lo:start - lo + self.segment_length]
        return mel, segment, torch.from_numpy(np.ascontiguousarray(stretch))
