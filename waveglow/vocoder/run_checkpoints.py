"""Training checkpoints in RUN_DIR/checkpoints/: ckpt_{iteration}.pt files, a `latest` pointer, the last K kept.

Crash safety: each file is written to a temporary name in the same directory, fsynced, then renamed over its
final name (os.replace is atomic on POSIX), and only then does `latest` (written the same way) point at it. A
process killed at any moment therefore leaves `latest` naming a complete checkpoint (or no `latest` at all before
the first one); at worst a stray temporary file remains, which `remove_stale_temporaries` deletes.

Files hold tensors, numbers, strings, lists and dicts only and are read through the loading gate
(`waveglow.common.safe_loading.load_torch_file`): nothing in them is ever executed, and weights must be finite.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from waveglow.common.atomic import atomic_write
from waveglow.common.errors import CheckpointError
from waveglow.common.safe_loading import check_waveglow_config, file_size, load_torch_file
from waveglow.vocoder.run_config import TrainingConfig

TRAIN_FORMAT = "waveglow-toolkit-train"
LATEST = "latest"
_CKPT_NAME = re.compile(r"ckpt_(\d+)\.pt")


class NotTrainingCheckpoint(CheckpointError):
    """A readable file that is not one of our training checkpoints (an NVIDIA or DLE file, say)."""


def load_training_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A training checkpoint's dict (tensors on `map_location`). Raises CheckpointError if unreadable,
    NotTrainingCheckpoint if readable but foreign."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    payload = load_training_payload(path, map_location)
    check_training_payload(payload, path)
    return payload


def load_training_payload(path, map_location: Any = "cpu") -> dict[str, Any]:
    payload = load_torch_file(path, map_location=map_location, finite=True)
    if not isinstance(payload, dict) or payload.get("format") != TRAIN_FORMAT:
        raise NotTrainingCheckpoint(f"{path}: not a {TRAIN_FORMAT} training checkpoint")
    return payload


def check_training_payload(payload: dict[str, Any], path) -> None:
    """The fields resume and export read, with their types; the model config in range for the file's size."""

    expected = {"model": dict, "config": dict, "iteration": int, "epoch": int, "batches_in_epoch": int}
    for key, kind in expected.items():
        if not isinstance(payload.get(key), kind) or isinstance(payload.get(key), bool):
            raise CheckpointError(f"{path}: training checkpoint field '{key}' missing or not a {kind.__name__}")
    for key in ("iteration", "epoch", "batches_in_epoch"):
        if not 0 <= payload[key] < 2 ** 62:
            raise CheckpointError(f"{path}: training checkpoint field '{key}' = {payload[key]} is out of range")
    bad = [k for k, v in payload["model"].items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: training checkpoint 'model' entry {bad[0]!r:.60} is not a named tensor")
    try:
        config = TrainingConfig.from_dict(payload["config"], source=f"{path}: config")
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: bad training config ({exc})") from None
    check_waveglow_config(config.model, f"{path}: config", file_size(path))


class CheckpointStore:
    """The checkpoints of one run: `directory`/ckpt_{iteration}.pt plus `latest`; keeps the newest `keep`."""

    def __init__(self, directory: str | Path, keep: int = 5):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def path_for(self, iteration: int) -> Path:
        return self.directory / f"ckpt_{iteration}.pt"

    def iterations(self) -> list[int]:
        """Iterations of the complete checkpoint files present, ascending."""
        if not self.directory.is_dir():
            return []
        found = (_CKPT_NAME.fullmatch(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, payload: dict[str, Any], iteration: int) -> Path:
        """Write ckpt_{iteration}.pt, then point `latest` at it, then delete checkpoints beyond the newest `keep`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(iteration)
        atomic_write(path, lambda f: torch.save({"format": TRAIN_FORMAT, **payload}, f))
        atomic_write(self.directory / LATEST, lambda f: f.write(f"{path.name}\n".encode("utf-8")))
        self.prune(keep_path=path)
        return path

    def prune(self, keep_path: Path | None = None) -> None:
        for iteration in self.iterations()[: -self.keep]:
            old = self.path_for(iteration)
            if old != keep_path:
                old.unlink(missing_ok=True)

    def latest_path(self) -> Path | None:
        """The checkpoint `latest` names; if it is missing or names no file (a copied run, a hand-deleted file),
        the newest checkpoint that loads. None when the run has no checkpoint."""
        pointer = self.directory / LATEST
        if pointer.is_file():
            name = pointer.read_text(encoding="utf-8").strip()
            if _CKPT_NAME.fullmatch(name) and (self.directory / name).is_file():
                return self.directory / name
        for iteration in reversed(self.iterations()):
            try:
                load_training_checkpoint(self.path_for(iteration))
            except CheckpointError:
                continue
            return self.path_for(iteration)
        return None

    def load_latest(self, map_location: Any = "cpu") -> dict[str, Any] | None:
        path = self.latest_path()
        return None if path is None else load_training_checkpoint(path, map_location)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files left by a process killed mid-write (only when no writer is running)."""
        if not self.directory.is_dir():
            return []
        stale = [p for p in self.directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale


def resolve_training_checkpoint(path: str | Path) -> Path:
    """A run directory, its checkpoints/ directory or a ckpt file -> the checkpoint file to read."""
    path = Path(path)
    if path.is_dir():
        directory = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = CheckpointStore(directory).latest_path()
        if found is None:
            raise CheckpointError(f"{path}: no training checkpoint found")
        return found
    return path
