"""Training and evaluating an image Glow on in-memory image tensors (small data sets: digits, MNIST-like)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from waveglow.glow.model import Glow


@dataclass
class TrainResult:
    """What `train_glow` did: steps taken, seconds spent, and the (step, stats) history at each log point."""

    steps: int
    seconds: float
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def learning_rate(step: int, base_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps (Glow's schedule), then cosine decay to 0 at `total`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_glow(model: Glow, images: torch.Tensor, labels: torch.Tensor | None = None, steps: int = 1000,
               batch_size: int = 64, lr: float = 1e-3, warmup: int = 100, seed: int = 0, grad_clip: float = 50.0,
               init_batch: int = 512, log_every: int = 100,
               on_log: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Adam on the loss of `model.loss` for a fixed number of steps.

    images: [N, C, H, W] in [0, 1]; labels: [N] class indices, used when the model is class-conditional.
    The ActNorm layers are initialised on a random batch of `init_batch` images first (Glow's data-dependent
    init). Batches and dequantisation noise come from one generator seeded with `seed`, so a run is repeatable.
    """
    generator = torch.Generator().manual_seed(seed)
    use_labels = labels is not None and model.config.n_classes > 0
    n = images.shape[0]
    model.train()
    init_idx = torch.randperm(n, generator=generator)[: min(init_batch, n)]
    model.initialize(images[init_idx], labels[init_idx] if use_labels else None, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    result = TrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    running: dict[str, float] = {}
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, lr, warmup, steps)
        idx = torch.randint(n, (batch_size,), generator=generator)
        loss, stats = model.loss(images[idx], labels[idx] if use_labels else None, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Clipping only guards against the rare exploding step early in training (large affine log-dets).
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        for key, value in stats.items():
            running[key] = running.get(key, 0.0) + value
        if (step + 1) % log_every == 0 or step + 1 == steps:
            count = log_every if (step + 1) % log_every == 0 else (step + 1) % log_every
            mean_stats = {k: v / count for k, v in running.items()}
            result.history.append((step + 1, mean_stats))
            running = {}
            if on_log is not None:
                on_log(step + 1, mean_stats)
    result.steps = steps
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def evaluate_bpd(model: Glow, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 500,
                 seed: int = 1234) -> float:
    """Mean test bits/dim over `images` with one uniform dequantisation draw per image from a fixed seed.

    labels are passed to a class-conditional model (bits/dim given y); with labels=None it is scored under the
    class mixture, i.e. the unconditional density.
    """
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    total = 0.0
    for start in range(0, images.shape[0], batch_size):
        batch = images[start: start + batch_size]
        y = labels[start: start + batch_size] if labels is not None and model.config.n_classes > 0 else None
        total += float(model.bits_per_dim(batch, y, generator).sum())
    return total / images.shape[0]
