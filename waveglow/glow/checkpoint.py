"""Glow checkpoints: a directory with config.json (model config + metadata) and model.safetensors.

Nothing is unpickled on load: safetensors holds raw tensors only and JSON holds the config, both read through the
loading gate (`waveglow.common.safe_loading`: regular files only, size-capped, config in range, weights finite). Both files
are written atomically (temporary file + rename), weights first, so a config.json never points at missing weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from waveglow.common.atomic import atomic_write_bytes
from waveglow.common.errors import CheckpointError
from waveglow.common.safe_loading import file_size, guard, load_safetensors, read_json
from waveglow.glow.config import GlowConfig
from waveglow.glow.model import Glow

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
    if not path.exists():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; not a Glow checkpoint directory")
    config = read_json(path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format is not {FORMAT!r}")
    return config


# Ranges a Glow config may take (far above anything the image experiments use).
GLOW_LIMITS = {"in_channels": 64, "levels": 8, "depth": 256, "hidden": 4096, "n_bins": 1 << 16,
               "n_classes": 100_000}
GLOW_MAX_IMAGE = 1024


def check_glow_config(config: GlowConfig, path, weight_bytes: int) -> None:
    """Refuse sizes out of range, or implying more parameters than the weights file holds (before building)."""
    for name, limit in GLOW_LIMITS.items():
        if not 0 <= getattr(config, name) <= limit:
            raise CheckpointError(f"{path}: config {name}={getattr(config, name)} is out of range (0 to {limit})")
    if not all(1 <= s <= GLOW_MAX_IMAGE for s in config.image_size):
        raise CheckpointError(f"{path}: config image_size={list(config.image_size)} is out of range")
    # the coupling networks dominate: two hidden x hidden 1x1 convs and two 3x3 convs per step, channels growing
    # 4x per squeeze
    channels, planned = config.in_channels, 0
    for _ in range(config.levels):
        channels *= 4
        planned += config.depth * (config.hidden * config.hidden + 9 * config.hidden * channels)
        channels //= 2
    if planned > weight_bytes // 4 + 65536:
        raise CheckpointError(f"{path}: config implies at least {planned:,} parameters but the weights file has "
                              f"only {weight_bytes:,} bytes")


def load_glow(directory: str | Path, map_location: str = "cpu") -> tuple[Glow, dict[str, Any]]:
    """(model in eval mode, full config dict) from a directory written by `save_glow`."""
    config = read_glow_config(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    with guard(directory, what="not a usable Glow checkpoint"):
        try:
            glow_config = GlowConfig.from_dict(config["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{directory}: bad model config ({exc})") from None
        check_glow_config(glow_config, Path(directory) / CONFIG_FILE, file_size(weights))
        state = load_safetensors(weights)
        model = Glow(glow_config)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{weights}: does not match the config ({str(exc).splitlines()[0]})") from None
        return model.to(map_location).eval(), config


def glow_state_matches(a: Glow, b: Glow) -> bool:
    """True if both models hold identical parameters and buffers (for round-trip checks)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
