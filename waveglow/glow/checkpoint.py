"""Glow checkpoints: a directory with config.json (model config + metadata) and model.safetensors.

Nothing is unpickled on load: safetensors holds raw tensors only and JSON holds the config. Both files are written
atomically (temporary file + rename), weights first, so a config.json never points at missing weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..safe_pickle import CheckpointError
from ..atomic import atomic_write_bytes
from .config import GlowConfig
from .model import Glow

FORMAT = "waveglow-toolkit-glow"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_glow(model: Glow, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write `directory`/model.safetensors and config.json ({format, model, **metadata}); returns the directory."""
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, save(state))
    config = {"format": FORMAT, "model": model.config.to_dict(), **(metadata or {})}
    atomic_write_bytes(directory / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    return directory


def read_glow_config(directory: str | Path) -> dict[str, Any]:
    """The parsed config.json of a checkpoint directory (raises CheckpointError if absent or not ours)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; not a Glow checkpoint directory")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: invalid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format is not {FORMAT!r}")
    return config


def load_glow(directory: str | Path, map_location: str = "cpu") -> tuple[Glow, dict[str, Any]]:
    """(model in eval mode, full config dict) from a directory written by `save_glow`."""
    config = read_glow_config(directory)
    try:
        model = Glow(GlowConfig.from_dict(config["model"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}: bad model config ({exc})") from exc
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights), device=map_location)
    except SafetensorError as exc:
        raise CheckpointError(f"{weights}: unreadable ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: does not match the config ({exc})") from exc
    return model.eval(), config


def glow_state_matches(a: Glow, b: Glow) -> bool:
    """True if both models hold identical parameters and buffers (for round-trip checks)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
