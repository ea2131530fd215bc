"""Walking in Glow's latent space: flatten/unflatten z_lists, interpolation, the manifold, attribute directions.

All operations work on flat latents [B, D] (every level's z concatenated), so they treat the latent as the one
D-dimensional Gaussian vector that the model maps to an image.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


def flatten_latents(z_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """[z_0 [B, ...], ..., z_top [B, ...]] -> [B, D]."""
    return torch.cat([z.flatten(1) for z in z_list], 1)


def unflatten_latents(flat: torch.Tensor, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """[B, D] -> z_list with per-item `shapes` (a Glow's `latent_shapes`)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[:, start: start + size].reshape(flat.shape[0], *shape))
        start += size
    if start != flat.shape[1]:
        raise ValueError(f"latents have {flat.shape[1]} values, shapes need {start}")
    return out


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear path from z_a [D] to z_b [D] in `steps` points (ends included) -> [steps, D]."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype).unsqueeze(1)
    return (1 - t) * z_a + t * z_b


def manifold(z1: torch.Tensor, z2: torch.Tensor, z3: torch.Tensor, z4: torch.Tensor, size: int) -> torch.Tensor:
    """z(t, p) = cos t (cos p z1 + sin p z2) + sin t (cos p z3 + sin p z4) on a size x size grid of
    t, p in [0, pi/2] (rows: t, columns: p) -> [size * size, D]. Corners are z1, z2, z3, z4 exactly.

    The cos/sin weights keep the squared weights summing to 1, so a mix of standard-normal latents stays on the
    typical set instead of shrinking toward the mode as a linear blend would.
    """
    angles = torch.linspace(0.0, math.pi / 2, size, dtype=z1.dtype)
    rows = []
    for t in angles:
        for p in angles:
            rows.append(torch.cos(t) * (torch.cos(p) * z1 + torch.sin(p) * z2)
                        + torch.sin(t) * (torch.cos(p) * z3 + torch.sin(p) * z4))
    return torch.stack(rows)


def attribute_direction(z_positive: torch.Tensor, z_negative: torch.Tensor) -> torch.Tensor:
    """mean(z_positive [N+, D]) - mean(z_negative [N-, D]) -> [D] (the Glow paper's manipulation vector)."""
    if len(z_positive) == 0 or len(z_negative) == 0:
        raise ValueError("both labelled subsets need at least one image")
    return z_positive.mean(0) - z_negative.mean(0)


def manipulate(z: torch.Tensor, direction: torch.Tensor, alphas: Sequence[float]) -> torch.Tensor:
    """z [B, D] moved by alpha * direction for each alpha -> [B * len(alphas), D], image-major (one row each)."""
    alphas_t = torch.as_tensor(list(alphas), dtype=z.dtype)
    return (z.unsqueeze(1) + alphas_t.view(1, -1, 1) * direction.view(1, 1, -1)).reshape(-1, z.shape[1])
