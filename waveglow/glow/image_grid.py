"""Image grids of [0, 1] images, saved as PNG with Pillow (atomically)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from waveglow.common.atomic import atomic_write_bytes


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
