"""Data pipeline: LJSpeech / filelist reading, the held-out split, audio+mel training segments, a mel cache, images.

Modules (one idea each):
  ljspeech   Utterance; read LJSpeech metadata.csv and NVIDIA `path|text` filelists; write filelists
  splits     the fixed held-out rule (is_held_out) and the deterministic train/val split
  mel_cache  per-clip .npy mel cache (written atomically)
  dataset    AudioMelDataset: random fixed-length (mel, audio) training segments
  prepare    build_mel_cache: precompute the cache for a dataset directory
  images     image datasets for the image Glow (sklearn digits, MNIST, Fashion-MNIST)

Every problem with the user's files raises `DataError` (waveglow.common.errors).
"""
from waveglow.common.errors import DataError
from waveglow_data.dataset import AudioMelDataset
from waveglow_data.ljspeech import Utterance, read_filelist, read_ljspeech, read_utterances, write_filelist
from waveglow_data.mel_cache import MelCache
from waveglow_data.prepare import build_mel_cache
from waveglow_data.splits import DataSplit, is_held_out, split

__all__ = ["DataError", "Utterance", "read_ljspeech", "read_filelist", "read_utterances", "write_filelist",
           "DataSplit", "is_held_out", "split", "AudioMelDataset", "MelCache", "build_mel_cache"]
