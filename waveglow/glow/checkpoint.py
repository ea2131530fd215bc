"""Glow's files: checkpoints (a directory with config.json, the model config + metadata, and model.safetensors),
and image grids written as PNG (Pillow).

Nothing is unpickled on load: safetensors holds raw tensors only and JSON holds the config, both read through the
loading gate (`waveglow.common.safe_loading`: regular files only, size-capped, config in range, weights finite).
Both files are written atomically (temporary file + rename), weights first, so a config.json never points at
missing weights. PNG grids are written atomically too.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
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


# ---- image grids as PNG ----------------------------------------------------------------------------------------------
def make_grid(images: torch.Tensor | np.ndarray, nrow: int, padding: int = 1, pad_value: float = 1.0,
              upscale: int = 1) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] (C = 1 or 3) -> uint8 [rows, cols] or [rows, cols, 3], nrow per row.

    upscale repeats pixels (nearest neighbour) so that 8x8 digits stay visible. Missing cells are pad_value.
    """
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"images need 1 or 3 channels, got {c}")
    if upscale > 1:
        images = images.repeat(upscale, 2).repeat(upscale, 3)
        h, w = h * upscale, w * upscale
    ncol = min(nrow, n)
    nrows = (n + nrow - 1) // nrow
    grid = np.full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value, np.float32)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top: top + h, left: left + w] = images[i]
    grid = np.clip(np.round(grid * 255.0), 0, 255).astype(np.uint8)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 [H, W] or [H, W, 3] array as PNG, atomically. Needs Pillow."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise RuntimeError("writing PNG files needs Pillow: pip install pillow") from exc
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return atomic_write_bytes(path, buffer.getvalue())


def save_grid(images: torch.Tensor, path: str | Path, nrow: int, upscale: int = 1, padding: int = 1) -> Path:
    """`make_grid` then `save_png`."""
    return save_png(make_grid(images, nrow, padding=padding, upscale=upscale), path)
