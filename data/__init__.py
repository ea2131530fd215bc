"""Data pipeline: LJSpeech / filelist reading, the held-out split, audio+mel training segments, a mel cache.

Modules (one idea each):
  errors     DataError, raised for every problem with the user's files
  ljspeech   Utterance; read LJSpeech metadata.csv and NVIDIA `path|text` filelists; write filelists
  splits     the fixed held-out rule (is_held_out) and the deterministic train/val split
  mel_cache  per-clip .npy mel cache (written atomically)
  dataset    AudioMelDataset: random fixed-length (mel, audio) training segments
  prepare    build_mel_cache: precompute the cache for a dataset directory
"""
from data.errors import DataError
from data.ljspeech import Utterance, read_filelist, read_ljspeech, read_utterances, write_filelist
from data.splits import DataSplit, is_held_out, split

# These import waveglow.audio, which itself imports data.errors; load them lazily so that importing
# waveglow.audio first never meets a half-initialised module.
_LAZY = {
    "AudioMelDataset": "data.dataset",
    "MelCache": "data.mel_cache",
    "build_mel_cache": "data.prepare",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")


__all__ = ["DataError", "Utterance", "read_ljspeech", "read_filelist", "read_utterances", "write_filelist",
           "DataSplit", "is_held_out", "split", *_LAZY]
