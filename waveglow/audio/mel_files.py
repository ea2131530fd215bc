"""Finding and reading mel-spectrogram files without running anything they contain.

Inputs are files (.npy, .npz, .pt/.pth), folders (their mel files, not recursive, sorted by name) or `@LIST`
(a text file with one file or folder per line; relative paths are relative to the list's folder; blank lines
and lines starting with # are skipped).

  .npy       `safe_loading.load_npy`: plain numeric arrays only (no pickles, no objects), sizes checked first
  .npz       `safe_loading.load_npz`: the array named 'mel', or the only array
  .pt/.pth   `safe_loading.load_torch_file` (allow-listed unpickler): a tensor/array, or a dict with key 'mel' or
             a single tensor
Only regular files are opened (never a FIFO or device). Every problem raises `MelFileError` whose message starts
with the file's path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from waveglow.common.errors import DataError
from waveglow.common.safe_loading import guard, load_npy, load_npz, load_torch_file, open_regular

MEL_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


class MelFileError(DataError):
    """A mel file that cannot be read; the message names the file."""


@dataclass
class CollectedInputs:
    """Mel files in the order given (each once) and one 'PATH: problem' line per input that yielded none."""

    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _is_mel_file(path: Path) -> bool:
    return path.suffix.lower() in MEL_SUFFIXES


def _read_list(path: Path) -> list[Path]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MelFileError(f"{path}: cannot read file list ({exc})") from None
    entries = [line.strip() for line in lines]
    return [(path.parent / entry) for entry in entries if entry and not entry.startswith("#")]


def collect_mel_files(inputs: list[str]) -> CollectedInputs:
    """Expand INPUT arguments (files, folders, @lists) into mel files; problems are collected, not raised."""
    found = CollectedInputs()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    def expand(path: Path) -> None:
        if path.is_dir():
            mels = sorted(p for p in path.iterdir() if p.is_file() and _is_mel_file(p))
            if not mels:
                found.problems.append(f"{path}: folder has no mel files ({', '.join(MEL_SUFFIXES)})")
            for mel in mels:
                add(mel)
        elif not path.exists():
            found.problems.append(f"{path}: no such file or folder")
        elif not _is_mel_file(path):
            found.problems.append(f"{path}: not a mel file (expected {', '.join(MEL_SUFFIXES)})")
        else:
            add(path)

    for item in inputs:
        if item.startswith("@"):
            list_path = Path(item[1:])
            try:
                entries = _read_list(list_path)
            except MelFileError as exc:
                found.problems.append(str(exc))
                continue
            if not entries:
                found.problems.append(f"{list_path}: file list is empty")
            for entry in entries:
                expand(entry)
        else:
            expand(Path(item))
    return found


def _load_npy(path: Path) -> np.ndarray:
    return load_npy(path, MelFileError)


def _load_npz(path: Path) -> np.ndarray:
    arrays = load_npz(path, MelFileError)
    names = list(arrays)
    if "mel" in arrays:
        return arrays["mel"]
    if len(names) == 1:
        return arrays[names[0]]
    raise MelFileError(f"{path}: .npz holds {len(names)} arrays {names[:8]}; expected one, or one named 'mel'")


def _load_torch(path: Path):
    import torch

    with guard(path, MelFileError, "not a readable mel file"):
        obj = load_torch_file(path, map_location="cpu")
    arrays = (torch.Tensor, np.ndarray)
    if isinstance(obj, arrays):
        return obj
    if isinstance(obj, dict):
        if isinstance(obj.get("mel"), arrays):
            return obj["mel"]
        tensors = [v for v in obj.values() if isinstance(v, arrays)]
        if len(tensors) == 1:
            return tensors[0]
        raise MelFileError(f"{path}: dict with keys {sorted(map(str, obj))[:8]} holds {len(tensors)} tensors; "
                           f"expected a 'mel' key or a single tensor")
    raise MelFileError(f"{path}: holds a {type(obj).__name__}, expected a mel tensor or a dict with key 'mel'")


def load_mel_file(path: str | Path):
    """The raw mel array (numpy or torch, any layout) stored in `path`. Raises MelFileError naming the file."""

    path = Path(path)
    f, size = open_regular(path, MelFileError)  # refuses FIFOs / devices before anything reads them
    f.close()
    if size == 0:
        raise MelFileError(f"{path}: empty file (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path)
    if suffix == ".npz":
        return _load_npz(path)
    if suffix in (".pt", ".pth"):
        return _load_torch(path)
    raise MelFileError(f"{path}: not a mel file (expected {', '.join(MEL_SUFFIXES)})")
